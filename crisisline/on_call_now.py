"""A person's next shift, as the Now board shows it (who is on call on each rota now is
crisisline.line_now's).

Read from the rota records (crisisline.rota_service) with overrides applied, exactly as a call
to the line would be routed at that instant.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

from sqlalchemy.orm import Session

from crisisline import rota_service

# How far ahead the home page looks for a person's next shift.
NEXT_SHIFT_WITHIN: Final = dt.timedelta(days=28)


@dataclass(frozen=True)
class NextShift:
    """A person's next (or current) time on call on one rota."""

    rota: str
    start: dt.datetime
    end: dt.datetime


def next_shift(session: Session, staff_id: int, at: dt.datetime) -> NextShift | None:
    """The first period from `at` on (within four weeks) when `staff_id` is on call, if any.

    A shift under way counts (from `at`). Back-to-back periods of one rotation turn (the
    turn split by an override that keeps the person on) are one shift; the next turn is not.
    """
    records, _total = rota_service.list_rotas(session)
    soonest: NextShift | None = None
    for record in records:
        periods = rota_service.shifts(session, record.id, at, at + NEXT_SHIFT_WITHIN).shifts
        start: dt.datetime | None = None
        end: dt.datetime | None = None
        turn = -1
        for period in periods:
            if staff_id not in period.staff_ids:
                if end is not None:
                    break
                continue
            if end is None:
                start, end, turn = period.start, period.end, period.rotation_index
            elif period.start == end and period.rotation_index == turn:
                end = period.end
            else:
                break
        if start is not None and end is not None and (soonest is None or start < soonest.start):
            soonest = NextShift(rota=record.name, start=start, end=end)
    return soonest
