"""Participants: men on licence who use the crisis line, found by any of their numbers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import ColumnElement, ScalarSelect, func, or_, select
from sqlalchemy.orm import Session, lazyload

from crisisline import audit, participant_corrections
from crisisline.errors import Conflict, InvalidInput, NotFound
from crisisline.models import (
    Participant,
    ParticipantPhone,
    ParticipantStatus,
    RiskLevel,
    Staff,
    StaffRole,
)


@dataclass(frozen=True)
class NewParticipant:
    """What is needed to add a participant (phones already in E.164)."""

    reference: str
    name: str
    phones: Sequence[str]
    responsible_officer_id: int | None
    risk_level: RiskLevel
    status: ParticipantStatus = ParticipantStatus.ACTIVE


def create(
    session: Session,
    new: NewParticipant,
    *,
    actor: str,
    now: dt.datetime,
    zone: dt.tzinfo | None = None,
) -> Participant:
    """Add a participant, refusing a reference or phone number that is already in use.

    One added already closed (an import of past participants) left the service today, in
    `zone` (the service's; the UTC day where a caller has none to give)."""
    _refuse_reference_taken(session, new.reference)
    _check_phones(session, new.phones)
    _check_officer(session, new.responsible_officer_id)
    participant = Participant(
        reference=new.reference,
        name=new.name,
        responsible_officer_id=new.responsible_officer_id,
        risk_level=new.risk_level,
        status=new.status,
        # Without a day, the retention schedule would never start counting for him.
        ended_service_on=now.astimezone(zone or dt.UTC).date()
        if new.status is ParticipantStatus.CLOSED
        else None,
        created_at=now,
        updated_at=now,
        phone_rows=[ParticipantPhone(number=n, position=i) for i, n in enumerate(new.phones)],
    )
    session.add(participant)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        record_type="participant",
        record_id=participant.id,
        at=now,
        changes=describe(participant),
    )
    return participant


def get(session: Session, participant_id: int) -> Participant:
    """The participant with `participant_id`, or NotFound."""
    participant = session.get(Participant, participant_id)
    if participant is None:
        raise NotFound(f"There is no participant with id {participant_id}.")
    return participant


def id_by_phone(session: Session, e164: str) -> int | None:
    """The id of the participant who holds this number, if anyone does (one indexed read)."""
    return session.scalar(
        select(ParticipantPhone.participant_id).where(ParticipantPhone.number == e164)
    )


def id_by_phone_subquery(number: ColumnElement[str]) -> ScalarSelect[int]:
    """`id_by_phone` as a scalar subquery on `number` (a column of the rows being written),
    for a statement that finds the participant while it writes (crisisline.call_intake,
    crisisline.sms_intake)."""
    return (
        select(ParticipantPhone.participant_id)
        .where(ParticipantPhone.number == number)
        .scalar_subquery()
    )


def find_by_phone(session: Session, e164: str) -> Participant | None:
    """The participant who holds this number, if anyone does."""
    # One statement: the participant's other numbers are loaded only if asked for.
    return session.scalars(
        select(Participant)
        .join(ParticipantPhone)
        .where(ParticipantPhone.number == e164)
        .options(lazyload(Participant.phone_rows))
    ).first()


def list_participants(
    session: Session,
    *,
    reference: str | None = None,
    name: str | None = None,
    phone: str | None = None,
    status: ParticipantStatus | None = None,
    responsible_officer_id: int | None = None,
    visible: ColumnElement[bool] | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Participant], int]:
    """A page of participants ordered by reference, and how many match in all.

    `reference` matches the whole reference in any case; `name` any part of the name in any
    case (% and _ are plain characters); `phone` (E.164) any of their numbers. `visible`
    limits the rows to those a reader's grant reaches (crisisline.caseloads).
    """
    query = select(Participant)
    if visible is not None:
        query = query.where(visible)
    if reference is not None:
        query = query.where(func.lower(Participant.reference) == reference.lower())
    if name is not None:
        query = query.where(Participant.name.icontains(name, autoescape=True))
    if phone is not None:
        query = query.where(Participant.phone_rows.any(ParticipantPhone.number == phone))
    if status is not None:
        query = query.where(Participant.status == status)
    if responsible_officer_id is not None:
        query = query.where(Participant.responsible_officer_id == responsible_officer_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Participant.reference, Participant.id).offset(offset).limit(limit)
    ).all()
    return list(rows), total


def search(
    session: Session,
    text: str,
    *,
    phone: str | None = None,
    visible: ColumnElement[bool] | None = None,
    offset: int = 0,
    limit: int = 25,
) -> tuple[list[Participant], int]:
    """A page of participants matching what a person typed, ordered by reference, and how many
    match in all: the whole reference in any case, any part of the name in any case (% and _
    are plain characters), or, when `phone` (the text read as a number, in E.164) is given,
    any of their numbers. An empty `text` matches everyone `visible` reaches."""
    query = select(Participant)
    if visible is not None:
        query = query.where(visible)
    words = text.strip()
    if words:
        matches: list[ColumnElement[bool]] = [
            func.lower(Participant.reference) == words.lower(),
            Participant.name.icontains(words, autoescape=True),
        ]
        if phone is not None:
            matches.append(
                Participant.id.in_(
                    select(ParticipantPhone.participant_id).where(ParticipantPhone.number == phone)
                )
            )
        query = query.where(or_(*matches))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Participant.reference, Participant.id).offset(offset).limit(limit)
    ).all()
    return list(rows), total


# The fields `update` takes; `ended_service_on` only with a closed status.
FIELDS: Final = (
    "reference",
    "name",
    "phones",
    "responsible_officer_id",
    "risk_level",
    "status",
    "ended_service_on",
)


def update(
    session: Session,
    participant_id: int,
    changes: dict[str, Any],
    *,
    actor: str,
    now: dt.datetime,
    zone: dt.tzinfo,
    reason: str = participant_corrections.NOT_GIVEN,
) -> Participant:
    """Apply `changes` (the FIELDS) and keep what changed, with `reason`, as a correction in the
    same transaction.

    Made inactive (closed), he gets an end-of-service date: `ended_service_on` if given, else
    today in `zone`; made active again, the date is cleared.
    """
    participant = get(session, participant_id)
    before = describe(participant)
    if "reference" in changes and changes["reference"] != participant.reference:
        _refuse_reference_taken(session, changes["reference"])
    if "phones" in changes:
        _check_phones(session, changes["phones"], except_id=participant.id)
    if "responsible_officer_id" in changes:
        _check_officer(session, changes["responsible_officer_id"])
    was = participant.status
    ended = _end_of_service(participant, was, changes, now=now, zone=zone)
    for name in ("reference", "name", "responsible_officer_id", "risk_level", "status"):
        if name in changes:
            setattr(participant, name, changes[name])
    participant.ended_service_on = ended
    if "phones" in changes:
        _replace_phones(session, participant, changes["phones"])
    participant.updated_at = now
    session.flush()
    diff = _audit_change(session, participant, before, actor=actor, now=now, action="update")
    participant_corrections.record(
        session, participant.id, diff, reason=reason, actor=actor, now=now
    )
    return participant


def close(
    session: Session,
    participant_id: int,
    *,
    actor: str,
    now: dt.datetime,
    zone: dt.tzinfo,
    ended_on: dt.date | None = None,
) -> Participant:
    """Mark a participant closed, his end of service `ended_on` (default: today in `zone`);
    their record and contacts are kept."""
    participant = get(session, participant_id)
    before = describe(participant)
    changes: dict[str, Any] = {"status": ParticipantStatus.CLOSED}
    if ended_on is not None:
        changes["ended_service_on"] = ended_on
    participant.ended_service_on = _end_of_service(
        participant, participant.status, changes, now=now, zone=zone
    )
    participant.status = ParticipantStatus.CLOSED
    participant.updated_at = now
    session.flush()
    _audit_change(session, participant, before, actor=actor, now=now, action="close")
    return participant


def _end_of_service(
    participant: Participant,
    was: ParticipantStatus,
    changes: dict[str, Any],
    *,
    now: dt.datetime,
    zone: dt.tzinfo,
) -> dt.date | None:
    """The end-of-service date the participant has after `changes` (InvalidInput naming
    `ended_service_on` for a date in the future, before he was added, or given to a man who
    stays or becomes active)."""
    status = changes.get("status", was)
    given: dt.date | None = changes.get("ended_service_on")
    if status is ParticipantStatus.ACTIVE:
        if given is not None:
            raise InvalidInput(
                "Only a closed participant has a date he left the service; set the status "
                "to closed, or leave the date empty.",
                "ended_service_on",
            )
        return None  # active again: he has not left
    today = now.astimezone(zone).date()
    if given is None:
        # Closed already: his day stays (an edit of his name is not a new end of service).
        return participant.ended_service_on if was is ParticipantStatus.CLOSED else today
    # The retention schedule counts from this day: a wrong one removes his data too early
    # (a day in the future is refused) or keeps it too long (before he was added, refused).
    if given > today:
        raise InvalidInput(
            f"The date he left the service cannot be after today ({today:%d/%m/%Y}).",
            "ended_service_on",
        )
    added = participant.created_at.astimezone(zone).date()
    if given < added:
        raise InvalidInput(
            f"The date he left the service cannot be before he was added ({added:%d/%m/%Y}).",
            "ended_service_on",
        )
    return given


def describe(participant: Participant) -> dict[str, Any]:
    """The fields of a participant as the audit log keeps them."""
    return {
        "reference": participant.reference,
        "name": participant.name,
        "phones": participant.phones,
        "responsible_officer_id": participant.responsible_officer_id,
        "risk_level": participant.risk_level.value,
        "status": participant.status.value,
        "ended_service_on": (
            participant.ended_service_on.isoformat() if participant.ended_service_on else None
        ),
    }


def _replace_phones(session: Session, participant: Participant, numbers: Sequence[str]) -> None:
    kept = {row.number: row for row in participant.phone_rows if row.number in numbers}
    participant.phone_rows = [row for row in participant.phone_rows if row.number in kept]
    # Flush the removals first so that a number moved between positions never trips the
    # unique constraint on its way through.
    session.flush()
    for position, number in enumerate(numbers):
        row = kept.get(number)
        if row is None:
            participant.phone_rows.append(ParticipantPhone(number=number, position=position))
        else:
            row.position = position


def _audit_change(
    session: Session,
    participant: Participant,
    before: dict[str, Any],
    *,
    actor: str,
    now: dt.datetime,
    action: str,
) -> dict[str, list[Any]]:
    after = describe(participant)
    diff = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    audit.record(
        session,
        actor=actor,
        action=action,
        record_type="participant",
        record_id=participant.id,
        at=now,
        changes=diff,
    )
    return diff


def _refuse_reference_taken(session: Session, reference: str) -> None:
    holder = session.scalars(select(Participant).where(Participant.reference == reference)).first()
    if holder is not None:
        raise Conflict(
            f"Reference {reference} is already used by participant {holder.id}.", "reference"
        )


def _check_phones(session: Session, numbers: Sequence[str], except_id: int | None = None) -> None:
    if not numbers:
        raise InvalidInput("A participant needs at least one phone number.", "phones")
    if len(set(numbers)) != len(numbers):
        raise InvalidInput("The same number is listed twice.", "phones")
    for number in numbers:
        holder = find_by_phone(session, number)
        if holder is not None and holder.id != except_id:
            raise Conflict(
                f"{number} already belongs to participant {holder.reference}; "
                "a number can identify only one participant.",
                "phones",
            )
        staff_holder = session.scalars(select(Staff).where(Staff.phone == number)).first()
        if staff_holder is not None:
            # A staff phone doubling as a participant's would route staff replies as crisis texts.
            raise Conflict(f"{number} is the phone of staff member {staff_holder.id}.", "phones")


def _check_officer(session: Session, officer_id: int | None) -> None:
    if officer_id is None:
        return
    officer = session.get(Staff, officer_id)
    if officer is None:
        raise InvalidInput(
            f"There is no member of staff with id {officer_id}.", "responsible_officer_id"
        )
    if not officer.active:
        raise InvalidInput(
            f"Staff member {officer_id} is inactive and cannot be a responsible officer.",
            "responsible_officer_id",
        )
    if not officer.has_role(StaffRole.RESPONSIBLE_OFFICER):
        raise InvalidInput(
            f"Staff member {officer_id} does not have the responsible_officer role.",
            "responsible_officer_id",
        )
