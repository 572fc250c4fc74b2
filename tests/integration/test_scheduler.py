"""The real APScheduler wakes the outbox and the heartbeat; a failing pass never stops it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from flask import Flask

from crisisline import heartbeat, outbox
from crisisline.jobs import Jobs
from crisisline.scheduler import PeriodicJob, build_scheduler, run_every_process_jobs, wake
from crisisline.telephony import FakeTelephony
from tests.support.app import services_of


def _eventually(condition: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_the_scheduler_dispatches_queued_deliveries_and_beats(
    app: Flask, telephony: FakeTelephony
) -> None:
    svc = services_of(app)
    with svc.db.transaction() as session:
        outbox.enqueue_sms(
            session,
            to="+447700900101",
            from_="+447700900000",
            body="Scheduler test",
            purpose="test_message",
            now=svc.clock.now(),
        )
    scheduler = build_scheduler(Jobs(svc).scheduler_jobs("test-scheduler"), background=True)
    scheduler.start()
    try:
        assert _eventually(lambda: len(telephony.sent_messages) == 1)

        def beaten() -> bool:
            with svc.db.transaction() as session:
                beat = heartbeat.latest(session)
                return beat is not None and beat.name == "test-scheduler"

        assert _eventually(beaten)
    finally:
        scheduler.shutdown(wait=True)
    assert [m.body for m in telephony.sent_messages] == ["Scheduler test"]


def test_a_job_that_raises_runs_again_on_the_next_tick() -> None:
    runs: list[int] = []

    def flaky() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("database blip")

    scheduler = build_scheduler([PeriodicJob("flaky", 0.05, flaky)], background=True)
    scheduler.start()
    try:
        assert _eventually(lambda: len(runs) >= 3)
    finally:
        scheduler.shutdown(wait=True)


def test_a_starting_scheduler_leads_before_its_first_sweep(app: Flask) -> None:
    svc = services_of(app)
    jobs = Jobs(svc).scheduler_jobs("test-scheduler")
    try:
        # What `crisisline scheduler` does before starting APScheduler: on PostgreSQL the first
        # sweep then runs as the leader at once instead of a tick later, on standby.
        run_every_process_jobs(jobs)
        with svc.db.transaction() as session:
            beat = heartbeat.latest(session)
            assert beat is not None and beat.role == "leader"
    finally:
        for job in jobs:
            if job.stop is not None:
                job.stop()


def test_wakeups_during_a_woken_run_make_it_go_round_once_more_never_pile_up() -> None:
    """A burst of wake-ups while the woken run is busy: one more run after it, not one each,
    and never two at once."""
    started = threading.Event()
    release = threading.Event()
    runs: list[int] = []
    at_once: list[int] = []
    busy = threading.Lock()

    def job() -> None:
        if not busy.acquire(blocking=False):
            at_once.append(1)
            return
        try:
            runs.append(1)
            if len(runs) == 2:
                started.set()
                release.wait(10)
        finally:
            busy.release()

    scheduler = build_scheduler([PeriodicJob("job", 3600, job)], background=True)
    scheduler.start()
    try:
        assert _eventually(lambda: len(runs) == 1)  # the periodic run at start-up
        assert wake(scheduler, "job")
        assert started.wait(10)  # the woken run is under way, held
        for _ in range(20):
            assert wake(scheduler, "job")
        release.set()
        assert _eventually(lambda: len(runs) == 3)
        time.sleep(0.3)
    finally:
        scheduler.shutdown(wait=True)
    assert len(runs) == 3
    assert not at_once
    assert not wake(scheduler, "no-such-job")
