"""GET /healthz: is the database answering, and is the scheduler alive. GET /livez: is this
web process serving at all (for the platform's own health check)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from crisisline import (
    email_outbox,
    escalation_policies,
    heartbeat,
    provider_outages,
    recording_deletion,
    retention,
    sms_intake,
    staff,
    tokens,
)
from crisisline.data_protection_models import RetentionRun
from crisisline.gate import declare
from crisisline.models import SchedulerHeartbeat
from crisisline.permissions import Permission
from crisisline.services import services
from crisisline.spool import Spool
from crisisline.wakeups import SAFETY_SWEEP_SECONDS

blueprint = Blueprint("health", __name__)
# Public to the gate on purpose: load balancers and monitors read the health checks.
declare(blueprint, Permission.PUBLIC)
log = logging.getLogger(__name__)


@blueprint.get("/livez")
def livez() -> ResponseReturnValue:
    """200 while this process answers requests; it touches neither the database nor the
    scheduler's heartbeat.

    This is the check for the platform that restarts web processes. A web process is worth
    keeping with the database down (its webhooks answer with the fail-safe TwiML, dialling
    FALLBACK_NUMBER) or the scheduler dead (calls still ring the on-call chain): restarting it
    for either fixes nothing and drops calls. /healthz is for the people who must act.
    """
    return jsonify(status="ok"), 200


@blueprint.get("/healthz")
def healthz() -> ResponseReturnValue:
    """200 when the database answers, the scheduler beat recently and no text has waited more
    than a minute to be routed; 503 and why otherwise. "degraded" (200) names what needs a
    person: configuration that stops the line reaching people, texts never routed, a provider
    failing sends for 30 s or more (`provider`: how many wait on retries, since when),
    voicemail recordings the provider will not delete (`recordings`), API tokens from before
    tokens had owners."""
    svc = services()
    try:
        with svc.db.transaction() as session:
            beat = heartbeat.latest(session)
            warnings = _configuration_warnings(session)
            legacy_tokens = tokens.live_legacy_count(session, now=svc.clock.now())
            waiting, oldest = sms_intake.oldest_unrouted(session, svc.clock.now())
            given_up = sms_intake.given_up(session, svc.clock.now())
            retrying = provider_outages.waiting(session)
            mail = email_outbox.health(session, svc.clock.now())
            recordings = recording_deletion.health(session, svc.clock.now())
            last_run, last_failure = retention.latest(session)
            stuck = retention.stuck_run(session, svc.clock.now())
    except SQLAlchemyError as exc:
        log.error("health check: database unreachable (%s)", type(exc).__name__)
        return jsonify(
            status="unavailable",
            database="unreachable",
            scheduler=None,
            spool={"waiting": _spooled(svc.spool, [])},
        ), 503
    scheduler: dict[str, Any] = {"last_heartbeat": None, "age_seconds": None, "state": "never seen"}
    healthy = False
    if beat is not None:
        age = (svc.clock.now() - beat.beat_at).total_seconds()
        # Without a live scheduler nothing is sent and nothing escalates: that is unhealthy.
        healthy = age <= heartbeat.STALE_AFTER.total_seconds()
        scheduler = {
            "last_heartbeat": beat.beat_at.isoformat(),
            "age_seconds": round(age, 1),
            "state": "ok" if healthy else "stale",
            "wakeups": _wakeups(beat, warnings),
        }
    # Texts the webhook took in wait for the scheduler's route-texts job (every second). One
    # waiting longer than a minute reaches nobody (the job is failing, or its routing is):
    # people must act.
    texts: dict[str, Any] = {
        "waiting": waiting,
        "oldest_seconds": None,
        "state": "ok",
        "given_up": given_up,
    }
    if oldest is not None:
        texts["oldest_seconds"] = round((svc.clock.now() - oldest).total_seconds(), 1)
        if svc.clock.now() - oldest > sms_intake.ROUTING_OVERDUE:
            texts["state"] = "overdue"
            healthy = False
    if given_up:
        # No longer tried (a relay a day late would mislead more than help), so no longer a
        # reason for 503; but each reached nobody, and a person must answer its sender.
        days = sms_intake.GIVEN_UP_SHOWN_FOR.days
        warnings.append(
            f"{given_up} text(s) from the last {days} days were never routed to staff: "
            "find them with GET /api/v1/contacts?channel=sms&outcome=routing_failed "
            "(or outcome=unrouted) and answer each sender"
        )
    # Calls and texts a webhook could not record (the database was down) wait in the spool
    # until the scheduler records them: till then staff have not been told of them.
    spooled = _spooled(svc.spool, warnings)
    if spooled:
        warnings.append(
            f"{spooled} call(s) or text(s) kept while the database was unreachable wait to be "
            "recorded (the scheduler's drain-spool job, or `crisisline spool drain`)"
        )
    # Sends the provider keeps refusing or not answering: crisis deliveries are retried while
    # their subject is open, but people must know the line is not reaching phones now.
    provider: dict[str, Any] = {
        "state": "ok",
        "waiting": retrying.deliveries,
        "crisis_waiting": retrying.crisis,
        "failing_since": retrying.since.isoformat() if retrying.since else None,
    }
    if provider_outages.failing(svc.clock.now(), retrying) and retrying.since is not None:
        provider["state"] = "failing"
        warnings.append(
            f"the telephony provider is failing: {retrying.deliveries} deliveries "
            f"({retrying.crisis} crisis) waiting on retries, failing since "
            f"{retrying.since.isoformat()}"
        )
    email = _email_state(mail, svc.clock.now(), warnings)
    recordings_block = _recordings_state(recordings, svc.clock.now(), warnings)
    kept = _retention_state(last_run, last_failure, stuck, warnings)
    if legacy_tokens:
        # Tokens from before tokens had owners may do everything, whoever holds them; they keep
        # working (an upgrade must not cut an integration off) until an administrator replaces
        # them, so people must be told.
        warnings.append(
            f"{legacy_tokens} API token(s) made before tokens had owners: issue replacements "
            "with `crisisline tokens create NAME --staff STAFF_ID` (a person) or `--scope "
            "SCOPE` (an integration) and revoke them (`crisisline tokens list` marks them "
            "LEGACY)"
        )
    # Configuration problems do not make the web process unhealthy (restarting it would not
    # help and would drop calls), but the line cannot reach everyone: say so, by name.
    status = ("degraded" if warnings else "ok") if healthy else "unavailable"
    body = {
        "status": status,
        "database": "ok",
        "scheduler": scheduler,
        "texts": texts,
        "spool": {"waiting": spooled},
        "provider": provider,
        "email": email,
        "recordings": recordings_block,
        "retention": kept,
        "warnings": warnings,
    }
    return jsonify(body), 200 if healthy else 503


def _wakeups(beat: SchedulerHeartbeat, warnings: list[str]) -> dict[str, Any]:
    """The leading scheduler's wake-up listener (crisisline.wakeups): "listening", "reconnecting"
    (its connection dropped: work waits for the safety sweep meanwhile) or "none" (SQLite or
    WAKEUPS=off: the sweeps run every second)."""
    if beat.wake_listening is None:
        return {"state": "none", "reconnects": beat.wake_reconnects}
    if not beat.wake_listening:
        warnings.append(
            "the scheduler is not hearing wake-ups (its listening connection dropped and is "
            "reconnecting): texts and deliveries wait for the safety sweep, up to "
            f"{SAFETY_SWEEP_SECONDS:g} s"
        )
    state = "listening" if beat.wake_listening else "reconnecting"
    return {"state": state, "reconnects": beat.wake_reconnects}


def _spooled(spool: Spool, warnings: list[str]) -> int | None:
    """How many requests wait in the spool; None, with a warning, if it cannot be read."""
    try:
        return spool.waiting()
    except OSError as error:
        log.error("health check: the spool cannot be read (%s)", type(error).__name__)
        warnings.append(
            "the webhook spool (SPOOL_DIR) cannot be read: calls and texts the database cannot "
            "take are not kept"
        )
        return None


def _email_state(
    mail: email_outbox.EmailHealth, now: dt.datetime, warnings: list[str]
) -> dict[str, Any]:
    """The email outbox for people: failed emails (the handover not delivered) and emails
    retrying for a while (the SMTP server refusing or down). Neither stops the line: degraded."""
    since = mail.oldest_retrying_since
    state: dict[str, Any] = {
        "state": "ok",
        "failed": mail.failed,
        "retrying": mail.retrying,
        "retrying_since": since.isoformat() if since else None,
    }
    if since is not None and now - since >= email_outbox.FAILING_AFTER:
        state["state"] = "failing"
        warnings.append(
            f"{mail.retrying} email(s) wait on retries since {since.isoformat()}: the SMTP "
            "server (SMTP_URL) is refusing or not answering"
        )
    if mail.failed:
        state["state"] = "failing"
        days = email_outbox.FAILED_SHOWN_FOR.days
        warnings.append(
            f"{mail.failed} email(s) failed in the last {days} days and were not delivered "
            "(the morning handover among them, perhaps): `crisisline emails failed` lists them"
        )
    return state


def _recordings_state(
    recordings: recording_deletion.RecordingsHealth, now: dt.datetime, warnings: list[str]
) -> dict[str, Any]:
    """Voicemail recordings waiting to be deleted at the provider. One the provider refuses to
    delete, or one waiting more than a day, is kept past its time: degraded, with why."""
    oldest = recordings.oldest_requested_at
    state: dict[str, Any] = {
        "state": "ok",
        "waiting": recordings.waiting,
        "oldest_waiting_seconds": round((now - oldest).total_seconds(), 1) if oldest else None,
        "failing": recordings.failing,
    }
    if recordings.refused:
        state["state"] = "failing"
        warnings.append(
            f"{recordings.refused} voicemail recording(s) past their time: Twilio refuses to "
            "delete them (check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN); each is tried again "
            "and its reference kept until Twilio confirms"
        )
    elif oldest is not None and now - oldest > recording_deletion.OVERDUE_AFTER:
        state["state"] = "failing"
        warnings.append(
            f"{recordings.waiting} voicemail recording(s) past their time wait to be deleted "
            f"at Twilio, the oldest since {oldest.isoformat()} ({recordings.failing} failing)"
        )
    return state


def _run_summary(run: RetentionRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "id": run.id,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "status": run.status,
        "error": run.error,
        "changed": sum(int(n) for n in run.counts.values()),
        "held": run.held,
    }


def _retention_state(
    last_run: RetentionRun | None,
    last_failure: RetentionRun | None,
    stuck: RetentionRun | None,
    warnings: list[str],
) -> dict[str, Any]:
    """The retention runs for people: the last finished one, and the last failed one. A failed
    run later than the last finished one keeps records past their time (and leaves what it did
    recorded), and so does a run left "running" by a process that stopped: a person must look.
    It never stops the line: degraded."""
    state: dict[str, Any] = {
        "state": "ok",
        "last_finished": _run_summary(last_run),
        "last_failed": _run_summary(last_failure),
    }
    if last_failure is not None and (
        last_run is None or last_failure.started_at > last_run.started_at
    ):
        state["state"] = "failing"
        warnings.append(
            f"retention run {last_failure.id} failed ({last_failure.error}): records past "
            f"their time are kept until a run finishes (`crisisline retention show "
            f"{last_failure.id}`, then `crisisline retention run`)"
        )
    if stuck is not None:
        # Its process stopped without marking it failed (killed, a restart): the same for
        # people as a failed run, and the day's run will not be made again by itself.
        state["state"] = "failing"
        warnings.append(
            f"retention run {stuck.id} has been running since {stuck.started_at.isoformat()}: "
            "its process stopped part-way; what it did is recorded (`crisisline retention "
            f"show {stuck.id}`); run `crisisline retention run` to finish the work"
        )
    return state


def _configuration_warnings(session: Session) -> list[str]:
    warnings = escalation_policies.missing_rotas(session)
    if not staff.duty_managers(session):
        warnings.append(
            "no active duty manager: gap warnings and unanswered incidents reach nobody"
        )
    return warnings
