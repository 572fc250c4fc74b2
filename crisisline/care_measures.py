"""Measures of texts, escalations, risk alerts, the rota and notes: conversations and the time
to the first human reply, escalations that climbed or ran out, alerts by rule and severity and
the time to acknowledge them, hours with nobody on call, and handled contacts with a note.

Defines its measures in `crisisline.reports.MEASURES` at import; `facts` reads the period's
records, `figures` computes from them (pure). The words of each measure (what counts, what does
not, an example) are in docs/reports.md, "Texts" and "Escalations, alerts, the rota and notes".

Every read is a few set-based queries over the period (never one per row), and never loads a
message body or a note's words. What is said of a fact's fate (a reply, an acknowledgement, a
note) is as the record stands when the report is read.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from crisisline import rota_service
from crisisline.alert_models import AlertEvidence, RiskAlert
from crisisline.conversation_models import SmsConversation
from crisisline.errors import DomainError
from crisisline.escalation_models import EscalationEvent, EscalationRecord
from crisisline.flood_models import FloodContact
from crisisline.models import AuditEntry, Channel, Contact, ContactOutcome, Direction, Staff
from crisisline.note_models import ContactNote
from crisisline.reports import Context, Fact, Figure, define, ids, percentile, share
from crisisline.rota_models import RotaRecord
from rotas import Override, Rota, RotaValidationError, gaps_between, local_to_utc

log = logging.getLogger(__name__)

# ---- the measures ---------------------------------------------------------------------------

TEXTS: Final = "Texts"
ESCALATIONS: Final = "Escalations"
ALERTS: Final = "Risk alerts"
ROTA: Final = "Rota"
NOTES: Final = "Notes"

define("texts.conversations", "Text conversations", "count", TEXTS)
define("texts.first_reply_median", "Time to the first human reply, median", "seconds", TEXTS)
define("texts.first_reply_p90", "Time to the first human reply, 90th percentile", "seconds", TEXTS)
define(
    "texts.replied_within_5min",
    "Conversations replied to by a person within 5 minutes",
    "share",
    TEXTS,
    target="text_replied_within_5min",
    better="higher",
)
define("texts.no_reply", "Conversations with no human reply", "count", TEXTS, better="lower")
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
define(
    "notes.within_30min",
    "Handled contacts with a note within 30 minutes of their end",
    "share",
    NOTES,
    better="higher",
)
define(
    "notes.by_handover",
    "Handled contacts with a note by the next handover",
    "share",
    NOTES,
    better="higher",
)

REPLY_WITHIN: Final = dt.timedelta(minutes=5)
NOTE_WITHIN: Final = dt.timedelta(minutes=30)
# A taken conversation with nothing texted either way for this long has ended for its note, as
# the note prompts count it (crisisline.note_prompts.TEXTS_QUIET, a layer above this one: a test
# keeps the two equal).
TEXTS_QUIET: Final = dt.timedelta(hours=1)
# The escalation events that show a step was reached (a step skipped for a gap was reached too:
# it found nobody).
_STEP_EVENTS: Final = ("notified", "step_skipped", "gap")
_IN_LIST: Final = 500


# ---- facts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConversationFact(Fact):
    """A text conversation opened in the period (`at`), and its first human reply."""

    conversation_id: int = 0
    contact_id: int | None = None  # its first text in (the contact its note belongs to)
    first_text_at: dt.datetime | None = None
    first_reply_at: dt.datetime | None = None
    # Who holds it now (None: nobody took it, or it was handed back: it takes no note), and
    # when it ended for its note.
    held_by: int | None = None
    ended_at: dt.datetime | None = None
    first_note_at: dt.datetime | None = None  # its note's first version

    @property
    def reply_seconds(self) -> float | None:
        """Seconds from the first text in to the first reply by a person (None: no reply)."""
        if self.first_reply_at is None or self.first_text_at is None:
            return None
        return max(0.0, (self.first_reply_at - self.first_text_at).total_seconds())


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


@dataclass(frozen=True)
class HandledFact(Fact):
    """A contact a person handled that started in the period, its end and its first note."""

    contact_id: int = 0
    ended_at: dt.datetime | None = None  # None: its end was never recorded
    first_note_at: dt.datetime | None = None


def facts(session: Session, context: Context) -> Sequence[Fact]:
    """The period's conversations, escalations, alerts, rota gaps and handled contacts."""
    conversations = _conversations(session, context)
    found: list[Fact] = list(conversations)
    found += _escalations(session, context)
    found += _alerts(session, context)
    found += _gaps(session, context)
    found += _handled(session, context, conversations)
    return found


def _first_text_in(conversation_id: Any) -> Any:
    """The first text in of the conversation `conversation_id` (a correlated column): the
    lowest inbound id, as its note's contact is chosen. Correlated, so it is an index lookup
    per conversation of the period, whatever the number of texts outside it."""
    text_in = aliased(Contact)
    return (
        select(func.min(text_in.id))
        .where(text_in.conversation_id == conversation_id, text_in.direction == Direction.INBOUND)
        .correlate_except(text_in)
        .scalar_subquery()
    )


def _conversations(session: Session, context: Context) -> list[ConversationFact]:
    period = context.period
    # Each value is a correlated subquery: an index lookup (contacts by conversation, notes by
    # contact) per conversation of the period, never a scan of the texts of other periods.
    first_id = _first_text_in(SmsConversation.id)
    first = aliased(Contact)
    first_at = func.coalesce(
        select(first.started_at)
        .where(first.id == first_id)
        .correlate_except(first)
        .scalar_subquery(),
        SmsConversation.opened_at,
    )
    # The first text a person wrote to the texter after his first text in: the automatic
    # acknowledgement and the crisis numbers are written by nobody (no staff id).
    out = aliased(Contact)
    reply = (
        select(out.started_at, out.handled_by_staff_id)
        .where(
            out.conversation_id == SmsConversation.id,
            out.channel == Channel.SMS,
            out.direction == Direction.OUTBOUND,
            out.handled_by_staff_id.is_not(None),
            out.started_at >= first_at,
        )
        .order_by(out.started_at, out.id)
        .limit(1)
        .correlate_except(out)
    )
    note_at = (
        select(ContactNote.written_at)
        .where(ContactNote.contact_id == first_id, ContactNote.version == 1)
        .correlate_except(ContactNote)
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            SmsConversation.id,
            SmsConversation.opened_at,
            SmsConversation.handled_by_staff_id,
            SmsConversation.status,
            SmsConversation.closed_at,
            SmsConversation.last_message_at,
            first_id.label("first_id"),
            first_at.label("first_at"),
            reply.with_only_columns(out.started_at).scalar_subquery().label("reply_at"),
            reply.with_only_columns(out.handled_by_staff_id).scalar_subquery().label("replier"),
            note_at.label("note_at"),
        ).where(SmsConversation.opened_at >= period.start, SmsConversation.opened_at < period.end)
    ).all()
    return [
        ConversationFact(
            at=row.opened_at,
            # Its worker; a conversation handed back to the rota, by whoever replied first.
            staff_id=row.handled_by_staff_id
            if row.handled_by_staff_id is not None
            else row.replier,
            conversation_id=row.id,
            contact_id=row.first_id,
            first_text_at=row.first_at,
            first_reply_at=row.reply_at,
            held_by=row.handled_by_staff_id,
            ended_at=_conversation_end(row.status, row.closed_at, row.last_message_at),
            first_note_at=row.note_at,
        )
        for row in rows
    ]


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


def _handled(
    session: Session, context: Context, conversations: Sequence[ConversationFact]
) -> list[HandledFact]:
    period = context.period
    # Correlated: an index lookup of each call's first version (contact_id, version), never a
    # read of the notes of other periods.
    first_note = (
        select(ContactNote.written_at)
        .where(ContactNote.contact_id == Contact.id, ContactNote.version == 1)
        .correlate_except(ContactNote)
        .scalar_subquery()
    )
    calls = session.execute(
        select(
            Contact.id,
            Contact.started_at,
            Contact.ended_at,
            Contact.handled_by_staff_id,
            first_note,
        ).where(
            Contact.started_at >= period.start,
            Contact.started_at < period.end,
            Contact.channel == Channel.VOICE,
            Contact.handled_by_staff_id.is_not(None),
            or_(
                and_(
                    Contact.direction == Direction.INBOUND,
                    Contact.outcome == ContactOutcome.ANSWERED,
                ),
                and_(
                    Contact.direction == Direction.OUTBOUND,
                    Contact.outcome == ContactOutcome.CALL_BACK,
                ),
            ),
        )
    ).all()
    found = [
        HandledFact(
            at=started_at,
            staff_id=staff_id,
            contact_id=contact_id,
            ended_at=ended_at,
            first_note_at=written_at,
        )
        for contact_id, started_at, ended_at, staff_id, written_at in calls
    ]
    found += [
        HandledFact(
            at=c.at,
            staff_id=c.held_by,
            contact_id=c.contact_id,
            ended_at=c.ended_at,
            first_note_at=c.first_note_at,
        )
        for c in conversations
        if c.contact_id is not None and c.held_by is not None
    ]
    return found


def _conversation_end(
    status: str, closed_at: dt.datetime | None, last_at: dt.datetime
) -> dt.datetime:
    """When a taken conversation ended for its note: closed before an hour's quiet, when it was
    closed; otherwise its last text either way (the note prompt's rule)."""
    if status == "closed" and closed_at is not None and closed_at < last_at + TEXTS_QUIET:
        return closed_at
    return last_at


# ---- figures --------------------------------------------------------------------------------

T = TypeVar("T", bound=Fact)


def _of(facts: Sequence[Fact], kind: type[T]) -> list[T]:
    return [f for f in facts if isinstance(f, kind)]


def figures(facts: Sequence[Fact], context: Context) -> list[Figure]:
    """The text, escalation, alert, rota and note figures over `facts`."""
    return [
        *_text_figures(_of(facts, ConversationFact)),
        *_escalation_figures(_of(facts, EscalationFact)),
        *_alert_figures(_of(facts, AlertFact)),
        _gap_figure(_of(facts, GapFact)),
        *_note_figures(_of(facts, HandledFact), context),
    ]


def _text_figures(conversations: list[ConversationFact]) -> list[Figure]:
    replied = [c for c in conversations if c.reply_seconds is not None]
    times = [c.reply_seconds for c in replied if c.reply_seconds is not None]
    within = [
        c
        for c in replied
        if c.reply_seconds is not None and c.reply_seconds <= REPLY_WITHIN.total_seconds()
    ]
    unreplied = [c for c in conversations if c.reply_seconds is None]
    replied_ids = ids(c.contact_id for c in replied)
    return [
        Figure(
            "texts.conversations",
            len(conversations),
            contact_ids=ids(c.contact_id for c in conversations),
        ),
        Figure("texts.first_reply_median", percentile(times, 0.5), contact_ids=replied_ids),
        Figure("texts.first_reply_p90", percentile(times, 0.9), contact_ids=replied_ids),
        Figure(
            "texts.replied_within_5min",
            share(len(within), len(conversations)),
            numerator=len(within),
            denominator=len(conversations),
            contact_ids=ids(c.contact_id for c in within),
        ),
        Figure("texts.no_reply", len(unreplied), contact_ids=ids(c.contact_id for c in unreplied)),
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
        # (numerator acknowledged, denominator raised, and as a part), never left out unseen.
        Figure(
            "alerts.time_to_ack_median",
            percentile(times, 0.5),
            numerator=len(acknowledged),
            denominator=len(alerts),
            contact_ids=ids(i for a in acknowledged for i in a.contact_ids),
            parts=(
                ("acknowledged", float(len(acknowledged))),
                ("not acknowledged", float(len(alerts) - len(acknowledged))),
            ),
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


def first_handover_after(instant: dt.datetime, context: Context) -> dt.datetime:
    """The first morning handover (HANDOVER_TIME, local wall clock) strictly after `instant`."""
    day = instant.astimezone(context.zone).date()
    while True:
        handover = local_to_utc(dt.datetime.combine(day, context.handover_time), context.zone)
        if handover > instant:
            return handover
        day += dt.timedelta(days=1)


def _note_figures(handled: list[HandledFact], context: Context) -> list[Figure]:
    # A contact whose end was never recorded cannot show its note came in time: it counts
    # among the handled contacts and never as noted in time.
    within = [
        h
        for h in handled
        if h.ended_at is not None
        and h.first_note_at is not None
        and h.first_note_at <= h.ended_at + NOTE_WITHIN
    ]
    by_handover = [
        h
        for h in handled
        if h.ended_at is not None
        and h.first_note_at is not None
        and h.first_note_at <= first_handover_after(h.ended_at, context)
    ]
    return [
        Figure(
            "notes.within_30min",
            share(len(within), len(handled)),
            numerator=len(within),
            denominator=len(handled),
            contact_ids=ids(h.contact_id for h in within),
        ),
        Figure(
            "notes.by_handover",
            share(len(by_handover), len(handled)),
            numerator=len(by_handover),
            denominator=len(handled),
            contact_ids=ids(h.contact_id for h in by_handover),
        ),
    ]
