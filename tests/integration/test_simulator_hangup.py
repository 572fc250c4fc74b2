"""The simulator's callers hang up as on Twilio, its clock hook and its webhook faults."""

from __future__ import annotations

import pytest

from crisisline.simulator import CallScript, HangUpOrder
from tests.support.throwaway_voice import (
    BASE,
    CRISIS,
    FALLBACK_WORDS,
    PARTICIPANT,
    STAFF,
    make_service,
    make_sim,
    requests_to,
)

# "You have reached the crisis line." and the menu take 7.2 s; pressing 1 takes 0.5 s.
DIAL_STARTS_AT = 7.7


@pytest.mark.parametrize("order", ["action-first", "status-first"])
def test_a_caller_hanging_up_while_staff_ring_cancels_the_leg_and_sends_both_requests(
    order: HangUpOrder,
) -> None:
    app, seen = make_service()
    sim = make_sim(app)
    sim.hang_up_order = order
    passed: list[float] = []
    sim.time_passes = passed.append
    staff = sim.phone(STAFF).will_not_answer()

    call = sim.phone(PARTICIPANT).call(CRISIS, "1", hang_up_after=15)

    # The ringing staff leg is cancelled, and its status callback says so.
    assert staff.expect_call(answered=False).status == "canceled"
    assert requests_to(seen, "/staff-status")[-1]["CallStatus"] == "canceled"
    # The caller's call ends completed after 15 s, and the Dial action is still requested.
    paths = [form["_path"] for form in seen if form["_path"] in ("/dial-result", "/voice/status")]
    assert paths == (
        ["/dial-result", "/voice/status"]
        if order == "action-first"
        else ["/voice/status", "/dial-result"]
    )
    (result,) = requests_to(seen, "/dial-result")
    assert result["CallStatus"] == "completed"
    assert result["DialCallStatus"] == "no-answer"
    assert result["DialBridged"] == "false"
    (final,) = requests_to(seen, "/voice/status")
    assert (final["CallStatus"], final["CallDuration"]) == ("completed", "15")
    # The action's TwiML (the fallback words and a text) was ignored: the caller had gone.
    assert FALLBACK_WORDS not in call.heard_text
    assert sim.phone(PARTICIPANT).inbox == []
    assert call.entries[-2].text == "(hung up while the line rang)"
    # The clock hook heard of every second up to the hang-up, and no more.
    assert sum(passed) == pytest.approx(15)
    sim.assert_no_unexpected()


def test_the_dial_status_sent_after_a_hang_up_can_be_chosen() -> None:
    app, seen = make_service()
    sim = make_sim(app)
    sim.hang_up_dial_status = "canceled"
    sim.phone(STAFF).will_not_answer()
    sim.phone(PARTICIPANT).call(CRISIS, "1", hang_up_after=DIAL_STARTS_AT + 3)
    assert requests_to(seen, "/dial-result")[0]["DialCallStatus"] == "canceled"
    sim.phone(STAFF).expect_call(answered=False)


def test_a_caller_hanging_up_during_a_message_ends_the_call_with_no_further_request() -> None:
    app, seen = make_service()
    sim = make_sim(app)
    call = sim.phone(PARTICIPANT).call(CRISIS, hang_up_after=4)  # during the menu

    assert [form["_path"] for form in seen] == ["/voice", "/voice/status"]
    assert requests_to(seen, "/voice/status")[0]["CallDuration"] == "4"
    assert call.status == "completed"
    assert call.pressed == []


def test_a_caller_hanging_up_while_a_gather_waits_gets_no_gather_action() -> None:
    app, seen = make_service()
    sim = make_sim(app)
    sim.incoming_call(PARTICIPANT, CRISIS, script=CallScript(hang_up_after=9))  # presses nothing

    assert requests_to(seen, "/menu") == []
    assert requests_to(seen, "/voice/status")[0]["CallDuration"] == "9"


@pytest.mark.parametrize("order", ["action-first", "status-first"])
def test_a_caller_hanging_up_while_recording_keeps_the_recording_and_its_action(
    order: HangUpOrder,
) -> None:
    app, seen = make_service()
    sim = make_sim(app)
    sim.hang_up_order = order
    # The menu and "Leave a message after the tone." take 9.5 s; the message would take 6 s.
    words = "It is Daniel, please ring me back tonight, I need help"
    sim.phone(PARTICIPANT).call(CRISIS, "2", message=words, hang_up_after=12.5)

    (recorded,) = requests_to(seen, "/recorded")
    assert recorded["Digits"] == "hangup"
    assert recorded["RecordingDuration"] == "3"  # cut short by the hang-up
    paths = [form["_path"] for form in seen if form["_path"] in ("/recorded", "/voice/status")]
    assert paths[0] == ("/recorded" if order == "action-first" else "/voice/status")
    assert "Thank you" not in " ".join(sim.phone(PARTICIPANT).calls[0].heard)


def test_a_voice_url_that_does_not_answer_sends_twilio_to_the_fallback_url_with_11205() -> None:
    app, seen = make_service()
    sim = make_sim(app)
    sim.fail_next_webhooks("/broken", count=1)  # no answer at all
    call = sim.incoming_call(PARTICIPANT, CRISIS, f"{BASE}/broken", fallback_url=f"{BASE}/fallback")

    (fallback,) = requests_to(seen, "/fallback")
    assert (fallback["ErrorCode"], fallback["ErrorUrl"]) == ("11205", f"{BASE}/broken")
    assert FALLBACK_WORDS in call.heard_text
    sim.expect_error("did not answer within 15 s")
    sim.expect_error("no TwiML")
    sim.assert_no_unexpected()


def test_an_injected_http_error_on_a_webhook_sends_twilio_to_the_fallback_url_with_11200() -> None:
    app, seen = make_service()
    sim = make_sim(app)
    sim.fail_next_webhooks(f"{BASE}/voice", count=1, status=503)
    call = sim.incoming_call(PARTICIPANT, CRISIS, f"{BASE}/voice", fallback_url=f"{BASE}/fallback")

    assert requests_to(seen, "/voice") == []  # the service never saw it
    assert requests_to(seen, "/fallback")[0]["ErrorCode"] == "11200"
    assert FALLBACK_WORDS in call.heard_text
    sim.expect_error("answered HTTP 503")
    sim.expect_error("no TwiML")
    sim.assert_no_unexpected()


def test_a_webhook_delivered_twice_reaches_the_service_twice_and_the_call_goes_on() -> None:
    app, seen = make_service()
    sim = make_sim(app)
    sim.deliver_twice("gather")
    sim.deliver_twice("dial-action")
    sim.phone(STAFF).will_answer("1")
    call = sim.phone(PARTICIPANT).call(CRISIS, "1")

    assert len(requests_to(seen, "/menu")) == 2
    assert len(requests_to(seen, "/dial-result")) == 2
    assert len(requests_to(seen, "/voice/status")) == 1
    assert len(requests_to(seen, "/whisper-accept")) == 1  # only the next one was repeated
    assert call.bridged_to == STAFF
    sim.phone(STAFF).expect_call(answered=True)
    again = sim.redeliver(sim.webhooks("voice", call.sid)[0])
    assert again.ok and len(requests_to(seen, "/voice")) == 2
