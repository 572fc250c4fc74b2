"""Contacts: every call and text in or out, recorded once per Twilio SID against the participant."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import Any, NotRequired, TypedDict, Unpack, cast

from sqlalchemy import Insert, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crisisline.db import attach_inserted, new_row, row_values, save
from crisisline.models import Channel, Contact, Direction


def by_sid(session: Session, twilio_sid: str) -> Contact | None:
    """The contact recorded for this CallSid or MessageSid, if any."""
    return session.scalars(select(Contact).where(Contact.twilio_sid == twilio_sid)).first()


@functools.cache
def _insert_once(dialect_name: str) -> Insert:
    """INSERT ... ON CONFLICT (twilio_sid) DO NOTHING RETURNING id, for this dialect."""
    table = cast(Table, Contact.__table__)
    if dialect_name == "postgresql":
        statement: Insert = postgresql.insert(table).on_conflict_do_nothing(
            index_elements=[table.c.twilio_sid]
        )
    else:
        statement = sqlite.insert(table).on_conflict_do_nothing(index_elements=[table.c.twilio_sid])
    return statement.returning(table.c.id)


class NewContact(TypedDict):
    """The fields of a contact as it is first recorded (the rest are filled in later)."""

    channel: Channel
    direction: Direction
    from_number: str | None
    to_number: str | None
    twilio_sid: str | None
    started_at: dt.datetime
    participant_id: int | None
    body: NotRequired[str | None]
    media_urls: NotRequired[Sequence[str]]
    outcome: NotRequired[str | None]
    handled_by_staff_id: NotRequired[int | None]


def build(**fields: Unpack[NewContact]) -> Contact:
    """A new contact, not yet written, with every column as `record` writes it."""
    return Contact(**new_contact_row(**fields))


def new_contact_row(**fields: Unpack[NewContact]) -> dict[str, Any]:
    """The row of a new contact, by column: what `build` and `record` write."""
    return new_row(
        Contact,
        **{**fields, "media_urls": list(fields.get("media_urls", ()))},
        created_at=fields["started_at"],
    )


def record(session: Session, **fields: Unpack[NewContact]) -> tuple[Contact, bool]:
    """Record a contact once: a repeated Twilio SID returns the first record and False."""
    contact = build(**fields)
    twilio_sid = contact.twilio_sid
    if twilio_sid is None:
        save(session, contact)
        return contact, True
    # No read before the insert and no savepoint: the unique SID decides in one statement
    # (INSERT ... ON CONFLICT DO NOTHING). On PostgreSQL a concurrent retry of the same webhook
    # waits for the first to commit and then inserts nothing; the caller's transaction stays
    # usable either way, and the first record stands.
    session.flush()  # anything pending first, as the ORM would before any statement
    statement = _insert_once(session.get_bind().dialect.name)
    # Core, with the statement built once: on the path of every call and text.
    new_id = session.connection().execute(statement, row_values(contact)).scalar()
    if new_id is None:
        existing = by_sid(session, twilio_sid)
        if existing is None:  # pragma: no cover - the conflict means a row holds this SID
            raise RuntimeError("a contact conflicted on its SID but none holds it")
        return existing, False
    # The row is written: the object becomes the session's record of it, not read back.
    attach_inserted(session, contact, new_id)
    return contact, True
