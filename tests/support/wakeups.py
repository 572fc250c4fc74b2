"""Hearing the wake-ups one process would hear (crisisline.wakeups): by a real LISTEN on
PostgreSQL, in memory on SQLite."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from crisisline.services import Services
from crisisline.wakeups import Listener, Work


def eventually(condition: Callable[[], bool], seconds: float = 15) -> bool:
    """Whether `condition()` comes true within `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


class Heard:
    """The wake-ups one process hears: by NOTIFY on PostgreSQL, in memory on SQLite."""

    def __init__(self) -> None:
        self.works: list[Work] = []
        self.changed = threading.Condition()

    def __call__(self, work: Work) -> None:
        with self.changed:
            self.works.append(work)
            self.changed.notify_all()

    def wait_for(self, work: Work, seconds: float = 10) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: work in self.works, timeout=seconds)


@contextmanager
def hearing(svc: Services) -> Iterator[Heard]:
    heard = Heard()
    if svc.db.wakes.postgres:
        listener = Listener(svc.settings.database_url, heard).start()
        assert eventually(lambda: listener.state.listening)
        # Connecting wakes every job once (the catch-up); only what follows is under test.
        assert eventually(lambda: set(heard.works) == set(Work))
        heard.works.clear()
        try:
            yield heard
        finally:
            listener.stop()
    else:
        svc.db.wakes.subscribe(heard)
        try:
            yield heard
        finally:
            svc.db.wakes.unsubscribe(heard)
