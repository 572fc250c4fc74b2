"""Contacts: every call and text in or out, recorded once per Twilio SID against the participant."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crisisline.models import Channel, Contact, Direction


def by_sid(session: Session, twilio_sid: str) -> Contact | None:
    """The contact recorded for this CallSid or MessageSid, if any."""
    return session.scalars(select(Contact).where(Contact.twilio_sid == twilio_sid)).first()


def record(
    session: Session,
    *,
    channel: Channel,
    direction: Direction,
    from_number: str | None,
    to_number: str | None,
    twilio_sid: str | None,
    started_at: dt.datetime,
    participant_id: int | None,
    body: str | None = None,
    media_urls: Sequence[str] = (),
    outcome: str | None = None,
    handled_by_staff_id: int | None = None,
) -> tuple[Contact, bool]:
    """Record a contact once: a repeated Twilio SID returns the first record and False."""
    # No read before the insert: the unique SID decides, and a new contact (the common case,
    # on the path of every call) costs one statement.
    contact = Contact(
        channel=channel,
        direction=direction,
        from_number=from_number,
        to_number=to_number,
        twilio_sid=twilio_sid,
        started_at=started_at,
        participant_id=participant_id,
        body=body,
        media_urls=list(media_urls),
        outcome=outcome,
        handled_by_staff_id=handled_by_staff_id,
        created_at=started_at,
    )
    # A savepoint, so that losing a race with Twilio's retry of the same webhook leaves the
    # caller's transaction usable: the other request's record stands.
    savepoint = session.begin_nested()
    try:
        session.add(contact)
        session.flush()
        savepoint.commit()
    except IntegrityError:
        savepoint.rollback()
        existing = by_sid(session, twilio_sid) if twilio_sid else None
        if existing is None:
            raise
        return existing, False
    return contact, True
