"""The escalation policy store: which policies apply and who their targets mean.

The shipped defaults (config/escalation_policies.toml) and the policies stored in
`escalation_policies`, a stored one replacing the default of the same name; storing one checks
that every rota and staff target exists. `resolver` says who a policy target (a rota, a rota by
name, a member of staff) means at an instant. Both answers go through the routing cache
(crisisline.routing_cache). A records module: it reads and writes rows and knows nothing of the
escalation engine that runs the policies (crisisline.escalation_engine).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crisisline import audit, rota_service, routing_cache
from crisisline.errors import InvalidInput, NotFound
from crisisline.escalation_models import EscalationPolicyRecord
from crisisline.models import Staff
from crisisline.rota_models import RotaRecord
from escalation import (
    EscalationPolicy,
    PolicyValidationError,
    Recipient,
    RotaNameTarget,
    RotaTarget,
    StaffTarget,
    Target,
    load_default_policies,
    parse_policy,
    policy_to_json,
)


@functools.cache
def shipped_policies() -> dict[str, EscalationPolicy]:
    """The default policies from config/escalation_policies.toml (checked once, then cached)."""
    return dict(load_default_policies())


def get_policy(session: Session, name: str) -> tuple[EscalationPolicy, str]:
    """The policy called `name` and where it came from (`custom` or `default`), or NotFound."""
    return routing_cache.cached(
        ("policy", name), routing_cache.version(session), lambda: _read_policy(session, name)
    )


def cached_policy(name: str, version: routing_cache.Version) -> EscalationPolicy:
    """The policy `get_policy` would give under `version`, from the routing cache alone;
    routing_cache.Missing if it holds no answer under that version."""
    policy: EscalationPolicy = routing_cache.peek(("policy", name), version)[0]
    return policy


def cached_resolver(
    version: routing_cache.Version, at: dt.datetime
) -> Callable[[Target], Sequence[Recipient]]:
    """`resolver` from the routing cache alone: each target's answer at `at` under `version`,
    or routing_cache.Missing when the cache holds none."""

    def resolve(target: Target) -> Sequence[Recipient]:
        found: Sequence[Recipient] = routing_cache.peek(("target", target), version, at)
        return found

    return resolve


def _read_policy(session: Session, name: str) -> tuple[EscalationPolicy, str]:
    record = session.get(EscalationPolicyRecord, name)
    if record is not None:
        return parse_policy(name, record.document), "custom"
    policy = shipped_policies().get(name)
    if policy is None:
        raise NotFound(f"There is no escalation policy called {name!r}.")
    return policy, "default"


def list_policies(session: Session) -> list[tuple[EscalationPolicy, str]]:
    """Every policy, stored ones replacing the shipped default of the same name."""
    stored = {r.name: r for r in session.scalars(select(EscalationPolicyRecord))}
    names = sorted(set(shipped_policies()) | set(stored))
    return [get_policy(session, name) for name in names]


def missing_rotas(session: Session) -> list[str]:
    """Problems with the policies' rota targets: each names a policy and a rota that is missing."""
    names = {r.name.casefold() for r in session.scalars(select(RotaRecord))}
    ids = set(session.scalars(select(RotaRecord.id)))
    problems = []
    for policy, _ in list_policies(session):
        for step in policy.steps:
            for target in step.targets:
                if isinstance(target, RotaNameTarget) and target.rota.casefold() not in names:
                    problems.append(
                        f"policy {policy.name} names rota {target.rota}, which does not exist"
                    )
                if isinstance(target, RotaTarget) and target.rota_id not in ids:
                    problems.append(
                        f"policy {policy.name} names rota id {target.rota_id}, which does not exist"
                    )
    return sorted(set(problems))


def put_policy(
    session: Session, name: str, document: dict[str, Any], *, actor: str, now: dt.datetime
) -> EscalationPolicy:
    """Store a policy; every rota and staff target must exist (InvalidInput names the field)."""
    try:
        policy = parse_policy(name, document)
    except PolicyValidationError as error:
        # The message names the field too: people read the message, programs read `errors`.
        raise InvalidInput(f"{error.field}: {error.message}", error.field) from error
    for s, step in enumerate(policy.steps):
        for t, target in enumerate(step.targets):
            _check_target(session, target, f"steps.{s}.targets.{t}")
    record = session.get(EscalationPolicyRecord, name)
    if record is None:
        record = EscalationPolicyRecord(name=name, document={}, updated_at=now, updated_by=actor)
        session.add(record)
    record.document = policy_to_json(policy)
    record.updated_at = now
    record.updated_by = actor
    audit.record(
        session,
        actor=actor,
        action="update",
        record_type="escalation_policy",
        record_id=None,
        at=now,
        changes={"name": name, "policy": record.document},
    )
    return policy


def _check_target(session: Session, target: Target, field: str) -> None:
    if isinstance(target, RotaTarget) and session.get(RotaRecord, target.rota_id) is None:
        raise InvalidInput(
            f"{field}.rota_id: there is no rota with id {target.rota_id}", f"{field}.rota_id"
        )
    if isinstance(target, RotaNameTarget):
        try:
            rota_service.find_by_name(session, target.rota)
        except NotFound:
            raise InvalidInput(
                f"{field}.rota: there is no rota called {target.rota!r}", f"{field}.rota"
            ) from None
    if isinstance(target, StaffTarget):
        staff = session.get(Staff, target.staff_id)
        if staff is None or not staff.active:
            raise InvalidInput(
                f"{field}.staff_id: staff member {target.staff_id} does not exist or is inactive",
                f"{field}.staff_id",
            )


# ---- resolving targets to people ------------------------------------------------------------


def resolver(
    session: Session,
    at: dt.datetime,
    answers: dict[Target, tuple[Recipient, ...]] | None = None,
) -> Callable[[Target], Sequence[Recipient]]:
    """Who each target means at `at`: active staff with a phone, on call or named.

    `answers`, when given, remembers each target's answer for this one instant, so that a sweep
    advancing many escalations at the same `now` asks the rota once per target, not once per
    escalation (a restart's backlog is cleared several times faster).
    """

    version: list[routing_cache.Version | None] = []

    def resolve(target: Target) -> Sequence[Recipient]:
        if answers is not None and target in answers:
            return answers[target]
        if not version:
            # Read once, before any answer it guards (see crisisline.routing_cache).
            version.append(routing_cache.version(session))
        found = routing_cache.cached_between(
            ("target", target), version[0], at, lambda: _resolve(target)
        )
        if answers is not None:
            answers[target] = found
        return found

    def _resolve(
        target: Target,
    ) -> tuple[tuple[Recipient, ...], tuple[dt.datetime, dt.datetime] | None]:
        people: list[Staff]
        span: tuple[dt.datetime, dt.datetime] | None = None
        try:
            if isinstance(target, RotaTarget):
                answer = rota_service.on_call(session, target.rota_id, at)
                people, span = answer.staff, (answer.shift.start, answer.shift.end)
            elif isinstance(target, RotaNameTarget):
                rota = rota_service.find_by_name(session, target.rota)
                answer = rota_service.on_call(session, rota.id, at)
                people, span = answer.staff, (answer.shift.start, answer.shift.end)
            else:
                found = session.get(Staff, target.staff_id)
                people = [found] if found is not None else []
        except NotFound:
            # A rota deleted or renamed under a policy: nobody to notify, so the step is
            # skipped at once and a gap warning raised, never waited out.
            return (), None
        return tuple(Recipient(s.id, s.phone) for s in people if s.active and s.phone), span

    return resolve
