"""A participant's story: one timeline of his calls, texts, voicemails, escalations and alerts, and
his contacts by week, day and night.

The timeline is paged by keyset, newest first: each source (his contacts, the escalations and
the alerts about him) is read with its own indexed range scan of at most one page past the
cursor, and the sources are merged here. A page therefore costs the same whether he has ten
contacts or ten thousand, and nothing reads his whole history. The order is by time, then
source (contacts, escalations, alerts), then id, so entries at the same instant keep one order
across pages.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.orm import Session

from crisisline import (
    caseloads,
    charts,
    contact_history,
    contact_notes,
    participants,
    phones,
    record_access,
)
from crisisline.alert_models import RiskAlert
from crisisline.caseloads import Access, access
from crisisline.errors import InvalidInput, NotFound
from crisisline.escalation_models import EscalationCode, EscalationRecord
from crisisline.models import Channel, Contact, ContactOutcome, Direction, Participant, Staff
from crisisline.permissions import Actor, Permission
from crisisline.risk_rules import NightHours
from rotas.wallclock import local_to_utc

PAGE_SIZE: Final = 20
SEARCH_PAGE_SIZE: Final = 25
CHART_WEEKS: Final = 12
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class Kind(enum.StrEnum):
    """What an entry of the timeline is (and the filter's choices)."""

    CALLS = "calls"
    TEXTS = "texts"
    VOICEMAILS = "voicemails"
    ESCALATIONS = "escalations"
    ALERTS = "alerts"


KIND_NAMES: Final = {
    Kind.CALLS: "Calls",
    Kind.TEXTS: "Texts",
    Kind.VOICEMAILS: "Voicemails",
    Kind.ESCALATIONS: "Escalations",
    Kind.ALERTS: "Alerts",
}
_CONTACT_KINDS: Final = frozenset({Kind.CALLS, Kind.TEXTS, Kind.VOICEMAILS})

# Sources in the order entries at the same instant are shown.
_CONTACTS, _ESCALATIONS, _ALERTS = 0, 1, 2

# What became of a contact, in words staff read on the timeline.
OUTCOME_WORDS: Final = {
    ContactOutcome.RINGING: "ringing staff now",
    ContactOutcome.ANSWERED: "answered",
    ContactOutcome.MISSED: "nobody answered: he heard the crisis numbers",
    ContactOutcome.VOICEMAIL: "nobody answered: he left a voicemail",
    ContactOutcome.ABANDONED: "he hung up while staff were being rung",
    ContactOutcome.STAFF_CALL: "a member of staff called the line",
    ContactOutcome.CALL_BACK: "called back through the line",
    ContactOutcome.VOICEMAIL_HEARD: "voicemail heard",
    ContactOutcome.UNROUTED: "waiting to be passed to staff",
    ContactOutcome.ROUTING_FAILED: "not yet passed to staff: he was sent the crisis numbers",
    ContactOutcome.RECEIVED: "received",
    ContactOutcome.RELAYED: "passed to the staff on call",
    ContactOutcome.GATHERED: "gathered into a flood of texts",
    ContactOutcome.UNREPLYABLE: "from a number that cannot be texted back",
    ContactOutcome.OPTED_OUT: "he asked for no more texts (STOP)",
    ContactOutcome.OPTED_IN: "he asked for texts again (START)",
    ContactOutcome.SENT: "sent",
}


def outcome_words(outcome: str | None) -> str:
    """A contact's outcome as staff read it."""
    if outcome is None:
        return "not recorded"
    try:
        return OUTCOME_WORDS.get(ContactOutcome(outcome), outcome.replace("_", " "))
    except ValueError:
        return outcome.replace("_", " ")


# ---- entries ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallEntry:
    """A call to the line (or a call back to him through it)."""

    at: dt.datetime
    id: int
    inbound: bool
    answered_by: str | None
    wait_seconds: int | None
    duration_seconds: int | None
    outcome: str
    kind: Kind = Kind.CALLS
    # Whether its note is written (True), not yet (False), or it takes none (None).
    noted: bool | None = None


@dataclass(frozen=True)
class VoicemailEntry:
    """A call that ended in a voicemail: played in the page through the service."""

    at: dt.datetime
    id: int
    wait_seconds: int | None
    duration_seconds: int | None
    outcome: str
    kind: Kind = Kind.VOICEMAILS


@dataclass(frozen=True)
class TextEntry:
    """A text from him, or to him (a member of staff's words relayed, or the line's reply)."""

    at: dt.datetime
    id: int
    from_him: bool
    body: str
    # Who wrote a text to him: a member of staff's name, or None for the line's own reply.
    written_by: str | None
    pictures: int
    outcome: str
    kind: Kind = Kind.TEXTS
    # For a taken conversation's opening text: whether its note is written; None: no note.
    noted: bool | None = None


@dataclass(frozen=True)
class EscalationEntry:
    """An escalation about him: who was chased, and who took it."""

    at: dt.datetime
    id: int
    summary: str
    status: str
    taken_by: str | None
    taken_at: dt.datetime | None
    closed_by: str | None
    kind: Kind = Kind.ESCALATIONS


@dataclass(frozen=True)
class AlertEntry:
    """A risk alert raised about him."""

    at: dt.datetime
    id: int
    rule: str
    severity: str
    status: str
    reason: str
    count: int
    acknowledged_by: str | None
    resolved_by: str | None
    kind: Kind = Kind.ALERTS


Entry = CallEntry | VoicemailEntry | TextEntry | EscalationEntry | AlertEntry


# ---- what to show -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """Where a page of the timeline ends: the last entry's time, source and id. The next page
    holds what comes after it, newest first."""

    at: dt.datetime
    source: int
    id: int

    def token(self) -> str:
        """The cursor as it travels in a link: `MICROSECONDS.SOURCE.ID`."""
        micros = (self.at - _EPOCH) // dt.timedelta(microseconds=1)
        return f"{micros}.{self.source}.{self.id}"

    @classmethod
    def read(cls, value: str, field: str) -> Cursor:
        """A cursor from its token; InvalidInput naming `field` for anything else."""
        parts = value.split(".")
        if len(parts) != 3 or not all(part.isdigit() and len(part) <= 18 for part in parts):
            raise InvalidInput("That page of the timeline does not exist.", field)
        micros, source, entry_id = (int(part) for part in parts)
        if source not in (_CONTACTS, _ESCALATIONS, _ALERTS):
            raise InvalidInput("That page of the timeline does not exist.", field)
        try:
            at = _EPOCH + dt.timedelta(microseconds=micros)
        except OverflowError:
            raise InvalidInput("That page of the timeline does not exist.", field) from None
        return cls(at, source, entry_id)


@dataclass(frozen=True)
class Filter:
    """Which entries to show: kinds (none chosen: all) and local dates from and to (both
    included)."""

    kinds: frozenset[Kind] = frozenset()
    since: dt.date | None = None
    until: dt.date | None = None

    def wanted(self, kind: Kind) -> bool:
        """Whether the filter keeps entries of `kind`."""
        return not self.kinds or kind in self.kinds


def read_filter(
    kinds: Iterable[str], since: str | None, until: str | None
) -> tuple[Filter, dict[str, str]]:
    """The filter a person asked for, and a message for each field they got wrong."""
    errors: dict[str, str] = {}
    chosen: set[Kind] = set()
    for value in kinds:
        try:
            chosen.add(Kind(value))
        except ValueError:
            errors["kind"] = "Choose calls, texts, voicemails, escalations or alerts."
    first = _date(since, "since", errors)
    last = _date(until, "until", errors)
    if first is not None and last is not None and last < first:
        errors["until"] = "The last day must be on or after the first."
    return Filter(frozenset(chosen), first, last), errors


def _date(value: str | None, field: str, errors: dict[str, str]) -> dt.date | None:
    text = (value or "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        errors[field] = "Give a date as the calendar shows it, such as 2026-11-26."
        return None


@dataclass(frozen=True)
class Reach:
    """Which of his records this person may see, besides his details."""

    contacts: bool
    escalations: bool  # every escalation about him (escalations:read reaches him)
    asked_escalations: bool  # only those the person holds a live reply code for
    alerts: bool

    @property
    def anything(self) -> bool:
        """Whether the person sees a timeline at all."""
        return self.contacts or self.escalations or self.asked_escalations or self.alerts

    def kinds(self) -> list[Kind]:
        """The kinds of entry this person may see, in the filter's order."""
        shown = [kind for kind in Kind if kind in _CONTACT_KINDS and self.contacts]
        if self.escalations or self.asked_escalations:
            shown.append(Kind.ESCALATIONS)
        if self.alerts:
            shown.append(Kind.ALERTS)
        return shown


def reach(session: Session, actor: Actor, participant_id: int, now: dt.datetime) -> Reach:
    """What `actor` may see of the participant's timeline. A reach that needs a reason counts
    as reached: the page asked for it (break-glass) before anything is shown."""

    def reaches(permission: Permission) -> bool:
        return access(session, actor, permission, participant_id, now) is not Access.REFUSED

    escalations = reaches(Permission.ESCALATIONS_READ)
    contacts = reaches(Permission.CONTACTS_READ)
    return Reach(
        contacts=contacts,
        escalations=escalations,
        # An on-call worker has no escalations:read, but one he is asked to take is his to see
        # (the reply codes' rule: he may take it, so he must see what it is).
        asked_escalations=not escalations and contacts and actor.staff_id is not None,
        alerts=reaches(Permission.ALERTS_READ),
    )


# ---- the timeline -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelinePage:
    """One page of the timeline, newest first, and the cursor of the next (None: the end)."""

    entries: list[Entry]
    older: Cursor | None
    kinds: list[Kind] = field(default_factory=list)


@dataclass(frozen=True)
class _Keyed:
    at: dt.datetime
    source: int
    id: int
    entry: Entry

    def key(self) -> tuple[dt.datetime, int, int]:
        return (self.at, self.source, self.id)


def timeline(
    session: Session,
    actor: Actor,
    participant_id: int,
    *,
    seen: Reach,
    chosen: Filter,
    after: Cursor | None,
    zone: ZoneInfo,
    limit: int = PAGE_SIZE,
) -> TimelinePage:
    """A page of the participant's timeline as `actor` may see it (`seen`), filtered, after
    the cursor. At most `limit` + 1 rows are read from each source."""
    start, end = _window(chosen, zone)
    wanted = [kind for kind in seen.kinds() if chosen.wanted(kind)]
    keyed: list[_Keyed] = []
    contact_kinds = [kind for kind in wanted if kind in _CONTACT_KINDS]
    if contact_kinds:
        older = _older_than(after, _CONTACTS)
        keyed += _contacts(session, participant_id, contact_kinds, start, end, older, limit + 1)
    if Kind.ESCALATIONS in wanted:
        only_asked = actor.staff_id if not seen.escalations else None
        older = _older_than(after, _ESCALATIONS)
        keyed += _escalations(session, participant_id, only_asked, start, end, older, limit + 1)
    if Kind.ALERTS in wanted:
        older = _older_than(after, _ALERTS)
        keyed += _alerts(session, participant_id, start, end, older, limit + 1)
    keyed.sort(key=_Keyed.key, reverse=True)
    shown = keyed[:limit]
    next_page = None
    if len(keyed) > limit:
        last = shown[-1]
        next_page = Cursor(last.at, last.source, last.id)
    return TimelinePage([item.entry for item in shown], next_page, wanted)


def _older_than(after: Cursor | None, source: int) -> tuple[dt.datetime, int | None] | None:
    """The bound on one source's rows after the cursor, in (time, source, id) order."""
    if after is None:
        return None
    if source < after.source:
        return (after.at, None)  # at the cursor's instant, this source comes after it
    if source == after.source:
        return (after.at, after.id)
    return (after.at, 0)  # at the cursor's instant, this source came before it: none left


def _window(chosen: Filter, zone: ZoneInfo) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The filter's local dates as the UTC instants [start, end) they cover."""
    start = (
        local_to_utc(dt.datetime.combine(chosen.since, dt.time()), zone)
        if chosen.since is not None
        else None
    )
    end = (
        local_to_utc(dt.datetime.combine(chosen.until + dt.timedelta(days=1), dt.time()), zone)
        if chosen.until is not None
        else None
    )
    return start, end


def _contact_kind(contact: Contact) -> Kind:
    if contact.channel == Channel.SMS:
        return Kind.TEXTS
    return Kind.VOICEMAILS if contact.recording_url else Kind.CALLS


def _contact_condition(kinds: Sequence[Kind]) -> ColumnElement[bool] | None:
    if set(kinds) >= _CONTACT_KINDS:
        return None
    conditions: list[ColumnElement[bool]] = []
    if Kind.TEXTS in kinds:
        conditions.append(Contact.channel == Channel.SMS)
    if Kind.CALLS in kinds:
        conditions.append((Contact.channel == Channel.VOICE) & Contact.recording_url.is_(None))
    if Kind.VOICEMAILS in kinds:
        conditions.append((Contact.channel == Channel.VOICE) & Contact.recording_url.is_not(None))
    return or_(*conditions) if conditions else false()


def _contacts(
    session: Session,
    participant_id: int,
    kinds: Sequence[Kind],
    start: dt.datetime | None,
    end: dt.datetime | None,
    older: tuple[dt.datetime, int | None] | None,
    limit: int,
) -> list[_Keyed]:
    rows = contact_history.newest_of(
        session,
        participant_id,
        kinds=_contact_condition(kinds),
        start=start,
        end=end,
        older_than=older,
        limit=limit,
    )
    names = staff_names(session, (row.handled_by_staff_id for row in rows))
    noted = contact_notes.note_states(session, rows)
    return [
        _Keyed(row.started_at, _CONTACTS, row.id, _contact_entry(row, names, noted.get(row.id)))
        for row in rows
    ]


def _contact_entry(row: Contact, names: dict[int, str], noted: bool | None = None) -> Entry:
    staff = names.get(row.handled_by_staff_id) if row.handled_by_staff_id is not None else None
    outcome = outcome_words(row.outcome)
    kind = _contact_kind(row)
    if kind is Kind.TEXTS:
        return TextEntry(
            at=row.started_at,
            id=row.id,
            from_him=row.direction == Direction.INBOUND,
            body=row.body or "",
            written_by=staff if row.direction == Direction.OUTBOUND else None,
            pictures=len(row.media_urls or ()),
            outcome=outcome,
            noted=noted,
        )
    if kind is Kind.VOICEMAILS:
        return VoicemailEntry(
            at=row.started_at,
            id=row.id,
            wait_seconds=row.wait_seconds,
            duration_seconds=row.duration_seconds,
            outcome=outcome,
        )
    return CallEntry(
        at=row.started_at,
        id=row.id,
        inbound=row.direction == Direction.INBOUND,
        answered_by=staff,
        wait_seconds=row.wait_seconds,
        duration_seconds=row.duration_seconds,
        outcome=outcome,
        noted=noted,
    )


def _escalations(
    session: Session,
    participant_id: int,
    only_asked: int | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
    older: tuple[dt.datetime, int | None] | None,
    limit: int,
) -> list[_Keyed]:
    query = select(EscalationRecord).where(EscalationRecord.participant_id == participant_id)
    if only_asked is not None:
        # Checked per escalation of his (ix_escalation_codes_escalation_id), never by scanning
        # every code the person was ever sent.
        query = query.where(
            select(EscalationCode.id)
            .where(
                EscalationCode.escalation_id == EscalationRecord.id,
                EscalationCode.staff_id == only_asked,
                EscalationCode.active.is_(True),
            )
            .exists()
        )
    if start is not None:
        query = query.where(EscalationRecord.opened_at >= start)
    if end is not None:
        query = query.where(EscalationRecord.opened_at < end)
    if older is not None:
        query = query.where(
            contact_history.before_or_at(EscalationRecord.opened_at, EscalationRecord.id, *older)
        )
    rows = session.scalars(
        query.order_by(EscalationRecord.opened_at.desc(), EscalationRecord.id.desc()).limit(limit)
    ).all()
    return [
        _Keyed(
            row.opened_at,
            _ESCALATIONS,
            row.id,
            EscalationEntry(
                at=row.opened_at,
                id=row.id,
                summary=row.summary,
                status=row.status,
                taken_by=row.acknowledged_by,
                taken_at=row.acknowledged_at,
                closed_by=row.closed_by,
            ),
        )
        for row in rows
    ]


def _alerts(
    session: Session,
    participant_id: int,
    start: dt.datetime | None,
    end: dt.datetime | None,
    older: tuple[dt.datetime, int | None] | None,
    limit: int,
) -> list[_Keyed]:
    query = select(RiskAlert).where(RiskAlert.participant_id == participant_id)
    if start is not None:
        query = query.where(RiskAlert.raised_at >= start)
    if end is not None:
        query = query.where(RiskAlert.raised_at < end)
    if older is not None:
        query = query.where(contact_history.before_or_at(RiskAlert.raised_at, RiskAlert.id, *older))
    rows = session.scalars(
        query.order_by(RiskAlert.raised_at.desc(), RiskAlert.id.desc()).limit(limit)
    ).all()
    return [
        _Keyed(
            row.raised_at,
            _ALERTS,
            row.id,
            AlertEntry(
                at=row.raised_at,
                id=row.id,
                rule=row.rule.replace("_", " "),
                severity=str(row.severity),
                status=str(row.status),
                reason=row.reason,
                count=row.count,
                acknowledged_by=row.acknowledged_by,
                resolved_by=row.resolved_by,
            ),
        )
        for row in rows
    ]


def staff_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """The names of these members of staff, by id (one query)."""
    wanted = {staff_id for staff_id in ids if staff_id is not None}
    if not wanted:
        return {}
    return {
        int(staff_id): name
        for staff_id, name in session.execute(
            select(Staff.id, Staff.name).where(Staff.id.in_(wanted))
        ).all()
    }


# ---- finding a participant --------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """A page of participants found, and how many match in all."""

    participants: list[Participant]
    total: int
    page: int
    pages: int


def find(
    session: Session,
    visit: record_access.Visit,
    text: str,
    *,
    page: int,
    region: str,
    page_size: int = SEARCH_PAGE_SIZE,
) -> Found:
    """The participants the visitor's grant reaches whose reference, name or phone number
    matches `text` (a number in any form: 07700 900123, +44 7700 900123, 447700900123),
    a page at a time; the list is logged in the record access log."""
    words = text.strip()
    try:
        phone = phones.normalise(words, region) if words else None
    except phones.InvalidPhoneNumber:
        phone = None
    visible = caseloads.participant_filter(visit.actor, Permission.PARTICIPANTS_READ, visit.at)
    page = max(1, page)
    rows, total = participants.search(
        session,
        words,
        phone=phone,
        visible=visible,
        offset=(page - 1) * page_size,
        limit=page_size,
    )
    record_access.list_read(
        session,
        visit,
        Permission.PARTICIPANTS_READ,
        record_type="participant",
        participant_ids=[row.id for row in rows],
    )
    return Found(rows, total, page, max(1, math.ceil(total / page_size)))


# ---- the participant --------------------------------------------------------------------------


def participant(session: Session, participant_id: int) -> Participant:
    """The participant with his phones and responsible officer (NotFound if none)."""
    return participants.get(session, participant_id)


def voicemail_recording(session: Session, participant_id: int, contact_id: int) -> str:
    """Where the recording of one of his voicemails is kept (the provider's URL, never shown to
    anyone); NotFound if the contact is not his or left no message."""
    contact = session.get(Contact, contact_id)
    if contact is None or contact.participant_id != participant_id or not contact.recording_url:
        raise NotFound("There is no such voicemail.")
    return contact.recording_url


# ---- contacts by week, day and night ----------------------------------------------------------


@dataclass(frozen=True)
class WeekCount:
    """Contacts from him in one local week (Monday to Sunday), by day and by night."""

    starts: dt.date
    day: int
    night: int

    @property
    def total(self) -> int:
        """Day and night together."""
        return self.day + self.night


def week_starts(now: dt.datetime, zone: ZoneInfo, weeks: int = CHART_WEEKS) -> list[dt.date]:
    """The local Mondays of the last `weeks` weeks, this week last, oldest first."""
    today = now.astimezone(zone).date()
    this_week = today - dt.timedelta(days=today.weekday())
    return [this_week - dt.timedelta(weeks=weeks - 1 - n) for n in range(weeks)]


def day_and_night_periods(
    mondays: Sequence[dt.date], zone: ZoneInfo, night: NightHours
) -> tuple[dt.datetime, list[tuple[dt.datetime, int]]]:
    """The weeks from `mondays` cut into day and night as consecutive UTC spans: the start,
    and each span's end with its label (twice the week's number, plus one at night). Weeks
    begin at local midnight, and night is the risk rules' night hours on the local clock, so
    a week or a night across a clock change is an hour longer or shorter, as people count."""
    bounds = [
        local_to_utc(dt.datetime.combine(monday, dt.time()), zone)
        for monday in [*mondays, mondays[-1] + dt.timedelta(weeks=1)]
    ]
    nights = night.nights(bounds[0], bounds[-1], zone)
    periods: list[tuple[dt.datetime, int]] = []
    for week in range(len(mondays)):
        week_start, week_end = bounds[week], bounds[week + 1]
        reached = week_start
        for night_start, night_end in nights:
            begins, ends = max(night_start, reached), min(night_end, week_end)
            if begins >= ends:
                continue
            if begins > reached:
                periods.append((begins, week * 2))
            periods.append((ends, week * 2 + 1))
            reached = ends
        if reached < week_end:
            periods.append((week_end, week * 2))
    return bounds[0], periods


def weekly_contacts(
    session: Session,
    participant_id: int,
    now: dt.datetime,
    zone: ZoneInfo,
    night: NightHours,
    weeks: int = CHART_WEEKS,
) -> list[WeekCount]:
    """Calls and texts from him in each of the last `weeks` local weeks, by day and night (one
    grouped query over the weeks' range of his contacts)."""
    mondays = week_starts(now, zone, weeks)
    start, periods = day_and_night_periods(mondays, zone, night)
    counts = contact_history.counts_by_period(
        session,
        participant_id,
        periods,
        start=start,
        condition=Contact.direction == Direction.INBOUND,
    )
    return [
        WeekCount(monday, counts.get(week * 2, 0), counts.get(week * 2 + 1, 0))
        for week, monday in enumerate(mondays)
    ]


def weekly_chart(weeks: Sequence[WeekCount]) -> bytes:
    """The weeks as a stacked bar chart (SVG): day below, night above, one bar a week."""
    return charts.stacked_bars(
        title="Calls and texts from him, by week",
        labels=[f"{week.starts.day} {week.starts:%b}" for week in weeks],
        series=[
            ("Day", [week.day for week in weeks]),
            ("Night", [week.night for week in weeks]),
        ],
        y_title="Calls and texts",
    )
