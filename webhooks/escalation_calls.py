"""The TwiML of escalation calls to staff: 4 takes it, 5 passes it on now, * repeats."""

from __future__ import annotations

from flask import Blueprint, Response, request
from twilio.twiml.voice_response import VoiceResponse

import wording.staff
from crisisline import escalation_engine as engine
from crisisline.escalation_models import EscalationRecord
from crisisline.phones import caller_number
from crisisline.services import services
from escalation import ByPhone
from webhooks.fallback import twiml
from webhooks.security import signed_by_twilio

blueprint = Blueprint("escalation_call_webhooks", __name__, url_prefix="/webhooks/escalations")
GATHER_TIMEOUT_SECONDS = 8


def _say(response: VoiceResponse, text: str) -> None:
    messages = services().messages
    response.say(text, voice=messages.voice, language=messages.language)


def _called_phone() -> str | None:
    # On a call the service placed, Twilio's To is the staff phone that was called.
    return caller_number(request.form.get("To"), services().settings.default_region)


@blueprint.post("/<int:escalation_id>/call")
@signed_by_twilio
def call(escalation_id: int) -> Response:
    """Say what the escalation is about and wait for one key."""
    svc = services()
    response = VoiceResponse()
    phone = _called_phone()
    with svc.db.transaction() as session:
        record = session.get(EscalationRecord, escalation_id)
        code = engine.code_for_phone(session, escalation_id, phone) if phone else None
    if record is None or code is None:
        _say(response, wording.staff.VOICE_NOT_FOR_THIS_PHONE)
        response.hangup()
        return twiml(response)
    if record.status in ("acknowledged", "closed"):
        # Someone took it while this call was ringing: say so rather than offer keys that
        # can no longer do anything.
        by = record.acknowledged_by or record.closed_by
        closed = record.status != "acknowledged"
        _say(response, wording.staff.voice_already_done(record.summary, by, closed=closed))
        response.hangup()
        return twiml(response)
    summary = record.summary
    gather = response.gather(
        num_digits=1,
        action=svc.url(f"/webhooks/escalations/{escalation_id}/call/keypress"),
        method="POST",
        timeout=GATHER_TIMEOUT_SECONDS,
    )
    messages = svc.messages
    gather.say(
        wording.staff.voice_prompt(summary), voice=messages.voice, language=messages.language
    )
    # No key: a voicemail or a missed press never counts as taking it; the chain goes on.
    _say(response, wording.staff.VOICE_NO_KEY)
    response.hangup()
    return twiml(response)


@blueprint.post("/<int:escalation_id>/call/keypress")
@signed_by_twilio
def keypress(escalation_id: int) -> Response:
    """Act on the key pressed and say what happened."""
    svc = services()
    digit = request.form.get("Digits", "").strip()[:1]
    response = VoiceResponse()
    again = svc.url(f"/webhooks/escalations/{escalation_id}/call")
    if digit not in ("4", "5"):
        if digit != "*":
            _say(response, wording.staff.voice_confirmation("invalid"))
        response.redirect(again, method="POST")
        return twiml(response)
    phone = _called_phone()
    with svc.db.transaction() as session:
        code = engine.code_for_phone(session, escalation_id, phone) if phone else None
        if phone is None or code is None:
            _say(response, wording.staff.VOICE_NOT_FOR_THIS_PHONE)
            response.hangup()
            return twiml(response)
        by = ByPhone(phone, code)
        now = svc.clock.now()
        if digit == "4":
            outcome = engine.acknowledge_escalation(session, escalation_id, by, now, svc.reach)
            said = (
                wording.staff.voice_confirmation("acknowledged", told=outcome.others_told)
                if outcome.changed
                else outcome.reply
            )
        else:
            outcome = engine.escalate_escalation_now(session, escalation_id, by, now, svc.reach)
            said = (
                wording.staff.voice_confirmation("escalated") if outcome.changed else outcome.reply
            )
    _say(response, said)
    response.hangup()
    return twiml(response)
