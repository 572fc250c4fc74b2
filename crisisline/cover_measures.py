"""Measures of cover: escalations that climbed to a second step, reached the last or ran out,
risk alerts by rule and severity and the time to acknowledge them, and hours with nobody on
call on each rota. Who was there to answer, whatever the contact.

Defines its measures in `crisisline.reports.MEASURES` at import; `facts` reads the period's
records, `figures` computes from them (pure). The words of each measure (what counts, what does
not, an example) are in docs/reports.md, "Escalations, alerts, the rota and notes".

Every read is a few set-based queries over the period, never one per row. What is said of a
fact's fate (a later step, an acknowledgement) is as the record stands when the report is read.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from crisisline import rota_service
from crisisline.alert_models import AlertEvidence, RiskAlert
from crisisline.errors import DomainError
from crisisline.escalation_models import EscalationEvent, EscalationRecord
from crisisline.flood_models import FloodContact
from crisisline.models import AuditEntry, Contact, Direction, Staff
from crisisline.reports import Context, Fact, Figure, define, ids, percentile
from crisisline.rota_models import RotaRecord
from rotas import Override, Rota, RotaValidationError, gaps_between

log = logging.getLogger(__name__)

# ---- the measures ---------------------------------------------------------------------------

ESCALATIONS: Final = "Escalations"
ALERTS: Final = "Risk alerts"
ROTA: Final = "Rota"

define(
    "escalations.second_step",
    "Escalations that reached a second step",
    "count",
    ESCALATIONS,
    better="lower",
)
define(
    "escalations.last_step",
    "Escalations that reached the last step",
    "count",
    ESCALATIONS,
    better="lower",
)
define(
    "escalations.ran_out",
    "Escalations that ran out (nobody took them)",
    "count",
    ESCALATIONS,
    better="lower",
)
define("alerts.raised", "Risk alerts raised", "count", ALERTS)
define(
    "alerts.time_to_ack_median",
    "Time to acknowledge a risk alert, median",
    "seconds",
    ALERTS,
    better="lower",
)
define("rota.gap_hours", "Hours with nobody on call", "hours", ROTA, better="lower")

# The escalation events that show a step was reached (a step skipped for a gap was reached too:
# it found nobody).
_STEP_EVENTS: Final = ("notified", "step_skipped", "gap")
_IN_LIST: Final = 500

# ---- facts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EscalationFact(Fact):
    """An escalation opened in the period (`at`), and how far it went."""

    escalation_id: int = 0
    contact_ids: tuple[int, ...] = ()  # its subject's contacts, where it has any
    second_step: bool = False
    last_step: bool = False
    ran_out: bool = False


@dataclass(frozen=True)
class AlertFact(Fact):
    """A risk alert raised in the period (`at`), and when it was acknowledged."""

    alert_id: int = 0
    rule: str = ""
    severity: str = ""
    acknowledged_at: dt.datetime | None = None
    contact_ids: tuple[int, ...] = ()  # its evidence

    @property
    def ack_seconds(self) -> float | None:
        """Seconds from raised to acknowledged (None: not acknowledged)."""
        if self.acknowledged_at is None:
            return None
        return max(0.0, (self.acknowledged_at - self.at).total_seconds())


@dataclass(frozen=True)
class GapFact(Fact):
    """A stretch of one rota (`rota`) inside the period with nobody usable on call."""

    end: dt.datetime | None = None
    reason: str = ""

    @property
    def hours(self) -> float:
        """How long the gap lasts inside the period, in hours of real time."""
        return (self.end - self.at).total_seconds() / 3600 if self.end is not None else 0.0


def facts(session: Session, context: Context) -> Sequence[Fact]:
    """The period's escalations, alerts and rota gaps."""
    found: list[Fact] = list(_escalations(session, context))
    found += _alerts(session, context)
    found += _gaps(session, context)
    return found


def _first_text_in(conversation_id: Any) -> Any:
    """The first text in of the conversation `conversation_id` (a correlated column), as
    crisisline.care_measures finds it: the lowest inbound id, the contact its note is on."""
    text_in = aliased(Contact)
    return (
        select(func.min(text_in.id))
        .where(text_in.conversation_id == conversation_id, text_in.direction == Direction.INBOUND)
        .correlate_except(text_in)
        .scalar_subquery()
    )


def _escalations(session: Session, context: Context) -> list[EscalationFact]:
    period = context.period
    in_period = (
        EscalationRecord.opened_at >= period.start,
        EscalationRecord.opened_at < period.end,
    )
    records = session.execute(
        select(
            EscalationRecord.id,
            EscalationRecord.opened_at,
            EscalationRecord.policy,
            EscalationRecord.exhausted_at,
            EscalationRecord.acknowledged_by_staff_id,
        ).where(*in_period)
    ).all()
    if not records:
        return []
    # How far each went: (step, loop) of every step it reached, 0-based, whenever it happened.
    reached: dict[int, set[tuple[int, int]]] = defaultdict(set)
    escalation_ids = [r.id for r in records]
    # In pieces of ids (an index lookup of each escalation's events), not a join that a
    # planner may answer by reading the events of every period.
    for start in range(0, len(escalation_ids), _IN_LIST):
        for escalation_id, detail in session.execute(
            select(EscalationEvent.escalation_id, EscalationEvent.detail).where(
                EscalationEvent.escalation_id.in_(escalation_ids[start : start + _IN_LIST]),
                EscalationEvent.kind.in_(_STEP_EVENTS),
            )
        ):
            detail = detail or {}
            reached[escalation_id].add((int(detail.get("step") or 0), int(detail.get("loop") or 0)))
    subjects = _subject_contacts(session, in_period)
    found = []
    for r in records:
        steps = len((r.policy or {}).get("steps") or []) or 1
        points = reached.get(r.id, set())
        # Past the first step: a later step, or any step of the chain's next round.
        second = any(step >= 1 or loop >= 1 for step, loop in points)
        # The chain's last step; a chain of one step reaches its last (only) step beyond the
        # first only when it runs again, so "last step" is always counted in "second step".
        last = any(step >= steps - 1 and (step >= 1 or loop >= 1) for step, loop in points)
        found.append(
            EscalationFact(
                at=r.opened_at,
                staff_id=r.acknowledged_by_staff_id,
                escalation_id=r.id,
                contact_ids=subjects.get(r.id, ()),
                second_step=second,
                last_step=last,
                ran_out=r.exhausted_at is not None,
            )
        )
    return found


def _subject_contacts(session: Session, in_period: tuple[Any, ...]) -> dict[int, tuple[int, ...]]:
    """The contacts each escalation of the period is about, by escalation: a conversation's
    first text in, a missed call, a risk alert's evidence, a flood's gathered contacts."""
    first_text = select(
        EscalationRecord.id, _first_text_in(EscalationRecord.subject_id).label("first_id")
    ).where(*in_period, EscalationRecord.subject_type == "sms_conversation")
    missed_call = (
        select(EscalationRecord.id, Contact.id)
        .join(Contact, Contact.id == EscalationRecord.subject_id)
        .where(*in_period, EscalationRecord.subject_type == "missed_call")
    )
    evidence = (
        select(EscalationRecord.id, AlertEvidence.contact_id)
        .join(AlertEvidence, AlertEvidence.alert_id == EscalationRecord.subject_id)
        .where(*in_period, EscalationRecord.subject_type == "risk_alert")
    )
    gathered = (
        select(EscalationRecord.id, FloodContact.contact_id)
        .join(FloodContact, FloodContact.flood_id == EscalationRecord.subject_id)
        .where(*in_period, EscalationRecord.subject_type == "flood")
    )
    found: dict[int, list[int]] = defaultdict(list)
    for query in (first_text, missed_call, evidence, gathered):
        for escalation_id, contact_id in session.execute(query):
            found[escalation_id].append(contact_id)
    return {key: ids(values) for key, values in found.items()}


def _alerts(session: Session, context: Context) -> list[AlertFact]:
    period = context.period
    rows = session.execute(
        select(
            RiskAlert.id,
            RiskAlert.raised_at,
            RiskAlert.rule,
            RiskAlert.severity,
            RiskAlert.acknowledged_at,
            RiskAlert.acknowledged_by_staff_id,
            RiskAlert.recipient_staff_id,
        ).where(RiskAlert.raised_at >= period.start, RiskAlert.raised_at < period.end)
    ).all()
    evidence: dict[int, list[int]] = defaultdict(list)
    for alert_id, contact_id in session.execute(
        select(AlertEvidence.alert_id, AlertEvidence.contact_id)
        .join(RiskAlert, RiskAlert.id == AlertEvidence.alert_id)
        .where(RiskAlert.raised_at >= period.start, RiskAlert.raised_at < period.end)
    ):
        evidence[alert_id].append(contact_id)
    return [
        AlertFact(
            at=r.raised_at,
            # Who acknowledged it; one nobody acknowledged stays with the officer it went to.
            staff_id=r.acknowledged_by_staff_id
            if r.acknowledged_at is not None and r.acknowledged_by_staff_id is not None
            else r.recipient_staff_id,
            alert_id=r.id,
            rule=r.rule,
            severity=str(r.severity),
            acknowledged_at=r.acknowledged_at,
            contact_ids=ids(evidence.get(r.id, ())),
        )
        for r in rows
    ]


def _gaps(session: Session, context: Context) -> list[GapFact]:
    period = context.period
    records, _ = rota_service.list_rotas(session)
    members: set[int] = set()
    # Each rota from when it was made: before that it was no rota, not a rota with nobody on.
    pairs: list[tuple[RotaRecord, dt.datetime, Rota, list[Override]]] = []
    found: list[GapFact] = []
    for record in records:
        since = max(period.start, record.created_at)
        if since >= period.end:
            continue
        try:
            rota = rota_service.to_rota(record)
            overrides = rota_service.overrides_meeting(session, record.id, since, period.end)
        except (RotaValidationError, DomainError) as error:
            found.append(_unknown(record, since, period.end, error))
            continue
        members.update(rota.members)
        members.update(o.staff_id for o in overrides if o.staff_id is not None)
        pairs.append((record, since, rota, overrides))
    usable = _usable_through(session, members, period.start, period.end)
    for record, since, rota, overrides in pairs:
        try:
            gaps = gaps_between(
                [(rota, overrides)], since, period.end, lambda staff_id: staff_id in usable
            )
        except (RotaValidationError, DomainError) as error:
            found.append(_unknown(record, since, period.end, error))
            continue
        found.extend(
            GapFact(
                at=max(gap.start, since),
                rota=gap.rota_name,
                end=min(gap.end, period.end),
                reason=gap.reason,
            )
            for gap in gaps
        )
    return sorted(found, key=lambda gap: (gap.at, gap.rota or ""))


def _unknown(record: RotaRecord, start: dt.datetime, end: dt.datetime, error: Exception) -> GapFact:
    """A rota whose shifts cannot be worked out: nobody is known to have been on call, so all
    of [start, end) is its gap (a gap shown that was not is safer than one hidden)."""
    log.error("report: rota %s cannot be worked out (%s)", record.id, type(error).__name__)
    return GapFact(at=start, rota=record.name, end=end, reason="unknown")


def _usable_through(
    session: Session, staff_ids: set[int], start: dt.datetime, end: dt.datetime
) -> set[int]:
    """Of `staff_ids`, those who could answer a call throughout [start, end): a phone, and
    active then. Whether someone was active then is read from the staff record's audited
    changes (crisisline.staff): the first change of `active` after `start` says what it was
    before; one that changed during the period counts as not usable for all of it, so a gap
    is never hidden."""
    if not staff_ids:
        return set()
    people = session.execute(
        select(Staff.id, Staff.active, Staff.phone).where(Staff.id.in_(staff_ids))
    ).all()
    first_change: dict[int, tuple[dt.datetime, bool]] = {}
    for record_id, at, changes in session.execute(
        select(AuditEntry.record_id, AuditEntry.at, AuditEntry.changes)
        .where(
            AuditEntry.record_type == "staff",
            AuditEntry.record_id.in_(staff_ids),
            AuditEntry.at >= start,
        )
        .order_by(AuditEntry.at, AuditEntry.id)
    ):
        change = (changes or {}).get("active")
        if record_id is None or record_id in first_change or not isinstance(change, list):
            continue
        first_change[record_id] = (at, bool(change[0]))
    usable = set()
    for person in people:
        found = first_change.get(person.id)
        if found is None:
            active_then = person.active
        else:
            changed_at, before = found
            active_then = before and changed_at >= end
        if active_then and person.phone:
            usable.add(person.id)
    return usable


# ---- figures --------------------------------------------------------------------------------

T = TypeVar("T", bound=Fact)


def _of(facts: Sequence[Fact], kind: type[T]) -> list[T]:
    return [f for f in facts if isinstance(f, kind)]


def figures(facts: Sequence[Fact], context: Context) -> list[Figure]:
    """The escalation, alert and rota figures over `facts`."""
    return [
        *_escalation_figures(_of(facts, EscalationFact)),
        *_alert_figures(_of(facts, AlertFact)),
        _gap_figure(_of(facts, GapFact)),
    ]


def _escalation_figures(escalations: list[EscalationFact]) -> list[Figure]:
    def counted(key: str, chosen: list[EscalationFact]) -> Figure:
        return Figure(key, len(chosen), contact_ids=ids(i for e in chosen for i in e.contact_ids))

    return [
        counted("escalations.second_step", [e for e in escalations if e.second_step]),
        counted("escalations.last_step", [e for e in escalations if e.last_step]),
        counted("escalations.ran_out", [e for e in escalations if e.ran_out]),
    ]


def _alert_figures(alerts: list[AlertFact]) -> list[Figure]:
    kinds = Counter(f"{a.rule}/{a.severity}" for a in alerts)
    acknowledged = [a for a in alerts if a.ack_seconds is not None]
    times = [a.ack_seconds for a in acknowledged if a.ack_seconds is not None]
    return [
        Figure(
            "alerts.raised",
            len(alerts),
            contact_ids=ids(i for a in alerts for i in a.contact_ids),
            parts=tuple((kind, float(n)) for kind, n in sorted(kinds.items())),
        ),
        # Unacknowledged alerts have no time to put in the median: they are counted beside it
        # (numerator acknowledged, denominator raised: "2 of 3"), never left out unseen.
        Figure(
            "alerts.time_to_ack_median",
            percentile(times, 0.5),
            numerator=len(acknowledged),
            denominator=len(alerts),
            contact_ids=ids(i for a in acknowledged for i in a.contact_ids),
        ),
    ]


def _gap_figure(gaps: list[GapFact]) -> Figure:
    by_rota: dict[str, float] = defaultdict(float)
    for gap in gaps:
        by_rota[gap.rota or "no rota"] += gap.hours
    # A gap is a stretch of time, not a contact: its drill-down lists no contact.
    return Figure(
        "rota.gap_hours",
        sum(by_rota.values()),
        parts=tuple(sorted(by_rota.items())),
    )
