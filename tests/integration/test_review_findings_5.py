"""Regression tests for the fifth safety review (what each text says and to whom, changes to
people while their contacts are open; docs/hazard-log.md H83 to H85): each failed until its
defect was fixed, and now keeps it fixed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from crisisline import escalation_engine, staff
from crisisline import participants as participant_service
from crisisline.clock import FakeClock
from crisisline.telephony import FakeTelephony, TransientTelephonyError
from tests.integration.test_escalation_engine import _open
from tests.integration.test_escalation_engine import line as line
from tests.support.engine_line import PRIMARY, Line
from tests.support.sms_line import BACKUP as SMS_BACKUP
from tests.support.sms_line import DANIEL, MARCUS, SmsLine, start_line
from tests.support.sms_line import MANAGER as SMS_MANAGER
from tests.support.sms_line import PRIMARY as SMS_PRIMARY

NEW_PHONE = "+447700900109"
DANIEL_NEW = "+447700900509"


# ---- texts queued for a worker whose phone changes or who leaves --------------------------------


def test_a_text_queued_for_a_workers_old_phone_is_not_sent_there_after_the_number_changes(
    line: Line, telephony: FakeTelephony
) -> None:
    """Twilio has a brief outage; the notification to the on-call worker waits to be retried.

    Meanwhile the manager records the worker's new number (the old phone was lost). H69 moved
    the worker's live codes to the new phone, but the queued Delivery keeps `to_number` = the
    old phone: the participant's details reach whoever holds the lost phone, and the worker's
    new phone is never told of the missed call it now holds the code for.
    """
    _open(line, "Missed call from R1001 D. Price at 03:12")
    telephony.fail_next(TransientTelephonyError("Twilio 503"))
    line.svc.dispatch_outbox()  # the first try fails: the text is queued for a retry
    assert telephony.messages_to(PRIMARY) == []
    with line.svc.db.transaction() as session:
        staff.update(
            session, line.ids[PRIMARY], {"phone": NEW_PHONE}, actor="manager", now=line.clock.now()
        )
    line.clock.advance(dt.timedelta(minutes=1))
    line.svc.dispatch_outbox()

    leaked = [m.body for m in telephony.messages_to(PRIMARY)]
    assert leaked == [], f"the lost phone got the participant's details: {leaked}"
    assert any("R1001" in m.body for m in telephony.messages_to(NEW_PHONE))


def test_a_text_queued_for_a_worker_is_not_sent_after_they_are_deactivated(
    line: Line, telephony: FakeTelephony
) -> None:
    """As above, but the worker is deactivated (a leaver, a phone reported stolen).

    H52 freed their codes, yet the queued notification still goes out to the leaver's phone.
    """
    _open(line, "Missed call from R1001 D. Price at 03:12")
    telephony.fail_next(TransientTelephonyError("Twilio 503"))
    line.svc.dispatch_outbox()
    with line.svc.db.transaction() as session:
        staff.deactivate(session, line.ids[PRIMARY], actor="manager", now=line.clock.now())
    line.clock.advance(dt.timedelta(minutes=1))
    line.svc.dispatch_outbox()

    leaked = [m.body for m in telephony.messages_to(PRIMARY)]
    assert leaked == [], f"a deactivated worker's phone got the participant's details: {leaked}"


# ---- a participant's phones change while his conversation is open --------------------------------


@pytest.fixture
def sms_line(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[SmsLine]:
    for generated in start_line(tmp_path, database_url, clock):
        for number in (SMS_PRIMARY, SMS_BACKUP, SMS_MANAGER, DANIEL, MARCUS, DANIEL_NEW):
            generated.phone(number).ignore_unexpected()
        yield generated


def test_a_workers_reply_does_not_go_to_a_number_taken_off_the_participants_record(
    sms_line: SmsLine,
) -> None:
    """Daniel texts, the worker takes it; then Daniel's phone is stolen and his record is
    changed to his new number. The open conversation is keyed on the old number and still
    labelled "R1001 D. Price", so the worker's next reply (written to Daniel, perhaps naming
    his hostel or his officer) goes to the stolen phone, and the worker is not told.
    """
    line = sms_line
    line.text(DANIEL, "I need to talk")
    line.dispatch()
    line.phone(SMS_PRIMARY).reply("1 I'm here Daniel, talk to me")
    line.dispatch()
    before = len(line.phone(DANIEL).inbox)
    with line.svc.db.transaction() as session:
        participant_service.update(
            session,
            line.ids[DANIEL],
            {"phones": [DANIEL_NEW]},
            actor="manager",
            now=line.clock.now(),
        )
    line.clock.advance(dt.timedelta(minutes=1))
    line.phone(SMS_PRIMARY).reply("1 Daniel, is your officer still Sarah at the Leeds office?")
    line.dispatch()

    leaked = [m.body for m in line.phone(DANIEL).inbox[before:] if "Leeds" in m.body]
    assert leaked == [], "a worker's words to Daniel went to a number no longer his"


# ---- a worker's phone changes after their codes were texted --------------------------------------


def test_a_workers_new_phone_is_told_the_codes_it_now_holds(
    line: Line, telephony: FakeTelephony
) -> None:
    """The notification with code 1 reached the worker's old phone; the manager records a new
    number (the old one was lost). The code moves to the new phone, but nothing tells the new
    phone it exists: the worker cannot take the missed call, and does not know it is theirs."""
    _open(line, "Missed call from R1001 D. Price at 03:12")
    line.svc.dispatch_outbox()
    assert any("R1001" in m.body for m in telephony.messages_to(PRIMARY))
    _change_phone_through_the_api_path(line)
    line.svc.dispatch_outbox()
    told = [m.body for m in telephony.messages_to(NEW_PHONE)]
    assert len(told) == 1, told
    assert "1a Missed call from R1001 D. Price at 03:12" in told[0]
    assert "registered phone" in told[0]
    # And the code works from the new phone.
    with line.svc.db.transaction() as session:
        outcome = escalation_engine.act_by_phone(
            session, NEW_PHONE, "1a", line.clock.now(), line.svc.reach
        )
    assert outcome is not None and outcome.changed, outcome


def test_a_phone_change_with_no_open_codes_sends_nothing(
    line: Line, telephony: FakeTelephony
) -> None:
    _change_phone_through_the_api_path(line)
    line.svc.dispatch_outbox()
    assert telephony.messages_to(NEW_PHONE) == []


def _change_phone_through_the_api_path(line: Line) -> None:
    """What PATCH /api/v1/staff/{id} does: the new phone, texted from the crisis line."""
    with line.svc.db.transaction() as session:
        staff.update(
            session,
            line.ids[PRIMARY],
            {"phone": NEW_PHONE},
            actor="manager",
            now=line.clock.now(),
            line_number=line.svc.settings.crisis_line_number,
        )
