"""Provider outages: noticed from deliveries that keep failing, shown on /healthz, reported once.

A delivery's `failing_since` is when its first transient failure happened. While any delivery
that has been failing for `NOTICE_AFTER` still waits on a retry, the provider is failing: an
outage is recorded (once) and /healthz says "degraded". When nothing waits on a retry any more
the outage ends and each duty manager is texted once what happened ("texts and calls failed
from 02:10 to 02:13; 7 delayed, all now sent"), through a provider that is answering again:
never over the failing channel during the outage.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crisisline import escalation_engine
from crisisline.db import Database
from crisisline.delivery_kinds import PROVIDER_RECOVERED, kind_of
from crisisline.models import Delivery, DeliveryStatus, ProviderOutage
from wording.staff import SERVICE

log = logging.getLogger(__name__)

NOTICE_AFTER = dt.timedelta(seconds=30)
"""A delivery still failing this long after its first failure means the provider is failing."""

_WAITING = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING)
_ARRIVED = (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.UNDELIVERED)


@dataclass(frozen=True)
class Waiting:
    """Deliveries waiting on a retry after a transient failure, and since when."""

    deliveries: int
    crisis: int
    since: dt.datetime | None


def waiting(session: Session) -> Waiting:
    """How many deliveries wait on a retry, how many are crisis ones, and the oldest failure."""
    rows = session.execute(
        select(Delivery.purpose, func.count(), func.min(Delivery.failing_since))
        .where(Delivery.status.in_(_WAITING), Delivery.failing_since.is_not(None))
        .group_by(Delivery.purpose)
    ).all()
    total = sum(count for _, count, _ in rows)
    crisis = sum(count for purpose, count, _ in rows if kind_of(purpose).crisis)
    since = min((first for _, _, first in rows if first is not None), default=None)
    return Waiting(deliveries=total, crisis=crisis, since=since)


def current(session: Session) -> ProviderOutage | None:
    """The outage going on now, if any."""
    return session.scalars(
        select(ProviderOutage)
        .where(ProviderOutage.ended_at.is_(None))
        .order_by(ProviderOutage.id.desc())
        .limit(1)
    ).first()


def failing(now: dt.datetime, state: Waiting) -> bool:
    """True when a delivery has been waiting on retries for longer than NOTICE_AFTER."""
    return state.since is not None and now - state.since >= NOTICE_AFTER


def watch(db: Database, now: dt.datetime, from_number: str, zone: dt.tzinfo = dt.UTC) -> None:
    """Record an outage when sends keep failing; end it and tell the duty managers once when
    nothing waits on a retry any more."""
    with db.transaction() as session:
        outage = current(session)
        state = waiting(session)
        if outage is None:
            if failing(now, state) and state.since is not None:
                session.add(ProviderOutage(started_at=state.since, noticed_at=now, delayed=0))
                log.error(
                    "provider failing since %s: %s deliveries waiting on retries (%s crisis)",
                    state.since.isoformat(),
                    state.deliveries,
                    state.crisis,
                )
            return
        if state.deliveries:
            return
        _end(session, outage, now, from_number, zone)


def _end(
    session: Session, outage: ProviderOutage, now: dt.datetime, from_number: str, zone: dt.tzinfo
) -> None:
    outcomes = session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.failing_since >= outage.started_at, Delivery.failing_since <= now)
        .group_by(Delivery.status)
    ).all()
    arrived = sum(count for status, count in outcomes if status in _ARRIVED)
    not_sent = sum(count for status, count in outcomes if status is DeliveryStatus.FAILED)
    outage.ended_at = now
    outage.delayed = arrived + not_sent
    body = recovery_text(outage.started_at, now, arrived, not_sent, zone)
    managers = escalation_engine.text_duty_managers(
        session, body, purpose=PROVIDER_RECOVERED, now=now, from_=from_number
    )
    outage.reported_at = now
    log.warning(
        "provider recovered: %s delayed deliveries sent, %s not sent; %s duty manager(s) told",
        arrived,
        not_sent,
        len(managers),
    )


def recovery_text(
    started: dt.datetime, ended: dt.datetime, arrived: int, not_sent: int, zone: dt.tzinfo
) -> str:
    """What the duty managers are texted once the provider answers again."""
    delayed = arrived + not_sent
    outcome = (
        "all now sent"
        if not not_sent
        else f"{arrived} now sent, {not_sent} not sent (see failed deliveries)"
    )
    return (
        f"{SERVICE}: texts and calls through Twilio failed from "
        f"{started.astimezone(zone):%H:%M} to {ended.astimezone(zone):%H:%M}; "
        f"{delayed} delayed, {outcome}."
    )
