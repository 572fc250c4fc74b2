"""Risk alerts on a real database: responsible officers, on-call staff on rotas, participants,
and a Service that records their contacts and reads the alerts and texts they raise
(tests/integration/test_alerts.py and the modules whose tests raise alerts on it)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import select

from crisisline import alerts, contacts, participants, staff, staffing
from crisisline.alert_models import RiskAlert
from crisisline.clock import FakeClock
from crisisline.models import Channel, Delivery, Direction, RiskLevel, StaffRole
from crisisline.services import Services
from tests.support.app import services_of
from tests.support.team import BACKUP as BACKUP
from tests.support.team import MANAGER as MANAGER
from tests.support.team import PRIMARY as PRIMARY
from tests.support.team import add_weekly_rota

OFFICER, OFFICER_B, INACTIVE = "+447700900201", "+447700900202", "+447700900203"
PARTICIPANT, HIGH_RISK, NO_OFFICER, LAPSED = (
    "+447700900501",
    "+447700900502",
    "+447700900503",
    "+447700900504",
)
LINE = "+447700900000"
WINTER_NOON = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


@dataclass
class Service:
    svc: Services
    clock: FakeClock
    ids: dict[str, int]

    def contact(
        self,
        who: str,
        at: dt.datetime | None = None,
        *,
        channel: Channel = Channel.SMS,
        body: str | None = None,
        outcome: str | None = None,
        direction: Direction = Direction.INBOUND,
    ) -> list[RiskAlert]:
        """Record a contact from `who` at `at` (moving the clock there) and evaluate it."""
        if at is not None:
            self.clock.advance(at - self.clock.now())  # back in time too, for past contacts
        now = self.clock.now()
        with self.svc.db.transaction() as session:
            contact, _ = contacts.record(
                session,
                channel=channel,
                direction=direction,
                from_number=who,
                to_number=LINE,
                twilio_sid=None,
                started_at=now,
                participant_id=self.ids[who],
                body=body,
                outcome=outcome,
            )
            return alerts.evaluate_contact(
                session,
                contact.id,
                now,
                self.svc.reach,
                rules=self.svc.risk_rules,
                zone=self.svc.settings.zone,
            )

    def alerts(self) -> list[RiskAlert]:
        with self.svc.db.transaction() as session:
            alerts.sync_acknowledgements(session)
            return list(session.scalars(select(RiskAlert).order_by(RiskAlert.id)))

    def texts(self) -> list[tuple[str, str]]:
        with self.svc.db.transaction() as session:
            rows = session.scalars(select(Delivery).order_by(Delivery.id)).all()
            return [(d.to_number, d.body) for d in rows if d.channel == Channel.SMS]

    def texts_to(self, phone: str) -> list[str]:
        return [body for to, body in self.texts() if to == phone]


def alerts_service(app: Flask, clock: FakeClock) -> Service:
    """Officers, on-call staff on rotas primary/backup/duty-manager, and four participants: the
    first three have an officer (the last one's officer inactive), the third has none."""
    svc = services_of(app)
    now = clock.now()
    ids: dict[str, int] = {}
    with svc.db.transaction() as session:
        for name, phone, roles, active in (
            ("Nadia Whitlock", OFFICER, [StaffRole.RESPONSIBLE_OFFICER], True),
            ("Owen Barraclough", OFFICER_B, [StaffRole.RESPONSIBLE_OFFICER], True),
            ("Gail Pennington", INACTIVE, [StaffRole.RESPONSIBLE_OFFICER], True),
            ("Amira Okafor", PRIMARY, [StaffRole.ON_CALL], True),
            ("Tom Hughes", BACKUP, [StaffRole.ON_CALL], True),
            ("Priya Natarajan", MANAGER, [StaffRole.DUTY_MANAGER], True),
        ):
            person = staff.create(
                session, staff.NewStaff(name, phone, None, roles, active), actor="t", now=now
            )
            ids[phone] = person.id
        for rota_name, phone in (
            ("primary", PRIMARY),
            ("backup", BACKUP),
            ("duty-manager", MANAGER),
        ):
            add_weekly_rota(
                session, rota_name, ids[phone], now=now, first_handoff=dt.datetime(2026, 1, 5, 9, 0)
            )
        for reference, name, phone, officer, level in (
            ("R2001", "Dale Fenwick", PARTICIPANT, ids[OFFICER], RiskLevel.MEDIUM),
            ("R2002", "Lee Ashdown", HIGH_RISK, ids[OFFICER], RiskLevel.HIGH),
            ("R2003", "Carl Mottram", NO_OFFICER, None, RiskLevel.MEDIUM),
            ("R2004", "Jon Tiverton", LAPSED, ids[INACTIVE], RiskLevel.MEDIUM),
        ):
            person_ = participants.create(
                session,
                participants.NewParticipant(reference, name, [phone], officer, level),
                actor="t",
                now=now,
            )
            ids[phone] = person_.id
        staffing.deactivate_staff(session, ids[INACTIVE], actor="t", now=now)
    return Service(svc, clock, ids)
