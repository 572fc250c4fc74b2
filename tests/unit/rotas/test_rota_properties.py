"""Property tests: rota arithmetic holds for any zone, shift length, coverage and instant."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rotas import (
    CoverageWindow,
    Override,
    OverrideMode,
    Rota,
    local_to_utc,
    on_call_at,
    rotation_shift_at,
    shifts_between,
    utc_to_local,
)

# Zones with hour, half-hour and negative (Dublin) daylight saving, none, and odd offsets.
ZONES = [
    "Europe/London",
    "Europe/Dublin",
    "America/New_York",
    "America/Sao_Paulo",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Asia/Kolkata",
    "UTC",
]
FIXED_OFFSET_ZONES = ["UTC", "Asia/Kolkata"]
SUB_DAY_AND_DAY_LENGTHS = ["PT1H", "PT7H", "PT8H", "PT12H", "P1D", "P1DT6H", "P2D", "P7D", "P14D"]
MONTH_LENGTHS = ["P1M", "P3M"]
DAY_LENGTHS = {"P1D": 1, "P2D": 2, "P7D": 7, "P14D": 14}


def _clock_changes(year: int) -> list[datetime]:
    changes = []
    for key in ZONES:
        zone = ZoneInfo(key)
        moment = datetime(year, 1, 1, tzinfo=UTC)
        while moment.year == year:
            if (
                moment.astimezone(zone).utcoffset()
                != (moment + timedelta(hours=1)).astimezone(zone).utcoffset()
            ):
                changes.append(moment + timedelta(hours=1))
            moment += timedelta(hours=1)
    return changes


# Random instants rarely land on a change night, which is where rota arithmetic breaks,
# so half of them are drawn from within a day of one.
instants = st.one_of(
    st.datetimes(
        min_value=datetime(2001, 1, 1), max_value=datetime(2039, 1, 1), timezones=st.just(UTC)
    ),
    st.builds(
        lambda change, minutes: change + timedelta(minutes=minutes),
        st.sampled_from(_clock_changes(2026)),
        st.integers(-24 * 60, 24 * 60),
    ),
)
local_starts = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1)).map(
    lambda moment: moment.replace(second=0, microsecond=0)
)
members = st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=4, unique=True)
weekly_times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
coverage_windows = (
    st.tuples(st.integers(0, 6), weekly_times, st.integers(0, 6), weekly_times)
    .filter(lambda parts: parts[:2] != parts[2:])
    .map(lambda parts: CoverageWindow(*parts))
)


def coverages(zone_choices: list[str]) -> st.SearchStrategy[Rota]:
    return st.builds(
        Rota,
        name=st.just("rota"),
        timezone=st.sampled_from(zone_choices),
        members=members.map(tuple),
        shift_length=st.sampled_from(SUB_DAY_AND_DAY_LENGTHS + MONTH_LENGTHS),
        first_handoff=local_starts.map(lambda moment: moment.replace(day=min(moment.day, 28))),
        coverage=st.one_of(
            st.none(), st.lists(coverage_windows, min_size=1, max_size=3).map(tuple)
        ),
    )


rotas = coverages(ZONES)
always_covered_rotas = rotas.map(
    lambda rota: Rota(rota.name, rota.timezone, rota.members, rota.shift_length, rota.first_handoff)
)


@st.composite
def overrides(draw: st.DrawFn, near: datetime) -> list[Override]:
    result = []
    for override_id in range(draw(st.integers(0, 4))):
        start = near + timedelta(minutes=draw(st.integers(-3 * 24 * 60, 3 * 24 * 60)))
        length = timedelta(minutes=draw(st.integers(1, 3 * 24 * 60)))
        mode: OverrideMode = draw(st.sampled_from(["replace", "add"]))
        staff = draw(st.integers(100, 103))
        result.append(
            Override(
                id=draw(st.integers(0, 1000)) * 10 + override_id,
                start=start,
                end=start + length,
                staff_id=None if mode == "replace" and draw(st.booleans()) else staff,
                mode=mode,
            )
        )
    return result


def first_handoff_instant(rota: Rota) -> datetime:
    return local_to_utc(rota.first_handoff, rota.zone)


@given(rota=always_covered_rotas, at=instants)
def test_without_overrides_exactly_the_scheduled_member_is_on_call_after_the_start(
    rota: Rota, at: datetime
) -> None:
    answer = on_call_at(rota, [], at)
    turn = rotation_shift_at(rota, at)

    assert turn.start <= at < turn.end
    assert answer.start <= at < answer.end
    if at >= first_handoff_instant(rota):
        assert answer.source == "rotation"
        assert answer.staff_ids == (rota.members[turn.index % len(rota.members)],)
        assert (answer.start, answer.end) == (turn.start, turn.end)
    else:
        assert (answer.source, answer.staff_ids) == ("not_started", ())


@given(rota=rotas, at=instants)
def test_inside_coverage_exactly_one_member_is_on_call_and_outside_nobody(
    rota: Rota, at: datetime
) -> None:
    answer = on_call_at(rota, [], at)

    if at >= first_handoff_instant(rota):
        assert answer.source in ("rotation", "outside_coverage")
        assert len(answer.staff_ids) == (1 if answer.source == "rotation" else 0)


def covered_by_wall_clock(rota: Rota, at: datetime) -> bool:
    local = utc_to_local(at, rota.zone)
    since_monday = (
        local - datetime(local.year, local.month, local.day) + timedelta(days=local.weekday())
    )
    week = timedelta(days=7)
    return any(
        (since_monday - window.start_offset) % week < window.length
        for window in rota.coverage or ()
    )


@given(rota=coverages(FIXED_OFFSET_ZONES), at=instants)
def test_coverage_matches_the_local_wall_clock_in_zones_without_clock_changes(
    rota: Rota, at: datetime
) -> None:
    answer = on_call_at(rota, [], at)

    expected = rota.coverage is None or covered_by_wall_clock(rota, at)
    assert (answer.source != "outside_coverage") == expected


@settings(deadline=None)
@given(
    rota=rotas,
    start=instants,
    span=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=20)),
    data=st.data(),
)
def test_shifts_tile_the_period_with_no_overlap_and_no_hole(
    rota: Rota, start: datetime, span: timedelta, data: st.DataObject
) -> None:
    given_overrides = data.draw(overrides(start))

    shifts = shifts_between(rota, given_overrides, start, start + span)

    assert shifts[0].start == start
    assert shifts[-1].end == start + span
    for shift in shifts:
        assert shift.start < shift.end
    for before, after in pairwise(shifts):
        assert before.end == after.start
        # Neighbours differ in turn or in answer, otherwise they would be one period.
        assert (before.rotation_index, before.staff_ids, before.source, before.override_ids) != (
            after.rotation_index,
            after.staff_ids,
            after.source,
            after.override_ids,
        )


@settings(deadline=None)
@given(rota=rotas, start=instants, offset=st.floats(0, 1), data=st.data())
def test_on_call_at_agrees_with_the_shift_list_around_it(
    rota: Rota, start: datetime, offset: float, data: st.DataObject
) -> None:
    given_overrides = data.draw(overrides(start))
    end = start + timedelta(days=2)
    at = min(start + (end - start) * offset, end - timedelta(microseconds=1))

    answer = on_call_at(rota, given_overrides, at)
    [piece] = [
        s for s in shifts_between(rota, given_overrides, start, end) if s.start <= at < s.end
    ]

    assert piece.start == max(answer.start, start)
    assert piece.end == min(answer.end, end)
    assert (piece.staff_ids, piece.source, piece.override_ids, piece.rotation_index) == (
        answer.staff_ids,
        answer.source,
        answer.override_ids,
        answer.rotation_index,
    )


@settings(deadline=None)
@given(rota=rotas, at=instants, data=st.data())
def test_overrides_change_only_their_own_window(
    rota: Rota, at: datetime, data: st.DataObject
) -> None:
    given_overrides = data.draw(overrides(at))
    without = on_call_at(rota, [], at)

    answer = on_call_at(rota, given_overrides, at)

    containing = sorted((o for o in given_overrides if o.start <= at < o.end), key=lambda o: o.id)
    if not containing or without.source == "outside_coverage":
        assert (answer.staff_ids, answer.source) == (without.staff_ids, without.source)
        return
    assert answer.source == "override"
    last = containing[-1]
    if last.mode == "replace":
        assert answer.staff_ids == (() if last.staff_id is None else (last.staff_id,))
    else:
        assert last.staff_id in answer.staff_ids


@given(
    zone=st.sampled_from(ZONES),
    length=st.sampled_from(sorted(DAY_LENGTHS)),
    first=local_starts,
    at=instants,
)
def test_day_based_handoffs_keep_their_local_time_unless_it_does_not_exist(
    zone: str, length: str, first: datetime, at: datetime
) -> None:
    rota = Rota("rota", zone, (1, 2), length, first)
    turn = rotation_shift_at(rota, at)
    local = utc_to_local(turn.start, rota.zone)
    if turn.index < 0:
        return

    scheduled = first + turn.index * timedelta(days=DAY_LENGTHS[length])
    if utc_to_local(local_to_utc(scheduled, rota.zone), rota.zone) == scheduled:
        assert local == scheduled
    else:
        # Missing that day: the handoff is the first instant after the gap.
        assert local > scheduled
        assert local - scheduled <= timedelta(hours=24)
        assert utc_to_local(turn.start - timedelta(microseconds=1), rota.zone) < scheduled


@given(
    rota=rotas,
    at=instants,
    cycles=st.integers(min_value=1, max_value=200),
)
def test_a_rota_started_cycles_earlier_answers_the_same(
    rota: Rota, at: datetime, cycles: int
) -> None:
    length = rota.length
    turns = cycles * len(rota.members)
    if length.months:
        months = rota.first_handoff.month - 1 - turns * length.months
        earlier = rota.first_handoff.replace(
            year=rota.first_handoff.year + months // 12, month=months % 12 + 1
        )
    else:
        earlier = rota.first_handoff - turns * length.step
    # Rotas refuse instants before 1900 (documented in docs/rotas.md); stay inside the range.
    assume(earlier.year > 1900)
    old = Rota(rota.name, rota.timezone, rota.members, rota.shift_length, earlier, rota.coverage)
    if at < first_handoff_instant(rota):
        return

    recent_answer = on_call_at(rota, [], at)
    old_answer = on_call_at(old, [], at)

    assert (old_answer.start, old_answer.end, old_answer.staff_ids, old_answer.source) == (
        recent_answer.start,
        recent_answer.end,
        recent_answer.staff_ids,
        recent_answer.source,
    )
    assert old_answer.rotation_index == recent_answer.rotation_index + turns
