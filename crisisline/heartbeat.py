"""Scheduler heartbeats: the scheduler says it is alive; /healthz says how long ago."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from crisisline.models import SchedulerHeartbeat

STALE_AFTER = dt.timedelta(seconds=60)


def beat(
    session: Session, *, name: str, pid: int, started_at: dt.datetime, now: dt.datetime
) -> None:
    """Record that scheduler `name` is alive at `now`."""
    row = session.get(SchedulerHeartbeat, name)
    if row is None:
        session.add(SchedulerHeartbeat(name=name, pid=pid, started_at=started_at, beat_at=now))
        return
    row.pid = pid
    row.started_at = started_at
    row.beat_at = now


def latest(session: Session) -> SchedulerHeartbeat | None:
    """The most recent heartbeat of any scheduler, if one has ever beaten."""
    return session.scalars(
        select(SchedulerHeartbeat).order_by(SchedulerHeartbeat.beat_at.desc()).limit(1)
    ).first()
