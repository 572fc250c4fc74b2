"""Changing a rota's members or shift length safely: a preview of the shifts that would change,
applied from a chosen handoff onwards.

A change made here never moves a turn before the handoff it applies from: the rota keeps the
definition it replaces as a revision ending at that handoff (`rotas.Rota.revised`), so the
schedule, the routing, the calendar feeds and the notices all answer from the definition in
force at each instant. From the handoff the rotation carries on with whoever was due then
(`rotas.continued_from`), in the new order.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from crisisline import rota_service, staffing
from crisisline.models import Staff
from crisisline.rota_models import RotaRecord
from rotas import OnCallShift, Rota, shifts_between, utc_to_local

# How far ahead the preview lists the shifts a change moves (the calendar's four weeks).
PREVIEW_SPAN = dt.timedelta(days=28)
MAX_CHOICES = 200


@dataclass(frozen=True)
class ShiftChange:
    """One shift as it would be after the change, and the shifts it replaces."""

    after: OnCallShift
    before: tuple[OnCallShift, ...]


@dataclass(frozen=True)
class Preview:
    """What a change would do: the rota as it would be, and every shift it moves."""

    record: RotaRecord
    current: Rota
    revised: Rota
    effective_from: dt.datetime
    start: dt.datetime
    end: dt.datetime
    changes: list[ShiftChange]
    staff: dict[int, Staff]


def week_start(rota: Rota, at: dt.datetime) -> dt.datetime:
    """Monday 00:00 local time of the rota's week containing `at`, as a UTC instant."""
    local = utc_to_local(at, rota.zone)
    monday = dt.datetime(local.year, local.month, local.day) - dt.timedelta(days=local.weekday())
    return rota_service.local_instant(monday, rota)


def handoff_choices(rota: Rota, now: dt.datetime) -> list[dt.datetime]:
    """The handoffs a change may apply from: those in the next four weeks (at least one)."""
    found = rota_service.handoffs(rota, now + dt.timedelta(microseconds=1), now + PREVIEW_SPAN)
    if not found:
        # A turn longer than four weeks: offer its next handoff, whenever it is.
        found = rota_service.handoffs(rota, now, now + rota_service.MAX_QUERY_WINDOW * 20)[:1]
    # An hourly rota has hundreds: a week and a bit of them is choice enough for a form.
    return [at for at in found if at > now][:MAX_CHOICES]


def default_handoff(rota: Rota, now: dt.datetime) -> dt.datetime | None:
    """The first handoff after the current week (so nobody's shift this week moves)."""
    choices = handoff_choices(rota, now)
    next_week = week_start(rota, now) + dt.timedelta(days=7)
    later = [at for at in choices if at >= next_week]
    if later:
        return later[0]
    return choices[-1] if choices else None


def preview(
    session: Session,
    rota_id: int,
    changes: dict[str, Any],
    effective_from: dt.datetime,
    *,
    now: dt.datetime,
) -> Preview:
    """What applying `changes` from `effective_from` would do over the next four weeks.

    Writes nothing. Raises InvalidInput (naming the field) for a change that cannot apply.
    """
    record = rota_service.get(session, rota_id)
    current = rota_service.to_rota(record)
    revised = rota_service.revise_from(session, record, changes, effective_from, now=now)
    start, end = now, now + PREVIEW_SPAN
    overrides = rota_service.overrides_meeting(session, rota_id, start, end)
    old = shifts_between(current, overrides, start, end)
    new = shifts_between(revised, overrides, start, end)
    moved = moved_shifts(old, new)
    ids = {i for change in moved for s in (change.after, *change.before) for i in s.staff_ids}
    return Preview(
        record=record,
        current=current,
        revised=revised,
        effective_from=effective_from,
        start=start,
        end=end,
        changes=moved,
        staff=rota_service.staff_by_id(session, ids),
    )


def moved_shifts(old: list[OnCallShift], new: list[OnCallShift]) -> list[ShiftChange]:
    """Each shift of `new` not in `old` (same start, end and people), with the `old` ones it
    overlaps: every shift a change moves, since both lists tile the same period."""
    unchanged = {_key(shift) for shift in old}
    return [
        ShiftChange(
            after=shift,
            before=tuple(o for o in old if o.start < shift.end and o.end > shift.start),
        )
        for shift in new
        if _key(shift) not in unchanged
    ]


def apply(
    session: Session,
    rota_id: int,
    changes: dict[str, Any],
    effective_from: dt.datetime,
    *,
    actor: str,
    now: dt.datetime,
) -> RotaRecord:
    """Apply `changes` from the handoff `effective_from` on; tell only those whose shifts move."""
    return staffing.update_rota(
        session, rota_id, changes, actor=actor, now=now, effective_from=effective_from
    )


def _key(shift: OnCallShift) -> tuple[dt.datetime, dt.datetime, tuple[int, ...]]:
    return shift.start, shift.end, shift.staff_ids
