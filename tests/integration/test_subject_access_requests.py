"""Subject access requests: the one-calendar-month deadline (the ICO's rule: the same day of the
next month, or that month's last day), its extension by up to two further months, and the
`crisisline sar` commands that log, list, extend, complete and withdraw a request, each audited."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from crisisline import subject_access
from crisisline.clock import FakeClock
from crisisline.data_protection_models import SubjectAccessRequest, SubjectAccessStatus
from crisisline.errors import InvalidInput
from crisisline.models import AuditEntry
from crisisline.settings import SettingsError
from crisisline.telephony import FakeTelephony
from tests.support.app import make_settings, services_of
from tests.support.subject_access import Record, seed


@pytest.mark.parametrize(
    ("received", "due"),
    [
        ("2026-01-31", "2026-02-28"),
        ("2028-01-31", "2028-02-29"),  # a leap year
        ("2026-01-30", "2026-02-28"),
        ("2026-03-31", "2026-04-30"),
        ("2026-08-31", "2026-09-30"),
        ("2026-09-03", "2026-10-03"),  # the ICO's example: 3 September → 3 October
        ("2026-12-15", "2027-01-15"),  # across the year
        ("2026-02-28", "2026-03-28"),
    ],
)
@pytest.mark.hazard("H282")
def test_the_deadline_is_one_calendar_month(received: str, due: str) -> None:
    assert subject_access.due_date(dt.date.fromisoformat(received)) == dt.date.fromisoformat(due)


@pytest.mark.parametrize(
    ("received", "months", "extended"),
    [
        ("2026-01-31", 1, "2026-03-31"),
        ("2026-01-31", 2, "2026-04-30"),  # counted from receipt: not shortened by February
        ("2026-11-30", 2, "2027-02-28"),
        ("2026-09-03", 2, "2026-12-03"),
    ],
)
def test_an_extension_adds_further_months_from_receipt(
    received: str, months: int, extended: str
) -> None:
    day = dt.date.fromisoformat(received)
    assert subject_access.extended_date(day, months) == dt.date.fromisoformat(extended)


@pytest.mark.parametrize("months", [0, 3, -1])
def test_an_extension_is_one_or_two_months(months: int) -> None:
    with pytest.raises(InvalidInput) as refused:
        subject_access.extended_date(dt.date(2026, 1, 1), months)
    assert refused.value.field == "months"


@given(st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 12, 31)))
def test_the_deadline_is_in_the_next_month_on_the_same_day_or_its_last(day: dt.date) -> None:
    due = subject_access.due_date(day)
    assert (due.year * 12 + due.month) - (day.year * 12 + day.month) == 1
    assert due.day == day.day or (due.day < day.day and (due + dt.timedelta(days=1)).day == 1)


@pytest.mark.parametrize(
    ("today", "words", "overdue", "soon"),
    [
        ("2026-12-20", "due today", False, True),
        ("2026-12-19", "due tomorrow", False, True),
        ("2026-12-13", "due in 7 days", False, True),
        ("2026-12-12", "due in 8 days", False, False),
        ("2026-12-21", "OVERDUE by 1 day", True, False),
        ("2026-12-22", "OVERDUE by 2 days", True, False),
    ],
)
def test_the_deadline_in_words(today: str, words: str, overdue: bool, soon: bool) -> None:
    request = SubjectAccessRequest(
        received_on=dt.date(2026, 11, 20), due_on=dt.date(2026, 12, 20), extended_to=None
    )
    standing = subject_access.deadline(request, dt.date.fromisoformat(today))
    assert (standing.words, standing.overdue, standing.soon) == (words, overdue, soon)


@pytest.fixture
def record(app: Flask, telephony: FakeTelephony) -> Record:
    return seed(app, telephony)


def _audit(app: Flask) -> list[tuple[str, int | None, str]]:
    with services_of(app).db.transaction() as session:
        return [
            (e.action, e.record_id, e.actor)
            for e in session.scalars(
                select(AuditEntry)
                .where(AuditEntry.record_type == "subject_access_request")
                .order_by(AuditEntry.id)
            )
        ]


@pytest.mark.hazard("H282")
def test_the_cli_logs_lists_extends_completes_and_withdraws(
    app: Flask, runner: FlaskCliRunner, clock: FakeClock, record: Record, tmp_path: Path
) -> None:
    # The clock: Thursday 26 November 2026.
    logged = runner.invoke(
        args=["sar", "log", "R3001", "--received", "2026-10-24", "--detail", "By email"]
    )
    assert logged.exit_code == 0, logged.output
    assert "Logged request 1 for R3001: due 2026-11-24." in logged.output
    runner.invoke(args=["sar", "log", "R3002", "--received", "2026-11-25"])

    listed = runner.invoke(args=["sar", "list"])
    lines = listed.output.splitlines()
    assert lines[0].startswith("1\tR3001\topen") and "[OVERDUE by 2 days]" in lines[0]
    assert lines[1].startswith("2\tR3002\topen") and "due in 29 days" in lines[1]
    assert "[" not in lines[1]  # not flagged: more than 7 days left

    extended = runner.invoke(
        args=["sar", "extend", "1", "--months", "2", "--reason", "Three years of texts"]
    )
    assert extended.exit_code == 0, extended.output
    assert "Request 1 is now due 2027-01-24." in extended.output
    shorter = runner.invoke(args=["sar", "extend", "1", "--months", "1", "--reason", "Again"])
    assert shorter.exit_code == 1
    assert "already extended to 2027-01-24" in shorter.output
    too_long = runner.invoke(args=["sar", "extend", "1", "--months", "3", "--reason", "More"])
    assert too_long.exit_code == 2  # click refuses the range, naming --months
    assert "--months" in too_long.output

    not_yet = runner.invoke(args=["sar", "complete", "1"])
    assert not_yet.exit_code == 1
    assert "Export the bundle before marking the request complete" in not_yet.output
    runner.invoke(args=["sar", "export", "R3001", "--output", f"{tmp_path}/one.zip"])
    done = runner.invoke(args=["sar", "complete", "1"])
    assert done.exit_code == 0, done.output
    twice = runner.invoke(args=["sar", "complete", "1"])
    assert twice.exit_code == 1
    assert "Request 1 is completed: it cannot change." in twice.output

    no_reason = runner.invoke(args=["sar", "withdraw", "2", "--reason", "  "])
    assert no_reason.exit_code == 1
    assert "(reason)" in no_reason.output
    withdrawn = runner.invoke(args=["sar", "withdraw", "2", "--reason", "He rang to withdraw it"])
    assert withdrawn.exit_code == 0, withdrawn.output
    refused = runner.invoke(
        args=["sar", "export", "R3002", "--request", "2", "--output", f"{tmp_path}/two.zip"]
    )
    assert refused.exit_code == 1
    assert "was withdrawn" in refused.output

    assert runner.invoke(args=["sar", "list"]).output.strip() == "No open requests."
    everything = runner.invoke(args=["sar", "list", "--all"]).output
    assert "completed" in everything and "withdrawn" in everything
    assert _audit(app) == [
        ("sar.logged", 1, "cli"),
        ("sar.logged", 2, "cli"),
        ("sar.extended", 1, "cli"),
        ("sar.exported", 1, "cli"),
        ("sar.completed", 1, "cli"),
        ("sar.withdrawn", 2, "cli"),
    ]
    with services_of(app).db.transaction() as session:
        rows = {r.id: r for r in session.scalars(select(SubjectAccessRequest))}
        assert rows[1].status == SubjectAccessStatus.COMPLETED
        assert rows[1].closed_by == "cli" and rows[1].closed_at == clock.now()
        assert rows[1].extension_reason == "Three years of texts"
        assert rows[2].status == SubjectAccessStatus.WITHDRAWN
        withdrawn_entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "sar.withdrawn")
        ).one()
        assert withdrawn_entry.changes["reason"] == "He rang to withdraw it"


def test_the_cli_refuses_bad_input_naming_it(runner: FlaskCliRunner, record: Record) -> None:
    unknown = runner.invoke(args=["sar", "log", "R9999", "--received", "2026-11-20"])
    assert unknown.exit_code == 1
    assert "No participant has the reference 'R9999'. (participant)" in unknown.output
    future = runner.invoke(args=["sar", "log", "R3001", "--received", "2026-11-27"])
    assert future.exit_code == 1
    assert "cannot be in the future" in future.output
    badly = runner.invoke(args=["sar", "log", "R3001", "--received", "26/11/2026"])
    assert badly.exit_code == 2
    assert "--received" in badly.output
    missing = runner.invoke(args=["sar", "extend", "7", "--months", "1", "--reason", "Why not"])
    assert missing.exit_code == 1
    assert "There is no subject access request 7." in missing.output


@pytest.mark.parametrize(
    ("value", "named"), [("on", True), ("OFF", False), ("yes", True), ("0", False)]
)
def test_sar_staff_names_is_read_as_on_or_off(tmp_path: Path, value: str, named: bool) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path}/x.db", SAR_STAFF_NAMES=value)
    assert settings.sar_staff_names is named


def test_a_sar_staff_names_that_is_neither_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as stopped:
        make_settings(tmp_path, f"sqlite:///{tmp_path}/x.db", SAR_STAFF_NAMES="sometimes")
    assert "SAR_STAFF_NAMES must be on or off, not 'sometimes'" in str(stopped.value)
