"""`crisisline handover --since 17:00`: the plain-text handover of a period, from the CLI."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from crisisline.clock import FakeClock
from crisisline.models import RecordAccess
from tests.support.app import services_of
from tests.support.handover import DANIEL, END, MARCUS, Night, build_night


def _night(app: Flask) -> Night:
    with services_of(app).db.transaction() as session:
        return build_night(session)


def test_since_17_00_prints_from_yesterday_17_00_until_now(
    app: Flask, runner: FlaskCliRunner, clock: FakeClock
) -> None:
    night = _night(app)
    clock.set(END)
    result = runner.invoke(args=["handover", "--since", "17:00"])
    assert result.exit_code == 0, result.output
    text = result.output
    assert text.startswith("Crisis line handover, Sunday 6 December\n")
    assert "From Sat 5 Dec 17:00 to Sun 6 Dec 08:30 (Europe/London)" in text
    # Marcus's missed call (08:30) and Tom's call-back (09:10) were before 17:00.
    assert "R1002 M.R." in text  # his old follow-up is still open
    assert "Missed call" not in text and "Call-back" not in text
    assert "Call answered by Amira Okafor. Note: risk now medium" in text
    assert "2 calls (1 missed), 2 texts, 1 alert, 1 with no note yet." in text
    assert (
        "Detail in the console: https://crisis.example.org/handover?"
        "from=2026-12-05T17%3A00Z&to=2026-12-06T08%3A30Z"
    ) in text
    for secret in [*night.bodies, *night.note_texts, DANIEL, MARCUS]:
        assert secret not in text
    with services_of(app).db.transaction() as session:
        logged = set(
            session.scalars(select(RecordAccess.participant_id).where(RecordAccess.actor == "cli"))
        )
    # Leon is named too: he has no crisis plan.
    assert logged == {night.participants[key] for key in ("daniel", "marcus", "leon")}


def test_without_options_it_prints_the_last_morning_handover(
    app: Flask, runner: FlaskCliRunner, clock: FakeClock
) -> None:
    _night(app)
    clock.set(END + dt.timedelta(hours=3))
    result = runner.invoke(args=["handover"])
    assert result.exit_code == 0, result.output
    assert "From Sat 5 Dec 08:30 to Sun 6 Dec 08:30 (Europe/London)" in result.output
    assert "3 calls (2 missed), 2 texts, 1 alert, 2 with no note yet." in result.output


def test_until_ends_it_earlier(app: Flask, runner: FlaskCliRunner, clock: FakeClock) -> None:
    _night(app)
    clock.set(END)
    result = runner.invoke(
        args=["handover", "--since", "2026-12-05T08:30", "--until", "2026-12-05T23:00"]
    )
    assert result.exit_code == 0, result.output
    assert "From Sat 5 Dec 08:30 to Sat 5 Dec 23:00" in result.output
    assert "Text conversation" not in result.output
    assert "Voicemail" not in result.output
    assert "Missed call" in result.output and "Call answered" in result.output


def test_a_time_it_cannot_read_or_a_reversed_period_is_refused_naming_the_option(
    app: Flask, runner: FlaskCliRunner, clock: FakeClock
) -> None:
    clock.set(END)
    unreadable = runner.invoke(args=["handover", "--since", "teatime"])
    assert unreadable.exit_code == 2
    assert "--since: 'teatime' is not a time" in unreadable.output
    reversed_ = runner.invoke(
        args=["handover", "--since", "2026-12-06T08:00", "--until", "2026-12-05T08:00"]
    )
    assert reversed_.exit_code == 2
    assert "--until: must be after the start" in reversed_.output
    ahead = runner.invoke(args=["handover", "--since", "today 09:00"])
    assert ahead.exit_code == 2
    assert "--since: must be before now" in ahead.output
