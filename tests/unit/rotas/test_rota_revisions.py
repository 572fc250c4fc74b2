"""A rota changed from a handoff keeps every turn before it: revisions, and the rotation carried
on from whoever is due at the handoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

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


LENGTHS = ["PT1H", "PT8H", "PT12H", "P1D", "P2D", "P7D", "P1M"]
ZONES = ["Europe/London", "America/New_York", "Australia/Lord_Howe", "UTC"]
CHANGE_NIGHT = datetime(2026, 10, 25, 1, 0, tzinfo=UTC)  # Europe/London falls back


@settings(max_examples=150, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    old_length=st.sampled_from(LENGTHS),
    new_length=st.sampled_from(LENGTHS),
    old_members=st.lists(st.integers(1, 9), min_size=1, max_size=4, unique=True),
    new_members=st.lists(st.integers(1, 9), min_size=1, max_size=4, unique=True),
    first=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 10, 1)).map(
        lambda moment: moment.replace(second=0, microsecond=0)
    ),
    offset=st.integers(-3 * 24 * 60, 3 * 24 * 60),
    pick=st.integers(0, 5),
)
def test_any_change_from_any_handoff_keeps_every_earlier_instant(
    zone: str,
    old_length: str,
    new_length: str,
    old_members: list[int],
    new_members: list[int],
    first: datetime,
    offset: int,
    pick: int,
) -> None:
    old = Rota("R", zone, tuple(old_members), old_length, first)
    around = CHANGE_NIGHT + timedelta(minutes=offset)
    handoffs = handoffs_between(old, around, around + timedelta(days=70))
    assume(handoffs)
    handoff = handoffs[min(pick, len(handoffs) - 1)]
    new = Rota("R", zone, tuple(new_members), new_length, first)
    rota = old.revised(continued_from(old, new, handoff), handoff)
    start = handoff - timedelta(days=10)
    end = handoff + timedelta(days=40)
    before = [(s.start, s.end, s.staff_ids) for s in shifts_between(old, [], start, end)]
    after = [(s.start, s.end, s.staff_ids) for s in shifts_between(rota, [], start, end)]
    # Every period before the handoff is exactly as it was; the periods tile the range.
    assert [p for p in after if p[0] < handoff] == [p for p in before if p[0] < handoff]
    assert after[0][0] == start and after[-1][1] == end
    assert all(a[1] == b[0] for a, b in pairwise(after))
    # From the handoff, the new definition: its member is on, the routing agrees.
    turn = rotation_shift_at(rota, handoff)
    assert turn.start == handoff and turn.staff_id in new_members
    for period in after:
        assert on_call_at(rota, [], period[0]).staff_ids == period[2]
    due = rotation_shift_at(old, handoff).staff_id
    if due in new_members:
        assert turn.staff_id == due
