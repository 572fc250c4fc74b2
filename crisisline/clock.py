"""Clocks: the one place the service asks what time it is, so tests can set it."""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Clock(Protocol):
    """Tells the current time as an aware UTC datetime."""

    def now(self) -> dt.datetime:
        """The current instant in UTC."""
        ...


class SystemClock:
    """The real time."""

    def now(self) -> dt.datetime:
        """The current instant in UTC."""
        return dt.datetime.now(dt.UTC)


class FakeClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start.astimezone(dt.UTC)

    def now(self) -> dt.datetime:
        """The instant the test last set."""
        return self._now

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        """Move time forward by `delta` and return the new instant."""
        self._now += delta
        return self._now

    def set(self, instant: dt.datetime) -> None:
        """Jump to `instant` (aware)."""
        self._now = instant.astimezone(dt.UTC)
