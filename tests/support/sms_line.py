"""The crisis line with its SMS webhook wired to the Twilio simulator, staff on rotas, participants.

The service uses the real Twilio adapter against the simulator on loopback HTTP; the simulator
posts signed webhooks into the service's Flask test client. Tests read like a script: a phone
texts the crisis number, the outbox is dispatched, a staff phone expects the relay and replies.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from crisisline import participants
from crisisline.clock import FakeClock
from crisisline.conversation_models import SmsConversation
from crisisline.escalation_models import EscalationRecord
from crisisline.jobs import Jobs
from crisisline.models import Contact, Delivery, RiskLevel
from crisisline.services import Services
from crisisline.simulator import (
    Phone,
    SimulatedMessage,
    Simulator,
)
from tests.support.app import services_of
from tests.support.simulated_twilio import simulated_twilio
from tests.support.team import BACKUP as BACKUP
from tests.support.team import MANAGER as MANAGER
from tests.support.team import PRIMARY as PRIMARY
from tests.support.team import TEAM, add_team

CRISIS = "+447700900000"
DANIEL, MARCUS, UNKNOWN = "+447700900501", "+447700900502", "+447700900777"
ACCOUNT_SID = "AC" + "7" * 32
BASE = "https://crisis.example.org"
ACK = "Your message has reached the Resettle crisis line"
STEP_WAIT = dt.timedelta(seconds=300)
NEW_PHONE = "+447700900109"  # the primary's new phone, once their number changes
DANIEL_NEW = "+447700900509"  # Daniel's new phone, once his number changes


@dataclass
class SmsLine:
    """The running line: the app, the simulator, the clock, and the people's ids."""

    app: Flask
    sim: Simulator
    clock: FakeClock
    ids: dict[str, int] = field(default_factory=dict)

    @property
    def svc(self) -> Services:
        return services_of(self.app)

    def phone(self, number: str) -> Phone:
        return self.sim.phone(number)

    def text(self, number: str, body: str) -> SimulatedMessage:
        """`number` texts the crisis line; the webhook has answered when this returns."""
        return self.sim.phone(number).send_sms(CRISIS, body)

    def dispatch(self) -> None:
        """Send everything queued in the outbox, then let Twilio's callbacks come back."""
        while Jobs(self.svc).dispatch_outbox().sent:
            pass
        self.sim.run_pending()

    def wait(self, delta: dt.timedelta) -> None:
        """Let time pass and the scheduler's escalation sweep run."""
        self.clock.advance(delta)
        Jobs(self.svc).sweep_escalations()
        self.dispatch()

    def conversations(self) -> list[SmsConversation]:
        with self.svc.db.transaction() as session:
            return list(session.scalars(select(SmsConversation).order_by(SmsConversation.id)))

    def contacts(self) -> list[Contact]:
        with self.svc.db.transaction() as session:
            return list(session.scalars(select(Contact).order_by(Contact.id)))

    def deliveries(self) -> list[Delivery]:
        with self.svc.db.transaction() as session:
            return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def start_line(
    tmp_path: Path,
    database_url: str,
    clock: FakeClock,
    settings: Mapping[str, str] | None = None,
    **overrides: str,
) -> Iterator[SmsLine]:
    """Build the line, yield it, and tear it down checking the simulator saw nothing unexpected.

    `settings` and `overrides` are further environment settings for the service."""
    with simulated_twilio(tmp_path, database_url, clock, ACCOUNT_SID, settings, **overrides) as (
        app,
        sim,
    ):
        line = SmsLine(app, sim, clock)
        _people(line)
        yield line


def _people(line: SmsLine) -> None:
    """Three staff on rotas primary, backup and duty-manager; two known participants."""
    now = line.clock.now()
    with line.svc.db.transaction() as session:
        line.ids.update(add_team(session, now=now))
        for _, name, number, _ in TEAM:
            line.sim.phone(number, label=name)
        for reference, name, number in (
            ("R1001", "Daniel Price", DANIEL),
            ("R1002", "Marcus Reid", MARCUS),
        ):
            participant = participants.create(
                session,
                participants.NewParticipant(reference, name, [number], None, RiskLevel.HIGH),
                actor="t",
                now=now,
            )
            line.ids[number] = participant.id


def escalation_status(line: SmsLine, phone: str) -> str:
    """The status of the escalation of the one conversation with `phone`."""
    (conversation,) = [c for c in line.conversations() if c.phone == phone]
    with line.svc.db.transaction() as session:
        record = session.get_one(EscalationRecord, conversation.escalation_id)
        return record.status


def bodies_of(line: SmsLine, number: str) -> list[str]:
    """What `number` has been texted, oldest first."""
    return [m.body for m in line.phone(number).inbox]


def daniel_reaches_primary(line: SmsLine) -> None:
    """Daniel texts; he is acknowledged and the primary is sent his words with code 1."""
    line.text(DANIEL, "I need to talk")
    line.dispatch()
    line.phone(DANIEL).expect_sms(ACK)
    line.phone(PRIMARY).expect_sms("(1): I need to talk")


PLAN_LINK = "his crisis plan: https://crisis.example.org/plan/link/"


def plan_links(line: SmsLine) -> dict[str, int]:
    """Read every crisis plan link the staff phones were texted (one each time someone took a
    conversation: crisisline.crisis_plan_links): how many, by phone. Tests of other features
    take them here so that their phones' other texts are still checked one by one."""
    found: dict[str, int] = {}
    for _, _, number, _ in TEAM:
        phone = line.phone(number)
        waiting = [m for m in phone.inbox if not m.consumed and PLAN_LINK in m.body]
        for _ in waiting:
            phone.expect_sms(PLAN_LINK, from_=CRISIS)
        if waiting:
            found[number] = len(waiting)
    return found
