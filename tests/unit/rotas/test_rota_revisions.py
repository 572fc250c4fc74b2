"""A rota changed from a handoff keeps every turn before it: revisions, and the rotation carried
on from whoever is due at the handoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rotas import (
    Override,
    Rota,
    RotaRevision,
    RotaValidationError,
    continued_from,
    gaps_between,
    handoffs_between,
    on_call_at,
    rotation_shift_at,
    shifts_between,
)

OLD = Rota("Nights", "Europe/London", (1, 2, 3), "P1D", datetime(2026, 10, 1, 9, 0))
HANDOFF = datetime(2026, 10, 26, 9, 0, tzinfo=UTC)  # Mon 26 Oct 09:00 GMT (index 25: staff 2)
START, END = datetime(2026, 10, 10, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC)


def changed(members: tuple[int, ...], length: str = "P1D") -> Rota:
    new = Rota("Nights", "Europe/London", members, length, datetime(2026, 10, 1, 9, 0))
    return OLD.revised(continued_from(OLD, new, HANDOFF), HANDOFF)


def test_turns_before_the_handoff_are_exactly_as_they_were() -> None:
    rota = changed((1, 2, 3, 4))
    before = shifts_between(OLD, [], START, END)
    after = shifts_between(rota, [], START, END)
    assert [s for s in after if s.start < HANDOFF] == [s for s in before if s.start < HANDOFF]
    assert [s.staff_ids for s in after if s.start >= HANDOFF][:5] == [(2,), (3,), (4,), (1,), (2,)]


def test_the_due_person_carries_on_and_a_removed_one_is_skipped() -> None:
    rota = changed((3, 1))  # 2 (due) removed: the next of the old order still present, 3
    assert rotation_shift_at(rota, HANDOFF).staff_id == 3
    assert rotation_shift_at(rota, HANDOFF - timedelta(hours=1)).staff_id == 1


def test_a_shift_length_change_starts_at_the_handoff() -> None:
    rota = changed((1, 2, 3), "PT12H")
    turn = rotation_shift_at(rota, HANDOFF)
    assert (turn.start, turn.end, turn.staff_id) == (HANDOFF, HANDOFF + timedelta(hours=12), 2)
    earlier = rotation_shift_at(rota, HANDOFF - timedelta(minutes=1))
    assert earlier.end == HANDOFF and earlier.end - earlier.start == timedelta(days=1)
    assert handoffs_between(rota, HANDOFF - timedelta(days=1), HANDOFF + timedelta(days=1)) == [
        HANDOFF - timedelta(days=1),
        HANDOFF,
        HANDOFF + timedelta(hours=12),
    ]


def test_on_call_and_gaps_use_the_definition_in_force() -> None:
    rota = changed((4, 5))
    nobody = Override(1, HANDOFF + timedelta(hours=1), HANDOFF + timedelta(hours=2), None)
    assert on_call_at(rota, [nobody], HANDOFF).staff_ids == (4,)
    assert on_call_at(rota, [], HANDOFF - timedelta(days=1)).staff_ids == (1,)
    gaps = gaps_between([(rota, [nobody])], START, END, lambda staff_id: staff_id != 5)
    assert gaps[0].start == HANDOFF + timedelta(hours=1)
    assert all(g.start >= HANDOFF for g in gaps)


def test_a_month_long_turn_on_the_31st_rotates_instead_of_drifting() -> None:
    old = Rota("M", "Europe/London", (1, 2), "P1M", datetime(2026, 1, 31, 9, 0))
    handoff = datetime(2026, 3, 31, 8, 0, tzinfo=UTC)  # 31 Mar 09:00 BST: index 2, staff 1
    new = Rota("M", "Europe/London", (2, 1), "P1M", datetime(2026, 1, 31, 9, 0))
    anchored = continued_from(old, new, handoff)
    rota = old.revised(anchored, handoff)
    assert rotation_shift_at(rota, handoff).staff_id == 1
    assert rotation_shift_at(rota, handoff).start == handoff


def test_changes_apply_in_order_only() -> None:
    rota = changed((1, 2, 3, 4))
    with pytest.raises(RotaValidationError) as raised:
        rota.revised(OLD, HANDOFF - timedelta(days=1))
    assert raised.value.field == "effective_from"
    later = rota.revised(OLD, HANDOFF + timedelta(days=3))
    assert [r.until for r in later.history] == [HANDOFF, HANDOFF + timedelta(days=3)]
    with pytest.raises(RotaValidationError):
        Rota(
            "Nights",
            "Europe/London",
            (1,),
            "P1D",
            datetime(2026, 1, 1),
            history=(RotaRevision(OLD, HANDOFF), RotaRevision(OLD, HANDOFF)),
        )
