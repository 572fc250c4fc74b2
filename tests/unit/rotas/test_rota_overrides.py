"""Overrides replace or add staff for their own window, and a later override wins."""

from __future__ import annotations

from datetime import UTC, datetime

from rotas import Override, OverrideMode, Rota, on_call_at, shifts_between

ALICE, BOB, CAROL, DAN, ERIN = 1, 2, 3, 4, 5

# Daily 09:00 handoffs in London; in June that is 08:00 UTC. Alice has 1 June.
ROTA = Rota(
    name="primary",
    timezone="Europe/London",
    members=(ALICE, BOB, CAROL),
    shift_length="P1D",
    first_handoff=datetime(2026, 6, 1, 9, 0),
)


def june(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 6, day, hour, minute, tzinfo=UTC)


def override(
    override_id: int,
    start: datetime,
    end: datetime,
    staff_id: int | None,
    mode: OverrideMode = "replace",
) -> Override:
    return Override(
        id=override_id,
        start=start,
        end=end,
        staff_id=staff_id,
        mode=mode,
        created_by="duty manager",
        reason="cover",
    )


def test_replace_override_puts_the_named_member_on_call_for_its_window_only() -> None:
    cover = override(1, june(1, 12), june(1, 18), DAN)

    before = on_call_at(ROTA, [cover], june(1, 11))
    during = on_call_at(ROTA, [cover], june(1, 12))
    after = on_call_at(ROTA, [cover], june(1, 18))

    assert (before.staff_ids, before.source, before.start, before.end) == (
        (ALICE,),
        "rotation",
        june(1, 8),
        june(1, 12),
    )
    assert (during.staff_ids, during.source, during.override_ids) == ((DAN,), "override", (1,))
    assert (during.start, during.end, during.scheduled_staff_id) == (
        june(1, 12),
        june(1, 18),
        ALICE,
    )
    assert (after.staff_ids, after.start, after.end) == ((ALICE,), june(1, 18), june(2, 8))


def test_add_override_puts_a_second_member_alongside_the_scheduled_one() -> None:
    second = override(1, june(1, 20), june(2, 2), ERIN, mode="add")

    answer = on_call_at(ROTA, [second], june(1, 22))

    assert answer.staff_ids == (ALICE, ERIN)
    assert answer.source == "override"


def test_add_override_of_someone_already_on_call_lists_them_once() -> None:
    answer = on_call_at(ROTA, [override(1, june(1, 9), june(1, 10), ALICE, mode="add")], june(1, 9))

    assert answer.staff_ids == (ALICE,)


def test_nobody_override_leaves_nobody_on_call_for_its_window() -> None:
    illness = override(1, june(2, 8), june(3, 8), None)

    answer = on_call_at(ROTA, [illness], june(2, 12))

    assert answer.staff_ids == ()
    assert answer.source == "override"
    assert (answer.start, answer.end) == (june(2, 8), june(3, 8))


def test_later_override_wins_where_two_overlap() -> None:
    earlier = override(1, june(1, 10), june(1, 14), DAN)
    later = override(2, june(1, 12), june(1, 16), ERIN)

    for overrides in ([earlier, later], [later, earlier]):
        assert on_call_at(ROTA, overrides, june(1, 11)).staff_ids == (DAN,)
        assert on_call_at(ROTA, overrides, june(1, 13)).staff_ids == (ERIN,)
        assert on_call_at(ROTA, overrides, june(1, 13)).override_ids == (2,)
        assert on_call_at(ROTA, overrides, june(1, 15)).staff_ids == (ERIN,)


def test_precedence_follows_creation_order_not_start_time() -> None:
    created_second = override(2, june(1, 10), june(1, 20), DAN)
    created_first = override(1, june(1, 12), june(1, 14), ERIN)

    assert on_call_at(ROTA, [created_second, created_first], june(1, 13)).staff_ids == (DAN,)


def test_later_add_stacks_on_an_earlier_replace_and_later_replace_clears_earlier_adds() -> None:
    nobody = override(1, june(1, 10), june(1, 20), None)
    backup = override(2, june(1, 12), june(1, 18), ERIN, mode="add")
    swap = override(3, june(1, 14), june(1, 16), DAN)
    overrides = [nobody, backup, swap]

    assert on_call_at(ROTA, overrides, june(1, 11)).staff_ids == ()
    assert on_call_at(ROTA, overrides, june(1, 13)).staff_ids == (ERIN,)
    assert on_call_at(ROTA, overrides, june(1, 13)).override_ids == (1, 2)
    assert on_call_at(ROTA, overrides, june(1, 15)).staff_ids == (DAN,)
    assert on_call_at(ROTA, overrides, june(1, 15)).override_ids == (3,)
    assert on_call_at(ROTA, overrides, june(1, 17)).staff_ids == (ERIN,)


def test_fully_masked_override_does_not_split_the_answer() -> None:
    masked = override(1, june(1, 12), june(1, 13), DAN)
    covering = override(2, june(1, 10), june(1, 16), ERIN)

    answer = on_call_at(ROTA, [masked, covering], june(1, 12, 30))

    assert (answer.start, answer.end, answer.override_ids) == (june(1, 10), june(1, 16), (2,))


def test_override_across_a_handoff_is_reported_per_rotation_turn() -> None:
    # Each answer stays inside one rotation turn, so the overrides a caller must fetch
    # for on_call_at are exactly those meeting rotation_shift_at(rota, at).
    week_off = override(1, june(1, 12), june(4, 12), DAN)

    answer = on_call_at(ROTA, [week_off], june(2, 12))

    assert (answer.start, answer.end, answer.staff_ids) == (june(2, 8), june(3, 8), (DAN,))
    assert answer.scheduled_staff_id == BOB


def test_overrides_outside_the_queried_window_are_ignored() -> None:
    far_away = [override(n, june(20, n), june(20, n + 1), DAN) for n in range(1, 10)]
    near = override(10, june(1, 12), june(1, 13), ERIN)

    with_extra = shifts_between(ROTA, [*far_away, near], june(1, 0), june(2, 0))
    without = shifts_between(ROTA, [near], june(1, 0), june(2, 0))

    assert with_extra == without


def test_shifts_between_applies_overrides_and_tiles_the_period() -> None:
    overrides = [
        override(1, june(1, 12), june(1, 18), DAN),
        override(2, june(2, 20), june(3, 2), ERIN, mode="add"),
    ]

    shifts = shifts_between(ROTA, overrides, june(1, 0), june(3, 8))

    assert [(s.start, s.end, s.staff_ids, s.source) for s in shifts] == [
        (june(1, 0), june(1, 8), (), "not_started"),
        (june(1, 8), june(1, 12), (ALICE,), "rotation"),
        (june(1, 12), june(1, 18), (DAN,), "override"),
        (june(1, 18), june(2, 8), (ALICE,), "rotation"),
        (june(2, 8), june(2, 20), (BOB,), "rotation"),
        (june(2, 20), june(3, 2), (BOB, ERIN), "override"),
        (june(3, 2), june(3, 8), (BOB,), "rotation"),
    ]


def test_override_before_the_first_handoff_still_puts_someone_on_call() -> None:
    early = override(1, june(1, 0), june(1, 8), DAN)

    answer = on_call_at(ROTA, [early], june(1, 4))

    assert (answer.staff_ids, answer.source, answer.scheduled_staff_id) == (
        (DAN,),
        "override",
        None,
    )
