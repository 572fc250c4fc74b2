"""Gaps: periods inside coverage when nobody usable is on call, named by rota and reason."""

from __future__ import annotations

from datetime import UTC, datetime

from rotas import CoverageWindow, Gap, Override, Rota, gaps_between

ALICE, BOB, CAROL, DAN = 1, 2, 3, 4


def june(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 6, day, hour, tzinfo=UTC)


def daily(name: str, members: tuple[int, ...], **extra: object) -> Rota:
    # 09:00 London is 08:00 UTC in June.
    return Rota(
        name=name,
        timezone="Europe/London",
        members=members,
        shift_length="P1D",
        first_handoff=datetime(2026, 6, 1, 9, 0),
        **extra,  # type: ignore[arg-type]
    )


def everyone_usable(staff_id: int) -> bool:
    return True


def test_fully_staffed_rota_has_no_gaps() -> None:
    assert (
        gaps_between([(daily("primary", (ALICE, BOB)), [])], june(2), june(9), everyone_usable)
        == []
    )


def test_nobody_override_makes_a_gap_exactly_over_its_window() -> None:
    illness = Override(id=7, start=june(3, 8), end=june(4, 20), staff_id=None, reason="illness")

    gaps = gaps_between(
        [(daily("primary", (ALICE, BOB)), [illness])], june(2), june(9), everyone_usable
    )

    assert gaps == [
        Gap(
            rota_name="primary",
            start=june(3, 8),
            end=june(4, 20),
            reason="nobody_override",
            staff_ids=(),
            override_ids=(7,),
        )
    ]


def test_inactive_member_makes_a_gap_over_their_shifts_only() -> None:
    rota = daily("primary", (ALICE, BOB))

    gaps = gaps_between([(rota, [])], june(2), june(6), lambda staff_id: staff_id != BOB)

    assert [(gap.start, gap.end, gap.reason, gap.staff_ids) for gap in gaps] == [
        (june(2, 8), june(3, 8), "no_usable_staff", (BOB,)),
        (june(4, 8), june(5, 8), "no_usable_staff", (BOB,)),
    ]


def test_gap_from_one_unusable_member_across_handoffs_is_reported_once() -> None:
    gaps = gaps_between(
        [(daily("solo", (CAROL,)), [])], june(2), june(9), lambda staff_id: staff_id != CAROL
    )

    assert [(gap.start, gap.end) for gap in gaps] == [(june(2), june(9))]


def test_usable_added_member_fills_the_gap_left_by_an_unusable_one() -> None:
    backup = Override(id=1, start=june(2, 8), end=june(3, 8), staff_id=DAN, mode="add")

    gaps = gaps_between(
        [(daily("primary", (ALICE, BOB)), [backup])],
        june(2, 8),
        june(3, 8),
        lambda staff_id: staff_id != BOB,
    )

    assert gaps == []


def test_cover_by_an_unusable_member_is_a_gap() -> None:
    swap = Override(id=1, start=june(2, 12), end=june(2, 14), staff_id=DAN)

    gaps = gaps_between(
        [(daily("primary", (ALICE, BOB)), [swap])],
        june(2),
        june(3),
        lambda staff_id: staff_id != DAN,
    )

    assert [(gap.start, gap.end, gap.reason, gap.override_ids) for gap in gaps] == [
        (june(2, 12), june(2, 14), "no_usable_staff", (1,))
    ]


def test_rota_that_has_not_started_is_a_gap_until_its_first_handoff() -> None:
    gaps = gaps_between([(daily("primary", (ALICE,)), [])], june(1), june(2), everyone_usable)

    assert [(gap.start, gap.end, gap.reason) for gap in gaps] == [
        (june(1), june(1, 8), "rota_not_started")
    ]


def test_gaps_across_rotas_name_each_rota_in_time_order() -> None:
    primary = daily("primary", (ALICE,))
    backup = daily("backup", (BOB,), coverage=(CoverageWindow.parse("Sat 00:00", "Mon 00:00"),))
    primary_nobody = Override(id=1, start=june(6, 10), end=june(6, 11), staff_id=None)
    backup_nobody = Override(id=2, start=june(6, 9), end=june(6, 10), staff_id=None)
    weekday_nobody = Override(id=3, start=june(3, 9), end=june(3, 10), staff_id=None)

    gaps = gaps_between(
        [(primary, [primary_nobody]), (backup, [backup_nobody, weekday_nobody])],
        june(2),
        june(9),
        everyone_usable,
    )

    # Backup's weekday override is outside its weekend coverage, so it is no gap.
    assert [(gap.rota_name, gap.start) for gap in gaps] == [
        ("backup", june(6, 9)),
        ("primary", june(6, 10)),
    ]
