"""Twilio webhooks: Flask blueprints that check signatures, parse, call a service, answer TwiML."""

from __future__ import annotations

from flask import Flask

from webhooks.deliveries import blueprint as deliveries_blueprint
from webhooks.escalation_calls import blueprint as escalation_calls_blueprint
from webhooks.fallback import blueprint as fallback_blueprint
from webhooks.sms import blueprint as sms_blueprint
from webhooks.voice import blueprint as voice_blueprint

__all__ = ["init_webhooks"]


def init_webhooks(app: Flask) -> None:
    """Register every webhook blueprint on `app`."""
    app.register_blueprint(deliveries_blueprint)
    app.register_blueprint(fallback_blueprint)
    app.register_blueprint(sms_blueprint)
    app.register_blueprint(voice_blueprint)
    app.register_blueprint(escalation_calls_blueprint)
