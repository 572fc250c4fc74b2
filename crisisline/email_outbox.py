"""The outbox of emails: written in the transaction that decides to send, then sent to the SMTP
server by the scheduler (`dispatch_due`), retried on transient failures, never lost.

Each email's Message-ID is fixed when it is written, so a message sent again after a crash
between the server's acceptance and the row's update is the same message to the mail system.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from crisisline.db import Database, save
from crisisline.email_models import Email, EmailStatus
from crisisline.mail import (
    Mailer,
    MailError,
    MailRefused,
    MailUnavailable,
    mask_address,
    mask_addresses,
)

log = logging.getLogger(__name__)

# Longer than the worst send: every step of an SMTP conversation may take the mailer's
# timeout (10 s), and a conversation has about eight steps.
LEASE = dt.timedelta(minutes=5)
BACKOFF_BASE = dt.timedelta(seconds=30)
BACKOFF_CAP = dt.timedelta(minutes=15)
# A transient failure is retried until this long after the email was written: an SMTP server
# down for a night still gets the morning's handover once it is back; one down for longer
# fails the email, which /healthz and failed_between show.
RETRY_HORIZON = dt.timedelta(hours=24)
# Backoff alone takes about 100 attempts to reach the horizon; this bounds only an email whose
# dispatcher dies on every attempt (each of those waits out a lease rather than a backoff).
DEFAULT_MAX_ATTEMPTS = 120
PASS_LIMIT = 100
# /healthz names failed emails for a week, and emails waiting on retries once the oldest was
# written this long ago (a morning's handover late by a quarter of an hour needs a person).
FAILED_SHOWN_FOR = dt.timedelta(days=7)
FAILING_AFTER = dt.timedelta(minutes=15)


def _domain(sender: str) -> str:
    return sender.rpartition("@")[2].strip(" >") or "localhost"


def enqueue(
    session: Session,
    *,
    to: str,
    subject: str,
    text: str,
    html: str | None,
    purpose: str,
    now: dt.datetime,
    sender: str,
    reference: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> Email:
    """Write one email to `to` into the outbox, due now."""
    email = Email(
        purpose=purpose,
        reference=reference,
        to_address=to.strip(),
        subject=subject[:300],
        text_body=text,
        html_body=html,
        message_id=f"<{uuid.uuid4().hex}@{_domain(sender)}>",
        status=EmailStatus.QUEUED,
        attempts=0,
        max_attempts=max_attempts,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    save(session, email)
    return email


@dataclass(frozen=True)
class EmailClaim:
    """An email a dispatcher holds the lease on, with what it needs to send it."""

    email_id: int
    token: str
    to: str
    subject: str
    text: str
    html: str | None
    message_id: str
    written_at: dt.datetime


@dataclass
class EmailDispatchReport:
    """What one dispatch pass did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    lost_claims: int = 0


def backoff(attempts: int) -> dt.timedelta:
    """How long to wait after the `attempts`-th failed try: 30 s, 1, 2, 4, 8 min, then 15 min."""
    delay: dt.timedelta = BACKOFF_BASE * (2 ** min(max(attempts - 1, 0), 10))
    return min(delay, BACKOFF_CAP)


def claim_due(db: Database, now: dt.datetime, limit: int = 1) -> list[EmailClaim]:
    """Take the lease on up to `limit` due emails, oldest first; two dispatchers never hold the
    same one."""
    token = secrets.token_hex(8)
    due = or_(
        (Email.status == EmailStatus.QUEUED) & (Email.next_attempt_at <= now),
        # A dispatcher that died mid-send left its lease to run out: send again.
        (Email.status == EmailStatus.SENDING) & (Email.claimed_until < now),
    )
    claims: list[EmailClaim] = []
    with db.transaction() as session:
        # An email whose dispatcher died mid-send on every attempt (the email may be what kills
        # it) is failed rather than claimed for ever, and shows as failed.
        session.execute(
            update(Email)
            .where(
                Email.status == EmailStatus.SENDING,
                Email.claimed_until < now,
                or_(Email.attempts >= Email.max_attempts, Email.created_at <= now - RETRY_HORIZON),
            )
            .values(
                status=EmailStatus.FAILED,
                claim_token=None,
                claimed_until=None,
                updated_at=now,
                error_message="the dispatcher stopped while sending, on every attempt",
            )
            .execution_options(synchronize_session=False)
        )
        query = select(Email.id).where(due).order_by(Email.next_attempt_at, Email.id).limit(limit)
        if session.bind is not None and session.bind.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        for email_id in list(session.scalars(query)):
            # The conditional update is the claim: it succeeds for exactly one dispatcher
            # even where row locks do not exist (SQLite).
            claimed = session.execute(
                update(Email)
                .where(Email.id == email_id, due)
                .values(
                    status=EmailStatus.SENDING,
                    claim_token=token,
                    claimed_until=now + LEASE,
                    attempts=Email.attempts + 1,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                continue
            row = session.get_one(Email, email_id)
            session.refresh(row)
            claims.append(
                EmailClaim(
                    email_id=row.id,
                    token=token,
                    to=row.to_address,
                    subject=row.subject,
                    text=row.text_body,
                    html=row.html_body,
                    message_id=row.message_id,
                    written_at=row.created_at,
                )
            )
    return claims


def build_message(claim: EmailClaim, sender: str) -> EmailMessage:
    """The email as it goes out: the same Message-ID and Date on every attempt, plain text and
    (when written) an HTML alternative. ValueError when a header cannot be written safely."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = claim.to
    message["Subject"] = claim.subject
    message["Date"] = format_datetime(claim.written_at.astimezone(dt.UTC))
    message["Message-ID"] = claim.message_id
    message.set_content(claim.text)
    if claim.html is not None:
        message.add_alternative(claim.html, subtype="html")
    return message


def dispatch_due(
    db: Database,
    mailer: Mailer,
    now_fn: Callable[[], dt.datetime],
    *,
    sender: str,
    limit: int = PASS_LIMIT,
) -> EmailDispatchReport:
    """Claim due emails one at a time, send each through `mailer` with no transaction open,
    and record what happened.

    A transient failure ends the pass: the server is down or busy, and the emails behind it
    stay queued (no attempt counted) for the next pass rather than each waiting out a timeout.
    """
    report = EmailDispatchReport()
    while report.sent + report.retrying + report.failed + report.lost_claims < limit:
        claims = claim_due(db, now_fn(), 1)
        if not claims:
            break
        outcome = send_claim(db, mailer, claims[0], now_fn, sender=sender)
        setattr(report, outcome, getattr(report, outcome) + 1)
        if outcome == "retrying":
            break
    return report


def send_claim(
    db: Database,
    mailer: Mailer,
    claim: EmailClaim,
    now_fn: Callable[[], dt.datetime],
    *,
    sender: str,
) -> str:
    """Send one claimed email and record the outcome; returns the EmailDispatchReport field."""
    try:
        mailer.send(build_message(claim, sender))
    except MailError as error:
        return record_failure(db, claim, error, now_fn())
    except ValueError as error:
        # A header that cannot be written (a line break in the subject or address): the
        # same email can never be sent.
        log.error("email %s cannot be built (%s)", claim.email_id, type(error).__name__)
        refused = MailRefused("the email cannot be written as a message (a header is invalid)")
        return record_failure(db, claim, refused, now_fn())
    except Exception as error:
        # An unexpected error in one send must not strand the email in 'sending' until its
        # lease runs out: count it as a transient failure (retried, then failed).
        log.exception("email %s: unexpected error while sending", claim.email_id)
        failure = MailUnavailable(f"unexpected error: {type(error).__name__}")
        return record_failure(db, claim, failure, now_fn())
    return record_sent(db, claim, now_fn())


def record_sent(db: Database, claim: EmailClaim, now: dt.datetime) -> str:
    """Store the server's acceptance, unless the claim was lost to another dispatcher."""
    with db.transaction() as session:
        email = session.get_one(Email, claim.email_id)
        if email.claim_token != claim.token:
            log.warning("email %s: claim lost before the send was recorded", claim.email_id)
            return "lost_claims"
        email.status = EmailStatus.SENT
        email.sent_at = now
        email.claim_token = None
        email.claimed_until = None
        email.updated_at = now
        log.info(
            "email %s (%s) sent to %s on attempt %s",
            email.id,
            email.purpose,
            mask_address(email.to_address),
            email.attempts,
        )
    return "sent"


def record_failure(db: Database, claim: EmailClaim, error: MailError, now: dt.datetime) -> str:
    """Retry a transient failure after a backoff (within the retry horizon), or fail the email
    for good."""
    with db.transaction() as session:
        email = session.get_one(Email, claim.email_id)
        if email.claim_token != claim.token:
            return "lost_claims"
        email.claim_token = None
        email.claimed_until = None
        email.updated_at = now
        email.error_message = mask_addresses(str(error))[:300]
        if not error.transient:
            return _fail(email, now, "refused")
        if email.attempts >= email.max_attempts or now >= email.created_at + RETRY_HORIZON:
            return _fail(email, now, "still failing")
        wait_for = backoff(email.attempts)
        email.status = EmailStatus.QUEUED
        email.next_attempt_at = now + wait_for
        log.warning(
            "email %s: transient failure (code %s) on attempt %s, retry in %s s",
            email.id,
            error.code,
            email.attempts,
            int(wait_for.total_seconds()),
        )
        return "retrying"


def _fail(email: Email, now: dt.datetime, why: str) -> str:
    email.status = EmailStatus.FAILED
    log.error(
        "email %s (%s) to %s failed after %s attempt(s), %s: %s",
        email.id,
        email.purpose,
        mask_address(email.to_address),
        email.attempts,
        why,
        email.error_message,
    )
    return "failed"


def failed_between(session: Session, start: dt.datetime, end: dt.datetime) -> list[Email]:
    """The emails that failed for good from `start` (inclusive) to `end` (exclusive), oldest
    first (a failed email's last change is its failure)."""
    rows = session.scalars(
        select(Email)
        .where(
            Email.status == EmailStatus.FAILED,
            Email.updated_at >= start,
            Email.updated_at < end,
        )
        .order_by(Email.updated_at, Email.id)
    )
    return list(rows)


@dataclass(frozen=True)
class EmailHealth:
    """Emails people must know about: failed lately, and waiting on a retry."""

    failed: int
    retrying: int
    oldest_retrying_since: dt.datetime | None


def health(session: Session, now: dt.datetime) -> EmailHealth:
    """How many emails failed for good in the last FAILED_SHOWN_FOR, and how many wait on a
    retry after a failed attempt (with the oldest one's first writing)."""
    failed = session.scalar(
        select(func.count())
        .select_from(Email)
        .where(Email.status == EmailStatus.FAILED, Email.updated_at >= now - FAILED_SHOWN_FOR)
    )
    retrying, oldest = session.execute(
        select(func.count(), func.min(Email.created_at)).where(
            or_(
                (Email.status == EmailStatus.QUEUED) & (Email.attempts > 0),
                # Claimed again after a failed attempt (a first send in flight is not a retry).
                (Email.status == EmailStatus.SENDING) & (Email.attempts > 1),
            )
        )
    ).one()
    return EmailHealth(failed=failed or 0, retrying=retrying or 0, oldest_retrying_since=oldest)


def requeue(session: Session, email_id: int, now: dt.datetime) -> Email | None:
    """Put a failed email back in the outbox, due now, with the same Message-ID; None when
    there is no failed email `email_id`. It gets one attempt per requeue once it is older than
    the retry horizon."""
    email = session.get(Email, email_id)
    if email is None or email.status is not EmailStatus.FAILED:
        return None
    email.status = EmailStatus.QUEUED
    email.attempts = 0
    email.next_attempt_at = now
    email.updated_at = now
    return email
