"""A throwaway crisis line for the simulator's voice tests: a menu, a screened forward to staff
and a voicemail, behind Twilio's signature check. Not the real service
(tests/integration/test_simulator_voice.py and test_simulator_hangup.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from crisisline.simulator import FlaskClientTransport, Simulator

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
