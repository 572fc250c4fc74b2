"""The outbox: every SMS and call is a delivery row first, then dispatched with retries.

A delivery is written in the same transaction as the decision to send it, so a decision is
never lost. The dispatcher claims due deliveries (a lease: `claimed_until`), sends them with
no transaction open, then records the outcome only if its claim still stands.

The one window for a duplicate: the provider accepts a request and the dispatcher dies (or
loses its connection) before it records `sent`. When the lease runs out the delivery is due
again and is sent a second time. That is deliberate: a crisis-line message sent twice is a
nuisance; a message never sent is a safeguarding incident.

Sends run concurrently on a bounded pool of threads, most urgent first
(crisisline.delivery_kinds). A crisis delivery is retried through a provider outage for as
long as what it is about is still open (its subject), up to a hard horizon; everything else
keeps the ordinary retry window (5 attempts over about 2.5 minutes).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from crisisline import wakeups
from crisisline.db import Database, save
from crisisline.delivery_kinds import kind_of
from crisisline.models import Channel, Delivery, DeliveryStatus
from crisisline.phones import redact
from crisisline.telephony import (
    PermanentTelephonyError,
    Telephony,
    TelephonyError,
    TransientTelephonyError,
)
from wording.sms import segment_count, to_gsm7

log = logging.getLogger(__name__)

LEASE = dt.timedelta(seconds=60)  # far longer than the adapter's request timeout (4 s)
DEFAULT_MAX_ATTEMPTS = 5
BACKOFF_BASE = dt.timedelta(seconds=10)
BACKOFF_CAP = dt.timedelta(minutes=5)
# Crisis deliveries: 5 s, 10 s, 20 s, 40 s, then every 60 s while their subject is open, and
# never beyond the horizon after they were written (CRISIS_RETRY_HOURS).
CRISIS_BACKOFF_BASE = dt.timedelta(seconds=5)
CRISIS_BACKOFF_CAP = dt.timedelta(seconds=60)
CRISIS_HORIZON = dt.timedelta(hours=24)
# Most deliveries one dispatch pass sends; the pass claims only as many as it has free
# workers, so a delivery written during the pass is claimed in its priority's turn.
CLAIM_BATCH = 50
PASS_LIMIT = 500
DEFAULT_WORKERS = 8
# How often a pass with free workers and sends in flight looks for newly due deliveries.
_REFILL_SECONDS = 0.05

# Where each provider status word sits on the way to a phone. A callback may only move a
# delivery forward, so duplicate and out-of-order callbacks change nothing.
_PROVIDER_STATUS = {
    # SMS
    "accepted": DeliveryStatus.SENT,
    "scheduled": DeliveryStatus.SENT,
    "queued": DeliveryStatus.SENT,
    "sending": DeliveryStatus.SENT,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.DELIVERED,
    "undelivered": DeliveryStatus.UNDELIVERED,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
    # Voice
    "initiated": DeliveryStatus.SENT,
    "ringing": DeliveryStatus.SENT,
    "in-progress": DeliveryStatus.SENT,
    "answered": DeliveryStatus.SENT,
    "completed": DeliveryStatus.DELIVERED,
    "busy": DeliveryStatus.UNDELIVERED,
    "no-answer": DeliveryStatus.UNDELIVERED,
}
_RANK = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENDING: 1,
    DeliveryStatus.SENT: 2,
    DeliveryStatus.DELIVERED: 3,
    DeliveryStatus.FAILED: 3,
    DeliveryStatus.UNDELIVERED: 3,
}


@dataclass(frozen=True)
class Subject:
    """What a crisis delivery is about: retried while it is open (`register_subject`)."""

    type: str
    id: int


# None while the subject is open; otherwise why it no longer needs the delivery.
SubjectCheck = Callable[[Session, int], str | None]
_subjects: dict[str, SubjectCheck] = {}


def register_subject(subject_type: str, settled: SubjectCheck) -> None:
    """Say how to tell whether a subject of this type is settled (taken, closed ...)."""
    _subjects[subject_type] = settled


def settled_reason(
    session: Session, subject_type: str | None, subject_id: int | None
) -> str | None:
    """Why the delivery's subject no longer needs it, or None while it is open (or unknown)."""
    if subject_type is None or subject_id is None:
        return None
    check = _subjects.get(subject_type)
    return check(session, subject_id) if check is not None else None


def enqueue_sms(
    session: Session,
    *,
    to: str,
    from_: str,
    body: str,
    purpose: str,
    now: dt.datetime,
    verbatim: bool = False,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    flush: bool = True,
    subject: Subject | None = None,
) -> Delivery:
    """Write an SMS delivery; the service's own texts are kept to GSM-7 unless `verbatim`.

    `flush=False` leaves the insert to the session's next flush, so that a caller writing many
    deliveries (a sweep's backlog) inserts them in one statement; its `id` is unset until then.
    `subject` is what a crisis delivery is about: it is retried while that is open.
    """
    text = body if verbatim else to_gsm7(body)
    delivery = Delivery(
        purpose=purpose,
        priority=kind_of(purpose).priority,
        subject_type=subject.type if subject else None,
        subject_id=subject.id if subject else None,
        channel=Channel.SMS,
        to_number=to,
        from_number=from_,
        body=text,
        segments=segment_count(text),
        status=DeliveryStatus.QUEUED,
        attempts=0,
        max_attempts=max_attempts,
        next_attempt_at=now,
        callback_sequence=-1,
        created_at=now,
        updated_at=now,
    )
    # Due now: the dispatcher is woken when this transaction commits.
    wakeups.soon(session, wakeups.Work.OUTBOX)
    if flush:
        save(session, delivery)  # one INSERT ... RETURNING id, not the ORM's unit of work
    else:
        session.add(delivery)
    return delivery


def enqueue_call(
    session: Session,
    *,
    to: str,
    from_: str,
    script: str,
    twiml_url: str,
    purpose: str,
    now: dt.datetime,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    flush: bool = True,
    subject: Subject | None = None,
) -> Delivery:
    """Write a call delivery; `twiml_url` serves what the call says (`script`, for the record).

    `flush=False` and `subject` as for `enqueue_sms`.
    """
    delivery = Delivery(
        purpose=purpose,
        priority=kind_of(purpose).priority,
        subject_type=subject.type if subject else None,
        subject_id=subject.id if subject else None,
        channel=Channel.VOICE,
        to_number=to,
        from_number=from_,
        body=script,
        twiml_url=twiml_url,
        segments=0,
        status=DeliveryStatus.QUEUED,
        attempts=0,
        max_attempts=max_attempts,
        next_attempt_at=now,
        callback_sequence=-1,
        created_at=now,
        updated_at=now,
    )
    # Due now: the dispatcher is woken when this transaction commits.
    wakeups.soon(session, wakeups.Work.OUTBOX)
    if flush:
        save(session, delivery)  # one INSERT ... RETURNING id, not the ORM's unit of work
    else:
        session.add(delivery)
    return delivery


@dataclass(frozen=True)
class Claim:
    """A delivery a dispatcher holds the lease on, with what it needs to send it."""

    delivery_id: int
    token: str
    channel: Channel
    to: str
    from_: str
    body: str
    twiml_url: str | None


@dataclass
class DispatchReport:
    """What one dispatch pass did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    lost_claims: int = 0
    # Crisis retries not sent because what they were about was settled meanwhile.
    withdrawn: int = 0


def next_due_at(db: Database) -> dt.datetime | None:
    """When the soonest queued delivery is due (None when nothing is queued)."""
    with db.transaction() as session:
        return session.scalar(
            select(func.min(Delivery.next_attempt_at)).where(
                Delivery.status == DeliveryStatus.QUEUED
            )
        )


def backoff(attempts: int) -> dt.timedelta:
    """How long to wait after the `attempts`-th failed try: 10 s, 20 s, 40 s ... at most 5 min."""
    delay: dt.timedelta = BACKOFF_BASE * (2 ** max(attempts - 1, 0))
    return min(delay, BACKOFF_CAP)


def crisis_backoff(attempts: int) -> dt.timedelta:
    """A crisis delivery's wait after its `attempts`-th failed try: 5, 10, 20, 40, then 60 s."""
    delay: dt.timedelta = CRISIS_BACKOFF_BASE * (2 ** min(max(attempts - 1, 0), 8))
    return min(delay, CRISIS_BACKOFF_CAP)


def claim_due(
    db: Database, now: dt.datetime, limit: int = CLAIM_BATCH, report: DispatchReport | None = None
) -> list[Claim]:
    """Take the lease on up to `limit` due deliveries, most urgent first; two dispatchers never
    hold the same one. A crisis retry whose subject was settled meanwhile is withdrawn (and
    counted in `report`, when given)."""
    token = secrets.token_hex(8)
    due = or_(
        (Delivery.status == DeliveryStatus.QUEUED) & (Delivery.next_attempt_at <= now),
        # A dispatcher that died mid-send left its lease to run out: send again.
        (Delivery.status == DeliveryStatus.SENDING) & (Delivery.claimed_until < now),
    )
    claims: list[Claim] = []
    with db.transaction() as session:
        # A delivery whose dispatcher died mid-send on every one of its attempts (it may be
        # what kills the dispatcher) is failed rather than claimed for ever, and shows as failed.
        session.execute(
            update(Delivery)
            .where(
                Delivery.status == DeliveryStatus.SENDING,
                Delivery.claimed_until < now,
                Delivery.attempts >= Delivery.max_attempts,
            )
            .values(
                status=DeliveryStatus.FAILED,
                claim_token=None,
                claimed_until=None,
                finished_at=now,
                updated_at=now,
                error_message="the dispatcher stopped while sending, on every attempt",
            )
            .execution_options(synchronize_session=False)
        )
        # One send at a time to any one phone, so that the parts of a relayed text and the
        # texts that follow it arrive in the order they were written.
        in_flight = select(Delivery.to_number).where(
            Delivery.status == DeliveryStatus.SENDING, Delivery.claimed_until >= now
        )
        query = (
            select(Delivery.id, Delivery.to_number)
            .where(due, Delivery.to_number.not_in(in_flight))
            .order_by(Delivery.priority, Delivery.next_attempt_at, Delivery.id)
            .limit(limit * 4)
        )
        if session.bind is not None and session.bind.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids: list[int] = []
        phones: set[str] = set()
        for delivery_id, phone in session.execute(query):
            if phone not in phones and len(ids) < limit:
                phones.add(phone)
                ids.append(delivery_id)
        for delivery_id in ids:
            # The conditional update is the claim: it succeeds for exactly one dispatcher
            # even where row locks do not exist (SQLite).
            claimed = session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, due)
                .values(
                    status=DeliveryStatus.SENDING,
                    claim_token=token,
                    claimed_until=now + LEASE,
                    attempts=Delivery.attempts + 1,
                    updated_at=now,
                )
            )
            if claimed.rowcount == 1:  # type: ignore[attr-defined]
                row = session.get_one(Delivery, delivery_id)
                session.refresh(row)
                reason = settled_reason(session, row.subject_type, row.subject_id)
                if row.attempts > 1 and reason is not None:
                    # A retry after the person it was for stopped needing it (the escalation
                    # was taken, the conversation closed): sending it now would mislead.
                    _withdraw(row, reason, now)
                    if report is not None:
                        report.withdrawn += 1
                    continue
                claims.append(
                    Claim(
                        delivery_id=row.id,
                        token=token,
                        channel=row.channel,
                        to=row.to_number,
                        from_=row.from_number,
                        body=row.body,
                        twiml_url=row.twiml_url,
                    )
                )
    return claims


def dispatch_due(
    db: Database,
    telephony: Telephony,
    now: Callable[[], dt.datetime],
    status_callback_url: Callable[[int], str],
    limit: int = PASS_LIMIT,
    *,
    workers: int = 1,
    crisis_horizon: dt.timedelta = CRISIS_HORIZON,
) -> DispatchReport:
    """Claim due deliveries, send each through `telephony` and record what happened.

    Up to `workers` sends run at once. The pass claims only as many deliveries as it has
    free workers, most urgent first, so a participant's text written while slow requests are
    in flight goes as soon as a worker is free, never behind a batch claimed before it. Each
    send records its own outcome under its own claim, exactly as a serial pass would.
    """
    report = DispatchReport()
    if workers <= 1:
        while report_total(report) < limit:
            withdrawn = report.withdrawn
            claims = claim_due(db, now(), 1, report)
            if not claims:
                if report.withdrawn > withdrawn:
                    continue  # that one was withdrawn; others may be due
                break
            outcome = send_claim(db, telephony, claims[0], now, status_callback_url, crisis_horizon)
            _count(report, outcome)
        return report
    claimed = 0
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dispatch") as pool:
        running: set[Future[str]] = set()
        while True:
            free = min(workers - len(running), limit - claimed)
            withdrawn = report.withdrawn
            claims = claim_due(db, now(), free, report) if free > 0 else []
            claimed += len(claims)
            for claim in claims:
                running.add(
                    pool.submit(
                        send_claim, db, telephony, claim, now, status_callback_url, crisis_horizon
                    )
                )
            if not running:
                if report.withdrawn > withdrawn and claimed < limit:
                    continue
                break
            # With a worker free, look again soon for a delivery that has become due (a
            # participant's text must not wait for a slow request to finish); with none free,
            # wait for a send to finish.
            room = len(running) < workers and claimed < limit
            done, running = wait(
                running, timeout=_REFILL_SECONDS if room else None, return_when=FIRST_COMPLETED
            )
            for future in done:
                _count(report, future.result())
    return report


def report_total(report: DispatchReport) -> int:
    """How many claims a pass has dealt with so far."""
    return report.sent + report.retrying + report.failed + report.lost_claims


def _count(report: DispatchReport, outcome: str) -> None:
    setattr(report, outcome, getattr(report, outcome) + 1)


def send_claim(
    db: Database,
    telephony: Telephony,
    claim: Claim,
    now: Callable[[], dt.datetime],
    status_callback_url: Callable[[int], str],
    crisis_horizon: dt.timedelta = CRISIS_HORIZON,
) -> str:
    """Send one claimed delivery and record the outcome; returns the DispatchReport field."""
    try:
        if claim.channel is Channel.SMS:
            receipt = telephony.send_sms(
                claim.to, claim.from_, claim.body, status_callback_url(claim.delivery_id)
            )
        else:
            receipt = telephony.place_call(
                claim.to,
                claim.from_,
                claim.twiml_url or "",
                status_callback_url(claim.delivery_id),
            )
    except TelephonyError as error:
        return record_failure(db, claim, error, now(), crisis_horizon=crisis_horizon)
    except Exception as error:
        # An unexpected error in one send must not strand the rest of the batch in
        # 'sending': count it as a transient failure of this delivery (retried, then failed).
        log.exception("delivery %s: unexpected error while sending", claim.delivery_id)
        failure = TransientTelephonyError(f"unexpected error: {type(error).__name__}")
        return record_failure(db, claim, failure, now(), crisis_horizon=crisis_horizon)
    return record_sent(db, claim, receipt.sid, receipt.status, now())


def _withdraw(delivery: Delivery, reason: str, now: dt.datetime) -> None:
    delivery.status = DeliveryStatus.FAILED
    delivery.claim_token = None
    delivery.claimed_until = None
    delivery.finished_at = now
    delivery.updated_at = now
    delivery.error_message = f"not retried: {reason}"[:300]
    log.warning("delivery %s: not retried (%s)", delivery.id, reason)


def record_sent(
    db: Database, claim: Claim, sid: str, provider_status: str, now: dt.datetime
) -> str:
    """Store the provider's acceptance, unless the claim was lost to another dispatcher."""
    with db.transaction() as session:
        delivery = session.get_one(Delivery, claim.delivery_id)
        if delivery.claim_token != claim.token:
            log.warning("delivery %s: claim lost before the send was recorded", claim.delivery_id)
            return "lost_claims"
        delivery.provider_sid = delivery.provider_sid or sid
        delivery.sent_at = delivery.sent_at or now
        delivery.claim_token = None
        delivery.claimed_until = None
        delivery.updated_at = now
        # A status callback may have overtaken the REST reply; never move backwards.
        if _RANK[delivery.status] <= _RANK[DeliveryStatus.SENDING]:
            delivery.status = DeliveryStatus.SENT
            delivery.provider_status = provider_status
        log.info("delivery %s sent to %s", delivery.id, redact(delivery.to_number))
    return "sent"


def record_failure(
    db: Database,
    claim: Claim,
    error: TelephonyError,
    now: dt.datetime,
    *,
    crisis_horizon: dt.timedelta = CRISIS_HORIZON,
) -> str:
    """Retry a transient failure after a backoff, or fail the delivery for good.

    A crisis delivery (crisisline.delivery_kinds) is retried on the crisis schedule until
    `crisis_horizon` after it was written; its subject, once settled, stops it when it is next
    claimed. A permanent error (an invalid number, an opted-out phone) fails any delivery at once.
    """
    with db.transaction() as session:
        delivery = session.get_one(Delivery, claim.delivery_id)
        if delivery.claim_token != claim.token:
            return "lost_claims"
        delivery.claim_token = None
        delivery.claimed_until = None
        delivery.updated_at = now
        if _RANK[delivery.status] > _RANK[DeliveryStatus.SENDING]:
            # A status callback shows the provider took it even though the REST reply failed
            # (a timeout): it went out; never move it back and send it again.
            return "sent"
        delivery.error_code = error.code
        delivery.error_message = str(error)[:300]
        permanent = isinstance(error, PermanentTelephonyError) or not error.transient
        crisis = kind_of(delivery.purpose).crisis
        if not permanent:
            delivery.failing_since = delivery.failing_since or now
        if permanent:
            return _fail(delivery, error, now)
        if crisis:
            if now >= delivery.created_at + crisis_horizon:
                hours = crisis_horizon.total_seconds() / 3600
                delivery.error_message = (
                    f"still failing {hours:g} h after it was written: {error}"
                )[:300]
                return _fail(delivery, error, now)
            # The dispatcher-died rule in claim_due counts attempts against max_attempts: give
            # each crisis retry that many tries of its own.
            delivery.max_attempts = max(
                delivery.max_attempts, delivery.attempts + DEFAULT_MAX_ATTEMPTS
            )
            wait_for = crisis_backoff(delivery.attempts)
        elif delivery.attempts >= delivery.max_attempts:
            return _fail(delivery, error, now)
        else:
            wait_for = backoff(delivery.attempts)
        delivery.status = DeliveryStatus.QUEUED
        delivery.next_attempt_at = now + wait_for
        log.warning(
            "delivery %s: transient failure (code %s) on attempt %s, retry in %s s%s",
            delivery.id,
            error.code,
            delivery.attempts,
            int(wait_for.total_seconds()),
            " (crisis: retried while its subject is open)" if crisis else "",
        )
        return "retrying"


def _fail(delivery: Delivery, error: TelephonyError, now: dt.datetime) -> str:
    delivery.status = DeliveryStatus.FAILED
    delivery.finished_at = now
    log.error(
        "delivery %s to %s failed after %s attempt(s): code %s",
        delivery.id,
        redact(delivery.to_number),
        delivery.attempts,
        error.code,
    )
    return "failed"


@dataclass(frozen=True)
class StatusUpdate:
    """A provider's status callback for one delivery, already parsed."""

    delivery_id: int
    sid: str
    provider_status: str
    error_code: int | None = None
    sequence: int | None = None


def apply_status(session: Session, update_: StatusUpdate, now: dt.datetime) -> bool:
    """Move a delivery forward by a status callback; returns False when it changed nothing."""
    delivery = session.get(Delivery, update_.delivery_id)
    if delivery is None or (delivery.provider_sid not in (None, update_.sid)):
        # Unknown delivery or a SID that is not this delivery's: ignore, never guess.
        log.warning("status callback for delivery %s does not match; ignored", update_.delivery_id)
        return False
    new_status = _PROVIDER_STATUS.get(update_.provider_status.lower())
    if new_status is None:
        return False
    if update_.sequence is not None:
        if update_.sequence <= delivery.callback_sequence:
            return False
        delivery.callback_sequence = update_.sequence
    delivery.provider_sid = update_.sid
    if delivery.status.terminal or _RANK[new_status] <= _RANK[delivery.status]:
        return False
    delivery.status = new_status
    delivery.provider_status = update_.provider_status.lower()
    delivery.updated_at = now
    if new_status.terminal:
        delivery.finished_at = now
        if update_.error_code is not None:
            delivery.error_code = update_.error_code
    return True


def find(
    session: Session,
    *,
    to: str | None = None,
    purpose: str | None = None,
    statuses: Sequence[DeliveryStatus] = (),
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Delivery], int]:
    """A page of deliveries, newest first, and how many match in all."""
    from sqlalchemy import func

    query = select(Delivery)
    if to is not None:
        query = query.where(Delivery.to_number == to)
    if purpose is not None:
        query = query.where(Delivery.purpose == purpose)
    if statuses:
        query = query.where(Delivery.status.in_(statuses))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Delivery.created_at.desc(), Delivery.id.desc()).offset(offset).limit(limit)
    ).all()
    return list(rows), total
