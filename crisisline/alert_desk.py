"""Acting on escalations from the console: taking and closing them as a signed-in person, by the
same rules as the reply codes.

Who may: the person the escalation asked (they hold a live reply code for it: it was texted or
rung to their phone), exactly as if they had replied with the code; or a person whose grant to
act on escalations reaches every participant (a duty manager, the clinical lead), by name. What
it stops: taking stops the escalation everywhere and tells the others asked who took it;
closing stops it and nothing fires again. A text conversation is kept in step, as when the code
is texted: taken, its replies go to whoever took it; closed, it closes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from crisisline import alerts, caseloads, escalation_engine, policy_words, sms_commands
from crisisline.alert_models import AlertSeverity, AlertStatus, RiskAlert
from crisisline.errors import DomainError, InvalidInput
from crisisline.escalation_models import EscalationEvent, EscalationRecord
from crisisline.models import Contact, Participant, Staff, StaffRole
from crisisline.permissions import Actor, Extent, Permission
from crisisline.staff import list_staff
from escalation.reach import Reach
from escalation.state import ByOperator, ByPhone, Responder
from rotas.wallclock import local_to_utc


class NotAsked(DomainError):
    """The person was not asked to take this escalation and may not act on every one."""


@dataclass(frozen=True)
class Acted:
    """What taking or closing did, in words for the person who did it."""

    escalation_id: int
    changed: bool
    message: str


def responder(session: Session, actor: Actor, record: EscalationRecord) -> Responder | None:
    """How `actor` may act on the escalation (their reply code, or their name), or None."""
    staff = session.get(Staff, actor.staff_id) if actor.staff_id is not None else None
    if staff is not None and staff.active:
        code = escalation_engine.code_for_phone(session, record.id, staff.phone)
        if code is not None:
            return ByPhone(staff.phone, code)
    if actor.extent(Permission.ESCALATIONS_WRITE) is Extent.ALL:
        return ByOperator(actor.name)
    return None


def may_take(session: Session, actor: Actor, record: EscalationRecord) -> bool:
    """Whether the console should offer `actor` "take" for this escalation."""
    return record.status in ("open", "exhausted") and responder(session, actor, record) is not None


def may_close(session: Session, actor: Actor, record: EscalationRecord) -> bool:
    """Whether the console should offer `actor` "close" (also once taken, to whoever may)."""
    return record.status != "closed" and responder(session, actor, record) is not None


def take(
    session: Session, actor: Actor, escalation_id: int, now: dt.datetime, reach: Reach
) -> Acted:
    """Take the escalation (NotAsked if the person may not; NotFound if there is none)."""
    record, by = _checked(session, actor, escalation_id)
    outcome = escalation_engine.acknowledge_escalation(session, record.id, by, now, reach)
    _keep_conversation_in_step(session, actor, record.id, outcome.changed, now, reach)
    if outcome.changed:
        told = outcome.others_told
        others = f" The {told} others asked have been told." if told > 1 else ""
        others = " The other person asked has been told." if told == 1 else others
        return Acted(record.id, True, f"You took it: {record.summary}.{others}")
    return Acted(record.id, False, _unchanged(record))


def close(
    session: Session, actor: Actor, escalation_id: int, now: dt.datetime, reach: Reach
) -> Acted:
    """Close the escalation: nothing fires again (NotAsked if the person may not)."""
    record, by = _checked(session, actor, escalation_id)
    outcome = escalation_engine.close_escalation(session, record.id, by, now, reach)
    _keep_conversation_in_step(session, actor, record.id, outcome.changed, now, reach)
    if outcome.changed:
        return Acted(record.id, True, f"Closed: {record.summary}. Nothing more will be sent.")
    return Acted(record.id, False, _unchanged(record))


def _checked(
    session: Session, actor: Actor, escalation_id: int
) -> tuple[EscalationRecord, Responder]:
    record, _ = escalation_engine.load(session, escalation_id)
    by = responder(session, actor, record)
    if by is None:
        raise NotAsked(
            "You were not asked to take this one. The people it was sent to, or a duty "
            "manager, can take or close it."
        )
    return record, by


def _keep_conversation_in_step(
    session: Session,
    actor: Actor,
    escalation_id: int,
    changed: bool,
    now: dt.datetime,
    reach: Reach,
) -> None:
    if not changed or actor.staff_id is None:
        return
    staff = session.get(Staff, actor.staff_id)
    if staff is not None:
        sms_commands.keep_conversation_in_step(session, escalation_id, staff, now, reach)


def _unchanged(record: EscalationRecord) -> str:
    if record.status == "acknowledged":
        return f"Nothing changed: {record.acknowledged_by or 'a colleague'} has already taken it."
    if record.status == "closed":
        return f"Nothing changed: {record.closed_by or 'a colleague'} has already closed it."
    return f"Nothing changed: it is {record.status}."


# ---- the alert and escalation desks: lists with filters, and one record to read ------------

PAGE_SIZE: Final = 25
ALERT_STATUSES: Final = tuple(status.value for status in AlertStatus)
ALERT_SEVERITIES: Final = tuple(severity.value for severity in AlertSeverity)
ESCALATION_STATUSES: Final = ("open", "acknowledged", "exhausted", "closed")
ORDERS: Final = {"newest": "Newest first", "severity": "Most severe first"}
MAX_REFERENCE: Final = 40
MAX_EVIDENCE_SHOWN: Final = 50
_LABEL: Final = re.compile(r"^staff:(\d+)$")


@dataclass(frozen=True)
class Filters:
    """What a list was asked for, as read from its form (`page` counts from 1)."""

    status: str | None = None
    severity: str | None = None
    participant: str | None = None  # a reference, as typed
    officer_id: int | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None  # the last local day included
    order: str = "newest"
    page: int = 1

    def query(self, page: int | None = None) -> dict[str, str]:
        """The filters as the list's query string (for the pager's links); empty when none is
        in use and `page` is the first."""
        values = {
            "status": self.status or "",
            "severity": self.severity or "",
            "participant": self.participant or "",
            "officer": str(self.officer_id) if self.officer_id else "",
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "order": self.order if self.order != "newest" else "",
            "page": str(page if page is not None else self.page),
        }
        if values["page"] == "1":
            values["page"] = ""  # the first page is the list's own address
        return {name: value for name, value in values.items() if value}


def read_filters(
    args: Mapping[str, str], *, statuses: tuple[str, ...], severities: bool
) -> tuple[Filters, dict[str, str]]:
    """The filters of a list's form, and a message for each field that could not be read
    (the list is not run then: the form is shown again with the messages beside the fields)."""
    errors: dict[str, str] = {}
    status = args.get("status", "").strip() or None
    if status is not None and status not in statuses:
        errors["status"] = "Choose a status from the list."
        status = None
    severity = args.get("severity", "").strip() or None if severities else None
    if severity is not None and severity not in ALERT_SEVERITIES:
        errors["severity"] = "Choose a severity from the list."
        severity = None
    participant = " ".join(args.get("participant", "").split()) or None
    if participant is not None and len(participant) > MAX_REFERENCE:
        errors["participant"] = f"A reference has at most {MAX_REFERENCE} characters."
        participant = None
    officer_id = _whole_number(args.get("officer", ""))
    if args.get("officer", "").strip() and officer_id is None:
        errors["officer"] = "Choose an officer from the list."
    date_from = _date(args.get("from", ""), "from", errors)
    date_to = _date(args.get("to", ""), "to", errors)
    if date_from is not None and date_to is not None and date_to < date_from:
        errors["to"] = "The last day must be on or after the first day."
    order = args.get("order", "").strip() or "newest"
    if order not in ORDERS or not severities:
        order = "newest"
    page = _whole_number(args.get("page", "")) or 1
    filters = Filters(status, severity, participant, officer_id, date_from, date_to, order, page)
    return filters, errors


def _whole_number(text: str) -> int | None:
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        return None
    number = int(text)
    return number if number > 0 else None


def _date(text: str, field: str, errors: dict[str, str]) -> dt.date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        errors[field] = "Give a date as year-month-day, such as 2026-11-26."
        return None


def local_day_bounds(
    filters: Filters, zone: ZoneInfo
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The filters' local days as instants: [start of the first day, start of the day after
    the last), by the rota's own wall-clock rules (a day is 23 or 25 hours across DST)."""
    start = (
        local_to_utc(dt.datetime.combine(filters.date_from, dt.time()), zone)
        if filters.date_from
        else None
    )
    end = (
        local_to_utc(dt.datetime.combine(filters.date_to + dt.timedelta(days=1), dt.time()), zone)
        if filters.date_to
        else None
    )
    return start, end


class UnknownReference(InvalidInput):
    """No participant the reader may see has the reference typed in a list's filter."""


def _narrowed(
    session: Session, actor: Actor, permission: Permission, filters: Filters, now: dt.datetime
) -> tuple[ColumnElement[bool] | None, int | None]:
    """The condition on Participant a list keeps (the grant, and the officer asked for), and
    the participant named by reference. A reference outside the grant is refused as unknown,
    exactly as one that does not exist (a list must not tell who else is on the line)."""
    visible = caseloads.participant_filter(actor, permission, now)
    conditions = [visible] if visible is not None else []
    if filters.officer_id is not None:
        conditions.append(Participant.responsible_officer_id == filters.officer_id)
    participant_id = None
    if filters.participant is not None:
        participant_id = session.scalar(
            select(Participant.id).where(
                func.lower(Participant.reference) == filters.participant.lower(),
                *([visible] if visible is not None else []),
            )
        )
        if participant_id is None:
            raise UnknownReference(
                f"No participant you can see has the reference {filters.participant}.",
                "participant",
            )
    return (and_(*conditions) if conditions else None), participant_id


@dataclass(frozen=True)
class Listed:
    """One row of a list: the alert or escalation, and whom it is about (None: nobody)."""

    record: RiskAlert | EscalationRecord
    participant: Participant | None

    @property
    def officer(self) -> str | None:
        """The participant's responsible officer now, by name."""
        officer = self.participant.responsible_officer if self.participant else None
        return officer.name if officer is not None else None


@dataclass(frozen=True)
class Page:
    """A page of a list, and where it sits among all that match."""

    rows: list[Listed]
    total: int
    page: int
    pages: int
    participant_id: int | None  # the one participant the list was narrowed to, if any


def alert_page(
    session: Session,
    actor: Actor,
    filters: Filters,
    now: dt.datetime,
    zone: ZoneInfo,
    page_size: int = PAGE_SIZE,
) -> Page:
    """The alerts `actor` may read that match `filters`: newest or most severe first, one
    page. UnknownReference if the participant typed is not one the reader may see."""
    visible, participant_id = _narrowed(session, actor, Permission.ALERTS_READ, filters, now)
    raised_from, raised_to = local_day_bounds(filters, zone)
    rows, total = alerts.find(
        session,
        status=AlertStatus(filters.status) if filters.status else None,
        participant_id=participant_id,
        severity=AlertSeverity(filters.severity) if filters.severity else None,
        raised_from=raised_from,
        raised_to=raised_to,
        visible=visible,
        offset=(filters.page - 1) * page_size,
        limit=page_size,
        most_severe_first=filters.order == "severity",
    )
    return _page(session, rows, total, filters.page, page_size, participant_id)


def escalation_page(
    session: Session,
    actor: Actor,
    filters: Filters,
    now: dt.datetime,
    zone: ZoneInfo,
    page_size: int = PAGE_SIZE,
) -> Page:
    """The escalations `actor` may read that match `filters`, newest first. Those about
    nobody (a rota gap, a flood) only for a grant over every participant, and never when the
    list is narrowed to a participant or an officer."""
    visible, participant_id = _narrowed(session, actor, Permission.ESCALATIONS_READ, filters, now)
    opened_from, opened_to = local_day_bounds(filters, zone)
    rows, total = escalation_engine.find_opened_between(
        session,
        status=filters.status,
        participant_id=participant_id,
        opened_from=opened_from,
        opened_to=opened_to,
        visible=visible,
        offset=(filters.page - 1) * page_size,
        limit=page_size,
    )
    return _page(session, rows, total, filters.page, page_size, participant_id)


def _page(
    session: Session,
    rows: Sequence[RiskAlert | EscalationRecord],
    total: int,
    page: int,
    page_size: int,
    participant_id: int | None,
) -> Page:
    ids = {row.participant_id for row in rows if row.participant_id is not None}
    people = (
        {p.id: p for p in session.scalars(select(Participant).where(Participant.id.in_(ids)))}
        if ids
        else {}
    )
    listed = [
        Listed(row, people.get(row.participant_id) if row.participant_id else None) for row in rows
    ]
    pages = max(1, -(-total // page_size))
    return Page(listed, total, page, pages, participant_id)


def officers(session: Session) -> list[Staff]:
    """The responsible officers, by name, for a list's officer filter."""
    rows, _ = list_staff(session, role=StaffRole.RESPONSIBLE_OFFICER, limit=500)
    return rows


def person_named(session: Session, label: str | None) -> str | None:
    """Who the records name: a name as written, or `staff:12` (the API's) as the person's name."""
    if label is None:
        return None
    found = _LABEL.match(label)
    if found is None:
        return label
    member = session.get(Staff, int(found.group(1)))
    return member.name if member is not None else label


@dataclass(frozen=True)
class AlertEvidence:
    """A contact behind an alert, as the alert page lists it (`words`: None unless the reader
    may read the participant's contacts)."""

    contact: Contact
    words: str | None


@dataclass(frozen=True)
class AlertView:
    """One alert as its page shows it."""

    alert: RiskAlert
    participant: Participant
    evidence: list[AlertEvidence]
    evidence_total: int  # all the contacts behind it; the page shows the newest few
    words_shown: bool
    escalation: EscalationRecord | None
    acknowledged_by: str | None
    resolved_by: str | None
    recipient: str | None
    may_act: bool  # acknowledge or resolve: alerts:write reaches him and it is not resolved


def alert_view(session: Session, actor: Actor, alert_id: int, now: dt.datetime) -> AlertView:
    """The alert, its evidence, whom it is about and its escalation (NotFound if none). Read
    it after `open_participant_record` allowed the person to see it."""
    alert = alerts.get(session, alert_id)
    participant = session.get_one(Participant, alert.participant_id)
    words = _reaches(session, actor, Permission.CONTACTS_READ, participant.id, now)
    contacts, evidence_total = alerts.latest_evidence(session, alert.id, MAX_EVIDENCE_SHOWN)
    escalation = session.get(EscalationRecord, alert.escalation_id) if alert.escalation_id else None
    officer = alerts.recipient(session, alert)
    return AlertView(
        alert=alert,
        participant=participant,
        evidence=[AlertEvidence(c, c.body if words else None) for c in contacts],
        evidence_total=evidence_total,
        words_shown=words,
        escalation=escalation,
        acknowledged_by=person_named(session, alert.acknowledged_by),
        resolved_by=person_named(session, alert.resolved_by),
        recipient=officer.name if officer is not None else None,
        may_act=alert.status != AlertStatus.RESOLVED
        and _reaches(session, actor, Permission.ALERTS_WRITE, participant.id, now),
    )


def alert_participant(session: Session, alert_id: int) -> int:
    """Whom the alert is about (NotFound if there is no such alert)."""
    return alerts.get(session, alert_id).participant_id


def _reaches(
    session: Session, actor: Actor, permission: Permission, participant_id: int, now: dt.datetime
) -> bool:
    extent = actor.extent(permission)
    if extent is None:
        return False
    if extent is Extent.ALL:
        return True  # every participant (outside one's own with the reason the page took)
    decided = caseloads.access(session, actor, permission, participant_id, now)
    return decided is not caseloads.Access.REFUSED


@dataclass(frozen=True)
class Happened:
    """One event of an escalation, in words: when, and what."""

    at: dt.datetime
    kind: str
    words: str


@dataclass(frozen=True)
class EscalationView:
    """One escalation as its page shows it."""

    record: EscalationRecord
    participant: Participant | None
    steps: int
    step: int  # counting from 1
    repeats: int
    events: list[Happened]
    notified: int
    alert_id: int | None
    acknowledged_by: str | None
    closed_by: str | None
    may_take: bool
    may_close: bool
    # The policy it follows (its copy, kept when it opened), in words.
    policy_words: tuple[str, ...] = ()


_CHANNELS: Final = {"sms": "texted", "voice": "rang", "call": "rang"}


def escalation_view(session: Session, actor: Actor, escalation_id: int) -> EscalationView:
    """The escalation, where it is in its policy and what happened to it (NotFound if none)."""
    record, _ = escalation_engine.load(session, escalation_id)
    participant = session.get(Participant, record.participant_id) if record.participant_id else None
    steps = record.policy.get("steps", []) if isinstance(record.policy, dict) else []
    repeat = record.policy.get("repeat", 0) if isinstance(record.policy, dict) else 0
    happened = escalation_engine.events(session, record.id)
    staff_ids = {e.detail.get("staff_id") for e in happened if isinstance(e.detail, dict)} - {None}
    names = (
        dict(session.execute(select(Staff.id, Staff.name).where(Staff.id.in_(staff_ids))).all())
        if staff_ids
        else {}
    )
    events = [_in_words(event, names, session) for event in happened]
    alert_id = record.subject_id if record.subject_type == alerts.SUBJECT_TYPE else None
    return EscalationView(
        record=record,
        participant=participant,
        steps=len(steps),
        step=min(record.step_index + 1, max(len(steps), 1)),
        repeats=int(repeat) if isinstance(repeat, int) else 0,
        events=events,
        notified=sum(1 for e in happened if e.kind == "notified"),
        alert_id=alert_id,
        acknowledged_by=person_named(session, record.acknowledged_by),
        closed_by=person_named(session, record.closed_by),
        may_take=may_take(session, actor, record),
        may_close=may_close(session, actor, record),
        policy_words=policy_words.copy_in_words(session, record.policy_name, record.policy),
    )


def _in_words(event: EscalationEvent, names: Mapping[int, str], session: Session) -> Happened:
    detail = event.detail if isinstance(event.detail, dict) else {}
    step = detail.get("step")
    at_step = f" (step {step + 1})" if isinstance(step, int) else ""
    by = person_named(session, detail.get("by")) or "someone"
    if event.kind == "notified":
        who = names.get(detail.get("staff_id") or 0, "a member of staff no longer listed")
        how = _CHANNELS.get(str(detail.get("channel")), "told")
        words = f"{how.capitalize()} {who}{at_step}"
    elif event.kind == "opened":
        words = "Opened"
    elif event.kind in ("acknowledged", "late_acknowledgement"):
        late = " (after the chain had run out)" if event.kind == "late_acknowledgement" else ""
        words = f"Taken by {by}{late}"
    elif event.kind == "closed":
        words = f"Closed by {by}"
    elif event.kind == "step_skipped":
        words = f"Step skipped{at_step}: {detail.get('reason') or 'nobody to ask'}"
    elif event.kind == "gap":
        words = f"Nobody on call to ask{at_step}"
    elif event.kind == "unanswered_incident":
        words = "Nobody took it: the duty managers were told"
    elif event.kind == "exhausted":
        words = "The chain ran out"
    elif event.kind == "overdue":
        words = "Overdue: the scheduler was behind"
    else:
        words = event.kind.replace("_", " ").capitalize()
    return Happened(event.at, event.kind, words)
