"""The service locator: everything a request, a CLI command or the scheduler needs, built once
per app by the composition root (crisisline.app.create_app) and found with `services()`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from flask import current_app

from crisisline import floods
from crisisline.alerts import Alerting
from crisisline.clock import Clock
from crisisline.db import Database
from crisisline.mail import Mailer
from crisisline.retention_schedule import RetentionSchedule
from crisisline.risk_rules import RiskRules
from crisisline.settings import Settings
from crisisline.spool import Spool, SpoolDrainer
from crisisline.telephony import Telephony
from escalation import Reach
from wording.callers import CrisisMessages


@dataclass
class Services:
    """Everything a request, a CLI command or the scheduler needs, built once per app."""

    settings: Settings
    db: Database
    clock: Clock
    telephony: Telephony
    messages: CrisisMessages
    risk_rules: RiskRules
    spool: Spool
    # Records the calls and texts kept in the spool, as their webhooks would have.
    spool_drainer: SpoolDrainer
    # How the escalation engine reaches staff: the crisis number, the public URL and the
    # links that play voicemails.
    reach: Reach
    # Sends the email outbox (crisisline.email_outbox): SMTP when SMTP_URL is set.
    mailer: Mailer
    # How long each kind of record is kept (config/retention.toml, checked at start-up).
    retention: RetentionSchedule

    def url(self, path: str) -> str:
        """The absolute URL Twilio uses to reach `path` on this service."""
        return self.settings.public_base_url + path

    def delivery_status_url(self, delivery_id: int) -> str:
        """Where the provider posts the progress of delivery `delivery_id`."""
        return self.url(f"/webhooks/deliveries/{delivery_id}/status")

    @property
    def flood_rules(self) -> floods.FloodRules:
        """The thresholds of flood handling and automatic replies, from the settings."""
        return floods.FloodRules.from_settings(self.settings)

    @property
    def alerting(self) -> Alerting:
        """What the call and text flows need to raise risk alerts."""
        return Alerting(self.reach, self.risk_rules, self.settings.zone)


def services() -> Services:
    """The Services of the app handling the current request or command."""
    return cast(Services, current_app.extensions["crisisline"])
