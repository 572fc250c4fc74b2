"""The scheduler's jobs: what the scheduler process runs every few seconds, and how often.

Each job is one pass over the database with the app's Services (routing the texts the SMS
webhook took in, sweeping due escalations, sending notices, dispatching the outbox and the
email outbox, auditing); `Jobs.scheduler_jobs` wires them into the PeriodicJobs that
crisisline.scheduler runs, the leader alone running all but the heartbeat, the leadership and
the spool (crisisline.leader).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN, SchedulerEvent
from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from crisisline import (
    alerts,
    calls,
    email_outbox,
    escalation_engine,
    floods,
    handover_delivery,
    heartbeat,
    leader,
    note_prompts,
    provider_outages,
    recording_deletion,
    retention,
    rota_notices,
    sms_conversations,
    sms_intake,
)
from crisisline.outbox import DispatchReport, dispatch_due, next_due_at
from crisisline.scheduler import PeriodicJob, build_scheduler, run_every_process_jobs, wake
from crisisline.services import Services
from crisisline.spool import SPOOL_SECONDS
from crisisline.wakeups import SAFETY_SWEEP_SECONDS, Listener, ListenerState, Work

log = logging.getLogger(__name__)

SWEEP_SECONDS = 1.0  # how often due deliveries (and, later, escalations) are swept
HEARTBEAT_SECONDS = 5.0
NOTICE_SECONDS = 60.0  # shift reminders and the daily gap warning
PENDING_NOTICE_SECONDS = 5.0  # notices recorded by rota changes
AUDIT_SECONDS = 30.0
NOTE_PROMPT_SECONDS = 15.0  # a worker hears about the note within seconds of the call ending
# Email carries the morning handover, nothing a person waits on by the second.
EMAIL_SECONDS = 5.0
# The morning handover: checked every minute, sent once a day (crisisline.handover_delivery).
HANDOVER_SECONDS = 60.0
# Voicemail recordings the retention run asked to be deleted at the provider.
RECORDING_DELETION_SECONDS = 60.0


def scheduler_name() -> str:
    """A name for this scheduler process: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Jobs:
    """The scheduler's jobs, run with the Services of one app."""

    svc: Services

    def _check_text_risk(
        self, session: Session, handled: sms_intake.Handled, now: dt.datetime
    ) -> None:
        """The risk rules on a participant's text just routed, in the same transaction."""
        if handled.kind == "participant":
            alerting = self.svc.alerting
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
        with self.svc.db.transaction() as session:
            waiting = sms_intake.unrouted_ids(session, self.svc.clock.now())
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
        svc = self.svc
        for attempt in (1, 2):
            now = svc.clock.now()
            try:
                with svc.db.transaction() as session:
                    handled = sms_intake.route_unrouted(
                        session,
                        contact_id,
                        now,
                        svc.reach,
                        svc.messages,
                        svc.settings.default_region,
                        svc.flood_rules,
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
        svc = self.svc
        try:
            with svc.db.transaction() as session:
                first = sms_intake.routing_failed(
                    session,
                    contact_id,
                    svc.clock.now(),
                    svc.reach,
                    svc.messages,
                    svc.settings.default_region,
                    svc.flood_rules,
                )
            if first:
                log.error("sms %s: its sender is sent the crisis numbers", contact_id)
        except Exception as error:
            log.error("sms %s: marking it failed failed too (%s)", contact_id, type(error).__name__)

    def sweep_escalations(self) -> int:
        """One pass of the escalation engine: advance every escalation that is due."""
        svc = self.svc
        now = svc.clock.now()
        try:
            escalation_engine.close_settled(svc.db, now, svc.reach)
        except Exception:
            # Tidying must never stand in the way of the sweep itself.
            log.exception("closing settled escalations failed; the sweep goes on")
        try:
            sms_conversations.chase_quiet_takers(svc.db, now, svc.reach)
        except Exception:
            log.exception("chasing quiet conversations failed; the sweep goes on")
        try:
            floods.end_quiet_floods(svc.db, now, svc.reach, svc.flood_rules)
        except Exception:
            log.exception("ending a quiet flood failed; the sweep goes on")
        return escalation_engine.sweep_due(svc.db, now, svc.reach)

    def next_delivery_due(self) -> dt.datetime | None:
        """When the next queued delivery is due (a retry's back-off), for an exact wake-up."""
        return next_due_at(self.svc.db)

    def next_escalation_due(self) -> dt.datetime | None:
        """When the next open escalation is due, for an exact-time wake-up."""
        return escalation_engine.next_due_at(self.svc.db)

    def send_rota_notices(self) -> int:
        """Shift reminders and the daily gap warning, each sent once."""
        svc = self.svc
        now, from_ = svc.clock.now(), svc.settings.crisis_line_number
        lead = dt.timedelta(minutes=svc.settings.shift_reminder_minutes)
        sent = rota_notices.send_shift_reminders(svc.db, now, from_=from_, lead=lead)
        zone = svc.settings.zone
        return sent + rota_notices.send_daily_gap_warning(svc.db, now, from_=from_, zone=zone)

    def send_pending_notices(self) -> int:
        """Notices recorded by rota changes: changed shifts and new gaps."""
        return rota_notices.send_pending_notices(
            self.svc.db, self.svc.clock.now(), from_=self.svc.settings.crisis_line_number
        )

    def audit_escalations(self) -> list[int]:
        """Report escalations overdue by more than a minute, and chase calls left unchased."""
        svc = self.svc
        now = svc.clock.now()
        try:
            with svc.db.transaction() as session:
                calls.chase_unfinished(
                    session,
                    now,
                    svc.reach,
                    svc.settings.zone,
                    svc.alerting,
                    flood_rules=svc.flood_rules,
                )
        except Exception:
            # The overdue report below must go on whatever happens here.
            log.exception("chasing unfinished calls failed; the overdue audit goes on")
        return escalation_engine.audit_overdue(svc.db, now, svc.reach)

    def dispatch_outbox(self) -> DispatchReport:
        """One pass of the outbox dispatcher: send whatever is due."""
        svc = self.svc
        report = dispatch_due(
            svc.db,
            svc.telephony,
            svc.clock.now,
            svc.delivery_status_url,
            workers=svc.settings.dispatch_workers,
            crisis_horizon=dt.timedelta(hours=svc.settings.crisis_retry_hours),
        )
        try:
            provider_outages.watch(
                svc.db, svc.clock.now(), svc.settings.crisis_line_number, svc.settings.zone
            )
        except Exception:
            # Noticing an outage must never stop the sends themselves.
            log.exception("watching for a provider outage failed")
        return report

    def send_note_prompts(self) -> note_prompts.PassReport:
        """Text each worker whose handled contact ended a link to its note form, and the one
        reminder when there is still no note (crisisline.note_prompts)."""
        return note_prompts.run(self.svc.db, self.svc.clock.now(), self.svc.settings)

    def dispatch_email(self) -> email_outbox.EmailDispatchReport:
        """One pass of the email outbox: send whatever email is due through the mailer."""
        svc = self.svc
        return email_outbox.dispatch_due(
            svc.db, svc.mailer, svc.clock.now, sender=svc.settings.email_from
        )

    def send_handover(self) -> handover_delivery.Sent | None:
        """The morning handover to the duty managers and the clinical lead, once a day."""
        svc = self.svc
        return handover_delivery.send_due(svc.db, svc.clock.now(), svc.settings)

    def delete_recordings(self) -> recording_deletion.DeletionReport:
        """Delete at the provider the recordings waiting to be, keeping each reference until
        the provider confirms (crisisline.recording_deletion)."""
        svc = self.svc
        return recording_deletion.run(svc.db, svc.telephony, svc.clock.now)

    def run_retention(self) -> retention.Outcome | None:
        """The daily retention run, once a day at or after RETENTION_TIME local."""
        svc = self.svc
        return retention.run_due(
            svc.db,
            svc.retention,
            clock=svc.clock.now,
            zone=svc.settings.zone,
            at=svc.settings.retention_time,
            secret_key=svc.settings.secret_key,
        )

    @property
    def woken(self) -> bool:
        """Whether a commit wakes this scheduler across processes (PostgreSQL, WAKEUPS=on): its
        sweeps are then only the safety net. On SQLite a second process would not hear the
        first, so the sweeps stay every second."""
        wakes = self.svc.db.wakes
        return wakes.enabled and wakes.postgres

    def start_scheduler(self, name: str, *, background: bool) -> BaseScheduler:
        """The scheduler process called `name`: its jobs, and the wake-ups that start them when
        a commit creates their work. The caller starts it."""
        listener = ListenerState()
        jobs = self.scheduler_jobs(name, listener=listener if self.woken else None)
        run_every_process_jobs(jobs)
        scheduler = build_scheduler(jobs, background=background)
        stop = self._listen(scheduler, listener)

        def on_shutdown(_event: SchedulerEvent) -> None:
            stop()

        scheduler.add_listener(on_shutdown, EVENT_SCHEDULER_SHUTDOWN)
        return scheduler

    def _listen(self, scheduler: BaseScheduler, state: ListenerState) -> Callable[[], None]:
        """Start hearing wake-ups for `scheduler`'s jobs; returns how to stop."""
        wakes = self.svc.db.wakes
        if not wakes.enabled:
            return lambda: None

        def on_wake(work: Work) -> None:
            wake(scheduler, work.value)

        if wakes.postgres:
            listener = Listener(self.svc.settings.database_url, on_wake, state=state).start()
            return listener.stop
        # SQLite: the web requests of this same process (make run) wake it in memory.
        wakes.subscribe(on_wake)
        return lambda: wakes.unsubscribe(on_wake)

    def scheduler_jobs(
        self, name: str, *, listener: ListenerState | None = None
    ) -> list[PeriodicJob]:
        """The periodic jobs of the scheduler process called `name` (`listener`: the state of
        its wake-up listener, reported in its heartbeat)."""
        svc = self.svc
        started_at = svc.clock.now()
        woken = self.woken
        # Woken by commits, the sweeps are the safety net; otherwise they are the only way.
        sweep = SAFETY_SWEEP_SECONDS if woken else SWEEP_SECONDS
        # On PostgreSQL one scheduler leads and runs the jobs; the others stand by (leader.py).
        leadership = leader.leadership_for(svc.db)

        def beat() -> None:
            with svc.db.transaction() as session:
                heartbeat.beat(
                    session,
                    name=name,
                    pid=os.getpid(),
                    started_at=started_at,
                    now=svc.clock.now(),
                    role=leadership.role,
                    wake_listening=listener.listening if listener is not None else None,
                    wake_reconnects=listener.reconnects if listener is not None else 0,
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
                Work.ESCALATIONS.value,
                sweep,
                self.sweep_escalations,
                next_due=self.next_escalation_due,
            ),
            PeriodicJob("rota-notices", NOTICE_SECONDS, self.send_rota_notices),
            PeriodicJob("pending-notices", PENDING_NOTICE_SECONDS, self.send_pending_notices),
            PeriodicJob(Work.TEXTS.value, sweep, self.route_texts),
            PeriodicJob(
                Work.OUTBOX.value,
                sweep,
                self.dispatch_outbox,
                # Woken, a retry waiting out its back-off is sent on time, not at the next sweep.
                next_due=self.next_delivery_due if woken else None,
            ),
            PeriodicJob("dispatch-email", EMAIL_SECONDS, self.dispatch_email),
            PeriodicJob("audit-escalations", AUDIT_SECONDS, self.audit_escalations),
            PeriodicJob("note-prompts", NOTE_PROMPT_SECONDS, self.send_note_prompts),
            PeriodicJob("handover", HANDOVER_SECONDS, self.send_handover),
            PeriodicJob("delete-recordings", RECORDING_DELETION_SECONDS, self.delete_recordings),
            # The retention schedule: checked every five minutes, run once a day.
            PeriodicJob("retention", retention.CHECK_SECONDS, self.run_retention),
            # Every process: each drains the spool on its own disk (recording is once per SID).
            PeriodicJob("drain-spool", SPOOL_SECONDS, svc.spool_drainer.drain, every_process=True),
            PeriodicJob(
                "sms-conversations",
                AUDIT_SECONDS,
                lambda: sms_conversations.upkeep(
                    svc.db, svc.clock.now(), svc.reach, svc.messages.conversation_idle
                ),
            ),
        ]
        return leader.gate(leadership, jobs)
