"""The SMS webhook: a text to the crisis number, from a participant, anyone else, or staff."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue
from twilio.twiml.messaging_response import MessagingResponse

from crisisline import sms_conversations, sms_intake
from crisisline.app import services
from crisisline.phones import caller_number
from webhooks.fallback import twiml
from webhooks.forms import FormError, optional_int, required
from webhooks.security import signed_by_twilio

blueprint = Blueprint("sms_webhooks", __name__, url_prefix="/webhooks")
log = logging.getLogger(__name__)
MAX_MEDIA = 10  # Twilio sends at most 10 media items with one message


def _inbound_text() -> sms_conversations.InboundText:
    """The form Twilio posts, parsed; FormError names a missing or malformed field."""
    region = services().settings.default_region
    from_raw = required("From")
    count = min(max(optional_int("NumMedia") or 0, 0), MAX_MEDIA)
    media = tuple(
        url[:500] for i in range(count) if (url := request.form.get(f"MediaUrl{i}", "").strip())
    )
    return sms_conversations.InboundText(
        message_sid=required("MessageSid", "SmsMessageSid", "SmsSid"),
        from_number=caller_number(from_raw, region),
        from_raw=from_raw,
        to_number=caller_number(request.form.get("To"), region),
        body=sms_conversations.clean_body(request.form.get("Body", "")),
        media_urls=media,
    )


@blueprint.post("/sms")
@signed_by_twilio
def sms() -> ResponseReturnValue:
    """Record the text once per MessageSid and answer; the scheduler routes it within a second
    (crisisline.sms_intake), and every reply goes through the outbox."""
    try:
        text = _inbound_text()
    except FormError as error:
        return {"code": 422, "message": error.message, "field": error.field}, 422
    svc = services()
    try:
        sms_intake.take_in(svc.db, text, svc.clock.now())
    except Exception as error:
        # Fail safe: the text could not even be recorded (the database is down): the texter
        # gets the crisis numbers rather than silence. Only the error's type is logged: its
        # text can carry the body or the number.
        log.error(
            "sms %s could not be recorded (%s); answered with the fallback text",
            text.message_sid,
            type(error).__name__,
        )
        return _fallback()
    # Empty TwiML: acknowledgements and relays go through the outbox, so a repeat of this
    # request gets exactly the same answer.
    return twiml(MessagingResponse())


def _fallback() -> Response:
    response = MessagingResponse()
    response.message(services().messages.fallback_sms)
    return twiml(response)
