"""Escalation policies in words: every target kind, channel, wait and repeat, on policies built
by hand."""

from __future__ import annotations

import pytest

from crisisline.policy_words import Names, duration, sentences, target_words
from escalation import EscalationPolicy, RotaNameTarget, RotaTarget, StaffTarget, Step

NAMES = Names(
    rotas={7: "nights"}, staff={3: "Ann Example", 4: "Bob Sample"}, inactive_staff=frozenset({4})
)


def _policy(*steps: Step, repeat: int = 0) -> EscalationPolicy:
    return EscalationPolicy(name="test-policy", steps=steps, repeat=repeat)


def test_the_shipped_shape_reads_as_the_duty_manager_would_say_it() -> None:
    policy = _policy(
        Step((RotaNameTarget("primary"),), ("sms",), 120),
        Step((RotaNameTarget("backup"),), ("voice", "sms"), 300),
        Step((StaffTarget(3),), ("voice",), 600),
        repeat=1,
    )
    assert sentences(policy, NAMES) == (
        "First, text the primary rota.",
        "If nobody takes it within 2 minutes, ring and text the backup rota.",
        "If nobody takes it within 5 minutes, ring Ann Example.",
        "If nobody takes it within 10 minutes, start again from the first step, once more.",
        "If nobody has taken it by the end of the last round, the escalation is exhausted: "
        "that is a safety incident, and the duty manager is told.",
    )


@pytest.mark.parametrize(
    ("channels", "verb"),
    [
        (("sms",), "text"),
        (("voice",), "ring"),
        (("voice", "sms"), "ring and text"),
        (("sms", "voice"), "ring and text"),
    ],
)
def test_each_channel_combination_has_its_verb(channels: tuple[str, ...], verb: str) -> None:
    policy = _policy(Step((RotaNameTarget("primary"),), channels, 60))  # type: ignore[arg-type]
    assert sentences(policy, NAMES)[0] == f"First, {verb} the primary rota."


def test_every_target_kind_is_named() -> None:
    assert target_words(RotaNameTarget("duty-manager"), NAMES) == "the duty-manager rota"
    assert target_words(RotaTarget(7), NAMES) == "the nights rota"
    assert target_words(RotaTarget(99), NAMES) == "rota 99 (which no longer exists)"
    assert target_words(StaffTarget(3), NAMES) == "Ann Example"
    assert target_words(StaffTarget(4), NAMES) == "Bob Sample (no longer active)"
    assert target_words(StaffTarget(98), NAMES) == "member of staff 98 (who is not on record)"


def test_several_targets_are_listed_with_and() -> None:
    two = _policy(Step((RotaNameTarget("duty-manager"), RotaNameTarget("primary")), ("sms",), 60))
    assert sentences(two, NAMES)[0] == "First, text the duty-manager rota and the primary rota."
    three = _policy(Step((RotaTarget(7), StaffTarget(3), RotaNameTarget("backup")), ("voice",), 60))
    assert sentences(three, NAMES)[0] == (
        "First, ring the nights rota, Ann Example and the backup rota."
    )


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (30, "30 seconds"),
        (60, "1 minute"),
        (61, "1 minute 1 second"),
        (90, "1 minute 30 seconds"),
        (120, "2 minutes"),
        (3600, "1 hour"),
        (5400, "1 hour 30 minutes"),
        (14400, "4 hours"),
    ],
)
def test_waits_are_said_in_hours_minutes_and_seconds_singular_or_plural(
    seconds: int, words: str
) -> None:
    assert duration(seconds) == words


def test_no_repeat_says_it_stops_after_the_last_step() -> None:
    policy = _policy(Step((RotaNameTarget("primary"),), ("sms",), 45), repeat=0)
    assert sentences(policy, NAMES) == (
        "First, text the primary rota.",
        "If nobody takes it within 45 seconds, the escalation is exhausted (it does not start "
        "again): that is a safety incident, and the duty manager is told.",
    )


@pytest.mark.parametrize(
    ("repeat", "again"),
    [(1, "once more"), (2, "twice more"), (3, "3 more times"), (5, "5 more times")],
)
def test_repeats_say_how_many_more_rounds(repeat: int, again: str) -> None:
    policy = _policy(Step((RotaNameTarget("primary"),), ("sms",), 60), repeat=repeat)
    said = sentences(policy, NAMES)
    assert (
        said[1] == f"If nobody takes it within 1 minute, start again from the first step, {again}."
    )
    assert "exhausted" in said[2]
