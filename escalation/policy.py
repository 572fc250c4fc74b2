"""Escalation policies: ordered steps of targets, channels and waits, repeated a few times.

A policy is validated when it is parsed or built: an invalid one cannot exist. Every failure is
a `PolicyValidationError` whose `field` is the dotted path of the offending value in the JSON
shape (`steps.0.wait_seconds`), so the API can answer 422 naming it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

Channel = Literal["sms", "voice"]
CHANNELS: Final[tuple[Channel, ...]] = ("sms", "voice")

# Bounds that keep a policy meaningful for a crisis line: a wait under half a minute cannot be
# answered by a person, a wait over four hours leaves someone unanswered for far too long (even a
# risk alert to a responsible officer), and a long chain or many repeats is a mistake.
MIN_WAIT_SECONDS: Final = 30
MAX_WAIT_SECONDS: Final = 4 * 3600
MAX_STEPS: Final = 10
MAX_TARGETS_PER_STEP: Final = 20
MAX_REPEAT: Final = 5
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_ROTA_NAME_MAX = 200


class PolicyValidationError(ValueError):
    """A policy is invalid; `field` is the dotted path of the offending value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class RotaTarget:
    """Whoever is on call on rota `rota_id` at the moment the step fires."""

    rota_id: int

    def __post_init__(self) -> None:
        _check_id(self.rota_id, "rota_id")


@dataclass(frozen=True)
class RotaNameTarget:
    """A rota named by its name, as shipped defaults do; bound to an id per deployment."""

    rota: str

    def __post_init__(self) -> None:
        if not isinstance(self.rota, str) or not self.rota.strip():
            raise PolicyValidationError("rota", "must be a rota name")
        if len(self.rota) > _ROTA_NAME_MAX:
            raise PolicyValidationError("rota", f"must be at most {_ROTA_NAME_MAX} characters")


@dataclass(frozen=True)
class StaffTarget:
    """One named member of staff, whether or not they are on call."""

    staff_id: int

    def __post_init__(self) -> None:
        _check_id(self.staff_id, "staff_id")


Target: TypeAlias = RotaTarget | RotaNameTarget | StaffTarget


@dataclass(frozen=True)
class Step:
    """Notify every target on every channel, then wait `wait_seconds` for someone to take it."""

    targets: tuple[Target, ...]
    channels: tuple[Channel, ...]
    wait_seconds: int

    def __post_init__(self) -> None:
        targets = _as_tuple(self.targets, "targets")
        if not targets:
            raise PolicyValidationError("targets", "must name at least one rota or staff member")
        if len(targets) > MAX_TARGETS_PER_STEP:
            raise PolicyValidationError(
                "targets", f"must name at most {MAX_TARGETS_PER_STEP} targets"
            )
        for index, target in enumerate(targets):
            if not isinstance(target, RotaTarget | RotaNameTarget | StaffTarget):
                raise PolicyValidationError(f"targets.{index}", "is not a rota or staff target")
            if target in targets[:index]:
                raise PolicyValidationError(f"targets.{index}", "appears more than once")
        channels = _as_tuple(self.channels, "channels")
        if not channels:
            raise PolicyValidationError("channels", "must list at least one of sms, voice")
        for index, channel in enumerate(channels):
            if channel not in CHANNELS:
                raise PolicyValidationError(
                    f"channels.{index}", f"{channel!r} is not one of sms, voice"
                )
            if channel in channels[:index]:
                raise PolicyValidationError(f"channels.{index}", f"{channel!r} appears twice")
        wait = self.wait_seconds
        if isinstance(wait, bool) or not isinstance(wait, int):
            raise PolicyValidationError("wait_seconds", "must be a whole number of seconds")
        if not MIN_WAIT_SECONDS <= wait <= MAX_WAIT_SECONDS:
            raise PolicyValidationError(
                "wait_seconds", f"must be between {MIN_WAIT_SECONDS} and {MAX_WAIT_SECONDS}"
            )
        object.__setattr__(self, "targets", targets)
        object.__setattr__(self, "channels", channels)


@dataclass(frozen=True)
class EscalationPolicy:
    """A named chain of steps, run once and then `repeat` more times before it is exhausted."""

    name: str
    steps: tuple[Step, ...]
    repeat: int

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise PolicyValidationError(
                "name", "must be lower-case letters, digits and hyphens, such as crisis-call"
            )
        steps = _as_tuple(self.steps, "steps")
        if not steps:
            raise PolicyValidationError("steps", "must have at least one step")
        if len(steps) > MAX_STEPS:
            raise PolicyValidationError("steps", f"must have at most {MAX_STEPS} steps")
        for index, step in enumerate(steps):
            if not isinstance(step, Step):
                raise PolicyValidationError(f"steps.{index}", "is not a step")
        repeat = self.repeat
        if isinstance(repeat, bool) or not isinstance(repeat, int):
            raise PolicyValidationError("repeat", "must be a whole number")
        if not 0 <= repeat <= MAX_REPEAT:
            raise PolicyValidationError("repeat", f"must be between 0 and {MAX_REPEAT}")
        object.__setattr__(self, "steps", steps)

    @property
    def loops(self) -> int:
        """How many times the whole chain runs: once plus `repeat`."""
        return self.repeat + 1


def _check_id(value: object, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PolicyValidationError(field, "must be a positive whole number")


def _as_tuple(value: object, field: str) -> tuple[object, ...]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, tuple | list):
        raise PolicyValidationError(field, "must be a list")
    return tuple(value)


def _nested(prefix: str, error: PolicyValidationError) -> PolicyValidationError:
    return PolicyValidationError(f"{prefix}.{error.field}", error.message)


def _mapping(value: object, field: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise PolicyValidationError(field, "must be an object")
    return value


def _only_keys(data: Mapping[str, object], allowed: tuple[str, ...], prefix: str) -> None:
    for key in data:
        if key not in allowed:
            where = f"{prefix}.{key}" if prefix else key
            raise PolicyValidationError(where, f"is not a known field (expected {allowed})")


def parse_target(data: object, field: str = "target") -> Target:
    """Parse `{"rota_id": 1}`, `{"staff_id": 2}` or `{"rota": "primary"}` into a target."""
    mapping = _mapping(data, field)
    keys = tuple(mapping)
    if len(keys) != 1 or keys[0] not in ("rota_id", "staff_id", "rota"):
        raise PolicyValidationError(
            field, 'must be exactly one of {"rota_id": n}, {"staff_id": n}, {"rota": "name"}'
        )
    key = keys[0]
    try:
        if key == "rota_id":
            return RotaTarget(rota_id=mapping[key])  # type: ignore[arg-type]
        if key == "staff_id":
            return StaffTarget(staff_id=mapping[key])  # type: ignore[arg-type]
        return RotaNameTarget(rota=mapping[key])  # type: ignore[arg-type]
    except PolicyValidationError as error:
        raise _nested(field, error) from None


def parse_step(data: object, field: str = "step") -> Step:
    """Parse one step of the JSON shape, naming the path of any invalid value."""
    mapping = _mapping(data, field)
    _only_keys(mapping, ("targets", "channels", "wait_seconds"), field)
    for key in ("targets", "channels", "wait_seconds"):
        if key not in mapping:
            raise PolicyValidationError(f"{field}.{key}", "is required")
    raw_targets = mapping["targets"]
    try:
        listed = _as_tuple(raw_targets, "targets")
    except PolicyValidationError as error:
        raise _nested(field, error) from None
    targets = tuple(
        parse_target(item, f"{field}.targets.{index}") for index, item in enumerate(listed)
    )
    try:
        return Step(
            targets=targets,
            channels=mapping["channels"],  # type: ignore[arg-type]
            wait_seconds=mapping["wait_seconds"],  # type: ignore[arg-type]
        )
    except PolicyValidationError as error:
        raise _nested(field, error) from None


def parse_policy(name: str, data: object) -> EscalationPolicy:
    """Parse a policy from `{"steps": [...], "repeat": n}`, raising PolicyValidationError."""
    mapping = _mapping(data, "policy")
    _only_keys(mapping, ("steps", "repeat"), "")
    if "steps" not in mapping:
        raise PolicyValidationError("steps", "is required")
    steps = tuple(
        parse_step(item, f"steps.{index}")
        for index, item in enumerate(_as_tuple(mapping["steps"], "steps"))
    )
    return EscalationPolicy(
        name=name,
        steps=steps,
        repeat=mapping.get("repeat", 0),  # type: ignore[arg-type]
    )


def target_to_json(target: Target) -> dict[str, int | str]:
    """The JSON shape of a target, as `parse_target` reads it."""
    if isinstance(target, RotaTarget):
        return {"rota_id": target.rota_id}
    if isinstance(target, StaffTarget):
        return {"staff_id": target.staff_id}
    return {"rota": target.rota}


def policy_to_json(policy: EscalationPolicy) -> dict[str, object]:
    """The JSON shape of a policy (without its name), as `parse_policy` reads it."""
    return {
        "steps": [
            {
                "targets": [target_to_json(target) for target in step.targets],
                "channels": list(step.channels),
                "wait_seconds": step.wait_seconds,
            }
            for step in policy.steps
        ],
        "repeat": policy.repeat,
    }
