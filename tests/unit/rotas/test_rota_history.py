"""A rota started long ago answers as if its history were replayed, without replaying it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rotas import Rota, on_call_at

LONDON = ZoneInfo("Europe/London")
TEN_YEARS_AGO = datetime(2016, 4, 7, 9, 0)


def replayed_local_to_utc(local: datetime) -> datetime:
    """Resolve a London wall-clock time the slow way: try GMT and BST, else step forward."""
    while True:
        real = [
            candidate
            for candidate in (local.replace(tzinfo=UTC) - timedelta(hours=h) for h in (0, 1))
            if candidate.astimezone(LONDON).replace(tzinfo=None) == local
        ]
        if real:
            return min(real)
        local += timedelta(minutes=1)


def replayed_on_call(
    first: datetime, step: timedelta, members: tuple[int, ...], at: datetime
) -> tuple[int, datetime, datetime]:
    """Walk every handoff from the first one, as a naive implementation would."""
    index = 0
    start = replayed_local_to_utc(first)
    while True:
        end = replayed_local_to_utc(first + (index + 1) * step)
        if start <= at < end:
            return members[index % len(members)], start, end
        index += 1
        start = end


QUESTIONS = [
    datetime(2026, 3, 29, 0, 59, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
    datetime(2026, 3, 29, 8, 30, tzinfo=UTC),
    datetime(2026, 6, 17, 3, 0, tzinfo=UTC),
    datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
    datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
    datetime(2026, 10, 25, 8, 59, tzinfo=UTC),
    datetime(2026, 10, 25, 9, 0, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 59, tzinfo=UTC),
]


@pytest.mark.parametrize(
    ("shift_length", "step", "first"),
    [
        ("P1D", timedelta(days=1), TEN_YEARS_AGO),
        ("PT12H", timedelta(hours=12), TEN_YEARS_AGO.replace(hour=8)),
        ("P7D", timedelta(days=7), TEN_YEARS_AGO),
        ("P1D", timedelta(days=1), TEN_YEARS_AGO.replace(hour=1, minute=30)),
    ],
)
def test_rota_started_ten_years_ago_answers_the_same_as_replaying_every_handoff(
    shift_length: str, step: timedelta, first: datetime
) -> None:
    members = (11, 12, 13, 14, 15)
    rota = Rota("primary", "Europe/London", members, shift_length, first)

    for at in QUESTIONS:
        answer = on_call_at(rota, [], at)

        assert (answer.staff_ids[0], answer.start, answer.end) == replayed_on_call(
            first, step, members, at
        ), at


def test_a_minute_rota_a_century_old_answers_exactly_in_the_repeated_hour() -> None:
    # 66 million one-minute handoffs lie between these two instants. That the answer costs
    # nothing like a replay is measured by bench/ (never by a timed assertion here).
    rota = Rota("century", "Europe/London", (1, 2, 3), "PT1M", datetime(1926, 1, 1, 0, 0))
    at = datetime(2026, 10, 25, 1, 30, 30, tzinfo=UTC)

    answer = on_call_at(rota, [], at)

    # In the repeated hour each local minute hands over at its first occurrence, so the
    # turn that starts at 01:59 BST runs through the whole second 01:00-01:59 (GMT).
    assert (answer.start, answer.end) == (
        datetime(2026, 10, 25, 0, 59, tzinfo=UTC),
        datetime(2026, 10, 25, 2, 0, tzinfo=UTC),
    )
