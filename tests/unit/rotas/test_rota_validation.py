"""Rotas, coverage windows and overrides refuse invalid input, naming the field at fault."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from rotas import (
    CoverageWindow,
    Override,
    Rota,
    RotaValidationError,
    ShiftLength,
    on_call_at,
    shifts_between,
)

START = datetime(2026, 1, 5, 9, 0)


def make_rota(**changes: object) -> Rota:
    fields: dict[str, object] = {
        "name": "primary",
        "timezone": "Europe/London",
        "members": (1, 2, 3),
        "shift_length": "P1D",
        "first_handoff": START,
        "coverage": None,
    }
    fields.update(changes)
    return Rota(**fields)  # type: ignore[arg-type]


def test_valid_rota_keeps_its_fields_as_given() -> None:
    rota = make_rota(members=[3, 1, 2])

    assert rota.members == (3, 1, 2)
    assert rota.shift_length == "P1D"
    assert str(rota.zone) == "Europe/London"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "  "}, "name"),
        ({"timezone": "Europe/Lndon"}, "timezone"),
        ({"timezone": "../etc/passwd"}, "timezone"),
        ({"timezone": ""}, "timezone"),
        ({"timezone": "localtime"}, "timezone"),
        ({"members": ()}, "members"),
        ({"members": (1, 2, 1)}, "members"),
        ({"members": (1, True)}, "members"),
        ({"members": ("1",)}, "members"),
        ({"shift_length": "PT0S"}, "shift_length"),
        ({"shift_length": "-P1D"}, "shift_length"),
        ({"shift_length": "-P1M"}, "shift_length"),
        ({"shift_length": "P0M"}, "shift_length"),
        ({"shift_length": "PT30S"}, "shift_length"),
        ({"shift_length": "P1M1D"}, "shift_length"),
        ({"shift_length": "P1.5M"}, "shift_length"),
        ({"shift_length": "twelve hours"}, "shift_length"),
        ({"first_handoff": datetime(2026, 1, 5, 9, tzinfo=UTC)}, "first_handoff"),
        ({"first_handoff": "2026-01-05T09:00"}, "first_handoff"),
        ({"first_handoff": datetime(1, 1, 1)}, "first_handoff"),
        ({"coverage": ()}, "coverage"),
        ({"coverage": ("Mon 09:00",)}, "coverage"),
    ],
)
def test_invalid_rota_raises_a_value_error_naming_the_field(
    changes: dict[str, object], field: str
) -> None:
    with pytest.raises(RotaValidationError) as raised:
        make_rota(**changes)

    assert raised.value.field == field
    assert isinstance(raised.value, ValueError)
    assert str(raised.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("text", "months", "step"),
    [
        ("PT12H", 0, timedelta(hours=12)),
        ("PT30M", 0, timedelta(minutes=30)),
        ("P1D", 0, timedelta(days=1)),
        ("P7D", 0, timedelta(days=7)),
        ("P1W", 0, timedelta(days=7)),
        ("P1DT12H", 0, timedelta(hours=36)),
        ("P1M", 1, timedelta(0)),
        ("P1Y", 12, timedelta(0)),
        ("P1Y6M", 18, timedelta(0)),
    ],
)
def test_shift_length_parses_hour_day_week_month_and_year_durations(
    text: str, months: int, step: timedelta
) -> None:
    assert ShiftLength.parse(text) == ShiftLength(months=months, step=step)


def test_coverage_window_parses_day_names_and_24_00() -> None:
    assert CoverageWindow.parse("Fri 17:00", "monday 09:00") == CoverageWindow(
        4, time(17), 0, time(9)
    )
    assert CoverageWindow.parse("Sat 00:00", "Sun 24:00") == CoverageWindow(5, time(0), 0, time(0))
    assert str(CoverageWindow.parse("Fri 17:00", "Mon 09:00")) == "Fri 17:00-Mon 09:00"


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("Mon 09:00", "Mon 09:00"),
        ("Funday 09:00", "Mon 10:00"),
        ("Mon 25:00", "Tue 09:00"),
        ("Mon 9am", "Tue 09:00"),
    ],
)
def test_invalid_coverage_window_raises_naming_coverage(start: str, end: str) -> None:
    with pytest.raises(RotaValidationError) as raised:
        CoverageWindow.parse(start, end)

    assert raised.value.field == "coverage"


def test_coverage_window_rejects_out_of_range_day_and_zoned_time() -> None:
    with pytest.raises(RotaValidationError):
        CoverageWindow(7, time(9), 0, time(17))
    with pytest.raises(RotaValidationError):
        CoverageWindow(0, time(9, tzinfo=UTC), 0, time(17))


def test_coverage_window_length_wraps_around_the_week() -> None:
    assert CoverageWindow.parse("Fri 17:00", "Mon 09:00").length == timedelta(hours=64)
    assert CoverageWindow.parse("Mon 17:00", "Mon 09:00").length == timedelta(hours=160)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"end": datetime(2026, 1, 5, 8, tzinfo=UTC)}, "end"),
        ({"end": datetime(2026, 1, 5, 9, tzinfo=UTC)}, "end"),
        ({"start": datetime(2026, 1, 5, 9)}, "start"),
        ({"mode": "swap"}, "mode"),
        ({"mode": "add", "staff_id": None}, "staff_id"),
        ({"staff_id": "7"}, "staff_id"),
        ({"id": "1"}, "id"),
        ({"start": datetime(1, 1, 1, tzinfo=UTC)}, "start"),
    ],
)
def test_invalid_override_raises_naming_the_field(changes: dict[str, object], field: str) -> None:
    fields: dict[str, object] = {
        "id": 1,
        "start": datetime(2026, 1, 5, 9, tzinfo=UTC),
        "end": datetime(2026, 1, 6, 9, tzinfo=UTC),
        "staff_id": 7,
    }
    fields.update(changes)

    with pytest.raises(RotaValidationError) as raised:
        Override(**fields)  # type: ignore[arg-type]

    assert raised.value.field == field


def test_override_converts_its_bounds_to_utc_and_carries_who_and_why() -> None:
    plus_one = datetime(2026, 6, 1, 10, tzinfo=UTC).astimezone(
        datetime(2026, 6, 1).astimezone().tzinfo
    )
    override = Override(
        id=1,
        start=plus_one,
        end=plus_one + timedelta(hours=2),
        staff_id=None,
        created_by="duty manager",
        reason="illness",
    )

    assert override.start == datetime(2026, 6, 1, 10, tzinfo=UTC)
    assert override.start.tzinfo is UTC
    assert (override.created_by, override.reason) == ("duty manager", "illness")


@pytest.mark.parametrize(
    "at",
    [datetime(2026, 1, 5, 9, 0), datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)],
)
def test_queries_refuse_naive_and_out_of_range_instants_naming_the_argument(at: datetime) -> None:
    with pytest.raises(RotaValidationError) as raised:
        on_call_at(make_rota(), [], at)

    assert raised.value.field == "at"


def test_shifts_between_refuses_an_end_before_its_start() -> None:
    start = datetime(2026, 1, 5, tzinfo=UTC)

    with pytest.raises(RotaValidationError) as raised:
        shifts_between(make_rota(), [], start, start - timedelta(hours=1))

    assert raised.value.field == "end"
