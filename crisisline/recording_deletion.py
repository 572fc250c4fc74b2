"""Voicemail recordings deleted at the provider, retried until it confirms (see
docs/data-protection.md, "Voicemail recordings").

The retention run (crisisline.retention) asks for a deletion by writing a RecordingDeletion row,
due at once. The scheduler's `delete-recordings` job (`run`, every minute):

1. claims due rows one at a time (`deleted_at IS NULL AND next_attempt_at <= now`, no live
   lease), with a conditional UPDATE that sets a lease in `claimed_until` (and SKIP LOCKED on
   PostgreSQL), so two runners never hold the same row;
2. asks the telephony port to delete the recording, with no transaction open;
3. on the provider's confirmation, or its "no such recording" (already gone), sets
   `deleted_at` and clears the contact's `recording_url` in one transaction, with an audit
   entry (`recording.deleted`); otherwise it keeps both, counts the attempt, records the
   error's type and code (never its text, which may carry the URL) and waits a back-off:
   1 minute, doubling, at most 6 hours. Nothing is ever given up: a recording the provider
   keeps refusing to delete (bad credentials) stays waiting, and /healthz says so.

A transient failure ends the pass (the provider is down or hanging: the rows behind it would
each wait out a timeout), and a pass stops claiming after PASS_DEADLINE_SECONDS, so a hanging
provider holds the job no longer than that and one request timeout.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.orm import Session

from crisisline import audit
from crisisline.data_protection_models import RecordingDeletion
from crisisline.db import Database
from crisisline.models import Contact
from crisisline.telephony import Telephony, TelephonyError, masked_recording

log = logging.getLogger(__name__)

ACTOR: Final = "scheduler"
AUDIT_ACTION: Final = "recording.deleted"
# Far longer than one deletion can take (a request timeout of at most 30 s): a runner that
# died holding a row leaves it to be claimed again after this.
LEASE: Final = dt.timedelta(minutes=5)
BACKOFF_BASE: Final = dt.timedelta(minutes=1)
BACKOFF_CAP: Final = dt.timedelta(hours=6)
PASS_LIMIT: Final = 50
PASS_DEADLINE_SECONDS: Final = 30.0
# /healthz calls deletions failing once a row has waited this long, or at once when the
# provider refused one (a permanent error needs a person: credentials, account).
OVERDUE_AFTER: Final = dt.timedelta(days=1)
PERMANENT_PREFIX: Final = "PermanentTelephonyError"


@dataclass(frozen=True)
class DeletionClaim:
    """A row one runner holds the lease on: the lease's end is its token."""

    contact_id: int
    recording_url: str
    claimed_until: dt.datetime
    attempts: int


@dataclass
class DeletionReport:
    """What one pass of the `delete-recordings` job did."""

    deleted: int = 0
    retrying: int = 0  # the provider failed or did not answer (transient)
    refused: int = 0  # the provider refused (permanent): retried all the same
    lost_claims: int = 0


@dataclass(frozen=True)
class RecordingsHealth:
    """Deletions still waiting, for /healthz."""

    waiting: int
    oldest_requested_at: dt.datetime | None
    failing: int  # waiting rows whose last attempt failed
    refused: int  # of those, the provider refused (a permanent error)


def backoff(attempts: int) -> dt.timedelta:
    """How long to wait after the `attempts`-th failed try: 1, 2, 4 ... minutes, at most 6 h."""
    delay: dt.timedelta = BACKOFF_BASE * (2 ** min(max(attempts - 1, 0), 16))
    return min(delay, BACKOFF_CAP)


def describe(error: BaseException) -> str:
    """What `last_error` keeps of a failure: its type and the provider's code, nothing else."""
    code = getattr(error, "code", None)
    return type(error).__name__ if code is None else f"{type(error).__name__} {code}"


def _due(now: dt.datetime) -> ColumnElement[bool]:
    return (
        RecordingDeletion.deleted_at.is_(None)
        & (RecordingDeletion.next_attempt_at <= now)
        & or_(RecordingDeletion.claimed_until.is_(None), RecordingDeletion.claimed_until < now)
    )


def claim_due(db: Database, now: dt.datetime, limit: int = 1) -> list[DeletionClaim]:
    """Take the lease on up to `limit` due deletions, longest waiting first; two runners never
    hold the same one."""
    due = _due(now)
    claims: list[DeletionClaim] = []
    with db.transaction() as session:
        query = (
            select(RecordingDeletion.contact_id)
            .where(due)
            .order_by(RecordingDeletion.next_attempt_at, RecordingDeletion.contact_id)
            .limit(limit)
        )
        if session.bind is not None and session.bind.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        for contact_id in list(session.scalars(query)):
            # The conditional update is the claim: it succeeds for exactly one runner even
            # where row locks do not exist (SQLite).
            until = now + LEASE
            claimed = session.execute(
                update(RecordingDeletion)
                .where(RecordingDeletion.contact_id == contact_id, due)
                .values(claimed_until=until)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                continue
            row = session.get_one(RecordingDeletion, contact_id)
            session.refresh(row)
            claims.append(DeletionClaim(contact_id, row.recording_url, until, row.attempts))
    return claims


def _held(claim: DeletionClaim) -> ColumnElement[bool]:
    return (
        (RecordingDeletion.contact_id == claim.contact_id)
        & (RecordingDeletion.claimed_until == claim.claimed_until)
        & RecordingDeletion.deleted_at.is_(None)
    )


def record_deleted(db: Database, claim: DeletionClaim, now: dt.datetime) -> bool:
    """The provider confirmed (or has no such recording): the deletion is done, the contact's
    reference cleared and the change audited, in one transaction. False when the claim was
    lost meanwhile (its lease ran out and another runner took the row)."""
    with db.transaction() as session:
        done = session.execute(
            update(RecordingDeletion)
            .where(_held(claim))
            .values(
                deleted_at=now,
                claimed_until=None,
                attempts=RecordingDeletion.attempts + 1,
                last_error=None,
            )
            .execution_options(synchronize_session=False)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            return False
        # Only the reference that was deleted: a contact holding another would keep it.
        session.execute(
            update(Contact)
            .where(Contact.id == claim.contact_id, Contact.recording_url == claim.recording_url)
            .values(recording_url=None)
            .execution_options(synchronize_session=False)
        )
        audit.record(
            session,
            actor=ACTOR,
            action=AUDIT_ACTION,
            record_type="contact",
            record_id=claim.contact_id,
            at=now,
            changes={
                "recording": masked_recording(claim.recording_url),
                "attempts": claim.attempts + 1,
            },
        )
    log.info(
        "%s of contact %s deleted at the provider",
        masked_recording(claim.recording_url),
        claim.contact_id,
    )
    return True


def record_failure(
    db: Database, claim: DeletionClaim, error: BaseException, now: dt.datetime
) -> bool:
    """The deletion failed: keep the reference, count the attempt and wait the back-off. False
    when the claim was lost meanwhile."""
    attempts = claim.attempts + 1
    kept = describe(error)
    with db.transaction() as session:
        updated = session.execute(
            update(RecordingDeletion)
            .where(_held(claim))
            .values(
                attempts=attempts,
                next_attempt_at=now + backoff(attempts),
                claimed_until=None,
                last_error=kept,
            )
            .execution_options(synchronize_session=False)
        )
        if updated.rowcount != 1:  # type: ignore[attr-defined]
            return False
    level = logging.ERROR if kept.startswith(PERMANENT_PREFIX) else logging.WARNING
    log.log(
        level,
        "%s of contact %s not deleted (%s, attempt %d); tried again in %s",
        masked_recording(claim.recording_url),
        claim.contact_id,
        kept,
        attempts,
        backoff(attempts),
    )
    return True


def delete_claimed(
    db: Database, telephony: Telephony, claim: DeletionClaim, now_fn: Callable[[], dt.datetime]
) -> str:
    """Delete one claimed recording at the provider and record the outcome; the DeletionReport
    field it counts in ("deleted", "retrying", "refused" or "lost_claims")."""
    try:
        telephony.delete_recording(claim.recording_url)
    except TelephonyError as error:
        recorded = record_failure(db, claim, error, now_fn())
        if not recorded:
            return "lost_claims"
        return "retrying" if error.transient else "refused"
    except Exception as error:
        # Anything unexpected is a failure like any other: kept, retried, never dropped. Only
        # its type is logged: its text may carry the URL.
        log.error("deleting a recording failed unexpectedly (%s)", type(error).__name__)
        recorded = record_failure(db, claim, error, now_fn())
        return "retrying" if recorded else "lost_claims"
    return "deleted" if record_deleted(db, claim, now_fn()) else "lost_claims"


def run(
    db: Database,
    telephony: Telephony,
    now_fn: Callable[[], dt.datetime],
    *,
    limit: int = PASS_LIMIT,
    deadline_seconds: float = PASS_DEADLINE_SECONDS,
) -> DeletionReport:
    """One pass of the `delete-recordings` job: delete due recordings one at a time until none
    is due, `limit` are done, the deadline passes, or the provider fails transiently."""
    report = DeletionReport()
    deadline = time.monotonic() + deadline_seconds
    while report.deleted + report.retrying + report.refused + report.lost_claims < limit:
        if time.monotonic() >= deadline:
            break
        claims = claim_due(db, now_fn(), 1)
        if not claims:
            break
        outcome = delete_claimed(db, telephony, claims[0], now_fn)
        setattr(report, outcome, getattr(report, outcome) + 1)
        if outcome == "retrying":
            # The provider is down or hanging: the rows behind would each wait out a timeout.
            # A refusal is about one recording (or the credentials): the pass goes on.
            break
    return report


def request(
    session: Session,
    contact_id: int,
    recording_url: str,
    now: dt.datetime,
    run_id: int | None = None,
) -> bool:
    """Ask for the recording of contact `contact_id` to be deleted, due now, unless it has been
    asked for already; True when this call asked. (The retention run writes the same row.)"""
    if session.get(RecordingDeletion, contact_id) is not None:
        return False
    session.add(
        RecordingDeletion(
            contact_id=contact_id,
            recording_url=recording_url,
            run_id=run_id,
            requested_at=now,
            next_attempt_at=now,
            attempts=0,
        )
    )
    session.flush()
    return True


def was_deleted(session: Session, contact_id: int, participant_id: int | None = None) -> bool:
    """Whether contact `contact_id` (his, when `participant_id` is given) had a recording that
    was deleted under the retention schedule and no recording now."""
    query = (
        select(func.count())
        .select_from(RecordingDeletion)
        .join(Contact, Contact.id == RecordingDeletion.contact_id)
        .where(
            RecordingDeletion.contact_id == contact_id,
            RecordingDeletion.deleted_at.is_not(None),
            Contact.recording_url.is_(None),
        )
    )
    if participant_id is not None:
        query = query.where(Contact.participant_id == participant_id)
    return bool(session.scalar(query))


def health(session: Session, now: dt.datetime) -> RecordingsHealth:
    """How many deletions wait, since when, and how many of them are failing."""
    waiting_rows = RecordingDeletion.deleted_at.is_(None)
    waiting = session.scalar(select(func.count()).where(waiting_rows))
    oldest = session.scalar(
        select(RecordingDeletion.requested_at)
        .where(waiting_rows)
        .order_by(RecordingDeletion.requested_at)
        .limit(1)
    )
    failing = session.scalar(
        select(func.count()).where(waiting_rows, RecordingDeletion.last_error.is_not(None))
    )
    refused = session.scalar(
        select(func.count()).where(
            waiting_rows, RecordingDeletion.last_error.startswith(PERMANENT_PREFIX)
        )
    )
    return RecordingsHealth(int(waiting or 0), oldest, int(failing or 0), int(refused or 0))
