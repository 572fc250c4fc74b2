"""Floods of texts and calls from unknown numbers (crisisline.floods): drills through the real
signed webhooks, the scheduler's route-texts job and sweep, and the real Twilio adapter against
the simulator. Hazards H140-H145.

Foreign numbers here are chosen not to be real people's, as far as that can be chosen: US
+1 202 555 01xx is the range set aside for fiction; the Chinese (+86 131 2345 67xx) and Nigerian
(+234 802 123 45xx) ones sit on libphonenumber's own example numbers for those countries, which
it parses as valid mobile numbers. UK numbers are Ofcom's drama range.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from itertools import zip_longest
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from crisisline import escalation_engine, floods, sms_conversations
from crisisline.clock import FakeClock
from crisisline.escalation_models import EscalationRecord
from crisisline.flood_models import Flood
from crisisline.jobs import Jobs
from crisisline.models import Contact, ContactOutcome, Delivery, Direction
from tests.support.app import signed_post
from tests.support.sms_line import BACKUP, CRISIS, DANIEL, MANAGER, PRIMARY, SmsLine, start_line

AUTO_REPLIES = (sms_conversations.ACKNOWLEDGEMENT, sms_conversations.FALLBACK)
FLOOD_STARTS = "many texts or calls from unknown numbers"
FLOOD_ENDS = "the flood from unknown numbers is over"
WINDOW = dt.timedelta(minutes=5)


def _uk(first: int, count: int) -> list[str]:
    return [f"+447700900{n:03d}" for n in range(first, first + count)]


def _us(first: int, count: int) -> list[str]:
    return [f"+1202555{n:04d}" for n in range(first, first + count)]  # 555-0100..0199 only


def _flood_numbers() -> list[str]:
    """300 distinct numbers, interleaved by country as a flood comes in: US, CN, UK, NG."""
    us = _us(100, 100)
    cn = [f"+86131234567{n:02d}" for n in range(50)]
    uk = _uk(600, 100)
    ng = [f"+23480212345{n:02d}" for n in range(50)]
    return [n for group in zip_longest(us, cn, uk, ng) for n in group if n]


@pytest.fixture
def line(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[SmsLine]:
    """The line with the default flood settings: more than 5 in 5 minutes is a flood, 30
    automatic replies an hour, 3 to one number, to UK numbers only."""
    yield from start_line(tmp_path, database_url, clock)


def _deliveries(line: SmsLine, *where: object) -> list[Delivery]:
    with line.svc.db.transaction() as session:
        return list(session.scalars(select(Delivery).where(*where).order_by(Delivery.id)))  # type: ignore[arg-type]


def _escalations(line: SmsLine) -> list[EscalationRecord]:
    with line.svc.db.transaction() as session:
        return list(session.scalars(select(EscalationRecord).order_by(EscalationRecord.id)))


def _quiet(line: SmsLine, *numbers: str) -> None:
    """These phones may hold texts and calls no expectation takes (counted in the outbox)."""
    for number in numbers:
        line.sim.phone(number).ignore_unexpected()


def test_a_flood_of_texts_is_gathered_bounded_and_a_participant_still_goes_through(
    line: SmsLine,
) -> None:
    """H140, H141, H142, H144: 300 texts from 300 unknown numbers in four countries, with a
    participant's text in the middle."""
    numbers = _flood_numbers()
    _quiet(line, *numbers, PRIMARY, BACKUP)
    started = line.clock.now()
    for index, number in enumerate(numbers):
        line.text(number, f"text {index}")
        if index == 150:
            # The participant's text, in the middle of the flood, reaches on-call at once and
            # on its own: his own conversation and escalation, his words to the primary.
            line.text(DANIEL, "it's a bad night, can someone ring me")
            line.dispatch()
            relay = line.sim.phone(PRIMARY).expect_sms("R1001 D. Price")
            assert "it's a bad night, can someone ring me" in relay.body
            line.sim.phone(DANIEL).expect_sms("Your message has reached the Resettle crisis line")
    line.dispatch()

    # Nothing lost: every text is a contact; all but the first five are gathered.
    with line.svc.db.transaction() as session:
        inbound = session.scalars(
            select(Contact).where(
                Contact.direction == Direction.INBOUND, Contact.from_number.in_(numbers)
            )
        ).all()
        assert len(inbound) == 300
        assert sum(c.outcome == ContactOutcome.GATHERED for c in inbound) == 295
    # One escalation each for the five below the rate and for the participant; ONE for the rest.
    records = _escalations(line)
    assert sorted(r.subject_type for r in records) == ["flood"] + ["sms_conversation"] * 6
    (flood,) = [r for r in records if r.subject_type == "flood"]
    assert "295 texts from 295 unknown numbers" in flood.summary
    assert "GET /api/v1/contacts?from=" in flood.summary
    daniel = [r for r in records if r.participant_id == line.ids[DANIEL]]
    assert len(daniel) == 1 and daniel[0].summary == "Crisis text from R1001 D. Price"

    # Automatic replies: none abroad, at most the hour's limit (and the participant's own,
    # which the limit never holds back).
    replies = _deliveries(line, Delivery.purpose.in_(AUTO_REPLIES))
    assert [r for r in replies if not r.to_number.startswith("+44")] == []
    assert DANIEL in [r.to_number for r in replies]
    assert len(replies) <= 30 + 1
    assert len([r for r in replies if r.to_number != DANIEL]) == 30

    # The duty manager is told once that it started.
    line.sim.phone(MANAGER).expect_sms(FLOOD_STARTS)
    line.sim.phone(MANAGER).expect_no_sms()

    # Seven minutes go by with the scheduler sweeping: the flood ends (a whole window with
    # nothing gathered) and the duty manager is told once.
    for _ in range(7):
        line.wait(dt.timedelta(minutes=1))
    line.sim.phone(MANAGER).expect_sms(FLOOD_ENDS)
    notices = _deliveries(line, Delivery.purpose == floods.NOTICE_PURPOSE)
    assert [n.to_number for n in notices] == [MANAGER, MANAGER]
    with line.svc.db.transaction() as session:
        (ended,) = session.scalars(select(Flood)).all()
        assert ended.ended_at is not None and ended.texts == 295

    # Everything the line sent in those seven minutes, texts and calls: bounded by the
    # settings (six chases up their first two steps, one flood chase, 31 replies, two
    # notices), where every text used to be answered and chased on its own.
    sent = _deliveries(line, Delivery.created_at >= started)
    assert len(sent) <= 100, len(sent)
    to_staff = [d for d in sent if d.to_number in (PRIMARY, BACKUP)]
    assert len(to_staff) <= 60, len(to_staff)
    line.sim.phone(MANAGER).ignore_unexpected()


def _sid(n: int) -> str:
    return "CA" + f"{n:032d}"


def _call(line: SmsLine, n: int, caller: str) -> TestResponse:
    form = {"CallSid": _sid(n), "From": caller, "To": CRISIS, "CallStatus": "ringing"}
    response = signed_post(line.app.test_client(), "/webhooks/voice", form)
    assert response.status_code == 200
    return response


def _hang_up(line: SmsLine, n: int) -> None:
    form = {"CallSid": _sid(n), "CallStatus": "completed", "CallDuration": "30"}
    assert signed_post(line.app.test_client(), "/webhooks/voice/status", form).status_code == 204


def _rung(response: TestResponse) -> list[str]:
    root = ET.fromstring(response.data)  # noqa: S314 (our own TwiML, parsed in a test)
    return [number.text or "" for number in root.iter("Number")]


def _accept(line: SmsLine, response: TestResponse, phone: str) -> None:
    """The staff phone rung by `response` presses 1 in its screening."""
    root = ET.fromstring(response.data)  # noqa: S314
    (number,) = [n for n in root.iter("Number") if n.text == phone]
    query = parse_qs(urlparse(number.get("url", "")).query)
    path = f"/webhooks/voice/screen/answer?call={query['call'][0]}&staff={query['staff'][0]}"
    answer = signed_post(line.app.test_client(), path, {"Digits": "1", "CallSid": "CA" + "9" * 32})
    assert answer.status_code == 200 and b"Someone else" not in answer.data


def test_a_flood_of_calls_rings_each_phone_once_and_gathers_the_missed_calls(
    line: SmsLine,
) -> None:
    """H141, H143, H144: 40 calls from unknown numbers at once, and a participant's call."""
    callers = [n for pair in zip(_uk(800, 20), _us(150, 20), strict=True) for n in pair]
    _quiet(line, PRIMARY, BACKUP, MANAGER)
    rung = [_rung(_call(line, n, caller)) for n, caller in enumerate(callers)]
    # Each staff phone rings for one call at a time: the chain's three, then the fallback
    # (the crisis numbers and a voicemail), as when nobody answers.
    assert rung[:3] == [[PRIMARY], [BACKUP], [MANAGER]]
    assert all(r == [] for r in rung[3:])
    # A participant calling now still rings someone, though every phone is busy.
    assert _rung(_call(line, 100, DANIEL)) == [PRIMARY]

    for n in range(len(callers)):
        _hang_up(line, n)
    line.dispatch()
    records = _escalations(line)
    missed = [r for r in records if r.subject_type == "missed_call"]
    (flood,) = [r for r in records if r.subject_type == "flood"]
    assert len(missed) == 5
    assert "35 missed calls from 35 unknown callers" in flood.summary
    line.sim.phone(MANAGER).expect_sms(FLOOD_STARTS)
    # The five chases and the flood's reach the primary by text and call; nothing like 40 each.
    to_primary = _deliveries(line, Delivery.to_number == PRIMARY)
    assert len(to_primary) <= 2 * 6, len(to_primary)

    line.clock.advance(WINDOW)
    Jobs(line.svc).sweep_escalations()
    line.dispatch()
    line.sim.phone(MANAGER).expect_sms(FLOOD_ENDS)
    notices = _deliveries(line, Delivery.purpose == floods.NOTICE_PURPOSE)
    assert len(notices) == 2


def test_a_busy_phone_is_not_rung_for_a_second_call_but_a_participant_still_rings_someone(
    line: SmsLine,
) -> None:
    """H143: ringing or on a call, a staff phone is left out of a second call's ring."""
    stranger = _uk(777, 1)[0]
    first = _call(line, 1, stranger)
    assert _rung(first) == [PRIMARY]
    # The primary's phone is ringing: the participant's call rings the backup at once.
    assert _rung(_call(line, 2, DANIEL)) == [BACKUP]
    # The primary takes the first call: on it, still left out.
    _accept(line, first, PRIMARY)
    _hang_up(line, 2)
    assert _rung(_call(line, 3, DANIEL)) == [BACKUP]
    # Both busy (one on a call, one ringing): the duty manager's step rings.
    assert _rung(_call(line, 4, _uk(778, 1)[0])) == [MANAGER]
    # The first call ends: the primary is rung again.
    _hang_up(line, 1)
    _hang_up(line, 3)
    _hang_up(line, 4)
    assert _rung(_call(line, 5, DANIEL)) == [PRIMARY]
    # A call whose ring should long be over (its Dial action lost) does not hold the phone
    # beyond the caller's maximum wait and a minute.
    line.clock.advance(dt.timedelta(seconds=line.svc.messages.max_wait_seconds + 61))
    assert _rung(_call(line, 6, _uk(779, 1)[0])) == [PRIMARY]
    _quiet(line, PRIMARY, BACKUP, MANAGER)


@pytest.fixture
def limited(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[SmsLine]:
    """No flood gathering in the way; one automatic reply per number and two an hour."""
    yield from start_line(
        tmp_path,
        database_url,
        clock,
        {
            "FLOOD_UNKNOWN_TEXTS": "1000",
            "AUTO_REPLIES_PER_NUMBER_PER_HOUR": "1",
            "AUTO_REPLIES_PER_HOUR": "2",
        },
    )


def _acknowledged(line: SmsLine) -> list[str]:
    return [
        d.to_number
        for d in _deliveries(line, Delivery.purpose == sms_conversations.ACKNOWLEDGEMENT)
    ]


def test_no_automatic_reply_goes_abroad_but_the_text_still_reaches_on_call(
    line: SmsLine,
) -> None:
    """H142: below the flood rate a US number's text is relayed as any, but not answered."""
    american = _us(120, 1)[0]
    _quiet(line, PRIMARY, american)
    line.text(american, "hello?")
    line.dispatch()
    assert "hello?" in line.sim.phone(PRIMARY).expect_sms(american).body
    assert _deliveries(line, Delivery.to_number == american) == []


def test_automatic_replies_are_limited_per_hour_but_never_a_participants(
    limited: SmsLine,
) -> None:
    """H142: two an hour in all to unknown numbers; the participant's goes out regardless."""
    line = limited
    strangers = _uk(610, 4)
    _quiet(line, PRIMARY, *strangers)
    for number in strangers:
        line.text(number, "hello")
    line.text(DANIEL, "it's me")
    line.dispatch()
    assert _acknowledged(line) == [*strangers[:2], DANIEL]
    line.sim.phone(DANIEL).expect_sms("Your message has reached")
    # An hour on, the limit has room again.
    line.clock.advance(dt.timedelta(hours=1, minutes=1))
    line.text(_uk(620, 1)[0], "hello")
    line.dispatch()
    assert _acknowledged(line)[-1] == _uk(620, 1)[0]
    _quiet(line, _uk(620, 1)[0])


def test_automatic_replies_are_limited_per_number_but_never_a_participants(
    limited: SmsLine,
) -> None:
    """H142: one an hour to an unknown number, however many conversations it opens."""
    line = limited
    stranger = _uk(630, 1)[0]
    _quiet(line, PRIMARY, stranger, DANIEL)
    for _ in range(2):
        for number in (stranger, DANIEL):
            line.text(number, "hello")
        line.dispatch()
        # A worker closes both conversations; 11 minutes later each number texts again.
        for conversation in line.conversations():
            if conversation.status == "open" and conversation.escalation_id is not None:
                line.text(PRIMARY, f"{_primary_code(line, conversation.escalation_id)}c")
        line.clock.advance(dt.timedelta(minutes=11))
    assert _acknowledged(line) == [stranger, DANIEL, DANIEL]


def _primary_code(line: SmsLine, escalation_id: int) -> int:
    """The primary's reply code for an escalation."""
    with line.svc.db.transaction() as session:
        code = escalation_engine.code_for_phone(session, escalation_id, PRIMARY)
    assert code is not None
    return code


def test_a_number_in_a_configured_country_gets_its_reply(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    """H142: AUTO_REPLY_COUNTRIES=GB,US lets the acknowledgement go to a US number."""
    american = _us(130, 1)[0]
    for line in start_line(tmp_path, database_url, clock, {"AUTO_REPLY_COUNTRIES": "GB,US"}):
        _quiet(line, PRIMARY)
        line.text(american, "hello?")
        line.dispatch()
        line.sim.phone(american).expect_sms("Your message has reached")


def test_a_gathered_number_texting_after_the_flood_is_answered_with_its_earlier_texts(
    line: SmsLine,
) -> None:
    """H145: a gathered text is not lost for the worker: the number's next text, after the
    flood, opens a conversation that carries it, so the worker reads it and can answer."""
    numbers = _uk(640, 7)
    _quiet(line, PRIMARY, BACKUP, MANAGER, *numbers)
    for number in numbers:
        line.text(number, f"first from {number[-3:]}")
    last = numbers[-1]
    with line.svc.db.transaction() as session:
        assert (
            session.scalar(
                select(func.count(Contact.id)).where(Contact.outcome == ContactOutcome.GATHERED)
            )
            == 2
        )
    for _ in range(6):
        line.wait(dt.timedelta(minutes=1))  # the flood ends
    line.text(last, "are you there?")
    line.dispatch()
    with line.svc.db.transaction() as session:
        mine = session.scalars(
            select(Contact).where(
                Contact.from_number == last, Contact.direction == Direction.INBOUND
            )
        ).all()
    assert len({c.conversation_id for c in mine}) == 1 and mine[0].conversation_id is not None
    relayed = [
        d.body or ""
        for d in _deliveries(line, Delivery.to_number == PRIMARY)
        if "are you there?" in (d.body or "")
    ]
    assert relayed and f"first from {last[-3:]}" in " ".join(
        d.body or "" for d in _deliveries(line, Delivery.to_number == PRIMARY)
    )


def test_a_burst_taken_in_before_routing_is_gathered_the_same_way(line: SmsLine) -> None:
    """H140, H141: a burst all recorded by the webhook before the scheduler's route-texts job
    runs (as 204 texts in 0.4 s are) is gathered exactly as one routed text by text: the first
    five by time go through, the participant's always does."""
    client = line.app.test_client()
    numbers = _flood_numbers()[:60]
    _quiet(line, *numbers, PRIMARY, MANAGER)
    senders = [*numbers[:30], DANIEL, *numbers[30:]]
    for n, number in enumerate(senders):
        form = {
            "MessageSid": "SM" + f"{n:032d}",
            "AccountSid": "AC" + "7" * 32,
            "From": number,
            "To": CRISIS,
            "Body": "it's a bad night, can someone ring me" if number == DANIEL else f"text {n}",
            "NumMedia": "0",
        }
        assert signed_post(client, "/webhooks/sms", form).status_code == 200
    assert Jobs(line.svc).route_texts() == 61
    records = _escalations(line)
    assert sorted(r.subject_type for r in records) == ["flood"] + ["sms_conversation"] * 6
    with line.svc.db.transaction() as session:
        gathered = session.scalars(
            select(Contact.from_number).where(Contact.outcome == ContactOutcome.GATHERED)
        ).all()
    assert sorted(n or "" for n in gathered) == sorted(numbers[5:])
    line.dispatch()
    assert (
        "it's a bad night, can someone ring me"
        in line.sim.phone(PRIMARY).expect_sms("R1001 D. Price").body
    )
    line.sim.phone(DANIEL).expect_sms("Your message has reached")
