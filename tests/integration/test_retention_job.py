"""The daily retention run in the scheduler: once a day at or after RETENTION_TIME local,
whichever of two schedulers gets there first; a failed run shows in /healthz."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from crisisline.app import create_app
from crisisline.clock import FakeClock
from crisisline.data_protection_models import RetentionRun
from crisisline.jobs import Jobs
from crisisline.retention import Outcome
from crisisline.telephony import FakeTelephony
from tests.support.app import beat_as_leader, make_settings, services_of
from tests.support.retention import seed_history

# 02:30 in London on 6 December is 02:30 UTC (winter time).
RUN_AT = dt.datetime(2026, 12, 6, 2, 30, tzinfo=dt.UTC)


def _app(tmp_path: Path, database_url: str, clock: FakeClock) -> Flask:
    settings = make_settings(tmp_path, database_url, RETENTION_TIME="02:30")
    return create_app({"TESTING": True}, settings=settings, clock=clock, telephony=FakeTelephony())


@pytest.fixture
def two_schedulers(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> Iterator[tuple[Flask, Flask]]:
    """Two apps (two scheduler processes) on one database."""
    first = _app(tmp_path / "a", database_url, clock)
    second = _app(tmp_path / "b", database_url, clock)
    yield first, second
    for app in (first, second):
        services_of(app).db.dispose()


def _runs(app: Flask) -> list[tuple[dt.date | None, str, str]]:
    with services_of(app).db.transaction() as session:
        return [
            (row.scheduled_for, row.actor, row.status)
            for row in session.scalars(select(RetentionRun).order_by(RetentionRun.id))
        ]


def test_it_runs_once_a_day_at_the_retention_time_whatever_the_schedulers(
    two_schedulers: tuple[Flask, Flask], clock: FakeClock
) -> None:
    first, second = two_schedulers
    seed_history(services_of(first).db)
    clock.set(RUN_AT - dt.timedelta(seconds=1))
    assert Jobs(services_of(first)).run_retention() is None
    assert Jobs(services_of(second)).run_retention() is None
    assert _runs(first) == []

    clock.set(RUN_AT)
    outcome = Jobs(services_of(first)).run_retention()
    assert outcome is not None and outcome.status == "finished"
    assert sum(outcome.counts.values()) > 0
    assert Jobs(services_of(second)).run_retention() is None
    clock.set(RUN_AT + dt.timedelta(hours=5))
    assert Jobs(services_of(first)).run_retention() is None
    assert _runs(first) == [(dt.date(2026, 12, 6), "scheduler", "finished")]

    # The next day: the next day's run, once.
    clock.set(RUN_AT + dt.timedelta(days=1))
    assert Jobs(services_of(second)).run_retention() is not None
    assert Jobs(services_of(first)).run_retention() is None
    assert [day for day, _, _ in _runs(first)] == [dt.date(2026, 12, 6), dt.date(2026, 12, 7)]


@pytest.mark.hazard("H266")
def test_two_schedulers_at_the_same_moment_run_it_once(
    two_schedulers: tuple[Flask, Flask], clock: FakeClock
) -> None:
    first, second = two_schedulers
    seed_history(services_of(first).db)
    clock.set(RUN_AT)
    barrier = threading.Barrier(2)
    results: list[Outcome | None] = []

    def run(app: Flask) -> None:
        barrier.wait()
        results.append(Jobs(services_of(app)).run_retention())

    threads = [threading.Thread(target=run, args=(app,)) for app in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 2
    assert sum(result is not None for result in results) == 1
    assert _runs(first) == [(dt.date(2026, 12, 6), "scheduler", "finished")]


def test_the_scheduler_has_the_retention_job(app: Flask) -> None:
    jobs = {job.name: job for job in Jobs(services_of(app)).scheduler_jobs("test")}
    assert jobs["retention"].seconds == 300.0


@pytest.mark.hazard("H265")
def test_a_failed_run_shows_in_healthz_until_a_run_finishes(app: Flask, clock: FakeClock) -> None:
    db = services_of(app).db
    with db.transaction() as session:
        session.add(
            RetentionRun(
                scheduled_for=dt.date(2026, 11, 26),
                started_at=clock.now(),
                finished_at=clock.now(),
                actor="scheduler",
                status="failed",
                error="OperationalError",
            )
        )
    beat_as_leader(app)
    body = app.test_client().get("/healthz").json
    assert body is not None
    assert body["status"] == "degraded"  # 200: the line itself is not stopped
    assert body["retention"]["state"] == "failing"
    assert body["retention"]["last_failed"]["error"] == "OperationalError"
    assert any("retention run 1 failed (OperationalError)" in w for w in body["warnings"])

    clock.advance(dt.timedelta(hours=1))
    outcome = Jobs(services_of(app)).run_retention()  # today's has been made (and failed)
    assert outcome is None
    runner = app.test_cli_runner()
    result = runner.invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    beat_as_leader(app)
    body = app.test_client().get("/healthz").json
    assert body is not None
    assert body["retention"]["state"] == "ok"
    assert body["retention"]["last_finished"]["status"] == "finished"
    assert not any("retention" in w for w in body["warnings"])


@pytest.mark.hazard("H265")
def test_a_run_whose_process_stopped_shows_until_the_next_run_closes_it(
    app: Flask, clock: FakeClock
) -> None:
    db = services_of(app).db
    with db.transaction() as session:
        session.add(
            RetentionRun(
                scheduled_for=dt.date(2026, 11, 26),
                started_at=clock.now(),
                actor="scheduler",
                status="running",
                counts={"message_bodies": 500},
            )
        )
    clock.advance(dt.timedelta(hours=5))
    beat_as_leader(app)
    body = app.test_client().get("/healthz").json
    assert body is not None and body["retention"]["state"] == "ok"  # still going, perhaps

    clock.advance(dt.timedelta(hours=2))
    beat_as_leader(app)
    body = app.test_client().get("/healthz").json
    assert body is not None
    assert body["retention"]["state"] == "failing"
    assert any("retention run 1 has been running since" in w for w in body["warnings"])

    result = app.test_cli_runner().invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    assert _runs(app) == [
        (dt.date(2026, 11, 26), "scheduler", "failed"),
        (None, "cli", "finished"),
    ]
    with db.transaction() as session:
        stopped = session.get(RetentionRun, 1)
        assert stopped is not None and stopped.error == "Interrupted"
    beat_as_leader(app)
    body = app.test_client().get("/healthz").json
    assert body is not None and body["retention"]["state"] == "ok"


def test_one_run_at_a_time(app: Flask, clock: FakeClock) -> None:
    db = services_of(app).db
    # Today's run is due; a run by hand began 14 minutes ago and is still going...
    clock.set(RUN_AT)
    with db.transaction() as session:
        session.add(
            RetentionRun(
                started_at=clock.now() - dt.timedelta(minutes=14),
                actor="cli",
                status="running",
                counts={},
            )
        )
    # ... so today's waits for it, and a second run by hand is refused.
    assert Jobs(services_of(app)).run_retention() is None
    refused = app.test_cli_runner().invoke(args=["retention", "run"])
    assert refused.exit_code == 1
    assert "retention run 1 is still going" in refused.output
    assert [status for _, _, status in _runs(app)] == ["running"]
    with db.transaction() as session:
        going = session.get(RetentionRun, 1)
        assert going is not None
        going.status = "finished"
    assert Jobs(services_of(app)).run_retention() is not None
