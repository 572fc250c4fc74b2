"""Status callbacks for the deliveries the service sends (the URL is set on every REST request)."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from crisisline import outbox
from crisisline.services import services
from webhooks.forms import SID_STORED, FormError, optional_int, required
from webhooks.security import signed_by_twilio

blueprint = Blueprint("delivery_webhooks", __name__, url_prefix="/webhooks/deliveries")


@blueprint.post("/<int:delivery_id>/status")
@signed_by_twilio
def delivery_status(delivery_id: int) -> ResponseReturnValue:
    """Move a delivery forward by Twilio's message or call status; repeats change nothing."""
    try:
        update = outbox.StatusUpdate(
            delivery_id=delivery_id,
            # Checked against its column only: a SID of another shape is a callback for none
            # of our deliveries, and ignored.
            sid=required("MessageSid", "CallSid", "SmsSid", longest=SID_STORED),
            provider_status=required("MessageStatus", "CallStatus", "SmsStatus"),
            error_code=optional_int("ErrorCode"),
            sequence=optional_int("SequenceNumber"),
        )
    except FormError as error:
        return {"code": 422, "message": error.message, "field": error.field}, 422
    svc = services()
    with svc.db.transaction() as session:
        outbox.apply_status(session, update, svc.clock.now())
    # Twilio logs an empty 200 as an error; 204 says "received, nothing to return".
    return "", 204
