"""The app factory and composition root: settings, database, clock and adapters are built here."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from flask import Flask, current_app

from crisisline import crisis_messages, escalations, heartbeat
from crisisline.clock import Clock, SystemClock
from crisisline.crisis_messages import CrisisMessages
from crisisline.db import Database
from crisisline.escalations import Reach
from crisisline.logs import configure_logging
from crisisline.outbox import DispatchReport, dispatch_due
from crisisline.settings import Settings, load_settings
from crisisline.telephony import ConsoleTelephony, Telephony, TwilioTelephony
from escalation.scheduler import PeriodicJob

SWEEP_SECONDS = 1.0  # how often due deliveries (and, later, escalations) are swept
HEARTBEAT_SECONDS = 5.0
AUDIT_SECONDS = 30.0


@dataclass
class Services:
    """Everything a request, a CLI command or the scheduler needs, built once per app."""

    settings: Settings
    db: Database
    clock: Clock
    telephony: Telephony
    messages: CrisisMessages

    def url(self, path: str) -> str:
        """The absolute URL Twilio uses to reach `path` on this service."""
        return self.settings.public_base_url + path

    @property
    def reach(self) -> Reach:
        """How the escalation engine reaches staff: the crisis number and the public URL."""
        return Reach(self.settings.crisis_line_number, self.settings.public_base_url)

    def sweep_escalations(self) -> int:
        """One pass of the escalation engine: advance every escalation that is due."""
        return escalations.sweep_due(self.db, self.clock.now(), self.reach)

    def audit_escalations(self) -> list[int]:
        """Report escalations overdue by more than a minute (the scheduler is behind)."""
        return escalations.audit_overdue(self.db, self.clock.now(), self.reach)

    def delivery_status_url(self, delivery_id: int) -> str:
        """Where the provider posts the progress of delivery `delivery_id`."""
        return self.url(f"/webhooks/deliveries/{delivery_id}/status")

    def dispatch_outbox(self) -> DispatchReport:
        """One pass of the outbox dispatcher: send whatever is due."""
        return dispatch_due(self.db, self.telephony, self.clock.now, self.delivery_status_url)

    def scheduler_jobs(self, name: str) -> list[PeriodicJob]:
        """The periodic jobs of the scheduler process called `name`."""
        started_at = self.clock.now()

        def beat() -> None:
            with self.db.transaction() as session:
                heartbeat.beat(
                    session, name=name, pid=os.getpid(), started_at=started_at, now=self.clock.now()
                )

        return [
            PeriodicJob("heartbeat", HEARTBEAT_SECONDS, beat),
            PeriodicJob("sweep-escalations", SWEEP_SECONDS, self.sweep_escalations),
            PeriodicJob("dispatch-outbox", SWEEP_SECONDS, self.dispatch_outbox),
            PeriodicJob("audit-escalations", AUDIT_SECONDS, self.audit_escalations),
        ]


def build_telephony(settings: Settings) -> Telephony:
    """The telephony adapter the settings ask for."""
    if settings.telephony == "twilio":
        return TwilioTelephony(
            settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_base_url
        )
    return ConsoleTelephony(sys.stdout)


def create_app(
    test_config: Mapping[str, Any] | None = None,
    *,
    settings: Settings | None = None,
    clock: Clock | None = None,
    telephony: Telephony | None = None,
    environ: Mapping[str, str] | None = None,
) -> Flask:
    """Build the crisis line web app; tests pass settings and a clock in, production reads env."""
    app = Flask(__name__, instance_relative_config=False)
    if settings is None:
        settings = load_settings(environ)
    configure_logging()
    app.config.update(SECRET_KEY=settings.secret_key, JSON_SORT_KEYS=False)
    if test_config:
        app.config.update(test_config)
    services = Services(
        settings=settings,
        db=Database(settings.database_url),
        clock=clock or SystemClock(),
        telephony=telephony or build_telephony(settings),
        messages=crisis_messages.load(),
    )
    app.extensions["crisisline"] = services

    from crisisline import calendar_feeds, health
    from crisisline.api import init_api
    from webhooks import init_webhooks

    app.register_blueprint(health.blueprint)
    app.register_blueprint(calendar_feeds.blueprint)
    init_api(app)
    init_webhooks(app)

    from crisisline.cli import register_commands

    register_commands(app)
    return app


def scheduler_name() -> str:
    """A name for this scheduler process: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def services() -> Services:
    """The Services of the app handling the current request or command."""
    return cast(Services, current_app.extensions["crisisline"])
