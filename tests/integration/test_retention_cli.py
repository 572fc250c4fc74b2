"""`crisisline retention run [--dry-run] [--as-of]`, `retention runs` and `retention show`, on
the shipped schedule (config/retention.toml) and a seeded history."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from crisisline.data_protection_models import RetentionAction, RetentionRun
from crisisline.models import Contact
from tests.support.app import services_of
from tests.support.retention import dump, seed_history


@pytest.mark.hazard("H264")
def test_the_dry_run_prints_what_would_go_and_writes_nothing(
    app: Flask, runner: FlaskCliRunner
) -> None:
    db = services_of(app).db
    seed_history(db)
    before = dump(db)

    result = runner.invoke(args=["retention", "run", "--dry-run"])

    assert result.exit_code == 0, result.output
    assert dump(db) == before  # not even a run row
    lines = result.output.splitlines()
    assert lines[0].startswith("Dry run as of 2026-11-26 12:00")
    bodies = next(line for line in lines if line.strip().startswith("message_bodies:"))
    # The shipped schedule: two years for texts' words; 2019, 2021 and 2023 texts of three
    # participants (the fourth is held).
    assert bodies.strip().startswith("message_bodies: 9 would go (e.g. contact ")
    assert "held: 1 participant(s)" in result.output
    assert "+44" not in result.output and "sleep" not in result.output


@pytest.mark.hazard("H261")
def test_a_dry_run_can_look_ahead_and_a_real_run_cannot(app: Flask, runner: FlaskCliRunner) -> None:
    db = services_of(app).db
    seed_history(db)
    ahead = runner.invoke(args=["retention", "run", "--dry-run", "--as-of", "2041-02-28"])
    assert ahead.exit_code == 0, ahead.output
    # Twenty years after the end of service: the man who left on 1 March 2021 is kept until
    # then...
    assert "participant_details: 0 would go" in ahead.output
    later = runner.invoke(args=["retention", "run", "--dry-run", "--as-of", "2041-03-01"])
    # ... and his details (name, phone, correction, audit) go that day.
    assert "participant_details: 4 would go" in later.output

    refused = runner.invoke(args=["retention", "run", "--as-of", "2026-11-27"])
    assert refused.exit_code == 2
    assert "--as-of" in refused.output and "before their time" in refused.output
    wrong = runner.invoke(args=["retention", "run", "--dry-run", "--as-of", "27/11/2026"])
    assert wrong.exit_code == 2 and "YYYY-MM-DD" in wrong.output
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(RetentionRun)) == 0


def test_a_run_from_the_command_line_is_recorded_and_listed(
    app: Flask, runner: FlaskCliRunner
) -> None:
    db = services_of(app).db
    seed_history(db)

    result = runner.invoke(args=["retention", "run"])

    assert result.exit_code == 0, result.output
    assert result.output.startswith("Run 1: finished")
    assert "  message_bodies: 9" in result.output
    with db.transaction() as session:
        run = session.get(RetentionRun, 1)
        assert run is not None
        assert (run.actor, run.scheduled_for, run.status) == ("cli", None, "finished")
        removed = session.scalars(
            select(RetentionAction.record_id).where(RetentionAction.rule == "message_bodies")
        ).all()
        assert len(removed) == 9
        assert all(session.get(Contact, cid).body.startswith("[removed") for cid in removed)  # type: ignore[union-attr]

    listed = runner.invoke(args=["retention", "runs"])
    assert listed.exit_code == 0
    assert listed.output.startswith("1\t2026-11-26 12:00\tcli\tfinished\t")
    shown = runner.invoke(args=["retention", "show", "1"])
    assert shown.exit_code == 0, shown.output
    assert "message_bodies: 9 contact anonymised" in shown.output
    assert str(removed[0]) in shown.output
    missing = runner.invoke(args=["retention", "show", "99"])
    assert missing.exit_code == 2 and "no retention run 99" in missing.output


def test_runs_says_when_there_are_none(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["retention", "runs"])
    assert (result.exit_code, result.output) == (0, "No retention runs yet.\n")


def test_the_as_of_day_is_the_local_days_retention_time(app: Flask) -> None:
    from crisisline import retention

    svc = services_of(app)
    moment = retention.as_of_date(
        dt.date(2026, 7, 1), svc.settings.retention_time, svc.settings.zone
    )
    assert moment == dt.datetime(2026, 7, 1, 1, 30, tzinfo=dt.UTC)
