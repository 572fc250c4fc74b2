"""The simulator follows voice TwiML as Twilio would, against a throwaway signed-webhook app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask, Response, request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from crisisline.simulator import CallScript, FlaskClientTransport, Simulator

ACCOUNT_SID = "AC" + "7" * 32
AUTH_TOKEN = "voice-test-token"
BASE = "https://crisis.example.test"
CRISIS = "+447700900001"
PARTICIPANT = "+447700900123"
STAFF = "+447700900456"
OTHER_STAFF = "+447700900457"
FALLBACK_WORDS = "Nobody could be reached. If you are in danger call 999."


def make_service(*, hang_up_in_whisper: bool = True) -> tuple[Flask, list[dict[str, str]]]:
    """A tiny crisis line: menu, screened forward to staff, voicemail. Not the real service."""
    app = Flask("throwaway-voice-service")
    seen: list[dict[str, str]] = []
    validator = RequestValidator(AUTH_TOKEN)

    def twiml(view: Callable[[dict[str, str]], VoiceResponse]) -> Callable[[], Any]:
        def wrapped() -> Any:
            signature = request.headers.get("X-Twilio-Signature", "")
            if not validator.validate(request.url, request.form, signature):
                return Response("forged", status=403)
            form = {**request.form.to_dict(), "_path": request.path}
            seen.append(form)
            return Response(str(view(form)), mimetype="text/xml")

        wrapped.__name__ = view.__name__
        return wrapped

    @app.post("/start")
    @twiml
    def start(form: dict[str, str]) -> VoiceResponse:
        response = VoiceResponse()
        response.redirect("/voice")
        return response

    @app.post("/voice")
    @twiml
    def voice(form: dict[str, str]) -> VoiceResponse:
        response = VoiceResponse()
        response.say("You have reached the crisis line.", language="en-GB")
        gather = Gather(num_digits=1, action="/menu", timeout=5)
        gather.say("Press 1 to speak to someone, or 2 to leave a message.")
        response.append(gather)
        response.say("We did not hear a choice. Goodbye.")
        response.hangup()
        return response

    @app.post("/menu")
    @twiml
    def menu(form: dict[str, str]) -> VoiceResponse:
        response = VoiceResponse()
        if form.get("Digits") == "1":
            dial = Dial(action="/dial-result", timeout=20, answer_on_bridge=True, caller_id=CRISIS)
            dial.number(STAFF, url="/whisper", status_callback="/staff-status")
            response.append(dial)
        else:
            response.say("Leave a message after the tone.")
            response.record(action="/recorded", max_length=120, recording_status_callback="/rec")
            response.say("We did not get a message. Goodbye.")
        return response

    @app.post("/whisper")
    @twiml
    def whisper(form: dict[str, str]) -> VoiceResponse:
        response = VoiceResponse()
        gather = Gather(num_digits=1, action="/whisper-accept", timeout=8)
        gather.say("Crisis call. Press 1 to accept.")
        response.append(gather)
        if hang_up_in_whisper:
            response.hangup()
        return response

    @app.post("/whisper-accept")
    @twiml
    def whisper_accept(form: dict[str, str]) -> VoiceResponse:
        response = VoiceResponse()
        if form.get("Digits") == "1":
            response.say("Connecting you now.")
        else:
            response.hangup()
        return response

    @app.post("/dial-result")
    @twiml
    def dial_result(form: dict[str, str]) -> VoiceResponse:
        response = VoiceResponse()
        if form.get("DialCallStatus") != "completed":
            response.say(FALLBACK_WORDS)
            response.sms("Call 999, NHS 111 option 2, or Samaritans on 116 123.")
        response.hangup()
        return response

    @app.post("/recorded")
    @twiml
    def recorded(form: dict[str, str]) -> VoiceResponse:
        response = VoiceResponse()
        response.say("Thank you. Someone will call you back.")
        response.hangup()
        return response

    @app.post("/rec")
    @twiml
    def recording_status(form: dict[str, str]) -> VoiceResponse:
        return VoiceResponse()

    @app.post("/staff-status")
    @twiml
    def staff_status(form: dict[str, str]) -> VoiceResponse:
        return VoiceResponse()

    @app.post("/voice/status")
    @twiml
    def voice_status(form: dict[str, str]) -> VoiceResponse:
        return VoiceResponse()

    @app.post("/dial-two")
    @twiml
    def dial_two(form: dict[str, str]) -> VoiceResponse:
        response = VoiceResponse()
        dial = Dial(action="/dial-result", timeout=30)
        dial.number(STAFF, url="/whisper")
        dial.number(OTHER_STAFF, url="/whisper")
        response.append(dial)
        return response

    @app.post("/broken")
    def broken() -> Response:
        return Response("oops", status=500)

    @app.post("/fallback")
    @twiml
    def fallback(form: dict[str, str]) -> VoiceResponse:
        response = VoiceResponse()
        response.say(FALLBACK_WORDS)
        return response

    return app, seen


def make_sim(app: Flask) -> Simulator:
    sim = Simulator(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        transport=FlaskClientTransport(app.test_client()),
    )
    sim.configure_number(
        CRISIS, voice_url=f"{BASE}/voice", voice_status_callback=f"{BASE}/voice/status"
    )
    return sim


def requests_to(seen: list[dict[str, str]], path: str) -> list[dict[str, str]]:
    return [form for form in seen if form["_path"] == path]


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
