"""The reports' framework (crisisline.reports, crisisline.service_report's CSV): periods in local
time across the clock change, the nearest-rank percentile and shares worked by hand, the groups
of each breakdown, one definition computed over the whole period and over each group, and CSV
that a spreadsheet cannot run."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from crisisline import service_report
from crisisline.reports import (
    Context,
    Fact,
    Figure,
    Period,
    Report,
    compute,
    group_key,
    grouped,
    percentile,
    share,
)
from crisisline.risk_rules import NightHours

LONDON = ZoneInfo("Europe/London")
NIGHT = NightHours(dt.time(22), dt.time(7))


def _at(day: int, hour: int, minute: int = 0, month: int = 10) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=LONDON).astimezone(dt.UTC)


def test_a_local_day_across_the_clock_change_is_25_hours_and_a_week_starts_at_local_midnight() -> (
    None
):
    autumn = Period.local_days(dt.date(2026, 10, 25), dt.date(2026, 10, 25), LONDON)
    assert autumn.hours == 25
    assert autumn.start == dt.datetime(2026, 10, 24, 23, 0, tzinfo=dt.UTC)
    spring = Period.local_days(dt.date(2026, 3, 29), dt.date(2026, 3, 29), LONDON)
    assert spring.hours == 23
    week = Period.local_days(dt.date(2026, 11, 30), dt.date(2026, 12, 6), LONDON)
    assert week.start == dt.datetime(2026, 11, 30, 0, 0, tzinfo=dt.UTC)  # GMT: local = UTC
    assert week.contains(_at(6, 23, 59, month=12)) and not week.contains(week.end)


def test_percentiles_are_nearest_rank_and_shares_of_nothing_are_none() -> None:
    waits = [30, 10, 50, 20, 40]  # sorted: 10 20 30 40 50
    assert percentile(waits, 0.5) == 30  # rank ceil(2.5) = 3
    assert percentile(waits, 0.9) == 50  # rank ceil(4.5) = 5
    assert percentile([7, 3], 0.5) == 3  # rank 1 of 2: the lower
    assert percentile([], 0.5) is None
    assert share(3, 4) == 0.75
    assert share(0, 0) is None


@dataclass(frozen=True)
class Offered(Fact):
    contact_id: int = 0
    answered: bool = False


class CallsModule:
    """A measure module of two figures over hand-made facts (no database)."""

    def __init__(self, facts: Sequence[Offered]) -> None:
        self._facts = facts

    def facts(self, session: Session, context: Context) -> Sequence[Fact]:
        return self._facts

    def figures(self, facts: Sequence[Fact], context: Context) -> list[Figure]:
        calls = [f for f in facts if isinstance(f, Offered)]
        answered = [f for f in calls if f.answered]
        return [
            Figure("t.offered", len(calls), contact_ids=tuple(f.contact_id for f in calls)),
            Figure(
                "t.rate",
                share(len(answered), len(calls)),
                numerator=len(answered),
                denominator=len(calls),
                contact_ids=tuple(f.contact_id for f in answered),
            ),
        ]


FACTS = [
    Offered(_at(24, 23, 30), staff_id=1, rota="primary", contact_id=1, answered=True),  # Sat
    Offered(_at(25, 1, 30), staff_id=1, rota="primary", contact_id=2, answered=False),  # Sun
    Offered(_at(25, 14, 0), staff_id=2, rota="backup", contact_id=3, answered=True),  # Sun
    Offered(_at(26, 9, 5), staff_id=None, rota=None, contact_id=4, answered=False),  # Mon
]


def test_each_breakdown_groups_facts_by_local_time_rota_or_staff() -> None:
    context = Context(
        Period.local_days(dt.date(2026, 10, 24), dt.date(2026, 10, 26), LONDON), NIGHT
    )
    names = {1: "Amira Okafor", 2: "Tom Hughes"}
    assert [group_key(f, "day_night", context, names) for f in FACTS] == [
        "night",
        "night",
        "day",
        "day",
    ]
    # 01:30 on 25 October is BST's second hour before the change: local hour 01, Sunday.
    assert [group_key(f, "weekday_hour", context, names) for f in FACTS] == [
        "Sat 23",
        "Sun 01",
        "Sun 14",
        "Mon 09",
    ]
    assert list(grouped(FACTS, "weekday", context, names)) == ["Mon", "Sat", "Sun"]
    assert [group_key(f, "rota", context, names) for f in FACTS][-1] == "no rota"
    assert [group_key(f, "staff", context, names) for f in FACTS] == [
        "Amira Okafor",
        "Amira Okafor",
        "Tom Hughes",
        "nobody",
    ]


def test_one_definition_gives_the_periods_figures_and_each_groups() -> None:
    context = Context(
        Period.local_days(dt.date(2026, 10, 24), dt.date(2026, 10, 26), LONDON), NIGHT
    )
    report = compute(
        None,  # type: ignore[arg-type]  # the hand-made module reads no database
        context,
        [CallsModule(FACTS)],
        breakdown="day_night",
    )
    rate = report.figure("t.rate")
    assert (rate.value, rate.numerator, rate.denominator, rate.contact_ids) == (0.5, 2, 4, (1, 3))
    night_rate = next(f for f in report.groups["night"] if f.key == "t.rate")
    day_rate = next(f for f in report.groups["day"] if f.key == "t.rate")
    assert (night_rate.value, night_rate.contact_ids) == (0.5, (1,))
    assert (day_rate.value, day_rate.contact_ids) == (0.5, (3,))
    with pytest.raises(KeyError):
        report.figure("t.nothing")


def test_csv_parses_back_to_the_figures_and_never_starts_a_cell_with_a_formula() -> None:
    period = Period.local_days(dt.date(2026, 10, 24), dt.date(2026, 10, 26), LONDON)
    report = Report(period, [Figure("=cmd|' /C calc'!A0", 3), Figure("t.rate", 0.5, 2, 4)])
    rows = list(csv.DictReader(io.StringIO(service_report.figures_csv(report))))
    assert [r["measure"] for r in rows] == ["'=cmd|' /C calc'!A0", "t.rate"]
    assert (rows[1]["value"], rows[1]["numerator"], rows[1]["denominator"]) == ("0.5", "2", "4")
    assert rows[0]["value"] == "3"
