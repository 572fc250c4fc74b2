"""The access log's small rules: what a break-glass reason may be, how `audit show` reads a
span of time, and a CSV row that a spreadsheet cannot run."""

from __future__ import annotations

import datetime as dt

import click
import pytest

from crisisline.audit_cli import parse_since
from crisisline.errors import InvalidInput
from crisisline.models import RecordAccess
from crisisline.record_access import checked_reason, csv_row

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("given", ["abc", "x" * 500, "  Covering Rena tonight  "])
def test_a_reason_of_three_to_five_hundred_characters_is_kept_trimmed(given: str) -> None:
    assert checked_reason(given, "X-Access-Reason") == given.strip()


@pytest.mark.parametrize("given", [None, "", "   "])
def test_no_reason_or_a_blank_one_is_none(given: str | None) -> None:
    assert checked_reason(given, "X-Access-Reason") is None


@pytest.mark.parametrize("given", ["ab", "x" * 501, "two\nlines", "nul\x00here"])
def test_a_reason_too_short_too_long_or_not_one_line_is_refused_naming_the_field(
    given: str,
) -> None:
    with pytest.raises(InvalidInput) as refused:
        checked_reason(given, "X-Access-Reason")
    assert refused.value.field == "X-Access-Reason"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("7d", NOW - dt.timedelta(days=7)),
        ("12h", NOW - dt.timedelta(hours=12)),
        ("30m", NOW - dt.timedelta(minutes=30)),
        ("2026-11-01", dt.datetime(2026, 11, 1, tzinfo=dt.UTC)),
        ("2026-11-01T09:00+01:00", dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.UTC)),
    ],
)
def test_audit_show_reads_a_span_or_a_date(given: str, expected: dt.datetime) -> None:
    assert parse_since(given, NOW) == expected


def test_audit_show_refuses_anything_else_saying_what_it_takes() -> None:
    with pytest.raises(click.BadParameter, match="7d"):
        parse_since("last week", NOW)


def test_a_csv_cell_that_would_run_as_a_formula_is_made_text() -> None:
    entry = RecordAccess(
        id=1,
        at=NOW,
        actor="staff:3",
        staff_id=3,
        token_id=None,
        action="read",
        record_type="participant",
        record_id=7,
        participant_id=7,
        reason='=HYPERLINK("http://example.org")',
        address="192.0.2.1",
        user_agent="@evil",
        web_session_id=None,
    )
    row = csv_row(entry)
    assert row[9] == '\'=HYPERLINK("http://example.org")'
    assert row[11] == "'@evil"
    assert row[1] == "2026-11-26T12:00:00+00:00"
    assert row[4] == "" and row[12] == ""
