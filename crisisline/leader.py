"""Which scheduler process runs the periodic jobs: one leader, the others on standby.

On PostgreSQL the leader holds a session-level advisory lock on a connection of its own. The
lock lives exactly as long as that connection: when the leader dies (a crash, SIGKILL, a lost
network) the server drops its session, frees the lock, and a standby that retries every few
seconds takes it. The leader checks its connection on every retry too, and stands down the
moment it cannot prove it still holds the lock.

Leadership saves work and contention; it is not what stops duplicates. Every job is safe with
several processes running it at once (row locks, SKIP LOCKED, conditional updates, version
checks), so a moment with two leaders (an old one that has not yet noticed it lost its
connection) or none (between a death and the takeover) is harmless.

On SQLite there is no lock: every scheduler process runs every job. SQLite serialises writers
(BEGIN IMMEDIATE) and the sweeps use conditional updates, so several processes on one file
are safe too; a SQLite deployment is one machine anyway.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence
from typing import Literal, Protocol

from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from crisisline.db import Database
from crisisline.scheduler import PeriodicJob

log = logging.getLogger(__name__)

# pg advisory locks take a bigint key; this one is "crisis" in ASCII, chosen not to collide
# with the per-phone code locks (pg_advisory_xact_lock(hashtext(...)), a 32-bit key space).
SCHEDULER_LOCK_KEY = 0x637269736973
RETRY_SECONDS = 3.0

Role = Literal["leader", "standby"]


class Leadership(Protocol):
    """Whether this process should run the periodic jobs now."""

    @property
    def role(self) -> Role:
        """`leader` runs the jobs; `standby` waits to take over."""
        ...

    def refresh(self) -> Role:
        """Try to become (or check this process still is) the leader; called every few seconds."""
        ...

    def release(self) -> None:
        """Stand down and free the lock, if held."""
        ...


class EveryProcessLeads:
    """SQLite: no lock; every process runs the jobs (see the module docstring for why)."""

    @property
    def role(self) -> Role:
        """Always `leader`."""
        return "leader"

    def refresh(self) -> Role:
        """Nothing to take: always `leader`."""
        return "leader"

    def release(self) -> None:
        """Nothing held."""


class AdvisoryLockLeadership:
    """PostgreSQL: the holder of a session-level advisory lock on a dedicated connection leads."""

    def __init__(self, db: Database, key: int = SCHEDULER_LOCK_KEY) -> None:
        self._db = db
        self._key = key
        self._connection: Connection | None = None
        self._role: Role = "standby"

    @property
    def role(self) -> Role:
        """`leader` while this process holds the lock, else `standby`."""
        return self._role

    def refresh(self) -> Role:
        """Check the lock is still ours over our own connection, or try to take it."""
        try:
            connection = self._connect()
            if self._role == "leader":
                # A round trip on the very connection that holds the lock: if the session is
                # gone, so is the lock, and this raises.
                held = connection.execute(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                        "AND pid = pg_backend_pid() AND granted AND objsubid = 1 "
                        "AND ((classid::bigint << 32) | objid::bigint) = :key"
                    ),
                    {"key": self._key},
                ).scalar_one()
                if not held:
                    self._stand_down("the lock is no longer held")
                return self._role
            taken = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}
            ).scalar_one()
            if taken:
                self._role = "leader"
                log.info("scheduler: this process is now the leader")
        except SQLAlchemyError as error:
            self._stand_down(f"its connection failed ({type(error).__name__})")
        return self._role

    def release(self) -> None:
        """Unlock and close the dedicated connection."""
        if self._connection is not None:
            try:
                if self._role == "leader":
                    self._connection.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": self._key}
                    )
                self._connection.close()
            except SQLAlchemyError:
                pass  # closing the session frees the lock anyway
        self._connection = None
        self._role = "standby"

    def _connect(self) -> Connection:
        if self._connection is None or self._connection.closed:
            connection = self._db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            # Let the server notice a leader whose machine vanished (no FIN, no RST) within
            # about half a minute instead of the kernel's two hours, so the lock is freed.
            for setting, value in (
                ("tcp_keepalives_idle", 10),
                ("tcp_keepalives_interval", 5),
                ("tcp_keepalives_count", 3),
            ):
                connection.execute(text(f"SET {setting} = {value}"))
            self._connection = connection
        return self._connection

    def _stand_down(self, why: str) -> None:
        if self._role == "leader":
            log.error("scheduler: no longer the leader: %s", why)
        self._role = "standby"
        if self._connection is not None:
            try:
                self._connection.invalidate()
                self._connection.close()
            except SQLAlchemyError:
                pass
        self._connection = None


def leadership_for(db: Database) -> Leadership:
    """Advisory-lock leadership on PostgreSQL; every process leads on SQLite."""
    if db.engine.dialect.name == "postgresql":
        return AdvisoryLockLeadership(db)
    return EveryProcessLeads()


def gate(leadership: Leadership, jobs: Sequence[PeriodicJob]) -> list[PeriodicJob]:
    """The jobs, each but the `every_process` ones running only while this process leads."""
    return [job if job.every_process else _leading_only(leadership, job) for job in jobs]


def _leading_only(leadership: Leadership, job: PeriodicJob) -> PeriodicJob:
    def run() -> object:
        return job.run() if leadership.role == "leader" else None

    next_due = job.next_due

    def due() -> dt.datetime | None:
        return next_due() if next_due is not None and leadership.role == "leader" else None

    return dataclasses.replace(job, run=run, next_due=due if next_due is not None else None)
