"""Escalation calls to staff, through the simulator: hear it, press 4, 5 or *, or miss it."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask

from crisisline import escalation_engine as engine
from crisisline import escalation_policies, staff
from crisisline.clock import FakeClock
from crisisline.escalation_models import EscalationRecord
from crisisline.jobs import Jobs
from crisisline.models import StaffRole
from crisisline.services import Services
from crisisline.simulator import Simulator
from tests.support.app import services_of, signed_post
from tests.support.simulated_twilio import simulated_twilio
from tests.support.sms_line import BACKUP, DANIEL, PRIMARY, STEP_WAIT, SmsLine

ACCOUNT_SID = "AC" + "8" * 32
LINE = "+447700900000"
AMIRA, TOM, PRIYA = "+447700900121", "+447700900122", "+447700900123"
STRANGER = "+447700900199"
SUMMARY = "Missed call from R1001 D. Price at 03:12"
WAIT = dt.timedelta(seconds=300)


@dataclass
class Line:
    app: Flask
    svc: Services
    sim: Simulator
    clock: FakeClock

    def deliver(self) -> None:
        """Send what the outbox holds and let the simulator run every call and callback."""
        for _ in range(5):
            Jobs(self.svc).dispatch_outbox()
            if not self.sim.run_pending():
                return

    def status(self, escalation_id: int) -> str:
        with self.svc.db.transaction() as session:
            return session.get_one(EscalationRecord, escalation_id).status


@pytest.fixture
def line(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[Line]:
    """The service on the real Twilio adapter, talking to the simulator over loopback HTTP.

    Amira and Tom are notified first, by text and call; Priya, the duty manager, next. The
    outbox sends one at a time here, so Amira's call is placed before Tom's and the tests can
    script who answers first (in service both are called at once: whoever presses 4 first).
    """
    with simulated_twilio(tmp_path, database_url, clock, ACCOUNT_SID, DISPATCH_WORKERS="1") as (
        app,
        sim,
    ):
        yield from _populate(app, sim, clock)


def _populate(app: Flask, sim: Simulator, clock: FakeClock) -> Iterator[Line]:
    svc = services_of(app)
    with svc.db.transaction() as session:
        ids = {}
        for name, phone, role in (
            ("Amira Okafor", AMIRA, StaffRole.ON_CALL),
            ("Tom Hughes", TOM, StaffRole.ON_CALL),
            ("Priya Natarajan", PRIYA, StaffRole.DUTY_MANAGER),
            ("Owen Marsh", STRANGER, StaffRole.ON_CALL),
        ):
            person = staff.create(
                session, staff.NewStaff(name, phone, None, [role]), actor="t", now=clock.now()
            )
            ids[phone] = person.id
        escalation_policies.put_policy(
            session,
            "call-chain",
            {
                "steps": [
                    {
                        "targets": [{"staff_id": ids[AMIRA]}, {"staff_id": ids[TOM]}],
                        "channels": ["sms", "voice"],
                        "wait_seconds": int(WAIT.total_seconds()),
                    },
                    {
                        "targets": [{"staff_id": ids[PRIYA]}],
                        "channels": ["sms"],
                        "wait_seconds": int(WAIT.total_seconds()),
                    },
                ]
            },
            actor="t",
            now=clock.now(),
        )
    yield Line(app, svc, sim, clock)


def _open(line: Line, summary: str = SUMMARY) -> int:
    with line.svc.db.transaction() as session:
        return engine.open_escalation(
            session,
            policy_name="call-chain",
            subject_type="missed_call",
            subject_id=None,
            participant_id=None,
            summary=summary,
            now=line.clock.now(),
            reach=line.svc.reach,
        ).id


def test_the_call_says_what_it_is_about_and_gathers_one_digit(line: Line) -> None:
    escalation_id = _open(line)
    client = line.app.test_client()
    path = f"/webhooks/escalations/{escalation_id}/call"
    response = signed_post(client, path, {"CallSid": "CA" + "1" * 32, "To": AMIRA, "From": LINE})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    gather = re.search(r"<Gather [^>]*>", body)
    assert gather is not None, body
    assert 'numDigits="1"' in gather.group(0)
    assert f'action="https://crisis.example.org{path}/keypress"' in gather.group(0)
    assert SUMMARY in body
    assert "Press 4 to take this" in body
    assert body.rstrip().endswith("<Hangup /></Response>")
    # Nothing was sent through the simulator by this direct post.
    for phone in (AMIRA, TOM):
        line.sim.phone(phone).ignore_unexpected()


def test_pressing_4_takes_it_with_a_spoken_confirmation_and_the_others_are_told(
    line: Line,
) -> None:
    escalation_id = _open(line)
    line.sim.phone(AMIRA).will_answer("4")
    line.sim.phone(TOM).will_not_answer()
    line.deliver()

    amira, tom = line.sim.phone(AMIRA), line.sim.phone(TOM)
    amira.expect_sms("Reply 1a to take this", from_=LINE)
    call = amira.expect_call(SUMMARY, from_=LINE, answered=True)
    assert call.pressed == ["4"]
    assert "You have taken this" in call.heard_text
    tom.expect_sms("Reply 1a to take this")
    tom.expect_call(answered=False)
    tom.expect_sms("was taken by Amira Okafor")
    assert line.status(escalation_id) == "acknowledged"

    line.clock.advance(WAIT * 3)
    assert Jobs(line.svc).sweep_escalations() == 0
    line.deliver()
    line.sim.phone(PRIYA).expect_no_sms()


def test_pressing_5_passes_it_to_the_next_step_at_once(line: Line) -> None:
    escalation_id = _open(line)
    line.sim.phone(AMIRA).will_answer("5")
    line.sim.phone(TOM).will_not_answer()
    line.deliver()

    call = line.sim.phone(AMIRA).expect_call(SUMMARY, answered=True)
    assert call.pressed == ["5"]
    assert "passed to the next person" in call.heard_text
    line.sim.phone(PRIYA).expect_sms("Reply 1a to take this")  # no wait: straight on
    with line.svc.db.transaction() as session:
        record = session.get_one(EscalationRecord, escalation_id)
        assert (record.status, record.step_index) == ("open", 1)
    for phone in (AMIRA, TOM):
        line.sim.phone(phone).ignore_unexpected()


def test_star_repeats_the_message_and_a_key_can_then_be_pressed(line: Line) -> None:
    escalation_id = _open(line)
    line.sim.phone(AMIRA).will_answer("*", "4")
    line.sim.phone(TOM).will_not_answer()
    line.deliver()

    call = line.sim.phone(AMIRA).expect_call(answered=True)
    assert call.pressed == ["*", "4"]
    assert call.heard_text.count(SUMMARY) == 2
    # Tom was called at the same step, so he is the one other person told (wording changed
    # deliberately from "The others will be told", which was said even with nobody else).
    assert call.heard_text.endswith(
        "You have taken this. The other person alerted will be told. Goodbye."
    )
    assert line.status(escalation_id) == "acknowledged"
    for phone in (AMIRA, TOM):
        line.sim.phone(phone).ignore_unexpected()


def test_a_voicemail_never_takes_it_and_the_call_ends_in_an_explicit_hang_up(
    line: Line,
) -> None:
    escalation_id = _open(line)
    line.sim.phone(AMIRA).will_go_to_voicemail()
    line.sim.phone(TOM).will_go_to_voicemail()
    line.deliver()

    for phone in (AMIRA, TOM):
        call = line.sim.phone(phone).expect_call(SUMMARY, answered=True)
        assert call.pressed == []
        assert "(the line hung up)" in [entry.text for entry in call.entries]
        assert "No key was pressed" in call.heard_text
        line.sim.phone(phone).expect_sms("Reply 1a")
    assert line.status(escalation_id) == "open"

    line.clock.advance(WAIT)
    assert Jobs(line.svc).sweep_escalations() == 1
    line.deliver()
    line.sim.phone(PRIYA).expect_sms("Reply 1a to take this")


def test_a_phone_that_was_not_notified_cannot_act_on_the_call(line: Line) -> None:
    escalation_id = _open(line)
    client = line.app.test_client()
    base = f"/webhooks/escalations/{escalation_id}/call"
    form = {"CallSid": "CA" + "2" * 32, "To": STRANGER, "From": LINE}
    heard = signed_post(client, base, form).get_data(as_text=True)
    assert "not for this phone" in heard
    assert "<Gather" not in heard
    assert SUMMARY not in heard  # nothing about a participant to someone not on the chain
    for digit in ("4", "5"):
        pressed = signed_post(client, base + "/keypress", {**form, "Digits": digit})
        assert "not for this phone" in pressed.get_data(as_text=True)
    assert line.status(escalation_id) == "open"
    unknown = signed_post(client, "/webhooks/escalations/999/call", {**form, "To": AMIRA})
    assert "not for this phone" in unknown.get_data(as_text=True)
    unsigned = client.post(base + "/keypress", data={**form, "To": AMIRA, "Digits": "4"})
    assert unsigned.status_code == 403
    assert line.status(escalation_id) == "open"
    for phone in (AMIRA, TOM):
        line.sim.phone(phone).ignore_unexpected()


def test_a_call_answered_after_someone_else_took_it_says_so_and_offers_no_keys(
    line: Line,
) -> None:
    escalation_id = _open(line)
    line.sim.phone(AMIRA).will_answer("4")
    line.sim.phone(TOM).will_answer("4")
    line.deliver()

    assert "You have taken this" in line.sim.phone(AMIRA).expect_call(answered=True).heard_text
    late = line.sim.phone(TOM).expect_call(answered=True)
    assert "already been taken by Amira Okafor" in late.heard_text
    assert late.pressed == []
    with line.svc.db.transaction() as session:
        record = session.get_one(EscalationRecord, escalation_id)
        assert record.acknowledged_by == "Amira Okafor"
    for phone in (AMIRA, TOM):
        line.sim.phone(phone).ignore_unexpected()


def test_a_voicemail_link_in_the_summary_is_never_read_out(line: Line) -> None:
    """Neither the prompt nor the "already taken" message speaks a link's URL and token."""
    link = "https://crisis.example.org/voicemail/WzEsMTc2NDE2NjQwMF0.abcDEF123_-"
    _open(line, f"{SUMMARY}, voicemail left: {link}")
    line.sim.phone(AMIRA).will_answer("4")
    line.sim.phone(TOM).will_answer("4")
    line.deliver()

    heard = {
        phone: line.sim.phone(phone).expect_call(answered=True).heard_text for phone in (AMIRA, TOM)
    }
    # Both are called at once (the outbox sends in parallel): whoever pressed 4 first took it.
    (taker,) = [phone for phone, text in heard.items() if "You have taken this" in text]
    late = TOM if taker == AMIRA else AMIRA
    taker_name = {AMIRA: "Amira Okafor", TOM: "Tom Hughes"}[taker]
    assert "voicemail left" in heard[taker] and "voicemail left" in heard[late]
    assert f"already been taken by {taker_name}" in heard[late]
    for text in heard.values():
        assert "http" not in text and "WzEs" not in text, text
    # The texts do carry it, kept whole.
    assert link in line.sim.phone(taker).expect_sms("voicemail left").body
    line.sim.phone(late).expect_sms("voicemail left")
    assert "https" not in line.sim.phone(late).expect_sms(f"taken by {taker_name}").body


# ---- 'not me' pressed by two people of one step (safety review) -------------------------------


@pytest.mark.hazard("H54")
def test_two_people_of_one_step_pressing_5_pass_it_on_once_not_twice(lenient_line: SmsLine) -> None:
    """escalate_now fires the step after the *current* one, whoever presses and for whichever
    step their call was: the primary and the backup, both called at step two, each pressing 5
    ("not me") skip the duty manager's whole wait and restart the chain at once."""
    line = lenient_line
    line.text(DANIEL, "I need to talk")
    line.dispatch()
    line.wait(STEP_WAIT)  # step two: primary and backup, by text and call
    (conversation,) = line.conversations()
    escalation_id = conversation.escalation_id
    client = line.app.test_client()
    path = f"/webhooks/escalations/{escalation_id}/call/keypress"
    for phone in (PRIMARY, BACKUP):
        response = signed_post(
            client, path, {"CallSid": "CA" + phone[-3:] * 10 + "00", "To": phone, "Digits": "5"}
        )
        assert response.status_code == 200

    with line.svc.db.transaction() as session:
        record = session.get_one(EscalationRecord, escalation_id)
        position = (record.step_index, record.loop)
    assert position == (2, 0), (
        f"two 'not me' presses for step two moved the chain to step {position[0]} of loop "
        f"{position[1]}: the duty manager's wait was skipped"
    )
