"""Scheduler heartbeats: each scheduler says it is alive and whether it leads; /healthz says when.

Every scheduler process beats, leader and standby alike, so an operator can see the standby is
there. Health is judged on the leader's beat: a standby that is alive while nobody runs the
jobs is not a healthy service.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from crisisline.models import SchedulerHeartbeat

STALE_AFTER = dt.timedelta(seconds=60)
LEADER = "leader"


def beat(
    session: Session,
    *,
    name: str,
    pid: int,
    started_at: dt.datetime,
    now: dt.datetime,
    role: str = LEADER,
    wake_listening: bool | None = None,
    wake_reconnects: int = 0,
) -> None:
    """Record that scheduler `name` is alive at `now`, leading or standing by, and the state of
    its wake-up listener (None: it has none)."""
    row = session.get(SchedulerHeartbeat, name)
    if row is None:
        session.add(
            SchedulerHeartbeat(
                name=name,
                pid=pid,
                started_at=started_at,
                beat_at=now,
                role=role,
                wake_listening=wake_listening,
                wake_reconnects=wake_reconnects,
            )
        )
        return
    row.pid = pid
    row.started_at = started_at
    row.beat_at = now
    row.role = role
    row.wake_listening = wake_listening
    row.wake_reconnects = wake_reconnects


def latest(session: Session) -> SchedulerHeartbeat | None:
    """The most recent heartbeat of a scheduler that runs the jobs (a leader), if any."""
    return session.scalars(
        select(SchedulerHeartbeat)
        .where(SchedulerHeartbeat.role == LEADER)
        .order_by(SchedulerHeartbeat.beat_at.desc())
        .limit(1)
    ).first()
