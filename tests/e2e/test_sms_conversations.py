"""Crisis texts end to end through the simulator: acknowledged, relayed with a code, answered."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crisisline.clock import FakeClock
from crisisline.models import Direction
from tests.support.sms_line import (
    ACK,
    BACKUP,
    CRISIS,
    DANIEL,
    MANAGER,
    MARCUS,
    PRIMARY,
    STEP_WAIT,
    UNKNOWN,
    SmsLine,
    start_line,
)


@pytest.fixture
def line(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[SmsLine]:
    yield from start_line(tmp_path, database_url, clock)


def test_a_text_is_acknowledged_reaches_on_call_with_a_code_and_the_reply_reaches_the_participant(
    line: SmsLine,
) -> None:
    line.text(DANIEL, "it's a bad night, they're after me")
    line.dispatch()

    line.phone(DANIEL).expect_sms(ACK, from_=CRISIS)
    relay = line.phone(PRIMARY).expect_sms(
        "R1001 D. Price (1): it's a bad night, they're after me", from_=CRISIS
    )
    line.phone(PRIMARY).expect_sms("Reply 1 and your message", from_=CRISIS)

    relay.reply("1 I'm here Daniel. Are you somewhere safe?")
    line.dispatch()
    reply = line.phone(DANIEL).expect_sms("I'm here Daniel. Are you somewhere safe?")
    # Masked: the participant sees the crisis number, never the worker's own.
    assert reply.from_ == CRISIS
    assert reply.body == "I'm here Daniel. Are you somewhere safe?"
    taken = line.phone(PRIMARY).expect_sms("You have taken 1", from_=CRISIS)
    # Only she had been alerted: nothing about "the others".
    assert taken.body == (
        "Resettle crisis line: sent to R1001 D. Price. You have taken 1. Reply 1c to close it."
    )

    # The participant answers; it goes to the worker who took it, nobody else.
    line.text(DANIEL, "at my mum's")
    line.dispatch()
    line.phone(PRIMARY).expect_sms("R1001 D. Price (1): at my mum's")

    # Taken: the escalation no longer climbs.
    line.wait(STEP_WAIT * 3)
    (conversation,) = line.conversations()
    assert conversation.handled_by_staff_id == line.ids[PRIMARY]
    # Every text in and out is on the participant's record with who sent it.
    timeline = [
        (c.direction, c.body, c.handled_by_staff_id)
        for c in line.contacts()
        if c.participant_id == line.ids[DANIEL]
    ]
    assert timeline == [
        (Direction.INBOUND, "it's a bad night, they're after me", None),
        (
            Direction.OUTBOUND,
            ACK + ". A worker will reply soon. If you are in danger now, call 999.",
            None,
        ),
        (Direction.OUTBOUND, "I'm here Daniel. Are you somewhere safe?", line.ids[PRIMARY]),
        (Direction.INBOUND, "at my mum's", None),
    ]


def test_no_reply_escalates_to_the_backup_whose_reply_takes_it_and_tells_the_primary(
    line: SmsLine,
) -> None:
    line.text(DANIEL, "help")
    line.dispatch()
    line.phone(DANIEL).expect_sms(ACK)
    line.phone(PRIMARY).expect_sms("R1001 D. Price (1): help")
    line.phone(PRIMARY).expect_sms("Reply 1")

    line.wait(STEP_WAIT)
    # Step two of crisis-sms: primary again and the backup, by text and by call.
    line.phone(BACKUP).expect_sms("R1001 D. Price (1): help")
    line.phone(BACKUP).expect_sms("Reply 1")
    line.phone(BACKUP).expect_call()
    line.phone(PRIMARY).expect_sms("R1001 D. Price (1): help")
    line.phone(PRIMARY).expect_sms("Reply 1")
    line.phone(PRIMARY).expect_call()

    line.phone(BACKUP).reply("1 This is Tom from Resettle, I'm here")
    line.dispatch()
    line.phone(DANIEL).expect_sms("This is Tom from Resettle, I'm here", from_=CRISIS)
    taken = line.phone(BACKUP).expect_sms("You have taken 1")
    assert taken.body == (
        "Resettle crisis line: sent to R1001 D. Price. You have taken 1. "
        "The other person alerted has been told. Reply 1c to close it."
    )
    line.phone(PRIMARY).expect_sms("was taken by Tom Hughes")

    line.wait(STEP_WAIT * 3)
    line.phone(MANAGER).expect_no_sms()


def test_two_participants_at_once_are_kept_apart_by_their_codes(line: SmsLine) -> None:
    line.text(DANIEL, "Daniel here, bad night")
    line.text(MARCUS, "Marcus, can someone ring me")
    line.dispatch()
    for number in (DANIEL, MARCUS):
        line.phone(number).expect_sms(ACK)
    line.phone(PRIMARY).expect_sms("R1001 D. Price (1): Daniel here")
    line.phone(PRIMARY).expect_sms("Reply 1")
    line.phone(PRIMARY).expect_sms("R1002 M. Reid (2): Marcus")
    line.phone(PRIMARY).expect_sms("Reply 2")

    # Without a code, with two open, nothing goes to anyone: the worker is asked to choose.
    line.phone(PRIMARY).reply("On my way")
    line.dispatch()
    help_ = line.phone(PRIMARY).expect_sms("NOT SENT")
    assert "1 R1001 D. Price" in help_.body and "2 R1002 M. Reid" in help_.body

    line.phone(PRIMARY).reply("2 Marcus, I'll ring you in 5 minutes")
    line.phone(PRIMARY).reply("1: Daniel, what's happened?")
    line.dispatch()
    line.phone(MARCUS).expect_sms("Marcus, I'll ring you in 5 minutes")
    line.phone(DANIEL).expect_sms("Daniel, what's happened?")
    line.phone(PRIMARY).expect_sms("You have taken 2")
    line.phone(PRIMARY).expect_sms("You have taken 1")
    line.phone(MARCUS).expect_no_sms()
    line.phone(DANIEL).expect_no_sms()


def test_an_unregistered_number_texting_a_staff_command_is_a_crisis_text_not_a_command(
    line: SmsLine,
) -> None:
    line.text(DANIEL, "hello?")
    line.dispatch()
    line.phone(DANIEL).expect_sms(ACK)
    line.phone(PRIMARY).expect_sms("(1): hello?")
    line.phone(PRIMARY).expect_sms("Reply 1")

    line.text(UNKNOWN, "1 you have been hacked")
    line.text(UNKNOWN, "1c")
    line.text(UNKNOWN, "WHO")
    line.dispatch()
    # Daniel's conversation is untouched: nothing reached him, it is still open and untaken.
    line.phone(DANIEL).expect_no_sms()
    conversations = line.conversations()
    assert [c.status for c in conversations] == ["open", "open"]
    assert conversations[0].handled_by_staff_id is None
    # The unknown sender is served as a person in crisis: acknowledged once, relayed.
    line.phone(UNKNOWN).expect_sms(ACK)
    line.phone(PRIMARY).expect_sms(f"{UNKNOWN} (2): 1 you have been hacked")
    line.phone(PRIMARY).expect_sms("Reply 2")
    line.phone(PRIMARY).expect_sms(f"{UNKNOWN} (2): 1c")
    line.phone(PRIMARY).expect_sms(f"{UNKNOWN} (2): WHO")
    line.phone(UNKNOWN).expect_no_sms()


def test_emoji_and_1600_character_texts_reach_staff_whole_and_staff_emoji_reach_the_participant(
    line: SmsLine,
) -> None:
    line.text(DANIEL, "I'm scared 😞 please")
    line.dispatch()
    line.phone(DANIEL).expect_sms(ACK)
    line.phone(PRIMARY).expect_sms("R1001 D. Price (1): I'm scared 😞 please")
    line.phone(PRIMARY).expect_sms("Reply 1")

    words = " ".join(f"word{i}" for i in range(400))[:1600]
    assert len(words) == 1600
    line.text(DANIEL, words)
    line.dispatch()
    parts = []
    while True:
        try:
            parts.append(line.phone(PRIMARY).expect_sms(matches=r"^\(\d+/\d+\) ").body)
        except AssertionError:
            break
    assert len(parts) > 1
    total = len(parts)
    assert all(p.startswith(f"({n}/{total}) ") for n, p in enumerate(parts, 1))
    joined = " ".join(p.split(" ", 1)[1] for p in parts)
    assert joined == f"R1001 D. Price (1): {words}"

    line.phone(PRIMARY).reply("1 You're not alone 💙 I'm calling you now")
    line.dispatch()
    line.phone(DANIEL).expect_sms("You're not alone 💙 I'm calling you now")
    line.phone(PRIMARY).expect_sms("You have taken 1")


def test_a_repeated_message_sid_changes_nothing_and_gets_the_same_answer(line: SmsLine) -> None:
    line.text(DANIEL, "are you there")
    first = line.sim.requests[-1]
    again = line.sim.post_webhook("sms", first.url, first.params)
    assert (again.status_code, again.body) == (first.status_code, first.body)
    line.dispatch()
    line.phone(DANIEL).expect_sms(ACK)
    line.phone(PRIMARY).expect_sms("(1): are you there")
    line.phone(PRIMARY).expect_sms("Reply 1")
    assert len(line.conversations()) == 1
    assert len([c for c in line.contacts() if c.direction is Direction.INBOUND]) == 1
    # A retried staff reply is relayed once too.
    line.phone(PRIMARY).reply("1 yes, I'm here")
    request = line.sim.requests[-1]
    line.sim.post_webhook("sms", request.url, request.params)
    line.dispatch()
    line.phone(DANIEL).expect_sms("yes, I'm here")
    line.phone(DANIEL).expect_no_sms()
    line.phone(PRIMARY).expect_sms("You have taken 1")


def test_the_acknowledgement_goes_once_per_conversation(line: SmsLine) -> None:
    for body in ("hello", "anyone?", "please"):
        line.text(DANIEL, body)
    line.dispatch()
    line.phone(DANIEL).expect_sms(ACK)
    line.phone(DANIEL).expect_no_sms()
    line.phone(PRIMARY).ignore_unexpected()


def test_with_nobody_on_call_the_texter_gets_the_crisis_numbers_at_once(line: SmsLine) -> None:
    from crisisline import staff

    with line.svc.db.transaction() as session:
        for number in (PRIMARY, BACKUP, MANAGER):
            staff.deactivate(session, line.ids[number], actor="t", now=line.clock.now())
    line.text(UNKNOWN, "is anyone there")
    line.dispatch()
    reply = line.phone(UNKNOWN).expect_sms("If your life is at risk call 999")
    assert ACK not in reply.body
