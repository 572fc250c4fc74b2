"""Rota definitions, coverage windows and overrides, validated on construction."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from functools import cache, cached_property
from itertools import pairwise
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import isodate

WEEK = timedelta(days=7)
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FULL_WEEKDAY_NAMES = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)
_WEEKLY_TIME = re.compile(r"^\s*([A-Za-z]+)\s+(\d{1,2}):(\d{2})\s*$")
# Shorter shifts make no sense for a crisis line, and the bound keeps the number of
# correction steps around a clock change small (see ShiftLength usage in schedule.py).
_MINIMUM_SHIFT = timedelta(minutes=1)
# Keys that exist on disk but depend on the host, so a rota using them would mean
# different things on different machines.
_HOST_DEPENDENT_ZONES = frozenset({"localtime", "posixrules", "Factory"})

# Rota arithmetic looks up to a few weeks either side of an instant, which must stay
# inside what datetime can represent; no real rota needs more than this range.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)

OverrideMode = Literal["replace", "add"]


class RotaValidationError(ValueError):
    """A rota, override or query argument is invalid; `field` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ShiftLength:
    """A parsed shift length: whole calendar months, or a fixed wall-clock step."""

    months: int
    step: timedelta

    @classmethod
    def parse(cls, text: str) -> ShiftLength:
        """Parse an ISO 8601 duration (PT12H, P1D, P7D, P1M) into a shift length."""
        if not isinstance(text, str):
            raise RotaValidationError("shift_length", "must be an ISO 8601 duration string")
        try:
            duration = isodate.parse_duration(text)
        except (isodate.ISO8601Error, ValueError, TypeError):
            raise RotaValidationError(
                "shift_length",
                f"{text!r} is not an ISO 8601 duration such as PT12H, P1D or P7D",
            ) from None
        if isinstance(duration, timedelta):
            return cls._fixed(duration)
        months = Decimal(duration.years) * 12 + Decimal(duration.months)
        if duration.tdelta != timedelta(0):
            # A month has no fixed length, so "a month and a day" has no single meaning.
            raise RotaValidationError(
                "shift_length", f"{text!r} mixes months or years with days or hours"
            )
        if months != months.to_integral_value():
            raise RotaValidationError("shift_length", f"{text!r} must be whole months")
        if months <= 0:
            raise RotaValidationError("shift_length", f"{text!r} must be positive")
        return cls(months=int(months), step=timedelta(0))

    @classmethod
    def _fixed(cls, step: timedelta) -> ShiftLength:
        if step <= timedelta(0):
            raise RotaValidationError("shift_length", "must be positive")
        if step < _MINIMUM_SHIFT:
            raise RotaValidationError("shift_length", "must be at least one minute (PT1M)")
        return cls(months=0, step=step)


def _parse_weekly_time(text: str) -> tuple[int, time]:
    match = _WEEKLY_TIME.match(text)
    if match is None:
        raise RotaValidationError("coverage", f"{text!r} is not a day and time such as 'Fri 17:00'")
    day_name, hour, minute = match.group(1).lower(), int(match.group(2)), int(match.group(3))
    short_names = [name.lower() for name in WEEKDAY_NAMES]
    if day_name in short_names:
        day = short_names.index(day_name)
    elif day_name in _FULL_WEEKDAY_NAMES:
        day = _FULL_WEEKDAY_NAMES.index(day_name)
    else:
        raise RotaValidationError("coverage", f"{match.group(1)!r} is not a day of the week")
    # 24:00 is accepted as the end of the day, the way people write "until midnight".
    if hour == 24 and minute == 0:
        return (day + 1) % 7, time(0, 0)
    if hour > 23 or minute > 59:
        raise RotaValidationError("coverage", f"{text!r} is not a valid time of day")
    return day, time(hour, minute)


def _check_weekday(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 6:
        raise RotaValidationError("coverage", "days are 0 (Monday) to 6 (Sunday)")
    return value


def _check_time(value: object) -> time:
    if not isinstance(value, time) or value.tzinfo is not None:
        raise RotaValidationError("coverage", "times are local wall-clock times without a zone")
    return value


def _offset(day: int, at: time) -> timedelta:
    return timedelta(
        days=day, hours=at.hour, minutes=at.minute, seconds=at.second, microseconds=at.microsecond
    )


@dataclass(frozen=True)
class CoverageWindow:
    """A weekly local wall-clock window from start_day start_time to the next end_day end_time."""

    start_day: int
    start_time: time
    end_day: int
    end_time: time

    def __post_init__(self) -> None:
        _check_weekday(self.start_day)
        _check_weekday(self.end_day)
        _check_time(self.start_time)
        _check_time(self.end_time)
        if self.start_offset == _offset(self.end_day, self.end_time):
            # A window that starts where it ends would cover either nothing or the whole
            # week; a rota that covers every hour leaves coverage unset instead.
            raise RotaValidationError("coverage", "a window must end at a different time")

    @classmethod
    def parse(cls, start: str, end: str) -> CoverageWindow:
        """Build a window from texts such as 'Fri 17:00' and 'Mon 09:00'."""
        start_day, start_time = _parse_weekly_time(start)
        end_day, end_time = _parse_weekly_time(end)
        return cls(start_day, start_time, end_day, end_time)

    @property
    def start_offset(self) -> timedelta:
        """Local wall-clock offset of the start from Monday 00:00."""
        return _offset(self.start_day, self.start_time)

    @property
    def length(self) -> timedelta:
        """Local wall-clock length of the window, less than a week."""
        return (_offset(self.end_day, self.end_time) - self.start_offset) % WEEK

    def __str__(self) -> str:
        return (
            f"{WEEKDAY_NAMES[self.start_day]} {self.start_time:%H:%M}"
            f"-{WEEKDAY_NAMES[self.end_day]} {self.end_time:%H:%M}"
        )


def _weekly_spans(
    windows: tuple[CoverageWindow, ...],
) -> tuple[tuple[timedelta, timedelta], ...] | None:
    """Merge windows into disjoint spans of one local week, or None if they cover all of it."""
    pieces: list[tuple[timedelta, timedelta]] = []
    for window in windows:
        start = window.start_offset
        end = start + window.length
        if end > WEEK:
            pieces.append((start, WEEK))
            pieces.append((timedelta(0), end - WEEK))
        else:
            pieces.append((start, end))
    pieces.sort()
    merged: list[tuple[timedelta, timedelta]] = []
    for start, end in pieces:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    if merged == [(timedelta(0), WEEK)]:
        return None
    return tuple(merged)


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones()) - _HOST_DEPENDENT_ZONES


def _load_zone(key: object) -> ZoneInfo:
    if not isinstance(key, str) or key not in _known_zones():
        raise RotaValidationError("timezone", f"{key!r} is not a known IANA time zone")
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        raise RotaValidationError("timezone", f"{key!r} is not a known IANA time zone") from None


@dataclass(frozen=True)
class Rota:
    """An on-call rotation: members take turns, handing over in local wall-clock time."""

    name: str
    timezone: str
    members: tuple[int, ...]
    shift_length: str
    first_handoff: datetime
    coverage: tuple[CoverageWindow, ...] | None = None
    # Earlier definitions, oldest first, each with the instant it stopped applying: this
    # definition applies from the last of those instants on (see RotaRevision).
    history: tuple[RotaRevision, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise RotaValidationError("name", "must not be empty")
        # Checked in field order so the first error reported is the first field at fault;
        # parsing here means an invalid rota can never be constructed.
        _ = self.zone
        object.__setattr__(self, "members", _check_members(self.members))
        _ = self.length
        if not isinstance(self.first_handoff, datetime) or self.first_handoff.tzinfo is not None:
            raise RotaValidationError(
                "first_handoff", "must be a local date and time without a UTC offset"
            )
        if not EARLIEST.year <= self.first_handoff.year < LATEST.year:
            raise RotaValidationError(
                "first_handoff", f"must be between {EARLIEST:%Y} and {LATEST:%Y}"
            )
        object.__setattr__(self, "first_handoff", self.first_handoff.replace(fold=0))
        if self.coverage is not None:
            windows = tuple(self.coverage)
            if not windows:
                # An empty list would mean "never on call", which is never what a crisis
                # line wants; leaving coverage unset means "always".
                raise RotaValidationError("coverage", "must list at least one window, or be unset")
            if not all(isinstance(window, CoverageWindow) for window in windows):
                raise RotaValidationError("coverage", "must be a list of coverage windows")
            object.__setattr__(self, "coverage", windows)
        object.__setattr__(self, "history", _check_history(self.history))

    @property
    def applies_from(self) -> datetime | None:
        """The instant this definition took over from the last revision, or None (always)."""
        return self.history[-1].until if self.history else None

    def revised(self, definition: Rota, from_: datetime) -> Rota:
        """`definition` applying from the instant `from_` on, this rota before it.

        Every instant before `from_` keeps the answer it has now: this rota's own history and
        this definition become revisions, the last ending at `from_`. `from_` must come after
        the instant the present definition took over (an earlier change is already fixed).
        """
        from_ = _check_instant(from_, "effective_from")
        start = self.applies_from
        if start is not None and from_ <= start:
            raise RotaValidationError(
                "effective_from",
                f"must be after {start.isoformat()}, when the last change took effect",
            )
        bare = Rota(
            name=self.name,
            timezone=self.timezone,
            members=self.members,
            shift_length=self.shift_length,
            first_handoff=self.first_handoff,
            coverage=self.coverage,
        )
        return Rota(
            name=definition.name,
            timezone=definition.timezone,
            members=definition.members,
            shift_length=definition.shift_length,
            first_handoff=definition.first_handoff,
            coverage=definition.coverage,
            history=(*self.history, RotaRevision(bare, from_)),
        )

    @cached_property
    def zone(self) -> ZoneInfo:
        """The rota's time zone."""
        return _load_zone(self.timezone)

    @cached_property
    def length(self) -> ShiftLength:
        """The parsed shift length."""
        return ShiftLength.parse(self.shift_length)

    @cached_property
    def weekly_spans(self) -> tuple[tuple[timedelta, timedelta], ...] | None:
        """Coverage as disjoint spans from Monday 00:00 local, or None when always covered."""
        return None if self.coverage is None else _weekly_spans(self.coverage)


@dataclass(frozen=True)
class RotaRevision:
    """A definition the rota had until the instant `until` (UTC), when the next took over."""

    definition: Rota
    until: datetime

    def __post_init__(self) -> None:
        if not isinstance(self.definition, Rota) or self.definition.history:
            raise RotaValidationError("history", "a revision is a rota without history")
        object.__setattr__(self, "until", _check_instant(self.until, "history"))


def _check_history(history: Sequence[RotaRevision]) -> tuple[RotaRevision, ...]:
    checked = tuple(history)
    if not all(isinstance(revision, RotaRevision) for revision in checked):
        raise RotaValidationError("history", "must be a list of revisions")
    for earlier, later in pairwise(checked):
        if later.until <= earlier.until:
            raise RotaValidationError("history", "revisions must end in order, oldest first")
    return checked


def _check_members(members: Sequence[int]) -> tuple[int, ...]:
    if isinstance(members, str | bytes):
        raise RotaValidationError("members", "must be a list of staff ids")
    checked = tuple(members)
    if not checked:
        raise RotaValidationError("members", "must name at least one member of staff")
    for member in checked:
        if isinstance(member, bool) or not isinstance(member, int):
            raise RotaValidationError("members", f"{member!r} is not a staff id")
    duplicates = sorted({member for member in checked if checked.count(member) > 1})
    if duplicates:
        raise RotaValidationError("members", f"staff {duplicates} appear more than once")
    return checked


def _check_instant(value: object, field_name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise RotaValidationError(field_name, "must be a date and time with a UTC offset")
    instant = value.astimezone(UTC)
    if not EARLIEST <= instant < LATEST:
        raise RotaValidationError(field_name, f"must be between {EARLIEST:%Y} and {LATEST:%Y}")
    return instant


@dataclass(frozen=True)
class Override:
    """Puts someone on call instead of (replace) or beside (add) the rotation for [start, end)."""

    id: int
    start: datetime
    end: datetime
    staff_id: int | None
    mode: OverrideMode = "replace"
    created_by: str = ""
    reason: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.id, bool) or not isinstance(self.id, int):
            raise RotaValidationError("id", "must be an integer creation sequence")
        object.__setattr__(self, "start", _check_instant(self.start, "start"))
        object.__setattr__(self, "end", _check_instant(self.end, "end"))
        if self.end <= self.start:
            raise RotaValidationError("end", "must be after start")
        if self.mode not in ("replace", "add"):
            raise RotaValidationError("mode", "must be 'replace' or 'add'")
        if self.staff_id is not None and (
            isinstance(self.staff_id, bool) or not isinstance(self.staff_id, int)
        ):
            raise RotaValidationError("staff_id", f"{self.staff_id!r} is not a staff id")
        if self.mode == "add" and self.staff_id is None:
            raise RotaValidationError("staff_id", "an 'add' override must name a member of staff")
