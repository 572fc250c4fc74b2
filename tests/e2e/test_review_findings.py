"""Regression tests for the safety review's findings (docs/hazard-log.md, H50 to H58).

Each test was written by the review to demonstrate a defect, failed until it was fixed, and now
keeps it fixed. The docstrings describe the defect as it was found.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from crisisline import escalation_engine as engine
from crisisline import rota_service, sms_conversations
from crisisline import staff as staff_service
from crisisline.app import create_app
from crisisline.clock import FakeClock
from crisisline.escalation_models import EscalationCode, EscalationRecord
from crisisline.logs import configure_logging
from crisisline.simulator import Phone
from tests.e2e.test_calls import _sign
from tests.support import call_line as calls_e2e
from tests.support.app import make_settings, services_of, signed_post
from tests.support.simulated_twilio import simulated_twilio
from tests.support.sms_line import (
    ACK,
    BACKUP,
    DANIEL,
    MANAGER,
    MARCUS,
    PRIMARY,
    STEP_WAIT,
    SmsLine,
    start_line,
)


@pytest.fixture
def line(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[SmsLine]:
    for generated in start_line(tmp_path, database_url, clock):
        # These tests assert on what matters to each finding, not on every text sent.
        for phone in line_phones(generated):
            phone.ignore_unexpected()
        yield generated


def line_phones(line: SmsLine) -> list[Phone]:
    return [line.phone(n) for n in (PRIMARY, BACKUP, MANAGER, DANIEL, MARCUS)]


def _conversation_status(line: SmsLine, phone: str) -> str:
    (conversation,) = [c for c in line.conversations() if c.phone == phone]
    return conversation.status


def _escalation_status(line: SmsLine, phone: str) -> str:
    (conversation,) = [c for c in line.conversations() if c.phone == phone]
    with line.svc.db.transaction() as session:
        record = session.get_one(EscalationRecord, conversation.escalation_id)
        return record.status


# ---- reply codes ------------------------------------------------------------------------------


def test_bare_c_closes_the_conversation_whose_code_was_sent_last_not_another_participants(
    line: SmsLine,
) -> None:
    """docs/sms.md: "a, c: take or close the last code sent to you".

    act_by_phone resolves a bare "c" to the newest EscalationCode *row*, i.e. the escalation
    that first reached this phone most recently, not the code most recently texted. Here the
    last text the primary received was Daniel's (code 1), yet "c" closes Marcus's (code 2),
    silently ending the chase of a participant nobody has answered.
    """
    line.text(DANIEL, "I need to talk")
    line.dispatch()
    line.clock.advance(dt.timedelta(seconds=40))
    line.text(MARCUS, "can someone ring me")
    line.dispatch()
    line.clock.advance(dt.timedelta(seconds=40))
    line.text(DANIEL, "please, it's bad")
    line.dispatch()
    last = line.phone(PRIMARY).inbox[-1]
    assert "(1): please, it's bad" in last.body  # the last code texted to the primary is 1

    line.phone(PRIMARY).reply("c")
    line.dispatch()

    assert _escalation_status(line, MARCUS) == "open", "Marcus's unanswered text was closed"
    assert _conversation_status(line, MARCUS) == "open"
    assert _escalation_status(line, DANIEL) == "closed"


def test_bare_a_after_a_later_step_renotifies_takes_that_escalation_not_the_newer_one(
    line: SmsLine,
) -> None:
    """Step 2 of crisis-sms texts the primary Daniel's words again with code 1; "a" takes 2."""
    line.text(DANIEL, "I need to talk")
    line.dispatch()
    line.clock.advance(dt.timedelta(seconds=60))
    line.text(MARCUS, "can someone ring me")
    line.dispatch()
    # Daniel's first step runs out: step two re-texts the primary (code 1) and the backup.
    line.wait(STEP_WAIT - dt.timedelta(seconds=60))
    last = line.phone(PRIMARY).inbox[-1]
    assert "Reply 1 and your message" in last.body

    line.phone(PRIMARY).reply("a")
    line.dispatch()

    assert _escalation_status(line, DANIEL) == "acknowledged"
    assert _escalation_status(line, MARCUS) == "open", "Marcus's text was taken by mistake"


def test_a_code_just_freed_is_not_given_straight_to_another_participant_on_the_same_phone(
    line: SmsLine,
) -> None:
    """Codes are the lowest free number, reused the moment a conversation closes.

    All texts arrive in one thread from the crisis number, so a worker who scrolls up and
    answers Daniel's old relay with "1 ..." after Daniel's conversation closed sends Daniel's
    words to Marcus, who now holds code 1 (H23: a worker's message to the wrong participant).
    """
    line.text(DANIEL, "I need to talk")
    line.dispatch()
    line.phone(PRIMARY).reply("1 Hi Daniel, Amira here. Is your probation hostel still Elm House?")
    line.dispatch()
    line.phone(PRIMARY).reply("1c")
    line.dispatch()
    assert _conversation_status(line, DANIEL) == "closed"

    line.clock.advance(dt.timedelta(minutes=2))
    line.text(MARCUS, "can someone ring me")
    line.dispatch()
    # The worker answers Daniel's thread, as they believe, two minutes after closing it.
    line.phone(PRIMARY).reply("1 Daniel, I've booked your appointment with Dr Khan for 10am")
    line.dispatch()

    received = [m.body for m in line.phone(MARCUS).inbox]
    assert not any("Daniel" in body for body in received), (
        f"Marcus received a message meant for Daniel: {received}"
    )


# ---- staff deactivated mid-conversation --------------------------------------------------------


def test_a_deactivated_worker_no_longer_receives_the_participants_texts(line: SmsLine) -> None:
    """Deactivating staff (a leaver, a lost or stolen phone) leaves their codes live.

    _staff_to_tell relays to every active *code*, whatever the staff member's state, and
    _handed_over asks is_on_call, which does not check `active`: so the participant's words
    keep going to the deactivated phone and nobody active is told. The deactivated worker
    cannot even reply (their texts are now treated as a stranger's crisis texts).
    """
    line.text(DANIEL, "I need to talk")
    line.dispatch()
    line.phone(PRIMARY).reply("1 I'm here Daniel")
    line.dispatch()
    with line.svc.db.transaction() as session:
        staff_service.deactivate(session, line.ids[PRIMARY], actor="t", now=line.clock.now())
    line.clock.advance(dt.timedelta(minutes=40))
    before = len(line.phone(PRIMARY).inbox)

    line.text(DANIEL, "I've taken all my tablets")
    line.dispatch()

    leaked = [m.body for m in line.phone(PRIMARY).inbox[before:]]
    assert not any("tablets" in body for body in leaked), (
        f"a deactivated worker's phone received the participant's words: {leaked}"
    )
    reached = [
        m.body for n in (BACKUP, MANAGER) for m in line.phone(n).inbox if "tablets" in m.body
    ]
    assert reached, "no active member of staff was given the participant's text"


# ---- a chase that has run out ------------------------------------------------------------------


def test_a_new_text_after_the_chain_ran_out_is_chased_again(line: SmsLine) -> None:
    """After crisis-sms is exhausted, later texts in the same conversation are only relayed.

    _participant_text hands over only an *acknowledged* conversation; an exhausted one just
    relays to the people who already ignored nine notifications. No escalation, no call, no
    incident and no acknowledgement to the participant: the conversation stays open (it is
    never idle while he keeps texting), so he can text for days and nobody is chased.
    """
    line.text(DANIEL, "I need to talk")
    line.dispatch()
    for _ in range(9):  # three steps, three rounds
        line.wait(STEP_WAIT)
    assert _escalation_status(line, DANIEL) == "exhausted"

    line.clock.advance(dt.timedelta(hours=2))
    line.text(DANIEL, "is anyone there? I'm on the bridge")
    line.dispatch()

    with line.svc.db.transaction() as session:
        open_ = session.scalars(
            select(EscalationRecord).where(
                EscalationRecord.subject_type == "sms_conversation",
                EscalationRecord.status == "open",
            )
        ).all()
    assert open_, "a participant's new text after exhaustion is not chased by anyone"


# ---- calling back a missed call through the line -----------------------------------------------


STRANGER = "+447700900777"


@pytest.fixture
def call_line(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[calls_e2e.Line]:
    with simulated_twilio(tmp_path, database_url, clock, calls_e2e.ACCOUNT_SID) as (app, sim):
        for number in (PRIMARY, BACKUP, MANAGER, calls_e2e.DANIEL, STRANGER):
            sim.phone(number).ignore_unexpected()
        yield from calls_e2e.populate(app, sim, clock)


def _post(client: FlaskClient, path: str, form: dict[str, str]) -> str:
    signed_path = path
    response = client.post(
        path, data=form, headers={"X-Twilio-Signature": _sign(signed_path, form)}
    )
    assert response.status_code in (200, 204), response.status_code
    return response.get_data(as_text=True)


def _abandoned_call(client: FlaskClient, sid: str, number: str) -> None:
    _post(client, "/webhooks/voice", {"CallSid": sid, "From": number, "To": calls_e2e.LINE})
    _post(
        client,
        "/webhooks/voice/status",
        {"CallSid": sid, "CallStatus": "completed", "CallDuration": "10"},
    )


def test_the_call_back_menu_key_dials_the_caller_the_staff_member_heard_not_a_newer_one(
    call_line: calls_e2e.Line,
) -> None:
    """/call-back recomputes the menu at keypress time (newest first): a missed call that
    arrives while the worker listens shifts every entry, so "Press 1 to call back Daniel"
    dials, acknowledges (and plays the voicemail of) someone else."""
    client = call_line.app.test_client()
    _abandoned_call(client, "CA" + "1" * 32, calls_e2e.DANIEL)
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
    assert calls_e2e.DANIEL in answer, f"pressing 1 for Daniel dialled: {answer}"


def test_an_unreturned_missed_call_stays_on_the_call_back_menu(
    call_line: calls_e2e.Line,
) -> None:
    """call_back_choices lists acknowledged (already returned) missed calls too, newest first,
    five at most: five returned calls push an older call nobody has returned off the menu, so
    staff cannot return it through the line (and may ring from their own phone instead)."""
    client = call_line.app.test_client()
    _abandoned_call(client, "CA" + "a" * 32, calls_e2e.DANIEL)
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


# ---- "not me" (key 5) pressed by two people of one step ----------------------------------------


def test_two_people_of_one_step_pressing_5_pass_it_on_once_not_twice(line: SmsLine) -> None:
    """escalate_now fires the step after the *current* one, whoever presses and for whichever
    step their call was: the primary and the backup, both called at step two, each pressing 5
    ("not me") skip the duty manager's whole wait and restart the chain at once."""
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


# ---- an empty rota straight after an earlier conversation --------------------------------------


def test_with_nobody_on_call_the_crisis_numbers_go_even_soon_after_an_earlier_acknowledgement(
    line: SmsLine,
) -> None:
    """_auto_reply rate-limits the acknowledgement and the fallback together (10 minutes per
    number). A conversation closed a few minutes ago used up the allowance, so when the next
    one reaches nobody (a gap in every rota) the participant is not sent the crisis numbers:
    silence, where H20 promises the crisis numbers at once."""
    line.text(DANIEL, "I need to talk")
    line.dispatch()
    line.phone(DANIEL).expect_sms(ACK)
    line.phone(PRIMARY).reply("1 Hi Daniel, call you tomorrow")
    line.phone(PRIMARY).reply("1c")
    line.dispatch()
    now = line.clock.now()
    with line.svc.db.transaction() as session:
        for name in ("primary", "backup", "duty-manager"):
            rota_service.add_override(
                session,
                line.ids[name],
                rota_service.NewOverride(
                    staff_id=None,
                    start=now,
                    end=now + dt.timedelta(hours=12),
                    mode="replace",
                    reason="gap",
                ),
                actor="t",
                now=now,
            )
    line.clock.advance(dt.timedelta(minutes=3))
    line.text(DANIEL, "actually it's got worse")
    line.dispatch()
    second = [c for c in line.conversations() if c.status == "open"]
    assert len(second) == 1
    with line.svc.db.transaction() as session:
        reached = session.get_one(EscalationRecord, second[0].escalation_id)
        assert reached.status == "exhausted"  # nobody on call: the chain reached nobody
    bodies = [m.body for m in line.phone(DANIEL).inbox]
    assert any("116 123" in body for body in bodies), (
        f"nobody is on call and the participant got no crisis numbers: {bodies}"
    )


# ---- codes held for ever -------------------------------------------------------------------------


def test_a_returned_missed_call_frees_its_reply_codes_eventually(
    call_line: calls_e2e.Line,
) -> None:
    """Codes are freed only when an escalation is *closed*. A missed call returned through the
    line is acknowledged and nothing ever closes it (no idle close, unlike texts), and the
    same holds for acknowledged risk alerts nobody resolves: every phone's codes only grow
    (1, 2, 3 ... 9999, then unparseable), and bare "a"/"c" keep resolving to stale rows."""
    client = call_line.app.test_client()
    _abandoned_call(client, "CA" + "5" * 32, calls_e2e.DANIEL)
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
        svc.sweep_escalations()
        sms_conversations.upkeep(svc.db, svc.clock.now(), svc.reach, dt.timedelta(hours=24))
    with svc.db.transaction() as session:
        live = session.scalars(
            select(EscalationCode.code).where(
                EscalationCode.phone == PRIMARY, EscalationCode.active.is_(True)
            )
        ).all()
    assert live == [], f"a week after the call was returned the primary still holds codes {live}"


# ---- the status callback is the only thing that chases an abandoned call -------------------------


def test_an_abandoned_call_is_chased_even_if_its_status_callback_fails_once(
    call_line: calls_e2e.Line, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/webhooks/voice/status is not fail-safe and nothing reconciles afterwards: if the one
    status callback Twilio sends (it does not retry them) meets a database error, the caller
    who hung up while it rang is never chased (H18). A sweep of LiveCalls that ended with
    neither an acceptance nor a missed-call escalation would catch it."""
    client = call_line.app.test_client()
    sid = "CA" + "7" * 32
    _post(client, "/webhooks/voice", {"CallSid": sid, "From": calls_e2e.DANIEL})
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
        svc.sweep_escalations()
        svc.audit_escalations()
        sms_conversations.upkeep(svc.db, svc.clock.now(), svc.reach, dt.timedelta(hours=24))
    with svc.db.transaction() as session:
        missed = session.scalars(
            select(EscalationRecord).where(EscalationRecord.subject_type == "missed_call")
        ).all()
    assert missed, "the abandoned call was never chased"


# ---- logs ------------------------------------------------------------------------------------


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the configured (redacting) stderr handler writes, captured in a buffer."""
    root = logging.getLogger()
    before = list(root.handlers)
    for handler in before:
        root.removeHandler(handler)
    try:
        configure_logging()
        buffer = io.StringIO()
        for handler in root.handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(buffer)
        yield buffer
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in before:
            root.addHandler(handler)


def test_a_failing_voice_webhook_logs_no_full_phone_number(
    log_output: io.StringIO, tmp_path: Path, clock: FakeClock
) -> None:
    """H3: RedactingFilter rewrites record.msg only; log.exception's traceback (exc_info) is
    formatted afterwards, unredacted. A database error carries its SQL parameters, so a voice
    webhook failure (webhooks/voice.py:37), and likewise a failing scheduler job
    (escalation/scheduler.py:83, e.g. the outbox with a participant's words), writes full
    phone numbers and message bodies to the logs."""
    # A database without its tables: every query fails with the parameters in the message.
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path}/not-migrated.db")
    app = create_app({"TESTING": True}, settings=settings, clock=clock)
    try:
        form = {"CallSid": "CA" + "4" * 32, "From": DANIEL, "To": "+447700900000"}
        response = signed_post(app.test_client(), "/webhooks/voice", form)
        assert response.status_code == 200  # the caller still hears the crisis numbers
        err = log_output.getvalue()
    finally:
        services_of(app).db.dispose()
    assert "voice webhook" in err
    assert DANIEL not in err, "the caller's full number is in the log"
