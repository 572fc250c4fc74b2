"""Crisis calls end to end: the simulator plays the caller and the staff phones against the
real webhooks, and the service's texts travel through the real Twilio adapter to the simulator."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from crisisline import escalation_engine as engine
from crisisline import rota_service, sms_conversations, staffing
from crisisline.alert_models import RiskAlert
from crisisline.app import create_app
from crisisline.clock import FakeClock
from crisisline.escalation_models import EscalationCode, EscalationRecord
from crisisline.jobs import Jobs
from crisisline.models import Contact, Delivery
from crisisline.simulator import FlaskClientTransport, HangUpOrder, Simulator
from tests.support.app import TEST_AUTH_TOKEN, make_settings, services_of
from tests.support.call_line import (
    ACCOUNT_SID,
    BACKUP,
    BASE,
    DANIEL,
    LINE,
    MANAGER,
    PRIMARY,
    Line,
    populate,
    reply_code,
    start_call_line,
)
from tests.support.simulated_twilio import simulated_twilio

STRANGER = "+447700900555"  # a number the service does not know
HIDDEN = "+447700900301"  # a phone that withholds its number
FALLBACK = "+447700900999"


@pytest.fixture
def line(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[Line]:
    """The crisis line with primary, backup and duty-manager rotas, a participant, the simulator
    (tests/support/call_line.py), which keeps the service's clock in step with each call."""
    yield from start_call_line(tmp_path, database_url, clock)


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
    # Answered after the greeting, the ring and the screening; ended after the conversation.
    assert contact.ended_at is not None and contact.answered_at is not None
    assert contact.started_at + dt.timedelta(seconds=12) < contact.answered_at
    assert contact.ended_at - contact.answered_at >= dt.timedelta(seconds=60)
    assert contact.wait_seconds == int((contact.answered_at - contact.started_at).total_seconds())
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


def test_everyone_misses_then_the_chase_climbs_to_the_duty_manager_whose_ack_stops_it(
    line: Line,
) -> None:
    for phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(phone).will_not_answer()
    caller = line.sim.phone(DANIEL).call(LINE, message="Please call me back, it is bad tonight")
    line.sim.run_pending()

    # The caller: nobody was connected; he heard where else to get help and left a message.
    assert caller.bridged_to is None
    heard = caller.heard_text
    for words in ("9 9 9", "NHS 1 1 1", "option 2", "1 1 6, 1 2 3", "SHOUT", "8 5 2 5 8"):
        assert words in heard
    assert "leave a message" in heard and "passed on" in heard
    for phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(phone).expect_call(answered=False)
    contact = line.contact()
    assert contact.outcome == "voicemail"
    assert contact.recording_url == line.sim.recordings[0].url
    (missed,) = [e for e in line.escalations() if e.subject_type == "missed_call"]
    assert missed.policy_name == "missed-call"

    # The on-call worker is texted the missed call with the voicemail and a reply code...
    line.deliver()
    first = line.sim.phone(PRIMARY).expect_sms(
        "Missed call from R1001 D. Price at 12:00, voicemail left"
    )
    assert reply_code(first.body)
    # ...and the duty manager hears of the unanswered call and the missing officer at once. He
    # acknowledges those risk alerts, so that from here only the missed call is being chased.
    manager = line.sim.phone(MANAGER)
    for alert in ("nobody answered after full escalation", "has no responsible officer"):
        text = manager.expect_sms(alert)
        text.reply(f"{reply_code(text.body)}a")
        line.deliver()
        # A risk alert is "acknowledged" in its own text, so the confirmation says so too
        # (deliberately changed from "you have taken").
        manager.expect_sms(f"you have acknowledged {reply_code(text.body)}")

    # Nobody takes it: after the step's wait it climbs to the backup...
    line.clock.advance(dt.timedelta(seconds=300))
    Jobs(line.svc).sweep_escalations()
    line.deliver()
    line.sim.phone(BACKUP).expect_sms("Missed call from R1001 D. Price at 12:00, voicemail left")
    manager.expect_no_sms()
    # ...and, still untaken, to the duty manager's own phone.
    line.clock.advance(dt.timedelta(seconds=300))
    Jobs(line.svc).sweep_escalations()
    line.deliver()
    to_manager = manager.expect_sms("Missed call from R1001 D. Price at 12:00, voicemail left")
    for phone in (PRIMARY, BACKUP):
        line.sim.phone(phone).expect_no_sms()

    # The duty manager takes it with the code from that text, through the real SMS webhook.
    to_manager.reply(f"{reply_code(to_manager.body)}a")
    line.deliver()
    manager.expect_sms("you have taken")
    line.sim.phone(PRIMARY).expect_sms("taken by Priya Natarajan")
    line.sim.phone(BACKUP).expect_sms("taken by Priya Natarajan")
    (missed,) = [e for e in line.escalations() if e.subject_type == "missed_call"]
    assert missed.status == "acknowledged"
    assert missed.acknowledged_by == "Priya Natarajan"

    # The chase has stopped: well past where the next step (and a repeat) would fall, the
    # scheduler sweeps and the outbox runs, and no phone gets another text.
    for _ in range(12):
        line.clock.advance(dt.timedelta(minutes=5))
        Jobs(line.svc).sweep_escalations()
        line.deliver()
    for phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(phone).expect_no_sms()
    with line.svc.db.transaction() as session:
        chased = session.scalars(
            select(Delivery.to_number).where(
                Delivery.body.contains("Missed call"), Delivery.body.contains("to take this")
            )
        ).all()
    assert chased == [PRIMARY, BACKUP, MANAGER]  # one chase text per step, none after the ack


def test_an_empty_primary_rota_rings_the_backup_at_once_never_nobody(line: Line) -> None:
    with line.svc.db.transaction() as session:
        staffing.add_override(
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


# ---- withheld and unknown numbers ---------------------------------------------------------


@pytest.mark.parametrize("withheld", ["anonymous", "Restricted", "+266696687"])
def test_a_withheld_caller_is_put_through_and_announced_as_an_unknown_caller(
    line: Line, withheld: str
) -> None:
    line.sim.phone(PRIMARY).will_answer("1")
    caller = line.sim.phone(HIDDEN).call(LINE, withheld_as=withheld)

    assert line.sim.webhooks("voice")[0].params["From"] == withheld  # as Twilio sends it
    assert caller.bridged_to == PRIMARY
    line.sim.phone(PRIMARY).expect_call("Crisis line call from an unknown caller", answered=True)
    contact = line.contact()
    assert contact.from_number is None
    assert contact.participant_id is None
    assert contact.outcome == "answered"
    assert contact.handled_by_staff_id == line.ids[PRIMARY]


def test_an_unknown_number_is_announced_as_an_unknown_caller(line: Line) -> None:
    line.sim.phone(PRIMARY).will_answer("1")
    line.sim.phone(STRANGER).call(LINE)
    line.sim.run_pending()
    line.sim.phone(PRIMARY).expect_call("Crisis line call from an unknown caller", answered=True)
    contact = line.contact()
    assert contact.from_number == STRANGER
    assert contact.participant_id is None


@pytest.mark.parametrize(
    ("phone", "withheld", "named"),
    [(STRANGER, None, STRANGER), (HIDDEN, "anonymous", "a withheld number")],
    ids=["unknown-number", "withheld-number"],
)
def test_a_missed_call_from_an_unknown_or_withheld_caller_is_texted_naming_the_number_or_withheld(
    line: Line, phone: str, withheld: str | None, named: str
) -> None:
    for staff_phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(staff_phone).will_not_answer()
    line.sim.phone(phone).call(LINE, message="It is me, please ring", withheld_as=withheld)
    for staff_phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(staff_phone).expect_call(answered=False)
    line.deliver()

    sms = line.sim.phone(PRIMARY).expect_sms(f"Missed call from {named} at 12:00, voicemail left")
    assert reply_code(sms.body)
    if withheld is not None:
        assert HIDDEN not in sms.body  # the hidden number never leaks out of Twilio's From
    contact = line.contact()
    assert contact.participant_id is None
    assert contact.outcome == "voicemail"
    # Nobody is known to alert about; nothing else is sent.
    for staff_phone in (BACKUP, MANAGER):
        line.sim.phone(staff_phone).expect_no_sms()


# ---- the caller hangs up ------------------------------------------------------------------


@pytest.mark.parametrize("dial_status", ["no-answer", "canceled"])
@pytest.mark.parametrize("order", ["action-first", "status-first"])
def test_the_caller_hangs_up_while_ringing_is_abandoned_with_the_wait_and_chased(
    line: Line, order: HangUpOrder, dial_status: str
) -> None:
    line.sim.hang_up_order = order
    line.sim.hang_up_dial_status = dial_status
    line.sim.phone(PRIMARY).will_not_answer()
    # The greeting takes 7.6 s; he gives up 12.4 s into the primary's 20 s ring.
    caller = line.sim.phone(DANIEL).call(LINE, hang_up_after=20)

    # Twilio's side: the ringing leg was cancelled, and both the Dial action and the final status
    # callback were requested, in the order chosen.
    assert caller.bridged_to is None
    assert line.sim.phone(PRIMARY).expect_call(answered=False).status == "canceled"
    (action,) = line.sim.webhooks("dial-action", caller.sid)
    (final,) = line.sim.webhooks("call-status", caller.sid)
    assert action.params["CallStatus"] == "completed"
    assert action.params["DialCallStatus"] == dial_status
    assert final.params["CallStatus"] == "completed"
    assert final.params["CallDuration"] == "20"
    kinds = [r.kind for r in line.sim.requests if r in (action, final)]
    assert kinds == (
        ["dial-action", "call-status"]
        if order == "action-first"
        else ["call-status", "dial-action"]
    )
    # The TwiML the action got back (whatever it was) was not followed: nobody else rang.
    assert line.sim.phone(BACKUP).calls == []
    assert line.sim.phone(MANAGER).calls == []

    # The service's side: abandoned after 20 s of waiting, and chased.
    contact = line.contact()
    assert contact.outcome == "abandoned"
    assert contact.wait_seconds == 20
    assert contact.duration_seconds == 20
    assert contact.answered_at is None and contact.handled_by_staff_id is None
    (missed,) = line.escalations()
    assert missed.subject_type == "missed_call" and missed.policy_name == "missed-call"
    line.deliver()
    sms = line.sim.phone(PRIMARY).expect_sms(
        "Missed call from R1001 D. Price at 12:00, hung up after 20s"
    )
    assert reply_code(sms.body)


def test_the_caller_hangs_up_during_the_fallback_message_and_is_still_chased(line: Line) -> None:
    for phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(phone).will_not_answer()
    # 7.6 s of greeting and three 20 s rings: he hangs up 10 s into the crisis numbers.
    caller = line.sim.phone(DANIEL).call(LINE, hang_up_after=77.6)

    assert "9 9 9" in caller.heard_text
    assert "leave a message" not in caller.heard_text
    assert line.sim.webhooks("record", caller.sid) == []
    (final,) = line.sim.webhooks("call-status", caller.sid)
    assert final.params["CallDuration"] == "78"
    for phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(phone).expect_call(answered=False)
    contact = line.contact()
    assert contact.outcome == "missed"
    assert contact.recording_url is None
    assert contact.duration_seconds == 78
    (missed,) = [e for e in line.escalations() if e.subject_type == "missed_call"]
    assert missed.summary == "Missed call from R1001 D. Price at 12:00"
    line.deliver()
    line.sim.phone(PRIMARY).expect_sms(matches=r"Missed call from R1001 D\. Price at 12:00\. Reply")
    for phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(phone).ignore_unexpected()  # the risk alert's own texts


def test_the_caller_hangs_up_while_recording_and_his_message_is_kept_and_chased(
    line: Line,
) -> None:
    for phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(phone).will_not_answer()
    # Greeting, three rings, the crisis numbers and the voicemail prompt take 46 s, then the
    # beep: he says his message and hangs up 2 s later, before the recording's silence ends it.
    caller = line.sim.phone(DANIEL).call(
        LINE, message="Please call me back, it is bad tonight", hang_up_after=114
    )

    (record,) = line.sim.webhooks("record", caller.sid)
    assert record.params["Digits"] == "hangup"
    assert record.params["RecordingUrl"] == line.sim.recordings[0].url
    assert "passed on" not in caller.heard_text  # the thanks went to nobody
    for phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(phone).expect_call(answered=False)
    contact = line.contact()
    assert contact.outcome == "voicemail"
    assert contact.recording_url == line.sim.recordings[0].url
    assert contact.duration_seconds == 114
    line.deliver()
    line.sim.phone(PRIMARY).expect_sms("Missed call from R1001 D. Price at 12:00, voicemail left")
    for phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(phone).ignore_unexpected()  # the risk alert's own texts


# ---- duplicate and out-of-order webhooks --------------------------------------------------


def test_webhooks_twilio_delivers_twice_during_a_call_change_nothing(line: Line) -> None:
    for kind in ("voice", "dial-action", "call-status"):
        line.sim.deliver_twice(kind, count=5)
    line.sim.phone(PRIMARY).will_not_answer()
    line.sim.phone(BACKUP).will_answer("1")
    caller = line.sim.phone(DANIEL).call(LINE)

    # Each was really posted twice, and the call still went primary -> backup, not further.
    assert len(line.sim.webhooks("voice", caller.sid)) == 2
    assert len(line.sim.webhooks("dial-action", caller.sid)) == 4  # the primary's and backup's
    assert len(line.sim.webhooks("call-status", caller.sid)) == 2
    assert caller.bridged_to == BACKUP
    line.sim.phone(PRIMARY).expect_call(answered=False)
    line.sim.phone(BACKUP).expect_call(answered=True)
    assert line.sim.phone(MANAGER).calls == []
    with line.svc.db.transaction() as session:
        (contact,) = session.scalars(select(Contact)).all()
        assert contact.outcome == "answered"
        assert contact.handled_by_staff_id == line.ids[BACKUP]
    assert line.escalations() == []


def test_webhooks_redelivered_late_and_out_of_order_after_a_missed_call_change_nothing(
    line: Line,
) -> None:
    for phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(phone).will_not_answer()
    caller = line.sim.phone(DANIEL).call(LINE, message="Ring me please")
    for phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(phone).expect_call(answered=False)
    before = line.contact()
    escalations_before = [(e.id, e.status, e.step_index) for e in line.escalations()]
    with line.svc.db.transaction() as session:
        alerts_before = len(session.scalars(select(RiskAlert)).all())

    # Everything the call sent, again, newest first: the status callback, the voicemail, the
    # Dial actions (the primary's last), then the very first webhook.
    late = [
        *line.sim.webhooks("call-status", caller.sid),
        *line.sim.webhooks("record", caller.sid),
        *reversed(line.sim.webhooks("dial-action", caller.sid)),
        *line.sim.webhooks("voice", caller.sid),
    ]
    assert len(late) == 6
    answers = [line.sim.redeliver(request) for request in late]
    assert all(answer.ok for answer in answers)
    assert all("<Dial" not in answer.body for answer in answers)  # nobody is rung again

    after = line.contact()
    assert (after.outcome, after.recording_url, after.ended_at, after.wait_seconds) == (
        before.outcome,
        before.recording_url,
        before.ended_at,
        before.wait_seconds,
    )
    assert [(e.id, e.status, e.step_index) for e in line.escalations()] == escalations_before
    with line.svc.db.transaction() as session:
        assert len(session.scalars(select(Contact)).all()) == 1
        assert len(session.scalars(select(RiskAlert)).all()) == alerts_before
    line.deliver()
    line.sim.phone(PRIMARY).expect_sms("Missed call from R1001")
    line.sim.phone(PRIMARY).expect_no_sms()  # one missed-call text, not one per redelivery
    for phone in (BACKUP, MANAGER):
        line.sim.phone(phone).ignore_unexpected()  # the risk alerts' texts


# ---- the database down, and Twilio's Fallback URL -----------------------------------------


@contextmanager
def _line_without_database(
    tmp_path: Path, clock: FakeClock, **settings: str
) -> Iterator[Simulator]:
    """The service with a database it cannot open, and a simulator calling its crisis number."""
    broken = create_app(
        {"TESTING": True},
        settings=make_settings(tmp_path, f"sqlite:///{tmp_path}/gone/x.db", **settings),
        clock=clock,
    )
    sim = Simulator(
        account_sid=ACCOUNT_SID,
        auth_token=TEST_AUTH_TOKEN,
        transport=FlaskClientTransport(broken.test_client()),
    )
    sim.configure_number(
        LINE,
        voice_url=f"{BASE}/webhooks/voice",
        voice_fallback_url=f"{BASE}/webhooks/voice/fallback",
        voice_status_callback=f"{BASE}/webhooks/voice/status",
    )
    try:
        yield sim
        sim.assert_no_unexpected()
    finally:
        services_of(broken).db.dispose()


def test_with_the_database_down_the_caller_is_put_through_to_the_fallback_number(
    tmp_path: Path, clock: FakeClock
) -> None:
    with _line_without_database(tmp_path, clock, FALLBACK_NUMBER="07700900999") as sim:
        sim.phone(FALLBACK).will_answer()
        caller = sim.phone(DANIEL).call(LINE)

        assert caller.bridged_to == FALLBACK
        assert "Please hold while we connect you" in caller.heard_text
        connected = [e.text for e in caller.entries].index(f"connected to {FALLBACK}")
        assert "Please hold while we connect you" in caller.entries[connected - 2].text
        assert sim.phone(FALLBACK).expect_call(answered=True).from_ == LINE
        assert sim.webhooks("voice-fallback") == []  # the webhook itself failed safe


def test_with_the_database_down_and_no_fallback_number_the_caller_hears_the_crisis_numbers(
    tmp_path: Path, clock: FakeClock
) -> None:
    with _line_without_database(tmp_path, clock) as sim:
        caller = sim.phone(DANIEL).call(LINE)

        _assert_heard_the_crisis_numbers(caller.heard_text)
        assert caller.bridged_to is None
        assert caller.entries[-2].text == "(the line hung up)"
        assert sim.webhooks("voice")[0].status_code == 200
        assert sim.webhooks("voice-fallback") == []


@pytest.mark.parametrize("fallback_number", ["", "07700900999"])
def test_when_the_voice_webhook_does_not_answer_twilios_fallback_url_serves_the_caller(
    tmp_path: Path, clock: FakeClock, fallback_number: str
) -> None:
    with _line_without_database(tmp_path, clock, FALLBACK_NUMBER=fallback_number) as sim:
        sim.fail_next_webhooks(f"{BASE}/webhooks/voice", count=1)  # no answer within 15 s
        sim.phone(FALLBACK).will_not_answer()
        caller = sim.phone(DANIEL).call(LINE)

        sim.expect_error("did not answer within 15 s")
        sim.expect_error("no TwiML")
        (fallback,) = sim.webhooks("voice-fallback")
        assert fallback.params["ErrorCode"] == "11205"
        assert fallback.params["ErrorUrl"] == f"{BASE}/webhooks/voice"
        assert fallback.ok
        if fallback_number:
            # It tries the fallback number first; unanswered, the caller hears the numbers.
            sim.phone(FALLBACK).expect_call(answered=False)
        _assert_heard_the_crisis_numbers(caller.heard_text)
        assert "application error" not in caller.heard_text


def _assert_heard_the_crisis_numbers(heard: str) -> None:
    for words in ("9 9 9", "NHS 1 1 1", "option 2", "Samaritans", "1 1 6, 1 2 3", "SHOUT"):
        assert words in heard, words
    assert "8 5 2 5 8" in heard


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


# ---- Twilio's requests posted by the test (safety reviews) ------------------------------------


@pytest.fixture
def call_line(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[Line]:
    """The same line without the simulator's clock hook, every phone free to hold what a test
    does not read: for the hazard tests below, which post Twilio's requests themselves."""
    with simulated_twilio(tmp_path, database_url, clock, ACCOUNT_SID) as (app, sim):
        for number in (PRIMARY, BACKUP, MANAGER, DANIEL, STRANGER):
            sim.phone(number).ignore_unexpected()
        yield from populate(app, sim, clock)


def _post(client: FlaskClient, path: str, form: dict[str, str]) -> str:
    signed_path = path
    response = client.post(
        path, data=form, headers={"X-Twilio-Signature": _sign(signed_path, form)}
    )
    assert response.status_code in (200, 204), response.status_code
    return response.get_data(as_text=True)


def _abandoned_call(client: FlaskClient, sid: str, number: str) -> None:
    _post(client, "/webhooks/voice", {"CallSid": sid, "From": number, "To": LINE})
    _post(
        client,
        "/webhooks/voice/status",
        {"CallSid": sid, "CallStatus": "completed", "CallDuration": "10"},
    )


def _voice(line: Line, path: str, form: dict[str, str]) -> str:
    response = line.app.test_client().post(
        path, data=form, headers={"X-Twilio-Signature": _sign(path, form)}
    )
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def _action_path(twiml: str) -> str:
    match = re.search(r'<Dial [^>]*action="https://crisis\.example\.org([^"]+)"', twiml)
    assert match, twiml
    return match.group(1).replace("&amp;", "&")


def _missed_call(line: Line, sid: str, caller: str, recording: str | None) -> None:
    """A call nobody answers: every step rings out, then the fallback and maybe a voicemail."""
    twiml = _voice(
        line,
        "/webhooks/voice",
        {"CallSid": sid, "From": caller, "To": LINE, "CallStatus": "ringing"},
    )
    while "<Dial" in twiml:
        line.clock.advance(dt.timedelta(seconds=20))
        twiml = _voice(
            line,
            _action_path(twiml),
            {"CallSid": sid, "CallStatus": "in-progress", "DialCallStatus": "no-answer"},
        )
    assert "<Record" in twiml
    if recording is not None:
        _voice(
            line,
            "/webhooks/voice/voicemail",
            {"CallSid": sid, "RecordingUrl": recording, "RecordingDuration": "40"},
        )
    status = {"CallSid": sid, "CallStatus": "completed", "CallDuration": "120"}
    line.app.test_client().post(
        "/webhooks/voice/status",
        data=status,
        headers={"X-Twilio-Signature": _sign("/webhooks/voice/status", status)},
    )


# ---- calling a missed call back through the line (safety reviews) -----------------------------


@pytest.mark.hazard("H55")
def test_the_call_back_menu_key_dials_the_caller_the_staff_member_heard_not_a_newer_one(
    call_line: Line,
) -> None:
    """/call-back recomputes the menu at keypress time (newest first): a missed call that
    arrives while the worker listens shifts every entry, so "Press 1 to call back Daniel"
    dials, acknowledges (and plays the voicemail of) someone else."""
    client = call_line.app.test_client()
    _abandoned_call(client, "CA" + "1" * 32, DANIEL)
    menu = _post(client, "/webhooks/voice", {"CallSid": "CA" + "2" * 32, "From": PRIMARY})
    assert "Press 1 to call back Daniel, R1001" in menu
    found = re.search(r"call-back\?call=(\d+)", menu)
    assert found is not None, "the menu offers no call-back"
    call_id = found.group(1)

    call_line.clock.advance(dt.timedelta(seconds=5))
    _abandoned_call(client, "CA" + "3" * 32, STRANGER)  # while the worker listens

    answer = _post(
        client,
        f"/webhooks/voice/call-back?call={call_id}",
        {"CallSid": "CA" + "2" * 32, "Digits": "1"},
    )
    assert DANIEL in answer, f"pressing 1 for Daniel dialled: {answer}"


@pytest.mark.hazard("H55")
def test_an_unreturned_missed_call_stays_on_the_call_back_menu(
    call_line: Line,
) -> None:
    """call_back_choices lists acknowledged (already returned) missed calls too, newest first,
    five at most: five returned calls push an older call nobody has returned off the menu, so
    staff cannot return it through the line (and may ring from their own phone instead)."""
    client = call_line.app.test_client()
    _abandoned_call(client, "CA" + "a" * 32, DANIEL)
    for n in range(5):
        call_line.clock.advance(dt.timedelta(minutes=1))
        _abandoned_call(client, f"CA{n:032d}", f"+44770090078{n}")
        # Each newer one is returned at once through the line (newest is option 1).
        staff_sid = f"CB{n:032d}"
        menu = _post(client, "/webhooks/voice", {"CallSid": staff_sid, "From": BACKUP})
        found = re.search(r"call-back\?call=(\d+)", menu)
        assert found is not None, "the menu offers no call-back"
        call_id = found.group(1)
        _post(
            client,
            f"/webhooks/voice/call-back?call={call_id}",
            {"CallSid": staff_sid, "Digits": "1"},
        )
    menu = _post(client, "/webhooks/voice", {"CallSid": "CC" + "0" * 32, "From": PRIMARY})
    assert "Daniel" in menu, f"Daniel's unreturned missed call is not offered: {menu}"


@pytest.mark.hazard("H67")
def test_a_withheld_callers_voicemail_can_be_heard_by_calling_the_line(
    call_line: Line,
) -> None:
    """A man rings from a withheld number at 3 a.m., nobody answers, and he leaves a message:
    "It's Daniel, my phone's been cut off, ring me at my sister's on 07700 900...".

    The missed-call text tells on-call staff "voicemail left (call the line to hear it)", but
    the staff call-back menu lists only missed calls with a number (`_missed_calls` filters
    `Contact.from_number IS NOT NULL`): the line answers "There are no missed calls to return"
    and the message can never be heard. He was told "someone will call you back".
    """
    recording = "https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE" + "4" * 32
    _missed_call(call_line, "CA" + "4" * 32, "anonymous", recording)
    (missed,) = [e for e in call_line.escalations() if e.subject_type == "missed_call"]
    # The text carries the link that plays the message; the line plays it too.
    assert "voicemail left: https://crisis.example.org/voicemail/" in missed.summary

    menu = _voice(
        call_line,
        "/webhooks/voice",
        {
            "CallSid": "CA" + "5" * 32,
            "From": PRIMARY,
            "To": LINE,
            "CallStatus": "ringing",
        },
    )
    assert "no missed calls" not in menu, menu
    assert "Press 1" in menu, menu


@pytest.mark.hazard("H73")
def test_calling_a_participant_back_settles_all_his_missed_calls_not_just_the_newest(
    call_line: Line,
) -> None:
    """Daniel rings twice in ten minutes and nobody answers either call: two missed-call
    escalations. Amira calls him back through the line (key 1: his newest call) and talks to
    him; the older escalation is untouched and goes on to the backup and the duty manager and
    ends as an "unanswered" safety incident, for a man who has just been called back.
    """
    _missed_call(call_line, "CA" + "6" * 32, DANIEL, None)
    call_line.clock.advance(dt.timedelta(minutes=2))
    _missed_call(call_line, "CA" + "7" * 32, DANIEL, None)
    missed = [e for e in call_line.escalations() if e.subject_type == "missed_call"]
    assert len(missed) == 2

    sid = "CA" + "8" * 32
    menu = _voice(
        call_line,
        "/webhooks/voice",
        {"CallSid": sid, "From": PRIMARY, "To": LINE, "CallStatus": "ringing"},
    )
    action = re.search(r'<Gather [^>]*action="https://crisis\.example\.org([^"]+)"', menu)
    assert action, menu
    dialled = _voice(
        call_line, action.group(1).replace("&amp;", "&"), {"CallSid": sid, "Digits": "1"}
    )
    assert DANIEL in dialled

    statuses = [e.status for e in call_line.escalations() if e.subject_type == "missed_call"]
    assert statuses == ["acknowledged", "acknowledged"], statuses


@pytest.mark.hazard("H58")
def test_a_returned_missed_call_frees_its_reply_codes_eventually(
    call_line: Line,
) -> None:
    """Codes are freed only when an escalation is *closed*. A missed call returned through the
    line is acknowledged and nothing ever closes it (no idle close, unlike texts), and the
    same holds for acknowledged risk alerts nobody resolves: every phone's codes only grow
    (1, 2, 3 ... 9999, then unparseable), and bare "a"/"c" keep resolving to stale rows."""
    client = call_line.app.test_client()
    _abandoned_call(client, "CA" + "5" * 32, DANIEL)
    menu = _post(client, "/webhooks/voice", {"CallSid": "CA" + "6" * 32, "From": PRIMARY})
    found = re.search(r"call-back\?call=(\d+)", menu)
    assert found is not None, "the menu offers no call-back"
    call_id = found.group(1)
    _post(
        client,
        f"/webhooks/voice/call-back?call={call_id}",
        {"CallSid": "CA" + "6" * 32, "Digits": "1"},
    )
    svc = call_line.svc
    for _ in range(8):  # a week of the scheduler's upkeep
        call_line.clock.advance(dt.timedelta(days=1))
        Jobs(svc).sweep_escalations()
        sms_conversations.upkeep(svc.db, svc.clock.now(), svc.reach, dt.timedelta(hours=24))
    with svc.db.transaction() as session:
        live = session.scalars(
            select(EscalationCode.code).where(
                EscalationCode.phone == PRIMARY, EscalationCode.active.is_(True)
            )
        ).all()
    assert live == [], f"a week after the call was returned the primary still holds codes {live}"


# ---- requests repeated, failed or too late (safety reviews) -----------------------------------


@pytest.mark.hazard("H71")
def test_a_repeated_dial_action_does_not_skip_the_backup(call_line: Line) -> None:
    """The Dial action carries nothing saying which ring it ends.

    `dial_finished` moves the chain on every time it is posted: the same action for the
    primary's ring, delivered twice (a retry, a proxy), moves past the backup to the duty
    manager, so the backup's phone never rings for this caller.
    """
    sid = "CA" + "1" * 32
    first = _voice(
        call_line,
        "/webhooks/voice",
        {"CallSid": sid, "From": DANIEL, "To": LINE, "CallStatus": "ringing"},
    )
    assert PRIMARY in first
    path = _action_path(first)
    ended = {"CallSid": sid, "CallStatus": "in-progress", "DialCallStatus": "no-answer"}
    second = _voice(call_line, path, ended)
    assert BACKUP in second
    again = _voice(call_line, path, ended)
    assert BACKUP in again and MANAGER not in again, again


@pytest.mark.hazard("H72")
def test_pressing_1_after_the_caller_hung_up_does_not_turn_an_abandoned_call_into_answered(
    call_line: Line,
) -> None:
    """The caller gives up just as the worker, still in the screening prompt, presses 1.

    The status callback has already recorded the call as abandoned and opened its missed-call
    escalation; `accept` then overwrites the record as answered by the worker (answered_at after
    ended_at), and the worker is told nothing: the leg is 'bridged' to a caller who is gone.
    """
    sid = "CA" + "2" * 32
    first = _voice(
        call_line,
        "/webhooks/voice",
        {"CallSid": sid, "From": DANIEL, "To": LINE, "CallStatus": "ringing"},
    )
    screen = re.search(r'url="https://crisis\.example\.org([^"]+)"', first)
    assert screen
    query = screen.group(1).replace("&amp;", "&").split("?", 1)[1]
    call_line.clock.advance(dt.timedelta(seconds=25))
    status = {"CallSid": sid, "CallStatus": "completed", "CallDuration": "25"}
    response = call_line.app.test_client().post(
        "/webhooks/voice/status",
        data=status,
        headers={"X-Twilio-Signature": _sign("/webhooks/voice/status", status)},
    )
    assert response.status_code == 204
    assert call_line.contact().outcome == "abandoned"

    said = _voice(
        call_line,
        f"/webhooks/voice/screen/answer?{query}",
        {"CallSid": "CA" + "3" * 32, "Digits": "1", "To": PRIMARY},
    )
    contact = call_line.contact()
    assert contact.outcome == "abandoned", contact.outcome
    assert contact.answered_at is None
    assert "<Say" in said  # the worker is told the caller has gone, not bridged to nothing


@pytest.mark.hazard("H57")
def test_an_abandoned_call_is_chased_even_if_its_status_callback_fails_once(
    call_line: Line, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/webhooks/voice/status is not fail-safe and nothing reconciles afterwards: if the one
    status callback Twilio sends (it does not retry them) meets a database error, the caller
    who hung up while it rang is never chased (H18). A sweep of LiveCalls that ended with
    neither an acceptance nor a missed-call escalation would catch it."""
    client = call_line.app.test_client()
    sid = "CA" + "7" * 32
    _post(client, "/webhooks/voice", {"CallSid": sid, "From": DANIEL})
    real = engine.open_escalation
    failures = iter([True])

    def flaky(*args: object, **kwargs: object) -> object:
        if next(failures, False):
            raise OperationalError("INSERT INTO escalations", {}, Exception("database is locked"))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "open_escalation", flaky)
    done = {"CallSid": sid, "CallStatus": "completed", "CallDuration": "20"}
    # Under TESTING Flask re-raises; in production Twilio gets a 500 and does not retry.
    with contextlib.suppress(OperationalError):
        client.post(
            "/webhooks/voice/status",
            data=done,
            headers={"X-Twilio-Signature": _sign("/webhooks/voice/status", done)},
        )
    svc = call_line.svc
    for _ in range(10):  # ten minutes of the scheduler
        call_line.clock.advance(dt.timedelta(minutes=1))
        Jobs(svc).sweep_escalations()
        Jobs(svc).audit_escalations()
        sms_conversations.upkeep(svc.db, svc.clock.now(), svc.reach, dt.timedelta(hours=24))
    with svc.db.transaction() as session:
        missed = session.scalars(
            select(EscalationRecord).where(EscalationRecord.subject_type == "missed_call")
        ).all()
    assert missed, "the abandoned call was never chased"
