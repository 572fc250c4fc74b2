"""Staff commands by text: take, close, WHO, HELP, and words that cannot be placed safely."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from crisisline import rota_service, staffing
from crisisline.clock import FakeClock
from crisisline.sms_conversations import AUTO_REPLY_INTERVAL, HANDOVER_GRACE
from tests.support.sms_line import (
    ACK,
    BACKUP,
    DANIEL,
    MARCUS,
    PRIMARY,
    STEP_WAIT,
    SmsLine,
    escalation_status,
    plan_links,
    start_line,
)


@pytest.fixture
def line(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[SmsLine]:
    yield from start_line(tmp_path, database_url, clock)


def _first_text(line: SmsLine, number: str = DANIEL, code: int = 1) -> None:
    line.text(number, "I need to talk")
    line.dispatch()
    line.phone(number).expect_sms(ACK)
    line.phone(PRIMARY).expect_sms(f"({code}): I need to talk")
    line.phone(PRIMARY).expect_sms(f"Reply {code}")


def test_take_then_close_by_code_ends_the_conversation_and_the_next_text_opens_a_new_one(
    line: SmsLine,
) -> None:
    _first_text(line)
    line.phone(PRIMARY).reply("1a")
    line.dispatch()
    line.phone(PRIMARY).expect_sms("you have taken 1")
    (conversation,) = line.conversations()
    assert conversation.handled_by_staff_id == line.ids[PRIMARY]

    # Taken without a word yet: words without a code go to the one conversation held.
    line.phone(PRIMARY).reply("Hi Daniel, it's Amira")
    line.dispatch()
    line.phone(DANIEL).expect_sms("Hi Daniel, it's Amira")

    line.phone(PRIMARY).reply("1c")
    line.dispatch()
    line.phone(PRIMARY).expect_sms("1 is closed")
    (conversation,) = line.conversations()
    assert (conversation.status, conversation.close_reason) == ("closed", "closed_by_staff")

    # Closed: the worker's words go nowhere; Daniel's next text starts again from the rota.
    line.phone(PRIMARY).reply("one more thing")
    line.dispatch()
    line.phone(PRIMARY).expect_sms("NOT SENT to anyone")
    line.phone(DANIEL).expect_no_sms()
    line.clock.advance(AUTO_REPLY_INTERVAL)  # automatic replies to one number are rate-limited
    # A new code: 1 rests for a day, so an old "1 ..." cannot reach whoever holds it next.
    _first_text(line, code=2)
    assert [c.status for c in line.conversations()] == ["closed", "open"]
    assert plan_links(line) == {PRIMARY: 1}


def test_who_lists_who_is_on_call_by_name_and_help_lists_open_conversations(
    line: SmsLine,
) -> None:
    line.phone(BACKUP).send_sms("+447700900000", "who?")
    line.dispatch()
    who = line.phone(BACKUP).expect_sms("on call now")
    assert "primary: Amira Okafor" in who.body
    assert "backup: Tom Hughes" in who.body
    assert "duty-manager: Priya Natarajan" in who.body
    assert "+44" not in who.body

    _first_text(line)
    line.phone(PRIMARY).reply("HELP")
    line.dispatch()
    # The examples now use the code this phone holds (1), not a fixed 3 it does not hold.
    help_ = line.phone(PRIMARY).expect_sms("(1 I'm here). 1a take, 1c close, WHO")
    assert "Open: 1 R1001 D. Price." in help_.body


def test_a_code_this_phone_does_not_hold_or_a_bare_number_sends_nothing(line: SmsLine) -> None:
    _first_text(line)
    line.phone(PRIMARY).reply("7 are you ok")
    line.phone(PRIMARY).reply("1")
    line.phone(BACKUP).send_sms("+447700900000", "1 hello Daniel")
    line.dispatch()
    assert "nothing open with code 7" in line.phone(PRIMARY).expect_sms("NOT SENT").body
    assert "1 alone is not a command" in line.phone(PRIMARY).expect_sms("NOT SENT").body
    # The backup was never notified: code 1 on their phone means nothing.
    backup = line.phone(BACKUP).expect_sms("NOT SENT")
    assert "no open text conversations" in backup.body
    line.phone(DANIEL).expect_no_sms()


def test_words_without_a_code_never_go_into_a_conversation_a_colleague_took(
    line: SmsLine,
) -> None:
    _first_text(line)
    line.wait(STEP_WAIT)  # step two reaches the backup too
    line.phone(BACKUP).expect_sms("(1): I need to talk")
    line.phone(BACKUP).expect_sms("Reply 1")
    line.phone(BACKUP).expect_call()
    line.phone(PRIMARY).expect_sms("(1): I need to talk")
    line.phone(PRIMARY).expect_sms("Reply 1")
    line.phone(PRIMARY).expect_call()
    line.phone(PRIMARY).reply("1 Amira here")
    line.dispatch()
    line.phone(DANIEL).expect_sms("Amira here")
    line.phone(PRIMARY).expect_sms("You have taken 1")
    line.phone(BACKUP).expect_sms("taken by Amira Okafor")

    line.phone(BACKUP).reply("Tom here too")
    line.dispatch()
    line.phone(BACKUP).expect_sms("NOT SENT")
    line.phone(DANIEL).expect_no_sms()
    # Later texts from Daniel go to Amira, who took it, and not to Tom.
    line.text(DANIEL, "thanks")
    line.dispatch()
    line.phone(PRIMARY).expect_sms("(1): thanks")
    line.phone(BACKUP).expect_no_sms()
    assert plan_links(line) == {PRIMARY: 1}


def test_closing_one_code_leaves_the_other_participants_conversation_open(
    line: SmsLine,
) -> None:
    _first_text(line, DANIEL, 1)
    _first_text(line, MARCUS, 2)
    line.phone(PRIMARY).reply("1c")
    line.dispatch()
    line.phone(PRIMARY).expect_sms("1 is closed")
    assert [c.status for c in line.conversations()] == ["closed", "open"]
    line.phone(PRIMARY).reply("Marcus, it's Amira")  # one conversation left: no code needed
    line.dispatch()
    line.phone(MARCUS).expect_sms("Marcus, it's Amira")
    line.phone(PRIMARY).expect_sms("You have taken 2")
    assert plan_links(line) == {PRIMARY: 1}


def test_a_text_after_the_takers_shift_ended_goes_to_whoever_is_on_call_now(
    line: SmsLine,
) -> None:
    _first_text(line)
    line.phone(PRIMARY).reply("1 Amira here, I'm with you")
    line.dispatch()
    line.phone(DANIEL).expect_sms("Amira here")
    line.phone(PRIMARY).expect_sms("You have taken 1")

    # Amira's shift ends: Tom covers the primary rota from now on.
    now = line.clock.now()
    with line.svc.db.transaction() as session:
        staffing.add_override(
            session,
            line.ids["primary"],
            rota_service.NewOverride(
                staff_id=line.ids[BACKUP],
                start=now,
                end=now + dt.timedelta(days=1),
                mode="replace",
                reason="night shift",
            ),
            actor="t",
            now=now,
        )
    # Within half an hour of her last message, the conversation is still hers.
    line.clock.advance(dt.timedelta(minutes=10))
    line.text(DANIEL, "you still there?")
    line.dispatch()
    line.phone(PRIMARY).expect_sms("(1): you still there?")

    line.clock.advance(HANDOVER_GRACE)
    line.text(DANIEL, "I need someone")
    line.dispatch()
    line.phone(PRIMARY).expect_sms("texted again after your shift")
    line.phone(BACKUP).expect_sms("R1001 D. Price (1): I need to talk")
    line.phone(BACKUP).expect_sms("R1001 D. Price (1): you still there?")
    line.phone(BACKUP).expect_sms("R1001 D. Price (1): I need someone")
    line.phone(BACKUP).expect_sms("Reply 1")
    line.phone(BACKUP).reply("1 Tom here, Amira's shift ended. I'm with you now")
    line.dispatch()
    line.phone(DANIEL).expect_sms("Tom here")
    line.phone(BACKUP).expect_sms("You have taken 1")
    # Amira's old code no longer reaches Daniel.
    line.phone(PRIMARY).reply("1 still here")
    line.dispatch()
    line.phone(PRIMARY).expect_sms("NOT SENT")
    line.phone(DANIEL).expect_no_sms()
    assert plan_links(line) == {PRIMARY: 1, BACKUP: 1}


# ---- bare replies and freed codes (safety review) ---------------------------------------------


def _conversation_status(line: SmsLine, phone: str) -> str:
    (conversation,) = [c for c in line.conversations() if c.phone == phone]
    return conversation.status


@pytest.mark.hazard("H50")
def test_bare_c_closes_the_conversation_whose_code_was_sent_last_not_another_participants(
    lenient_line: SmsLine,
) -> None:
    """docs/sms.md: "a, c: take or close the last code sent to you".

    act_by_phone resolves a bare "c" to the newest EscalationCode *row*, i.e. the escalation
    that first reached this phone most recently, not the code most recently texted. Here the
    last text the primary received was Daniel's (code 1), yet "c" closes Marcus's (code 2),
    silently ending the chase of a participant nobody has answered.
    """
    line = lenient_line
    line.text(DANIEL, "I need to talk")
    line.dispatch()
    line.clock.advance(dt.timedelta(seconds=40))
    line.text(MARCUS, "can someone ring me")
    line.dispatch()
    line.clock.advance(dt.timedelta(seconds=40))
    line.text(DANIEL, "please, it's bad")
    line.dispatch()
    last = line.phone(PRIMARY).inbox[-1]
    assert "(1): please, it's bad" in last.body  # the last code texted to the primary is 1

    line.phone(PRIMARY).reply("c")
    line.dispatch()

    assert escalation_status(line, MARCUS) == "open", "Marcus's unanswered text was closed"
    assert _conversation_status(line, MARCUS) == "open"
    assert escalation_status(line, DANIEL) == "closed"


@pytest.mark.hazard("H50")
def test_bare_a_after_a_later_step_renotifies_takes_that_escalation_not_the_newer_one(
    lenient_line: SmsLine,
) -> None:
    """Step 2 of crisis-sms texts the primary Daniel's words again with code 1; "a" takes 2."""
    line = lenient_line
    line.text(DANIEL, "I need to talk")
    line.dispatch()
    line.clock.advance(dt.timedelta(seconds=60))
    line.text(MARCUS, "can someone ring me")
    line.dispatch()
    # Daniel's first step runs out: step two re-texts the primary (code 1) and the backup.
    line.wait(STEP_WAIT - dt.timedelta(seconds=60))
    last = line.phone(PRIMARY).inbox[-1]
    assert "Reply 1 and your message" in last.body

    line.phone(PRIMARY).reply("a")
    line.dispatch()

    assert escalation_status(line, DANIEL) == "acknowledged"
    assert escalation_status(line, MARCUS) == "open", "Marcus's text was taken by mistake"


@pytest.mark.hazard("H51")
def test_a_code_just_freed_is_not_given_straight_to_another_participant_on_the_same_phone(
    lenient_line: SmsLine,
) -> None:
    """Codes are the lowest free number, reused the moment a conversation closes.

    All texts arrive in one thread from the crisis number, so a worker who scrolls up and
    answers Daniel's old relay with "1 ..." after Daniel's conversation closed sends Daniel's
    words to Marcus, who now holds code 1 (H23: a worker's message to the wrong participant).
    """
    line = lenient_line
    line.text(DANIEL, "I need to talk")
    line.dispatch()
    line.phone(PRIMARY).reply("1 Hi Daniel, Amira here. Is your probation hostel still Elm House?")
    line.dispatch()
    line.phone(PRIMARY).reply("1c")
    line.dispatch()
    assert _conversation_status(line, DANIEL) == "closed"

    line.clock.advance(dt.timedelta(minutes=2))
    line.text(MARCUS, "can someone ring me")
    line.dispatch()
    # The worker answers Daniel's thread, as they believe, two minutes after closing it.
    line.phone(PRIMARY).reply("1 Daniel, I've booked your appointment with Dr Khan for 10am")
    line.dispatch()

    received = [m.body for m in line.phone(MARCUS).inbox]
    assert not any("Daniel" in body for body in received), (
        f"Marcus received a message meant for Daniel: {received}"
    )
