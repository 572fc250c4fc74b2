"""The text intake queue: a text to the crisis number is taken in with one write, kept until
the scheduler routes it, and routed to the staff commands or to its conversation.

`POST /webhooks/sms` only records the text, once per MessageSid, with outcome `unrouted`, and
answers Twilio at once with empty TwiML. On PostgreSQL that is one statement committed on its
own (`crisisline.one_statement`): the contact, with the participant found by the same
statement; texts that reach this process together share one statement and its commit
(`crisisline.group_commit`), and any of them refused with others is recorded alone. The
scheduler's `route-texts` job (every second) then routes each unrouted text
(`route_unrouted`), oldest first and each in its own transaction, exactly as a text was routed
inside the webhook before: a text from an active staff phone is a staff command
(`crisisline.sms_commands`), anything else a participant's text (`crisisline.sms_conversations`:
conversation, acknowledgement, relay to on-call, opt-outs), or one gathered into a flood. Every
reply goes through the outbox, which the same scheduler sends, so nothing a texter or a worker
sees waits longer than it did.

Why: a text is on the record before anything else can fail (a routing fault no longer rolls
the text back with it), Twilio never waits on routing (locks held by the escalation sweep, a
slow rota), and the webhook costs one write. A text whose routing fails is kept and tried
again for a day, and its sender is sent the crisis numbers once (`routing_failed`); /healthz
reports texts waiting too long (`oldest_unrouted`) and texts given up on (`given_up`).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
from dataclasses import dataclass
from typing import Any, Final, cast

from sqlalchemy import String, Table, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert
from sqlalchemy.sql.elements import ColumnElement

from crisisline import (
    contacts,
    floods,
    group_commit,
    one_statement,
    participants,
    phones,
    sms_commands,
    sms_conversations,
    wakeups,
)
from crisisline import staff as staff_service
from crisisline.contacts import new_contact_row
from crisisline.db import Database
from crisisline.models import (
    UNROUTED_PREDICATE,
    Channel,
    Contact,
    ContactOutcome,
    Direction,
    Participant,
    Staff,
)
from crisisline.telephony import MAX_SMS_BODY_CHARACTERS
from escalation import Reach
from wording.callers import CrisisMessages

log = logging.getLogger(__name__)

RETRY_UNROUTED_FOR: Final = dt.timedelta(hours=24)

# Twilio delivers at most 1600 characters; anything longer did not come from Twilio.
MAX_BODY: Final = MAX_SMS_BODY_CHARACTERS
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class InboundText:
    """A text to the crisis number, as Twilio posted it (numbers already parsed)."""

    message_sid: str
    from_number: str | None  # E.164, or None for a sender that cannot be texted back
    from_raw: str
    to_number: str | None
    body: str
    media_urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class Handled:
    """What the service did with one inbound text."""

    contact_id: int
    kind: str  # participant | staff | unreplyable | gathered
    conversation_id: int | None = None


def clean_body(raw: str) -> str:
    """A body safe to store and relay: control characters removed, at most 1600 characters."""
    # PostgreSQL text cannot hold NUL; other control characters only confuse handsets.
    return _CONTROL.sub("", raw)[:MAX_BODY]


# ---- taking a text in -----------------------------------------------------------------------


def _inbound(text: InboundText, now: dt.datetime) -> contacts.NewContact:
    return contacts.NewContact(
        channel=Channel.SMS,
        direction=Direction.INBOUND,
        from_number=text.from_number or text.from_raw.strip()[:20] or None,
        to_number=text.to_number,
        twilio_sid=text.message_sid,
        started_at=now,
        participant_id=None,
        body=text.body,
        media_urls=text.media_urls,
    )


def unrouted_fields(text: InboundText, now: dt.datetime) -> contacts.NewContact:
    """The contact of a text just taken in, waiting to be routed (its participant not set)."""
    fields = _inbound(text, now)
    fields["outcome"] = ContactOutcome.UNROUTED
    return fields


def keep_unrouted(session: Session, text: InboundText, now: dt.datetime) -> int | None:
    """Record a text to be routed by `route_unrouted`, once per MessageSid, on the sender's
    record at once. The new contact's id, or None when this MessageSid was already recorded."""
    fields = unrouted_fields(text, now)
    if text.from_number:
        fields["participant_id"] = participants.id_by_phone(session, text.from_number)
    contact, created = contacts.record(session, **fields)
    if created:
        wakeups.soon(session, wakeups.Work.TEXTS)
    return contact.id if created else None


def take_in(
    db: Database,
    text: InboundText,
    now: dt.datetime,
    deadline: float | None = None,
) -> int | None:
    """Record `text` to be routed; its contact's id, or None if its MessageSid was already
    recorded (Twilio retried). A lost connection is tried again on a fresh one until
    `deadline` (time.monotonic; default `db.deadline()`)."""
    if deadline is None:
        deadline = db.deadline()

    def alone(session: Session) -> int | None:
        return keep_unrouted(session, text, now)

    if not one_statement.supported(db):
        return db.in_transaction(alone, deadline)
    fields = unrouted_fields(text, now)
    row = {f"contact_{key}": value for key, value in new_contact_row(**fields).items()}
    row["sender"] = text.from_number
    try:
        written = group_commit.group(db, _statement()).write(
            text.message_sid, group_commit.encode(row), deadline
        )
    except group_commit.Refused:
        # Written with other texts and refused, nothing written: record it alone.
        return db.in_transaction(alone, deadline)
    if written is None:
        return None
    # Committed by the group's statement: the scheduler routes it now, not at its next sweep.
    db.wakes.committed(wakeups.Work.TEXTS, db.autocommit_engine)
    return int(written[0])


# Written by the statement itself, not taken from the row.
_FOUND = {"id", "participant_id"}


@functools.cache
def _statement() -> ReturningInsert[Any]:
    """INSERT INTO contacts (...) SELECT ..., (the sender's participant) FROM (the rows)
    ON CONFLICT (twilio_sid) DO NOTHING RETURNING twilio_sid, id."""
    table = cast(Table, Contact.__table__)
    columns = [c for c in table.c if c.key not in _FOUND]
    types: dict[str, Any] = {"sender": String()}
    types.update({f"contact_{c.key}": c.type for c in columns})
    incoming = group_commit.recordset(types)
    return (
        postgresql.insert(table)
        .from_select(
            [*columns, table.c.participant_id],
            select(
                *(incoming.c[f"contact_{c.key}"] for c in columns),
                participants.id_by_phone_subquery(incoming.c.sender),
            ),
        )
        .on_conflict_do_nothing(index_elements=[table.c.twilio_sid])
        .returning(table.c.twilio_sid, table.c.id)
    )


# ---- texts waiting to be routed -------------------------------------------------------------


def _unrouted() -> tuple[ColumnElement[bool], ...]:
    """Inbound texts not (yet) routed, whenever they came in."""
    return (
        # Written out as in the partial index ix_contacts_unrouted, so that the planner can
        # use it (bound parameters would hide the match).
        UNROUTED_PREDICATE,
        Contact.channel == Channel.SMS,
        Contact.direction == Direction.INBOUND,
    )


def _waiting(now: dt.datetime) -> tuple[ColumnElement[bool], ...]:
    """Inbound texts waiting to be routed (or to be tried again), from the last day. Older ones
    are left alone: a day on, a relay would mislead more than help; they stay on the record."""
    return (*_unrouted(), Contact.started_at > now - RETRY_UNROUTED_FOR)


def unrouted_ids(session: Session, now: dt.datetime) -> list[int]:
    """The texts waiting to be routed, oldest first."""
    return list(session.scalars(select(Contact.id).where(*_waiting(now)).order_by(Contact.id)))


# A text still unrouted this long after the webhook took it in means the route-texts job is
# not running or not keeping up: /healthz says so (the job runs every second).
ROUTING_OVERDUE: Final = dt.timedelta(seconds=60)


def oldest_unrouted(session: Session, now: dt.datetime) -> tuple[int, dt.datetime | None]:
    """How many texts from the last day wait to be routed (or tried again), and when the
    oldest came in."""
    count, oldest = session.execute(
        select(func.count(Contact.id), func.min(Contact.started_at)).where(*_waiting(now))
    ).one()
    return int(count), oldest


# A text given up on (not routed within RETRY_UNROUTED_FOR) is reported by /healthz for this
# long after: a person must read it and answer the sender. Then the warning clears by itself;
# the text stays on the record.
GIVEN_UP_SHOWN_FOR: Final = dt.timedelta(days=7)


def given_up(session: Session, now: dt.datetime) -> int:
    """How many texts were never routed and are no longer tried (they came in more than a day
    ago, less than `GIVEN_UP_SHOWN_FOR` before that): each reached nobody."""
    count = session.scalar(
        select(func.count(Contact.id)).where(
            *_unrouted(),
            Contact.started_at <= now - RETRY_UNROUTED_FOR,
            Contact.started_at > now - RETRY_UNROUTED_FOR - GIVEN_UP_SHOWN_FOR,
        )
    )
    return int(count or 0)


# ---- routing a text -------------------------------------------------------------------------


def _sender(session: Session, phone: str | None) -> tuple[Staff | None, Participant | None]:
    """The active member of staff whose phone this is, or else the participant's, if any."""
    sender = staff_service.active_by_phone(session, phone)
    if phone is None or sender is not None:
        return sender, None
    return None, participants.find_by_phone(session, phone)


def _route(
    session: Session,
    contact: Contact,
    phone: str | None,
    sender: Staff | None,
    participant: Participant | None,
    now: dt.datetime,
    reach: Reach,
    messages: CrisisMessages,
    rules: floods.FloodRules,
) -> Handled:
    if sender is not None:
        sms_commands.StaffCommands(session, sender, contact, now, reach).handle(contact.body or "")
        return Handled(contact.id, "staff", contact.conversation_id)
    if phone is None:
        # A short code or an alphanumeric sender: not a person's phone, and nothing can be
        # sent back to it. Kept on the record; nobody is paged for it.
        contact.outcome = ContactOutcome.UNREPLYABLE
        log.warning("sms %s from a sender that cannot be texted back; recorded", contact.id)
        return Handled(contact.id, "unreplyable")
    if participant is None and sms_conversations.gathered_into_flood(
        session, contact, phone, now, reach, messages, rules
    ):
        return Handled(contact.id, "gathered")
    conversation = sms_conversations.on_participant_text(
        session, contact, phone, participant, now, reach, messages, rules
    )
    return Handled(contact.id, "participant", conversation.id if conversation is not None else None)


def route_unrouted(
    session: Session,
    contact_id: int,
    now: dt.datetime,
    reach: Reach,
    messages: CrisisMessages,
    region: str,
    rules: floods.FloodRules = floods.DEFAULT_RULES,
) -> Handled | None:
    """Route a kept text as if it had just arrived; None if it is no longer unrouted (another
    process took it). The row is locked first, so it is routed once."""
    contact = session.get(Contact, contact_id, with_for_update=True)
    if contact is None or contact.outcome not in (
        ContactOutcome.UNROUTED,
        ContactOutcome.ROUTING_FAILED,
    ):
        return None
    phone = phones.caller_number(contact.from_number, region)
    sender, participant = _sender(session, phone)
    contact.outcome = ContactOutcome.RECEIVED
    contact.participant_id = participant.id if participant is not None else None
    contact.handled_by_staff_id = sender.id if sender is not None else None
    return _route(session, contact, phone, sender, participant, now, reach, messages, rules)


def routing_failed(
    session: Session,
    contact_id: int,
    now: dt.datetime,
    reach: Reach,
    messages: CrisisMessages,
    region: str,
    rules: floods.FloodRules = floods.DEFAULT_RULES,
) -> bool:
    """Routing this text failed (and was rolled back): mark it, and the first time send its
    sender the crisis numbers (unless they cannot be texted, or are not a participant and
    the automatic-reply limits hold it back). True the first time."""
    contact = session.get(Contact, contact_id, with_for_update=True)
    if contact is None or contact.outcome != ContactOutcome.UNROUTED:
        return False
    contact.outcome = ContactOutcome.ROUTING_FAILED
    phone = phones.caller_number(contact.from_number, region)
    if phone is not None:
        sms_conversations.send_crisis_numbers(
            session, phone, contact.participant_id, now, reach, messages, rules
        )
    return True
