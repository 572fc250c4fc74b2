"""Regression tests for the third safety review (text and call flows; docs/hazard-log.md,
H67 to H74).

Every test here failed when it was written and now keeps its defect fixed. The docstrings
describe what went wrong, as the participant or the on-call worker would have met it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from crisisline import sms_conversations
from crisisline import staff as staff_service
from crisisline.clock import FakeClock
from crisisline.escalation_models import EscalationRecord
from tests.e2e.test_calls import _sign
from tests.support import call_line as calls_e2e
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

NEW_PHONE = "+447700900109"


@pytest.fixture
def line(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[SmsLine]:
    for generated in start_line(tmp_path, database_url, clock):
        for number in (PRIMARY, BACKUP, MANAGER, DANIEL, MARCUS, NEW_PHONE):
            generated.phone(number).ignore_unexpected()
        yield generated


@pytest.fixture
def call_line(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[calls_e2e.Line]:
    with simulated_twilio(tmp_path, database_url, clock, calls_e2e.ACCOUNT_SID) as (app, sim):
        for generated in calls_e2e.populate(app, sim, clock):
            for number in (calls_e2e.PRIMARY, calls_e2e.BACKUP, calls_e2e.MANAGER):
                sim.phone(number).ignore_unexpected()
            yield generated


def _bodies(line: SmsLine, number: str) -> list[str]:
    return [m.body for m in line.phone(number).inbox]


def _daniel_reaches_primary(line: SmsLine) -> None:
    line.text(DANIEL, "I need to talk")
    line.dispatch()
    line.phone(DANIEL).expect_sms(ACK)
    line.phone(PRIMARY).expect_sms("(1): I need to talk")


# ---- texts ------------------------------------------------------------------------------------


def test_a_workers_changed_phone_number_stops_the_participants_words_going_to_the_old_phone(
    line: SmsLine,
) -> None:
    """A worker's phone is lost and the manager puts their new number on their record.

    `staff.update` changes `Staff.phone` but leaves the worker's live `EscalationCode` rows on
    the old number, and `_staff_to_tell` relays to `code.phone`: Daniel's next texts still go
    to the lost phone (whoever holds it now reads a participant's crisis), and the worker's new
    phone holds no code, so their "1 ..." replies are NOT SENT.
    """
    _daniel_reaches_primary(line)
    line.phone(PRIMARY).reply("1 I'm here Daniel")
    line.dispatch()
    with line.svc.db.transaction() as session:
        staff_service.update(
            session, line.ids[PRIMARY], {"phone": NEW_PHONE}, actor="manager", now=line.clock.now()
        )
    line.clock.advance(dt.timedelta(minutes=2))
    before_old = len(_bodies(line, PRIMARY))

    line.text(DANIEL, "my flat mate has gone out, I am on my own now")
    line.dispatch()

    leaked = [b for b in _bodies(line, PRIMARY)[before_old:] if "on my own" in b]
    assert leaked == [], "the participant's words went to the worker's old (lost) phone"
    assert any("on my own" in b for b in _bodies(line, NEW_PHONE))


def test_a_text_to_a_worker_who_took_the_conversation_hours_ago_and_went_quiet_is_chased(
    line: SmsLine,
) -> None:
    """3 a.m.: the worker took Daniel's conversation at 11 p.m., then fell asleep (on call).

    Once a conversation is taken, each later text is relayed only to the taker; the escalation
    stays `acknowledged`, the handover only happens when the taker is off every rota, and the
    conversation is not closed for 24 hours. A new plea hours later reaches one sleeping phone
    and nobody else, ever: no step, no backup, no duty manager.
    """
    _daniel_reaches_primary(line)
    line.phone(PRIMARY).reply("1 I'm here, talk to me")
    line.dispatch()

    line.clock.advance(dt.timedelta(hours=4))
    line.text(DANIEL, "are you there? please answer")
    line.dispatch()
    for _ in range(6):  # half an hour with no answer from the taker
        line.wait(dt.timedelta(minutes=5))

    chased = [b for number in (BACKUP, MANAGER) for b in _bodies(line, number)]
    assert [b for b in chased if "please answer" in b or "Crisis text" in b], chased


def test_the_chase_after_an_exhausted_chain_does_not_tell_staff_no_action_is_needed(
    line: SmsLine,
) -> None:
    """H53's re-escalation closes the exhausted escalation with the handover operator.

    Closing an escalation nobody took sends every person notified "... was closed by crisis line
    (handed over). No action needed." - in the same breath as Daniel's new plea, to the very
    people who must now act on it.
    """
    _daniel_reaches_primary(line)
    for _ in range(12):  # the whole chain runs out: nobody takes it
        line.wait(STEP_WAIT)
    with line.svc.db.transaction() as session:
        (record,) = session.scalars(
            select(EscalationRecord).where(EscalationRecord.subject_type == "sms_conversation")
        ).all()
        assert record.status == "exhausted"
    counts = {n: len(_bodies(line, n)) for n in (PRIMARY, BACKUP, MANAGER)}

    line.text(DANIEL, "nobody is answering me")
    line.dispatch()

    told = [b for n in (PRIMARY, BACKUP, MANAGER) for b in _bodies(line, n)[counts[n] :]]
    assert any("nobody is answering me" in b for b in told)
    assert not [b for b in told if "No action needed" in b], told


def test_an_opted_out_participants_later_texts_remind_staff_to_call(line: SmsLine) -> None:
    """docs/sms.md: "While opted out, their texts still reach staff (with a reminder to call)".

    Only the first-step notification carries the reminder; a text relayed in an open
    conversation after STOP arrives with no word that a text reply will not reach him.
    """
    _daniel_reaches_primary(line)
    line.text(DANIEL, "STOP")
    line.dispatch()
    line.phone(PRIMARY).expect_sms("texted STOP")
    line.text(DANIEL, "I didn't mean it, I'm scared")
    line.dispatch()
    relayed = [b for b in _bodies(line, PRIMARY) if "scared" in b]
    assert relayed
    after = _bodies(line, PRIMARY)[_bodies(line, PRIMARY).index(relayed[0]) :]
    assert any("call" in b.lower() and "STOP" in b for b in after), after


# ---- calls ------------------------------------------------------------------------------------


def _voice(line: calls_e2e.Line, path: str, form: dict[str, str]) -> str:
    response = line.app.test_client().post(
        path, data=form, headers={"X-Twilio-Signature": _sign(path, form)}
    )
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def _action_path(twiml: str) -> str:
    match = re.search(r'<Dial [^>]*action="https://crisis\.example\.org([^"]+)"', twiml)
    assert match, twiml
    return match.group(1).replace("&amp;", "&")


def test_a_repeated_dial_action_does_not_skip_the_backup(call_line: calls_e2e.Line) -> None:
    """The Dial action carries nothing saying which ring it ends.

    `dial_finished` moves the chain on every time it is posted: the same action for the
    primary's ring, delivered twice (a retry, a proxy), moves past the backup to the duty
    manager, so the backup's phone never rings for this caller.
    """
    sid = "CA" + "1" * 32
    first = _voice(
        call_line,
        "/webhooks/voice",
        {"CallSid": sid, "From": calls_e2e.DANIEL, "To": calls_e2e.LINE, "CallStatus": "ringing"},
    )
    assert calls_e2e.PRIMARY in first
    path = _action_path(first)
    ended = {"CallSid": sid, "CallStatus": "in-progress", "DialCallStatus": "no-answer"}
    second = _voice(call_line, path, ended)
    assert calls_e2e.BACKUP in second
    again = _voice(call_line, path, ended)
    assert calls_e2e.BACKUP in again and calls_e2e.MANAGER not in again, again


def test_pressing_1_after_the_caller_hung_up_does_not_turn_an_abandoned_call_into_answered(
    call_line: calls_e2e.Line,
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
        {"CallSid": sid, "From": calls_e2e.DANIEL, "To": calls_e2e.LINE, "CallStatus": "ringing"},
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
        {"CallSid": "CA" + "3" * 32, "Digits": "1", "To": calls_e2e.PRIMARY},
    )
    contact = call_line.contact()
    assert contact.outcome == "abandoned", contact.outcome
    assert contact.answered_at is None
    assert "<Say" in said  # the worker is told the caller has gone, not bridged to nothing


def _missed_call(line: calls_e2e.Line, sid: str, caller: str, recording: str | None) -> None:
    """A call nobody answers: every step rings out, then the fallback and maybe a voicemail."""
    twiml = _voice(
        line,
        "/webhooks/voice",
        {"CallSid": sid, "From": caller, "To": calls_e2e.LINE, "CallStatus": "ringing"},
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


def test_a_withheld_callers_voicemail_can_be_heard_by_calling_the_line(
    call_line: calls_e2e.Line,
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
            "From": calls_e2e.PRIMARY,
            "To": calls_e2e.LINE,
            "CallStatus": "ringing",
        },
    )
    assert "no missed calls" not in menu, menu
    assert "Press 1" in menu, menu


def test_calling_a_participant_back_settles_all_his_missed_calls_not_just_the_newest(
    call_line: calls_e2e.Line,
) -> None:
    """Daniel rings twice in ten minutes and nobody answers either call: two missed-call
    escalations. Amira calls him back through the line (key 1: his newest call) and talks to
    him; the older escalation is untouched and goes on to the backup and the duty manager and
    ends as an "unanswered" safety incident, for a man who has just been called back.
    """
    _missed_call(call_line, "CA" + "6" * 32, calls_e2e.DANIEL, None)
    call_line.clock.advance(dt.timedelta(minutes=2))
    _missed_call(call_line, "CA" + "7" * 32, calls_e2e.DANIEL, None)
    missed = [e for e in call_line.escalations() if e.subject_type == "missed_call"]
    assert len(missed) == 2

    sid = "CA" + "8" * 32
    menu = _voice(
        call_line,
        "/webhooks/voice",
        {"CallSid": sid, "From": calls_e2e.PRIMARY, "To": calls_e2e.LINE, "CallStatus": "ringing"},
    )
    action = re.search(r'<Gather [^>]*action="https://crisis\.example\.org([^"]+)"', menu)
    assert action, menu
    dialled = _voice(
        call_line, action.group(1).replace("&amp;", "&"), {"CallSid": sid, "Digits": "1"}
    )
    assert calls_e2e.DANIEL in dialled

    statuses = [e.status for e in call_line.escalations() if e.subject_type == "missed_call"]
    assert statuses == ["acknowledged", "acknowledged"], statuses


def test_a_text_that_clashes_with_the_sweep_is_handled_on_a_second_try(
    line: SmsLine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A version clash with the escalation sweep rolls the whole routing back; the text is
    routed again at once, not answered with the fallback (which would also lose a worker's
    words)."""
    from sqlalchemy.orm.exc import StaleDataError

    real = sms_conversations.route_unrouted
    clashes = iter([True])

    def clashing(*args: object, **kwargs: object) -> object:
        if next(clashes, False):
            raise StaleDataError("escalation changed by the sweep")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sms_conversations, "route_unrouted", clashing)
    line.text(DANIEL, "I need to talk")
    line.dispatch()
    assert [c.status for c in line.conversations()] == ["open"]
    assert not [b for b in _bodies(line, DANIEL) if "116 123" in b]
