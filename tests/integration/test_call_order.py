"""Crisis-call webhooks in the orders Twilio may send them, through the real signed webhooks.

Twilio may deliver a call's Record action, its Dial action and its final status callback in
any order, and for one call at the same moment: whatever the order, staff learn a voicemail was
left, a finished call's record is never rewritten, and a missed call is escalated once.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select
from werkzeug.test import TestResponse

from crisisline import calls, escalation_engine, participants
from crisisline.alert_models import RiskAlert
from crisisline.call_models import LiveCall
from crisisline.clock import FakeClock
from crisisline.escalation_models import EscalationCode, EscalationRecord
from crisisline.models import Contact, Delivery, RiskLevel, Staff
from crisisline.risk_rules import VOICEMAIL_AT_NIGHT
from crisisline.services import Services
from escalation import ByPhone, Reach
from tests.support.app import services_of, signed_post
from tests.support.three_rotas import add_three_rotas

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
    add_three_rotas(services, clock)
    with services.db.transaction() as session:
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
    escalation_engine.sweep_due(svc.db, clock.now(), svc.reach)
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
        escalation_engine.acknowledge_escalation(
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
        escalation_engine.acknowledge_escalation(
            session, missed.id, ByPhone(PRIMARY, code), clock.now(), svc.reach
        )
        held = session.scalars(
            select(Delivery).where(
                Delivery.to_number == PRIMARY, Delivery.purpose == escalation_engine.BUNDLE_PURPOSE
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


# ---- two webhooks for one call at the same moment ---------------------------------------------
#
# On PostgreSQL each webhook runs in its own transaction under READ COMMITTED; without a lock on
# the live call, two of them could each read "no missed-call escalation yet" and both open one,
# or a press of 1 and the final status callback could each decide the call their way. SQLite
# already lets one writer in at a time (BEGIN IMMEDIATE); the tests run on both engines.

# How long a webhook that has read the live call waits for the other to read it too. With
# the lock the other is blocked in its read, so the first goes on after this.
MEET_SECONDS = 1.5


@contextmanager
def meeting_after_reading_the_call(svc: Services, threads: set[int]) -> Iterator[None]:
    """In each of `threads`, after its first read of the live call, wait for the other's."""
    barrier = threading.Barrier(2)
    met: set[int] = set()

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        me = threading.get_ident()
        if me in threads and me not in met and statement.startswith("SELECT calls."):
            met.add(me)
            # Broken: the other is waiting for this transaction's lock, so go on alone.
            with suppress(threading.BrokenBarrierError):
                barrier.wait(MEET_SECONDS)

    event.listen(svc.db.engine, "after_cursor_execute", after)
    try:
        yield
    finally:
        event.remove(svc.db.engine, "after_cursor_execute", after)


def _at_once(svc: Services, app: Flask, *posts: tuple[str, dict[str, str]]) -> list[int]:
    """POST each (path, form) from its own thread at the same moment; their status codes."""
    codes: list[int] = []
    errors: list[BaseException] = []

    def post(path: str, form: dict[str, str]) -> Callable[[], None]:
        def run() -> None:
            try:
                codes.append(signed_post(app.test_client(), path, form).status_code)
            except BaseException as error:  # a failure in a thread must fail the test
                errors.append(error)

        return run

    threads = [threading.Thread(target=post(path, form)) for path, form in posts]
    idents: set[int] = set()
    with meeting_after_reading_the_call(svc, idents):
        for thread in threads:
            thread.start()
            assert thread.ident is not None
            idents.add(thread.ident)
        for thread in threads:
            thread.join(30)
    assert errors == []
    return codes


def test_a_voicemail_and_the_final_status_at_once_escalate_the_missed_call_once(
    svc: Services, app: Flask, clock: FakeClock
) -> None:
    client = app.test_client()
    _to_fallback(client, clock)
    clock.advance(dt.timedelta(seconds=40))
    voicemail = {"CallSid": CALL_SID, "RecordingUrl": RECORDING, "RecordingDuration": "31"}
    status = {"CallSid": CALL_SID, "CallStatus": "completed", "CallDuration": "130"}

    codes = _at_once(
        svc, app, ("/webhooks/voice/voicemail", voicemail), ("/webhooks/voice/status", status)
    )

    assert sorted(codes) == [200, 204]
    missed = _missed(svc)
    assert len(missed) == 1
    assert "voicemail left" in missed[0].summary


def test_a_press_of_1_and_the_final_status_at_once_agree_on_what_happened(
    svc: Services, app: Flask, clock: FakeClock
) -> None:
    client = app.test_client()
    _incoming(client)
    with svc.db.transaction() as session:
        primary = session.scalars(select(Staff.id).where(Staff.phone == PRIMARY)).one()
        call_id = session.scalars(select(Contact.id)).one()  # one call: ids line up
    clock.advance(dt.timedelta(seconds=8))
    press = {"CallSid": "CA" + "9" * 32, "Digits": "1"}
    status = {"CallSid": CALL_SID, "CallStatus": "completed", "CallDuration": "8"}

    _at_once(
        svc,
        app,
        (f"/webhooks/voice/screen/answer?call={call_id}&staff={primary}", press),
        ("/webhooks/voice/status", status),
    )

    with svc.db.transaction() as session:
        contact = session.scalars(select(Contact)).one()
        live = session.scalars(select(LiveCall)).one()
        outcome, accepted = contact.outcome, live.accepted_staff_id is not None
    seen = (outcome, accepted, len(_missed(svc)))
    # Either the press came first (answered, nothing to chase) or the hang-up did (abandoned,
    # chased once, the press refused): never a call taken by a worker and chased as missed.
    assert seen in (("answered", True, 0), ("abandoned", False, 1))


# ---- the final status ---------------------------------------------------------------------------


def test_the_first_final_status_is_kept_on_the_record_and_shown_by_the_api(
    svc: Services, client: FlaskClient, clock: FakeClock, auth: dict[str, str]
) -> None:
    _incoming(client)
    clock.advance(dt.timedelta(seconds=6))
    _status(client, "canceled", "6")  # the caller gave up while the primary's phone rang
    ended_at = clock.now()
    # A repeat, then a different final status out of order: neither changes anything.
    clock.advance(dt.timedelta(seconds=30))
    _status(client, "canceled", "6")
    _status(client, "completed", "40")
    # A status that is not final is acknowledged and ignored.
    _status(client, "in-progress", "")

    with svc.db.transaction() as session:
        contact = session.scalars(select(Contact)).one()
        assert (contact.call_status, contact.duration_seconds) == ("canceled", 6)
        assert contact.ended_at == ended_at
    (shown,) = client.get("/api/v1/contacts", headers=auth).get_json()
    assert shown["call_status"] == "canceled"
    assert shown["outcome"] == "abandoned"
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "call_status" in spec["components"]["schemas"]["Contact"]["properties"]


# ---- a staff call-back's outbound leg --------------------------------------------------------

STAFF_CALL_SID = "CA" + "4" * 32


def _call_back_dial(svc: Services, client: FlaskClient, clock: FakeClock) -> str:
    """Miss a call, then have the primary return it through the line: the Dial's action path."""
    _to_fallback(client, clock)
    _status(client)
    clock.advance(dt.timedelta(minutes=2))
    form = {"CallSid": STAFF_CALL_SID, "From": PRIMARY, "To": LINE, "CallStatus": "ringing"}
    assert "Press 1 to call back" in signed_post(client, "/webhooks/voice", form).text
    with svc.db.transaction() as session:
        staff_call = session.scalars(
            select(LiveCall.id).where(LiveCall.call_sid == STAFF_CALL_SID)
        ).one()
    choose = {"CallSid": STAFF_CALL_SID, "Digits": "1"}
    twiml = signed_post(client, f"/webhooks/voice/call-back?call={staff_call}", choose).text
    assert f">{DANIEL}</Dial>" in twiml
    action = re.search(r'<Dial action="https://crisis\.example\.org([^"]+)"', twiml)
    assert action is not None, twiml
    return html.unescape(action.group(1))


def _call_back_contact(svc: Services) -> Contact:
    with svc.db.transaction() as session:
        return session.scalars(select(Contact).where(Contact.outcome == "call_back")).one()


def _dial_ended(client: FlaskClient, path: str, status: str, duration: str) -> TestResponse:
    form = {
        "CallSid": STAFF_CALL_SID,
        "DialCallSid": "CA" + "6" * 32,
        "DialCallStatus": status,
        "DialCallDuration": duration,
    }
    response = signed_post(client, path, form)
    assert response.status_code == 200
    assert "<Hangup" in response.text
    return response


def test_a_call_back_the_participant_answers_is_completed_once_with_its_duration(
    svc: Services, client: FlaskClient, clock: FakeClock
) -> None:
    action = _call_back_dial(svc, client, clock)
    assert action.startswith("/webhooks/voice/call-back/done?contact=")
    (missed,) = _missed(svc)
    assert missed.status == "acknowledged"  # still taken at call-back, before the Dial runs
    started = _call_back_contact(svc)
    assert started.ended_at is None

    clock.advance(dt.timedelta(seconds=50))
    _dial_ended(client, action, "completed", "47")
    # Repeated, or another status later: the first stands.
    clock.advance(dt.timedelta(seconds=5))
    _dial_ended(client, action, "no-answer", "0")

    done = _call_back_contact(svc)
    assert done.duration_seconds == 47 and done.call_status == "completed"
    assert done.ended_at == clock.now() - dt.timedelta(seconds=5)
    assert done.answered_at == done.ended_at - dt.timedelta(seconds=47)


def test_a_call_back_nobody_answers_is_completed_as_not_answered(
    svc: Services, client: FlaskClient, clock: FakeClock
) -> None:
    action = _call_back_dial(svc, client, clock)
    clock.advance(dt.timedelta(seconds=30))
    _dial_ended(client, action, "no-answer", "0")
    done = _call_back_contact(svc)
    assert (done.call_status, done.answered_at, done.duration_seconds) == ("no-answer", None, 0)
    assert done.ended_at == clock.now()


@pytest.mark.parametrize(
    "query", ["", "?contact=", "?contact=abc", "?contact=%C2%B2", "?contact=99999999999999"]
)
def test_a_call_back_action_with_a_bad_contact_hangs_up_and_changes_nothing(
    svc: Services, client: FlaskClient, clock: FakeClock, query: str
) -> None:
    _call_back_dial(svc, client, clock)
    _dial_ended(client, "/webhooks/voice/call-back/done" + query, "completed", "30")
    assert _call_back_contact(svc).ended_at is None


def test_a_call_back_action_naming_another_contact_changes_nothing(
    svc: Services, client: FlaskClient, clock: FakeClock
) -> None:
    _call_back_dial(svc, client, clock)
    with svc.db.transaction() as session:
        caller_contact = session.scalars(
            select(Contact.id).where(Contact.twilio_sid == CALL_SID)
        ).one()
        before = session.get_one(Contact, caller_contact).duration_seconds
    path = f"/webhooks/voice/call-back/done?contact={caller_contact}"
    _dial_ended(client, path, "completed", "300")
    with svc.db.transaction() as session:
        assert session.get_one(Contact, caller_contact).duration_seconds == before
    assert _call_back_contact(svc).ended_at is None


# ---- ids in the URLs the service writes --------------------------------------------------------


@pytest.mark.parametrize("number", ["%C2%B2", "%D9%A3", "99999999999999999999999"])
def test_a_screening_url_with_a_number_that_is_not_an_id_hangs_up_the_staff_leg(
    svc: Services, client: FlaskClient, clock: FakeClock, number: str
) -> None:
    _incoming(client)
    leg = {"CallSid": "CA" + "9" * 32, "Digits": "1"}
    for path in ("/webhooks/voice/screen", "/webhooks/voice/screen/answer"):
        response = signed_post(client, f"{path}?call={number}&staff=1", leg)
        assert response.status_code == 200
        assert "<Hangup" in response.text
    with svc.db.transaction() as session:
        assert session.scalars(select(LiveCall.accepted_staff_id)).one() is None


def test_a_dial_action_whose_ring_is_not_a_number_answers_as_the_call_stands(
    svc: Services, client: FlaskClient, clock: FakeClock
) -> None:
    _incoming(client)
    clock.advance(dt.timedelta(seconds=20))
    # "²" and "٣" are digits to Python's str.isdigit but not to int().
    response = _dial_path(client, "/webhooks/voice/dial?step=%C2%B2&loop=0")
    assert response.status_code == 200
    assert "<Dial" in response.text and BACKUP in response.text  # the chain went on


def _dial_path(client: FlaskClient, path: str) -> TestResponse:
    form = {"CallSid": CALL_SID, "DialCallStatus": "no-answer", "CallStatus": "in-progress"}
    return signed_post(client, path, form)


def test_if_telling_people_of_a_late_voicemail_fails_the_recording_is_still_kept(
    svc: Services, client: FlaskClient, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _to_fallback(client, clock)
    _status(client)

    def broken(*_args: object, **_kwargs: object) -> list[str]:
        raise RuntimeError("the outbox is broken")

    monkeypatch.setattr(escalation_engine, "amend_summary", broken)
    _voicemail(client)

    with svc.db.transaction() as session:
        contact = session.scalars(select(Contact)).one()
        assert contact.outcome == "voicemail" and contact.recording_url == RECORDING
    (missed,) = _missed(svc)
    assert missed.status == "open"  # still chased; the call-back menu plays the message


def test_a_link_too_long_for_the_summary_gives_way_to_call_the_line(
    svc: Services, client: FlaskClient, clock: FakeClock
) -> None:
    """With a very long PUBLIC_BASE_URL the words and the whole link cannot share a summary:
    the summary then says to call the line, and never carries a cut link."""
    _to_fallback(client, clock)
    _voicemail(client)
    long_link = "https://" + "crisis-line." * 15 + "example.org/voicemail/WzEsMl0.abc"
    reach = Reach(LINE, "https://x", lambda _id, _at: long_link)
    with svc.db.transaction() as session:
        contact = session.scalars(select(Contact)).one()
        summary = calls._missed_summary(session, contact, svc.settings.zone, reach)
        short = calls._missed_summary(
            session,
            contact,
            svc.settings.zone,
            Reach(LINE, "https://x", lambda _i, _a: "https://x/voicemail/t"),
        )
    assert summary.endswith("voicemail left (call the line to hear it)")
    assert len(summary) <= escalation_engine.SUMMARY_MAX
    assert short.endswith("voicemail left: https://x/voicemail/t")
