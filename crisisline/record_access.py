"""The record access log: every read and change of a participant's record, by whom and why.

Append-only for the application: this module adds entries and reads them, and nothing in the
service updates or deletes one (on PostgreSQL a trigger refuses it). UK DPA 2018 s.62 asks a
controller to log consultation and disclosure of personal data processed for law enforcement.

The rules of reading a participant's record live here, free of any web framework, so that the
API and the console apply the same ones:

- A person reaches a participant plainly when he is their own (their officer, or someone
  handling or lately handling their contacts, `crisisline.caseloads`). Beyond that, a grant
  over every participant reaches him only with a reason ("break-glass"): given on first
  access in a console sign-in session and kept for the rest of it, or with every request
  made with a personal API token (which has no session). A grant that does not reach him at
  all refuses. Integrations act within their scopes and never give a reason.
- A list shows what the grant reaches (`caseloads.participant_filter`) and needs no reason,
  except a list narrowed to one named participant, which is reading his record.
- Every participant a request touches gets one entry: the record kind and id for one record,
  the kind alone for a list (one entry per participant, not per row).
"""

from __future__ import annotations

import datetime as dt
import enum
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from crisisline.caseloads import Access, access
from crisisline.conversation_models import SmsConversation
from crisisline.errors import DomainError, InvalidInput
from crisisline.escalation_models import EscalationRecord
from crisisline.models import Delivery, Participant, RecordAccess
from crisisline.permissions import Actor, Extent, Permission

VOICEMAIL_LINK: Final = "voicemail-link"
REASON_MIN: Final = 3
REASON_MAX: Final = 500

# What a delivery's subject names, and where that subject's participant is kept: a relayed
# text or a reply (an SMS conversation) and an escalation's texts and calls carry his words.
_DELIVERY_SUBJECTS: Final = {
    "sms_conversation": (SmsConversation.id, SmsConversation.participant_id),
    "escalation": (EscalationRecord.id, EscalationRecord.participant_id),
}


class Action(enum.StrEnum):
    """What was done with the record."""

    READ = "read"
    CHANGE = "change"
    PLAY = "play"  # a voicemail heard through its link
    EXPORT = "export"  # the access log itself, exported as CSV
    REFUSED = "refused"  # asked for a participant the grant does not reach: nothing was shown


class ReasonRequired(DomainError):
    """A person must give a reason to open this participant's record (break-glass)."""


class Refused(DomainError):
    """The grant does not reach this participant: the record is not shown."""


@dataclass(frozen=True)
class Origin:
    """Where a request came from: its address and user agent (None outside a request)."""

    address: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class Visit:
    """One request reading or changing records: who, when, from where, and any reason given."""

    actor: Actor
    at: dt.datetime
    origin: Origin = Origin()
    reason: str | None = None


def record(
    session: Session,
    actor: Actor | str,
    *,
    action: str,
    record_type: str,
    record_id: int | None,
    participant_id: int | None,
    at: dt.datetime,
    origin: Origin = Origin(),
    reason: str | None = None,
) -> RecordAccess:
    """Add one entry to the log (committed with the read or change it describes).

    `actor` is a request's actor, or a plain label for what acts with no sign-in (`cli`, a
    voicemail link)."""
    person = actor if isinstance(actor, Actor) else None
    entry = RecordAccess(
        at=at,
        actor=person.label if person is not None else str(actor),
        staff_id=person.staff_id if person is not None else None,
        token_id=person.token_id if person is not None else None,
        action=str(action),
        record_type=record_type,
        record_id=record_id,
        participant_id=participant_id,
        address=(origin.address or "")[:64] or None,
        user_agent=(origin.user_agent or "")[:255] or None,
        reason=reason,
        web_session_id=person.web_session_id if person is not None else None,
    )
    session.add(entry)
    return entry


def voicemail_played(
    session: Session, contact_id: int, participant_id: int | None, at: dt.datetime, origin: Origin
) -> RecordAccess:
    """Log a voicemail played through its link. The link is the same for everyone the
    missed-call escalation texted, so the entry names that escalation (whose deliveries say
    to whom it went) as `voicemail-link:escalation:ID`: it cannot name one person."""
    escalation_id = session.scalar(
        select(EscalationRecord.id)
        .where(
            EscalationRecord.subject_type == "missed_call",
            EscalationRecord.subject_id == contact_id,
        )
        .order_by(EscalationRecord.id)
        .limit(1)
    )
    label = (
        VOICEMAIL_LINK if escalation_id is None else f"{VOICEMAIL_LINK}:escalation:{escalation_id}"
    )
    return record(
        session,
        label,
        action=Action.PLAY,
        record_type="voicemail",
        record_id=contact_id,
        participant_id=participant_id,
        at=at,
        origin=origin,
    )


def checked_reason(text: str | None, field: str) -> str | None:
    """A break-glass reason as given (trimmed), None if none; InvalidInput naming `field` if it
    is shorter than REASON_MIN or longer than REASON_MAX characters or holds control codes."""
    if text is None:
        return None
    reason = text.strip()
    if not reason:
        return None
    if any(unicodedata.category(character) == "Cc" for character in reason):
        raise InvalidInput("A reason must be plain text on one line.", field)
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        raise InvalidInput(
            f"A reason must be {REASON_MIN} to {REASON_MAX} characters long "
            f"(this one has {len(reason)}).",
            field,
        )
    return reason


def earlier_reason(session: Session, actor: Actor, participant_id: int) -> str | None:
    """The reason this console sign-in session already gave for the participant, if any."""
    if actor.web_session_id is None:
        return None  # a personal API token has no session: each request gives its own
    return session.scalar(
        select(RecordAccess.reason)
        .where(
            RecordAccess.web_session_id == actor.web_session_id,
            RecordAccess.participant_id == participant_id,
            RecordAccess.reason.is_not(None),
        )
        .order_by(RecordAccess.id)
        .limit(1)
    )


def reason_needed(
    session: Session,
    actor: Actor,
    participant_id: int,
    now: dt.datetime,
    permission: Permission = Permission.PARTICIPANTS_READ,
) -> bool:
    """Whether opening the participant's record needs a reason before it is shown: it lies
    outside the person's own and none was given earlier in this sign-in session."""
    if access(session, actor, permission, participant_id, now) is not Access.WITH_REASON:
        return False
    return earlier_reason(session, actor, participant_id) is None


def open_record(
    session: Session,
    visit: Visit,
    permission: Permission,
    *,
    record_type: str,
    record_id: int | None,
    participant_id: int | None,
    action: Action = Action.READ,
) -> RecordAccess | None:
    """Check that the visit may use `permission` on the participant's record, and log it.

    Raises Refused when the grant does not reach him and ReasonRequired when it reaches him
    only with a reason and none has been given; nothing is logged then (a refusal is logged
    by `refusal`, in a transaction of its own). A record about no participant (an unknown
    caller's) is not logged.
    """
    if participant_id is None:
        # About no participant (an unknown caller, a rota gap): nothing to log, but a grant
        # limited to some participants reaches only theirs.
        if visit.actor.extent(permission) is not Extent.ALL:
            raise Refused("The record is outside your grant.")
        return None
    reason = _reason_for(session, visit, permission, participant_id)
    return record(
        session,
        visit.actor,
        action=action,
        record_type=record_type,
        record_id=record_id,
        participant_id=participant_id,
        at=visit.at,
        origin=visit.origin,
        reason=reason,
    )


def _reason_for(
    session: Session, visit: Visit, permission: Permission, participant_id: int
) -> str | None:
    decided = access(session, visit.actor, permission, participant_id, visit.at)
    if decided is Access.REFUSED:
        raise Refused("The participant's record is outside your grant.")
    if decided is Access.OWN:
        return None
    return _break_glass(session, visit, participant_id)


def _break_glass(session: Session, visit: Visit, participant_id: int) -> str:
    reason = visit.reason or earlier_reason(session, visit.actor, participant_id)
    if reason is None:
        raise ReasonRequired(
            "This participant is not in your caseload or your recent contacts: give the "
            "reason you need his record to open it (break-glass; the reason is logged)."
        )
    return reason


def refusal(
    session: Session,
    visit: Visit,
    *,
    record_type: str,
    record_id: int | None,
    participant_id: int | None,
) -> RecordAccess:
    """Log an attempt to open a record the grant does not reach (nothing was shown)."""
    return record(
        session,
        visit.actor,
        action=Action.REFUSED,
        record_type=record_type,
        record_id=record_id,
        participant_id=participant_id,
        at=visit.at,
        origin=visit.origin,
    )


def list_read(
    session: Session,
    visit: Visit,
    permission: Permission,
    *,
    record_type: str,
    participant_ids: Iterable[int | None],
    named: Iterable[int] = (),
    action: Action = Action.READ,
) -> list[RecordAccess]:
    """Log a list: one entry per participant in it. A participant the request `named` (a list
    narrowed to him) is reading his record: break-glass applies, as in `open_record`, but a
    grant that does not reach him shows an empty list rather than refusing."""
    reasons: dict[int, str | None] = {}
    for participant_id in dict.fromkeys(named):
        decided = access(session, visit.actor, permission, participant_id, visit.at)
        if decided is Access.WITH_REASON:
            reasons[participant_id] = _break_glass(session, visit, participant_id)
    return [
        record(
            session,
            visit.actor,
            action=action,
            record_type=record_type,
            record_id=None,
            participant_id=participant_id,
            at=visit.at,
            origin=visit.origin,
            reason=reasons.get(participant_id),
        )
        for participant_id in dict.fromkeys(participant_ids)
        if participant_id is not None
    ]


def delivery_participants(
    session: Session, deliveries: Sequence[Delivery]
) -> dict[int, int | None]:
    """The participant each delivery is about (through its subject), by delivery id."""
    found: dict[int, int | None] = {delivery.id: None for delivery in deliveries}
    for subject_type, (id_column, participant_column) in _DELIVERY_SUBJECTS.items():
        subject_ids = {
            d.subject_id
            for d in deliveries
            if d.subject_type == subject_type and d.subject_id is not None
        }
        if not subject_ids:
            continue
        owners: dict[int, int | None] = dict(
            session.execute(
                select(id_column, participant_column).where(id_column.in_(subject_ids))
            ).all()
        )
        for delivery in deliveries:
            if delivery.subject_type == subject_type and delivery.subject_id is not None:
                found[delivery.id] = owners.get(delivery.subject_id)
    return found


@dataclass(frozen=True)
class LogQuery:
    """What to read from the log: any of a participant (by id or reference), an actor label or
    a staff member, a window [since, until), an action."""

    participant_id: int | None = None
    participant_reference: str | None = None
    actor: str | None = None
    staff_id: int | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    action: Action | None = None


def _participant_asked(session: Session, query: LogQuery) -> int | None:
    if query.participant_reference is None:
        return query.participant_id
    found = session.scalar(
        select(Participant.id).where(
            func.lower(Participant.reference) == query.participant_reference.lower()
        )
    )
    if found is None:
        raise InvalidInput(
            f"No participant has the reference {query.participant_reference!r}.", "participant"
        )
    if query.participant_id is not None and query.participant_id != found:
        raise InvalidInput(
            f"The reference {query.participant_reference!r} is not participant "
            f"{query.participant_id}: give one or the other.",
            "participant",
        )
    return int(found)


def _selected(session: Session, query: LogQuery) -> Select[RecordAccess]:
    conditions: list[ColumnElement[bool]] = []
    participant_id = _participant_asked(session, query)
    if participant_id is not None:
        conditions.append(RecordAccess.participant_id == participant_id)
    if query.actor is not None:
        conditions.append(RecordAccess.actor == query.actor)
    if query.staff_id is not None:
        conditions.append(RecordAccess.staff_id == query.staff_id)
    if query.since is not None:
        conditions.append(RecordAccess.at >= query.since)
    if query.until is not None:
        conditions.append(RecordAccess.at < query.until)
    if query.action is not None:
        conditions.append(RecordAccess.action == query.action.value)
    return select(RecordAccess).where(*conditions)


def find(
    session: Session, query: LogQuery, *, offset: int = 0, limit: int | None = 50
) -> tuple[list[RecordAccess], int]:
    """A page of entries, newest first, and how many match in all (`limit` None: every one).

    InvalidInput naming `participant` if a reference names nobody: an empty answer would read
    as "nobody has seen his record"."""
    selected = _selected(session, query)
    total = session.scalar(select(func.count()).select_from(selected.subquery())) or 0
    ordered = selected.order_by(RecordAccess.at.desc(), RecordAccess.id.desc()).offset(offset)
    if limit is not None:
        ordered = ordered.limit(limit)
    return list(session.scalars(ordered)), total


def log_read(
    session: Session,
    visit: Visit | str,
    entries: Sequence[RecordAccess],
    query: LogQuery,
    *,
    at: dt.datetime,
    export: bool = False,
) -> list[RecordAccess]:
    """Log a reading of the log itself: it says whose records people have seen. One entry per
    participant among `entries` (or one for the participant asked about, or for nobody, when
    it found none); action `export` for a CSV export."""
    participants: list[int | None] = list(
        dict.fromkeys(e.participant_id for e in entries if e.participant_id is not None)
    )
    if not participants:
        participants = [_participant_asked(session, query)]
    actor = visit.actor if isinstance(visit, Visit) else visit
    origin = visit.origin if isinstance(visit, Visit) else Origin()
    return [
        record(
            session,
            actor,
            action=Action.EXPORT if export else Action.READ,
            record_type="access_log",
            record_id=None,
            participant_id=participant_id,
            at=at,
            origin=origin,
        )
        for participant_id in participants
    ]


# A spreadsheet runs a cell that starts with one of these as a formula: a reason or a user
# agent typed by anyone must not run in the auditor's spreadsheet (OWASP "CSV injection").
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object | None) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


CSV_COLUMNS: Final = (
    "id",
    "at",
    "actor",
    "staff_id",
    "token_id",
    "action",
    "record_type",
    "record_id",
    "participant_id",
    "reason",
    "address",
    "user_agent",
    "web_session_id",
)


def csv_row(entry: RecordAccess) -> list[str]:
    """One entry as the CSV export's row, in CSV_COLUMNS order (times in UTC)."""
    values: list[object | None] = [
        entry.id,
        entry.at.astimezone(dt.UTC).isoformat(),
        entry.actor,
        entry.staff_id,
        entry.token_id,
        entry.action,
        entry.record_type,
        entry.record_id,
        entry.participant_id,
        entry.reason,
        entry.address,
        entry.user_agent,
        entry.web_session_id,
    ]
    return [_cell(value) for value in values]
