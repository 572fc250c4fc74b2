"""The handover: everything that happened in a period, for the people taking over the line.

`build(session, start, end, now=, zone=)` answers one `Handover` of frozen dataclasses for the
period [start, end): who was on call, every contact that started in it by participant (each
handled contact with its current note, or "no note yet"), risk alerts raised and their state
now, follow-ups asked and those still open, debriefs wanted, escalations that reached a second
step or ran out, crisis plans past their review date and active participants without one (as
at `now`), rota gaps in the next 72 hours from `now`, and what was reported failing.

A contact belongs to the period it started in. A text conversation is one line (its texts of
the period counted together); its note is the note on its opening text, which may have come
before the period. What is said about a contact's fate (called back, the note, an alert's
state) is as it stands at `now`: the handover is read to act on.

The period's times are local wall-clock times in the service's zone: "17:00" is the last 17:00
before now, and the default period runs from one morning's HANDOVER_TIME to the next, which is
23 or 25 hours long across a clock change.

Nothing here reads a message's words: the dataclasses hold no bodies. A note's text is carried
(for the console and the API) in `NoteSummary.what_happened` and `factors`, which the email and
the text summary never use.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from crisisline import (
    contact_notes,
    crisis_plans,
    heartbeat,
    line_now,
    record_access,
    rota_service,
)
from crisisline.alert_models import RiskAlert
from crisisline.contact_notes import ACTION_LABELS, RISK_LABELS
from crisisline.conversation_models import SmsConversation
from crisisline.email_models import Email, EmailStatus
from crisisline.errors import DomainError, InvalidInput
from crisisline.escalation_models import EscalationEvent, EscalationRecord
from crisisline.models import (
    Channel,
    Contact,
    ContactOutcome,
    Delivery,
    DeliveryStatus,
    Direction,
    Participant,
    ProviderOutage,
    Staff,
)
from crisisline.note_models import ContactNote, FollowUp, FollowUpStatus, NoteAction
from crisisline.permissions import Permission
from crisisline.record_access import Visit
from rotas import RepeatedLocalTime, SkippedLocalTime, local_to_utc, typed_local_to_utc

log = logging.getLogger(__name__)

# The longest period one handover covers: a month of nights is already a report.
MAX_PERIOD: Final = dt.timedelta(days=31)
# The times a handover may be asked about: years the line can have run in. Far beyond them
# the conversions to and from the local zone overflow.
EARLIEST: Final = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST: Final = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
RECORD_TYPE: Final = "handover"
UNKNOWN_CALLERS: Final = "Unknown callers"

# Texts from staff phones (commands, words relayed to a participant) are staff's side of a
# conversation, not a participant's contact.
_STAFF_TEXT_OUTCOMES: Final = frozenset(
    {
        ContactOutcome.STAFF_COMMAND,
        ContactOutcome.STAFF_RELAYED,
        ContactOutcome.NOT_SENT,
        ContactOutcome.NOT_SENT_OPTED_OUT,
        ContactOutcome.NOT_SENT_NUMBER_REMOVED,
    }
)
_MISSED_OUTCOMES: Final = frozenset({ContactOutcome.MISSED, ContactOutcome.ABANDONED})
# Calls to the line (a call-back is the line calling out: a contact, not a call in).
_CALLS_IN: Final = frozenset({"call_answered", "call_missed", "voicemail", "call_ringing"})

ContactKind = Literal[
    "call_answered",
    "call_missed",
    "voicemail",
    "call_ringing",
    "call_back",
    "conversation",
    "text",
]

KIND_WORDS: Final[dict[str, str]] = {
    "call_answered": "Call answered",
    "call_missed": "Missed call",
    "voicemail": "Voicemail",
    "call_ringing": "Call with no outcome recorded yet",
    "call_back": "Call-back",
    "conversation": "Text conversation",
    "text": "Text",
}


# ---- what a handover holds ------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A handover's period [start, end), as UTC instants."""

    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class ShiftLine:
    """Who was on call on one rota for part of the period."""

    rota: str
    start: dt.datetime
    end: dt.datetime
    names: tuple[str, ...]


@dataclass(frozen=True)
class RotaProblem:
    """A rota whose shifts could not be worked out (said, never left out in silence)."""

    rota: str
    problem: str


@dataclass(frozen=True)
class NoteSummary:
    """A contact's current note. The email and the text never use the two free texts."""

    note_id: int
    version: int
    risk_now: str
    risk_label: str
    actions: tuple[str, ...]
    follow_up_wanted: bool
    debrief_wanted: bool
    author: str
    written_at: dt.datetime
    what_happened: str
    factors: str | None


@dataclass(frozen=True)
class ContactLine:
    """One contact of the period (a text conversation counts once)."""

    contact_id: int  # the contact its note belongs to (a conversation's opening text)
    kind: ContactKind
    started_at: dt.datetime
    handled_by: str | None
    # Missed calls and voicemails: when the caller was rung back through the line, if he was.
    called_back_at: dt.datetime | None = None
    # Conversations: texts in from him in the period, when his first text came (the
    # conversation's, perhaps before the period) and the first staff reply after it.
    texts: int = 0
    first_text_at: dt.datetime | None = None
    first_reply_at: dt.datetime | None = None
    # A contact a person handled takes a note; `note` is its current version, None: not yet.
    takes_note: bool = False
    note: NoteSummary | None = None

    @property
    def words(self) -> str:
        """What kind of contact it is, in words."""
        return KIND_WORDS[self.kind]

    @property
    def reply_seconds(self) -> int | None:
        """How long the first staff reply took, in seconds."""
        if self.first_text_at is None or self.first_reply_at is None:
            return None
        return max(0, int((self.first_reply_at - self.first_text_at).total_seconds()))

    @property
    def missing_note(self) -> bool:
        """A handled contact with no note yet."""
        return self.takes_note and self.note is None


@dataclass(frozen=True)
class ParticipantContacts:
    """The contacts of one participant (or of every unknown caller) in the period."""

    participant_id: int | None
    label: str  # "R1001 D.P.", or "Unknown callers"
    contacts: tuple[ContactLine, ...]


@dataclass(frozen=True)
class Counts:
    """The period in figures (the text summary's line)."""

    calls: int
    missed: int
    voicemails: int
    texts: int
    alerts: int
    no_note: int


@dataclass(frozen=True)
class AlertLine:
    """A risk alert raised in the period, and its state now."""

    alert_id: int
    participant_id: int
    label: str
    rule: str
    severity: str
    reason: str
    raised_at: dt.datetime
    status: str


@dataclass(frozen=True)
class FollowUpLine:
    """A follow-up asked of a responsible officer."""

    follow_up_id: int
    contact_id: int
    participant_id: int | None
    label: str
    officer: str | None
    asked_at: dt.datetime
    asked_by: str
    what: str  # the worker's words: never in the email
    status: str
    asked_in_period: bool


@dataclass(frozen=True)
class DebriefLine:
    """A note of the period whose writer wants a debrief."""

    contact_id: int
    participant_id: int | None
    label: str
    author: str
    written_at: dt.datetime


@dataclass(frozen=True)
class EscalationLine:
    """An escalation that reached a second step or ran out in the period."""

    escalation_id: int
    participant_id: int | None
    label: str | None
    subject_type: str
    summary: str  # may name an unknown caller's number: never in the email
    status: str
    reached_step: int  # the furthest step (1-based) it reached in the period
    ran_out_at: dt.datetime | None


@dataclass(frozen=True)
class OutageLine:
    """A time the telephony provider refused or did not answer sends."""

    started_at: dt.datetime
    ended_at: dt.datetime | None
    delayed: int


@dataclass(frozen=True)
class OverdueLine:
    """An escalation the audit found waiting past its next step (the sweep was behind)."""

    escalation_id: int
    at: dt.datetime
    late_seconds: int


@dataclass(frozen=True)
class Failures:
    """What the scheduler and the telephony reported failing in the period (counts only)."""

    failed_deliveries: tuple[tuple[str, int], ...]  # (purpose, how many), no bodies
    outages: tuple[OutageLine, ...]
    failed_emails: tuple[tuple[str, int], ...]  # (purpose, how many)
    overdue_escalations: tuple[OverdueLine, ...]
    # The scheduler's last beat now, and whether it is older than a minute (or missing).
    scheduler_beat_at: dt.datetime | None
    scheduler_stale: bool

    @property
    def any(self) -> bool:
        """True if anything at all is reported."""
        return bool(
            self.failed_deliveries
            or self.outages
            or self.failed_emails
            or self.overdue_escalations
            or self.scheduler_stale
        )


@dataclass(frozen=True)
class PlanLine:
    """An active participant whose crisis plan is past its review date (`review_on`), or who
    has none (`review_on` None), named by reference and initials only."""

    participant_id: int
    label: str
    review_on: dt.date | None


@dataclass(frozen=True)
class Handover:
    """Everything the handover says about [start, end), read at `now`."""

    start: dt.datetime
    end: dt.datetime
    now: dt.datetime
    zone: str
    on_call: tuple[ShiftLine, ...]
    rota_problems: tuple[RotaProblem, ...]
    participants: tuple[ParticipantContacts, ...]
    counts: Counts
    alerts: tuple[AlertLine, ...]
    follow_ups_asked: tuple[FollowUpLine, ...]
    follow_ups_open: tuple[FollowUpLine, ...]  # every follow-up still open, whenever asked
    debriefs: tuple[DebriefLine, ...]
    escalations: tuple[EscalationLine, ...]
    gaps: tuple[line_now.GapLine, ...] | None  # None: they could not be worked out
    failures: Failures
    # Crisis plans past their review date, and active participants without one, as at `now`.
    plans_past_review: tuple[PlanLine, ...] = ()
    plans_missing: tuple[PlanLine, ...] = ()

    @property
    def participant_ids(self) -> list[int]:
        """Every participant the handover names, once each."""
        ids: list[int | None] = [p.participant_id for p in self.participants]
        ids += [a.participant_id for a in self.alerts]
        ids += [f.participant_id for f in (*self.follow_ups_asked, *self.follow_ups_open)]
        ids += [d.participant_id for d in self.debriefs]
        ids += [e.participant_id for e in self.escalations]
        ids += [p.participant_id for p in (*self.plans_past_review, *self.plans_missing)]
        return [i for i in dict.fromkeys(ids) if i is not None]


# ---- periods --------------------------------------------------------------------------------


def check_period(start: dt.datetime, end: dt.datetime) -> Period:
    """The period [start, end); InvalidInput naming `to` if it is empty, backwards or longer
    than MAX_PERIOD."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("a handover's period is two aware instants")
    if end <= start:
        raise InvalidInput("must be after the start", "to")
    if end - start > MAX_PERIOD:
        raise InvalidInput(f"a handover covers at most {MAX_PERIOD.days} days", "to")
    if start < EARLIEST or end > LATEST:
        raise InvalidInput(f"give a time from {EARLIEST.year} to {LATEST.year - 1}", "to")
    return Period(start.astimezone(dt.UTC), end.astimezone(dt.UTC))


def handover_at(day: dt.date, at: dt.time, zone: ZoneInfo) -> dt.datetime:
    """The instant of `day`'s handover at local time `at` (a skipped time moves forward)."""
    return local_to_utc(dt.datetime.combine(day, at), zone)


def last_handover(now: dt.datetime, at: dt.time, zone: ZoneInfo) -> dt.datetime:
    """The latest handover time at or before `now`."""
    today = now.astimezone(zone).date()
    instant = handover_at(today, at, zone)
    if instant > now:
        instant = handover_at(today - dt.timedelta(days=1), at, zone)
    return instant


def period_ending(end: dt.datetime, at: dt.time, zone: ZoneInfo) -> Period:
    """The period from the previous day's handover to the handover at `end` (wall clock: a
    day across a clock change is 23 or 25 hours)."""
    day = end.astimezone(zone).date()
    return Period(handover_at(day - dt.timedelta(days=1), at, zone), end)


def default_period(now: dt.datetime, at: dt.time, zone: ZoneInfo) -> Period:
    """From the previous handover to the last one before `now`."""
    return period_ending(last_handover(now, at, zone), at, zone)


def period_asked(
    since: str | None,
    until: str | None,
    now: dt.datetime,
    at: dt.time,
    zone: ZoneInfo,
    *,
    fields: tuple[str, str] = ("from", "to"),
) -> Period:
    """The period people asked for, written as `parse_since` reads: neither given, the last
    morning handover's; `since` alone, until now; `until` alone, from the handover time the
    day before it. InvalidInput names the field (`fields`: what the start and end are called)."""
    since, until = (since or "").strip() or None, (until or "").strip() or None
    if since is None and until is None:
        return default_period(now, at, zone)
    end = parse_since(until, now, zone, fields[1]) if until else now
    start = (
        parse_since(since, now, zone, fields[0]) if since else period_ending(end, at, zone).start
    )
    try:
        return check_period(start, end)
    except InvalidInput as error:
        if until is None:
            # Only the start was given: it is the one to change.
            message = "must be before now" if start >= end else error.message
            raise InvalidInput(message, fields[0]) from None
        raise InvalidInput(error.message, fields[1]) from None


@dataclass(frozen=True)
class Preset:
    """A period the console offers with one tap."""

    label: str
    period: Period


def presets(now: dt.datetime, at: dt.time, zone: ZoneInfo) -> list[Preset]:
    """Since the last handover (until now), since 17:00 yesterday, and the last 24 hours."""
    last = last_handover(now, at, zone)
    yesterday = now.astimezone(zone).date() - dt.timedelta(days=1)
    found = [
        Preset("Since 17:00 yesterday", Period(handover_at(yesterday, dt.time(17, 0), zone), now)),
        Preset("Last 24 hours", Period(now - dt.timedelta(hours=24), now)),
    ]
    if last < now:
        found.insert(0, Preset("Since the last handover", Period(last, now)))
    return found


_CLOCK = re.compile(r"^(?:(today|yesterday)\s+)?(\d{1,2})[:.](\d{2})$", re.IGNORECASE)


def parse_since(
    text: str | None, now: dt.datetime, zone: ZoneInfo, field: str = "since"
) -> dt.datetime:
    """A time people write, as an instant: "17:00" (the last 17:00 at or before now: yesterday's
    if it is not 17:00 yet), "yesterday 17:00", "today 08:30", "now", a date (its local
    midnight) or an ISO date and time (local without an offset). InvalidInput names `field`."""
    value = (text or "").strip()
    if not value:
        raise InvalidInput("give a time such as 17:00, yesterday 17:00 or 2026-12-05T17:00", field)
    if value.lower() == "now":
        return now
    clock = _CLOCK.match(value)
    if clock is not None:
        word, hours, minutes = clock.groups()
        try:
            at = dt.time(int(hours), int(minutes))
        except ValueError:
            raise InvalidInput(f"{value!r} is not a time of day", field) from None
        today = now.astimezone(zone).date()
        if word is None:
            instant = handover_at(today, at, zone)
            return (
                instant if instant <= now else handover_at(today - dt.timedelta(days=1), at, zone)
            )
        day = today if word.lower() == "today" else today - dt.timedelta(days=1)
        return handover_at(day, at, zone)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{value!r} is not a time: write 17:00, yesterday 17:00, 2026-12-05 or "
            "2026-12-05T17:00",
            field,
        ) from None
    if not EARLIEST.year <= parsed.year < LATEST.year:
        raise InvalidInput(f"give a time from {EARLIEST.year} to {LATEST.year - 1}", field)
    if parsed.tzinfo is not None:
        return parsed.astimezone(dt.UTC)
    try:
        return typed_local_to_utc(parsed, zone)
    except SkippedLocalTime:
        raise InvalidInput(
            f"{parsed.isoformat()} never happens in {zone.key}: the clocks go forward over it",
            field,
        ) from None
    except RepeatedLocalTime:
        raise InvalidInput(
            f"{parsed.isoformat()} happens twice in {zone.key}: give an offset (+01:00 or +00:00)",
            field,
        ) from None


# ---- building it ----------------------------------------------------------------------------


def initials(name: str) -> str:
    """A name as its initials only: "Daniel Price" as "D.P."."""
    return "".join(f"{word[0].upper()}." for word in name.split() if word[:1].isalpha())


def label(reference: str, name: str) -> str:
    """A participant as the handover names him: reference and initials."""
    found = initials(name)
    return f"{reference} {found}" if found else reference


def build(
    session: Session, start: dt.datetime, end: dt.datetime, *, now: dt.datetime, zone: ZoneInfo
) -> Handover:
    """The handover for [start, end), as things stand at `now`."""
    period = check_period(start, end)
    start, end = period.start, period.end
    participants = _Participants(session)
    staff = _StaffNames(session)
    on_call, problems = _on_call(session, start, end)
    by_participant, counts_base = _contacts(session, start, end, now, participants, staff)
    alerts = _alerts(session, start, end, participants)
    asked, still_open = _follow_ups(session, start, end, participants, staff)
    debriefs = _debriefs(session, start, end, participants, staff)
    escalations = _escalations(session, start, end, participants)
    counts = Counts(
        calls=counts_base["calls"],
        missed=counts_base["missed"],
        voicemails=counts_base["voicemails"],
        texts=counts_base["texts"],
        alerts=len(alerts),
        no_note=counts_base["no_note"],
    )
    return Handover(
        start=start,
        end=end,
        now=now,
        zone=zone.key,
        on_call=on_call,
        rota_problems=problems,
        participants=by_participant,
        counts=counts,
        alerts=alerts,
        follow_ups_asked=asked,
        follow_ups_open=still_open,
        debriefs=debriefs,
        escalations=escalations,
        gaps=_gaps(session, now),
        failures=_failures(session, start, end, now),
        **_plans(session, now.astimezone(zone).date()),
    )


def _plans(session: Session, today: dt.date) -> dict[str, tuple[PlanLine, ...]]:
    """Crisis plans past their review date and active participants without one."""
    return {
        "plans_past_review": tuple(
            PlanLine(f.participant_id, label(f.reference, f.name), f.review_on)
            for f in crisis_plans.due_for_review(session, today)
        ),
        "plans_missing": tuple(
            PlanLine(f.participant_id, label(f.reference, f.name), None)
            for f in crisis_plans.without_plan(session)
        ),
    }


def log_read(session: Session, visit: Visit, shown: Handover) -> None:
    """Log the handover as a list read: one entry per participant it names."""
    record_access.list_read(
        session,
        visit,
        Permission.HANDOVER_READ,
        record_type=RECORD_TYPE,
        participant_ids=shown.participant_ids,
    )


def log_read_by(session: Session, actor: str, shown: Handover, at: dt.datetime) -> None:
    """Log the handover read by something that is not a signed-in person (`cli`, the daily
    send): one entry per participant it names."""
    for participant_id in shown.participant_ids:
        record_access.record(
            session,
            actor,
            action=record_access.Action.READ,
            record_type=RECORD_TYPE,
            record_id=None,
            participant_id=participant_id,
            at=at,
        )


class _Participants:
    """Participants' labels, read once each."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._labels: dict[int, str] = {}

    def load(self, ids: Iterable[int | None]) -> None:
        wanted = {i for i in ids if i is not None and i not in self._labels}
        if wanted:
            rows = self._session.execute(
                select(Participant.id, Participant.reference, Participant.name).where(
                    Participant.id.in_(wanted)
                )
            )
            self._labels.update({row.id: label(row.reference, row.name) for row in rows})

    def label(self, participant_id: int | None) -> str:
        if participant_id is None:
            return UNKNOWN_CALLERS
        self.load([participant_id])
        return self._labels.get(participant_id, f"participant {participant_id}")


class _StaffNames:
    """Staff names, read once each."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._names: dict[int, str] = {}

    def load(self, ids: Iterable[int | None]) -> None:
        wanted = {i for i in ids if i is not None and i not in self._names}
        if wanted:
            rows = self._session.execute(select(Staff.id, Staff.name).where(Staff.id.in_(wanted)))
            self._names.update({row.id: row.name for row in rows})

    def name(self, staff_id: int | None, fallback: str = "someone") -> str:
        if staff_id is None:
            return fallback
        self.load([staff_id])
        return self._names.get(staff_id, fallback)


def _on_call(
    session: Session, start: dt.datetime, end: dt.datetime
) -> tuple[tuple[ShiftLine, ...], tuple[RotaProblem, ...]]:
    records, _ = rota_service.list_rotas(session)
    lines: list[ShiftLine] = []
    problems: list[RotaProblem] = []
    for record in records:
        try:
            found = rota_service.shifts(session, record.id, start, end)
        except DomainError as error:
            log.error("handover: rota %s cannot be worked out (%s)", record.id, error.message)
            problems.append(RotaProblem(record.name, error.message))
            continue
        for shift in found.shifts:
            names = tuple(found.staff[i].name for i in shift.staff_ids if i in found.staff)
            lines.append(ShiftLine(record.name, shift.start, shift.end, names))
    return tuple(lines), tuple(problems)


def _summary(note: ContactNote, staff: _StaffNames) -> NoteSummary:
    actions = []
    for value in note.actions or []:
        try:
            actions.append(ACTION_LABELS[NoteAction(value)])
        except ValueError:
            actions.append(str(value))
    return NoteSummary(
        note_id=note.id,
        version=note.version,
        risk_now=str(note.risk_now),
        risk_label=RISK_LABELS.get(note.risk_now, str(note.risk_now)),
        actions=tuple(actions),
        follow_up_wanted=note.follow_up_wanted,
        debrief_wanted=note.debrief_wanted,
        author=staff.name(note.author_staff_id, note.author),
        written_at=note.written_at,
        what_happened=note.what_happened,
        factors=note.factors,
    )


def _contacts(
    session: Session,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    participants: _Participants,
    staff: _StaffNames,
) -> tuple[tuple[ParticipantContacts, ...], Counter[str]]:
    # Bodies are never loaded: nothing in the handover shows a message's words.
    rows = session.scalars(
        select(Contact)
        .options(defer(Contact.body), defer(Contact.media_urls))
        .where(Contact.started_at >= start, Contact.started_at < end)
        .order_by(Contact.started_at, Contact.id)
    ).all()
    lines: list[tuple[int | None, ContactLine]] = []
    conversations: dict[int, list[Contact]] = defaultdict(list)
    missed: list[Contact] = []
    handled_ids: list[int] = []
    pending: list[tuple[int | None, Contact, ContactKind]] = []
    for contact in rows:
        kind = _kind(contact)
        if kind is None:
            continue
        if kind == "conversation":
            assert contact.conversation_id is not None
            conversations[contact.conversation_id].append(contact)
            continue
        if kind in ("call_missed", "voicemail"):
            missed.append(contact)
        pending.append((contact.participant_id, contact, kind))
    called_back = _called_back(session, missed, now)
    for participant_id, contact, kind in pending:
        takes = False
        if kind in ("call_answered", "call_back"):
            takes = contact_notes.handled_contact(session, contact.id) is not None
        if takes:
            handled_ids.append(contact.id)
        lines.append(
            (
                participant_id,
                ContactLine(
                    contact_id=contact.id,
                    kind=kind,
                    started_at=contact.started_at,
                    handled_by=staff.name(contact.handled_by_staff_id)
                    if contact.handled_by_staff_id is not None
                    else None,
                    called_back_at=called_back.get(contact.id),
                    takes_note=takes,
                ),
            )
        )
    for conversation_id, texts in conversations.items():
        line, participant_id = _conversation_line(session, conversation_id, texts, staff)
        if line.takes_note:
            handled_ids.append(line.contact_id)
        lines.append((participant_id, line))
    notes = contact_notes.current_notes(session, handled_ids)
    staff.load(note.author_staff_id for note in notes.values())
    participants.load(pid for pid, _ in lines)
    grouped: dict[int | None, list[ContactLine]] = defaultdict(list)
    counts: Counter[str] = Counter()
    for participant_id, line in lines:
        note = notes.get(line.contact_id) if line.takes_note else None
        if note is not None:
            line = _with_note(line, _summary(note, staff))
        grouped[participant_id].append(line)
        if line.kind in _CALLS_IN:
            counts["calls"] += 1
        if line.kind in ("call_missed", "voicemail"):
            counts["missed"] += 1
        if line.kind == "voicemail":
            counts["voicemails"] += 1
        if line.kind in ("conversation", "text"):
            counts["texts"] += 1
        if line.missing_note:
            counts["no_note"] += 1
    known = sorted(
        (pid for pid in grouped if pid is not None), key=lambda pid: participants.label(pid)
    )
    ordered = [*known, None] if None in grouped else known
    found = tuple(
        ParticipantContacts(
            participant_id=pid,
            label=participants.label(pid),
            contacts=tuple(sorted(grouped[pid], key=lambda c: (c.started_at, c.contact_id))),
        )
        for pid in ordered
    )
    for key in ("calls", "missed", "voicemails", "texts", "no_note"):
        counts.setdefault(key, 0)
    return found, counts


def _with_note(line: ContactLine, note: NoteSummary) -> ContactLine:
    return ContactLine(
        contact_id=line.contact_id,
        kind=line.kind,
        started_at=line.started_at,
        handled_by=line.handled_by,
        called_back_at=line.called_back_at,
        texts=line.texts,
        first_text_at=line.first_text_at,
        first_reply_at=line.first_reply_at,
        takes_note=line.takes_note,
        note=note,
    )


def _kind(contact: Contact) -> ContactKind | None:
    outcome = contact.outcome
    if contact.channel == Channel.VOICE:
        if contact.direction == Direction.OUTBOUND:
            return "call_back" if outcome == ContactOutcome.CALL_BACK else None
        if outcome == ContactOutcome.ANSWERED:
            return "call_answered"
        if outcome in _MISSED_OUTCOMES:
            return "call_missed"
        if outcome == ContactOutcome.VOICEMAIL:
            return "voicemail"
        if outcome == ContactOutcome.STAFF_CALL:
            return None  # a member of staff calling the line (the call-back menu)
        # Still ringing, or an outcome the call's end never wrote: shown, never dropped.
        return "call_ringing"
    if contact.direction == Direction.OUTBOUND or outcome in _STAFF_TEXT_OUTCOMES:
        return None
    return "conversation" if contact.conversation_id is not None else "text"


def _called_back(
    session: Session, missed: Sequence[Contact], now: dt.datetime
) -> dict[int, dt.datetime]:
    """When each missed call's number was first rung back through the line, up to `now`."""
    numbers = {c.from_number for c in missed if c.from_number}
    if not numbers:
        return {}
    first = min(c.started_at for c in missed)
    backs = session.execute(
        select(Contact.to_number, Contact.started_at)
        .where(
            Contact.channel == Channel.VOICE,
            Contact.direction == Direction.OUTBOUND,
            Contact.outcome == ContactOutcome.CALL_BACK,
            Contact.to_number.in_(numbers),
            Contact.started_at >= first,
            Contact.started_at <= now,
        )
        .order_by(Contact.started_at)
    ).all()
    found: dict[int, dt.datetime] = {}
    for contact in missed:
        for number, at in backs:
            if number == contact.from_number and at >= contact.started_at:
                found[contact.id] = at
                break
    return found


def _conversation_line(
    session: Session, conversation_id: int, texts: list[Contact], staff: _StaffNames
) -> tuple[ContactLine, int | None]:
    conversation = session.get(SmsConversation, conversation_id)
    opening_id = contact_notes.note_contact_id(session, texts[0].id)
    opening = session.get(Contact, opening_id) if opening_id != texts[0].id else texts[0]
    first_text_at = opening.started_at if opening is not None else texts[0].started_at
    first_reply_at = session.scalar(
        select(func.min(Contact.started_at)).where(
            Contact.conversation_id == conversation_id,
            Contact.channel == Channel.SMS,
            Contact.direction == Direction.OUTBOUND,
            Contact.handled_by_staff_id.is_not(None),
            Contact.started_at >= first_text_at,
        )
    )
    handled = contact_notes.handled_contact(session, opening_id)
    participant_id = (
        conversation.participant_id
        if conversation is not None and conversation.participant_id is not None
        else texts[0].participant_id
    )
    handler = (
        conversation.handled_by_staff_id
        if conversation is not None and conversation.handled_by_staff_id is not None
        else None
    )
    return (
        ContactLine(
            contact_id=opening_id,
            kind="conversation",
            started_at=texts[0].started_at,
            handled_by=staff.name(handler) if handler is not None else None,
            texts=len(texts),
            first_text_at=first_text_at,
            first_reply_at=first_reply_at,
            takes_note=handled is not None,
        ),
        participant_id,
    )


def _alerts(
    session: Session, start: dt.datetime, end: dt.datetime, participants: _Participants
) -> tuple[AlertLine, ...]:
    rows = session.scalars(
        select(RiskAlert)
        .where(RiskAlert.raised_at >= start, RiskAlert.raised_at < end)
        .order_by(RiskAlert.raised_at, RiskAlert.id)
    ).all()
    participants.load(a.participant_id for a in rows)
    return tuple(
        AlertLine(
            alert_id=a.id,
            participant_id=a.participant_id,
            label=participants.label(a.participant_id),
            rule=a.rule,
            severity=str(a.severity),
            reason=a.reason,
            raised_at=a.raised_at,
            status=str(a.status),
        )
        for a in rows
    )


def _follow_ups(
    session: Session,
    start: dt.datetime,
    end: dt.datetime,
    participants: _Participants,
    staff: _StaffNames,
) -> tuple[tuple[FollowUpLine, ...], tuple[FollowUpLine, ...]]:
    # FollowUp is read directly: asked in the period (any status now), and every one still open.
    asked = session.scalars(
        select(FollowUp)
        .where(FollowUp.asked_at >= start, FollowUp.asked_at < end)
        .order_by(FollowUp.asked_at, FollowUp.id)
    ).all()
    still_open = session.scalars(
        select(FollowUp)
        .where(FollowUp.status == FollowUpStatus.OPEN)
        .order_by(FollowUp.asked_at, FollowUp.id)
    ).all()
    everyone = [*asked, *still_open]
    participants.load(f.participant_id for f in everyone)
    staff.load(f.officer_staff_id for f in everyone)
    authors = _author_ids(session, [f.note_id for f in everyone])
    staff.load(authors.values())

    def line(row: FollowUp) -> FollowUpLine:
        return FollowUpLine(
            follow_up_id=row.id,
            contact_id=row.contact_id,
            participant_id=row.participant_id,
            label=participants.label(row.participant_id),
            officer=staff.name(row.officer_staff_id) if row.officer_staff_id else None,
            asked_at=row.asked_at,
            asked_by=staff.name(authors.get(row.note_id), row.asked_by),
            what=row.what,
            status=str(row.status),
            asked_in_period=start <= row.asked_at < end,
        )

    return tuple(line(r) for r in asked), tuple(line(r) for r in still_open)


def _author_ids(session: Session, note_ids: Sequence[int]) -> dict[int, int | None]:
    if not note_ids:
        return {}
    rows = session.execute(
        select(ContactNote.id, ContactNote.author_staff_id).where(ContactNote.id.in_(set(note_ids)))
    )
    return {row.id: row.author_staff_id for row in rows}


def _debriefs(
    session: Session,
    start: dt.datetime,
    end: dt.datetime,
    participants: _Participants,
    staff: _StaffNames,
) -> tuple[DebriefLine, ...]:
    # Notes written in the period; what counts is the current version (a correction may have
    # taken the wish back).
    contact_ids = session.scalars(
        select(ContactNote.contact_id)
        .where(ContactNote.written_at >= start, ContactNote.written_at < end)
        .distinct()
    ).all()
    current = contact_notes.current_notes(session, contact_ids)
    wanted = sorted(
        (n for n in current.values() if n.debrief_wanted),
        key=lambda n: (n.written_at, n.id),
    )
    participants.load(n.participant_id for n in wanted)
    staff.load(n.author_staff_id for n in wanted)
    return tuple(
        DebriefLine(
            contact_id=n.contact_id,
            participant_id=n.participant_id,
            label=participants.label(n.participant_id),
            author=staff.name(n.author_staff_id, n.author),
            written_at=n.written_at,
        )
        for n in wanted
    )


_STEP_EVENTS: Final = ("notified", "step_skipped", "gap")


def _escalations(
    session: Session, start: dt.datetime, end: dt.datetime, participants: _Participants
) -> tuple[EscalationLine, ...]:
    events = session.execute(
        select(EscalationEvent.escalation_id, EscalationEvent.kind, EscalationEvent.detail)
        .where(
            EscalationEvent.at >= start,
            EscalationEvent.at < end,
            EscalationEvent.kind.in_(_STEP_EVENTS),
        )
        .order_by(EscalationEvent.id)
    ).all()
    # A step past the first (0-based step 1 on), or any step of a second round.
    reached: dict[int, int] = {}
    for escalation_id, _kind, detail in events:
        step = int((detail or {}).get("step") or 0)
        loop = int((detail or {}).get("loop") or 0)
        if step >= 1 or loop >= 1:
            reached[escalation_id] = max(reached.get(escalation_id, 0), step + 1)
    ran_out = session.scalars(
        select(EscalationRecord.id).where(
            EscalationRecord.exhausted_at >= start, EscalationRecord.exhausted_at < end
        )
    ).all()
    ids = set(reached) | set(ran_out)
    if not ids:
        return ()
    records = session.scalars(
        select(EscalationRecord)
        .where(EscalationRecord.id.in_(ids))
        .order_by(EscalationRecord.opened_at, EscalationRecord.id)
    ).all()
    participants.load(r.participant_id for r in records)
    return tuple(
        EscalationLine(
            escalation_id=r.id,
            participant_id=r.participant_id,
            label=participants.label(r.participant_id) if r.participant_id is not None else None,
            subject_type=r.subject_type,
            summary=r.summary,
            status=r.status,
            reached_step=reached.get(r.id, r.step_index + 1),
            ran_out_at=r.exhausted_at
            if r.exhausted_at is not None and start <= r.exhausted_at < end
            else None,
        )
        for r in records
    )


def _gaps(session: Session, now: dt.datetime) -> tuple[line_now.GapLine, ...] | None:
    found = line_now.gaps_ahead(session, now)
    return tuple(found) if found is not None else None


def _failures(session: Session, start: dt.datetime, end: dt.datetime, now: dt.datetime) -> Failures:
    deliveries = session.execute(
        select(Delivery.purpose, func.count(Delivery.id))
        .where(
            Delivery.status.in_((DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED)),
            Delivery.finished_at >= start,
            Delivery.finished_at < end,
        )
        .group_by(Delivery.purpose)
        .order_by(Delivery.purpose)
    ).all()
    outages = session.scalars(
        select(ProviderOutage)
        .where(
            ProviderOutage.started_at < end,
            (ProviderOutage.ended_at.is_(None)) | (ProviderOutage.ended_at >= start),
        )
        .order_by(ProviderOutage.started_at)
    ).all()
    emails = session.execute(
        select(Email.purpose, func.count(Email.id))
        .where(
            Email.status == EmailStatus.FAILED,
            Email.updated_at >= start,
            Email.updated_at < end,
        )
        .group_by(Email.purpose)
        .order_by(Email.purpose)
    ).all()
    overdue = session.execute(
        select(EscalationEvent.escalation_id, EscalationEvent.at, EscalationEvent.detail)
        .where(
            EscalationEvent.kind == "overdue",
            EscalationEvent.at >= start,
            EscalationEvent.at < end,
        )
        .order_by(EscalationEvent.at, EscalationEvent.id)
    ).all()
    beat = heartbeat.latest(session)
    beat_at = beat.beat_at if beat is not None else None
    return Failures(
        failed_deliveries=tuple((str(purpose), int(n)) for purpose, n in deliveries),
        outages=tuple(OutageLine(o.started_at, o.ended_at, o.delayed) for o in outages),
        failed_emails=tuple((str(purpose), int(n)) for purpose, n in emails),
        overdue_escalations=tuple(
            OverdueLine(escalation_id, at, int((detail or {}).get("late_seconds") or 0))
            for escalation_id, at, detail in overdue
        ),
        scheduler_beat_at=beat_at,
        scheduler_stale=beat_at is None or now - beat_at > heartbeat.STALE_AFTER,
    )


# ---- in words -------------------------------------------------------------------------------
# The plain text is what the email's text part, the CLI and the one-text summary say. It names
# participants by reference and initials only and holds no message body, no note text, no
# follow-up wording and no phone number: it may be read on a phone's lock screen.


def local(instant: dt.datetime, zone: ZoneInfo) -> str:
    """An instant as staff read the clock: "Sat 5 Dec 22:10"."""
    at = instant.astimezone(zone)
    return f"{at:%a} {at.day} {at:%b %H:%M}"


def duration_words(seconds: int) -> str:
    """A wait in words: "40 s", "4 min", "2 h 5 min"."""
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def day_title(end: dt.datetime, zone: ZoneInfo) -> str:
    """The day a handover is for, as its subject says it: "Sunday 6 December"."""
    at = end.astimezone(zone)
    return f"{at:%A} {at.day} {at:%B}"


def counts_words(counts: Counts) -> str:
    """The period in one line: "7 calls (2 missed), 3 texts, 2 alerts, 1 with no note yet"."""

    def many(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    calls = many(counts.calls, "call")
    if counts.missed:
        calls += f" ({counts.missed} missed)"
    return (
        f"{calls}, {many(counts.texts, 'text')}, {many(counts.alerts, 'alert')}, "
        f"{counts.no_note} with no note yet"
    )


def contact_words(line: ContactLine, zone: ZoneInfo) -> str:
    """One contact in words, without a note's text."""
    words = f"{local(line.started_at, zone)} {line.words}"
    if line.kind == "conversation":
        words += f" ({line.texts} text{'' if line.texts == 1 else 's'} in the period)"
    if line.handled_by and line.kind in ("call_answered", "call_back"):
        words += f" by {line.handled_by}"
    elif line.handled_by and line.kind == "conversation":
        words += f", taken by {line.handled_by}"
    if line.kind == "conversation":
        reply = line.reply_seconds
        words += (
            f", first reply after {duration_words(reply)}"
            if reply is not None
            else ", no reply from staff yet"
        )
    if line.kind in ("call_missed", "voicemail"):
        words += (
            f", called back {local(line.called_back_at, zone)}"
            if line.called_back_at is not None
            else ", not called back"
        )
    if line.note is not None:
        words += ". " + note_words(line.note)
    elif line.takes_note:
        words += ". No note yet"
    return words + "."


def note_words(note: NoteSummary) -> str:
    """A note's judgement and flags (never its text)."""
    parts = [f"Note: risk now {note.risk_label.lower()}"]
    if note.actions:
        parts.append("actions: " + ", ".join(note.actions))
    if note.follow_up_wanted:
        parts.append("follow-up asked")
    if note.debrief_wanted:
        parts.append("debrief wanted")
    parts.append(f"by {note.author}")
    return "; ".join(parts)


def escalation_words(line: EscalationLine, zone: ZoneInfo) -> str:
    """An escalation without its summary (which may name an unknown caller's number)."""
    about = f" about {line.label}" if line.label else ""
    what = line.subject_type.replace("_", " ")
    words = f"Escalation {line.escalation_id} ({what}){about}: reached step {line.reached_step}"
    if line.ran_out_at is not None:
        words += f", ran out {local(line.ran_out_at, zone)}"
    return words + f"; {line.status} now."


def failure_lines(failures: Failures, zone: ZoneInfo) -> list[str]:
    """What was reported failing, one line each (empty: nothing)."""
    lines = []
    if failures.failed_deliveries:
        lines.append(
            "Texts and calls that failed: "
            + ", ".join(
                f"{purpose.replace('_', ' ')} {n}" for purpose, n in failures.failed_deliveries
            )
        )
    for outage in failures.outages:
        until = local(outage.ended_at, zone) if outage.ended_at is not None else "still going"
        lines.append(
            f"Telephony provider outage from {local(outage.started_at, zone)} to {until}, "
            f"{outage.delayed} delayed"
        )
    if failures.failed_emails:
        lines.append(
            "Emails that failed: "
            + ", ".join(f"{purpose.replace('_', ' ')} {n}" for purpose, n in failures.failed_emails)
        )
    for overdue in failures.overdue_escalations:
        lines.append(
            f"Escalation {overdue.escalation_id} was overdue by "
            f"{duration_words(overdue.late_seconds)} at {local(overdue.at, zone)} "
            "(the scheduler was behind)"
        )
    if failures.scheduler_stale:
        if failures.scheduler_beat_at is None:
            lines.append("No scheduler has ever beaten: the jobs are not running")
        else:
            lines.append(
                f"The scheduler's last beat was {local(failures.scheduler_beat_at, zone)}, "
                "more than a minute ago: the jobs may not be running"
            )
    return lines


@dataclass(frozen=True)
class Section:
    """One section of the handover in words: its lines, or its groups of lines (contacts by
    participant), or what it says when it is empty."""

    title: str
    lines: tuple[str, ...] = ()
    groups: tuple[tuple[str, tuple[str, ...]], ...] = ()
    empty: str = "None."


@dataclass(frozen=True)
class Outline:
    """The handover in words, without a body, a note's text or a phone number: what the
    email (both parts), the CLI and the one-text summary say."""

    title: str
    period: str
    figures: str
    sections: tuple[Section, ...]


def outline(shown: Handover) -> Outline:
    """The handover in words."""
    zone = ZoneInfo(shown.zone)
    on_call = [
        f"{s.rota}: {', '.join(s.names) if s.names else 'nobody'}, "
        f"{local(s.start, zone)} to {local(s.end, zone)}"
        for s in shown.on_call
    ] + [f"{p.rota}: could not be worked out ({p.problem})" for p in shown.rota_problems]
    if shown.gaps is None:
        gaps = ["Could not be worked out: check the rotas."]
    else:
        gaps = [
            f"{g.rota}: {local(g.start, zone)} to {local(g.end, zone)}, {g.reason}"
            for g in shown.gaps
        ]
    sections = (
        Section("Who was on call", tuple(on_call), empty="No rotas."),
        Section(
            "Contacts by participant",
            groups=tuple(
                (group.label, tuple(contact_words(line, zone) for line in group.contacts))
                for group in shown.participants
            ),
            empty="No contacts in the period.",
        ),
        Section(
            "Risk alerts raised",
            tuple(
                f"{local(a.raised_at, zone)} {a.label}: {a.severity}, {a.reason}; {a.status} now."
                for a in shown.alerts
            ),
        ),
        Section(
            "Follow-ups asked", tuple(_follow_up_words(f, zone) for f in shown.follow_ups_asked)
        ),
        Section(
            f"Follow-ups still open ({len(shown.follow_ups_open)})",
            tuple(_follow_up_words(f, zone) for f in shown.follow_ups_open),
        ),
        Section(
            "Debriefs wanted",
            tuple(
                f"{d.author}, after the contact with {d.label} (note {local(d.written_at, zone)})"
                for d in shown.debriefs
            ),
        ),
        Section(
            "Escalations that reached a second step or ran out",
            tuple(escalation_words(e, zone) for e in shown.escalations),
        ),
        Section(
            "Crisis plans past their review date or missing",
            tuple(
                f"{p.label}: past its review date ({p.review_on:%d %b %Y})."
                for p in shown.plans_past_review
            )
            + tuple(f"{p.label}: no crisis plan." for p in shown.plans_missing),
        ),
        Section("Rota gaps in the next 72 hours", tuple(gaps)),
        Section("Reported failing", tuple(failure_lines(shown.failures, zone)), empty="Nothing."),
    )
    return Outline(
        title=f"Crisis line handover, {day_title(shown.end, zone)}",
        period=f"From {local(shown.start, zone)} to {local(shown.end, zone)} ({shown.zone})",
        figures=counts_words(shown.counts) + ".",
        sections=sections,
    )


def plain_text(shown: Handover, *, link: str | None) -> str:
    """The handover as plain text: the email's text part and what the CLI prints."""
    words = outline(shown)
    out = [words.title, words.period, "", words.figures]
    if link:
        out.append(f"Detail in the console: {link}")
    for section in words.sections:
        out.extend(["", section.title.upper()])
        for label_, lines in section.groups:
            out.append(label_)
            out.extend(f"  - {line}" for line in lines)
        out.extend(f"- {line}" for line in section.lines)
        if not section.lines and not section.groups:
            out.append(section.empty)
    return "\n".join(out) + "\n"


def _follow_up_words(line: FollowUpLine, zone: ZoneInfo) -> str:
    officer = line.officer or "no officer recorded"
    return (
        f"{line.label}, for {officer}, asked by {line.asked_by} {local(line.asked_at, zone)}; "
        f"{line.status} now."
    )


def text_summary(shown: Handover, link: str) -> str:
    """The one text sent where there is no email: the figures and the console link."""
    return f"Crisis line handover: {counts_words(shown.counts)}. {link}"
