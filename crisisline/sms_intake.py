"""A text to the crisis number is taken in with one write, and routed by the scheduler.

`POST /webhooks/sms` only records the text, once per MessageSid, with outcome `unrouted`, and
answers Twilio at once with empty TwiML. On PostgreSQL that is one statement committed on its
own (`crisisline.one_statement`): the contact, with the participant found by the same
statement. The scheduler's `route-texts` job (every second) then routes each unrouted text,
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

from sqlalchemy import Insert, Table, bindparam, select
from sqlalchemy.dialects import postgresql

from crisisline import one_statement, participants, sms_conversations
from crisisline.contacts import new_contact_row
from crisisline.db import Database
from crisisline.models import Contact


def take_in(db: Database, text: sms_conversations.InboundText, now: dt.datetime) -> int | None:
    """Record `text` to be routed; its contact's id, or None if its MessageSid was already
    recorded (Twilio retried)."""
    if not one_statement.supported(db):
        with db.transaction() as session:
            return sms_conversations.keep_unrouted(session, text, now)
    fields = sms_conversations.unrouted_fields(text, now)
    row = {key: value for key, value in new_contact_row(**fields).items() if value is not None}
    row.pop("participant_id", None)  # found by the statement itself
    params: dict[str, Any] = {f"contact_{key}": value for key, value in row.items()}
    params["sender"] = text.from_number
    written = one_statement.run(db, _statement(tuple(row)), params)
    return None if written is None else int(written[0])


@functools.cache
def _statement(keys: tuple[str, ...]) -> Insert:
    """INSERT INTO contacts (...) SELECT ..., (the sender's participant) ON CONFLICT
    (twilio_sid) DO NOTHING RETURNING id; columns not in `keys` are NULL."""
    contacts = cast(Table, Contact.__table__)
    participant = participants.id_by_phone_subquery("sender")
    columns = [c for c in contacts.c if c.key in keys or c.key == "participant_id"]
    values = [
        participant if c.key == "participant_id" else bindparam(f"contact_{c.key}", type_=c.type)
        for c in columns
    ]
    return (
        postgresql.insert(contacts)
        .from_select(columns, select(*values))
        .on_conflict_do_nothing(index_elements=[contacts.c.twilio_sid])
        .returning(contacts.c.id)
    )
