"""Staff SMS commands: what a text from an active staff phone to the crisis number does.

A member of staff answers a participant from their own phone by texting the crisis number:
`3 I'm here` relays the words into the conversation whose reply code 3 this phone holds (the
first reply takes it), `3a` takes and `3c` closes it (the escalation engine's codes, kept in
step with the conversation), `WHO` says who is on call, `HELP` lists the open conversations;
STOP from a staff phone is recorded and reported to the duty managers, START recorded. Words
never reach a participant by guesswork: without a code they go only into the one conversation
this person took or nobody has taken, and anything else is answered "NOT SENT". The
conversation itself (relaying, handing over, closing) is crisisline.sms_conversations; a text
is routed here by crisisline.sms_intake. See docs/sms.md.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

import wording.staff
from crisisline import (
    crisis_plan_links,
    escalation_engine,
    outbox,
    participants,
    rota_service,
    sms_conversations,
    sms_opt_outs,
)
from crisisline import staff as staff_service
from crisisline.conversation_models import SmsConversation
from crisisline.errors import DomainError
from crisisline.escalation_models import EscalationCode, EscalationRecord
from crisisline.models import Contact, ContactOutcome, Participant, Staff
from crisisline.phones import redact
from crisisline.telephony import MAX_SMS_BODY_CHARACTERS
from escalation import ByPhone, Reach

log = logging.getLogger(__name__)

# The outbox purpose of a member of staff's words relayed to a participant.
STAFF_REPLY: Final = "sms_staff_reply"

# "3 I'm here" or "3: I'm here": a reply code, then the words for the participant.
_CODE_MESSAGE: Final = re.compile(r"\s*([0-9]{1,4})(?:\s*[:.,)\-]\s*|\s+)(\S.*)", re.DOTALL)
_ONLY_DIGITS: Final = re.compile(r"\s*[0-9]{1,4}\s*[.!]?\s*")


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
        self.contact.outcome = ContactOutcome.STAFF_COMMAND
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
        if escalation_id is not None and changed:
            keep_conversation_in_step(self.session, escalation_id, self.staff, self.now, self.reach)

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
                EscalationRecord.subject_type == sms_conversations.SUBJECT_TYPE,
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
                    sms_conversations.describe_sender(participant, conversation.phone),
                )
            )
        return held

    def _may_text_without_code(self, held: Held) -> bool:
        # Without a code, words only go to a conversation this person took, or that nobody
        # has taken yet: never into a colleague's conversation by accident.
        taken_by = sms_conversations.handler_id(self.session, held.conversation)
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
        if record.subject_type != sms_conversations.SUBJECT_TYPE:
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
            self.contact.outcome = ContactOutcome.NOT_SENT_OPTED_OUT
            log.info("staff text not relayed: %s has opted out", redact(conversation.phone))
            self._reply(wording.staff.not_sent_opted_out_text(held.who))
            return
        holder = participants.find_by_phone(self.session, conversation.phone)
        if conversation.participant_id is not None and (
            holder is None or holder.id != conversation.participant_id
        ):
            # The number was taken off his record (a stolen or replaced phone): whoever has
            # it now must not get words meant for him.
            self.contact.outcome = ContactOutcome.NOT_SENT_NUMBER_REMOVED
            log.info(
                "staff text not relayed: %s is no longer the participant's",
                redact(conversation.phone),
            )
            self._reply(wording.staff.not_sent_number_removed_text(held.who))
            return
        sms_conversations.send_to_participant(
            self.session,
            conversation,
            words[:MAX_SMS_BODY_CHARACTERS],
            STAFF_REPLY,
            self.now,
            self.reach,
            staff_id=self.staff.id,
        )
        self.contact.outcome = ContactOutcome.STAFF_RELAYED
        conversation.last_staff_message_at = self.now
        if conversation.handled_by_staff_id is None:
            conversation.handled_by_staff_id = self.staff.id
            crisis_plan_links.send_for_conversation(
                self.session, conversation, self.staff.id, self.now, self.reach
            )
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
                self._reply(
                    wording.staff.relayed_and_taken_text(held.who, held.code, outcome.others_told)
                )

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
                    body=wording.staff.staff_opted_out_notice(self.staff.name, word),
                    purpose=sms_conversations.STAFF_NOTICE,
                    now=self.now,
                )
            return
        sms_opt_outs.opt_in(self.session, self.staff.phone, word, self.now)
        self._reply(wording.staff.STAFF_OPTED_IN_TEXT)

    def _help(self) -> str:
        return wording.staff.help_text(self._open())

    def _open(self) -> list[tuple[int, str]]:
        return [(h.code, h.who) for h in self.held()]

    def _not_sent(self, reason: str) -> None:
        self.contact.outcome = ContactOutcome.NOT_SENT
        self._reply(wording.staff.not_sent_text(reason, self._open()))

    def _reply(self, body: str) -> None:
        outbox.enqueue_sms(
            self.session,
            to=self.staff.phone,
            from_=self.reach.from_number,
            body=body,
            purpose=sms_conversations.STAFF_NOTICE,
            now=self.now,
        )


def keep_conversation_in_step(
    session: Session,
    escalation_id: int,
    staff: Staff,
    now: dt.datetime,
    reach: Reach | None = None,
) -> None:
    """After someone took or closed an escalation, keep its text conversation in step: closed
    with it, or handled by whoever took it (their replies are then relayed to him, and with
    `reach` they are texted the link to his crisis plan)."""
    record = session.get(EscalationRecord, escalation_id)
    if (
        record is None
        or record.subject_type != sms_conversations.SUBJECT_TYPE
        or record.subject_id is None
    ):
        return
    conversation = session.get(SmsConversation, record.subject_id)
    if conversation is None or conversation.status != "open":
        return
    if record.status == "closed":
        sms_conversations.close_conversation(
            conversation, now, by=staff.name, reason="closed_by_staff"
        )
    elif record.status == "acknowledged" and conversation.handled_by_staff_id is None:
        conversation.handled_by_staff_id = record.acknowledged_by_staff_id or staff.id
        crisis_plan_links.send_for_conversation(
            session, conversation, conversation.handled_by_staff_id, now, reach
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
    return wording.staff.on_call_now_text(lines)
