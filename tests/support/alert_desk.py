"""Risk alerts on the console's desk: the alerts_service team with four alerts raised, and
people signing in to read and act on them (tests/integration/test_console_alerts.py,
test_console_escalations.py)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import select
from werkzeug.test import TestResponse

from crisisline import alerts, participants
from crisisline.alert_models import RiskAlert
from crisisline.clock import FakeClock
from crisisline.escalation_models import EscalationRecord
from crisisline.models import RecordAccess, RiskLevel
from tests.support.console import Browser, Person, enrol
from tests.support.risk_alerts import (
    HIGH_RISK,
    NO_OFFICER,
    OFFICER_B,
    PARTICIPANT,
    Service,
    alerts_service,
)

OTHER_MAN = "+447700900505"  # R2005, in Owen Barraclough's caseload
ADMIN_PHONE = "+447700900301"
NOON = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


@dataclass
class Desk:
    """The team, the app and the four alerts raised (their ids)."""

    service: Service
    app: Flask
    clock: FakeClock
    relapse: int  # R2001's warning (Nadia's caseload), raised 20 Nov
    urgent: int  # R2002's urgent self-harm alert (Nadia's caseload), raised 24 Nov
    other: int  # R2005's warning (Owen's caseload), raised 25 Nov
    nobody: int  # R2003's warning (no officer: to the duty manager), raised 25 Nov

    def sign_in(self, phone: str, name: str) -> Browser:
        db = self.service.svc.db
        secret, codes = enrol(db, self.service.ids[phone], self.clock.now())
        browser = Browser(self.app)
        browser.sign_in(
            Person(self.service.ids[phone], name, phone, None, secret, codes), self.clock
        )
        return browser

    def alert(self, alert_id: int) -> RiskAlert:
        with self.service.svc.db.transaction() as session:
            return session.get_one(RiskAlert, alert_id)

    def escalation(self, alert_id: int) -> EscalationRecord:
        with self.service.svc.db.transaction() as session:
            alert = session.get_one(RiskAlert, alert_id)
            return session.get_one(EscalationRecord, alert.escalation_id)

    def log(self, staff_phone: str) -> list[tuple[str, str, int | None, int | None]]:
        """(action, record type, record id, participant id) of one person's access log."""
        with self.service.svc.db.transaction() as session:
            rows = session.scalars(
                select(RecordAccess)
                .where(RecordAccess.staff_id == self.service.ids[staff_phone])
                .order_by(RecordAccess.id)
            ).all()
            return [(r.action, r.record_type, r.record_id, r.participant_id) for r in rows]

    def participant_of(self, alert_id: int) -> int:
        return self.alert(alert_id).participant_id

    def resolve_other(self) -> None:
        """Resolve R2005's alert: a later phrase alert for him would otherwise add to it (the
        cooldown counts from its time raised, here later than the earlier contacts made)."""
        svc = self.service.svc
        with svc.db.transaction() as session:
            alerts.resolve(
                session, self.other, note="Seen.", actor="t", now=self.clock.now(), reach=svc.reach
            )


def raised(service: Service, who: str, at: dt.datetime, body: str, rule: str) -> int:
    raised = service.contact(who, at, body=body)
    return next(alert.id for alert in raised if alert.rule == rule)


def open_desk(app: Flask, clock: FakeClock) -> Desk:
    """Officers, staff on rotas and five participants (tests/support/risk_alerts.py, and R2005
    in Owen Barraclough's caseload), with four risk alerts raised in November; the clock at
    noon on 26 November 2026."""
    service = alerts_service(app, clock)
    with service.svc.db.transaction() as session:
        service.ids[OTHER_MAN] = participants.create(
            session,
            participants.NewParticipant(
                "R2005", "Ross Kettering", [OTHER_MAN], service.ids[OFFICER_B], RiskLevel.MEDIUM
            ),
            actor="t",
            now=clock.now(),
        ).id
    relapse = raised(
        service,
        PARTICIPANT,
        dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC),
        "I relapsed last night",
        "phrases.substance_relapse",
    )
    urgent = raised(
        service,
        HIGH_RISK,
        dt.datetime(2026, 11, 24, 22, 0, tzinfo=dt.UTC),
        "I want to die",
        "phrases.self_harm",
    )
    other = raised(
        service,
        OTHER_MAN,
        dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC),
        "using again",
        "phrases.substance_relapse",
    )
    nobody = raised(
        service,
        NO_OFFICER,
        dt.datetime(2026, 11, 25, 23, 30, tzinfo=dt.UTC),  # 23:30 GMT: the 25th, local
        "been drinking",
        "phrases.substance_relapse",
    )
    clock.advance(NOON - clock.now())
    return Desk(service, app, clock, relapse, urgent, other, nobody)


def _text(page: object) -> str:
    return page.get_data(as_text=True)  # type: ignore[attr-defined, no-any-return]


def _listed(html: str) -> set[str]:
    """The references of the participants a list shows."""
    return {ref for ref in ("R2001", "R2002", "R2003", "R2004", "R2005") if f">{ref} " in html}


def text(page: TestResponse) -> str:
    """The page's HTML."""
    return page.get_data(as_text=True)


def listed(html: str) -> set[str]:
    """The references of the participants a list shows."""
    return {ref for ref in ("R2001", "R2002", "R2003", "R2004", "R2005") if f">{ref} " in html}
