"""When the daily retention run is due, on the local wall clock, across the clock changes; and
what an unknown caller's number becomes."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from crisisline import retention

LONDON = ZoneInfo("Europe/London")


@pytest.mark.hazard("H267")
@pytest.mark.parametrize(
    ("day", "at", "due"),
    [
        # Winter: local is UTC.
        (dt.date(2026, 12, 6), dt.time(2, 30), dt.datetime(2026, 12, 6, 2, 30, tzinfo=dt.UTC)),
        # Summer: an hour ahead.
        (dt.date(2027, 6, 1), dt.time(2, 30), dt.datetime(2027, 6, 1, 1, 30, tzinfo=dt.UTC)),
        # 28 March 2027: 01:00 to 02:00 never happens; 01:30 is taken at its earliest reading,
        # so the run still happens that day.
        (dt.date(2027, 3, 28), dt.time(1, 30), dt.datetime(2027, 3, 28, 0, 30, tzinfo=dt.UTC)),
        # 31 October 2027: 01:30 happens twice; the first one counts.
        (dt.date(2027, 10, 31), dt.time(1, 30), dt.datetime(2027, 10, 31, 0, 30, tzinfo=dt.UTC)),
    ],
)
def test_the_run_is_due_at_the_local_time_once_a_day(
    day: dt.date, at: dt.time, due: dt.datetime
) -> None:
    assert retention.due_at(day, at, LONDON) == due
    assert retention.due_day(due - dt.timedelta(seconds=1), at, LONDON) is None
    assert retention.due_day(due, at, LONDON) == day
    # Later the same day (the second 01:30 of an autumn night among them): still that day.
    assert retention.due_day(due + dt.timedelta(hours=1), at, LONDON) == day


def test_an_unknown_callers_number_becomes_a_fingerprint_that_hides_it() -> None:
    first = retention.caller_fingerprint("key", "+447700900301")
    assert first == retention.caller_fingerprint("key", "+447700900301")
    assert first != retention.caller_fingerprint("key", "+447700900302")
    assert first != retention.caller_fingerprint("another key", "+447700900301")
    assert first.startswith("removed-") and "900301" not in first
    assert len(first) <= 20  # the column's width
