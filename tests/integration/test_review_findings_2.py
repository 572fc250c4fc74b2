# ruff: noqa: F811  (fixtures imported from the neighbouring test modules are used by name)
"""Regression tests for the second safety review (docs/hazard-log.md, H60 to H65): each failed
until its defect was fixed, and now keeps it fixed."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from crisisline import escalation_engine, outbox, rota_service
from crisisline.alert_models import AlertStatus
from crisisline.escalation_models import EscalationRecord
from crisisline.models import Delivery, DeliveryStatus
from crisisline.telephony import FakeTelephony
from escalation import OutgoingText
from tests.integration.test_alerts import service  # noqa: F401
from tests.integration.test_rota_notices import PRIYA, TOM, Team, team  # noqa: F401
from tests.support.risk_alerts import MANAGER, OFFICER, PARTICIPANT, PRIMARY, WINTER_NOON, Service


def test_new_urgent_words_after_the_alerts_chain_ran_out_reach_someone(service: Service) -> None:
    (first,) = service.contact(PARTICIPANT, WINTER_NOON, body="I want to end it all")
    # Nobody acknowledges: the risk-alert chain runs twice through its two steps, then ends.
    for _ in range(4):
        service.clock.advance(dt.timedelta(seconds=900))
        service.svc.sweep_escalations()
    with service.svc.db.transaction() as session:
        assert session.get_one(EscalationRecord, first.escalation_id).status == "exhausted"
    texts_before = len(service.texts())
    # Two hours later (inside the 6-hour phrase cooldown) he texts again.
    again = service.contact(
        PARTICIPANT, WINTER_NOON + dt.timedelta(hours=2), body="going to kill myself tonight"
    )
    new_to_officer_or_manager = [
        to for to, _ in service.texts()[texts_before:] if to in (OFFICER, MANAGER)
    ]
    assert again and again[0].status == AlertStatus.OPEN
    # New urgent evidence must reach a person: a new alert (and texts), not a silent count += 1.
    assert again[0].id != first.id, "merged silently into an alert whose chain already ran out"
    assert new_to_officer_or_manager


# ---- staff switched off through PATCH -----------------------------------------------------


def test_patching_active_false_warns_of_the_gap_like_deactivate_does(
    team: Team, client: FlaskClient, auth: dict[str, str]
) -> None:
    response = client.patch(f"/api/v1/staff/{team.ids[TOM]}", json={"active": False}, headers=auth)
    assert response.status_code == 200 and response.get_json()["active"] is False
    team.svc.send_pending_notices()
    urgent = [body for to, body in team.texts() if to == PRIYA and body.startswith("URGENT")]
    # POST /deactivate warns at once (H37, H52); the same change made by PATCH must too.
    assert urgent, "PATCH active=false bypassed deactivate(): no gap warning, codes left live"


# ---- phrase matching: realistic crisis texts --------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "i want to kill my self",  # "myself" split in two: the commonest misspelling
        "gonna hang my self tonight",
        "I cannot go on",
        "i can not go on anymore",
        "kms",
        "im going to kms tonight",
    ],
)
def test_realistic_self_harm_texts_raise_the_urgent_alert(service: Service, body: str) -> None:
    raised = service.contact(PARTICIPANT, body=body)
    assert "phrases.self_harm" in [a.rule for a in raised]


# ---- deleting a rota an escalation policy names ---------------------------------------------


def test_the_duty_manager_rota_cannot_be_deleted_while_the_policies_name_it(
    service: Service, client: FlaskClient, auth: dict[str, str]
) -> None:
    with service.svc.db.transaction() as session:
        rota_id = rota_service.find_by_name(session, "duty-manager").id
    response = client.delete(f"/api/v1/rotas/{rota_id}", headers=auth)
    # The shipped policies bind "duty-manager" by name; deleting it silently takes the duty
    # manager out of every chain (the engine then logs a gap and skips), and the daily gap
    # warning cannot see a rota that no longer exists.
    assert response.status_code == 409, "a rota every escalation policy names was deleted"


# ---- one bad row must not stall everything behind it -------------------------------------------


def test_one_escalation_that_fails_to_advance_does_not_stall_the_ones_due_after_it(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = service.clock.now()
    with service.svc.db.transaction() as session:
        for subject_type in ("review_poison", "missed_call"):
            escalation_engine.open_escalation(
                session,
                policy_name="missed-call",
                subject_type=subject_type,
                subject_id=None,
                participant_id=None,
                summary=f"Missed call ({subject_type})",
                now=now,
                reach=service.svc.reach,
            )
            now += dt.timedelta(seconds=1)

    def broken(session: object, record: object, code: int) -> list[OutgoingText]:
        raise RuntimeError("a bug in one subject's texts")

    # Fault injection: any non-database error while advancing one row (a bug in a subject's
    # texts or hook, bad stored data) stands in for the realistic cause.
    monkeypatch.setitem(escalation_engine._notification_texts, "review_poison", broken)
    service.clock.advance(dt.timedelta(seconds=400))
    for _ in range(3):  # three scheduler passes; the job wrapper logs and carries on
        with contextlib.suppress(RuntimeError):
            service.svc.sweep_escalations()
    with service.svc.db.transaction() as session:
        healthy = session.scalars(
            select(EscalationRecord).where(EscalationRecord.subject_type == "missed_call")
        ).one()
        # Its first step's wait (300 s) ran out 100 s ago: the backup must have been notified.
        assert healthy.step_index == 1, "a failing escalation ahead of it blocks every pass"


class _BrokenForOneNumber(FakeTelephony):
    def __init__(self, number: str) -> None:
        super().__init__()
        self.number = number

    def send_sms(self, to: str, from_: str, body: str, status_callback: str | None) -> Any:
        if to == self.number:
            raise RuntimeError("unexpected error outside the port's contract")
        return super().send_sms(to, from_, body, status_callback)


def test_one_delivery_that_raises_unexpectedly_does_not_hold_back_the_others(
    service: Service,
) -> None:
    telephony = _BrokenForOneNumber(PRIMARY)
    service.svc.telephony = telephony
    with service.svc.db.transaction() as session:
        for to in (PRIMARY, OFFICER, MANAGER):
            outbox.enqueue_sms(
                session,
                to=to,
                from_=service.svc.settings.crisis_line_number,
                body="Resettle crisis line: test",
                purpose="test_message",
                now=service.clock.now(),
            )
    for _ in range(5):  # five minutes of passes, each lease running out in between
        with contextlib.suppress(RuntimeError):
            service.svc.dispatch_outbox()
        service.clock.advance(dt.timedelta(seconds=61))
    delivered_to = {message.to for message in telephony.sent_messages}
    assert {OFFICER, MANAGER} <= delivered_to, "stuck in 'sending' behind one bad delivery"
    with service.svc.db.transaction() as session:
        bad = session.scalars(select(Delivery).where(Delivery.to_number == PRIMARY)).one()
        # Retried for ever, never failed: max_attempts is not enforced on lease expiry.
        assert bad.status == DeliveryStatus.FAILED or bad.attempts <= bad.max_attempts


# ---- the API never answers 500 to odd input ---------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/alerts?participant_id=99999999999999999999",
        "/api/v1/alerts/99999999999999999999",
        "/api/v1/alerts?page=99999999999999999999",
        "/api/v1/participants?responsible_officer_id=99999999999999999999",
        "/api/v1/contacts?participant_id=99999999999999999999",
        "/api/v1/escalations?participant_id=99999999999999999999",
        "/api/v1/alerts?from=9999-12-31T23:00:00-05:00",
        "/api/v1/alerts?from=0001-01-01T00:00:00%2B05:00",
        "/api/v1/contacts?from=9999-12-31T23:00:00-05:00",
        "/api/v1/rotas/gaps?from=9999-12-31T23:00:00-05:00&to=9999-12-31T23:30:00-05:00",
    ],
)
def test_odd_numbers_and_dates_are_422_or_404_never_500(
    client: FlaskClient, auth: dict[str, str], url: str
) -> None:
    response = client.get(url, headers=auth)
    assert response.status_code in (400, 404, 422), response.status_code
