"""Crisis-call webhooks in the orders Twilio may send them, through the real signed webhooks.

Twilio may deliver a call's Record action, its Dial action and its final status callback in
any order, and for one call at the same moment: whatever the order, staff learn a voicemail was
left, a finished call's record is never rewritten, and a missed call is escalated once.
"""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from crisisline import escalations, participants, rota_service, staff
from crisisline.alert_models import RiskAlert
from crisisline.app import Services
from crisisline.clock import FakeClock
from crisisline.escalation_models import EscalationCode, EscalationRecord
from crisisline.models import Contact, Delivery, RiskLevel, StaffRole
from crisisline.risk_rules import VOICEMAIL_AT_NIGHT
from escalation import ByPhone
from tests.conftest import services_of, signed_post

LINE = "+447700900000"
PRIMARY, BACKUP, MANAGER = "+447700900101", "+447700900102", "+447700900103"
DANIEL = "+447700900201"
CALL_SID = "CA" + "7" * 32
RECORDING = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE" + "5" * 32
# 02:00 in London (GMT in November): inside the shipped night (00:00-06:00).
NIGHT = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def svc(app: Flask, clock: FakeClock) -> Services:
    """Primary, backup and duty-manager rotas of one person each, and a participant."""
    services = services_of(app)
    clock.set(NIGHT)
    with services.db.transaction() as session:
        for rota_name, name, phone, role in (
            ("primary", "Amira Okafor", PRIMARY, StaffRole.ON_CALL),
            ("backup", "Tom Hughes", BACKUP, StaffRole.ON_CALL),
            ("duty-manager", "Priya Natarajan", MANAGER, StaffRole.DUTY_MANAGER),
        ):
            person = staff.create(
                session, staff.NewStaff(name, phone, None, [role]), actor="t", now=clock.now()
            )
            rota_service.create(
                session,
                rota_service.NewRota(
                    name=rota_name,
                    timezone="Europe/London",
                    members=[person.id],
                    shift_length="P7D",
                    first_handoff=dt.datetime(2026, 11, 2, 9, 0),
                ),
                actor="t",
                now=clock.now(),
            )
        participants.create(
            session,
            participants.NewParticipant(
                reference="R1001",
                name="Daniel Price",
                phones=[DANIEL],
                responsible_officer_id=None,
                risk_level=RiskLevel.HIGH,
            ),
            actor="t",
            now=clock.now(),
        )
    return services


def _incoming(client: FlaskClient) -> TestResponse:
    form = {"CallSid": CALL_SID, "From": DANIEL, "To": LINE, "CallStatus": "ringing"}
    response = signed_post(client, "/webhooks/voice", form)
    assert response.status_code == 200
    return response


def _dial(client: FlaskClient, step: int = 0, loop: int = 0) -> TestResponse:
    form = {"CallSid": CALL_SID, "DialCallStatus": "no-answer", "CallStatus": "in-progress"}
    return signed_post(client, f"/webhooks/voice/dial?step={step}&loop={loop}", form)


def _status(client: FlaskClient, status: str = "completed", duration: str = "95") -> TestResponse:
    form = {"CallSid": CALL_SID, "CallStatus": status, "CallDuration": duration}
    response = signed_post(client, "/webhooks/voice/status", form)
    assert response.status_code == 204
    return response


def _voicemail(client: FlaskClient) -> TestResponse:
    form = {
        "CallSid": CALL_SID,
        "RecordingUrl": RECORDING,
        "RecordingDuration": "31",
        "CallStatus": "completed",
    }
    response = signed_post(client, "/webhooks/voice/voicemail", form)
    assert response.status_code == 200
    return response


def _to_fallback(client: FlaskClient, clock: FakeClock) -> None:
    """Ring the primary, then let the maximum wait run out: the caller hears the fallback."""
    _incoming(client)
    clock.advance(dt.timedelta(seconds=90))
    assert "<Record" in _dial(client).text


def _texts_to(svc: Services, phone: str) -> list[str]:
    with svc.db.transaction() as session:
        rows = session.scalars(
            select(Delivery.body)
            .where(Delivery.to_number == phone, Delivery.channel == "sms")
            .order_by(Delivery.id)
        )
        return [body or "" for body in rows]


def _missed(svc: Services) -> list[EscalationRecord]:
    with svc.db.transaction() as session:
        return list(
            session.scalars(
                select(EscalationRecord).where(EscalationRecord.subject_type == "missed_call")
            )
        )


def _code(svc: Services, escalation_id: int, phone: str) -> int:
    with svc.db.transaction() as session:
        code = session.scalars(
            select(EscalationCode.code).where(
                EscalationCode.escalation_id == escalation_id, EscalationCode.phone == phone
            )
        ).one()
    return code


def test_a_voicemail_after_the_final_status_reaches_those_told_and_every_later_text(
    svc: Services, client: FlaskClient, clock: FakeClock
) -> None:
    _to_fallback(client, clock)
    _status(client)
    (missed,) = _missed(svc)
    assert "voicemail" not in missed.summary
    code = _code(svc, missed.id, PRIMARY)
    (first,) = _texts_to(svc, PRIMARY)
    assert f"{code}a" in first and "voicemail" not in first

    clock.advance(dt.timedelta(seconds=20))
    _voicemail(client)

    (missed,) = _missed(svc)
    assert "voicemail left" in missed.summary
    texts = _texts_to(svc, PRIMARY)
    assert len(texts) == 2
    # The missed call's text was still held to be bundled (it came just after the escalation
    # call): it now says so too; and a follow-up with the same code brings the news at once.
    assert f"{code}a Missed call" in texts[0] and "voicemail left" in texts[0]
    assert "voicemail left" in texts[1] and f"Reply {code}a" in texts[1]
    # The night-voicemail rule judged the call with its voicemail, in this order too.
    with svc.db.transaction() as session:
        contact = session.scalars(select(Contact)).one()
        assert contact.outcome == "voicemail" and contact.recording_url == RECORDING
        rules = session.scalars(select(RiskAlert.rule)).all()
    assert VOICEMAIL_AT_NIGHT in rules

    # A repeated Record action tells nobody twice.
    _voicemail(client)
    assert len(_texts_to(svc, PRIMARY)) == 2

    # The next step is told with the new summary.
    clock.advance(dt.timedelta(seconds=301))
    escalations.sweep_due(svc.db, clock.now(), svc.reach)
    (to_backup,) = _texts_to(svc, BACKUP)
    assert "voicemail left" in to_backup


def test_a_voicemail_after_the_missed_call_was_taken_tells_the_taker(
    svc: Services, client: FlaskClient, clock: FakeClock
) -> None:
    _to_fallback(client, clock)
    _status(client)
    (missed,) = _missed(svc)
    code = _code(svc, missed.id, PRIMARY)
    with svc.db.transaction() as session:
        escalations.acknowledge_escalation(
            session, missed.id, ByPhone(PRIMARY, code), clock.now(), svc.reach
        )
    (missed,) = _missed(svc)
    assert missed.status == "acknowledged"
    before = len(_texts_to(svc, PRIMARY))

    _voicemail(client)

    texts = _texts_to(svc, PRIMARY)
    assert len(texts) == before + 1
    assert f"update on {code}" in texts[-1] and "voicemail left" in texts[-1]
    assert "Reply" not in texts[-1]  # already taken: nothing to take


def test_a_voicemail_before_the_final_status_is_escalated_once_with_no_follow_up(
    svc: Services, client: FlaskClient, clock: FakeClock
) -> None:
    _to_fallback(client, clock)
    _voicemail(client)
    _status(client)
    (missed,) = _missed(svc)
    assert "voicemail left" in missed.summary
    (text,) = _texts_to(svc, PRIMARY)
    assert "voicemail left" in text


def test_taking_the_missed_call_still_withdraws_its_held_text_after_the_voicemail_news(
    svc: Services, client: FlaskClient, clock: FakeClock
) -> None:
    _to_fallback(client, clock)
    _status(client)
    _voicemail(client)
    (missed,) = _missed(svc)
    code = _code(svc, missed.id, PRIMARY)
    with svc.db.transaction() as session:
        escalations.acknowledge_escalation(
            session, missed.id, ByPhone(PRIMARY, code), clock.now(), svc.reach
        )
        held = session.scalars(
            select(Delivery).where(
                Delivery.to_number == PRIMARY, Delivery.purpose == escalations.BUNDLE_PURPOSE
            )
        ).one()
    # Found under its new summary and withdrawn: nobody is asked to take what was taken.
    assert held.status == "failed" and held.error_message is not None
    assert "withdrawn" in held.error_message


def test_a_dial_action_after_the_caller_hung_up_changes_nothing_and_hangs_up(
    svc: Services, client: FlaskClient, clock: FakeClock
) -> None:
    _incoming(client)
    clock.advance(dt.timedelta(seconds=12))
    _status(client, "completed", "12")  # the caller hung up while the primary's phone rang
    with svc.db.transaction() as session:
        contact = session.scalars(select(Contact)).one()
        assert (contact.outcome, contact.wait_seconds) == ("abandoned", 12)
    (missed,) = _missed(svc)
    texts_before = _texts_to(svc, BACKUP) + _texts_to(svc, PRIMARY)

    # The ring's own action, exactly as its URL names it, arrives late.
    clock.advance(dt.timedelta(seconds=3))
    response = _dial(client, step=0, loop=0)

    assert response.status_code == 200
    assert "<Hangup" in response.text
    assert "<Dial" not in response.text and "<Record" not in response.text
    with svc.db.transaction() as session:
        contact = session.scalars(select(Contact)).one()
        assert (contact.outcome, contact.wait_seconds) == ("abandoned", 12)
    (still,) = _missed(svc)
    assert (still.id, still.summary) == (missed.id, missed.summary)
    assert _texts_to(svc, BACKUP) + _texts_to(svc, PRIMARY) == texts_before
