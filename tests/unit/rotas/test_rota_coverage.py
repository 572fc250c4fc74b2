"""Coverage windows: outside them nobody is on call by design, in local wall-clock time."""

from __future__ import annotations

from datetime import UTC, datetime

from rotas import CoverageWindow, Override, Rota, gaps_between, on_call_at, shifts_between

WEEKDAY_NIGHTS_AND_WEEKENDS = (
    *(
        CoverageWindow.parse(f"{day} 17:00", f"{after} 09:00")
        for day, after in [("Mon", "Tue"), ("Tue", "Wed"), ("Wed", "Thu"), ("Thu", "Fri")]
    ),
    CoverageWindow.parse("Fri 17:00", "Mon 09:00"),
)


def out_of_hours_rota(first_handoff: datetime = datetime(2026, 1, 5, 17, 0)) -> Rota:
    return Rota(
        name="out of hours",
        timezone="Europe/London",
        members=(1, 2),
        shift_length="P1D",
        first_handoff=first_handoff,
        coverage=WEEKDAY_NIGHTS_AND_WEEKENDS,
    )


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def test_weekday_daytime_is_outside_coverage_with_nobody_on_call() -> None:
    # Tuesday 13 January 2026, noon GMT.
    answer = on_call_at(out_of_hours_rota(), [], utc(1, 13, 12))

    assert (answer.staff_ids, answer.source) == ((), "outside_coverage")
    assert (answer.start, answer.end) == (utc(1, 13, 9), utc(1, 13, 17))


def test_weekday_night_window_crosses_midnight() -> None:
    rota = out_of_hours_rota()

    evening = on_call_at(rota, [], utc(1, 13, 23))
    small_hours = on_call_at(rota, [], utc(1, 14, 3))

    assert evening == small_hours
    assert (evening.source, evening.start, evening.end) == (
        "rotation",
        utc(1, 13, 17),
        utc(1, 14, 9),
    )


def test_weekend_window_runs_from_friday_evening_to_monday_morning_split_by_handoffs() -> None:
    shifts = shifts_between(out_of_hours_rota(), [], utc(1, 16, 12), utc(1, 19, 12))

    assert [(s.start, s.end, s.source) for s in shifts] == [
        (utc(1, 16, 12), utc(1, 16, 17), "outside_coverage"),
        (utc(1, 16, 17), utc(1, 17, 17), "rotation"),
        (utc(1, 17, 17), utc(1, 18, 17), "rotation"),
        (utc(1, 18, 17), utc(1, 19, 9), "rotation"),
        (utc(1, 19, 9), utc(1, 19, 12), "outside_coverage"),
    ]


def test_coverage_edges_stay_at_local_times_across_spring_forward() -> None:
    # Friday 27 March 17:00 GMT to Monday 30 March 09:00 BST (08:00 UTC).
    shifts = shifts_between(out_of_hours_rota(), [], utc(3, 27, 12), utc(3, 30, 12))
    covered = [s for s in shifts if s.source != "outside_coverage"]

    assert covered[0].start == utc(3, 27, 17)
    assert covered[-1].end == utc(3, 30, 8)


def test_coverage_edge_in_the_missing_hour_moves_to_the_first_valid_instant() -> None:
    rota = Rota(
        name="small hours",
        timezone="Europe/London",
        members=(1,),
        shift_length="P7D",
        first_handoff=datetime(2026, 1, 4, 0, 0),
        coverage=(CoverageWindow.parse("Sun 00:00", "Sun 01:30"),),
    )

    answer = on_call_at(rota, [], utc(3, 29, 0, 45))

    assert (answer.start, answer.end) == (utc(3, 29, 0), utc(3, 29, 1))


def test_windows_that_together_cover_the_whole_week_mean_always_covered() -> None:
    rota = Rota(
        name="always",
        timezone="Europe/London",
        members=(1,),
        shift_length="P1D",
        first_handoff=datetime(2026, 1, 1, 9),
        coverage=(
            CoverageWindow.parse("Mon 09:00", "Fri 17:00"),
            CoverageWindow.parse("Fri 17:00", "Mon 09:00"),
        ),
    )

    assert rota.weekly_spans is None
    assert on_call_at(rota, [], utc(6, 3, 12)).source == "rotation"


def test_overlapping_windows_cover_their_union() -> None:
    rota = Rota(
        name="overlap",
        timezone="UTC",
        members=(1,),
        shift_length="P7D",
        first_handoff=datetime(2026, 1, 5, 0),
        coverage=(
            CoverageWindow.parse("Mon 09:00", "Mon 13:00"),
            CoverageWindow.parse("Mon 12:00", "Mon 17:00"),
        ),
    )

    answer = on_call_at(rota, [], utc(1, 12, 12, 30))

    assert (answer.start, answer.end) == (utc(1, 12, 9), utc(1, 12, 17))


def test_overrides_do_not_extend_a_rota_beyond_its_coverage() -> None:
    whole_week = Override(id=1, start=utc(1, 12, 0), end=utc(1, 19, 0), staff_id=9)

    daytime = on_call_at(out_of_hours_rota(), [whole_week], utc(1, 13, 12))
    night = on_call_at(out_of_hours_rota(), [whole_week], utc(1, 13, 20))

    assert (daytime.staff_ids, daytime.source) == ((), "outside_coverage")
    assert (night.staff_ids, night.source) == ((9,), "override")


def test_outside_coverage_is_not_a_gap() -> None:
    gaps = gaps_between([(out_of_hours_rota(), [])], utc(1, 12, 0), utc(1, 19, 0), lambda _: True)

    assert gaps == []
