"""`crisisline report --from --to [--breakdown] [--csv]`: the service report printed as aligned
text or as the CSV the API gives, the seven days before today by default, and a clear click
error for a date it cannot read or a period backwards or too long. Printing figures names no
participant: nothing is logged. The figures are the small measure module's of
tests/support/report_measures.py."""

from __future__ import annotations

import csv
import io

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from crisisline.models import RecordAccess
from tests.support.app import services_of
from tests.support.report_measures import ANSWERED_SHARE, OFFERED, installed, seed_calls

__all__ = ["installed"]  # the fixture, used by name

pytestmark = pytest.mark.usefixtures("installed")


def _calls(app: Flask) -> None:
    svc = services_of(app)
    with svc.db.transaction() as session:
        seed_calls(session, svc.clock.now())


def test_it_prints_the_figures_aligned_against_their_targets(
    app: Flask, runner: FlaskCliRunner
) -> None:
    _calls(app)
    result = runner.invoke(args=["report", "--from", "2026-11-02", "--to", "2026-11-08"])
    assert result.exit_code == 0, result.output
    assert result.output == (
        "Service report, Mon 2 Nov 2026 to Sun 8 Nov 2026 (Europe/London)\n"
        "\n"
        "Calls\n"
        "  Calls offered (test)     10\n"
        "  Answered (test)       60.0%  (6 of 10)  target at least 90%: NOT MET\n"
    )
    with services_of(app).db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(RecordAccess)) == 0


def test_a_breakdown_adds_each_group(app: Flask, runner: FlaskCliRunner) -> None:
    _calls(app)
    result = runner.invoke(
        args=["report", "--from", "2026-11-02", "--to", "2026-11-08", "--breakdown", "day_night"]
    )
    assert result.exit_code == 0, result.output
    night = result.output.split("day_night: night\n", 1)[1]
    assert "    Calls offered (test)      3\n" in night
    assert "    Answered (test)       66.7%  (2 of 3)  target at least 90%: NOT MET\n" in night
    day = result.output.split("day_night: day\n", 1)[1].split("day_night: night")[0]
    assert "    Calls offered (test)      7\n" in day


def test_csv_is_the_report_as_the_api_gives_it(app: Flask, runner: FlaskCliRunner) -> None:
    _calls(app)
    result = runner.invoke(args=["report", "--from", "2026-11-02", "--to", "2026-11-08", "--csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    by_key = {row["measure"]: row for row in rows}
    assert set(by_key) == {OFFERED, ANSWERED_SHARE}
    assert by_key[OFFERED]["value"] == "10"
    answered = by_key[ANSWERED_SHARE]
    assert (answered["value"], answered["numerator"], answered["denominator"]) == ("0.6", "6", "10")
    assert answered["target"] == "0.9" and answered["contacts"] == "6"
    assert answered["period_start"] == "2026-11-02T00:00:00+00:00"
    assert answered["period_end"] == "2026-11-09T00:00:00+00:00"


def test_without_dates_it_is_the_seven_days_before_today(
    app: Flask, runner: FlaskCliRunner
) -> None:
    # The test clock: Thursday 26 November 2026, 12:00.
    result = runner.invoke(args=["report"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        "Service report, Thu 19 Nov 2026 to Wed 25 Nov 2026 (Europe/London)\n"
    )
    result = runner.invoke(args=["report", "--from", "2026-11-02"])
    assert "Mon 2 Nov 2026 to Sun 8 Nov 2026" in result.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--from", "1/11/2026"], "--from: '1/11/2026' is not a date: write it as 2026-11-01"),
        (["--to", "2026-02-30"], "--to: '2026-02-30' is not a date"),
        (["--from", "2026-11-08", "--to", "2026-11-02"], "--to: 2026-11-02 is before --from"),
        (["--from", "2025-01-01", "--to", "2026-01-02"], "--to: a report covers at most 366"),
        (["--from", "1066-10-14"], "--from: 1066-10-14 is outside 2000-01-01 to 2999-12-31"),
        (["--breakdown", "team"], "'team' is not one of"),
    ],
)
def test_a_bad_date_is_a_clear_click_error(
    app: Flask, runner: FlaskCliRunner, args: list[str], words: str
) -> None:
    result = runner.invoke(args=["report", *args])
    assert result.exit_code == 2
    assert words in " ".join(result.output.split()), result.output
