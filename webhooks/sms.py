"""The SMS webhook: a text to the crisis number, from a participant, anyone else, or staff."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError
from twilio.twiml.messaging_response import MessagingResponse

from crisisline import sms_conversations
from crisisline.app import Services, services
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
    """Record the text once per MessageSid and route it; replies go through the outbox."""
    try:
        text = _inbound_text()
    except FormError as error:
        return {"code": 422, "message": error.message, "field": error.field}, 422
    svc = services()
    try:
        for attempt in (1, 2):
            try:
                _receive(svc, text)
                break
            except (StaleDataError, OperationalError):
                # The scheduler changed the same escalation at the same moment (a version
                # clash, a deadlock): the whole text was rolled back, so handling it again
                # from the start is safe (the MessageSid is recorded once).
                if attempt == 2:
                    raise
    except Exception as error:
        # Fail safe: whatever broke, the texter gets the crisis numbers rather than silence.
        # Only the error's type is logged: its text can carry the body or the number.
        log.error(
            "sms %s could not be handled (%s); answered with the fallback text",
            text.message_sid,
            type(error).__name__,
        )
        _keep_unrouted(svc, text)
        return _fallback()
    # Empty TwiML: acknowledgements and relays go through the outbox, so a repeat of this
    # request gets exactly the same answer.
    return twiml(MessagingResponse())


def _receive(svc: Services, text: sms_conversations.InboundText) -> None:
    with svc.db.transaction() as session:
        now = svc.clock.now()
        handled = sms_conversations.receive_text(session, text, now, svc.reach, svc.messages)
        svc.check_text_risk(session, handled, now)


def _keep_unrouted(svc: Services, text: sms_conversations.InboundText) -> None:
    """Routing failed and was rolled back: record the text on its own so it is never lost;
    the scheduler routes it again. If even that fails (the database is down), say so."""
    try:
        with svc.db.transaction() as session:
            kept = sms_conversations.keep_unrouted(session, text, svc.clock.now())
        if kept is not None:
            log.error(
                "sms %s kept as contact %s, unrouted; it will be routed again",
                text.message_sid,
                kept,
            )
    except Exception as error:
        log.error(
            "sms %s could not be recorded either (%s): it is not on the record",
            text.message_sid,
            type(error).__name__,
        )


def _fallback() -> Response:
    response = MessagingResponse()
    response.message(services().messages.fallback_sms)
    return twiml(response)
