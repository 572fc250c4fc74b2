"""The service locator: everything a request, a CLI command or the scheduler needs, built once
per app by the composition root (crisisline.app.create_app) and found with `services()`."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from flask import current_app
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from crisisline import (
    alerts,
    calls,
    escalation_engine,
    floods,
    heartbeat,
    leader,
    provider_outages,
    rota_notices,
    sms_conversations,
)
from crisisline.alerts import Alerting
from crisisline.clock import Clock
from crisisline.crisis_messages import CrisisMessages
from crisisline.db import Database
from crisisline.outbox import DispatchReport, dispatch_due
from crisisline.risk_rules import RiskRules
from crisisline.settings import Settings
from crisisline.spool import DrainReport, Entry, Spool, drain
from crisisline.telephony import Telephony
from escalation import Reach
from escalation.scheduler import PeriodicJob

log = logging.getLogger(__name__)

SWEEP_SECONDS = 1.0  # how often due deliveries (and, later, escalations) are swept
HEARTBEAT_SECONDS = 5.0
NOTICE_SECONDS = 60.0  # shift reminders and the daily gap warning
PENDING_NOTICE_SECONDS = 5.0  # notices recorded by rota changes
AUDIT_SECONDS = 30.0
SPOOL_SECONDS = 5.0  # how often calls and texts kept in the spool are tried again


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
    # Records one spooled webhook request as its webhook would have (webhooks.spool_recorder.record,
    # set by create_app: the webhooks know how to read their own forms).
    record_spooled: Callable[[Services, Entry], None] | None = None
    _draining: threading.Lock = field(default_factory=threading.Lock)
    _starting_drainer: threading.Lock = field(default_factory=threading.Lock)
    _drainer: threading.Thread | None = None

    def drain_spool(self) -> DrainReport:
        """The scheduler's `drain-spool` job (and `crisisline spool drain`): record every call
        and text kept in the spool while the database could not take them, oldest first; each
        is removed once recorded, and one that fails stays to be tried again."""
        record = self.record_spooled
        if record is None:
            raise RuntimeError("no recorder for spooled requests: build Services with create_app")
        with self._draining:  # one pass at a time in this process (see spool.drain for others)
            return drain(self.spool, lambda entry: record(self, entry))

    def keep_draining(self) -> None:
        """Drain the spool from this (web) process too, every SPOOL_SECONDS until it is empty,
        in a background thread (one at most). Where the web process's disk is not the
        scheduler's (a platform with a disk per process), this is what records its spool."""
        with self._starting_drainer:
            if self._drainer is not None and self._drainer.is_alive():
                return
            self._drainer = threading.Thread(
                target=self._drain_until_empty, name="spool-drainer", daemon=True
            )
            self._drainer.start()

    def _drain_until_empty(self) -> None:
        # The first pass waits: the database has only just been found unreachable.
        while not self.db.closed.wait(SPOOL_SECONDS):
            with self.db.background:
                if self.db.closed.is_set():
                    return
                try:
                    if self.drain_spool().waiting == 0:
                        return
                except Exception as error:
                    log.error("draining the spool failed (%s); trying again", type(error).__name__)

    def url(self, path: str) -> str:
        """The absolute URL Twilio uses to reach `path` on this service."""
        return self.settings.public_base_url + path

    @property
    def reach(self) -> Reach:
        """How the escalation engine reaches staff: the crisis number, the public URL and the
        links that play voicemails."""
        from crisisline import voicemail_links  # it serves links with this module's services()

        return Reach(
            self.settings.crisis_line_number,
            self.settings.public_base_url,
            functools.partial(voicemail_links.url, self.settings),
        )

    @property
    def flood_rules(self) -> floods.FloodRules:
        """The thresholds of flood handling and automatic replies, from the settings."""
        return floods.FloodRules.from_settings(self.settings)

    @property
    def alerting(self) -> Alerting:
        """What the call and text flows need to raise risk alerts."""
        return Alerting(self.reach, self.risk_rules, self.settings.zone)

    def _check_text_risk(
        self, session: Session, handled: sms_conversations.Handled, now: dt.datetime
    ) -> None:
        """The risk rules on a participant's text just routed, in the same transaction."""
        if handled.kind == "participant":
            alerting = self.alerting
            alerts.evaluate_contact_safely(
                session,
                handled.contact_id,
                now,
                alerting.reach,
                rules=alerting.rules,
                zone=alerting.zone,
            )

    def route_texts(self) -> int:
        """The scheduler's `route-texts` job: route every text taken in by the SMS webhook and
        not yet routed (crisisline.sms_intake), oldest first, each in its own transaction; the
        number routed. A text whose routing fails stays to be tried again (for a day), and its
        sender is sent the crisis numbers the first time."""
        with self.db.transaction() as session:
            waiting = sms_conversations.unrouted_ids(session, self.clock.now())
        routed = 0
        for contact_id in waiting:
            try:
                routed += self._route_text(contact_id)
            except Exception as error:
                # Only the type: the error's text can carry the body or the number.
                log.error("sms %s could not be routed (%s)", contact_id, type(error).__name__)
                self._routing_failed(contact_id)
        return routed

    def _route_text(self, contact_id: int) -> int:
        for attempt in (1, 2):
            now = self.clock.now()
            try:
                with self.db.transaction() as session:
                    handled = sms_conversations.route_unrouted(
                        session,
                        contact_id,
                        now,
                        self.reach,
                        self.messages,
                        self.settings.default_region,
                        self.flood_rules,
                    )
                    if handled is None:
                        return 0  # routed meanwhile by another process
                    self._check_text_risk(session, handled, now)
                    return 1
            except (StaleDataError, OperationalError):
                # The escalation sweep changed the same escalation at the same moment (a
                # version clash, a deadlock): all of it was rolled back, so routing it again
                # from the start is safe.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _routing_failed(self, contact_id: int) -> None:
        try:
            with self.db.transaction() as session:
                first = sms_conversations.routing_failed(
                    session,
                    contact_id,
                    self.clock.now(),
                    self.reach,
                    self.messages,
                    self.settings.default_region,
                    self.flood_rules,
                )
            if first:
                log.error("sms %s: its sender is sent the crisis numbers", contact_id)
        except Exception as error:
            log.error("sms %s: marking it failed failed too (%s)", contact_id, type(error).__name__)

    def sweep_escalations(self) -> int:
        """One pass of the escalation engine: advance every escalation that is due."""
        now = self.clock.now()
        try:
            escalation_engine.close_settled(self.db, now, self.reach)
        except Exception:
            # Tidying must never stand in the way of the sweep itself.
            log.exception("closing settled escalations failed; the sweep goes on")
        try:
            sms_conversations.chase_quiet_takers(self.db, now, self.reach)
        except Exception:
            log.exception("chasing quiet conversations failed; the sweep goes on")
        try:
            floods.end_quiet_floods(self.db, now, self.reach, self.flood_rules)
        except Exception:
            log.exception("ending a quiet flood failed; the sweep goes on")
        return escalation_engine.sweep_due(self.db, now, self.reach)

    def next_escalation_due(self) -> dt.datetime | None:
        """When the next open escalation is due, for an exact-time wake-up."""
        return escalation_engine.next_due_at(self.db)

    def send_rota_notices(self) -> int:
        """Shift reminders and the daily gap warning, each sent once."""
        now, from_ = self.clock.now(), self.settings.crisis_line_number
        lead = dt.timedelta(minutes=self.settings.shift_reminder_minutes)
        sent = rota_notices.send_shift_reminders(self.db, now, from_=from_, lead=lead)
        zone = self.settings.zone
        return sent + rota_notices.send_daily_gap_warning(self.db, now, from_=from_, zone=zone)

    def send_pending_notices(self) -> int:
        """Notices recorded by rota changes: changed shifts and new gaps."""
        return rota_notices.send_pending_notices(
            self.db, self.clock.now(), from_=self.settings.crisis_line_number
        )

    def audit_escalations(self) -> list[int]:
        """Report escalations overdue by more than a minute, and chase calls left unchased."""
        now = self.clock.now()
        try:
            with self.db.transaction() as session:
                calls.chase_unfinished(
                    session,
                    now,
                    self.reach,
                    self.settings.zone,
                    self.alerting,
                    flood_rules=self.flood_rules,
                )
        except Exception:
            # The overdue report below must go on whatever happens here.
            log.exception("chasing unfinished calls failed; the overdue audit goes on")
        return escalation_engine.audit_overdue(self.db, now, self.reach)

    def delivery_status_url(self, delivery_id: int) -> str:
        """Where the provider posts the progress of delivery `delivery_id`."""
        return self.url(f"/webhooks/deliveries/{delivery_id}/status")

    def dispatch_outbox(self) -> DispatchReport:
        """One pass of the outbox dispatcher: send whatever is due."""
        report = dispatch_due(
            self.db,
            self.telephony,
            self.clock.now,
            self.delivery_status_url,
            workers=self.settings.dispatch_workers,
            crisis_horizon=dt.timedelta(hours=self.settings.crisis_retry_hours),
        )
        try:
            provider_outages.watch(
                self.db, self.clock.now(), self.settings.crisis_line_number, self.settings.zone
            )
        except Exception:
            # Noticing an outage must never stop the sends themselves.
            log.exception("watching for a provider outage failed")
        return report

    def scheduler_jobs(self, name: str) -> list[PeriodicJob]:
        """The periodic jobs of the scheduler process called `name`."""
        started_at = self.clock.now()
        # On PostgreSQL one scheduler leads and runs the jobs; the others stand by (leader.py).
        leadership = leader.leadership_for(self.db)

        def beat() -> None:
            with self.db.transaction() as session:
                heartbeat.beat(
                    session,
                    name=name,
                    pid=os.getpid(),
                    started_at=started_at,
                    now=self.clock.now(),
                    role=leadership.role,
                )

        def lead() -> None:
            before = leadership.role
            if leadership.refresh() != before:
                beat()  # tell /healthz and operators at once who leads now

        jobs = [
            PeriodicJob(
                "leadership",
                leader.RETRY_SECONDS,
                lead,
                stop=leadership.release,
                every_process=True,
            ),
            PeriodicJob("heartbeat", HEARTBEAT_SECONDS, beat, every_process=True),
            PeriodicJob(
                "sweep-escalations",
                SWEEP_SECONDS,
                self.sweep_escalations,
                next_due=self.next_escalation_due,
            ),
            PeriodicJob("rota-notices", NOTICE_SECONDS, self.send_rota_notices),
            PeriodicJob("pending-notices", PENDING_NOTICE_SECONDS, self.send_pending_notices),
            PeriodicJob("route-texts", SWEEP_SECONDS, self.route_texts),
            PeriodicJob("dispatch-outbox", SWEEP_SECONDS, self.dispatch_outbox),
            PeriodicJob("audit-escalations", AUDIT_SECONDS, self.audit_escalations),
            # Every process: each drains the spool on its own disk (recording is once per SID).
            PeriodicJob("drain-spool", SPOOL_SECONDS, self.drain_spool, every_process=True),
            PeriodicJob(
                "sms-conversations",
                AUDIT_SECONDS,
                lambda: sms_conversations.upkeep(
                    self.db, self.clock.now(), self.reach, self.messages.conversation_idle
                ),
            ),
        ]
        return leader.gate(leadership, jobs)


def services() -> Services:
    """The Services of the app handling the current request or command."""
    return cast(Services, current_app.extensions["crisisline"])
