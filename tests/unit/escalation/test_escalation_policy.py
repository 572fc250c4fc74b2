"""Policies: parsed from the API's JSON shape, refused with the path of the value at fault."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from escalation import (
    DEFAULT_POLICIES_PATH,
    SHIPPED_POLICY_NAMES,
    EscalationPolicy,
    PolicyValidationError,
    RotaNameTarget,
    RotaTarget,
    StaffTarget,
    Step,
    load_default_policies,
    load_policies,
    parse_policy,
    policy_to_json,
)


def issue_example() -> dict[str, Any]:
    return {
        "steps": [
            {"targets": [{"rota_id": 1}, {"staff_id": 2}], "channels": ["sms", "voice"],
             "wait_seconds": 600},
            {"targets": [{"rota_id": 3}], "channels": ["voice"], "wait_seconds": 300},
        ],
        "repeat": 1,
    }  # fmt: skip


def test_the_issue_example_parses_into_steps_targets_and_channels() -> None:
    policy = parse_policy("crisis-call", issue_example())

    assert policy == EscalationPolicy(
        name="crisis-call",
        steps=(
            Step((RotaTarget(1), StaffTarget(2)), ("sms", "voice"), 600),
            Step((RotaTarget(3),), ("voice",), 300),
        ),
        repeat=1,
    )
    assert policy.loops == 2


def test_a_policy_round_trips_through_its_json_shape() -> None:
    policy = parse_policy("crisis-call", issue_example())

    assert policy_to_json(policy) == issue_example()
    assert parse_policy("crisis-call", policy_to_json(policy)) == policy


def test_repeat_defaults_to_zero() -> None:
    data = issue_example()
    del data["repeat"]

    assert parse_policy("crisis-sms", data).repeat == 0


def test_lists_given_to_the_constructors_become_tuples() -> None:
    step = Step([RotaTarget(1)], ["sms"], 60)  # type: ignore[arg-type]

    assert step.targets == (RotaTarget(1),)
    assert step.channels == ("sms",)


def _with(path: str, value: object) -> dict[str, Any]:
    data = issue_example()
    keys = path.split(".")
    node: Any = data
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    elif value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return data


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("steps.0.wait_seconds", 10, "steps.0.wait_seconds"),
        ("steps.1.wait_seconds", 10**6, "steps.1.wait_seconds"),
        ("steps.0.wait_seconds", "600", "steps.0.wait_seconds"),
        ("steps.0.wait_seconds", 600.0, "steps.0.wait_seconds"),
        ("steps.0.wait_seconds", True, "steps.0.wait_seconds"),
        ("steps.0.wait_seconds", _DELETE, "steps.0.wait_seconds"),
        ("steps.0.channels", [], "steps.0.channels"),
        ("steps.0.channels", "sms", "steps.0.channels"),
        ("steps.0.channels", ["sms", "email"], "steps.0.channels.1"),
        ("steps.0.channels", ["sms", "sms"], "steps.0.channels.1"),
        ("steps.1.targets", [], "steps.1.targets"),
        ("steps.1.targets", {"rota_id": 1}, "steps.1.targets"),
        ("steps.0.targets.1", {"staff_id": 0}, "steps.0.targets.1.staff_id"),
        ("steps.0.targets.1", {"staff_id": "2"}, "steps.0.targets.1.staff_id"),
        ("steps.0.targets.0", {"rota_id": True}, "steps.0.targets.0.rota_id"),
        ("steps.0.targets.0", {"rota": ""}, "steps.0.targets.0.rota"),
        ("steps.0.targets.0", {"rota_id": 1, "staff_id": 2}, "steps.0.targets.0"),
        ("steps.0.targets.0", {"team": 1}, "steps.0.targets.0"),
        ("steps.0.targets.0", 1, "steps.0.targets.0"),
        ("steps.0.targets.1", {"rota_id": 1}, "steps.0.targets.1"),
        ("steps.0.extra", 1, "steps.0.extra"),
        ("steps.1", "step", "steps.1"),
        ("steps", [], "steps"),
        ("steps", {"0": {}}, "steps"),
        ("steps", _DELETE, "steps"),
        ("repeat", -1, "repeat"),
        ("repeat", 99, "repeat"),
        ("repeat", "1", "repeat"),
        ("repeat", None, "repeat"),
        ("escalate", True, "escalate"),
    ],
)
def test_invalid_values_are_refused_naming_their_path(path: str, value: object, field: str) -> None:
    with pytest.raises(PolicyValidationError) as raised:
        parse_policy("crisis-call", _with(path, value))

    assert raised.value.field == field
    assert str(raised.value).startswith(field + ": ")
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize("name", ["", "Crisis Call", "crisis_call", "-x", "a" * 65, 3])
def test_policy_names_are_url_safe_slugs(name: object) -> None:
    with pytest.raises(PolicyValidationError) as raised:
        parse_policy(name, issue_example())  # type: ignore[arg-type]

    assert raised.value.field == "name"


def test_a_policy_body_must_be_an_object() -> None:
    with pytest.raises(PolicyValidationError) as raised:
        parse_policy("crisis-call", [1, 2])

    assert raised.value.field == "policy"


def test_too_many_steps_are_refused() -> None:
    data = issue_example()
    data["steps"] = data["steps"][:1] * 11

    with pytest.raises(PolicyValidationError, match="at most 10"):
        parse_policy("crisis-call", data)


# Shipped defaults and symbolic rota names


def test_the_shipped_defaults_load_and_cover_every_flow() -> None:
    policies = load_default_policies()

    assert set(policies) == set(SHIPPED_POLICY_NAMES)
    for name, policy in policies.items():
        assert policy.name == name
        rota_names = {
            t.rota for s in policy.steps for t in s.targets if isinstance(t, RotaNameTarget)
        }
        assert rota_names <= {"primary", "backup", "duty-manager"}
        # Each shipped chain ends with the duty manager being told, whatever else it does.
        assert RotaNameTarget("duty-manager") in policy.steps[-1].targets


def test_the_shipped_crisis_call_policy_rings_the_primary_first() -> None:
    crisis_call = load_default_policies()["crisis-call"]

    assert crisis_call.steps[0].targets == (RotaNameTarget("primary"),)
    assert "voice" in crisis_call.steps[0].channels
    assert crisis_call.repeat >= 1


def test_the_loader_names_the_policy_and_path_at_fault(tmp_path: Path) -> None:
    path = tmp_path / "policies.toml"
    path.write_text(
        "[policies.crisis-call]\nrepeat = 1\n"
        '[[policies.crisis-call.steps]]\ntargets = [{ rota = "primary" }]\n'
        'channels = ["sms"]\nwait_seconds = 5\n'
    )

    with pytest.raises(PolicyValidationError) as raised:
        load_policies(path, required=())

    assert raised.value.field == "policies.crisis-call.steps.0.wait_seconds"


def test_the_loader_requires_every_shipped_policy(tmp_path: Path) -> None:
    path = tmp_path / "policies.toml"
    text = DEFAULT_POLICIES_PATH.read_text().replace("policies.risk-alert", "policies.other")
    path.write_text(text)

    with pytest.raises(PolicyValidationError) as raised:
        load_policies(path)

    assert raised.value.field == "policies.risk-alert"


def test_the_loader_refuses_broken_toml_and_unknown_sections(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[policies.crisis-call\n")
    stray = tmp_path / "stray.toml"
    stray.write_text("[rotas]\nprimary = 1\n")

    with pytest.raises(PolicyValidationError, match="not valid TOML"):
        load_policies(broken)
    with pytest.raises(PolicyValidationError) as raised:
        load_policies(stray)
    assert raised.value.field == "rotas"
