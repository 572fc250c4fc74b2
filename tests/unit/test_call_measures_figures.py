"""The call and call-back figures at their edges, on facts built by hand (no database)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from crisisline import call_measures
from crisisline.call_measures import OfferedCall
from crisisline.reports import Context, Figure, Period
from crisisline.risk_rules import NightHours

LONDON = ZoneInfo("Europe/London")
CONTEXT = Context(
    Period.local_days(dt.date(2026, 11, 2), dt.date(2026, 11, 2), LONDON),
    NightHours(dt.time(22, 0), dt.time(7, 0)),
)
AT = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)


def call(contact_id: int, outcome: str | None, **fields: Any) -> OfferedCall:
    return OfferedCall(at=AT, contact_id=contact_id, outcome=outcome, **fields)


def figures(*facts: OfferedCall) -> dict[str, Figure]:
    return {f.key: f for f in call_measures.figures(facts, CONTEXT)}


def test_answered_at_60_seconds_is_within_and_at_61_is_not() -> None:
    got = figures(
        call(1, "answered", answer_seconds=60.0),
        call(2, "answered", answer_seconds=61.0),
        call(3, "voicemail", fallback=True),
    )
    within = got["calls.answered_within_60s"]
    # 1 of the 2 answered (the voicemail is neither answered nor in the denominator).
    assert (within.numerator, within.denominator, within.contact_ids) == (1, 2, (1,))
    assert got["calls.answer_rate"].value == 2 / 3


def test_abandoned_at_30_seconds_is_not_after_30_and_at_31_is() -> None:
    got = figures(
        call(1, "abandoned", wait_seconds=30.0),
        call(2, "abandoned", wait_seconds=31.0),
        call(3, "answered", answer_seconds=5.0),
        call(4, "answered", answer_seconds=7.0),
    )
    late = got["calls.abandoned_after_30s"]
    # Of the 4 offered, 1 waited over 30 s: 0.25.
    assert (late.value, late.numerator, late.denominator, late.contact_ids) == (0.25, 1, 4, (2,))
    assert got["calls.abandoned"].contact_ids == (1, 2)


def test_a_call_back_at_24_hours_is_in_time_and_a_second_later_is_not() -> None:
    day = 24 * 3600.0
    got = figures(
        call(1, "missed", fallback=True, call_back_seconds=day),
        call(2, "voicemail", fallback=True, call_back_seconds=day + 1),
        call(3, "abandoned", wait_seconds=10.0),  # never called back
    )
    assert got["callbacks.not_within_24h"].contact_ids == (2, 3)
    back = got["callbacks.called_back_share"]
    assert (back.numerator, back.denominator, back.contact_ids) == (2, 3, (1, 2))


def test_a_call_still_ringing_is_offered_and_in_nothing_else() -> None:
    got = figures(call(1, "ringing"))
    assert got["calls.offered"].contact_ids == (1,)
    for key, figure in got.items():
        if key != "calls.offered":
            assert figure.contact_ids == (), key
    # Nothing answered, nothing missed: a share of nothing is "none", a rate of one call 0.
    assert got["calls.answer_rate"].value == 0
    assert got["callbacks.called_back_share"].value is None
    assert got["calls.time_to_answer_median"].value is None


def test_every_measure_is_defined_once_with_the_agreed_keys() -> None:
    keys = [f.key for f in call_measures.figures([], CONTEXT)]
    assert keys == [
        "calls.offered",
        "calls.answered",
        "calls.answer_rate",
        "calls.answered_within_60s",
        "calls.time_to_answer_median",
        "calls.time_to_answer_p90",
        "calls.abandoned",
        "calls.abandoned_after_30s",
        "calls.fallback",
        "calls.voicemails",
        "callbacks.missed",
        "callbacks.called_back_share",
        "callbacks.time_median",
        "callbacks.time_p90",
        "callbacks.not_within_24h",
    ]
