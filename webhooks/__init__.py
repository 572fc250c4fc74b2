"""Twilio webhooks: Flask blueprints that check signatures, parse, call a service, answer TwiML."""

from __future__ import annotations

from flask import Flask

from crisisline.gate import declare
from crisisline.permissions import Permission
from webhooks.deliveries import blueprint as deliveries_blueprint
from webhooks.escalation_calls import blueprint as escalation_calls_blueprint
from webhooks.fallback import blueprint as fallback_blueprint
from webhooks.sms import blueprint as sms_blueprint
from webhooks.voice import blueprint as voice_blueprint

__all__ = ["init_webhooks"]


def init_webhooks(app: Flask) -> None:
    """Register every webhook blueprint on `app`."""
    for blueprint in (
        deliveries_blueprint,
        fallback_blueprint,
        sms_blueprint,
        voice_blueprint,
        escalation_calls_blueprint,
    ):
        # Public to the gate on purpose: Twilio signs each request, and every view checks it.
        app.register_blueprint(declare(blueprint, Permission.PUBLIC))
