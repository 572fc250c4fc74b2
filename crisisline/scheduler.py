"""The scheduler: APScheduler only wakes the jobs; all state lives in the database.

Jobs are given as plain callables so that this module needs neither Flask nor Twilio;
crisisline.jobs decides which jobs run and which only the leader runs.

A job may also say when it is next needed (`next_due`): when that is sooner than its next
periodic run, a one-off wake-up is set for that exact instant, so a deadline between two
sweeps is met on time instead of up to a whole period late.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN, SchedulerEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicJob:
    """A job run every `seconds`; a run still going when the next is due is not doubled.

    `next_due()`, if given, returns when the job is next needed (None: nothing pending);
    `stop()`, if given, runs once when the scheduler shuts down. `every_process` jobs (the
    heartbeat, the leader election) run in every scheduler process, the others only in the
    leader's.
    """

    name: str
    seconds: float
    run: Callable[[], object]
    next_due: Callable[[], dt.datetime | None] | None = None
    stop: Callable[[], None] | None = None
    every_process: bool = False


def build_scheduler(jobs: Sequence[PeriodicJob], *, background: bool) -> BaseScheduler:
    """An APScheduler scheduler with `jobs`, blocking (its own process) or in the background."""
    scheduler: BaseScheduler = (
        BackgroundScheduler(timezone=dt.UTC) if background else BlockingScheduler(timezone=dt.UTC)
    )
    for job in jobs:
        scheduler.add_job(
            _guarded(job, scheduler),
            "interval",
            seconds=job.seconds,
            id=job.name,
            name=job.name,
            # Missed runs are folded into one: every job sweeps everything that is due, so
            # running it once after a pause catches up completely.
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
            next_run_time=dt.datetime.now(dt.UTC),
        )
    stops = [job.stop for job in jobs if job.stop is not None]
    if stops:

        def on_shutdown(_event: SchedulerEvent) -> None:
            for stop in stops:
                try:
                    stop()
                except Exception:
                    log.exception("stopping a scheduled job failed")

        scheduler.add_listener(on_shutdown, EVENT_SCHEDULER_SHUTDOWN)
    return scheduler


def run_every_process_jobs(jobs: Sequence[PeriodicJob]) -> None:
    """Run the `every_process` jobs (leader election, heartbeat) once, now, before starting.

    Otherwise the first sweep races the first election: on PostgreSQL it would find this
    process still on standby and do nothing until the next tick, a second late after a restart.
    """
    for job in jobs:
        if job.every_process:
            try:
                job.run()
            except Exception:
                log.exception("scheduled job %s failed at start-up; it will run again", job.name)


def wake(scheduler: BaseScheduler, name: str) -> bool:
    """Run job `name` now, beside its periodic runs (a wake-up, crisisline.wakeups): False if
    this scheduler has no such job.

    Wake-ups that arrive before the woken run has started are one run; one that arrives while it
    is under way makes it go round once more when it ends, so work committed after a run looked
    is never left for the next sweep, and a burst of wake-ups never piles up runs.
    """
    job = scheduler.get_job(name)
    if job is None:
        return False
    with _runners_lock:
        runners = _runners.setdefault(scheduler, {})
        runner = runners.get(name)
        if runner is None:
            runner = runners[name] = _WokenRunner(name, job.func)
    return runner.wake(scheduler)


class _WokenRunner:
    """One job's woken runs: at most one at a time, going round again while wake-ups arrive."""

    def __init__(self, name: str, run: Callable[[], None]) -> None:
        self.name = name
        self._run = run
        self._lock = threading.Lock()
        self._pending = False
        self._running = False

    def wake(self, scheduler: BaseScheduler) -> bool:
        with self._lock:
            self._pending = True
            if self._running:
                return True  # the run under way goes round again
            self._running = True
        try:
            scheduler.add_job(
                self._loop,
                "date",
                run_date=dt.datetime.now(dt.UTC),
                # Not the next-due wake-up's id: that one waits for an exact later instant.
                id=f"{self.name}:woken",
                name=f"{self.name}:woken",
                replace_existing=True,
                misfire_grace_time=None,
            )
        except Exception:
            # The scheduler is shutting down; the periodic run covers the work anyway.
            with self._lock:
                self._running = False
            log.debug("wake-up of %s not set", self.name, exc_info=True)
            return False
        return True

    def _loop(self) -> None:
        try:
            while True:
                with self._lock:
                    if not self._pending:
                        return
                    self._pending = False
                self._run()  # guarded: a failing run is logged, and the loop goes on
        finally:
            with self._lock:
                self._running = False


_runners: weakref.WeakKeyDictionary[BaseScheduler, dict[str, _WokenRunner]] = (
    weakref.WeakKeyDictionary()
)
_runners_lock = threading.Lock()


def _guarded(job: PeriodicJob, scheduler: BaseScheduler) -> Callable[[], None]:
    def run() -> None:
        try:
            result = job.run()
        except Exception:
            # One failing pass must not stop the next: the next sweep retries from the database.
            log.exception("scheduled job %s failed; it will run again", job.name)
            return
        if job.next_due is not None:
            _wake_for_next_due(job, scheduler, run, progressed=bool(result))

    run.__name__ = job.name
    return run


def _wake_for_next_due(
    job: PeriodicJob, scheduler: BaseScheduler, run: Callable[[], None], *, progressed: bool
) -> None:
    assert job.next_due is not None
    try:
        due = job.next_due()
    except Exception:
        log.exception("scheduled job %s could not say when it is next due", job.name)
        return
    # APScheduler runs on real time, so wake-ups do too (a test's fake clock never sets one).
    current = dt.datetime.now(dt.UTC)
    if due is None or due >= current + dt.timedelta(seconds=job.seconds):
        return  # the next periodic run is soon enough
    if due <= current:
        # Fell due during this run: go again at once, but only after a run that got something
        # done, so a row that keeps failing waits for the periodic run (never a tight loop).
        if not progressed:
            return
        due = current
    try:
        scheduler.add_job(
            run,
            "date",
            run_date=due,
            id=f"{job.name}:wake",
            name=f"{job.name}:wake",
            replace_existing=True,
            # A wake-up may overlap the periodic run: both are safe to run at once.
            max_instances=2,
            misfire_grace_time=None,
        )
    except Exception:
        # The scheduler is shutting down; the periodic run covers the deadline anyway.
        log.debug("wake-up for %s not set", job.name, exc_info=True)
