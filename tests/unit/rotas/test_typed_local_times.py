"""A local time a person typed is one instant, or refused: skipped and repeated hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rotas import (
    RepeatedLocalTime,
    SkippedLocalTime,
    local_to_utc,
    typed_local_to_utc,
    utc_to_local,
)

LONDON = ZoneInfo("Europe/London")
ZONES = [ZoneInfo(key) for key in ("Europe/London", "America/New_York", "Australia/Lord_Howe")]


def test_an_ordinary_local_time_is_its_one_instant() -> None:
    assert typed_local_to_utc(datetime(2026, 12, 5, 8, 0), LONDON) == datetime(
        2026, 12, 5, 8, 0, tzinfo=UTC
    )
    assert typed_local_to_utc(datetime(2026, 7, 5, 8, 0), LONDON) == datetime(
        2026, 7, 5, 7, 0, tzinfo=UTC
    )


@pytest.mark.parametrize("minute", [0, 30, 59])
def test_a_time_in_the_skipped_hour_is_refused(minute: int) -> None:
    with pytest.raises(SkippedLocalTime):
        typed_local_to_utc(datetime(2026, 3, 29, 1, minute), LONDON)
    # The hour either side is fine.
    assert typed_local_to_utc(datetime(2026, 3, 29, 2, minute), LONDON).hour == 1


@pytest.mark.parametrize("minute", [0, 30, 59])
def test_a_time_in_the_repeated_hour_names_both_instants(minute: int) -> None:
    with pytest.raises(RepeatedLocalTime) as twice:
        typed_local_to_utc(datetime(2026, 10, 25, 1, minute), LONDON)
    assert twice.value.instants == (
        datetime(2026, 10, 25, 0, minute, tzinfo=UTC),
        datetime(2026, 10, 25, 1, minute, tzinfo=UTC),
    )


@given(
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2060, 1, 1)),
    st.sampled_from(ZONES),
)
def test_an_accepted_time_reads_back_as_typed_and_agrees_with_the_handoff_rule(
    local: datetime, zone: ZoneInfo
) -> None:
    try:
        instant = typed_local_to_utc(local, zone)
    except SkippedLocalTime:
        # Skipped: the handoff rule had to move it forward.
        assert utc_to_local(local_to_utc(local, zone), zone) > local
        return
    except RepeatedLocalTime as twice:
        first, second = twice.instants
        assert first < second <= first + timedelta(hours=1)
        assert utc_to_local(first, zone) == utc_to_local(second, zone) == local
        return
    assert utc_to_local(instant, zone) == local
    assert instant == local_to_utc(local, zone)
