"""Fail-safe answers: TwiML that gives a caller or texter a way to get help without the database."""

from __future__ import annotations

from flask import Blueprint, Response
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from crisisline.services import services
from webhooks.security import signed_by_twilio

blueprint = Blueprint("fallback_webhooks", __name__, url_prefix="/webhooks")


def fail_safe_voice() -> VoiceResponse:
    """Dial FALLBACK_NUMBER if set, then (or otherwise) say where else to get help; no database."""
    svc = services()
    messages = svc.messages
    response = VoiceResponse()
    if svc.settings.fallback_number:
        response.say(messages.connecting_fallback, voice=messages.voice, language=messages.language)
        # No action URL: if the fallback number does not answer, the call falls through to the
        # spoken crisis numbers below instead of ending in silence.
        response.dial(svc.settings.fallback_number, caller_id=svc.settings.crisis_line_number)
    response.say(messages.fallback_spoken, voice=messages.voice, language=messages.language)
    response.pause(length=1)
    response.say(messages.fallback_spoken, voice=messages.voice, language=messages.language)
    response.hangup()
    return response


def twiml(document: VoiceResponse | MessagingResponse) -> Response:
    """A TwiML document as an HTTP 200 response."""
    return Response(str(document), status=200, mimetype="text/xml")


@blueprint.post("/voice/fallback")
@signed_by_twilio
def voice_fallback() -> Response:
    """Twilio's Fallback URL for calls: the fail-safe answer, never touching the database."""
    return twiml(fail_safe_voice())


@blueprint.post("/sms/fallback")
@signed_by_twilio
def sms_fallback() -> Response:
    """Twilio's Fallback URL for texts: the crisis numbers by reply, never touching the database."""
    response = MessagingResponse()
    response.message(services().messages.fallback_sms)
    return twiml(response)
