"""What the Now board shows: on call now and the next handoffs, gaps ahead, live calls, open
escalations and alerts, texts waiting and the scheduler's health.

`board(session, actor, now, messages)` answers one `Board` of plain dataclasses; a section the
person may not see is None (not an empty list), so a page cannot show it by mistake:

- rotas, handoffs and gaps: everyone signed in (a worker needs to know who is on with him);
- live calls and texts waiting: holders of contacts:read (the caller is named by reference only
  when the person's grant reaches him; else "a participant" or "an unknown caller");
- escalations: holders of escalations:read see those their grant reaches (an escalation about
  nobody only at the ALL extent); anyone else sees those that asked him (his phone holds a live
  reply code) or that he took and are not closed: the worker at 3 a.m. sees what he is asked;
- risk alerts: alerts:read, narrowed by caseload;
- the scheduler's health: duty managers, the clinical lead and administrators;
- follow-ups overdue (open more than two working days): those whose follow-ups:read reaches
  every participant (duty managers, the clinical lead), counted by the follow-ups flow that
  the page passes in (`Rules.overdue_follow_ups`).
- notes to write: anyone who writes notes sees the contacts he handled in the last week whose
  note is not written yet (`Rules.notes_to_write`, from crisisline.contact_notes).
- crisis plans to review or write: a responsible officer sees the active participants of his
  caseload whose plan is past its review date or who have none (`Rules.plans_to_review`).

Every query is indexed and bounded (a LIMIT, or a window of hours): the board is asked every
few seconds by every open console, whatever the size of the history.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import ColumnElement, and_, case, false, func, or_, select
from sqlalchemy.orm import Session

from crisisline import calls, caseloads, heartbeat, record_access, rota_service
from crisisline.alert_models import AlertSeverity, AlertStatus, RiskAlert
from crisisline.call_models import LiveCall
from crisisline.errors import DomainError
from crisisline.escalation_models import EscalationCode, EscalationRecord
from crisisline.models import (
    Contact,
    Direction,
    Participant,
    RecordAccess,
    SchedulerHeartbeat,
    Staff,
    StaffRole,
)
from crisisline.permissions import Actor, Extent, Permission
from crisisline.record_access import Visit
from wording.callers import CrisisMessages

log = logging.getLogger(__name__)

# Rota gaps are flagged this far ahead.
GAPS_WITHIN: Final = dt.timedelta(hours=72)
# At most this many rows of each list; the section says how many more there are.
SHOWN_AT_MOST: Final = 30
# A board refreshed every few seconds logs each participant it shows to a person once in this
# long: the access log says who saw whom, not each of a thousand identical refreshes.
LOG_AGAIN_AFTER: Final = dt.timedelta(minutes=15)
# Schedulers whose last beat is older than this are not listed (a process long gone).
SCHEDULERS_SHOWN_FOR: Final = dt.timedelta(days=1)
OPEN_ESCALATION: Final = ("open", "acknowledged", "exhausted")
OPEN_ALERT: Final = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)
SEVERITIES: Final = (AlertSeverity.URGENT, AlertSeverity.WARNING, AlertSeverity.INFO)
HEALTH_ROLES: Final = frozenset({StaffRole.DUTY_MANAGER, StaffRole.CLINICAL_LEAD, StaffRole.ADMIN})


@dataclass(frozen=True)
class RotaLine:
    """One rota now: who is on call until the next handoff, and who takes over then."""

    rota: str
    names: list[str]
    handoff_at: dt.datetime | None
    next_names: list[str]
    # Set when the rota could not be worked out (say why, and show the rest of the board).
    problem: str | None = None


@dataclass(frozen=True)
class GapLine:
    """A time ahead when one rota has nobody usable on call."""

    rota: str
    start: dt.datetime
    end: dt.datetime
    reason: str


@dataclass(frozen=True)
class CallLine:
    """A crisis call in progress: whom it rings (or who took it) and how long it has waited."""

    call_id: int
    contact_id: int
    caller: str  # a participant's reference, "a participant" or "an unknown caller"
    participant_id: int | None  # set only when the person's grant reaches him
    state: str  # "ringing", "answered" or "voicemail"
    ringing: list[str]
    answered_by: str | None
    started_at: dt.datetime
    waiting_seconds: int


@dataclass(frozen=True)
class EscalationLine:
    """An open escalation as the board shows it."""

    escalation_id: int
    summary: str
    status: str
    participant_id: int | None
    reference: str | None
    step: int  # 1-based
    steps: int
    round: int  # 1-based
    rounds: int
    notified: list[str]
    next_step_at: dt.datetime | None
    taken_by: str | None
    opened_at: dt.datetime
    may_take: bool
    may_close: bool
    # A taken text conversation's opening text: its crisis plan view is one tap away.
    plan_contact_id: int | None = None


@dataclass(frozen=True)
class AlertLine:
    """An open (or seen, not resolved) risk alert."""

    alert_id: int
    participant_id: int
    reference: str
    severity: str
    status: str
    reason: str
    raised_at: dt.datetime
    age_seconds: int


@dataclass(frozen=True)
class Alerts:
    """Open alerts the person reaches: the first ones (most severe, oldest first) and counts."""

    lines: list[AlertLine]
    by_severity: dict[str, int]
    total: int


@dataclass(frozen=True)
class TextsWaiting:
    """Texts the webhook took in that wait to be routed: how many and how long (no bodies)."""

    count: int
    oldest_seconds: int | None
    overdue: bool


@dataclass(frozen=True)
class SchedulerLine:
    """One scheduler process's last sign of life."""

    name: str
    role: str
    beat_at: dt.datetime
    age_seconds: int
    alive: bool


@dataclass(frozen=True)
class SchedulerHealth:
    """Whether the jobs run: the schedulers' beats, and escalations waiting past their time."""

    schedulers: list[SchedulerLine]
    healthy: bool
    leader: str | None
    overdue_escalations: int


@dataclass(frozen=True)
class FollowUpLine:
    """A follow-up still open more than two working days after a note asked for it."""

    follow_up_id: int
    participant_id: int | None
    reference: str | None  # None: an unknown caller
    officer: str | None  # None: unassigned (the participant had no officer)
    asked_at: dt.datetime
    due_at: dt.datetime


@dataclass(frozen=True)
class FollowUpsOverdue:
    """The oldest overdue follow-ups, and how many there are in all."""

    lines: list[FollowUpLine]
    total: int


@dataclass(frozen=True)
class NoteLine:
    """A contact the person handled whose note is not written yet."""

    contact_id: int
    kind: str  # call, call_back or text
    started_at: dt.datetime
    participant_id: int | None
    reference: str | None  # None: an unknown caller


@dataclass(frozen=True)
class NotesToWrite:
    """The person's oldest contacts still without a note, and how many there are in all."""

    lines: list[NoteLine]
    total: int


@dataclass(frozen=True)
class PlanLine:
    """A participant of the person's caseload whose crisis plan is past its review date, or
    who has none."""

    participant_id: int
    reference: str
    review_on: dt.date | None  # None: he has no plan


@dataclass(frozen=True)
class PlansToReview:
    """The crisis plans of the person's caseload to review (past their date) or to write."""

    past_review: list[PlanLine]
    missing: list[PlanLine]

    @property
    def total(self) -> int:
        """How many plans there are to review or write."""
        return len(self.past_review) + len(self.missing)


@dataclass(frozen=True)
class Rules:
    """What the board asks of the flows above it (the layers let it import none of them): the
    console's rules for taking and closing an escalation (crisisline.alert_desk), and the texts
    waiting to be routed (crisisline.sms_intake)."""

    may_take: Callable[[Session, Actor, EscalationRecord], bool]
    may_close: Callable[[Session, Actor, EscalationRecord], bool]
    unrouted: Callable[[Session, dt.datetime], tuple[int, dt.datetime | None]]
    routing_overdue: dt.timedelta
    # The follow-ups flow sits beside this module: the page passes its count in.
    overdue_follow_ups: Callable[[Session, dt.datetime], FollowUpsOverdue] | None = None
    # So do the notes: the page passes in the notes a person still has to write.
    notes_to_write: Callable[[Session, int, dt.datetime], NotesToWrite] | None = None
    # And the crisis plans of an officer's caseload to review or write.
    plans_to_review: Callable[[Session, int, dt.datetime], PlansToReview] | None = None


@dataclass(frozen=True)
class Board:
    """Everything the Now board shows to one person at one instant (None: not for them)."""

    now: dt.datetime
    rotas: list[RotaLine]
    gaps: list[GapLine] | None  # None: they could not be worked out (said on the board)
    calls: list[CallLine] | None
    escalations: list[EscalationLine] | None
    more_escalations: int
    asked_only: bool  # the escalations are only those asking this person (no escalations:read)
    alerts: Alerts | None
    texts: TextsWaiting | None
    health: SchedulerHealth | None
    follow_ups: FollowUpsOverdue | None = None
    notes: NotesToWrite | None = None
    plans: PlansToReview | None = None


def board(
    session: Session, actor: Actor, now: dt.datetime, messages: CrisisMessages, rules: Rules
) -> Board:
    """The board for `actor` at `now`."""
    reads_contacts = _reaches(actor, Permission.CONTACTS_READ)
    reads_alerts = _reaches(actor, Permission.ALERTS_READ)
    escalations, more = _escalations(session, actor, now, rules)
    return Board(
        now=now,
        rotas=rotas_now(session, now),
        gaps=gaps_ahead(session, now),
        calls=live_calls(session, actor, now, messages) if reads_contacts else None,
        escalations=escalations,
        more_escalations=more,
        asked_only=not _reaches(actor, Permission.ESCALATIONS_READ),
        alerts=open_alerts(session, actor, now) if reads_alerts else None,
        texts=texts_waiting(session, now, rules) if reads_contacts else None,
        health=scheduler_health(session, now) if actor.roles & HEALTH_ROLES else None,
        follow_ups=(
            rules.overdue_follow_ups(session, now)
            if rules.overdue_follow_ups is not None
            and actor.extent(Permission.FOLLOW_UPS_READ) is Extent.ALL
            else None
        ),
        notes=(
            rules.notes_to_write(session, actor.staff_id, now)
            if rules.notes_to_write is not None
            and actor.staff_id is not None
            and actor.may(Permission.NOTES_WRITE)
            else None
        ),
        plans=(
            rules.plans_to_review(session, actor.staff_id, now)
            if rules.plans_to_review is not None
            and actor.staff_id is not None
            and StaffRole.RESPONSIBLE_OFFICER in actor.roles
            else None
        ),
    )


def _reaches(actor: Actor, permission: Permission) -> bool:
    extent = actor.extent(permission)
    return extent is not None and extent is not Extent.OWN


# ---- rotas ----------------------------------------------------------------------------------


def rotas_now(session: Session, now: dt.datetime) -> list[RotaLine]:
    """Every rota, by name: who is on call now, the next handoff and who takes over. A rota
    that cannot be worked out says so; the other rotas and the rest of the board still show."""
    records, _total = rota_service.list_rotas(session)
    found = []
    for record in records:
        try:
            current = rota_service.on_call(session, record.id, now)
            handoff = current.shift.end
            following = rota_service.on_call(session, record.id, handoff)
        except DomainError as error:
            log.error("now board: rota %s cannot be worked out (%s)", record.id, error.message)
            found.append(RotaLine(record.name, [], None, [], problem=error.message))
            continue
        found.append(
            RotaLine(
                rota=record.name,
                names=[person.name for person in current.staff],
                handoff_at=handoff,
                next_names=[person.name for person in following.staff],
            )
        )
    return found


def gaps_ahead(session: Session, now: dt.datetime) -> list[GapLine] | None:
    """Times in the next `GAPS_WITHIN` when a rota has nobody usable on call, soonest first;
    None when they cannot be worked out (a rota that cannot be read): never "no gaps"."""
    try:
        found = rota_service.gaps(session, now, now + GAPS_WITHIN)
    except DomainError as error:
        log.error("now board: gaps cannot be worked out (%s)", error.message)
        return None
    lines = [
        GapLine(rota=g.rota.name, start=g.gap.start, end=g.gap.end, reason=_gap_words(g.gap.reason))
        for g in found
    ]
    return sorted(lines, key=lambda line: (line.start, line.rota))


def _gap_words(reason: str) -> str:
    return {
        "rota_not_started": "the rota has not started",
        "nobody_override": "an override leaves nobody on call",
        "no_usable_staff": "nobody on call can be reached (left, or no phone)",
    }.get(reason, reason)


# ---- live calls -----------------------------------------------------------------------------


def live_calls(
    session: Session, actor: Actor, now: dt.datetime, messages: CrisisMessages
) -> list[CallLine]:
    """Crisis calls not yet ended, newest first: ringing, answered or in the voicemail.

    Read from the calls of the last `calls.ON_CALL_AT_MOST` (indexed on started_at), as the
    line itself judges which phones are busy; a call whose end never reached the service drops
    off after that."""
    rows = session.execute(
        select(
            LiveCall.id,
            LiveCall.contact_id,
            LiveCall.ringing,
            LiveCall.accepted_staff_id,
            LiveCall.fallback_at,
            LiveCall.started_at,
            Contact.participant_id,
        )
        .join(Contact, Contact.id == LiveCall.contact_id)
        .where(
            LiveCall.started_at > now - calls.ON_CALL_AT_MOST,
            LiveCall.kind == "crisis",
            Contact.ended_at.is_(None),
        )
        .order_by(LiveCall.started_at.desc())
        .limit(SHOWN_AT_MOST)
    ).all()
    ringing_since = calls.ringing_after(now, messages)
    staff_ids = {int(i) for row in rows for i in (row.ringing or [])}
    staff_ids.update(row.accepted_staff_id for row in rows if row.accepted_staff_id is not None)
    names = _staff_names(session, staff_ids)
    reached = _reached(
        session, actor, Permission.CONTACTS_READ, now, {r.participant_id for r in rows}
    )
    found = []
    for row in rows:
        lost = row.accepted_staff_id is None and row.fallback_at is None
        if lost and row.started_at <= ringing_since:
            continue  # stopped ringing long ago and its end never came: not live
        if row.accepted_staff_id is not None:
            state = "answered"
        elif row.fallback_at is not None:
            state = "voicemail"
        else:
            state = "ringing"
        participant_id = row.participant_id if row.participant_id in reached else None
        if participant_id is not None:
            caller = reached[participant_id]
        elif row.participant_id is not None:
            caller = "a participant"
        else:
            caller = "an unknown caller"
        found.append(
            CallLine(
                call_id=row.id,
                contact_id=row.contact_id,
                caller=caller,
                participant_id=participant_id,
                state=state,
                ringing=[names.get(int(i), "someone") for i in (row.ringing or [])]
                if state == "ringing"
                else [],
                answered_by=names.get(row.accepted_staff_id, "someone")
                if row.accepted_staff_id is not None
                else None,
                started_at=row.started_at,
                waiting_seconds=max(0, int((now - row.started_at).total_seconds())),
            )
        )
    return found


def _staff_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(Staff.id, Staff.name).where(Staff.id.in_(ids)))
    return {row.id: row.name for row in rows}


def _reached(
    session: Session,
    actor: Actor,
    permission: Permission,
    now: dt.datetime,
    participant_ids: set[int | None],
) -> dict[int, str]:
    """Of `participant_ids`, those `actor`'s grant of `permission` reaches, with references."""
    ids = {i for i in participant_ids if i is not None}
    if not ids:
        return {}
    condition = caseloads.participant_filter(actor, permission, now)
    query = select(Participant.id, Participant.reference).where(Participant.id.in_(ids))
    if condition is not None:
        query = query.where(condition)
    return {row.id: row.reference for row in session.execute(query)}


# ---- escalations ----------------------------------------------------------------------------


def _escalations_shown(actor: Actor, now: dt.datetime) -> ColumnElement[bool]:
    """Which open escalations `actor` sees: those his escalations:read reaches, and those that
    asked him (a live reply code on his phone) or that he took."""
    shown: list[ColumnElement[bool]] = []
    extent = actor.extent(Permission.ESCALATIONS_READ)
    if extent is Extent.ALL:
        return EscalationRecord.id.is_not(None)
    if extent is not None and extent is not Extent.OWN:
        condition = caseloads.participant_filter(actor, Permission.ESCALATIONS_READ, now)
        if condition is not None:
            shown.append(
                EscalationRecord.participant_id.in_(select(Participant.id).where(condition))
            )
    if actor.staff_id is not None:
        asked = select(EscalationCode.escalation_id).where(
            EscalationCode.staff_id == actor.staff_id,
            EscalationCode.phone
            == select(Staff.phone).where(Staff.id == actor.staff_id).scalar_subquery(),
            EscalationCode.active.is_(True),
        )
        shown.append(EscalationRecord.id.in_(asked))
        shown.append(
            and_(
                EscalationRecord.status == "acknowledged",
                EscalationRecord.acknowledged_by_staff_id == actor.staff_id,
            )
        )
    return or_(*shown) if shown else false()


def _escalations(
    session: Session, actor: Actor, now: dt.datetime, rules: Rules
) -> tuple[list[EscalationLine] | None, int]:
    """The open escalations `actor` sees, oldest first (at most SHOWN_AT_MOST), and how many
    more there are. None (no section) for a person with no escalations:read who is neither an
    on-call worker nor asked now: an administrator sees no contact content."""
    condition = and_(EscalationRecord.status.in_(OPEN_ESCALATION), _escalations_shown(actor, now))
    records = session.scalars(
        select(EscalationRecord)
        .where(condition)
        .order_by(EscalationRecord.opened_at, EscalationRecord.id)
        .limit(SHOWN_AT_MOST + 1)
    ).all()
    more = 0
    if len(records) > SHOWN_AT_MOST:
        total = session.scalar(select(func.count(EscalationRecord.id)).where(condition)) or 0
        more = int(total) - SHOWN_AT_MOST
        records = records[:SHOWN_AT_MOST]
    ids = [r.id for r in records]
    notified: dict[int, list[str]] = defaultdict(list)
    if ids:
        for escalation_id, name in session.execute(
            select(EscalationCode.escalation_id, Staff.name)
            .join(Staff, Staff.id == EscalationCode.staff_id)
            .where(EscalationCode.escalation_id.in_(ids))
            .order_by(EscalationCode.id)
        ):
            if name not in notified[escalation_id]:
                notified[escalation_id].append(name)
    if not records and not (
        _reaches(actor, Permission.ESCALATIONS_READ) or StaffRole.ON_CALL in actor.roles
    ):
        return None, 0
    references = _references(session, {r.participant_id for r in records})
    openings = _taken_conversation_openings(session, records)
    lines = []
    for record in records:
        steps = len(record.policy.get("steps") or []) or 1
        rounds = int(record.policy.get("repeat") or 0) + 1
        lines.append(
            EscalationLine(
                escalation_id=record.id,
                summary=record.summary,
                status=record.status,
                participant_id=record.participant_id,
                reference=references.get(record.participant_id)
                if record.participant_id is not None
                else None,
                step=min(max(record.step_index, 0) + 1, steps),
                steps=steps,
                round=record.loop + 1,
                rounds=rounds,
                notified=notified.get(record.id, []),
                next_step_at=record.next_due_at if record.status == "open" else None,
                taken_by=record.acknowledged_by if record.status == "acknowledged" else None,
                opened_at=record.opened_at,
                may_take=rules.may_take(session, actor, record),
                may_close=rules.may_close(session, actor, record),
                plan_contact_id=openings.get(record.subject_id)
                if record.subject_type == "sms_conversation" and record.subject_id is not None
                else None,
            )
        )
    return lines, more


def _taken_conversation_openings(
    session: Session, records: Sequence[EscalationRecord]
) -> dict[int, int]:
    """The opening text of each taken text conversation among `records`, by conversation."""
    conversation_ids = [
        r.subject_id
        for r in records
        if r.subject_type == "sms_conversation"
        and r.status == "acknowledged"
        and r.subject_id is not None
        and r.participant_id is not None
    ]
    if not conversation_ids:
        return {}
    rows = session.execute(
        select(Contact.conversation_id, func.min(Contact.id))
        .where(
            Contact.conversation_id.in_(conversation_ids),
            Contact.direction == Direction.INBOUND,
        )
        .group_by(Contact.conversation_id)
    ).all()
    return {conversation_id: contact_id for conversation_id, contact_id in rows if conversation_id}


def _references(session: Session, participant_ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in participant_ids if i is not None}
    if not ids:
        return {}
    rows = session.execute(
        select(Participant.id, Participant.reference).where(Participant.id.in_(ids))
    )
    return {row.id: row.reference for row in rows}


# ---- risk alerts ----------------------------------------------------------------------------


def open_alerts(session: Session, actor: Actor, now: dt.datetime) -> Alerts:
    """Alerts not yet resolved that `actor`'s alerts:read reaches: the most severe and oldest
    first, and how many of each severity."""
    condition = caseloads.participant_filter(actor, Permission.ALERTS_READ, now)
    where: list[ColumnElement[bool]] = [RiskAlert.status.in_(OPEN_ALERT)]
    if condition is not None:
        where.append(RiskAlert.participant_id.in_(select(Participant.id).where(condition)))
    counts = {
        str(severity): int(count)
        for severity, count in session.execute(
            select(RiskAlert.severity, func.count(RiskAlert.id))
            .where(*where)
            .group_by(RiskAlert.severity)
        )
    }
    rank = case(
        {str(s): n for n, s in enumerate(SEVERITIES)},
        value=RiskAlert.severity,
        else_=len(SEVERITIES),
    )
    rows = session.execute(
        select(RiskAlert, Participant.reference)
        .join(Participant, Participant.id == RiskAlert.participant_id)
        .where(*where)
        .order_by(rank, RiskAlert.raised_at, RiskAlert.id)
        .limit(SHOWN_AT_MOST)
    )
    lines = [
        AlertLine(
            alert_id=alert.id,
            participant_id=alert.participant_id,
            reference=reference,
            severity=str(alert.severity),
            status=str(alert.status),
            reason=alert.reason,
            raised_at=alert.raised_at,
            age_seconds=max(0, int((now - alert.raised_at).total_seconds())),
        )
        for alert, reference in rows
    ]
    by_severity = {str(s): counts.get(str(s), 0) for s in SEVERITIES}
    return Alerts(lines=lines, by_severity=by_severity, total=sum(counts.values()))


# ---- texts waiting and the scheduler --------------------------------------------------------


def texts_waiting(session: Session, now: dt.datetime, rules: Rules) -> TextsWaiting:
    """How many texts wait to be routed and how long the oldest has (the partial index)."""
    count, oldest = rules.unrouted(session, now)
    age = max(0, int((now - oldest).total_seconds())) if oldest is not None else None
    overdue = oldest is not None and now - oldest > rules.routing_overdue
    return TextsWaiting(count=count, oldest_seconds=age, overdue=overdue)


def scheduler_health(session: Session, now: dt.datetime) -> SchedulerHealth:
    """Each scheduler's last beat (leader first), and escalations waiting past their time."""
    beats = session.scalars(
        select(SchedulerHeartbeat)
        .where(SchedulerHeartbeat.beat_at > now - SCHEDULERS_SHOWN_FOR)
        .order_by(SchedulerHeartbeat.beat_at.desc())
        .limit(SHOWN_AT_MOST)
    ).all()
    lines = [
        SchedulerLine(
            name=beat.name,
            role=beat.role,
            beat_at=beat.beat_at,
            age_seconds=max(0, int((now - beat.beat_at).total_seconds())),
            alive=now - beat.beat_at <= heartbeat.STALE_AFTER,
        )
        for beat in beats
    ]
    lines.sort(key=lambda line: (line.role != heartbeat.LEADER, line.age_seconds))
    leader = next((s for s in lines if s.role == heartbeat.LEADER and s.alive), None)
    # The sweep runs every few seconds: an escalation a minute past its next step means it is
    # not running (the ix_escalations_due index answers this).
    overdue = session.scalar(
        select(func.count(EscalationRecord.id)).where(
            EscalationRecord.status == "open",
            EscalationRecord.next_due_at < now - heartbeat.STALE_AFTER,
        )
    )
    return SchedulerHealth(
        schedulers=lines,
        healthy=leader is not None and not overdue,
        leader=leader.name if leader is not None else None,
        overdue_escalations=int(overdue or 0),
    )


# ---- the access log -------------------------------------------------------------------------


def log_shown(session: Session, visit: Visit, shown: Board) -> None:
    """Log the participants the board showed (escalations and alerts, and callers named),
    each once per `LOG_AGAIN_AFTER` for this person and kind of record."""
    lists: list[tuple[Permission, str, list[int]]] = []
    if shown.escalations:
        permission = (
            Permission.ESCALATIONS_READ
            if _reaches(visit.actor, Permission.ESCALATIONS_READ)
            else Permission.PARTICIPANTS_READ
        )
        lists.append(
            (
                permission,
                "escalation",
                [e.participant_id for e in shown.escalations if e.participant_id is not None],
            )
        )
    if shown.alerts is not None:
        lists.append(
            (Permission.ALERTS_READ, "risk_alert", [a.participant_id for a in shown.alerts.lines])
        )
    if shown.follow_ups is not None:
        lists.append(
            (
                Permission.FOLLOW_UPS_READ,
                "follow_up",
                [f.participant_id for f in shown.follow_ups.lines if f.participant_id is not None],
            )
        )
    if shown.notes is not None:
        lists.append(
            (
                Permission.NOTES_WRITE,
                "contact_note",
                [n.participant_id for n in shown.notes.lines if n.participant_id is not None],
            )
        )
    if shown.plans is not None:
        lists.append(
            (
                Permission.CRISIS_PLANS_READ,
                "crisis_plan",
                [line.participant_id for line in (*shown.plans.past_review, *shown.plans.missing)],
            )
        )
    if shown.calls:
        lists.append(
            (
                Permission.CONTACTS_READ,
                "contact",
                [c.participant_id for c in shown.calls if c.participant_id is not None],
            )
        )
    for permission, record_type, ids in lists:
        fresh = _not_logged_lately(session, visit, record_type, set(ids))
        if fresh:
            record_access.list_read(
                session,
                visit,
                permission,
                record_type=record_type,
                participant_ids=[i for i in dict.fromkeys(ids) if i in fresh],
            )


def _not_logged_lately(session: Session, visit: Visit, record_type: str, ids: set[int]) -> set[int]:
    if not ids:
        return set()
    logged = session.scalars(
        select(RecordAccess.participant_id).where(
            RecordAccess.actor == visit.actor.label,
            RecordAccess.at > visit.at - LOG_AGAIN_AFTER,
            RecordAccess.record_type == record_type,
            RecordAccess.participant_id.in_(ids),
        )
    ).all()
    return ids - set(logged)
