"""STOP, START and refused texts (21610) end to end through the simulator.

The simulator plays Twilio's own opt-out handling: a STOP keyword gets Twilio's confirmation
text and, from then on, every text from the line to that phone is refused with 21610 until the
phone texts START. An opt-out the service never saw is played with `fail_recipient`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crisisline import sms_conversations, sms_opt_outs
from crisisline.clock import FakeClock
from crisisline.jobs import Jobs
from crisisline.models import DeliveryStatus
from crisisline.simulator import TwilioApiError
from crisisline.sms_commands import STAFF_REPLY
from tests.support.sms_line import (
    ACK,
    DANIEL,
    MANAGER,
    PRIMARY,
    SmsLine,
    bodies_of,
    daniel_reaches_primary,
    plan_links,
    start_line,
)


@pytest.fixture
def line(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[SmsLine]:
    yield from start_line(tmp_path, database_url, clock)


def _opted_out(line: SmsLine, number: str) -> bool:
    with line.svc.db.transaction() as session:
        return sms_opt_outs.is_opted_out(session, number)


def _open_conversation(line: SmsLine) -> None:
    line.text(DANIEL, "can't sleep, head's all over")
    line.dispatch()
    line.phone(DANIEL).expect_sms(ACK)
    line.phone(PRIMARY).expect_sms("R1001 D. Price (1): can't sleep")
    line.phone(PRIMARY).expect_sms("Reply 1")
    line.phone(PRIMARY).reply("1 I'm here, talk to me")
    line.dispatch()
    line.phone(DANIEL).expect_sms("I'm here, talk to me")
    line.phone(PRIMARY).expect_sms("You have taken 1")


def test_stop_is_recorded_and_told_to_staff_and_start_lets_texts_through_again(
    line: SmsLine,
) -> None:
    _open_conversation(line)

    line.text(DANIEL, "  stop ")
    line.dispatch()
    assert line.sim.has_opted_out(DANIEL, "+447700900000")
    assert _opted_out(line, DANIEL)
    line.phone(PRIMARY).expect_sms("texted STOP. The network now blocks texts to them")
    # Twilio answers STOP itself; the service sends the participant nothing more.
    line.phone(DANIEL).expect_sms("You have successfully been unsubscribed")
    line.phone(DANIEL).expect_no_sms()
    # Opting out is a risk alert (issue 8); with no officer recorded it goes to the duty manager.
    line.phone(MANAGER).expect_sms("R1001 opted out of texts from the crisis line")
    line.phone(MANAGER).expect_sms("R1001 has no responsible officer recorded")

    line.text(DANIEL, "START")
    line.dispatch()
    line.phone(DANIEL).expect_sms("You have successfully been re-subscribed")
    assert not line.sim.has_opted_out(DANIEL, "+447700900000")
    assert not _opted_out(line, DANIEL)
    line.phone(PRIMARY).expect_sms("R1001 D. Price (1): START")
    line.phone(PRIMARY).expect_sms("texts to them work again")

    line.phone(PRIMARY).reply("1 Good to hear from you again")
    line.dispatch()
    line.phone(DANIEL).expect_sms("Good to hear from you again")
    assert plan_links(line) == {PRIMARY: 1}


def test_a_staff_reply_while_the_participant_has_opted_out_is_not_sent_and_staff_are_told(
    line: SmsLine,
) -> None:
    _open_conversation(line)
    line.text(DANIEL, "UNSUBSCRIBE")
    line.dispatch()
    line.phone(DANIEL).expect_sms("You have successfully been unsubscribed")
    line.phone(PRIMARY).expect_sms("texted UNSUBSCRIBE")
    line.phone(MANAGER).expect_sms("R1001 opted out of texts from the crisis line")
    line.phone(MANAGER).expect_sms("R1001 has no responsible officer recorded")

    line.phone(PRIMARY).reply("1 Are you still there?")
    line.dispatch()
    notice = line.phone(PRIMARY).expect_sms("NOT SENT")
    assert "opted out" in notice.body and "Call them" in notice.body
    line.phone(DANIEL).expect_no_sms()
    # Nothing was queued that Twilio would refuse.
    assert [d for d in line.deliveries() if d.purpose == STAFF_REPLY and d.error_code] == []
    assert plan_links(line) == {PRIMARY: 1}


def test_a_text_refused_with_21610_marks_the_number_opted_out_and_tells_staff(
    line: SmsLine,
) -> None:
    _open_conversation(line)
    # Daniel opted out in a way the service never saw (Twilio refuses, no STOP reached us).
    line.sim.fail_recipient(DANIEL, 21610, resource="Messages")
    line.phone(PRIMARY).reply("1 Still with you")
    line.dispatch()
    (refused,) = [d for d in line.deliveries() if d.error_code == 21610]
    assert refused.status is DeliveryStatus.FAILED
    assert _opted_out(line, DANIEL)

    # The scheduler's periodic SMS job learns the opt-out from the refusal and tells staff.
    assert "sms-conversations" in [j.name for j in Jobs(line.svc).scheduler_jobs("test")]
    svc = line.svc
    sms_conversations.upkeep(svc.db, line.clock.now(), svc.reach, svc.messages.conversation_idle)
    line.dispatch()
    line.phone(PRIMARY).expect_sms("was refused: they have opted out")

    line.phone(PRIMARY).reply("1 Hello?")
    line.dispatch()
    line.phone(PRIMARY).expect_sms("NOT SENT")
    assert plan_links(line) == {PRIMARY: 1}


def test_a_staff_phone_texting_stop_is_recorded_and_the_duty_manager_told(line: SmsLine) -> None:
    line.phone(PRIMARY).send_sms("+447700900000", "STOP")
    line.dispatch()
    assert _opted_out(line, PRIMARY)
    line.phone(MANAGER).expect_sms("Amira Okafor texted STOP to the crisis line")
    line.phone(PRIMARY).expect_sms("You have successfully been unsubscribed")
    line.phone(PRIMARY).expect_no_sms()


def test_after_stop_twilio_refuses_texts_from_the_line_until_start(line: SmsLine) -> None:
    """The simulator's own check of what the tests above rely on: Twilio's 21610."""
    form = {"To": DANIEL, "From": "+447700900000", "Body": "hello"}
    line.phone(MANAGER).ignore_unexpected()  # the service's opt-out risk alert: tested above
    line.phone(DANIEL).send_sms("+447700900000", "Stop")
    with pytest.raises(TwilioApiError) as refused:
        line.sim.create_message(form)
    assert refused.value.code == 21610
    line.phone(DANIEL).expect_sms("You have successfully been unsubscribed")
    line.phone(DANIEL).send_sms("+447700900000", "unstop")
    line.phone(DANIEL).expect_sms("You have successfully been re-subscribed")
    assert line.sim.create_message(form).to == DANIEL
    line.phone(DANIEL).expect_sms("hello")
    line.dispatch()


@pytest.mark.hazard("H74")
def test_an_opted_out_participants_later_texts_remind_staff_to_call(lenient_line: SmsLine) -> None:
    """docs/sms.md: "While opted out, their texts still reach staff (with a reminder to call)".

    Only the first-step notification carries the reminder; a text relayed in an open
    conversation after STOP arrives with no word that a text reply will not reach him.
    """
    line = lenient_line
    daniel_reaches_primary(line)
    line.text(DANIEL, "STOP")
    line.dispatch()
    line.phone(PRIMARY).expect_sms("texted STOP")
    line.text(DANIEL, "I didn't mean it, I'm scared")
    line.dispatch()
    relayed = [b for b in bodies_of(line, PRIMARY) if "scared" in b]
    assert relayed
    after = bodies_of(line, PRIMARY)[bodies_of(line, PRIMARY).index(relayed[0]) :]
    assert any("call" in b.lower() and "STOP" in b for b in after), after
