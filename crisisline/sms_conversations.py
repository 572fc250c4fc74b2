"""Crisis texts: a masked two-way SMS conversation between a participant and on-call staff.

A participant's text opens (or joins) the conversation of their number. The first text opens a
`crisis-sms` escalation, whose steps relay the participant's words to the on-call staff from the
crisis number with a reply code; the participant gets one short acknowledgement. Staff reply
from their own phones to the crisis number (`3 I'm here`), and the service relays the words to
the participant from the crisis number, so no staff number is ever shown. The first staff reply
takes the escalation, which stops it climbing and tells the others who took it. See docs/sms.md.

Every text in and out is a `Contact` on the participant's record, linked to its conversation.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import func, select
from sqlalchemy import text as sql_text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload
from sqlalchemy.sql.elements import ColumnElement, TextClause

import wording.staff
from crisisline import (
    alerts,
    contacts,
    escalation_engine,
    floods,
    outbox,
    participants,
    phones,
    rota_service,
    sms_opt_outs,
)
from crisisline import staff as staff_service
from crisisline.conversation_models import SmsConversation
from crisisline.crisis_messages import CrisisMessages
from crisisline.db import Database
from crisisline.errors import DomainError
from crisisline.escalation_models import EscalationCode, EscalationRecord
from crisisline.models import (
    UNROUTED_PREDICATE,
    Channel,
    Contact,
    Delivery,
    Direction,
    Participant,
    Staff,
)
from crisisline.phones import redact
from crisisline.risk_rules import RiskRules
from crisisline.telephony import MAX_SMS_BODY_CHARACTERS, split_for_sms
from escalation import ByOperator, ByPhone, OutgoingText, Reach

log = logging.getLogger(__name__)

POLICY: Final = "crisis-sms"
SUBJECT_TYPE: Final = "sms_conversation"
SERVICE: Final = wording.staff.SERVICE

# Outbox purposes, so each kind of text can be found and counted.
ACKNOWLEDGEMENT: Final = "sms_acknowledgement"
FALLBACK: Final = "sms_fallback"
RELAY_TO_STAFF: Final = "sms_relay"
STAFF_REPLY: Final = "sms_staff_reply"
STAFF_NOTICE: Final = "sms_staff_notice"

# Automatic replies (the acknowledgement, the fallback) to any one number: at most one per
# interval, so a flood of texts, or a loop with another automatic responder, stays quiet.
AUTO_REPLY_INTERVAL: Final = dt.timedelta(minutes=10)
# Twilio delivers at most 1600 characters; anything longer did not come from Twilio.
MAX_BODY: Final = MAX_SMS_BODY_CHARACTERS
# A relayed text is cut into parts of up to three segments (one message on most handsets);
# enough parts that a 1600-character emoji text is never cut short.
SEGMENTS_PER_PART: Final = 3
MAX_PARTS: Final = 30
# A participant's text in a conversation taken by someone now off call, who has not written in
# it for this long, goes to whoever is on call now (a shift ended without a handover).
HANDOVER_GRACE: Final = dt.timedelta(minutes=30)
# What a newly notified person is sent of the conversation so far.
HISTORY_TEXTS: Final = 5


def subject_of(conversation: SmsConversation) -> outbox.Subject:
    """The conversation as what its relays and replies are about: retried while it is open."""
    return outbox.Subject(SUBJECT_TYPE, conversation.id)


def _settled(session: Session, conversation_id: int) -> str | None:
    status = session.scalar(
        select(SmsConversation.status).where(SmsConversation.id == conversation_id)
    )
    return f"sms conversation {conversation_id} was closed" if status == "closed" else None


outbox.register_subject(SUBJECT_TYPE, _settled)

# Contact outcomes.
RECEIVED: Final = "received"
RELAYED: Final = "relayed"
OPTED_OUT: Final = "opted_out"
OPTED_IN: Final = "opted_in"
SENT: Final = "sent"
STAFF_COMMAND: Final = "staff_command"
STAFF_RELAYED: Final = "staff_relayed"
NOT_SENT: Final = "not_sent"
NOT_SENT_OPTED_OUT: Final = "not_sent_opted_out"
NOT_SENT_NUMBER_REMOVED: Final = "not_sent_number_removed"
UNREPLYABLE: Final = "unreplyable_sender"
# A text from an unknown number during a flood: gathered into the flood's one escalation.
GATHERED: Final = floods.GATHERED
# Recorded by the webhook, waiting for the scheduler to route it (crisisline.sms_intake).
UNROUTED: Final = "unrouted"
# Routing it failed at least once (a bug, the database failing mid-way): its sender has been
# sent the crisis numbers, and the scheduler goes on trying to route it for a day.
ROUTING_FAILED: Final = "routing_failed"
RETRY_UNROUTED_FOR: Final = dt.timedelta(hours=24)

# "3 I'm here" or "3: I'm here": a reply code, then the words for the participant.
_CODE_MESSAGE: Final = re.compile(r"\s*([0-9]{1,4})(?:\s*[:.,)\-]\s*|\s+)(\S.*)", re.DOTALL)
_ONLY_DIGITS: Final = re.compile(r"\s*[0-9]{1,4}\s*[.!]?\s*")
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


# ---- taking a text in, and routing it (crisisline.sms_intake) ---------------------------


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
        StaffCommands(session, sender, contact, now, reach).handle(contact.body or "")
        return Handled(contact.id, "staff", contact.conversation_id)
    if phone is None:
        # A short code or an alphanumeric sender: not a person's phone, and nothing can be
        # sent back to it. Kept on the record; nobody is paged for it.
        contact.outcome = UNREPLYABLE
        log.warning("sms %s from a sender that cannot be texted back; recorded", contact.id)
        return Handled(contact.id, "unreplyable")
    if participant is None and _gathered(session, contact, phone, now, reach, messages, rules):
        return Handled(contact.id, "gathered")
    conversation = _participant_text(
        session, contact, phone, participant, now, reach, messages, rules
    )
    return Handled(contact.id, "participant", conversation.id if conversation is not None else None)


# ---- texts waiting to be routed ----------------------------------------------------------------


def unrouted_fields(text: InboundText, now: dt.datetime) -> contacts.NewContact:
    """The contact of a text just taken in, waiting to be routed (its participant not set)."""
    fields = _inbound(text, now)
    fields["outcome"] = UNROUTED
    return fields


def keep_unrouted(session: Session, text: InboundText, now: dt.datetime) -> int | None:
    """Record a text to be routed by `route_unrouted`, once per MessageSid, on the sender's
    record at once. The new contact's id, or None when this MessageSid was already recorded."""
    fields = unrouted_fields(text, now)
    if text.from_number:
        fields["participant_id"] = participants.id_by_phone(session, text.from_number)
    contact, created = contacts.record(session, **fields)
    return contact.id if created else None


def _unrouted() -> tuple[ColumnElement[bool] | TextClause, ...]:
    """Inbound texts not (yet) routed, whenever they came in."""
    return (
        # Written out as in the partial index ix_contacts_unrouted, so that the planner can
        # use it (bound parameters would hide the match).
        sql_text(UNROUTED_PREDICATE),
        Contact.channel == Channel.SMS,
        Contact.direction == Direction.INBOUND,
    )


def _waiting(now: dt.datetime) -> tuple[ColumnElement[bool] | TextClause, ...]:
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
    if contact is None or contact.outcome != UNROUTED:
        return False
    contact.outcome = ROUTING_FAILED
    phone = phones.caller_number(contact.from_number, region)
    if phone is not None and not sms_opt_outs.is_opted_out(session, phone):
        known = contact.participant_id is not None
        if not _reply_held_back(session, phone, known, now, rules):
            body = messages.fallback_sms
            _send_text(
                session, phone, contact.participant_id, body, FALLBACK, now, reach, staff_id=None
            )
    return True


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
    if contact is None or contact.outcome not in (UNROUTED, ROUTING_FAILED):
        return None
    phone = phones.caller_number(contact.from_number, region)
    sender, participant = _sender(session, phone)
    contact.outcome = RECEIVED
    contact.participant_id = participant.id if participant is not None else None
    contact.handled_by_staff_id = sender.id if sender is not None else None
    return _route(session, contact, phone, sender, participant, now, reach, messages, rules)


# ---- participants' texts --------------------------------------------------------------------


def _participant_text(
    session: Session,
    contact: Contact,
    phone: str,
    participant: Participant | None,
    now: dt.datetime,
    reach: Reach,
    messages: CrisisMessages,
    rules: floods.FloodRules,
) -> SmsConversation | None:
    body = contact.body or ""
    participant_id = participant.id if participant is not None else None
    conversation = open_conversation(session, phone, now)
    kind = sms_opt_outs.keyword(body)
    if kind == "opt_out":
        sms_opt_outs.opt_out(session, phone, body.strip().upper(), now, participant_id)
        contact.outcome = OPTED_OUT
        log.info("sms %s: %s opted out of texts", contact.id, redact(phone))
        if conversation is not None:
            _join(conversation, contact, now)
            who = describe_sender(participant, phone)
            _tell_staff(
                session,
                conversation,
                opted_out_notice(who, body.strip().upper()),
                now,
                reach,
            )
        return conversation
    note = None
    if kind == "opt_in":
        was_out = sms_opt_outs.opt_in(session, phone, body.strip().upper(), now, participant_id)
        note = OPTED_IN_NOTE if was_out else None
        # START alone asks only for texts again; YES may well be an answer, so it is relayed.
        if conversation is None and body.strip().upper() != "YES":
            contact.outcome = OPTED_IN
            return None
    if conversation is None:
        return _start_conversation(
            session, contact, phone, participant, now, reach, messages, rules
        )
    _join(conversation, contact, now)
    contact.outcome = RELAYED
    if _handed_over(session, conversation, now):
        _escalate_again(session, conversation, participant, phone, now, reach)
        return conversation
    if sms_opt_outs.is_opted_out(session, phone) and note is None:
        note = "They texted STOP, so texts to them are blocked: call them to reply."
    _relay_to_staff(session, conversation, contact, participant, phone, now, reach, note)
    return conversation


def _handed_over(session: Session, conversation: SmsConversation, now: dt.datetime) -> bool:
    """True if whoever took the conversation has gone off call and gone quiet in it."""
    escalation = _escalation(session, conversation)
    if escalation is not None and escalation.status == "exhausted":
        # The whole chain ran out and nobody took it: a new text must be chased afresh, not
        # only relayed to the people who already let it run out.
        return True
    taken_by = handler_id(session, conversation)
    if escalation is None or escalation.status != "acknowledged" or taken_by is None:
        return False
    if not _is_active_staff(session, taken_by):
        return True  # deactivated: hand over at once, no grace period
    last = conversation.last_staff_message_at or escalation.acknowledged_at
    if last is not None and now - last < HANDOVER_GRACE:
        return False
    return not is_on_call(session, taken_by, now)


def _is_active_staff(session: Session, staff_id: int) -> bool:
    # Roles are not needed to know whether someone is active: not loaded.
    person = session.get(Staff, staff_id, options=[lazyload(Staff.role_rows)])
    return person is not None and person.active


def is_on_call(session: Session, staff_id: int, now: dt.datetime) -> bool:
    """True if the member of staff is active and on call on any rota at `now`."""
    if not _is_active_staff(session, staff_id):
        return False
    rotas, _ = rota_service.list_rotas(session)
    for rota in rotas:
        try:
            on_call = rota_service.on_call(session, rota.id, now)
        except DomainError:
            continue
        if any(person.id == staff_id for person in on_call.staff):
            return True
    return False


def _escalate_again(
    session: Session,
    conversation: SmsConversation,
    participant: Participant | None,
    phone: str,
    now: dt.datetime,
    reach: Reach,
) -> None:
    """Chase it afresh to whoever is on call now.

    Why: the worker who took it is off shift or inactive, the old chase ran out, or (from
    chase_quiet_takers) the participant has waited too long for the taker's reply.
    """
    old = _escalation(session, conversation)
    taken_by = handler_id(session, conversation)
    who = describe_sender(participant, phone)
    ran_out = old is not None and old.status == "exhausted"
    quiet = (
        old is not None
        and old.status == "acknowledged"
        and taken_by is not None
        and (is_on_call(session, taken_by, now))
    )
    if old is not None:
        # A chase that ran out is replaced, not finished: "No action needed" would be false.
        escalation_engine.close_escalation(
            session,
            old.id,
            ByOperator("crisis line (chased again)" if ran_out else "crisis line (handed over)"),
            now,
            reach,
            tell_others=not ran_out,
        )
    if taken_by is not None and not ran_out:
        former = session.get(Staff, taken_by)
        if former is not None and former.active:
            body = handed_over_notice(who, quiet=quiet)
            outbox.enqueue_sms(
                session,
                to=former.phone,
                from_=reach.from_number,
                body=body,
                purpose=STAFF_NOTICE,
                now=now,
            )
    conversation.handled_by_staff_id = None
    record = _open_chase(session, conversation, who, now, reach)
    conversation.escalation_id = record.id
    log.info("sms conversation %s handed over: escalation %s opened", conversation.id, record.id)


QUIET_TAKER_MINUTES = 10


def chase_quiet_takers(db: Database, now: dt.datetime, reach: Reach) -> int:
    """Chase afresh any taken conversation whose participant has waited 10 minutes for a reply.

    Taking a conversation stops its escalation; without this, a worker who took it and then
    fell asleep (still on call) would leave every later plea on one silent phone.
    """
    chased = 0
    with db.transaction() as session:
        rows = session.scalars(
            select(SmsConversation)
            .join(EscalationRecord, EscalationRecord.id == SmsConversation.escalation_id)
            .where(SmsConversation.status == "open", EscalationRecord.status == "acknowledged")
        ).all()
        for conversation in rows:
            waiting_since = session.scalar(
                select(func.max(Contact.started_at)).where(
                    Contact.conversation_id == conversation.id,
                    Contact.direction == Direction.INBOUND,
                    Contact.handled_by_staff_id.is_(None),
                )
            )
            escalation = _escalation(session, conversation)
            answered = conversation.last_staff_message_at or (
                escalation.acknowledged_at if escalation else None
            )
            if waiting_since is None or (answered is not None and answered >= waiting_since):
                continue
            if now - waiting_since < dt.timedelta(minutes=QUIET_TAKER_MINUTES):
                continue
            participant = (
                session.get(Participant, conversation.participant_id)
                if conversation.participant_id
                else None
            )
            _escalate_again(session, conversation, participant, conversation.phone, now, reach)
            chased += 1
    return chased


def _open_chase(
    session: Session, conversation: SmsConversation, who: str, now: dt.datetime, reach: Reach
) -> EscalationRecord:
    """The conversation's crisis-sms escalation, opened now (its first step fires at once)."""
    return escalation_engine.open_escalation(
        session,
        policy_name=POLICY,
        subject_type=SUBJECT_TYPE,
        subject_id=conversation.id,
        participant_id=conversation.participant_id,
        summary=f"Crisis text from {who}",
        now=now,
        reach=reach,
    )


def open_conversation(session: Session, phone: str, now: dt.datetime) -> SmsConversation | None:
    """The number's open conversation; one whose escalation was closed is closed here too."""
    conversation = session.scalars(
        select(SmsConversation).where(
            SmsConversation.phone == phone, SmsConversation.status == "open"
        )
    ).first()
    if conversation is None:
        return None
    escalation = _escalation(session, conversation)
    if escalation is not None and escalation.status == "closed":
        close_conversation(conversation, now, by=escalation.closed_by, reason="closed_by_staff")
        session.flush()
        return None
    return conversation


def _join(conversation: SmsConversation, contact: Contact, now: dt.datetime) -> None:
    contact.conversation_id = conversation.id
    conversation.last_message_at = now


def _start_conversation(
    session: Session,
    contact: Contact,
    phone: str,
    participant: Participant | None,
    now: dt.datetime,
    reach: Reach,
    messages: CrisisMessages,
    rules: floods.FloodRules,
) -> SmsConversation:
    conversation = SmsConversation(
        phone=phone,
        participant_id=participant.id if participant is not None else None,
        status="open",
        opened_at=now,
        last_message_at=now,
    )
    savepoint = session.begin_nested()
    try:
        session.add(conversation)
        savepoint.commit()
    except IntegrityError:
        # Another text from this number opened it a moment ago (one open per number): join.
        savepoint.rollback()
        existing = open_conversation(session, phone, now)
        if existing is None:
            raise
        _join(existing, contact, now)
        contact.outcome = RELAYED
        _relay_to_staff(session, existing, contact, participant, phone, now, reach, None)
        return existing
    contact.conversation_id = conversation.id
    contact.outcome = RELAYED
    _take_up_gathered(session, conversation, now)
    session.flush()
    who = describe_sender(participant, phone)
    # The first step's notification texts come from the hook below: the participant's words.
    record = _open_chase(session, conversation, who, now, reach)
    conversation.escalation_id = record.id
    reached = _notified_codes(session, record.id)
    log.info(
        "sms conversation %s opened for %s; escalation %s notified %s",
        conversation.id,
        redact(phone),
        record.id,
        len(reached),
    )
    if sms_opt_outs.is_opted_out(session, phone):
        return conversation
    if reached:
        _auto_reply(
            session,
            conversation,
            messages.sms_acknowledgement,
            ACKNOWLEDGEMENT,
            now,
            reach,
            rules,
        )
    else:
        # Nobody could be texted at all (an empty rota): promising "a worker will reply"
        # would be false, so the participant gets the crisis numbers instead, at once.
        log.error("sms conversation %s: nobody on call to relay to", conversation.id)
        _auto_reply(session, conversation, messages.fallback_sms, FALLBACK, now, reach, rules)
    return conversation


def _auto_reply(
    session: Session,
    conversation: SmsConversation,
    body: str,
    purpose: str,
    now: dt.datetime,
    reach: Reach,
    rules: floods.FloodRules,
) -> None:
    """The service's own reply to the texter: once per conversation, rate-limited.

    The crisis numbers sent because nobody could be reached are never held back by the
    10-minute limit. A texter who is not a participant gets either only within the
    automatic-reply limits (crisisline.floods): their country, and so many an hour.
    """
    if conversation.participant_acknowledged_at is not None:
        return
    known = conversation.participant_id is not None
    if purpose == FALLBACK:
        conversation.participant_acknowledged_at = now
        if not _reply_held_back(session, conversation.phone, known, now, rules):
            _send_to_participant(session, conversation, body, purpose, now, reach, staff_id=None)
        return
    recent = session.scalars(
        select(Delivery.id).where(
            Delivery.to_number == conversation.phone,
            Delivery.purpose.in_((ACKNOWLEDGEMENT, FALLBACK)),
            Delivery.created_at > now - AUTO_REPLY_INTERVAL,
        )
    ).first()
    conversation.participant_acknowledged_at = now
    if recent is not None or _reply_held_back(session, conversation.phone, known, now, rules):
        return
    _send_to_participant(session, conversation, body, purpose, now, reach, staff_id=None)


def _reply_held_back(
    session: Session, phone: str, known: bool, now: dt.datetime, rules: floods.FloodRules
) -> bool:
    """True (and logged) if an automatic reply to `phone` is over the limits of floods."""
    refused = floods.reply_refused(session, phone, known=known, now=now, rules=rules)
    if refused is not None:
        log.info("automatic reply to %s held back: %s", redact(phone), refused)
    return refused is not None


# ---- floods of texts from unknown numbers ----------------------------------------------------


def _gathered(
    session: Session,
    contact: Contact,
    phone: str,
    now: dt.datetime,
    reach: Reach,
    messages: CrisisMessages,
    rules: floods.FloodRules,
) -> bool:
    """Gather a text from an unknown number into the flood, if it is over the rate; True if
    gathered. A number already in a conversation, STOP and START go on as before."""
    body = contact.body or ""
    kind = sms_opt_outs.keyword(body)
    # STOP, and START alone, escalate nothing; YES may be an answer, so it is a text like any.
    if kind == "opt_out" or (kind == "opt_in" and body.strip().upper() != "YES"):
        return False
    if open_conversation(session, phone, now) is not None:
        return False
    if not floods.beyond_rate(session, contact, rules):
        return False
    floods.gather(session, contact, now, reach, rules)
    contact.outcome = GATHERED
    # Not "a worker will reply": nobody has been texted about this one alone. The crisis
    # numbers, within the automatic-reply limits (the line's own country, so many an hour).
    if not sms_opt_outs.is_opted_out(session, phone) and not _reply_held_back(
        session, phone, False, now, rules
    ):
        _send_text(session, phone, None, messages.fallback_sms, FALLBACK, now, reach, staff_id=None)
    return True


# A number's texts gathered during a flood join the conversation its next text opens, for
# this long: the worker it reaches sees them too, and can answer them.
GATHERED_TAKEN_UP_FOR: Final = dt.timedelta(hours=24)


def _take_up_gathered(session: Session, conversation: SmsConversation, now: dt.datetime) -> None:
    for earlier in session.scalars(
        select(Contact).where(
            Contact.outcome == GATHERED,
            Contact.from_number == conversation.phone,
            Contact.conversation_id.is_(None),
            Contact.started_at > now - GATHERED_TAKEN_UP_FOR,
        )
    ):
        earlier.conversation_id = conversation.id


def _send_to_participant(
    session: Session,
    conversation: SmsConversation,
    body: str,
    purpose: str,
    now: dt.datetime,
    reach: Reach,
    *,
    staff_id: int | None,
) -> Contact:
    """Queue a text to the participant from the crisis number and record it as a contact."""
    contact = _send_text(
        session,
        conversation.phone,
        conversation.participant_id,
        body,
        purpose,
        now,
        reach,
        staff_id=staff_id,
        subject=subject_of(conversation),
    )
    contact.conversation_id = conversation.id
    conversation.last_message_at = now
    return contact


def _send_text(
    session: Session,
    phone: str,
    participant_id: int | None,
    body: str,
    purpose: str,
    now: dt.datetime,
    reach: Reach,
    *,
    staff_id: int | None,
    subject: outbox.Subject | None = None,
) -> Contact:
    """Queue a text to `phone` from the crisis number and record it as an outbound contact."""
    # Staff's words go exactly as written (an emoji costs segments, not meaning).
    delivery = outbox.enqueue_sms(
        session,
        to=phone,
        from_=reach.from_number,
        body=body,
        purpose=purpose,
        now=now,
        verbatim=staff_id is not None,
        subject=subject,
    )
    contact, _ = contacts.record(
        session,
        channel=Channel.SMS,
        direction=Direction.OUTBOUND,
        from_number=reach.from_number,
        to_number=phone,
        twilio_sid=None,
        started_at=now,
        participant_id=participant_id,
        body=delivery.body,
        outcome=SENT,
        handled_by_staff_id=staff_id,
    )
    contact.delivery_id = delivery.id
    return contact


# ---- relaying to staff ----------------------------------------------------------------------


def describe_sender(participant: Participant | None, phone: str) -> str:
    """Who a text is from, for staff: "R1001 D. Price", or the number for unknown senders."""
    if participant is None:
        return phone
    parts = participant.name.split()
    # "Daniel Price" -> "D. Price": enough for staff who know them, little for anyone else.
    name = f"{parts[0][0]}. {' '.join(parts[1:])}" if len(parts) >= 2 else participant.name
    return f"{participant.reference} {name}".strip()


def relay_texts(
    who: str, code: int, bodies: Sequence[str], *, first: bool, note: str | None = None
) -> list[OutgoingText]:
    """The texts that carry a participant's words to a member of staff, with the reply code.

    The words go verbatim (UCS-2 if need be), split into readable numbered parts; the
    service's own instructions are a separate GSM-7 line, appended when everything fits.
    """
    texts: list[OutgoingText] = []
    for body in bodies:
        words = body.strip() or "(no words: a picture or file, see the record)"
        for part in split_for_sms(
            f"{who} ({code}): {words}", MAX_PARTS, segments_per_part=SEGMENTS_PER_PART
        ):
            texts.append(OutgoingText(part, verbatim=True))
    footer = []
    if first:
        footer.append(
            f"Reply {code} and your message to answer from the crisis line; "
            f"{code}a take, {code}c close."
        )
    if note:
        footer.append(note)
    if footer:
        texts.append(OutgoingText(f"{SERVICE}: " + " ".join(footer)))
    return texts


def _notification_texts(
    session: Session, record: EscalationRecord, code: int
) -> list[OutgoingText]:
    """The escalation hook: each person a crisis-sms step notifies gets the words so far."""
    conversation = session.get(SmsConversation, record.subject_id) if record.subject_id else None
    if conversation is None:
        return [OutgoingText(wording.staff.notification_text(record.summary, code))]
    participant = (
        session.get(Participant, conversation.participant_id)
        if conversation.participant_id
        else None
    )
    inbound = session.scalars(
        select(Contact)
        .where(
            Contact.conversation_id == conversation.id,
            Contact.direction == Direction.INBOUND,
            # The participant's words only: staff texts in the conversation are inbound too.
            Contact.from_number == conversation.phone,
        )
        .order_by(Contact.id.desc())
        .limit(HISTORY_TEXTS)
    ).all()
    bodies = [c.body or "" for c in reversed(inbound)]
    note = None
    if sms_opt_outs.is_opted_out(session, conversation.phone):
        note = "They have texted STOP, so texts to them are blocked: call them."
    who = describe_sender(participant, conversation.phone)
    return relay_texts(who, code, bodies, first=True, note=note)


escalation_engine.register_notification_texts(SUBJECT_TYPE, _notification_texts)


def _escalation(session: Session, conversation: SmsConversation) -> EscalationRecord | None:
    if conversation.escalation_id is None:
        return None
    return session.get(EscalationRecord, conversation.escalation_id)


def _notified_codes(session: Session, escalation_id: int) -> list[EscalationCode]:
    return list(
        session.scalars(
            select(EscalationCode)
            .where(EscalationCode.escalation_id == escalation_id, EscalationCode.active.is_(True))
            .order_by(EscalationCode.id)
        )
    )


def handler_id(session: Session, conversation: SmsConversation) -> int | None:
    """The member of staff who took the conversation, if anyone has."""
    if conversation.handled_by_staff_id is not None:
        return conversation.handled_by_staff_id
    escalation = _escalation(session, conversation)
    return escalation.acknowledged_by_staff_id if escalation is not None else None


def _staff_to_tell(session: Session, conversation: SmsConversation) -> list[EscalationCode]:
    """Who hears about the conversation now: whoever took it, else everyone notified so far."""
    if conversation.escalation_id is None:
        return []
    # Never a deactivated member of staff (a leaver, a lost phone): their codes are not live.
    codes = [
        code
        for code in _notified_codes(session, conversation.escalation_id)
        if code.active and _is_active_staff(session, code.staff_id)
    ]
    taken_by = handler_id(session, conversation)
    if taken_by is not None:
        mine = [c for c in codes if c.staff_id == taken_by]
        if mine:
            return mine
    return codes


def _relay_to_staff(
    session: Session,
    conversation: SmsConversation,
    contact: Contact,
    participant: Participant | None,
    phone: str,
    now: dt.datetime,
    reach: Reach,
    note: str | None,
) -> None:
    who = describe_sender(participant, phone)
    codes = _staff_to_tell(session, conversation)
    if not codes:
        log.error("sms conversation %s: a text with nobody to relay it to", conversation.id)
    for code in codes:
        for text in relay_texts(who, code.code, [contact.body or ""], first=False, note=note):
            outbox.enqueue_sms(
                session,
                to=code.phone,
                from_=reach.from_number,
                body=text.body,
                purpose=RELAY_TO_STAFF,
                now=now,
                verbatim=text.verbatim,
                subject=subject_of(conversation),
            )
        escalation_engine.note_code_sent(session, code.escalation_id, code.phone, now)


def _tell_staff(
    session: Session, conversation: SmsConversation, body: str, now: dt.datetime, reach: Reach
) -> None:
    for code in _staff_to_tell(session, conversation):
        outbox.enqueue_sms(
            session,
            to=code.phone,
            from_=reach.from_number,
            body=body,
            purpose=STAFF_NOTICE,
            now=now,
        )


# ---- staff texts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Held:
    """An open conversation a member of staff can text into, with the code their phone holds."""

    code: int
    conversation: SmsConversation
    escalation: EscalationRecord
    who: str


class StaffCommands:
    """One text from a registered staff phone: a code command, WHO, HELP, or words to relay."""

    def __init__(
        self, session: Session, staff: Staff, contact: Contact, now: dt.datetime, reach: Reach
    ) -> None:
        self.session = session
        self.staff = staff
        self.contact = contact
        self.now = now
        self.reach = reach

    def handle(self, body: str) -> None:
        """Act on the text and answer the staff member; never guess a participant."""
        text = body.strip()
        self.contact.outcome = STAFF_COMMAND
        kind = sms_opt_outs.keyword(text)
        if kind is not None and text.upper() != "YES":
            self._staff_keyword(kind, text.upper())
            return
        outcome = escalation_engine.act_by_phone(
            self.session, self.staff.phone, text, self.now, self.reach
        )
        if outcome is not None:
            self._after_escalation_action(outcome.escalation_id, outcome.changed)
            self._reply(outcome.reply)
            return
        word = text.upper().rstrip("?!. ")
        if word == "WHO":
            self._reply(who_is_on_call(self.session, self.now))
            return
        if word in ("HELP", "INFO", ""):
            self._reply(self._help())
            return
        match = _CODE_MESSAGE.fullmatch(text)
        if match is not None:
            self._relay_by_code(int(match.group(1)), match.group(2).strip())
            return
        if _ONLY_DIGITS.fullmatch(text):
            self._not_sent(f"{text} alone is not a command.")
            return
        candidates = [h for h in self.held() if self._may_text_without_code(h)]
        if len(candidates) == 1:
            self._relay(candidates[0], text)
            return
        if not candidates:
            self._not_sent("")
            return
        self._not_sent("You have more than one open conversation.")

    # Codes: take and close, kept in step with the conversation.

    def _after_escalation_action(self, escalation_id: int | None, changed: bool) -> None:
        if escalation_id is None or not changed:
            return
        record = self.session.get(EscalationRecord, escalation_id)
        if record is None or record.subject_type != SUBJECT_TYPE or record.subject_id is None:
            return
        conversation = self.session.get(SmsConversation, record.subject_id)
        if conversation is None or conversation.status != "open":
            return
        if record.status == "closed":
            close_conversation(conversation, self.now, by=self.staff.name, reason="closed_by_staff")
        elif record.status == "acknowledged" and conversation.handled_by_staff_id is None:
            conversation.handled_by_staff_id = record.acknowledged_by_staff_id or self.staff.id

    # Relaying staff words to a participant.

    def held(self) -> list[Held]:
        """The open text conversations this phone holds a live code for, by code."""
        rows = self.session.execute(
            select(EscalationCode, EscalationRecord, SmsConversation)
            .join(EscalationRecord, EscalationRecord.id == EscalationCode.escalation_id)
            .join(SmsConversation, SmsConversation.id == EscalationRecord.subject_id)
            .where(
                EscalationCode.phone == self.staff.phone,
                EscalationCode.active.is_(True),
                EscalationRecord.subject_type == SUBJECT_TYPE,
                SmsConversation.status == "open",
                SmsConversation.escalation_id == EscalationRecord.id,
            )
            .order_by(EscalationCode.code)
        ).all()
        held = []
        for code, record, conversation in rows:
            participant = (
                self.session.get(Participant, conversation.participant_id)
                if conversation.participant_id
                else None
            )
            held.append(
                Held(
                    code.code,
                    conversation,
                    record,
                    describe_sender(participant, conversation.phone),
                )
            )
        return held

    def _may_text_without_code(self, held: Held) -> bool:
        # Without a code, words only go to a conversation this person took, or that nobody
        # has taken yet: never into a colleague's conversation by accident.
        taken_by = handler_id(self.session, held.conversation)
        return taken_by is None or taken_by == self.staff.id

    def _relay_by_code(self, code: int, words: str) -> None:
        row = self.session.scalars(
            select(EscalationCode).where(
                EscalationCode.phone == self.staff.phone,
                EscalationCode.code == code,
                EscalationCode.active.is_(True),
            )
        ).first()
        if row is None:
            self._not_sent(f"You have nothing open with code {code}.")
            return
        record = self.session.get_one(EscalationRecord, row.escalation_id)
        if record.subject_type != SUBJECT_TYPE:
            self._not_sent(f"{code} is not a text conversation: reply {code}a to take it.")
            return
        for held in self.held():
            if held.code == code:
                self._relay(held, words)
                return
        self._not_sent(f"Conversation {code} is closed.")

    def _relay(self, held: Held, words: str) -> None:
        conversation = held.conversation
        self.contact.conversation_id = conversation.id
        if sms_opt_outs.is_opted_out(self.session, conversation.phone):
            self.contact.outcome = NOT_SENT_OPTED_OUT
            log.info("staff text not relayed: %s has opted out", redact(conversation.phone))
            self._reply(not_sent_opted_out_text(held.who))
            return
        holder = participants.find_by_phone(self.session, conversation.phone)
        if conversation.participant_id is not None and (
            holder is None or holder.id != conversation.participant_id
        ):
            # The number was taken off his record (a stolen or replaced phone): whoever has
            # it now must not get words meant for him.
            self.contact.outcome = NOT_SENT_NUMBER_REMOVED
            log.info(
                "staff text not relayed: %s is no longer the participant's",
                redact(conversation.phone),
            )
            self._reply(not_sent_number_removed_text(held.who))
            return
        _send_to_participant(
            self.session,
            conversation,
            words[:MAX_BODY],
            STAFF_REPLY,
            self.now,
            self.reach,
            staff_id=self.staff.id,
        )
        self.contact.outcome = STAFF_RELAYED
        conversation.last_staff_message_at = self.now
        if conversation.handled_by_staff_id is None:
            conversation.handled_by_staff_id = self.staff.id
        record = held.escalation
        if record.status in ("open", "exhausted"):
            # The first reply takes it: the escalation stops and the others hear who took it.
            outcome = escalation_engine.acknowledge_escalation(
                self.session,
                record.id,
                ByPhone(self.staff.phone, held.code),
                self.now,
                self.reach,
            )
            if outcome.changed:
                self._reply(relayed_and_taken_text(held.who, held.code, outcome.others_told))

    # Commands.

    def _staff_keyword(self, kind: sms_opt_outs.Keyword, word: str) -> None:
        # Twilio applies STOP to staff phones too: escalation texts to this phone would now
        # fail. Record it and tell the duty managers; the phone itself cannot be texted.
        if kind == "opt_out":
            sms_opt_outs.opt_out(self.session, self.staff.phone, word, self.now)
            log.warning("staff member %s texted %s: texts to them are blocked", self.staff.id, word)
            for manager in staff_service.duty_managers(self.session):
                if manager.id == self.staff.id:
                    continue
                outbox.enqueue_sms(
                    self.session,
                    to=manager.phone,
                    from_=self.reach.from_number,
                    body=staff_opted_out_notice(self.staff.name, word),
                    purpose=STAFF_NOTICE,
                    now=self.now,
                )
            return
        sms_opt_outs.opt_in(self.session, self.staff.phone, word, self.now)
        self._reply(STAFF_OPTED_IN_TEXT)

    def _help(self) -> str:
        return help_text(self._open())

    def _open(self) -> list[tuple[int, str]]:
        return [(h.code, h.who) for h in self.held()]

    def _not_sent(self, reason: str) -> None:
        self.contact.outcome = NOT_SENT
        self._reply(not_sent_text(reason, self._open()))

    def _reply(self, body: str) -> None:
        outbox.enqueue_sms(
            self.session,
            to=self.staff.phone,
            from_=self.reach.from_number,
            body=body,
            purpose=STAFF_NOTICE,
            now=self.now,
        )


def who_is_on_call(session: Session, now: dt.datetime) -> str:
    """WHO: who is on call now on every rota, by name (never by number)."""
    rotas, _ = rota_service.list_rotas(session)
    lines = []
    for rota in rotas:
        try:
            on_call = rota_service.on_call(session, rota.id, now)
        except DomainError:  # a broken rota must not stop the answer for the others
            log.warning("rota %s could not say who is on call", rota.id)
            lines.append(f"{rota.name}: unknown")
            continue
        names = ", ".join(s.name for s in on_call.staff if s.active) or "NOBODY"
        lines.append(f"{rota.name}: {names}")
    return on_call_now_text(lines)


def on_call_now_text(lines: Sequence[str]) -> str:
    """The answer to WHO: one "rota: names" line a rota, or that there are no rotas."""
    if not lines:
        return f"{SERVICE}: there are no rotas."
    return f"{SERVICE} on call now: " + "; ".join(lines) + "."


def opted_out_notice(who: str, word: str) -> str:
    """To staff in a participant's conversation: he texted STOP (or another opt-out word)."""
    return (
        f"{SERVICE}: {who} texted {word}. The network now blocks texts to them until they "
        "text START. Call them if you need to reach them."
    )


# Added to the relay of a participant's words when his text also ended an opt-out.
OPTED_IN_NOTE: Final = "They texted START: texts to them work again."


def refused_notice(who: str) -> str:
    """To staff in a conversation: the network refused a text to the participant (opted out)."""
    return (
        f"{SERVICE}: a text to {who} was refused: they have opted out of texts (STOP). They "
        "get nothing by text until they text START. Call them."
    )


def handed_over_notice(who: str, *, quiet: bool) -> str:
    """To the staff member who had taken a conversation that has now gone to whoever is on call."""
    if quiet:
        return (
            f"{SERVICE}: {who} has had no reply for {QUIET_TAKER_MINUTES} minutes; it has gone "
            "to whoever is on call now as well. Reply if you can."
        )
    return (
        f"{SERVICE}: {who} texted again after your shift; it has gone to whoever is on call "
        "now. No action needed."
    )


def not_sent_opted_out_text(who: str) -> str:
    """To staff whose words were not relayed: the participant has opted out of texts."""
    return (
        f"{SERVICE}: NOT SENT. {who} has opted out of texts (STOP), so the network blocks them "
        "until they text START. Call them instead."
    )


def not_sent_number_removed_text(who: str) -> str:
    """To staff whose words were not relayed: the number is no longer on his record."""
    return (
        f"{SERVICE}: NOT SENT. This number is no longer on {who}'s record. Call him on his new "
        "number, or wait for his text from it."
    )


def _open_list(open_: Sequence[tuple[int, str]]) -> str:
    if not open_:
        return "You have no open text conversations."
    return "Open: " + "; ".join(f"{code} {who}" for code, who in open_) + "."


def not_sent_text(reason: str, open_: Sequence[tuple[int, str]]) -> str:
    """To staff whose text went to nobody: why, and their open conversations (code, who)."""
    prefix = f"{SERVICE}: NOT SENT to anyone. {reason}".rstrip() + " "
    if not open_:
        # With nothing open, "start with the code" would point at a code they do not have.
        return prefix + _open_list(open_)
    example = min(code for code, _ in open_)
    return prefix + f"Start with the code, e.g. {example} I'm here. " + _open_list(open_)


def help_text(open_: Sequence[tuple[int, str]]) -> str:
    """The answer to HELP: how to text a participant, take, close, WHO, and what is open."""
    # The examples use a code the worker holds, so they can be copied as they stand.
    n = min((code for code, _ in open_), default=3)
    return (
        f"{SERVICE}: reply CODE and your message to text a participant from the crisis line "
        f"({n} I'm here). {n}a take, {n}c close, WHO on call now. " + _open_list(open_)
    )


def staff_opted_out_notice(name: str, word: str) -> str:
    """To the duty managers: a member of staff texted STOP, so texts to them are blocked."""
    return (
        f"{SERVICE}: {name} texted {word} to the crisis line, so escalation texts to their "
        "phone are blocked until they text START."
    )


STAFF_OPTED_IN_TEXT: Final = f"{SERVICE}: texts to this phone work again."


def relayed_and_taken_text(who: str, code: int, told: int) -> str:
    """The confirmation to staff whose first reply went to the participant and so took it."""
    return (
        f"{SERVICE}: sent to {who}. You have taken {code}.{wording.staff.others_told(told)} "
        f"Reply {code}c to close it."
    )


# ---- closing --------------------------------------------------------------------------------


def close_conversation(
    conversation: SmsConversation, now: dt.datetime, *, by: str | None, reason: str
) -> None:
    """Close the conversation; the number's next text opens a new one."""
    if conversation.status != "open":
        return
    conversation.status = "closed"
    conversation.closed_at = now
    conversation.closed_by = (by or "crisis line")[:120]
    conversation.close_reason = reason[:40]


def close_idle_conversations(
    db: Database,
    now: dt.datetime,
    *,
    idle_after: dt.timedelta = dt.timedelta(hours=24),
    reach: Reach | None = None,
) -> int:
    """Close conversations quiet for `idle_after`, and those whose escalation was closed."""
    closed = 0
    with db.transaction() as session:
        rows = session.scalars(
            select(SmsConversation).where(SmsConversation.status == "open")
        ).all()
        for conversation in rows:
            escalation = _escalation(session, conversation)
            if escalation is not None and escalation.status == "closed":
                close_conversation(
                    conversation, now, by=escalation.closed_by, reason="closed_by_staff"
                )
                closed += 1
                continue
            if conversation.last_message_at > now - idle_after:
                continue
            if escalation is not None and escalation.status == "open":
                # Still being chased up the chain: never close what nobody has taken.
                continue
            close_conversation(conversation, now, by="crisis line", reason="idle")
            if escalation is not None and reach is not None:
                escalation_engine.close_escalation(
                    session, escalation.id, ByOperator("crisis line (no texts)"), now, reach
                )
            log.info(
                "sms conversation %s closed after %s without texts", conversation.id, idle_after
            )
            closed += 1
    return closed


def note_refused_numbers(
    db: Database, now: dt.datetime, reach: Reach, *, window: dt.timedelta = dt.timedelta(days=1)
) -> int:
    """Mark numbers opted out when Twilio refused a text with 21610, and tell their staff."""
    marked = 0
    with db.transaction() as session:
        for phone in sms_opt_outs.refused_numbers(session, now - window):
            participant = participants.find_by_phone(session, phone)
            sms_opt_outs.opt_out(
                session,
                phone,
                sms_opt_outs.REFUSED_REASON,
                now,
                participant.id if participant is not None else None,
            )
            marked += 1
            conversation = open_conversation(session, phone, now)
            if conversation is not None:
                who = describe_sender(participant, phone)
                _tell_staff(
                    session,
                    conversation,
                    refused_notice(who),
                    now,
                    reach,
                )
    return marked


def upkeep(db: Database, now: dt.datetime, reach: Reach, idle_after: dt.timedelta) -> int:
    """The scheduler's periodic job: opt-outs learnt from refused texts, then idle closing."""
    note_refused_numbers(db, now, reach)
    return close_idle_conversations(db, now, idle_after=idle_after, reach=reach)


def unanswered_text_hook(rules: RiskRules) -> escalation_engine.IncidentHook:
    """The escalation engine's hook for a crisis-sms chain that ran out: raise the risk alert."""

    def hook(session: Session, record: EscalationRecord, now: dt.datetime, reach: Reach) -> None:
        text = session.scalars(
            select(Contact)
            .where(
                Contact.conversation_id == record.subject_id,
                Contact.direction == Direction.INBOUND,
                Contact.participant_id.is_not(None),
            )
            .order_by(Contact.id.desc())
            .limit(1)
        ).first()
        if text is None:
            return
        savepoint = session.begin_nested()
        try:
            alerts.raise_unanswered(
                session, contact_id=text.id, kind="text", now=now, reach=reach, rules=rules
            )
            savepoint.commit()
        except Exception as error:
            savepoint.rollback()
            log.error(
                "conversation %s: unanswered alert failed (%s)",
                record.subject_id,
                type(error).__name__,
            )

    return hook
