"""Escalation policies in words, as people read them: 'If nobody takes it within 2 minutes, ring
and text the backup rota.'

`sentences` words one policy from names it is given (pure, so every kind of step is tested on
policies built by hand); `policies_in_words` and `policy_in_words` read the policies and the
names of the rotas and staff they target.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from crisisline import escalation_policies
from crisisline.models import Staff
from crisisline.rota_models import RotaRecord
from escalation import (
    EscalationPolicy,
    PolicyValidationError,
    RotaNameTarget,
    RotaTarget,
    StaffTarget,
    Step,
    Target,
    parse_policy,
)

_CHANNEL_VERBS: Mapping[frozenset[str], str] = {
    frozenset({"sms"}): "text",
    frozenset({"voice"}): "ring",
    frozenset({"sms", "voice"}): "ring and text",
}
_AGAIN: Mapping[int, str] = {1: "once more", 2: "twice more"}


@dataclass(frozen=True)
class Names:
    """What the policy's targets are called: rotas by id, and staff by id (active or not)."""

    rotas: Mapping[int, str] = field(default_factory=dict)
    staff: Mapping[int, str] = field(default_factory=dict)
    inactive_staff: frozenset[int] = frozenset()


@dataclass(frozen=True)
class PolicyInWords:
    """One policy as the console shows it."""

    name: str
    source: str  # "default" (config/escalation_policies.toml) or "custom" (stored by the API)
    sentences: tuple[str, ...]
    steps: int
    repeat: int


def sentences(policy: EscalationPolicy, names: Names) -> tuple[str, ...]:
    """The policy, a sentence per step, then what happens when nobody takes it."""
    said = [f"First, {_action(policy.steps[0], names)}."]
    for before, step in zip(policy.steps, policy.steps[1:], strict=False):
        said.append(
            f"If nobody takes it within {duration(before.wait_seconds)}, {_action(step, names)}."
        )
    last_wait = duration(policy.steps[-1].wait_seconds)
    if policy.repeat:
        again = _AGAIN.get(policy.repeat, f"{policy.repeat} more times")
        said.append(
            f"If nobody takes it within {last_wait}, start again from the first step, {again}."
        )
        said.append(
            "If nobody has taken it by the end of the last round, the escalation is exhausted: "
            "that is a safety incident, and the duty manager is told."
        )
    else:
        said.append(
            f"If nobody takes it within {last_wait}, the escalation is exhausted (it does not "
            "start again): that is a safety incident, and the duty manager is told."
        )
    return tuple(said)


def duration(seconds: int) -> str:
    """A wait as people say it: '1 minute', '2 minutes', '1 minute 30 seconds', '2 hours'."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        _count(amount, unit)
        for amount, unit in ((hours, "hour"), (minutes, "minute"), (secs, "second"))
        if amount
    ]
    return " ".join(parts) if parts else "0 seconds"


def target_words(target: Target, names: Names) -> str:
    """Whom a target means, in words: 'the backup rota', 'Ann Example'."""
    if isinstance(target, RotaNameTarget):
        return f"the {target.rota} rota"
    if isinstance(target, RotaTarget):
        name = names.rotas.get(target.rota_id)
        if name is None:
            return f"rota {target.rota_id} (which no longer exists)"
        return f"the {name} rota"
    if isinstance(target, StaffTarget):
        person = names.staff.get(target.staff_id)
        if person is None:
            return f"member of staff {target.staff_id} (who is not on record)"
        if target.staff_id in names.inactive_staff:
            return f"{person} (no longer active)"
        return person
    raise TypeError(f"not a policy target: {target!r}")


def policies_in_words(session: Session) -> list[PolicyInWords]:
    """Every policy in words, by name."""
    found = escalation_policies.list_policies(session)
    names = _names(session, [policy for policy, _ in found])
    return [_in_words(policy, source, names) for policy, source in found]


def policy_in_words(session: Session, name: str) -> PolicyInWords:
    """The policy called `name` in words (NotFound if there is none)."""
    policy, source = escalation_policies.get_policy(session, name)
    return _in_words(policy, source, _names(session, [policy]))


def copy_in_words(session: Session, name: str, stored: object) -> tuple[str, ...]:
    """The copy of a policy an escalation keeps (the policy as it was when the escalation
    opened, which it follows even if the policy has changed since) in words; none if the copy
    cannot be read."""
    try:
        policy = parse_policy(name, stored)
    except PolicyValidationError:
        return ()
    return sentences(policy, _names(session, [policy]))


def _in_words(policy: EscalationPolicy, source: str, names: Names) -> PolicyInWords:
    return PolicyInWords(
        name=policy.name,
        source=source,
        sentences=sentences(policy, names),
        steps=len(policy.steps),
        repeat=policy.repeat,
    )


def _action(step: Step, names: Names) -> str:
    verb = _CHANNEL_VERBS[frozenset(step.channels)]
    return f"{verb} {_listed([target_words(target, names) for target in step.targets])}"


def _listed(items: Sequence[str]) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def _count(amount: int, unit: str) -> str:
    return f"{amount} {unit}" if amount == 1 else f"{amount} {unit}s"


def _names(session: Session, policies: Sequence[EscalationPolicy]) -> Names:
    targets = [t for policy in policies for step in policy.steps for t in step.targets]
    rota_ids = {t.rota_id for t in targets if isinstance(t, RotaTarget)}
    staff_ids = {t.staff_id for t in targets if isinstance(t, StaffTarget)}
    rotas: dict[int, str] = {}
    if rota_ids:
        rows = session.execute(
            select(RotaRecord.id, RotaRecord.name).where(RotaRecord.id.in_(rota_ids))
        )
        rotas = {row.id: row.name for row in rows}
    staff: dict[int, str] = {}
    inactive: set[int] = set()
    if staff_ids:
        people = session.execute(
            select(Staff.id, Staff.name, Staff.active).where(Staff.id.in_(staff_ids))
        )
        for staff_id, name, active in people:
            staff[staff_id] = name
            if not active:
                inactive.add(staff_id)
    return Names(rotas=rotas, staff=staff, inactive_staff=frozenset(inactive))
