"""Real `crisisline scheduler` processes on a real database: killed, restarted, run in pairs.

Escalations are opened with a past `now`, so their next step falls due within seconds of
real time; the processes run on the real clock. Nothing here asserts how fast anything
happens: each wait polls the database until a generous deadline.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from crisisline import escalation_engine as engine
from crisisline import escalation_policies, sms_intake, staff
from crisisline.db import Database
from crisisline.escalation_models import EscalationEvent
from crisisline.models import Contact, ContactOutcome, Delivery, SchedulerHeartbeat, StaffRole
from escalation import Reach

CRISISLINE = str(Path(sys.executable).parent / "crisisline")
FIRST, SECOND, MANAGER = "+447700900131", "+447700900132", "+447700900133"
WAIT_SECONDS = 30  # the shortest wait a policy allows
DEADLINE_SECONDS = 40.0
REACH = Reach("+447700900000", "https://crisis.example.org")


@dataclass
class Line:
    db: Database
    database_url: str
    tmp_path: Path
    processes: list[subprocess.Popen[bytes]]

    def start_scheduler(self, label: str) -> subprocess.Popen[bytes]:
        """Start `crisisline scheduler` as the Procfile does, with console telephony."""
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "INSTANCE_PATH": str(self.tmp_path / "instance"),
            "TELEPHONY": "console",
            "SECRET_KEY": "test-secret-key",
            "CRISIS_LINE_NUMBER": REACH.from_number,
            "PUBLIC_BASE_URL": REACH.base_url,
        }
        with (self.tmp_path / f"scheduler-{label}.log").open("wb") as log:
            process = subprocess.Popen(
                [CRISISLINE, "scheduler"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self.processes.append(process)
        return process

    def open_due(self, count: int, *, tag: str, spread_seconds: float) -> list[int]:
        """Open `count` escalations whose second step falls due over the next few seconds."""
        real_now = dt.datetime.now(dt.UTC)
        opened = []
        with self.db.transaction() as session:
            for n in range(count):
                # Opened a wait ago (less a little), so the next step is due now or very soon.
                offset = dt.timedelta(seconds=spread_seconds * n / max(count - 1, 1))
                now = real_now - dt.timedelta(seconds=WAIT_SECONDS) + offset
                record = engine.open_escalation(
                    session,
                    policy_name="restart-test",
                    subject_type="missed_call",
                    subject_id=None,
                    participant_id=None,
                    summary=f"{tag}{n:03d} missed call",
                    now=now,
                    reach=REACH,
                )
                opened.append(record.id)
        return opened

    def second_step_notices(self) -> Counter[int]:
        """How many times each escalation's second step notified someone."""
        with self.db.transaction() as session:
            rows = session.scalars(
                select(EscalationEvent).where(EscalationEvent.kind == "notified")
            ).all()
            return Counter(e.escalation_id for e in rows if e.detail["step"] == 1)

    def texts_mentioning(self, phone: str, tags: list[str]) -> Counter[str]:
        """How many SMS rows to `phone` carry each tag (bundled texts carry several)."""
        with self.db.transaction() as session:
            bodies = session.scalars(select(Delivery.body).where(Delivery.to_number == phone)).all()
        return Counter(tag for body in bodies for tag in tags if tag in (body or ""))

    def heartbeats(self) -> dict[int, str]:
        """The role each scheduler process last reported, by pid."""
        with self.db.transaction() as session:
            return {b.pid: b.role for b in session.scalars(select(SchedulerHeartbeat))}


def eventually(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` until it holds, failing after a generous deadline."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def line(database_url: str, tmp_path: Path) -> Iterator[Line]:
    """Three staff and a policy: the first is texted at once, the second 30 s later."""
    db = Database(database_url)
    now = dt.datetime.now(dt.UTC)
    with db.transaction() as session:
        ids = {}
        for name, phone, role in (
            ("Amira Okafor", FIRST, StaffRole.ON_CALL),
            ("Tom Hughes", SECOND, StaffRole.ON_CALL),
            ("Priya Natarajan", MANAGER, StaffRole.DUTY_MANAGER),
        ):
            person = staff.create(
                session, staff.NewStaff(name, phone, None, [role]), actor="t", now=now
            )
            ids[phone] = person.id
        escalation_policies.put_policy(
            session,
            "restart-test",
            {
                "steps": [
                    {
                        "targets": [{"staff_id": ids[phone]}],
                        "channels": ["sms"],
                        "wait_seconds": WAIT_SECONDS,
                    }
                    for phone in (FIRST, SECOND, MANAGER)
                ]
            },
            actor="t",
            now=now,
        )
    started = Line(db, database_url, tmp_path, [])
    yield started
    for process in started.processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=20)
    db.dispose()


def _assert_each_fired_once(line: Line, opened: list[int], tags: list[str]) -> None:
    fired = line.second_step_notices()
    assert {escalation_id: fired[escalation_id] for escalation_id in opened} == dict.fromkeys(
        opened, 1
    )
    assert line.texts_mentioning(SECOND, tags) == Counter(dict.fromkeys(tags, 1))


def test_a_scheduler_killed_mid_sweep_and_restarted_fires_every_escalation_exactly_once(
    line: Line,
) -> None:
    tags = [f"K{n:03d}" for n in range(200)]
    opened = line.open_due(200, tag="K", spread_seconds=8)
    first = line.start_scheduler("first")
    eventually(lambda: len(line.second_step_notices()) > 0, "the first step to fire")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=20)
    fired_before_the_kill = len(line.second_step_notices())

    line.start_scheduler("restarted")
    eventually(
        lambda: set(line.second_step_notices()) >= set(opened),
        f"all 200 to fire after a restart ({fired_before_the_kill} had before the kill)",
    )
    _assert_each_fired_once(line, opened, tags)


def test_two_schedulers_notify_each_person_exactly_once_and_a_standby_takes_over(
    line: Line,
) -> None:
    first = line.start_scheduler("a")
    second = line.start_scheduler("b")
    postgres = line.db.engine.dialect.name == "postgresql"
    if postgres:
        eventually(
            lambda: sorted(line.heartbeats().values()) == ["leader", "standby"],
            "one leader and one standby",
        )
    tags = [f"P{n:03d}" for n in range(200)]
    opened = line.open_due(200, tag="P", spread_seconds=5)
    eventually(lambda: set(line.second_step_notices()) >= set(opened), "all 200 to fire")
    _assert_each_fired_once(line, opened, tags)

    roles = line.heartbeats()
    leader = first if roles.get(first.pid) == "leader" else second
    survivor = second if leader is first else first
    leader.send_signal(signal.SIGKILL)
    leader.wait(timeout=20)
    if postgres:
        eventually(lambda: line.heartbeats().get(survivor.pid) == "leader", "the standby to lead")
    more_tags = [f"Q{n:03d}" for n in range(50)]
    more = line.open_due(50, tag="Q", spread_seconds=2)
    eventually(lambda: set(line.second_step_notices()) >= set(more), "the survivor to fire")
    _assert_each_fired_once(line, opened + more, tags + more_tags)


def test_a_real_scheduler_routes_a_text_the_webhook_took_in(line: Line) -> None:
    """The route-texts job runs in `crisisline scheduler`: a text taken in is routed (here to
    nobody on call, so its sender gets the crisis numbers) with no test code standing in."""
    text = sms_intake.InboundText(
        message_sid="SM" + "4" * 32,
        from_number="+447700900541",
        from_raw="+447700900541",
        to_number=REACH.from_number,
        body="is anyone there",
    )
    contact_id = sms_intake.take_in(line.db, text, dt.datetime.now(dt.UTC))
    assert contact_id is not None
    line.start_scheduler("texts")

    def routed() -> bool:
        with line.db.transaction() as session:
            contact = session.get(Contact, contact_id)
            assert contact is not None
            return (
                contact.outcome
                not in (
                    ContactOutcome.UNROUTED,
                    ContactOutcome.ROUTING_FAILED,
                )
                and contact.conversation_id is not None
            )

    eventually(routed, "the scheduler to route the text")
