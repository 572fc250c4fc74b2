"""The scheduler: APScheduler only wakes the jobs; all state lives in the database.

Jobs are given as plain callables so that this module needs neither Flask nor Twilio; the
composition root (crisisline.cli) decides which jobs run.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicJob:
    """A job run every `seconds`; a run still going when the next is due is not doubled."""

    name: str
    seconds: float
    run: Callable[[], object]


def build_scheduler(jobs: Sequence[PeriodicJob], *, background: bool) -> BaseScheduler:
    """An APScheduler scheduler with `jobs`, blocking (its own process) or in the background."""
    scheduler: BaseScheduler = (
        BackgroundScheduler(timezone=dt.UTC) if background else BlockingScheduler(timezone=dt.UTC)
    )
    for job in jobs:
        scheduler.add_job(
            _guarded(job),
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
    return scheduler


def _guarded(job: PeriodicJob) -> Callable[[], None]:
    def run() -> None:
        try:
            job.run()
        except Exception:
            # One failing pass must not stop the next: the next sweep retries from the database.
            log.exception("scheduled job %s failed; it will run again", job.name)

    run.__name__ = job.name
    return run
