"""The escalation API: policies (defaults, custom, 422 naming the field) and escalations."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from crisisline import escalation_engine as engine
from crisisline.clock import FakeClock
from crisisline.jobs import Jobs
from tests.support.app import json_list_of, json_of, services_of

PRIMARY, BACKUP = "+447700900311", "+447700900312"


def _staff(client: FlaskClient, auth: dict[str, str], name: str, phone: str) -> int:
    response = client.post(
        "/api/v1/staff", json={"name": name, "phone": phone, "roles": ["on_call"]}, headers=auth
    )
    assert response.status_code == 201, response.json
    return int(json_of(response)["id"])


def _rota(client: FlaskClient, auth: dict[str, str], name: str, members: list[int]) -> int:
    response = client.post(
        "/api/v1/rotas",
        json={
            "name": name,
            "timezone": "Europe/London",
            "members": members,
            "shift_length": "P7D",
            "first_handoff": "2026-11-02T09:00",
        },
        headers=auth,
    )
    assert response.status_code == 201, response.json
    return int(json_of(response)["id"])


def _policy(rota_id: int, staff_id: int, wait: int = 300) -> dict[str, Any]:
    return {
        "steps": [
            {"targets": [{"rota_id": rota_id}], "channels": ["sms"], "wait_seconds": wait},
            {"targets": [{"staff_id": staff_id}], "channels": ["sms", "voice"], "wait_seconds": 60},
        ],
        "repeat": 1,
    }


@pytest.fixture
def team(client: FlaskClient, auth: dict[str, str]) -> dict[str, int]:
    """Two on-call staff and a weekly rota holding the first."""
    amira = _staff(client, auth, "Amira Okafor", PRIMARY)
    tom = _staff(client, auth, "Tom Hughes", BACKUP)
    return {"amira": amira, "tom": tom, "rota": _rota(client, auth, "primary", [amira])}


# ---- policies ------------------------------------------------------------------------------


def test_every_policy_route_needs_a_token(client: FlaskClient) -> None:
    assert client.get("/api/v1/escalation-policies").status_code == 401
    assert client.get("/api/v1/escalation-policies/crisis-call").status_code == 401
    assert client.put("/api/v1/escalation-policies/x", json={}).status_code == 401
    assert client.get("/api/v1/escalations").status_code == 401
    assert client.get("/api/v1/escalations/1").status_code == 401
    assert client.post("/api/v1/escalations/1/acknowledge").status_code == 401
    assert client.post("/api/v1/escalations/1/close").status_code == 401
    wrong = {"Authorization": "Bearer not-a-token"}
    assert client.get("/api/v1/escalations", headers=wrong).status_code == 401


def test_shipped_defaults_are_listed_as_default_until_replaced(
    client: FlaskClient, auth: dict[str, str], team: dict[str, int]
) -> None:
    listed = client.get("/api/v1/escalation-policies", headers=auth)
    assert listed.status_code == 200
    by_name = {p["name"]: p for p in json_list_of(listed)}
    assert {"crisis-call", "crisis-sms", "missed-call", "risk-alert"} <= set(by_name)
    assert {p["source"] for p in json_list_of(listed)} == {"default"}

    shipped = client.get("/api/v1/escalation-policies/missed-call", headers=auth)
    assert shipped.status_code == 200
    assert json_of(shipped)["source"] == "default"
    assert json_of(shipped)["steps"]

    put = client.put(
        "/api/v1/escalation-policies/missed-call",
        json=_policy(team["rota"], team["tom"]),
        headers=auth,
    )
    assert put.status_code == 200, put.json
    assert json_of(put)["source"] == "custom"
    got = client.get("/api/v1/escalation-policies/missed-call", headers=auth).json
    assert got == {"name": "missed-call", "source": "custom", **_policy(team["rota"], team["tom"])}
    policies = client.get("/api/v1/escalation-policies", headers=auth)
    by_name = {p["name"]: p for p in json_list_of(policies)}
    assert by_name["missed-call"]["source"] == "custom"
    assert by_name["crisis-call"]["source"] == "default"


def test_a_new_policy_name_can_be_created_and_an_unknown_one_is_404(
    client: FlaskClient, auth: dict[str, str], team: dict[str, int]
) -> None:
    assert client.get("/api/v1/escalation-policies/night-chain", headers=auth).status_code == 404
    put = client.put(
        "/api/v1/escalation-policies/night-chain",
        json=_policy(team["rota"], team["tom"]),
        headers=auth,
    )
    assert put.status_code == 200
    assert json_of(put)["name"] == "night-chain"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda p: p["steps"][0].update(wait_seconds=5), "steps.0.wait_seconds"),
        (lambda p: p["steps"][1].update(wait_seconds=99999), "steps.1.wait_seconds"),
        (lambda p: p["steps"][0].update(wait_seconds="soon"), "steps.0.wait_seconds"),
        (lambda p: p["steps"][0].update(channels=["fax"]), "steps.0.channels"),
        (lambda p: p["steps"][0].update(targets=[]), "steps.0.targets"),
        (lambda p: p.update(repeat=9), "repeat"),
        (lambda p: p.update(steps=[]), "steps"),
        (lambda p: p["steps"][1].pop("channels"), "steps.1.channels"),
    ],
)
def test_an_invalid_policy_is_422_naming_the_field_path(
    client: FlaskClient,
    auth: dict[str, str],
    team: dict[str, int],
    change: Any,
    field: str,
) -> None:
    document = _policy(team["rota"], team["tom"])
    change(document)
    response = client.put("/api/v1/escalation-policies/night-chain", json=document, headers=auth)
    assert response.status_code == 422, response.json
    assert field in json_of(response)["message"]
    assert client.get("/api/v1/escalation-policies/night-chain", headers=auth).status_code == 404


def test_a_target_that_does_not_exist_is_422_naming_it(
    client: FlaskClient, auth: dict[str, str], team: dict[str, int]
) -> None:
    missing_rota = _policy(team["rota"] + 100, team["tom"])
    response = client.put(
        "/api/v1/escalation-policies/night-chain", json=missing_rota, headers=auth
    )
    assert response.status_code == 422
    assert "steps.0.targets.0.rota_id" in json_of(response)["errors"]["json"]
    assert "no rota" in json_of(response)["message"]

    missing_staff = _policy(team["rota"], team["tom"] + 100)
    response = client.put(
        "/api/v1/escalation-policies/night-chain", json=missing_staff, headers=auth
    )
    assert response.status_code == 422
    assert "steps.1.targets.0.staff_id" in json_of(response)["errors"]["json"]

    client.post(f"/api/v1/staff/{team['tom']}/deactivate", headers=auth)
    inactive = _policy(team["rota"], team["tom"])
    response = client.put("/api/v1/escalation-policies/night-chain", json=inactive, headers=auth)
    assert response.status_code == 422
    assert "inactive" in json_of(response)["message"]


# ---- escalations ---------------------------------------------------------------------------


def _open(app: Flask, summary: str, participant_id: int | None = None) -> int:
    svc = services_of(app)
    with svc.db.transaction() as session:
        record = engine.open_escalation(
            session,
            policy_name="night-chain",
            subject_type="missed_call",
            subject_id=None,
            participant_id=participant_id,
            summary=summary,
            now=svc.clock.now(),
            reach=svc.reach,
        )
        return record.id


@pytest.fixture
def chain(client: FlaskClient, auth: dict[str, str], team: dict[str, int]) -> dict[str, int]:
    """The night-chain policy stored: the primary rota, then Tom by text and call."""
    response = client.put(
        "/api/v1/escalation-policies/night-chain",
        json=_policy(team["rota"], team["tom"]),
        headers=auth,
    )
    assert response.status_code == 200
    return team


def test_escalations_are_listed_newest_first_and_filtered_by_status_and_participant(
    app: Flask,
    client: FlaskClient,
    auth: dict[str, str],
    chain: dict[str, int],
    clock: FakeClock,
) -> None:
    participant = client.post(
        "/api/v1/participants",
        json={
            "reference": "R1001",
            "name": "Dylan Price",
            "phones": ["07700 900201"],
            "risk_level": "high",
        },
        headers=auth,
    )
    assert participant.status_code == 201, participant.json
    participant_id = int(json_of(participant)["id"])
    first = _open(app, "Missed call from R1001", participant_id)
    clock.advance(dt.timedelta(seconds=1))
    second = _open(app, "Text from R1002")
    client.post(f"/api/v1/escalations/{first}/acknowledge", headers=auth)

    listed = client.get("/api/v1/escalations", headers=auth)
    assert listed.status_code == 200
    assert [e["id"] for e in json_list_of(listed)] == [second, first]
    assert json_list_of(listed)[0]["status"] == "open"
    assert json_list_of(listed)[0]["policy"] == "night-chain"
    assert json_list_of(listed)[0]["step"] == 0
    assert "X-Pagination" in listed.headers

    open_only = json_list_of(client.get("/api/v1/escalations?status=open", headers=auth))
    assert [e["id"] for e in open_only] == [second]
    taken = json_list_of(client.get("/api/v1/escalations?status=acknowledged", headers=auth))
    assert [e["id"] for e in taken] == [first]
    theirs = client.get(f"/api/v1/escalations?participant_id={participant_id}", headers=auth)
    assert [e["id"] for e in json_list_of(theirs)] == [first]
    paged = json_list_of(client.get("/api/v1/escalations?page=2&page_size=1", headers=auth))
    assert [e["id"] for e in paged] == [first]


def test_one_escalation_is_shown_with_its_events(
    app: Flask, client: FlaskClient, auth: dict[str, str], chain: dict[str, int]
) -> None:
    escalation_id = _open(app, "Missed call from R1001 at 03:12")
    response = client.get(f"/api/v1/escalations/{escalation_id}", headers=auth)
    assert response.status_code == 200
    body = json_of(response)
    assert body["summary"] == "Missed call from R1001 at 03:12"
    assert body["status"] == "open"
    assert body["next_due_at"] is not None
    kinds = [e["kind"] for e in body["events"]]
    assert kinds == ["opened", "notified"]
    assert body["events"][1]["detail"]["staff_id"] == chain["amira"]
    assert body["events"][1]["detail"]["code"] == 1


def test_acknowledging_through_the_api_stops_it_and_is_idempotent(
    app: Flask, client: FlaskClient, auth: dict[str, str], chain: dict[str, int], clock: FakeClock
) -> None:
    escalation_id = _open(app, "Missed call from R1001")
    response = client.post(f"/api/v1/escalations/{escalation_id}/acknowledge", headers=auth)
    assert response.status_code == 200
    assert json_of(response)["changed"] is True
    escalation = json_of(response)["escalation"]
    assert escalation["status"] == "acknowledged"
    assert escalation["acknowledged_by"] == "integration:tests"
    assert escalation["next_due_at"] is None
    assert escalation["events"][-1]["kind"] == "acknowledged"

    again = client.post(f"/api/v1/escalations/{escalation_id}/acknowledge", headers=auth)
    assert again.status_code == 200
    assert json_of(again)["changed"] is False
    assert "already taken by integration:tests" in json_of(again)["message"]

    clock.advance(dt.timedelta(seconds=3600))
    assert Jobs(services_of(app)).sweep_escalations() == 0


def test_closing_through_the_api_ends_it(
    app: Flask, client: FlaskClient, auth: dict[str, str], chain: dict[str, int], clock: FakeClock
) -> None:
    escalation_id = _open(app, "Text from R1002")
    response = client.post(f"/api/v1/escalations/{escalation_id}/close", headers=auth)
    assert response.status_code == 200
    assert json_of(response)["changed"] is True
    assert json_of(response)["escalation"]["status"] == "closed"
    assert json_of(response)["escalation"]["closed_by"] == "integration:tests"
    again = client.post(f"/api/v1/escalations/{escalation_id}/close", headers=auth)
    assert json_of(again)["changed"] is False
    clock.advance(dt.timedelta(seconds=3600))
    assert Jobs(services_of(app)).sweep_escalations() == 0


def test_an_unknown_escalation_is_404_everywhere(client: FlaskClient, auth: dict[str, str]) -> None:
    for method, path in (
        ("get", "/api/v1/escalations/999"),
        ("post", "/api/v1/escalations/999/acknowledge"),
        ("post", "/api/v1/escalations/999/close"),
    ):
        response = getattr(client, method)(path, headers=auth)
        assert response.status_code == 404, path
        assert "no escalation with id 999" in response.json["message"]


@pytest.mark.hazard("H88")
def test_start_up_refuses_a_broken_escalation_policies_file(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """crisis_line.toml and risk_rules.toml are checked in create_app; the escalation policies
    are only read (and cached) the first time an escalation opens, so a broken or incomplete
    file lets the web and scheduler start and answer /healthz 200, then fails mid-crisis."""
    from crisisline import escalation_policies
    from crisisline.app import create_app
    from escalation import defaults
    from tests.support.app import make_settings

    broken = tmp_path / "escalation_policies.toml"
    broken.write_text('[policies.crisis-sms]\nrepeat = "two"\n')
    monkeypatch.setattr(defaults, "DEFAULT_POLICIES_PATH", broken)
    escalation_policies.shipped_policies.cache_clear()
    try:
        with pytest.raises(Exception, match="polic"):
            create_app({"TESTING": True}, settings=make_settings(tmp_path, database_url))
    finally:
        escalation_policies.shipped_policies.cache_clear()
