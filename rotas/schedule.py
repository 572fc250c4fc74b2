"""Who is on call: pure queries over a rota, its overrides and the instants asked about."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Literal

from rotas.model import EARLIEST, LATEST, WEEK, Override, Rota, RotaValidationError, _check_instant
from rotas.wallclock import local_to_utc, utc_to_local

Source = Literal["rotation", "override", "not_started", "outside_coverage"]
GapReason = Literal["rota_not_started", "nobody_override", "no_usable_staff"]


@dataclass(frozen=True)
class RotationShift:
    """One turn of the rotation itself, before coverage and overrides are applied."""

    index: int
    start: datetime
    end: datetime
    staff_id: int | None


@dataclass(frozen=True)
class OnCallShift:
    """A period [start, end) during which the same staff are on call for the same reason."""

    start: datetime
    end: datetime
    staff_ids: tuple[int, ...]
    source: Source
    rotation_index: int
    scheduled_staff_id: int | None
    override_ids: tuple[int, ...]


@dataclass(frozen=True)
class Gap:
    """A period inside a rota's coverage when nobody usable is on call."""

    rota_name: str
    start: datetime
    end: datetime
    reason: GapReason
    staff_ids: tuple[int, ...]
    override_ids: tuple[int, ...]


def _handoff_local(rota: Rota, index: int) -> datetime:
    length = rota.length
    first = rota.first_handoff
    if length.months:
        # Counted from the first handoff every time, so a rota starting on the 31st
        # returns to the 31st after a short month instead of drifting to the 28th.
        month = first.month - 1 + index * length.months
        year = first.year + month // 12
        month = month % 12 + 1
        day = min(first.day, _days_in_month(year, month))
        return first.replace(year=year, month=month, day=day)
    return first + index * length.step


def _days_in_month(year: int, month: int) -> int:
    following = datetime(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


def _handoff(rota: Rota, index: int) -> datetime:
    return local_to_utc(_handoff_local(rota, index), rota.zone)


def _estimate_index(rota: Rota, at: datetime) -> int:
    local = utc_to_local(at, rota.zone)
    first = rota.first_handoff
    length = rota.length
    if length.months:
        elapsed_months = (local.year - first.year) * 12 + (local.month - first.month)
        return elapsed_months // length.months
    return (local - first) // length.step


def _shift_index(rota: Rota, at: datetime) -> int:
    # The estimate reads the local clock at `at`, which differs from the handoff rule
    # only around a clock change, so it is off by at most a few steps whatever the
    # age of the rota: history never has to be replayed.
    index = _estimate_index(rota, at)
    while _handoff(rota, index) > at:
        index -= 1
    while _handoff(rota, index + 1) <= at:
        index += 1
    return index


def _member(rota: Rota, index: int) -> int | None:
    if index < 0:
        return None
    return rota.members[index % len(rota.members)]


def _segments(rota: Rota, start: datetime, end: datetime) -> list[tuple[Rota, datetime, datetime]]:
    """The definitions in force over [start, end), each with the part of it it governs."""
    pieces: list[tuple[Rota, datetime, datetime]] = []
    since = EARLIEST
    # Each revision governs from where the one before it ended; the rota itself (whose own
    # fields are its present definition, history aside) governs after the last of them.
    for definition, until in [*((r.definition, r.until) for r in rota.history), (rota, LATEST)]:
        low, high = max(since, start), min(until, end)
        if low < high:
            pieces.append((definition, low, high))
        since = until
    return pieces


def _definition_at(rota: Rota, at: datetime) -> tuple[Rota, datetime, datetime]:
    since = EARLIEST
    for revision in rota.history:
        if at < revision.until:
            return revision.definition, since, revision.until
        since = revision.until
    return rota, since, LATEST


def rotation_shift_at(rota: Rota, at: datetime) -> RotationShift:
    """Return the rotation's own turn containing at, ignoring coverage and overrides.

    A turn is the definition in force at `at`'s; a turn cut by a change of definition ends
    (or starts) at the instant of the change.
    """
    at = _check_instant(at, "at")
    definition, since, until = _definition_at(rota, at)
    index = _shift_index(definition, at)
    return RotationShift(
        index=index,
        start=max(_handoff(definition, index), since),
        end=min(_handoff(definition, index + 1), until),
        staff_id=_member(definition, index),
    )


def _covered_intervals(
    rota: Rota, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]] | None:
    """Covered UTC intervals clipped to [start, end), or None when the rota always covers."""
    spans = rota.weekly_spans
    if spans is None:
        return None
    zone = rota.zone
    # A window is shorter than a week, so one from the week before can reach into
    # `start`; a week of margin after `end` absorbs the hour a clock change can shift.
    monday = _monday(utc_to_local(start, zone)) - WEEK
    last_monday = _monday(utc_to_local(end, zone)) + WEEK
    local: list[tuple[datetime, datetime]] = []
    while monday <= last_monday:
        for span_start, span_end in spans:
            local.append((monday + span_start, monday + span_end))
        monday += WEEK
    intervals: list[tuple[datetime, datetime]] = []
    for local_start, local_end in _merge(local):
        covered_start = max(local_to_utc(local_start, zone), start)
        covered_end = min(local_to_utc(local_end, zone), end)
        if covered_start < covered_end:
            intervals.append((covered_start, covered_end))
    # Windows that touch only across a missing hour meet once resolved, so merge again.
    return _merge(intervals)


def _monday(local: datetime) -> datetime:
    return datetime(local.year, local.month, local.day) - timedelta(days=local.weekday())


def _merge(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


@dataclass(frozen=True)
class _Window:
    """What a query over [start, end) needs, computed once."""

    covered: list[tuple[datetime, datetime]] | None
    covered_starts: list[datetime]
    overrides: list[Override]

    @classmethod
    def build(
        cls, rota: Rota, overrides: Iterable[Override], start: datetime, end: datetime
    ) -> _Window:
        covered = _covered_intervals(rota, start, end)
        # Overrides outside the window cannot change the answer inside it, so callers
        # may pass extra ones; sorting by id puts later overrides last so they win.
        relevant = sorted(
            (override for override in overrides if override.start < end and override.end > start),
            key=lambda override: (override.id, override.start),
        )
        starts = [] if covered is None else [interval[0] for interval in covered]
        return cls(covered=covered, covered_starts=starts, overrides=relevant)

    def is_covered(self, at: datetime) -> bool:
        if self.covered is None:
            return True
        position = bisect_right(self.covered_starts, at) - 1
        return position >= 0 and at < self.covered[position][1]

    def edges_within(self, start: datetime, end: datetime) -> set[datetime]:
        edges = {start, end}
        for override in self.overrides:
            edges.update((override.start, override.end))
        if self.covered is not None:
            # Long queries hold many covered intervals; only those near this turn matter.
            first = max(bisect_right(self.covered_starts, start) - 1, 0)
            for interval in self.covered[first:]:
                if interval[0] > end:
                    break
                edges.update(interval)
        return {edge for edge in edges if start <= edge <= end}


def _state_at(
    window: _Window, rota: Rota, index: int, at: datetime
) -> tuple[tuple[int, ...], Source, tuple[int, ...]]:
    if not window.is_covered(at):
        # Overrides apply only inside coverage: swapping who covers a week must not
        # make the rota answer for hours it never covers.
        return (), "outside_coverage", ()
    scheduled = _member(rota, index)
    staff: list[int] = [] if scheduled is None else [scheduled]
    effective: list[int] = []
    for override in window.overrides:
        if not override.start <= at < override.end:
            continue
        if override.mode == "replace":
            staff = [] if override.staff_id is None else [override.staff_id]
            effective = [override.id]
        else:
            if override.staff_id is not None and override.staff_id not in staff:
                staff.append(override.staff_id)
            effective.append(override.id)
    if effective:
        return tuple(staff), "override", tuple(effective)
    if scheduled is None:
        return (), "not_started", ()
    return tuple(staff), "rotation", ()


def _shift_pieces(
    window: _Window, rota: Rota, index: int, start: datetime, end: datetime
) -> list[OnCallShift]:
    edges = sorted(window.edges_within(start, end))
    scheduled = _member(rota, index)
    pieces: list[OnCallShift] = []
    for piece_start, piece_end in pairwise(edges):
        staff, source, override_ids = _state_at(window, rota, index, piece_start)
        previous = pieces[-1] if pieces else None
        if (
            previous is not None
            and previous.staff_ids == staff
            and previous.source == source
            and previous.override_ids == override_ids
        ):
            pieces[-1] = OnCallShift(
                start=previous.start,
                end=piece_end,
                staff_ids=staff,
                source=source,
                rotation_index=index,
                scheduled_staff_id=scheduled,
                override_ids=override_ids,
            )
        else:
            pieces.append(
                OnCallShift(
                    start=piece_start,
                    end=piece_end,
                    staff_ids=staff,
                    source=source,
                    rotation_index=index,
                    scheduled_staff_id=scheduled,
                    override_ids=override_ids,
                )
            )
    return pieces


def _check_range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start = _check_instant(start, "start")
    end = _check_instant(end, "end")
    if end <= start:
        raise RotaValidationError("end", "must be after start")
    return start, end


def shifts_between(
    rota: Rota, overrides: Sequence[Override], start: datetime, end: datetime
) -> list[OnCallShift]:
    """Return the on-call periods tiling [start, end), with coverage and overrides applied."""
    start, end = _check_range(start, end)
    return _shifts(rota, overrides, start, end)


def _shifts(
    rota: Rota, overrides: Sequence[Override], start: datetime, end: datetime
) -> list[OnCallShift]:
    shifts: list[OnCallShift] = []
    for definition, low, high in _segments(rota, start, end):
        shifts.extend(_definition_shifts(definition, overrides, low, high))
    return shifts


def _definition_shifts(
    rota: Rota, overrides: Sequence[Override], start: datetime, end: datetime
) -> list[OnCallShift]:
    window = _Window.build(rota, overrides, start, end)
    index = _shift_index(rota, start)
    shift_start = _handoff(rota, index)
    shifts: list[OnCallShift] = []
    while shift_start < end:
        shift_end = _handoff(rota, index + 1)
        # A turn whose start and end both fall in the missing hour resolves to nothing.
        if shift_start < shift_end:
            clipped_start, clipped_end = max(shift_start, start), min(shift_end, end)
            shifts.extend(_shift_pieces(window, rota, index, clipped_start, clipped_end))
        index += 1
        shift_start = shift_end
    return shifts


def on_call_at(rota: Rota, overrides: Sequence[Override], at: datetime) -> OnCallShift:
    """Return who is on call at the instant at, why, and the period this answer holds for."""
    shift = rotation_shift_at(rota, at)
    at = _check_instant(at, "at")
    # The answer never spans a handoff, so only overrides meeting this turn matter.
    for piece in _shifts(rota, overrides, shift.start, shift.end):
        if piece.start <= at < piece.end:
            return piece
    raise AssertionError("shifts_between tiles the rotation turn containing at")  # pragma: no cover


def gaps_between(
    rotas: Iterable[tuple[Rota, Sequence[Override]]],
    start: datetime,
    end: datetime,
    is_usable: Callable[[int], bool],
) -> list[Gap]:
    """Return the periods in [start, end) inside each rota's coverage with nobody usable on call."""
    start, end = _check_range(start, end)
    gaps: list[Gap] = []
    for rota, overrides in rotas:
        rota_gaps: list[Gap] = []
        for shift in _shifts(rota, overrides, start, end):
            if shift.source == "outside_coverage":
                continue
            if any(is_usable(staff_id) for staff_id in shift.staff_ids):
                continue
            reason: GapReason
            if shift.staff_ids:
                reason = "no_usable_staff"
            elif shift.source == "not_started":
                reason = "rota_not_started"
            else:
                reason = "nobody_override"
            gap = Gap(
                rota_name=rota.name,
                start=shift.start,
                end=shift.end,
                reason=reason,
                staff_ids=shift.staff_ids,
                override_ids=shift.override_ids,
            )
            previous = rota_gaps[-1] if rota_gaps else None
            if (
                previous is not None
                and previous.end == gap.start
                and (previous.reason, previous.staff_ids, previous.override_ids)
                == (gap.reason, gap.staff_ids, gap.override_ids)
            ):
                # One gap across a handoff reads as the single problem it is.
                rota_gaps[-1] = Gap(
                    rota_name=rota.name,
                    start=previous.start,
                    end=gap.end,
                    reason=reason,
                    staff_ids=gap.staff_ids,
                    override_ids=gap.override_ids,
                )
            else:
                rota_gaps.append(gap)
        gaps.extend(rota_gaps)
    gaps.sort(key=lambda gap: (gap.start, gap.rota_name))
    return gaps


def handoffs_between(rota: Rota, start: datetime, end: datetime) -> list[datetime]:
    """Return the handoffs (the instants turns start) in [start, end), oldest first, each by the
    definition in force there."""
    start, end = _check_range(start, end)
    found: list[datetime] = []
    for definition, low, high in _segments(rota, start, end):
        index = _shift_index(definition, low)
        while (at := _handoff(definition, index)) < high:
            # A turn lost in the missing hour hands off where the next does: list it once.
            if at >= low and (not found or at > found[-1]):
                found.append(at)
            index += 1
    return found


def continued_from(rota: Rota, definition: Rota, handoff: datetime) -> Rota:
    """Return `definition` with its turns starting at `handoff`, carrying on the rotation.

    The turn starting at `handoff` goes to whoever `rota` has due then if they are in the new
    definition (else to the next of the old order who is, else to the first of the new), and
    the new order follows from them. Only the definition's first handoff moves (back a whole
    number of turns), so its member order stays as given.
    """
    handoff = _check_instant(handoff, "effective_from")
    due = rotation_shift_at(rota, handoff)
    old, _, _ = _definition_at(rota, handoff)
    position = 0
    if due.staff_id is not None:
        start = old.members.index(due.staff_id)
        for offset in range(len(old.members)):
            candidate = old.members[(start + offset) % len(old.members)]
            if candidate in definition.members:
                position = definition.members.index(candidate)
                break
    local = utc_to_local(handoff, definition.zone)
    plain = Rota(
        name=definition.name,
        timezone=definition.timezone,
        members=definition.members,
        shift_length=definition.shift_length,
        first_handoff=local,
        coverage=definition.coverage,
    )
    if position == 0:
        return plain
    length = plain.length
    if length.months:
        month = local.month - 1 - position * length.months
        first = local.replace(year=local.year + month // 12, month=month % 12 + 1, day=1)
        first = first.replace(day=min(local.day, _days_in_month(first.year, first.month)))
    else:
        first = local - position * length.step
    anchored = Rota(
        name=plain.name,
        timezone=plain.timezone,
        members=plain.members,
        shift_length=plain.shift_length,
        first_handoff=first,
        coverage=plain.coverage,
    )
    if _handoff_local(anchored, position) == local:
        return anchored
    # A month-long turn anchored on a day a shorter month lacks cannot count back exactly:
    # rotate the order instead, so the turn at the handoff is still theirs.
    members = plain.members[position:] + plain.members[:position]
    return Rota(
        name=plain.name,
        timezone=plain.timezone,
        members=members,
        shift_length=plain.shift_length,
        first_handoff=local,
        coverage=plain.coverage,
    )
