"""The simulator follows voice TwiML as Twilio would, against a throwaway signed-webhook app."""

from __future__ import annotations

import pytest

from crisisline.simulator import CallScript, FlaskClientTransport, Simulator
from tests.support.throwaway_voice import (
    ACCOUNT_SID,
    BASE,
    CRISIS,
    FALLBACK_WORDS,
    OTHER_STAFF,
    PARTICIPANT,
    STAFF,
    make_service,
    make_sim,
    requests_to,
)


def test_staff_who_presses_1_is_bridged_and_dial_action_reports_completed() -> None:
    app, seen = make_service()
    sim = make_sim(app)
    staff = sim.phone(STAFF, "on call").will_answer("1")

    call = sim.phone(PARTICIPANT).call(CRISIS, "1")

    assert call.status == "completed"
    assert call.bridged_to == STAFF
    assert "You have reached the crisis line." in call.heard
    (result,) = requests_to(seen, "/dial-result")
    assert result["DialCallStatus"] == "completed"
    assert result["DialBridged"] == "true"
    assert result["DialCallSid"].startswith("CA") and len(result["DialCallSid"]) == 34
    assert int(result["DialCallDuration"]) >= 60
    whisper = staff.expect_call(contains="Press 1 to accept", answered=True, from_=CRISIS)
    assert whisper.pressed == ["1"]
    assert requests_to(seen, "/whisper")[0]["ParentCallSid"] == call.sid
    assert requests_to(seen, "/staff-status")[-1]["CallStatus"] == "completed"
    sim.assert_no_unexpected()


def test_voicemail_pressing_nothing_hits_whisper_hangup_so_dial_reports_not_answered() -> None:
    app, seen = make_service()
    sim = make_sim(app)
    staff = sim.phone(STAFF).will_go_to_voicemail()
    participant = sim.phone(PARTICIPANT)

    call = participant.call(CRISIS, "1")

    (result,) = requests_to(seen, "/dial-result")
    assert result["DialCallStatus"] == "no-answer"
    assert result["DialBridged"] == "false"
    assert call.bridged_to is None
    assert FALLBACK_WORDS in call.heard
    voicemail = staff.expect_call(contains="Press 1 to accept", answered=True)
    assert voicemail.pressed == []
    assert voicemail.bridged_to is None
    participant.expect_sms(contains="116 123", from_=CRISIS)
    sim.assert_no_unexpected()


def test_whisper_without_hangup_lets_voicemail_through_as_twilio_does() -> None:
    app, seen = make_service(hang_up_in_whisper=False)
    sim = make_sim(app)
    sim.phone(STAFF).will_go_to_voicemail().ignore_unexpected()

    sim.phone(PARTICIPANT).call(CRISIS, "1")

    # The gotcha from twilio-labs/function-templates#17: a Gather that times out and falls
    # through bridges the call, so a voicemail counts as answered.
    assert requests_to(seen, "/dial-result")[0]["DialCallStatus"] == "completed"


def test_staff_phone_that_rings_out_gives_no_answer_after_the_dial_timeout() -> None:
    app, seen = make_service()
    sim = make_sim(app)
    staff = sim.phone(STAFF).will_not_answer()

    call = sim.phone(PARTICIPANT).call(CRISIS, "1")

    assert requests_to(seen, "/dial-result")[0]["DialCallStatus"] == "no-answer"
    assert requests_to(seen, "/whisper") == []
    missed = staff.expect_call(answered=False)
    assert missed.status == "no-answer"
    assert call.duration >= 20
    sim.phone(PARTICIPANT).expect_sms(contains="999")


def test_busy_staff_phone_gives_busy() -> None:
    app, seen = make_service()
    sim = make_sim(app)
    sim.phone(STAFF).will_be_busy().ignore_unexpected()
    sim.phone(PARTICIPANT).ignore_unexpected().call(CRISIS, "1")
    assert requests_to(seen, "/dial-result")[0]["DialCallStatus"] == "busy"


def test_record_posts_recording_details_to_the_action_and_status_callback() -> None:
    app, seen = make_service()
    sim = make_sim(app)

    call = sim.incoming_call(
        PARTICIPANT, CRISIS, script=CallScript(press=["2"], message="Please call me back tonight.")
    )

    (recorded,) = requests_to(seen, "/recorded")
    assert recorded["RecordingSid"].startswith("RE") and len(recorded["RecordingSid"]) == 34
    assert recorded["RecordingUrl"].endswith(recorded["RecordingSid"])
    assert int(recorded["RecordingDuration"]) >= 1
    assert requests_to(seen, "/rec")[0]["RecordingStatus"] == "completed"
    assert sim.recordings[0].words == "Please call me back tonight."
    assert "Thank you. Someone will call you back." in call.heard


def test_caller_who_stays_silent_at_record_skips_the_action() -> None:
    app, seen = make_service()
    sim = make_sim(app)

    call = sim.phone(PARTICIPANT).call(CRISIS, "2")

    assert requests_to(seen, "/recorded") == []
    assert call.heard[-1] == "We did not get a message. Goodbye."


def test_gather_timeout_falls_through_to_the_next_verb_and_hangup_ends_the_call() -> None:
    app, seen = make_service()
    sim = make_sim(app)

    call = sim.phone(PARTICIPANT).call(CRISIS)

    assert call.heard[-1] == "We did not hear a choice. Goodbye."
    assert requests_to(seen, "/menu") == []
    (status,) = requests_to(seen, "/voice/status")
    assert status["CallStatus"] == "completed"
    assert int(status["CallDuration"]) >= 5


def test_redirect_is_followed_relative_to_the_document_url() -> None:
    app, seen = make_service()
    sim = make_sim(app)

    sim.incoming_call(PARTICIPANT, CRISIS, f"{BASE}/start", script=CallScript(press=["2"]))

    assert [form["_path"] for form in seen[:3]] == ["/start", "/voice", "/menu"]


def test_every_request_carries_twilios_standard_call_parameters() -> None:
    app, seen = make_service()
    sim = make_sim(app)

    call = sim.phone(PARTICIPANT).call(CRISIS, "2")

    first, menu = seen[0], seen[1]
    assert first["CallStatus"] == "ringing"
    assert menu["CallStatus"] == "in-progress"
    for form in (first, menu):
        assert form["AccountSid"] == ACCOUNT_SID
        assert form["CallSid"] == call.sid
        assert form["From"] == PARTICIPANT and form["To"] == CRISIS
        assert form["Direction"] == "inbound"
        assert form["ApiVersion"] == "2010-04-01"
    assert menu["Digits"] == "2"
    assert sim.errors == []


def test_service_that_rejects_the_signature_leaves_the_caller_with_an_application_error() -> None:
    app, _ = make_service()
    sim = Simulator(
        account_sid=ACCOUNT_SID,
        auth_token="not-the-service-token",
        transport=FlaskClientTransport(app.test_client()),
    )

    call = sim.incoming_call(PARTICIPANT, CRISIS, f"{BASE}/voice")

    assert call.heard == ["We are sorry, an application error has occurred. Goodbye."]
    assert call.status == "failed"
    sim.expect_error("HTTP 403")
    with pytest.raises(AssertionError, match="no TwiML"):
        sim.assert_no_unexpected()


def test_failing_voice_url_falls_back_to_the_fallback_url_with_error_code() -> None:
    app, seen = make_service()
    sim = make_sim(app)

    call = sim.incoming_call(PARTICIPANT, CRISIS, f"{BASE}/broken", fallback_url=f"{BASE}/fallback")

    assert call.heard == [FALLBACK_WORDS]
    (fallback,) = requests_to(seen, "/fallback")
    assert fallback["ErrorCode"] == "11200"
    assert fallback["ErrorUrl"] == f"{BASE}/broken"
    sim.expect_error("HTTP 500")


def test_outbound_call_fetches_url_and_the_called_phone_follows_its_script() -> None:
    app, seen = make_service()
    sim = make_sim(app)
    staff = sim.phone(STAFF).will_answer("1")
    sim.create_call(
        {"To": STAFF, "From": CRISIS, "Url": f"{BASE}/whisper"}, ["initiated answered completed"]
    )
    assert requests_to(seen, "/whisper") == []  # nothing happens until pending work runs

    sim.run_pending()

    call = staff.expect_call(contains="Crisis call", answered=True)
    assert call.pressed == ["1"]
    (accept,) = requests_to(seen, "/whisper-accept")
    assert accept["Direction"] == "outbound-api"
    assert accept["To"] == STAFF


def test_simultaneous_numbers_connect_the_first_that_accepts() -> None:
    app, seen = make_service()
    sim = make_sim(app)
    voicemail = sim.phone(STAFF).will_go_to_voicemail()
    person = sim.phone(OTHER_STAFF).queue_script(CallScript(press=["1"], ring_seconds=12))

    call = sim.incoming_call(PARTICIPANT, CRISIS, f"{BASE}/dial-two")

    assert call.bridged_to == OTHER_STAFF
    assert requests_to(seen, "/dial-result")[0]["DialCallStatus"] == "completed"
    # The person rings for 12 s, so the voicemail (20 s) never gets the call.
    missed = voicemail.expect_call(answered=False)
    assert missed.status == "canceled"
    person.expect_call(contains="Press 1 to accept", answered=True)
    sim.assert_no_unexpected()
