"""Handoffs follow local wall-clock time across clock changes, by the rule in docs/rotas.md.

Europe/London springs forward at 01:00 UTC on Sunday 29 March 2026 (01:00 GMT becomes
02:00 BST, so local 01:00-01:59 never happens) and falls back at 01:00 UTC on Sunday
25 October 2026 (02:00 BST becomes 01:00 GMT, so local 01:00-01:59 happens twice).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rotas import Rota, local_to_utc, on_call_at, rotation_shift_at, shifts_between, utc_to_local

LONDON = ZoneInfo("Europe/London")


def utc(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def london_rota(shift_length: str, first_handoff: datetime, members: int = 3) -> Rota:
    return Rota(
        name="primary",
        timezone="Europe/London",
        members=tuple(range(1, members + 1)),
        shift_length=shift_length,
        first_handoff=first_handoff,
    )


def handoffs_between(rota: Rota, start: datetime, end: datetime) -> list[datetime]:
    return [shift.start for shift in shifts_between(rota, [], start, end)][1:]


SPRING = (utc(3, 27, 12), utc(3, 30, 12))
AUTUMN = (utc(10, 23, 12), utc(10, 26, 12))


@pytest.mark.parametrize(
    ("local_time", "expected"),
    [
        # Before the gap: unaffected, the shift that contains the change is 23 hours.
        ("00:30", [utc(3, 28, 0, 30), utc(3, 29, 0, 30), utc(3, 29, 23, 30)]),
        # Inside the gap: 01:30 does not exist, so the handoff moves forward to the first
        # valid instant, 02:00 BST (01:00 UTC); the shifts either side are 23h30 each.
        ("01:30", [utc(3, 28, 1, 30), utc(3, 29, 1, 0), utc(3, 30, 0, 30)]),
        # After the gap: 02:30 BST on the change day.
        ("02:30", [utc(3, 28, 2, 30), utc(3, 29, 1, 30), utc(3, 30, 1, 30)]),
        ("09:00", [utc(3, 28, 9), utc(3, 29, 8), utc(3, 30, 8)]),
    ],
)
def test_daily_handoffs_around_spring_forward_follow_the_documented_rule(
    local_time: str, expected: list[datetime]
) -> None:
    hour, minute = map(int, local_time.split(":"))
    rota = london_rota("P1D", datetime(2026, 3, 1, hour, minute))

    assert handoffs_between(rota, *SPRING) == expected


@pytest.mark.parametrize(
    ("local_time", "expected"),
    [
        # Before the repeated hour: the shift containing the change is 25 hours.
        ("00:30", [utc(10, 23, 23, 30), utc(10, 24, 23, 30), utc(10, 26, 0, 30)]),
        # Inside the repeated hour: the first occurrence (01:30 BST, 00:30 UTC) is the
        # handoff, and the second 01:30 (GMT) is not a second handoff.
        ("01:30", [utc(10, 24, 0, 30), utc(10, 25, 0, 30), utc(10, 26, 1, 30)]),
        ("02:30", [utc(10, 24, 1, 30), utc(10, 25, 2, 30), utc(10, 26, 2, 30)]),
        ("09:00", [utc(10, 24, 8), utc(10, 25, 9), utc(10, 26, 9)]),
    ],
)
def test_daily_handoffs_around_fall_back_follow_the_documented_rule(
    local_time: str, expected: list[datetime]
) -> None:
    hour, minute = map(int, local_time.split(":"))
    rota = london_rota("P1D", datetime(2026, 10, 1, hour, minute))

    assert handoffs_between(rota, *AUTUMN) == expected


def test_twelve_hour_rota_hands_over_at_08_and_20_local_and_spring_night_is_11_hours() -> None:
    rota = london_rota("PT12H", datetime(2026, 1, 1, 8, 0), members=2)

    shifts = shifts_between(rota, [], utc(3, 28, 8), utc(3, 30, 7))

    assert [(shift.start, shift.end - shift.start) for shift in shifts] == [
        (utc(3, 28, 8), timedelta(hours=12)),
        (utc(3, 28, 20), timedelta(hours=11)),
        (utc(3, 29, 7), timedelta(hours=12)),
        (utc(3, 29, 19), timedelta(hours=12)),
    ]
    assert [f"{utc_to_local(shift.start, LONDON):%H:%M}" for shift in shifts] == [
        "08:00",
        "20:00",
        "08:00",
        "20:00",
    ]


def test_twelve_hour_rota_hands_over_at_08_and_20_local_and_autumn_night_is_13_hours() -> None:
    rota = london_rota("PT12H", datetime(2026, 1, 1, 8, 0), members=2)

    shifts = shifts_between(rota, [], utc(10, 24, 7), utc(10, 26, 8))

    assert [(shift.start, shift.end - shift.start) for shift in shifts] == [
        (utc(10, 24, 7), timedelta(hours=12)),
        (utc(10, 24, 19), timedelta(hours=13)),
        (utc(10, 25, 8), timedelta(hours=12)),
        (utc(10, 25, 20), timedelta(hours=12)),
    ]


def test_twelve_hour_rota_with_handoff_in_the_missing_hour_moves_it_to_02_00_bst() -> None:
    rota = london_rota("PT12H", datetime(2026, 1, 1, 1, 30), members=2)

    assert handoffs_between(rota, utc(3, 28, 12), utc(3, 29, 23)) == [
        utc(3, 28, 13, 30),
        utc(3, 29, 1, 0),
        utc(3, 29, 12, 30),
    ]


def test_second_0130_on_fall_back_night_is_still_the_shift_that_began_at_the_first() -> None:
    rota = london_rota("P1D", datetime(2026, 10, 1, 1, 30))

    first_0130 = on_call_at(rota, [], utc(10, 25, 0, 30))
    second_0130 = on_call_at(rota, [], utc(10, 25, 1, 30))

    assert first_0130 == second_0130
    assert (second_0130.start, second_0130.end) == (utc(10, 25, 0, 30), utc(10, 26, 1, 30))


def test_on_call_in_the_hour_before_a_handoff_moved_out_of_the_gap_is_the_outgoing_member() -> None:
    rota = london_rota("P1D", datetime(2026, 3, 1, 1, 30))
    outgoing = rotation_shift_at(rota, utc(3, 29, 0, 59))
    incoming = rotation_shift_at(rota, utc(3, 29, 1, 0))

    assert outgoing.end == incoming.start == utc(3, 29, 1, 0)
    assert incoming.staff_id != outgoing.staff_id


def test_hourly_turn_that_starts_and_ends_in_the_missing_hour_is_skipped() -> None:
    # Local 01:00 and 02:00 both resolve to 01:00 UTC, so turn 1 has no length: member 2
    # gets no turn that night and member 3 follows member 1 directly.
    rota = london_rota("PT1H", datetime(2026, 3, 29, 0, 0))

    shifts = shifts_between(rota, [], utc(3, 29, 0), utc(3, 29, 3))

    assert [(shift.start, shift.rotation_index, shift.staff_ids) for shift in shifts] == [
        (utc(3, 29, 0), 0, (1,)),
        (utc(3, 29, 1), 2, (3,)),
        (utc(3, 29, 2), 3, (1,)),
    ]


def test_hourly_turn_that_starts_in_the_repeated_hour_lasts_two_hours() -> None:
    rota = london_rota("PT1H", datetime(2026, 10, 25, 0, 0))

    shifts = shifts_between(rota, [], utc(10, 24, 23), utc(10, 25, 3))

    assert [(shift.start, shift.end - shift.start) for shift in shifts] == [
        (utc(10, 24, 23), timedelta(hours=1)),
        (utc(10, 25, 0), timedelta(hours=2)),
        (utc(10, 25, 2), timedelta(hours=1)),
    ]


def test_weekly_rota_keeps_monday_09_00_and_the_change_week_is_an_hour_short_or_long() -> None:
    rota = london_rota("P7D", datetime(2026, 1, 5, 9, 0))

    spring = rotation_shift_at(rota, utc(3, 29, 12))
    autumn = rotation_shift_at(rota, utc(10, 25, 12))

    assert (spring.start, spring.end) == (utc(3, 23, 9), utc(3, 30, 8))
    assert (autumn.start, autumn.end) == (utc(10, 19, 8), utc(10, 26, 9))


def test_monthly_rota_from_the_31st_returns_to_the_31st_after_short_months() -> None:
    rota = london_rota("P1M", datetime(2026, 1, 31, 9, 0))

    handoffs = handoffs_between(rota, utc(1, 31, 12), utc(5, 31, 12))

    assert [utc_to_local(handoff, LONDON) for handoff in handoffs] == [
        datetime(2026, 2, 28, 9),
        datetime(2026, 3, 31, 9),
        datetime(2026, 4, 30, 9),
        datetime(2026, 5, 31, 9),
    ]


@pytest.mark.parametrize(
    ("zone", "local", "expected"),
    [
        ("Europe/London", datetime(2026, 3, 29, 1, 0), utc(3, 29, 1)),
        ("Europe/London", datetime(2026, 3, 29, 1, 59, 59), utc(3, 29, 1)),
        ("Europe/London", datetime(2026, 3, 29, 2, 0), utc(3, 29, 1)),
        ("Europe/London", datetime(2026, 10, 25, 1, 0), utc(10, 25, 0)),
        ("Europe/London", datetime(2026, 10, 25, 1, 59), utc(10, 25, 0, 59)),
        ("Europe/London", datetime(2026, 10, 25, 2, 0), utc(10, 25, 2)),
        ("America/New_York", datetime(2026, 3, 8, 2, 30), utc(3, 8, 7)),
        ("America/New_York", datetime(2026, 11, 1, 1, 30), utc(11, 1, 5, 30)),
        # Lord Howe Island moves its clocks by half an hour.
        ("Australia/Lord_Howe", datetime(2026, 10, 4, 2, 15), utc(10, 3, 15, 30)),
        # Samoa skipped the whole of 30 December 2011 when it crossed the date line.
        ("Pacific/Apia", datetime(2011, 12, 30, 9, 0), utc(12, 30, 10, year=2011)),
    ],
)
def test_local_to_utc_moves_missing_times_forward_and_takes_first_of_repeated_times(
    zone: str, local: datetime, expected: datetime
) -> None:
    assert local_to_utc(local, ZoneInfo(zone)) == expected
