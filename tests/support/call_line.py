"""The crisis line for calls end to end: staff on primary, backup and duty-manager rotas, a
participant, and the Twilio simulator playing the caller and the staff phones against the real
webhooks (tests/e2e/test_calls.py and the modules beside it)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from crisisline import escalation_policies, participants
from crisisline.clock import FakeClock
from crisisline.escalation_models import EscalationRecord
from crisisline.jobs import Jobs
from crisisline.models import Contact, RiskLevel
from crisisline.services import Services
from crisisline.simulator import Simulator
from tests.support.app import services_of
from tests.support.simulated_twilio import simulated_twilio
from tests.support.team import BACKUP as BACKUP
from tests.support.team import MANAGER as MANAGER
from tests.support.team import PRIMARY as PRIMARY
from tests.support.team import add_team, three_step_chain

ACCOUNT_SID = "AC" + "8" * 32
LINE = "+447700900000"
DANIEL = "+447700900201"
BASE = "https://crisis.example.org"


@dataclass
class Line:
    app: Flask
    svc: Services
    sim: Simulator
    clock: FakeClock
    ids: dict[str, int]

    def contact(self) -> Contact:
        with self.svc.db.transaction() as session:
            return session.scalars(select(Contact).order_by(Contact.id)).first()  # type: ignore[return-value]

    def escalations(self) -> list[EscalationRecord]:
        with self.svc.db.transaction() as session:
            return list(session.scalars(select(EscalationRecord).order_by(EscalationRecord.id)))

    def deliver(self) -> None:
        """Send what the outbox holds to the simulator and let its callbacks come back."""
        Jobs(self.svc).dispatch_outbox()
        self.sim.run_pending()


def start_call_line(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[Line]:
    """The crisis line with primary, backup and duty-manager rotas, a participant, the simulator.

    The simulator keeps the service's clock in step with each call: the greeting, each ring and
    the fallback message take their time, so waits and durations are what a caller lived.
    """
    with simulated_twilio(tmp_path, database_url, clock, ACCOUNT_SID) as (app, sim):
        sim.time_passes = lambda seconds: _advance(clock, seconds)
        yield from populate(app, sim, clock)


def _advance(clock: FakeClock, seconds: float) -> None:
    clock.advance(dt.timedelta(seconds=seconds))


def populate(app: Flask, sim: Simulator, clock: FakeClock) -> Iterator[Line]:
    svc = services_of(app)
    now = clock.now()
    with svc.db.transaction() as session:
        ids = add_team(session, now=now)
        ids["daniel"] = participants.create(
            session,
            participants.NewParticipant(
                reference="R1001",
                name="Daniel Price",
                phones=[DANIEL],
                responsible_officer_id=None,
                risk_level=RiskLevel.HIGH,
            ),
            actor="t",
            now=now,
        ).id
        # The live chain rings each step once here; the loops and the maximum wait are
        # covered in tests/integration/test_calls_chain.py with a moving clock.
        for name, first_targets in (
            ("crisis-call", [{"rota": "primary"}]),
            ("missed-call", [{"rota": "primary"}]),
        ):
            escalation_policies.put_policy(
                session, name, three_step_chain(first_targets), actor="t", now=now
            )
    yield Line(app, svc, sim, clock, ids)


def reply_code(body: str) -> str:
    """The number in 'Reply <n>a to take this' (or 'to acknowledge')."""
    match = re.search(r"Reply (\d+)a to (take|acknowledge)", body)
    assert match, body
    return match.group(1)
