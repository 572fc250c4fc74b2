"""Wake-ups: the transaction that creates work for the scheduler tells it to start now.

Three jobs wait on work that a request or another job creates: `route-texts` (a text the SMS
webhook took in), `dispatch-outbox` (a delivery due now) and `sweep-escalations` (an escalation
opened or brought forward). Polling them every second costs a second of latency and keeps the
processes busy doing nothing most of the day. So the code that creates such work marks its
session (`soon`), and when that transaction commits the scheduler hears of it:

- **PostgreSQL:** `SELECT pg_notify('crisisline_wake', 'dispatch-outbox')` is run in the same
  transaction, just before its commit; PostgreSQL delivers a notification only when (and only
  if) the transaction commits, so the scheduler never wakes for work that was rolled back. The
  scheduler's `Listener` holds a connection of its own that has run `LISTEN crisisline_wake`,
  and runs the named job at once. A write made outside an ORM transaction (the SMS webhook's
  group commit, on a connection that commits each statement) calls `Wakes.committed` after its
  commit: a background thread with its own connection sends the notification, so the webhook
  never waits for it.
- **SQLite** (development, `make run`): there is no NOTIFY. The web and the scheduler of one
  process wake each other in memory, after the commit (`subscribe`). Two processes on one SQLite
  file do not hear each other and keep polling.

A wake-up is only a hint. The sweeps still run on their own (crisisline.jobs states how often),
so a notification that is lost, a listening connection that drops (it reconnects with back-off,
logs it and counts it in `/healthz`) or a scheduler that takes over delays work by at most one
sweep. Who does a piece of work is still decided by its claim (SKIP LOCKED, leases, version
checks), never by who was woken: two wakes for one row send it once.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import psycopg
from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

CHANNEL: Final = "crisisline_wake"
# With wake-ups (PostgreSQL, WAKEUPS=on) the three jobs that work is created for (routing texts,
# dispatching the outbox, sweeping escalations) run when a commit wakes them; their sweeps are
# the safety net for a wake-up that was lost, and run this often (every second without).
SAFETY_SWEEP_SECONDS: Final = 5.0
_MARKS: Final = "crisisline.wake"  # the key in Session.info of the works a transaction created
# How long the listener waits for a notification before checking it should stop.
_POLL_SECONDS: Final = 1.0
# Reconnecting a dropped listening connection: first at once-ish, then slower, never slower
# than this (the sweeps cover the gap).
_RECONNECT_PAUSES: Final = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class Work(enum.StrEnum):
    """The scheduler's jobs that a wake-up starts, by their job names."""

    TEXTS = "route-texts"
    OUTBOX = "dispatch-outbox"
    ESCALATIONS = "sweep-escalations"


def soon(session: Session, work: Work) -> None:
    """Say that this transaction creates `work` due now: the scheduler hears of it on commit."""
    marks: set[Work] = session.info.setdefault(_MARKS, set())
    marks.add(work)


Callback = Callable[[Work], None]


@dataclass
class Wakes:
    """The wake-ups of one database: sends them on commit, and hands in-memory ones (SQLite)
    to this process's subscribers.

    `enabled` False (WAKEUPS=off) sends nothing: the scheduler then polls, as the benchmark's
    baseline does.
    """

    postgres: bool
    enabled: bool = True
    _subscribers: list[Callback] = field(default_factory=list)
    _notifier: _Notifier | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self, sessions: sessionmaker[Session]) -> None:
        """Send the wake-ups marked in `sessions`' transactions when they commit."""
        event.listen(sessions, "before_commit", self._before_commit)
        event.listen(sessions, "after_commit", self._after_commit)
        event.listen(sessions, "after_soft_rollback", self._forget)

    def subscribe(self, callback: Callback) -> None:
        """Call `callback(work)` in this process after a commit that created `work` (SQLite: the
        scheduler of `make run` hears the web's texts this way)."""
        with self._lock:
            self._subscribers.append(callback)

    def unsubscribe(self, callback: Callback) -> None:
        """Stop calling `callback`."""
        with self._lock:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

    def committed(self, work: Work, engine: Engine) -> None:
        """`work` was just committed outside an ORM transaction (a statement on a connection of
        its own): tell the scheduler, without making the caller wait."""
        if not self.enabled:
            return
        if not self.postgres:
            self._local(work)
            return
        with self._lock:
            if self._notifier is None:
                self._notifier = _Notifier(engine)
        self._notifier.send(work)

    def close(self) -> None:
        """Stop the background notifier, if one was started."""
        with self._lock:
            notifier, self._notifier = self._notifier, None
        if notifier is not None:
            notifier.stop()

    def _before_commit(self, session: Session) -> None:
        marks: set[Work] = session.info.get(_MARKS, set())
        if not marks or not self.enabled or not self.postgres:
            return
        for work in sorted(marks):
            # Delivered by PostgreSQL when this transaction commits, and never if it does not.
            session.execute(
                text("SELECT pg_notify(:channel, :work)"), {"channel": CHANNEL, "work": work.value}
            )

    def _after_commit(self, session: Session) -> None:
        marks: set[Work] = session.info.pop(_MARKS, set())
        if marks and self.enabled and not self.postgres:
            for work in sorted(marks):
                self._local(work)

    def _forget(self, session: Session, _previous: Any) -> None:
        session.info.pop(_MARKS, None)

    def _local(self, work: Work) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(work)
            except Exception:
                # A wake-up is a hint: the sweep does the work anyway.
                log.exception("an in-process wake-up for %s failed", work.value)


class _Notifier:
    """Sends the wake-ups of writes committed outside ORM transactions, from a thread of its
    own, so that a webhook answering Twilio never waits for one. Repeats of one work waiting to
    go are sent once."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._queue: queue.SimpleQueue[Work | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="wake-notifier", daemon=True)
        self._thread.start()

    def send(self, work: Work) -> None:
        self._queue.put(work)

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            works = {first}
            stop = False
            while True:  # what else is waiting: sent together, once each
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                else:
                    works.add(more)
            try:
                with self._engine.connect() as conn:
                    for work in sorted(works):
                        conn.execute(
                            text("SELECT pg_notify(:channel, :work)"),
                            {"channel": CHANNEL, "work": work.value},
                        )
                    conn.commit()
            except Exception as error:
                # Lost: the sweep picks the work up within one interval.
                log.warning("a wake-up could not be sent (%s)", type(error).__name__)
            if stop:
                return


def conninfo(url: str) -> str:
    """The libpq connection string of a SQLAlchemy PostgreSQL URL (the listener connects with
    psycopg directly: a LISTEN belongs to one connection for its whole life, not a pool's)."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


@dataclass
class ListenerState:
    """What `/healthz` reports of a scheduler's listening connection."""

    listening: bool = False
    reconnects: int = 0
    last_wake_monotonic: float | None = None


class Listener:
    """The scheduler's listening connection: runs `on_wake(work)` for every notification, and
    for every work at once after (re)connecting (anything notified while it was away).

    A dropped connection is reconnected with back-off; each drop is logged and counted.
    """

    def __init__(
        self,
        url: str,
        on_wake: Callback,
        *,
        state: ListenerState | None = None,
        connect_timeout: int = 5,
    ) -> None:
        self._conninfo = conninfo(url)
        self._on_wake = on_wake
        self._connect_timeout = connect_timeout
        self._stop = threading.Event()
        self._conn: psycopg.Connection[Any] | None = None
        self.state = state if state is not None else ListenerState()
        self._thread = threading.Thread(target=self._run, name="wake-listener", daemon=True)

    def start(self) -> Listener:
        """Start listening in a thread of its own."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and close the connection."""
        self._stop.set()
        self._thread.join(timeout=_POLL_SECONDS * 5)

    @property
    def backend_pid(self) -> int | None:
        """The server process of the listening connection (tests end it to drill a drop)."""
        conn = self._conn
        return conn.info.backend_pid if conn is not None and not conn.closed else None

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self._conninfo, autocommit=True, connect_timeout=self._connect_timeout
                ) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._conn = conn
                    self.state.listening = True
                    if failures:
                        log.warning("the wake-up listener is listening again")
                    failures = 0
                    self._wake_all()  # whatever was notified while it was not listening
                    self._listen(conn)
            except Exception as error:
                if self._stop.is_set():
                    break
                self.state.listening = False
                self.state.reconnects += 1
                pause = _RECONNECT_PAUSES[min(failures, len(_RECONNECT_PAUSES) - 1)]
                failures += 1
                log.warning(
                    "the wake-up listener lost its connection (%s); reconnecting in %g s, "
                    "the sweeps go on meanwhile",
                    type(error).__name__,
                    pause,
                )
                self._stop.wait(pause)
            finally:
                self._conn = None
        self.state.listening = False

    def _listen(self, conn: psycopg.Connection[Any]) -> None:
        while not self._stop.is_set():
            for notice in conn.notifies(timeout=_POLL_SECONDS):
                try:
                    work = Work(notice.payload)
                except ValueError:
                    log.warning("a wake-up for an unknown job was ignored")
                    continue
                self.state.last_wake_monotonic = time.monotonic()
                self._wake(work)
                if self._stop.is_set():
                    return

    def _wake_all(self) -> None:
        for work in Work:
            self._wake(work)

    def _wake(self, work: Work) -> None:
        try:
            self._on_wake(work)
        except Exception:
            log.exception("waking %s failed; the sweep will run it", work.value)
