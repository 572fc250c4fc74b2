"""The app factory and composition root: settings, database, clock and adapters are built here."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

import wording.callers
from crisisline import (
    crisis_plan_links,
    escalation_engine,
    escalation_policies,
    feeds,
    gate,
    health,
    sms_conversations,
    voicemail_links,
)
from crisisline.api import init_api
from crisisline.clock import Clock, SystemClock
from crisisline.commands import register_commands
from crisisline.console import init_console
from crisisline.db import Database
from crisisline.logs import configure_logging
from crisisline.mail import ConsoleMailer, Mailer, SmtpMailer
from crisisline.retention_schedule import load as load_retention_schedule
from crisisline.risk_rules import load as load_risk_rules
from crisisline.services import Services
from crisisline.settings import Settings, SettingsError, load_settings
from crisisline.spool import Spool, SpoolDrainer
from crisisline.telephony import ConsoleTelephony, Telephony, TwilioTelephony
from escalation import Reach
from webhooks import init_webhooks, spool_recorder

log = logging.getLogger(__name__)


def build_telephony(settings: Settings) -> Telephony:
    """The telephony adapter the settings ask for."""
    if settings.telephony == "twilio":
        return TwilioTelephony(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            settings.twilio_api_base_url,
            request_timeout_seconds=settings.twilio_request_timeout,
        )
    return ConsoleTelephony(sys.stdout)


def build_mailer(settings: Settings) -> Mailer:
    """The mailer the settings ask for: SMTP when SMTP_URL is set, else the console's."""
    if settings.smtp_url:
        try:
            return SmtpMailer.from_url(settings.smtp_url)
        except ValueError as error:
            # The message names the part that is wrong, never the URL (it may hold a password).
            raise SettingsError(str(error)) from None
    return ConsoleMailer(Path(settings.instance_path) / "mail")


def create_app(
    test_config: Mapping[str, Any] | None = None,
    *,
    settings: Settings | None = None,
    clock: Clock | None = None,
    telephony: Telephony | None = None,
    environ: Mapping[str, str] | None = None,
    mailer: Mailer | None = None,
) -> Flask:
    """Build the crisis line web app; tests pass settings and a clock in, production reads env."""
    app = Flask(__name__, instance_relative_config=False)
    if settings is None:
        settings = load_settings(environ)
    configure_logging()
    app.config.update(SECRET_KEY=settings.secret_key, JSON_SORT_KEYS=False)
    if test_config:
        app.config.update(test_config)
    db = Database(settings.database_url, retry_seconds=settings.database_retry_seconds)
    db.wakes.enabled = settings.wakeups
    spool = Spool(settings.spool_path)
    services = Services(
        settings=settings,
        db=db,
        clock=clock or SystemClock(),
        telephony=telephony or build_telephony(settings),
        messages=wording.callers.load(),
        risk_rules=load_risk_rules(),
        spool=spool,
        # Records an entry with these very services (the webhooks read their own forms).
        spool_drainer=SpoolDrainer(spool, db, lambda entry: spool_recorder.record(services, entry)),
        reach=Reach(
            settings.crisis_line_number,
            settings.public_base_url,
            functools.partial(voicemail_links.url, settings),
            functools.partial(crisis_plan_links.link_for, settings),
        ),
        mailer=mailer or build_mailer(settings),
        retention=load_retention_schedule(),
    )
    # The shipped escalation policies are checked now, not first read mid-escalation.
    escalation_policies.shipped_policies()
    app.extensions["crisisline"] = services
    # A crisis text nobody took after the whole crisis-sms chain is a risk alert as well as a
    # safety incident.
    escalation_engine.register_incident_hook(
        "sms_conversation", sms_conversations.unanswered_text_hook(services.risk_rules)
    )

    app.register_blueprint(health.blueprint)
    app.register_blueprint(feeds.blueprint)
    app.register_blueprint(voicemail_links.blueprint)
    init_api(app)
    init_webhooks(app)
    # After the API: the console's sign-in limit shares the API's Limiter.
    init_console(app, https=settings.public_base_url.startswith("https://"))
    # After the API's rate limit, so that guessing tokens is limited before it is refused.
    gate.install(app)
    try:
        if services.spool.waiting():
            # Kept before a restart, on a disk that survived it.
            services.spool_drainer.keep_draining()
    except OSError as error:
        # Start anyway (the webhooks' fail-safe answers work without it); /healthz says so.
        log.error("the webhook spool cannot be read (%s)", type(error).__name__)

    register_commands(app)
    return app
