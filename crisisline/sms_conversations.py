"""Crisis texts: a masked two-way SMS conversation between a participant and on-call staff.

A participant's text opens (or joins) the conversation of their number. The first text opens a
`crisis-sms` escalation, whose steps relay the participant's words to the on-call staff from the
crisis number with a reply code; the participant gets one short acknowledgement. Staff reply
from their own phones to the crisis number (`3 I'm here`), and the service relays the words to
the participant from the crisis number, so no staff number is ever shown. The first staff reply
takes the escalation, which stops it climbing and tells the others who took it. See docs/sms.md.

This module is the conversation itself: a participant's text (STOP and START, opening, joining,
handing over to whoever is on call now), texts from unknown numbers gathered during a flood,
relaying to staff, chasing a taker who has gone quiet, closing, and the periodic upkeep. Texts
reach it from the intake queue (crisisline.sms_intake), which also routes a staff phone's text
to the staff commands (crisisline.sms_commands); what staff read is worded in wording.staff.

Every text in and out is a `Contact` on the participant's record, linked to its conversation.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload

import wording.staff
from crisisline import (
    alerts,
    contacts,
    escalation_engine,
    floods,
    outbox,
    participants,
    rota_service,
    sms_opt_outs,
)
from crisisline.conversation_models import SmsConversation
from crisisline.db import Database
from crisisline.errors import DomainError
from crisisline.escalation_models import EscalationCode, EscalationRecord
from crisisline.models import (
    Channel,
    Contact,
    ContactOutcome,
    Delivery,
    Direction,
    Participant,
    Staff,
)
from crisisline.phones import redact
from crisisline.risk_rules import RiskRules
from escalation import ByOperator, OutgoingText, Reach
from wording.callers import CrisisMessages
from wording.sms import split_for_sms

log = logging.getLogger(__name__)

POLICY: Final = "crisis-sms"
SUBJECT_TYPE: Final = "sms_conversation"
SERVICE: Final = wording.staff.SERVICE

# Outbox purposes, so each kind of text can be found and counted.
ACKNOWLEDGEMENT: Final = "sms_acknowledgement"
FALLBACK: Final = "sms_fallback"
RELAY_TO_STAFF: Final = "sms_relay"
STAFF_NOTICE: Final = "sms_staff_notice"

# Automatic replies (the acknowledgement, the fallback) to any one number: at most one per
# interval, so a flood of texts, or a loop with another automatic responder, stays quiet.
AUTO_REPLY_INTERVAL: Final = dt.timedelta(minutes=10)
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


# ---- participants' texts --------------------------------------------------------------------


def on_participant_text(
    session: Session,
    contact: Contact,
    phone: str,
    participant: Participant | None,
    now: dt.datetime,
    reach: Reach,
    messages: CrisisMessages,
    rules: floods.FloodRules,
) -> SmsConversation | None:
    """A text from a person's phone that is not staff's, routed here by crisisline.sms_intake:
    STOP or START, else it opens the number's conversation or joins it (handed over to
    whoever is on call now if its taker has gone). The conversation, if there is one."""
    body = contact.body or ""
    participant_id = participant.id if participant is not None else None
    conversation = open_conversation(session, phone, now)
    kind = sms_opt_outs.keyword(body)
    if kind == "opt_out":
        sms_opt_outs.opt_out(session, phone, body.strip().upper(), now, participant_id)
        contact.outcome = ContactOutcome.OPTED_OUT
        log.info("sms %s: %s opted out of texts", contact.id, redact(phone))
        if conversation is not None:
            _join(conversation, contact, now)
            who = describe_sender(participant, phone)
            _tell_staff(
                session,
                conversation,
                wording.staff.opted_out_notice(who, body.strip().upper()),
                now,
                reach,
            )
        return conversation
    note = None
    if kind == "opt_in":
        was_out = sms_opt_outs.opt_in(session, phone, body.strip().upper(), now, participant_id)
        note = wording.staff.OPTED_IN_NOTE if was_out else None
        # START alone asks only for texts again; YES may well be an answer, so it is relayed.
        if conversation is None and body.strip().upper() != "YES":
            contact.outcome = ContactOutcome.OPTED_IN
            return None
    if conversation is None:
        return _start_conversation(
            session, contact, phone, participant, now, reach, messages, rules
        )
    _join(conversation, contact, now)
    contact.outcome = ContactOutcome.RELAYED
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
            body = wording.staff.handed_over_notice(
                who, quiet_for=QUIET_TAKER_MINUTES if quiet else None
            )
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
        contact.outcome = ContactOutcome.RELAYED
        _relay_to_staff(session, existing, contact, participant, phone, now, reach, None)
        return existing
    contact.conversation_id = conversation.id
    contact.outcome = ContactOutcome.RELAYED
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
            send_to_participant(session, conversation, body, purpose, now, reach, staff_id=None)
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
    send_to_participant(session, conversation, body, purpose, now, reach, staff_id=None)


def send_crisis_numbers(
    session: Session,
    phone: str,
    participant_id: int | None,
    now: dt.datetime,
    reach: Reach,
    messages: CrisisMessages,
    rules: floods.FloodRules,
) -> None:
    """Text `phone` the crisis numbers from the crisis number, unless it has opted out of texts
    or (not being a participant's) the automatic-reply limits of floods hold it back."""
    if sms_opt_outs.is_opted_out(session, phone):
        return
    if _reply_held_back(session, phone, participant_id is not None, now, rules):
        return
    _send_text(
        session, phone, participant_id, messages.fallback_sms, FALLBACK, now, reach, staff_id=None
    )


def _reply_held_back(
    session: Session, phone: str, known: bool, now: dt.datetime, rules: floods.FloodRules
) -> bool:
    """True (and logged) if an automatic reply to `phone` is over the limits of floods."""
    refused = floods.reply_refused(session, phone, known=known, now=now, rules=rules)
    if refused is not None:
        log.info("automatic reply to %s held back: %s", redact(phone), refused)
    return refused is not None


# ---- floods of texts from unknown numbers ----------------------------------------------------


def gathered_into_flood(
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
    contact.outcome = ContactOutcome.GATHERED
    # Not "a worker will reply": nobody has been texted about this one alone. The crisis
    # numbers, within the automatic-reply limits (the line's own country, so many an hour).
    send_crisis_numbers(session, phone, None, now, reach, messages, rules)
    return True


# A number's texts gathered during a flood join the conversation its next text opens, for
# this long: the worker it reaches sees them too, and can answer them.
GATHERED_TAKEN_UP_FOR: Final = dt.timedelta(hours=24)


def _take_up_gathered(session: Session, conversation: SmsConversation, now: dt.datetime) -> None:
    for earlier in session.scalars(
        select(Contact).where(
            Contact.outcome == ContactOutcome.GATHERED,
            Contact.from_number == conversation.phone,
            Contact.conversation_id.is_(None),
            Contact.started_at > now - GATHERED_TAKEN_UP_FOR,
        )
    ):
        earlier.conversation_id = conversation.id


def send_to_participant(
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
        outcome=ContactOutcome.SENT,
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
                    wording.staff.refused_notice(who),
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
