"""Subject access: requests tracked to their deadline, and the bundle of a participant's whole
record (see docs/data-protection.md, "Subject access requests").

A request is due one calendar month from the day it was received (the ICO's rule: the same day
of the next month, or that month's last day when it has no such day) and may be extended, for
a complex request, by up to two further months with a reason. Logging, extending, completing
and withdrawing a request are each written to the audit log.

The bundle is built in memory and never touches the disk: a zip holding `index.html` (a
readable, printable document), `data.json` (the same, for a machine) and `audio/<id>.mp3` for
every voicemail whose recording the provider still holds. It holds his record and nothing of
anyone else's:

- Staff are named by their role, not their name, unless SAR_STAFF_NAMES says otherwise.
- A number that is not one of his own (a member of staff's, a third party's, one taken off his
  record) is "[redacted]", in the contacts' numbers and inside every text written by anyone.
  The line's own number is shown as "the crisis line".
- A recording that cannot be fetched is listed as missing in both files, and the export says
  so, rather than the bundle silently lacking it.

Each export is written to the audit log (`sar.exported`) and the record access log (action
`export`, naming the request), and counted on the request.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any, Final
from zoneinfo import ZoneInfo

import phonenumbers
from dateutil.relativedelta import relativedelta
from jinja2 import Environment, FunctionLoader, StrictUndefined, select_autoescape
from phonenumbers import Leniency, PhoneNumberMatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from crisisline import audit, phones, record_access
from crisisline.alert_models import RiskAlert
from crisisline.data_protection_models import (
    LegalHold,
    ParticipantCorrection,
    SubjectAccessRequest,
    SubjectAccessStatus,
)
from crisisline.db import Database
from crisisline.errors import Conflict, InvalidInput, NotFound
from crisisline.models import (
    AuditEntry,
    Channel,
    Contact,
    ContactOutcome,
    Direction,
    Participant,
    RecordAccess,
    Staff,
    StaffRole,
)
from crisisline.note_models import ContactNote
from crisisline.permissions import Actor
from crisisline.record_access import Action, Origin
from crisisline.telephony import Telephony, TelephonyError

# crisisline.retention's REMOVED: text the retention schedule has removed reads exactly this.
# Written out because the retention run is a flow beside this one (neither imports the other).
REMOVED: Final = "[removed under the retention schedule]"
REDACTED: Final = "[redacted]"
THE_LINE: Final = "the crisis line"
FORMAT: Final = "crisisline-subject-access/1"
RECORD_TYPE: Final = "subject_access_request"
MAX_EXTENSION_MONTHS: Final = 2
SOON_DAYS: Final = 7  # a request due within this many days is flagged
DETAIL_MAX: Final = 2000
REASON_MIN: Final = 3
REASON_MAX: Final = 500
# One recording at a time, as the voicemail link fetches it: a two-minute message is well
# under 1 MB; a download that trickles on past the deadline is given up (listed as missing).
RECORDING_MAX_BYTES: Final = 20 * 1024 * 1024
RECORDING_DEADLINE_SECONDS: Final = 20.0
# A number inside a text: phonenumbers' "possible" matching finds the Ofcom drama-range numbers
# that its "valid" matching refuses; of those matches, a dialable number (valid, drama range, or
# nine digits and more) is redacted, while dates, references and public short codes (116 123,
# 999) are left as written.
_LONG_ENOUGH: Final = 9

ROLE_WORDS: Final = {
    StaffRole.ON_CALL: "on-call worker",
    StaffRole.DUTY_MANAGER: "duty manager",
    StaffRole.RESPONSIBLE_OFFICER: "responsible officer",
    StaffRole.CLINICAL_LEAD: "clinical lead",
    StaffRole.ADMIN: "administrator",
}
# Which of a person's roles names them, when they hold several.
_ROLE_ORDER: Final = (
    StaffRole.ON_CALL,
    StaffRole.DUTY_MANAGER,
    StaffRole.RESPONSIBLE_OFFICER,
    StaffRole.CLINICAL_LEAD,
    StaffRole.ADMIN,
)

OUTCOME_WORDS: Final = {
    ContactOutcome.RINGING: "staff were being rung",
    ContactOutcome.ANSWERED: "answered by a member of staff",
    ContactOutcome.MISSED: "nobody answered; you heard the crisis numbers",
    ContactOutcome.VOICEMAIL: "nobody answered; you left a voicemail",
    ContactOutcome.ABANDONED: "you hung up while staff were being rung",
    ContactOutcome.STAFF_CALL: "a member of staff called the line",
    ContactOutcome.CALL_BACK: "a member of staff called you back through the line",
    ContactOutcome.VOICEMAIL_HEARD: "your voicemail was heard",
    ContactOutcome.UNROUTED: "waiting to be passed to staff",
    ContactOutcome.ROUTING_FAILED: "not passed to staff at first; you were sent the crisis numbers",
    ContactOutcome.RECEIVED: "received",
    ContactOutcome.RELAYED: "passed to the staff on call",
    ContactOutcome.GATHERED: "received among many texts at once",
    ContactOutcome.UNREPLYABLE: "from a number that cannot be texted back",
    ContactOutcome.OPTED_OUT: "you asked for no more texts (STOP)",
    ContactOutcome.OPTED_IN: "you asked for texts again (START)",
    ContactOutcome.STAFF_RELAYED: "passed on to you",
    ContactOutcome.NOT_SENT: "not sent",
    ContactOutcome.NOT_SENT_OPTED_OUT: "not sent: you had asked for no more texts",
    ContactOutcome.NOT_SENT_NUMBER_REMOVED: "not sent: the number was no longer yours",
    ContactOutcome.SENT: "sent",
}

RECORD_WORDS: Final = {
    "participant": "your details",
    "contact": "a call or text",
    "contacts": "your calls and texts",
    "note": "a note",
    "alert": "a risk alert",
    "escalation": "an escalation",
    "voicemail": "a voicemail",
    "access_log": "this list of who saw your record",
    "follow_up": "a follow-up",
    "legal_hold": "a legal hold",
}

ACTION_WORDS: Final = {
    Action.READ: "saw",
    Action.CHANGE: "changed",
    Action.PLAY: "played",
    Action.EXPORT: "exported",
    Action.REFUSED: "asked for, and was refused,",
}


class RequestClosed(Conflict):
    """The request is completed or withdrawn: it cannot be changed (or exported, if withdrawn)."""


# ---- deadlines ----------------------------------------------------------------------------------


def due_date(received_on: dt.date) -> dt.date:
    """One calendar month from receipt: the same day of the next month, or that month's last
    day when it has none (31 January → 28 or 29 February)."""
    return received_on + relativedelta(months=1)


def extended_date(received_on: dt.date, months: int) -> dt.date:
    """The deadline extended by `months` (1 or 2) further months, counted from receipt so that
    a short month on the way does not shorten it (31 January + 3 months → 30 April)."""
    if not 1 <= months <= MAX_EXTENSION_MONTHS:
        raise InvalidInput(
            f"A request may be extended by 1 or {MAX_EXTENSION_MONTHS} further months.", "months"
        )
    return received_on + relativedelta(months=1 + months)


def deadline_of(request: SubjectAccessRequest) -> dt.date:
    """The day the request must be answered by (its extension's, if extended)."""
    return request.extended_to or request.due_on


@dataclass(frozen=True)
class Deadline:
    """How a request stands against its deadline on a given day."""

    due: dt.date
    days_left: int  # negative: overdue by that many days

    @property
    def overdue(self) -> bool:
        """Past its deadline."""
        return self.days_left < 0

    @property
    def soon(self) -> bool:
        """Due within SOON_DAYS days (and not yet overdue)."""
        return 0 <= self.days_left <= SOON_DAYS

    @property
    def words(self) -> str:
        """ "due in 5 days", "due today", "OVERDUE by 2 days"."""
        days = self.days_left
        if days < 0:
            return f"OVERDUE by {_days(-days)}"
        if days == 0:
            return "due today"
        if days == 1:
            return "due tomorrow"
        return f"due in {_days(days)}"


def _days(count: int) -> str:
    return "1 day" if count == 1 else f"{count} days"


def deadline(request: SubjectAccessRequest, today: dt.date) -> Deadline:
    """Where the request stands on `today` (the service's local date)."""
    due = deadline_of(request)
    return Deadline(due, (due - today).days)


# ---- requests -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestView:
    """A request with the participant's reference and its deadline as it stands today."""

    request: SubjectAccessRequest
    reference: str
    deadline: Deadline

    @property
    def open(self) -> bool:
        """Still to be answered."""
        return self.request.status == SubjectAccessStatus.OPEN


def participant_by_reference(session: Session, reference: str) -> Participant:
    """The participant with this reference; NotFound naming `participant` if none."""
    wanted = reference.strip()
    found = session.scalar(select(Participant).where(Participant.reference == wanted))
    if found is None or not wanted:
        raise NotFound(f"No participant has the reference {wanted!r}.", "participant")
    return found


def _checked_text(
    value: str | None, field_name: str, *, required: bool, longest: int
) -> str | None:
    text = " ".join((value or "").split())
    if not text:
        if required:
            raise InvalidInput("Say why: a reason is needed.", field_name)
        return None
    if required and len(text) < REASON_MIN:
        raise InvalidInput(f"A reason needs at least {REASON_MIN} characters.", field_name)
    if len(text) > longest:
        raise InvalidInput(f"At most {longest} characters (this has {len(text)}).", field_name)
    return text


def log_request(
    session: Session,
    *,
    reference: str,
    received_on: dt.date,
    detail: str | None,
    actor: str,
    now: dt.datetime,
    today: dt.date,
) -> SubjectAccessRequest:
    """Log a request received on `received_on` (not in the future) for the participant with
    this reference; audited as `sar.logged`."""
    participant = participant_by_reference(session, reference)
    if received_on > today:
        raise InvalidInput("The day it was received cannot be in the future.", "received")
    text = _checked_text(detail, "detail", required=False, longest=DETAIL_MAX)
    request = SubjectAccessRequest(
        participant_id=participant.id,
        received_on=received_on,
        due_on=due_date(received_on),
        status=SubjectAccessStatus.OPEN,
        logged_by=actor,
        logged_at=now,
        detail=text,
        exports=0,
    )
    session.add(request)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="sar.logged",
        record_type=RECORD_TYPE,
        record_id=request.id,
        at=now,
        changes={
            "participant_id": participant.id,
            "received_on": received_on.isoformat(),
            "due_on": request.due_on.isoformat(),
        },
    )
    return request


def get_request(session: Session, request_id: int) -> SubjectAccessRequest:
    """The request; NotFound naming `request` if there is none."""
    found = session.get(SubjectAccessRequest, request_id)
    if found is None:
        raise NotFound(f"There is no subject access request {request_id}.", "request")
    return found


def view(session: Session, request_id: int, today: dt.date) -> RequestView:
    """The request with its participant's reference and deadline."""
    request = get_request(session, request_id)
    reference = session.scalar(
        select(Participant.reference).where(Participant.id == request.participant_id)
    )
    return RequestView(request, reference or "", deadline(request, today))


def requests(session: Session, today: dt.date, *, only_open: bool = True) -> list[RequestView]:
    """Requests (open ones only, unless asked) soonest deadline first, closed ones after."""
    query = select(SubjectAccessRequest, Participant.reference).join(
        Participant, Participant.id == SubjectAccessRequest.participant_id
    )
    if only_open:
        query = query.where(SubjectAccessRequest.status == SubjectAccessStatus.OPEN)
    rows = [
        RequestView(request, reference, deadline(request, today))
        for request, reference in session.execute(query).all()
    ]
    rows.sort(key=lambda row: (not row.open, row.deadline.due, row.request.id))
    return rows


def _open(request: SubjectAccessRequest) -> None:
    if request.status != SubjectAccessStatus.OPEN:
        raise RequestClosed(f"Request {request.id} is {request.status.value}: it cannot change.")


def extend(
    session: Session, request_id: int, *, months: int, reason: str, actor: str, now: dt.datetime
) -> SubjectAccessRequest:
    """Extend an open request to `months` (1 or 2) further months past the first, with the
    reason (a complex request); audited as `sar.extended`."""
    request = get_request(session, request_id)
    _open(request)
    text = _checked_text(reason, "reason", required=True, longest=REASON_MAX)
    new_deadline = extended_date(request.received_on, months)
    if request.extended_to is not None and new_deadline <= request.extended_to:
        raise InvalidInput(
            f"It is already extended to {request.extended_to.isoformat()}: an extension can "
            f"only move the deadline later, to at most {MAX_EXTENSION_MONTHS} further months.",
            "months",
        )
    before = request.extended_to
    request.extended_to = new_deadline
    request.extension_reason = text
    audit.record(
        session,
        actor=actor,
        action="sar.extended",
        record_type=RECORD_TYPE,
        record_id=request.id,
        at=now,
        changes={
            "extended_to": [before.isoformat() if before else None, new_deadline.isoformat()],
            "reason": text,
        },
    )
    return request


def complete(
    session: Session, request_id: int, *, actor: str, now: dt.datetime
) -> SubjectAccessRequest:
    """Mark an open request answered (the bundle handed over); audited as `sar.completed`.
    Refused until the request has been exported at least once."""
    request = get_request(session, request_id)
    _open(request)
    if request.exports == 0:
        raise InvalidInput(
            "Export the bundle before marking the request complete: nothing has been exported.",
            "request",
        )
    return _close(session, request, SubjectAccessStatus.COMPLETED, "sar.completed", actor, now)


def withdraw(
    session: Session, request_id: int, *, reason: str, actor: str, now: dt.datetime
) -> SubjectAccessRequest:
    """Close an open request the participant withdrew, with the reason (kept in the audit
    log); audited as `sar.withdrawn`."""
    request = get_request(session, request_id)
    _open(request)
    text = _checked_text(reason, "reason", required=True, longest=REASON_MAX)
    return _close(
        session, request, SubjectAccessStatus.WITHDRAWN, "sar.withdrawn", actor, now, text
    )


def _close(
    session: Session,
    request: SubjectAccessRequest,
    status: SubjectAccessStatus,
    action: str,
    actor: str,
    now: dt.datetime,
    reason: str | None = None,
) -> SubjectAccessRequest:
    request.status = status
    request.closed_at = now
    request.closed_by = actor
    changes: dict[str, Any] = {"status": ["open", status.value]}
    if reason is not None:
        changes["reason"] = reason
    audit.record(
        session,
        actor=actor,
        action=action,
        record_type=RECORD_TYPE,
        record_id=request.id,
        at=now,
        changes=changes,
    )
    return request


@dataclass(frozen=True)
class Step:
    """One thing done with a request, from the audit log."""

    at: dt.datetime
    actor: str
    action: str
    changes: dict[str, Any]


def history(session: Session, request_id: int) -> list[Step]:
    """What was done with the request, oldest first (its audit entries)."""
    rows = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.record_type == RECORD_TYPE, AuditEntry.record_id == request_id)
        .order_by(AuditEntry.at, AuditEntry.id)
    ).all()
    return [Step(row.at, row.actor, row.action, dict(row.changes or {})) for row in rows]


# ---- redaction ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Redactor:
    """Hides every number that is not one of his own; the line's number reads as the line."""

    own: frozenset[str]
    line: str
    region: str

    def number(self, value: str | None) -> str | None:
        """A contact's number as the bundle shows it."""
        if not value:
            return None
        if value in self.own:
            return value
        if value == self.line:
            return THE_LINE
        return REDACTED

    def text(self, value: str | None) -> str | None:
        """Free text with every number in it that is not his own redacted (the retention
        schedule's marker shown as it is)."""
        if value is None or value == REMOVED:
            return value
        pieces: list[str] = []
        written = 0
        for match in PhoneNumberMatcher(value, self.region, leniency=Leniency.POSSIBLE):
            if not self._dialable(match.number):
                continue
            e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
            if e164 in self.own:
                continue
            pieces.append(value[written : match.start])
            pieces.append(REDACTED)
            written = match.end
        pieces.append(value[written:])
        return "".join(pieces)

    @staticmethod
    def _dialable(number: phonenumbers.PhoneNumber) -> bool:
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        national = phonenumbers.national_significant_number(number)
        return (
            phonenumbers.is_valid_number(number)
            or phones.is_drama_number(e164)
            or len(national) >= _LONG_ENOUGH
        )


# ---- the bundle ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recording:
    """A voicemail the provider still holds, to fetch into the bundle."""

    contact_id: int
    url: str = field(repr=False)

    @property
    def path(self) -> str:
        """Its file in the zip."""
        return f"audio/{self.contact_id}.mp3"


@dataclass(frozen=True)
class Gathered:
    """His record as the bundle holds it (data.json's content, with the audio still to fetch)."""

    data: dict[str, Any]
    recordings: list[Recording]
    participant_id: int
    request_id: int
    reference: str


class _People:
    """Staff as the bundle names them: by role, or with their name when policy allows."""

    def __init__(self, session: Session, with_names: bool) -> None:
        self.session = session
        self.with_names = with_names
        self._known: dict[int, str] = {}

    def load(self, ids: Iterable[int | None]) -> None:
        wanted = {i for i in ids if i is not None and i not in self._known}
        if not wanted:
            return
        for person in self.session.scalars(select(Staff).where(Staff.id.in_(wanted))):
            self._known[person.id] = self._words(person)

    def _words(self, person: Staff) -> str:
        held = set(person.roles)
        role = next((ROLE_WORDS[r] for r in _ROLE_ORDER if r in held), "member of staff")
        if self.with_names:
            return f"{person.name} ({role})"
        return f"a member of staff ({role})"

    def staff(self, staff_id: int | None) -> str | None:
        if staff_id is None:
            return None
        self.load([staff_id])
        return self._known.get(staff_id, "a member of staff")

    def actor(self, label: str | None) -> str:
        """An audit or access-log actor label (staff:12, integration:NAME, cli) in words."""
        text = label or ""
        kind, _, rest = text.partition(":")
        if kind == "staff" and rest.isdigit():
            return self.staff(int(rest)) or "a member of staff"
        if kind == "integration" and rest:
            return f"{rest} (a connected organisation's system)"
        if text == "cli":
            return "the service's administrator, on the server"
        if text.startswith(record_access.VOICEMAIL_LINK):
            return "staff on call, through the voicemail link texted to them"
        return "the crisis line service itself"


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return value.isoformat()


def _contact_kind(contact: Contact) -> str:
    if contact.channel == Channel.SMS:
        return "text"
    if contact.recording_url or contact.outcome == ContactOutcome.VOICEMAIL:
        return "voicemail"
    return "call"


def _outcome(value: str | None) -> str:
    if value is None:
        return "not recorded"
    try:
        return OUTCOME_WORDS.get(ContactOutcome(value), value.replace("_", " "))
    except ValueError:
        return value.replace("_", " ")


def gather(
    session: Session,
    request_id: int,
    *,
    now: dt.datetime,
    zone: ZoneInfo,
    region: str,
    line_number: str,
    staff_names: bool,
) -> Gathered:
    """Everything of his the bundle holds, for the request (RequestClosed if withdrawn)."""
    request = get_request(session, request_id)
    if request.status == SubjectAccessStatus.WITHDRAWN:
        raise RequestClosed(f"Request {request.id} was withdrawn: there is nothing to export.")
    man = session.get(Participant, request.participant_id)
    if man is None:  # the foreign key makes this impossible; said plainly all the same
        raise NotFound("The request's participant no longer exists.", "request")
    redact = Redactor(frozenset(man.phones), line_number, region)
    people = _People(session, staff_names)

    contacts = list(
        session.scalars(
            select(Contact)
            .where(Contact.participant_id == man.id)
            .order_by(Contact.started_at, Contact.id)
        )
    )
    notes = list(
        session.scalars(
            select(ContactNote)
            .where(ContactNote.participant_id == man.id)
            .order_by(ContactNote.contact_id, ContactNote.version)
        )
    )
    alerts = list(
        session.scalars(
            select(RiskAlert)
            .where(RiskAlert.participant_id == man.id)
            .order_by(RiskAlert.raised_at, RiskAlert.id)
        )
    )
    corrections = list(
        session.scalars(
            select(ParticipantCorrection)
            .where(ParticipantCorrection.participant_id == man.id)
            .order_by(ParticipantCorrection.at, ParticipantCorrection.id)
        )
    )
    holds = list(
        session.scalars(
            select(LegalHold)
            .where(LegalHold.participant_id == man.id)
            .order_by(LegalHold.set_at, LegalHold.id)
        )
    )
    seen = list(
        session.scalars(
            select(RecordAccess)
            .where(RecordAccess.participant_id == man.id)
            .order_by(RecordAccess.at, RecordAccess.id)
        )
    )
    people.load(
        [c.handled_by_staff_id for c in contacts]
        + [n.author_staff_id for n in notes]
        + [a.staff_id for a in seen]
        + [man.responsible_officer_id]
    )

    recordings = [Recording(c.id, c.recording_url) for c in contacts if c.recording_url]
    contact_rows = [_contact_row(c, redact, people) for c in contacts]
    note_rows = _note_rows(notes, redact, people)
    data: dict[str, Any] = {
        "format": FORMAT,
        "exported_at": _iso(now),
        "time_zone": zone.key,
        "request": {
            "id": request.id,
            "received_on": _iso(request.received_on),
            "due_on": _iso(request.due_on),
            "extended_to": _iso(request.extended_to),
        },
        "participant": {
            "reference": man.reference,
            "name": man.name,
            "phones": man.phones,
            "status": man.status.value,
            "risk_level": man.risk_level.value,
            "responsible_officer": (
                people.staff(man.responsible_officer_id)
                if man.responsible_officer_id is not None
                else None
            ),
            "on_record_since": _iso(man.created_at),
            "ended_service_on": _iso(man.ended_service_on),
            "details_removed_at": _iso(man.anonymised_at),
        },
        "contacts": contact_rows,
        "notes": note_rows,
        "alerts": [_alert_row(a, redact, people) for a in alerts],
        "corrections": [_correction_row(c, redact, people) for c in corrections],
        "legal_holds": [_hold_row(h, redact) for h in holds],
        "disclosures": [_disclosure_row(entry, people) for entry in seen],
        "voicemails_missing": [],
        "complete": True,
    }
    return Gathered(data, recordings, man.id, request.id, man.reference)


def _contact_row(contact: Contact, redact: Redactor, people: _People) -> dict[str, Any]:
    kind = _contact_kind(contact)
    inbound = contact.direction == Direction.INBOUND
    handled = people.staff(contact.handled_by_staff_id)
    if handled is None and kind == "text" and not inbound:
        handled = "the crisis line's automatic reply"
    row: dict[str, Any] = {
        "id": contact.id,
        "kind": kind,
        "channel": contact.channel.value,
        "direction": contact.direction.value,
        "started_at": _iso(contact.started_at),
        "answered_at": _iso(contact.answered_at),
        "ended_at": _iso(contact.ended_at),
        "wait_seconds": contact.wait_seconds,
        "duration_seconds": contact.duration_seconds,
        "from": redact.number(contact.from_number),
        "to": redact.number(contact.to_number),
        "outcome": contact.outcome,
        "outcome_words": _outcome(contact.outcome),
        "handled_by": handled,
        "text": redact.text(contact.body) if kind == "text" else None,
        "text_removed": contact.body == REMOVED,
        "pictures": len(contact.media_urls or ()),
        "voicemail": None,
    }
    if kind == "voicemail":
        row["voicemail"] = {
            "file": f"audio/{contact.id}.mp3" if contact.recording_url else None,
            "held": contact.recording_url is not None,
            "missing": False,
        }
    return row


def _note_rows(
    notes: Sequence[ContactNote], redact: Redactor, people: _People
) -> list[dict[str, Any]]:
    by_contact: dict[int, list[dict[str, Any]]] = {}
    for note in notes:
        by_contact.setdefault(note.contact_id, []).append(
            {
                "version": note.version,
                "written_at": _iso(note.written_at),
                "written_by": people.staff(note.author_staff_id) or people.actor(note.author),
                "what_happened": redact.text(note.what_happened),
                "risk_now": note.risk_now.value,
                "factors": redact.text(note.factors),
                "actions": [str(action).replace("_", " ") for action in note.actions or ()],
                "other_action": redact.text(note.other_action),
                "follow_up_wanted": note.follow_up_wanted,
                "follow_up_what": redact.text(note.follow_up_what),
                "correction_reason": redact.text(note.correction_reason),
            }
        )
    return [
        {"contact_id": contact_id, "versions": versions}
        for contact_id, versions in by_contact.items()
    ]


def _alert_row(alert: RiskAlert, redact: Redactor, people: _People) -> dict[str, Any]:
    return {
        "id": alert.id,
        "raised_at": _iso(alert.raised_at),
        "rule": alert.rule.replace("_", " "),
        "severity": alert.severity.value,
        "reason": redact.text(alert.reason),
        "times": alert.count,
        "status": alert.status.value,
        "sent_to": "his responsible officer"
        if alert.routed_to == "officer"
        else "the duty manager",
        "acknowledged_at": _iso(alert.acknowledged_at),
        # acknowledged_by holds a person's name: only the staff id is read, for the role.
        "acknowledged_by": (
            (people.staff(alert.acknowledged_by_staff_id) or "a member of staff")
            if alert.acknowledged_at is not None
            else None
        ),
        "resolved_at": _iso(alert.resolved_at),
        "resolution_note": redact.text(alert.resolution_note),
    }


def _correction_value(name: str, value: Any, redact: Redactor, people: _People) -> Any:
    if name == "phones" and isinstance(value, list):
        # A number no longer his may have been removed because it was someone else's.
        return [redact.number(str(number)) for number in value]
    if name == "responsible_officer_id":
        return people.staff(value) if isinstance(value, int) else None
    if isinstance(value, str):
        return redact.text(value)
    return value


def _correction_row(
    correction: ParticipantCorrection, redact: Redactor, people: _People
) -> dict[str, Any]:
    changes = {}
    for name, pair in sorted((correction.changes or {}).items()):
        before, after = pair if isinstance(pair, list) and len(pair) == 2 else (None, pair)
        label = "responsible_officer" if name == "responsible_officer_id" else name
        changes[label] = {
            "before": _correction_value(name, before, redact, people),
            "after": _correction_value(name, after, redact, people),
        }
    return {
        "at": _iso(correction.at),
        "by": people.actor(correction.actor),
        "reason": redact.text(correction.reason),
        "changes": changes,
    }


def _hold_row(hold: LegalHold, redact: Redactor) -> dict[str, Any]:
    return {
        "set_at": _iso(hold.set_at),
        "reason": redact.text(hold.reason),
        "lifted_at": _iso(hold.lifted_at),
        "lift_reason": redact.text(hold.lift_reason),
    }


def _disclosure_row(entry: RecordAccess, people: _People) -> dict[str, Any]:
    try:
        action = ACTION_WORDS.get(Action(entry.action), entry.action)
    except ValueError:
        action = entry.action
    return {
        "at": _iso(entry.at),
        "who": people.actor(entry.actor),
        "action": entry.action,
        "action_words": action,
        "record": entry.record_type,
        "record_words": RECORD_WORDS.get(entry.record_type, entry.record_type.replace("_", " ")),
    }


# ---- fetching the audio -------------------------------------------------------------------------


def fetch_audio(
    telephony: Telephony,
    recordings: Sequence[Recording],
    *,
    budget_seconds: float | None = None,
) -> tuple[dict[int, bytes], list[int]]:
    """The audio of each recording that can be fetched, by contact id, and the contact ids of
    those that cannot (a provider error, too large, too slow, or past `budget_seconds` for the
    whole export): never an exception."""
    audio: dict[int, bytes] = {}
    missing: list[int] = []
    started = time.monotonic()
    for recording in recordings:
        deadline = RECORDING_DEADLINE_SECONDS
        if budget_seconds is not None:
            deadline = min(deadline, budget_seconds - (time.monotonic() - started))
            if deadline <= 0:
                missing.append(recording.contact_id)
                continue
        try:
            audio[recording.contact_id] = telephony.fetch_recording(
                recording.url, max_bytes=RECORDING_MAX_BYTES, deadline_seconds=deadline
            )
        except TelephonyError:
            missing.append(recording.contact_id)
    return audio, missing


# ---- the zip ------------------------------------------------------------------------------------


def _template_source(name: str) -> str:
    return (files("crisisline") / "sar_templates" / name).read_text(encoding="utf-8")


_ENVIRONMENT: Final = Environment(
    loader=FunctionLoader(_template_source),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _local(zone: ZoneInfo) -> Any:
    def shown(value: str | None) -> str:
        if not value:
            return ""
        if len(value) == 10:  # a date
            day = dt.date.fromisoformat(value)
            return f"{day.day} {day:%B %Y}"
        at = dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(zone)
        return f"{at:%A} {at.day} {at:%B %Y, %H:%M}"

    return shown


def render_html(data: dict[str, Any], zone: ZoneInfo) -> str:
    """index.html: the bundle as a readable, printable document."""
    template = _ENVIRONMENT.get_template("sar_bundle.html")
    notes_by_contact = {entry["contact_id"]: entry["versions"] for entry in data["notes"]}
    return template.render(
        data=data,
        notes_by_contact=notes_by_contact,
        when=_local(zone),
        removed=REMOVED,
    )


def build_zip(
    gathered: Gathered, audio: dict[int, bytes], missing: Sequence[int], zone: ZoneInfo
) -> bytes:
    """The zip, in memory: index.html, data.json and each fetched recording's audio."""
    data = json.loads(json.dumps(gathered.data))  # a copy the missing recordings are marked in
    lost = set(missing)
    for row in data["contacts"]:
        voicemail = row.get("voicemail")
        if voicemail and row["id"] in lost:
            voicemail["missing"] = True
            voicemail["file"] = None
    data["voicemails_missing"] = sorted(lost)
    data["complete"] = not lost
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("index.html", render_html(data, zone))
        bundle.writestr("data.json", json.dumps(data, indent=2, ensure_ascii=False))
        for recording in gathered.recordings:
            if recording.contact_id in audio:
                # MP3 is compressed already: stored as it is.
                bundle.writestr(
                    recording.path, audio[recording.contact_id], compress_type=zipfile.ZIP_STORED
                )
    return buffer.getvalue()


# ---- the export ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Export:
    """A finished export: the zip's bytes, its file name and the recordings it lacks."""

    content: bytes
    filename: str
    request_id: int
    missing: list[int]

    @property
    def complete(self) -> bool:
        """Every voicemail the provider holds is in the bundle."""
        return not self.missing


def request_for(session: Session, reference: str, request_id: int | None) -> int:
    """The request an export answers: `request_id` if given (it must be his), else his one
    open request (InvalidInput naming `request` if he has none, or several)."""
    man = participant_by_reference(session, reference)
    if request_id is not None:
        request = get_request(session, request_id)
        if request.participant_id != man.id:
            raise InvalidInput(
                f"Request {request_id} is not {man.reference}'s: check the reference.", "request"
            )
        return request.id
    found = list(
        session.scalars(
            select(SubjectAccessRequest.id).where(
                SubjectAccessRequest.participant_id == man.id,
                SubjectAccessRequest.status == SubjectAccessStatus.OPEN,
            )
        )
    )
    if not found:
        raise InvalidInput(
            f"{man.reference} has no open subject access request: log the request first.",
            "request",
        )
    if len(found) > 1:
        raise InvalidInput(
            f"{man.reference} has {len(found)} open requests: name one with --request.",
            "request",
        )
    return found[0]


def export(
    db: Database,
    telephony: Telephony,
    request_id: int,
    *,
    actor: Actor | str,
    now: dt.datetime,
    zone: ZoneInfo,
    region: str,
    line_number: str,
    staff_names: bool,
    origin: Origin | None = None,
    budget_seconds: float | None = None,
) -> Export:
    """Build the request's bundle and log the export (audit log, record access log, and the
    request's count). The recordings are fetched between two short transactions, never while
    one is open; with `budget_seconds`, those not fetched within it are listed as missing."""
    with db.transaction() as session:
        gathered = gather(
            session,
            request_id,
            now=now,
            zone=zone,
            region=region,
            line_number=line_number,
            staff_names=staff_names,
        )
    audio, missing = fetch_audio(telephony, gathered.recordings, budget_seconds=budget_seconds)
    content = build_zip(gathered, audio, missing, zone)
    label = actor.label if isinstance(actor, Actor) else actor
    with db.transaction() as session:
        request = get_request(session, gathered.request_id)
        request.exports += 1
        request.last_exported_at = now
        audit.record(
            session,
            actor=label,
            action="sar.exported",
            record_type=RECORD_TYPE,
            record_id=request.id,
            at=now,
            changes={
                "participant_id": gathered.participant_id,
                "voicemails": len(gathered.recordings),
                "voicemails_missing": missing,
                "bytes": len(content),
            },
        )
        record_access.record(
            session,
            actor,
            action=Action.EXPORT,
            record_type="participant",
            record_id=gathered.participant_id,
            participant_id=gathered.participant_id,
            at=now,
            origin=origin or Origin(),
            reason=f"subject access request {request.id}",
        )
    stamp = now.astimezone(zone).strftime("%Y%m%d-%H%M")
    reference = "".join(c for c in gathered.reference if c.isascii() and (c.isalnum() or c in "-_"))
    filename = f"subject-access-{reference or 'participant'}-{request_id}-{stamp}.zip"
    return Export(content, filename, gathered.request_id, missing)
