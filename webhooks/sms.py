"""The SMS webhook: a text to the crisis number, from a participant, anyone else, or staff."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue
from twilio.twiml.messaging_response import MessagingResponse

from crisisline import sms_intake
from crisisline.phones import caller_number
from crisisline.services import services
from webhooks import spooled
from webhooks.fallback import twiml
from webhooks.forms import MAX_FIELD, Form, FormError, cleaned, optional_int, sid
from webhooks.security import signed_by_twilio

blueprint = Blueprint("sms_webhooks", __name__, url_prefix="/webhooks")
log = logging.getLogger(__name__)
MAX_MEDIA = 10  # Twilio sends at most 10 media items with one message
MAX_MEDIA_URL = 500  # what is kept of each media link


def inbound_text(region: str, form: Form | None = None) -> sms_intake.InboundText:
    """The form Twilio posts (default: this request's), parsed; FormError names a missing or
    malformed field. Every value fits its column: the MessageSid is a Twilio SID, the sender
    as sent is cleaned and cut, the body and media links are cut to what is stored."""
    fields = request.form if form is None else form
    if not fields.get("From", "").strip():
        raise FormError("From", "From is missing")
    # A sender that is not a number (or nothing once cleaned) is still someone who texted.
    from_raw = cleaned(fields.get("From"), MAX_FIELD)
    count = min(optional_int("NumMedia", form=fields) or 0, MAX_MEDIA)
    media = tuple(
        url for i in range(count) if (url := cleaned(fields.get(f"MediaUrl{i}"), MAX_MEDIA_URL))
    )
    return sms_intake.InboundText(
        message_sid=sid("MessageSid", "SmsMessageSid", "SmsSid", form=fields),
        from_number=caller_number(from_raw, region),
        from_raw=from_raw,
        to_number=caller_number(cleaned(fields.get("To"), MAX_FIELD), region),
        body=sms_intake.clean_body(fields.get("Body", "")),
        media_urls=media,
    )


@blueprint.post("/sms")
@signed_by_twilio
def sms() -> ResponseReturnValue:
    """Record the text once per MessageSid and answer; the scheduler routes it within a second
    (crisisline.sms_intake), and every reply goes through the outbox."""
    svc = services()
    received_at = svc.clock.now()
    try:
        text = inbound_text(svc.settings.default_region)
    except FormError as error:
        return {"code": 422, "message": error.message, "field": error.field}, 422
    try:
        sms_intake.take_in(svc.db, text, received_at, svc.db.deadline())
    except Exception as error:
        # Fail safe: the text could not be recorded even on fresh connections (the database
        # is down): the texter gets the crisis numbers rather than silence, and the request is
        # kept to be recorded and routed once the database is back (crisisline.spool). Only
        # the error's type is logged: its text can carry the body or the number.
        log.error(
            "sms %s could not be recorded (%s); answered with the fallback text",
            text.message_sid,
            type(error).__name__,
        )
        spooled.keep(svc, received_at)
        return _fallback()
    # Empty TwiML: acknowledgements and relays go through the outbox, so a repeat of this
    # request gets exactly the same answer.
    return twiml(MessagingResponse())


def _fallback() -> Response:
    response = MessagingResponse()
    response.message(services().messages.fallback_sms)
    return twiml(response)
