"""A missed call and a participant's text, through the simulator: the transactions that create
their first texts wake the scheduler's jobs (NOTIFY on PostgreSQL, in memory on SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crisisline.clock import FakeClock
from crisisline.wakeups import Work
from tests.support.call_line import BACKUP, DANIEL, LINE, MANAGER, PRIMARY, Line, start_call_line
from tests.support.wakeups import hearing


@pytest.fixture
def line(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[Line]:
    yield from start_call_line(tmp_path, database_url, clock)


@pytest.mark.hazard("H300")
def test_a_missed_call_wakes_the_dispatcher_for_its_first_escalation_text(line: Line) -> None:
    for staff_phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(staff_phone).will_not_answer()
    with hearing(line.svc) as heard:
        line.sim.phone(DANIEL).call(LINE, message="Please ring me back")
        # The chain ran out and the missed-call escalation opened with its first text queued:
        # that commit woke the dispatcher and the escalation sweep.
        assert heard.wait_for(Work.OUTBOX)
        assert heard.wait_for(Work.ESCALATIONS)
    for staff_phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(staff_phone).expect_call(answered=False)
    line.deliver()
    line.sim.phone(PRIMARY).expect_sms("Missed call from")
    # Nobody answered a high-risk man with no officer recorded: the duty manager's alerts.
    line.sim.phone(MANAGER).expect_sms("RISK ALERT URGENT")
    line.sim.phone(MANAGER).expect_sms("no responsible officer")
