"""Legal holds on participants: while one is in place, no retention rule touches his records
(see docs/data-protection.md).

A participant is held while a LegalHold row of his has no `lifted_at`; the retention run reads
the table directly. A hold is placed and lifted with a reason, each written to the audit log in
the same transaction; a lifted hold is kept, so his record shows when it was held and why.
Placing and lifting are changes of his record: the entry points log them in the record access
log as they open it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from crisisline import audit
from crisisline.data_protection_models import LegalHold
from crisisline.errors import Conflict, NotFound
from crisisline.models import Participant
from crisisline.participant_corrections import checked_reason


def place(
    session: Session, participant_id: int, reason: str, *, actor: str, now: dt.datetime
) -> LegalHold:
    """Place a hold on the participant (InvalidInput naming `reason` for a missing or short
    reason; Conflict if one is already in place)."""
    given = checked_reason(reason)
    _lock(session, participant_id)
    held = current(session, participant_id)
    if held is not None:
        raise Conflict(
            f"A legal hold has been in place since {held.set_at:%Y-%m-%d %H:%M} UTC; "
            "lift it before placing another.",
            "legal_hold",
        )
    hold = LegalHold(participant_id=participant_id, reason=given, set_at=now, set_by=actor)
    session.add(hold)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="legal_hold_set",
        record_type="participant",
        record_id=participant_id,
        at=now,
        changes={"legal_hold": {"id": hold.id, "reason": given}},
    )
    return hold


def lift(
    session: Session, participant_id: int, reason: str, *, actor: str, now: dt.datetime
) -> LegalHold:
    """Lift the hold in place on the participant (InvalidInput naming `reason` for a missing
    or short reason; Conflict if none is in place)."""
    given = checked_reason(reason)
    _lock(session, participant_id)
    hold = current(session, participant_id)
    if hold is None:
        raise Conflict("There is no legal hold in place to lift.", "legal_hold")
    hold.lifted_at = now
    hold.lifted_by = actor
    hold.lift_reason = given
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="legal_hold_lifted",
        record_type="participant",
        record_id=participant_id,
        at=now,
        changes={"legal_hold": {"id": hold.id, "reason": given}},
    )
    return hold


def current(session: Session, participant_id: int) -> LegalHold | None:
    """The hold in place on the participant, if there is one."""
    return session.scalars(
        select(LegalHold)
        .where(LegalHold.participant_id == participant_id, LegalHold.lifted_at.is_(None))
        .order_by(LegalHold.id.desc())
    ).first()


def current_for(session: Session, participant_ids: Iterable[int]) -> dict[int, LegalHold]:
    """The hold in place on each of these participants that has one, by participant id."""
    ids = sorted(set(participant_ids))
    if not ids:
        return {}
    rows = session.scalars(
        select(LegalHold)
        .where(LegalHold.participant_id.in_(ids), LegalHold.lifted_at.is_(None))
        .order_by(LegalHold.id)
    )
    return {row.participant_id: row for row in rows}


def history(session: Session, participant_id: int) -> list[LegalHold]:
    """Every hold placed on the participant, lifted or not, newest first."""
    return list(
        session.scalars(
            select(LegalHold)
            .where(LegalHold.participant_id == participant_id)
            .order_by(LegalHold.set_at.desc(), LegalHold.id.desc())
        )
    )


def in_place(session: Session) -> list[tuple[LegalHold, Participant]]:
    """Every hold in place now, with its participant, by his reference."""
    return [
        (hold, participant)
        for hold, participant in session.execute(
            select(LegalHold, Participant)
            .join(Participant, Participant.id == LegalHold.participant_id)
            .where(LegalHold.lifted_at.is_(None))
            .order_by(Participant.reference, LegalHold.id)
        )
    ]


def _lock(session: Session, participant_id: int) -> None:
    # Two people placing a hold at once: the participant's row is locked (PostgreSQL; SQLite
    # takes one writer at a time) so that the second sees the first's hold and is refused.
    found = session.scalar(
        select(Participant.id).where(Participant.id == participant_id).with_for_update()
    )
    if found is None:
        raise NotFound(f"There is no participant with id {participant_id}.")
