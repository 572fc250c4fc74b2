"""Local wall-clock time to UTC instants and back, with the rota's change-night rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

_TICK = timedelta(microseconds=1)


class SkippedLocalTime(ValueError):
    """A local time that never happens: the clocks go forward over it."""

    def __init__(self, local: datetime, zone: ZoneInfo) -> None:
        super().__init__(f"{local.isoformat()} never happens in {zone.key}")
        self.local = local
        self.zone = zone


class RepeatedLocalTime(ValueError):
    """A local time that happens twice (the clocks go back): `instants` are both, in order."""

    def __init__(self, local: datetime, zone: ZoneInfo, instants: tuple[datetime, datetime]):
        super().__init__(f"{local.isoformat()} happens twice in {zone.key}")
        self.local = local
        self.zone = zone
        self.instants = instants


def utc_to_local(instant: datetime, zone: ZoneInfo) -> datetime:
    """Return the naive local wall-clock reading of an aware instant in zone."""
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def local_to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """Return the UTC instant of a naive local time: gaps move forward, repeats take the first."""
    candidates = [local.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1)]
    real = [instant for instant in candidates if utc_to_local(instant, zone) == local]
    if real:
        # Both folds are real only when the clocks go back: the earlier is the first occurrence.
        return min(real)
    # The local time falls in a gap (clocks went forward). The two folds straddle the
    # transition: the earlier reads before the gap, the later after it. The first valid
    # instant at or after the missing time is the transition itself, so bisect for it;
    # this runs only on change nights, and tz transitions sit on whole seconds so the
    # search ends in a few dozen steps.
    before, after = min(candidates), max(candidates)
    while after - before > _TICK:
        middle = before + (after - before) // 2
        if utc_to_local(middle, zone) < local:
            before = middle
        else:
            after = middle
    return after


def typed_local_to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """Return the one UTC instant a person means by a naive local time, or refuse to guess.

    Unlike local_to_utc (the rule for handoffs, which must always land somewhere), a time a
    person typed in the skipped hour raises SkippedLocalTime, and one in the repeated hour
    raises RepeatedLocalTime: only an offset says which of the two they meant.
    """
    real = sorted(
        {
            candidate
            for candidate in (
                local.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1)
            )
            if utc_to_local(candidate, zone) == local.replace(fold=0)
        }
    )
    if not real:
        raise SkippedLocalTime(local, zone)
    if len(real) > 1:
        raise RepeatedLocalTime(local, zone, (real[0], real[-1]))
    return real[0]
