"""A text to the crisis number is taken in with one write, and routed by the scheduler.

`POST /webhooks/sms` only records the text, once per MessageSid, with outcome `unrouted`, and
answers Twilio at once with empty TwiML. On PostgreSQL that is one statement committed on its
own (`crisisline.one_statement`): the contact, with the participant found by the same
statement; texts that reach this process together share one statement and its commit
(`crisisline.group_commit`), and any of them refused with others is recorded alone. The
scheduler's `route-texts` job (every second) then routes each unrouted text,
oldest first and each in its own transaction, exactly as a text was routed inside the webhook
before: conversation, acknowledgement, relay to on-call, staff commands, opt-outs, risk rules
(`crisisline.sms_conversations.route_unrouted`). Every reply goes through the outbox, which the
same scheduler sends, so nothing a texter or a worker sees waits longer than it did.

Why: a text is on the record before anything else can fail (a routing fault no longer rolls
the text back with it), Twilio never waits on routing (locks held by the escalation sweep, a
slow rota), and the webhook costs one write. A text whose routing fails is kept and tried
again, and its sender is sent the crisis numbers once (`routing_failed`).
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any, cast

from sqlalchemy import String, Table, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert

from crisisline import group_commit, one_statement, participants, sms_conversations
from crisisline.contacts import new_contact_row
from crisisline.db import Database
from crisisline.models import Contact


def take_in(
    db: Database,
    text: sms_conversations.InboundText,
    now: dt.datetime,
    deadline: float | None = None,
) -> int | None:
    """Record `text` to be routed; its contact's id, or None if its MessageSid was already
    recorded (Twilio retried). A lost connection is tried again on a fresh one until
    `deadline` (time.monotonic; default `db.deadline()`)."""
    if deadline is None:
        deadline = db.deadline()

    def alone(session: Session) -> int | None:
        return sms_conversations.keep_unrouted(session, text, now)

    if not one_statement.supported(db):
        return db.in_transaction(alone, deadline)
    fields = sms_conversations.unrouted_fields(text, now)
    row = {f"contact_{key}": value for key, value in new_contact_row(**fields).items()}
    row["sender"] = text.from_number
    try:
        written = group_commit.group(db, _statement()).write(
            text.message_sid, group_commit.encode(row), deadline
        )
    except group_commit.Refused:
        # Written with other texts and refused, nothing written: record it alone.
        return db.in_transaction(alone, deadline)
    return None if written is None else int(written[0])


# Written by the statement itself, not taken from the row.
_FOUND = {"id", "participant_id"}


@functools.cache
def _statement() -> ReturningInsert[Any]:
    """INSERT INTO contacts (...) SELECT ..., (the sender's participant) FROM (the rows)
    ON CONFLICT (twilio_sid) DO NOTHING RETURNING twilio_sid, id."""
    contacts = cast(Table, Contact.__table__)
    columns = [c for c in contacts.c if c.key not in _FOUND]
    types: dict[str, Any] = {"sender": String()}
    types.update({f"contact_{c.key}": c.type for c in columns})
    incoming = group_commit.recordset(types)
    return (
        postgresql.insert(contacts)
        .from_select(
            [*columns, contacts.c.participant_id],
            select(
                *(incoming.c[f"contact_{c.key}"] for c in columns),
                participants.id_by_phone_subquery(incoming.c.sender),
            ),
        )
        .on_conflict_do_nothing(index_elements=[contacts.c.twilio_sid])
        .returning(contacts.c.twilio_sid, contacts.c.id)
    )
