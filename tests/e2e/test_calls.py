"""Crisis calls end to end: the simulator plays the caller and the staff phones against the
real webhooks, and the service's texts travel through the real Twilio adapter to the simulator."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from crisisline import escalations as engine
from crisisline import participants, rota_service, staff
from crisisline.alert_models import RiskAlert
from crisisline.app import Services, create_app
from crisisline.clock import FakeClock
from crisisline.escalation_models import EscalationRecord
from crisisline.models import Contact, Delivery, RiskLevel, StaffRole
from crisisline.simulator import Simulator
from tests.conftest import TEST_AUTH_TOKEN, make_settings, services_of
from tests.e2e.simulated_twilio import simulated_twilio

ACCOUNT_SID = "AC" + "8" * 32
LINE = "+447700900000"
PRIMARY, BACKUP, MANAGER = "+447700900101", "+447700900102", "+447700900103"
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
        self.svc.dispatch_outbox()
        self.sim.run_pending()


@pytest.fixture
def line(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[Line]:
    """The crisis line with primary, backup and duty-manager rotas, a participant, the simulator."""
    with simulated_twilio(tmp_path, database_url, clock, ACCOUNT_SID) as (app, sim):
        yield from _populate(app, sim, clock)


def _populate(app: Flask, sim: Simulator, clock: FakeClock) -> Iterator[Line]:
    svc = services_of(app)
    ids: dict[str, int] = {}
    now = clock.now()
    with svc.db.transaction() as session:
        for name, phone, roles in (
            ("Amira Okafor", PRIMARY, [StaffRole.ON_CALL]),
            ("Tom Hughes", BACKUP, [StaffRole.ON_CALL]),
            ("Priya Natarajan", MANAGER, [StaffRole.DUTY_MANAGER]),
        ):
            ids[phone] = staff.create(
                session, staff.NewStaff(name, phone, None, roles), actor="t", now=now
            ).id
        for rota_name, phone in (
            ("primary", PRIMARY),
            ("backup", BACKUP),
            ("duty-manager", MANAGER),
        ):
            ids[rota_name] = rota_service.create(
                session,
                rota_service.NewRota(
                    name=rota_name,
                    timezone="Europe/London",
                    members=[ids[phone]],
                    shift_length="P7D",
                    first_handoff=dt.datetime(2026, 11, 2, 9, 0),
                ),
                actor="t",
                now=now,
            ).id
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
            engine.put_policy(
                session,
                name,
                {
                    "steps": [
                        {"targets": first_targets, "channels": ["sms"], "wait_seconds": 300},
                        {"targets": [{"rota": "backup"}], "channels": ["sms"], "wait_seconds": 300},
                        {
                            "targets": [{"rota": "duty-manager"}],
                            "channels": ["sms"],
                            "wait_seconds": 300,
                        },
                    ],
                    "repeat": 0,
                },
                actor="t",
                now=now,
            )
    yield Line(app, svc, sim, clock, ids)


def test_the_primary_answers_and_accepts_and_the_caller_is_connected(line: Line) -> None:
    line.sim.phone(PRIMARY).will_answer("1")
    caller = line.sim.phone(DANIEL).call(LINE)
    line.sim.run_pending()

    assert "Resettle crisis line" in caller.heard_text
    assert caller.bridged_to == PRIMARY
    staff_leg = line.sim.phone(PRIMARY).expect_call(
        "Crisis line call from Daniel, R1001", answered=True
    )
    assert staff_leg.from_ == LINE  # the crisis number, never the caller's own
    contact = line.contact()
    assert contact.outcome == "answered"
    assert contact.handled_by_staff_id == line.ids[PRIMARY]
    assert contact.participant_id == line.ids["daniel"]
    assert contact.answered_at == line.clock.now()
    assert contact.ended_at is not None
    assert line.escalations() == []


def test_the_primary_does_not_answer_and_the_backup_accepts(line: Line) -> None:
    line.sim.phone(PRIMARY).will_not_answer()
    line.sim.phone(BACKUP).will_answer("1")
    caller = line.sim.phone(DANIEL).call(LINE)
    line.sim.run_pending()

    assert caller.bridged_to == BACKUP
    line.sim.phone(PRIMARY).expect_call(answered=False)
    line.sim.phone(BACKUP).expect_call("Press 1 to accept", answered=True)
    assert line.contact().handled_by_staff_id == line.ids[BACKUP]
    assert line.escalations() == []


def test_the_primarys_voicemail_picks_up_and_is_not_counted_the_next_step_rings(
    line: Line,
) -> None:
    line.sim.phone(PRIMARY).will_go_to_voicemail()
    line.sim.phone(BACKUP).will_answer("1")
    caller = line.sim.phone(DANIEL).call(LINE)
    line.sim.run_pending()

    assert caller.bridged_to == BACKUP
    voicemail_leg = line.sim.phone(PRIMARY).expect_call("Press 1 to accept")
    assert voicemail_leg.pressed == []
    assert "No key was pressed" in voicemail_leg.heard_text
    line.sim.phone(BACKUP).expect_call(answered=True)
    assert line.contact().handled_by_staff_id == line.ids[BACKUP]


def test_a_wrong_key_is_not_an_acceptance(line: Line) -> None:
    line.sim.phone(PRIMARY).will_answer("7")
    line.sim.phone(BACKUP).will_answer("1")
    caller = line.sim.phone(DANIEL).call(LINE)
    line.sim.run_pending()
    assert caller.bridged_to == BACKUP
    line.sim.phone(PRIMARY).expect_call()
    line.sim.phone(BACKUP).expect_call()


def test_everyone_misses_fallback_voicemail_missed_call_sms_escalation_and_ack_stops_it(
    line: Line,
) -> None:
    for phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(phone).will_not_answer()
    caller = line.sim.phone(DANIEL).call(LINE, message="Please call me back, it is bad tonight")
    line.sim.run_pending()

    assert caller.bridged_to is None
    heard = caller.heard_text
    for words in ("9 9 9", "NHS 1 1 1", "1 1 6, 1 2 3", "SHOUT", "leave a message"):
        assert words in heard
    assert "passed on" in heard
    for phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(phone).expect_call(answered=False)
    contact = line.contact()
    assert contact.outcome == "voicemail"
    assert contact.recording_url

    missed = [e for e in line.escalations() if e.subject_type == "missed_call"]
    assert [e.policy_name for e in missed] == ["missed-call"]
    # A crisis call whose whole chain ran out is also a risk alert; Daniel has no officer,
    # so it goes to the duty manager.
    with line.svc.db.transaction() as session:
        raised = {(a.rule, a.participant_id) for a in session.scalars(select(RiskAlert))}
    assert raised == {
        ("unanswered", line.ids["daniel"]),
        ("missing_officer", line.ids["daniel"]),
    }
    line.deliver()
    sms = line.sim.phone(PRIMARY).expect_sms("Missed call from R1001 D. Price at 12:00")
    assert "voicemail left" in sms.body
    code = sms.body.split("Reply ")[1].split("a ")[0]

    line.clock.advance(dt.timedelta(seconds=300))
    line.svc.sweep_escalations()
    line.deliver()
    backup_sms = line.sim.phone(BACKUP).expect_sms("Missed call from R1001")
    backup_code = backup_sms.body.split("Reply ")[1].split("a ")[0]
    backup_sms.reply(f"{backup_code}a")  # through the real SMS webhook
    line.deliver()
    line.sim.phone(BACKUP).expect_sms("you have taken")
    line.sim.phone(PRIMARY).expect_sms("taken by Tom Hughes")
    assert code
    line.clock.advance(dt.timedelta(hours=1))
    line.svc.sweep_escalations()
    line.deliver()
    with line.svc.db.transaction() as session:
        missed_to_manager = session.scalars(
            select(Delivery).where(
                Delivery.to_number == MANAGER, Delivery.body.contains("Missed call")
            )
        ).all()
    assert missed_to_manager == []
    for phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(phone).ignore_unexpected()  # the risk alert's own texts


def test_an_empty_primary_rota_rings_the_backup_at_once_never_nobody(line: Line) -> None:
    with line.svc.db.transaction() as session:
        rota_service.add_override(
            session,
            line.ids["primary"],
            rota_service.NewOverride(
                staff_id=None,
                start=line.clock.now() - dt.timedelta(hours=1),
                end=line.clock.now() + dt.timedelta(hours=1),
                mode="replace",
                reason="Amira is ill",
            ),
            actor="t",
            now=line.clock.now(),
        )
    line.sim.phone(BACKUP).will_answer("1")
    caller = line.sim.phone(DANIEL).call(LINE)
    line.sim.run_pending()
    assert caller.bridged_to == BACKUP
    line.sim.phone(BACKUP).expect_call(answered=True)
    assert line.sim.phone(PRIMARY).calls == []


@pytest.mark.parametrize("withheld", ["anonymous", "Restricted", "+266696687"])
def test_withheld_callers_are_served_as_unknown_callers(line: Line, withheld: str) -> None:
    line.sim.phone(PRIMARY).will_answer("1")
    response = line.app.test_client().post(
        "/webhooks/voice",
        data={"CallSid": "CA" + "d" * 32, "From": withheld, "To": LINE, "CallStatus": "ringing"},
        headers={
            "X-Twilio-Signature": _sign(
                "/webhooks/voice",
                {"CallSid": "CA" + "d" * 32, "From": withheld, "To": LINE, "CallStatus": "ringing"},
            )
        },
    )
    assert response.status_code == 200
    assert b"<Dial" in response.data
    assert b"+447700900101" in response.data
    contact = line.contact()
    assert contact.from_number is None
    assert contact.participant_id is None


def test_an_unknown_number_is_announced_as_an_unknown_caller(line: Line) -> None:
    line.sim.phone(PRIMARY).will_answer("1")
    line.sim.phone("+447700900555").call(LINE)
    line.sim.run_pending()
    line.sim.phone(PRIMARY).expect_call("Crisis line call from an unknown caller", answered=True)
    assert line.contact().from_number == "+447700900555"


def test_the_caller_hangs_up_while_ringing_is_abandoned_with_the_wait_and_chased(
    line: Line,
) -> None:
    client = line.app.test_client()
    form = {"CallSid": "CA" + "e" * 32, "From": DANIEL, "To": LINE, "CallStatus": "ringing"}
    client.post(
        "/webhooks/voice", data=form, headers={"X-Twilio-Signature": _sign("/webhooks/voice", form)}
    )
    line.clock.advance(dt.timedelta(seconds=14))
    done = {"CallSid": form["CallSid"], "CallStatus": "completed", "CallDuration": "14"}
    response = client.post(
        "/webhooks/voice/status",
        data=done,
        headers={"X-Twilio-Signature": _sign("/webhooks/voice/status", done)},
    )
    assert response.status_code == 204
    contact = line.contact()
    assert contact.outcome == "abandoned"
    assert contact.wait_seconds == 14
    assert contact.duration_seconds == 14
    (missed,) = line.escalations()
    assert "hung up after 14s" in missed.summary


def test_duplicate_and_out_of_order_webhooks_change_nothing(line: Line) -> None:
    client = line.app.test_client()
    form = {"CallSid": "CA" + "f" * 32, "From": DANIEL, "To": LINE, "CallStatus": "ringing"}
    headers = {"X-Twilio-Signature": _sign("/webhooks/voice", form)}
    first = client.post("/webhooks/voice", data=form, headers=headers)
    again = client.post("/webhooks/voice", data=form, headers=headers)
    assert first.data == again.data
    done = {"CallSid": form["CallSid"], "CallStatus": "completed", "CallDuration": "30"}
    done_headers = {"X-Twilio-Signature": _sign("/webhooks/voice/status", done)}
    client.post("/webhooks/voice/status", data=done, headers=done_headers)
    client.post("/webhooks/voice/status", data=done, headers=done_headers)
    with line.svc.db.transaction() as session:
        assert len(list(session.scalars(select(Contact)))) == 1
    assert len(line.escalations()) == 1
    # A late Dial action after the call ended: the caller is gone; nothing new is opened.
    late = {"CallSid": form["CallSid"], "DialCallStatus": "no-answer"}
    client.post(
        "/webhooks/voice/dial",
        data=late,
        headers={"X-Twilio-Signature": _sign("/webhooks/voice/dial", late)},
    )
    assert len(line.escalations()) == 1


def test_with_the_database_down_the_caller_still_hears_the_crisis_numbers(
    line: Line, tmp_path: Path
) -> None:
    broken = create_app(
        {"TESTING": True},
        settings=make_settings(
            tmp_path, f"sqlite:///{tmp_path}/gone/x.db", FALLBACK_NUMBER="07700900999"
        ),
        clock=line.clock,
    )
    form = {"CallSid": "CA" + "9" * 32, "From": DANIEL, "To": LINE, "CallStatus": "ringing"}
    response = broken.test_client().post(
        "/webhooks/voice", data=form, headers={"X-Twilio-Signature": _sign("/webhooks/voice", form)}
    )
    assert response.status_code == 200
    assert b"<Dial" in response.data and b"+447700900999" in response.data
    assert b"1 1 6, 1 2 3" in response.data
    services_of(broken).db.dispose()


def test_a_staff_member_calls_back_through_the_line_from_their_own_phone(line: Line) -> None:
    for phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(phone).will_not_answer()
    line.sim.phone(DANIEL).call(LINE, message="Call me")
    line.sim.run_pending()
    for phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(phone).expect_call(answered=False)
    for phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(phone).ignore_unexpected()  # the risk alerts' texts
    line.deliver()
    line.sim.phone(PRIMARY).expect_sms("Missed call")

    line.sim.phone(DANIEL).will_answer()
    staff_call = line.sim.phone(PRIMARY).call(LINE, "1")
    line.sim.run_pending()
    assert "Press 1 to call back Daniel, R1001" in staff_call.heard_text
    assert staff_call.bridged_to == DANIEL
    participant_leg = line.sim.phone(DANIEL).expect_call(answered=True)
    assert participant_leg.from_ == LINE  # the crisis number, not the staff phone

    (missed,) = [e for e in line.escalations() if e.subject_type == "missed_call"]
    assert missed.status == "acknowledged"
    assert missed.acknowledged_by == "Amira Okafor"
    with line.svc.db.transaction() as session:
        outbound = session.scalars(select(Contact).where(Contact.outcome == "call_back")).one()
    assert outbound.handled_by_staff_id == line.ids[PRIMARY]
    assert outbound.participant_id == line.ids["daniel"]
    line.deliver()
    for phone in (PRIMARY, BACKUP, MANAGER, DANIEL):
        line.sim.phone(phone).ignore_unexpected()


def _sign(path: str, form: dict[str, str]) -> str:
    from crisisline.telephony import sign

    return sign(TEST_AUTH_TOKEN, BASE + path, form)
