"""The crisis plan at the moment of contact, end to end: the simulator plays Daniel and the
on-call worker's phone against the real webhooks; pressing 1 texts the worker one link from the
crisis number; the worker follows it, signs in, and sees Daniel's plan on one screen, the
opening logged against the contact. A text conversation taken with its code does the same."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from crisisline.clock import FakeClock
from crisisline.crisis_plan_models import CrisisPlanLink
from crisisline.models import Delivery, RecordAccess
from tests.support.call_line import BACKUP, DANIEL, LINE, MANAGER, PRIMARY, Line, start_call_line
from tests.support.console import Browser, Person, enrol
from tests.support.crisis_plan import PLAN_WORDS, add_plan, mentions_the_plan
from tests.support.sms_line import CRISIS, SmsLine, daniel_reaches_primary, start_line

LINK_TEXT = "Resettle crisis line: his crisis plan: https://crisis.example.org/plan/link/"


@pytest.fixture
def line(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[Line]:
    yield from start_call_line(tmp_path, database_url, clock)


def _take_the_call(line: Line) -> str:
    """Daniel calls, the primary presses 1; the link texted to the primary (its path)."""
    line.sim.phone(PRIMARY).will_answer("1")
    line.sim.phone(DANIEL).call(LINE)
    line.sim.run_pending()
    heard = line.sim.phone(PRIMARY).expect_call(
        "Crisis line call from Daniel, R1001", answered=True
    )
    # The whisper is unchanged: the plan is never read aloud.
    assert mentions_the_plan(heard.heard_text) == []
    line.deliver()
    text = line.sim.phone(PRIMARY).expect_sms(LINK_TEXT, from_=LINE)
    line.sim.phone(PRIMARY).expect_no_sms()
    for phone in (DANIEL, BACKUP, MANAGER):
        line.sim.phone(phone).expect_no_sms()
    assert mentions_the_plan(text.body) == []
    assert "Daniel" not in text.body and "R1001" not in text.body and "7700" not in text.body
    assert len(text.body) <= 160  # one segment
    found = re.search(r"https://crisis\.example\.org(/plan/link/\S+)$", text.body)
    assert found is not None
    return found.group(1)


def _amira(line: Line) -> Person:
    secret, codes = enrol(line.svc.db, line.ids[PRIMARY], line.clock.now())
    return Person(line.ids[PRIMARY], "Amira Okafor", PRIMARY, None, secret, codes)


@pytest.mark.hazard("H320")
@pytest.mark.hazard("H322")
@pytest.mark.hazard("H329")
def test_pressing_1_texts_one_link_that_opens_his_plan_once_after_sign_in(line: Line) -> None:
    add_plan(line.svc.db, line.ids["daniel"], line.clock.now())
    path = _take_the_call(line)
    contact = line.contact()

    browser = Browser(line.app)
    assert browser.get(path).status_code == 302  # to the sign-in page, and back
    assert browser.sign_in(_amira(line), line.clock, next_path=path).headers["Location"] == path
    landed = browser.get(path)
    assert landed.status_code == 303
    view = landed.headers["Location"]
    assert view.endswith(f"/contacts/{contact.id}/crisis-plan")
    page = browser.get(view)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "R1001" in html and "Daniel" in html and "Price" not in html.split("<main")[1]
    assert PLAN_WORDS["if_risk_rises"] in html and PLAN_WORDS["warning_signs"] in html

    with line.svc.db.transaction() as session:
        (entry,) = session.scalars(
            select(RecordAccess).where(RecordAccess.record_type == "crisis_plan")
        )
        assert entry.reason == f"contact {contact.id}"
        assert entry.participant_id == line.ids["daniel"]
        assert entry.staff_id == line.ids[PRIMARY]
        row = session.get_one(CrisisPlanLink, (contact.id, line.ids[PRIMARY]))
        assert row.used_at is not None

    # The same link again: used, and the Now board offered.
    again = browser.get(path)
    assert again.status_code == 410
    assert "used already" in again.get_data(as_text=True)
    assert 'href="/"' in again.get_data(as_text=True)


@pytest.mark.hazard("H321")
def test_the_link_opens_nothing_for_another_worker_and_nothing_once_expired(line: Line) -> None:
    path = _take_the_call(line)
    secret, codes = enrol(line.svc.db, line.ids[BACKUP], line.clock.now())
    tom = Person(line.ids[BACKUP], "Tom Hughes", BACKUP, None, secret, codes)
    browser = Browser(line.app)
    browser.sign_in(tom, line.clock)
    refused = browser.get(path)
    assert refused.status_code == 403
    assert "R1001" not in refused.get_data(as_text=True)

    line.clock.advance(dt.timedelta(hours=line.svc.settings.crisis_plan_link_hours, seconds=1))
    own = Browser(line.app)
    own.sign_in(_amira(line), line.clock)
    expired = own.get(path)
    assert expired.status_code == 410
    assert "expired" in expired.get_data(as_text=True)
    with line.svc.db.transaction() as session:
        (row,) = session.scalars(select(CrisisPlanLink))
        assert row.used_at is None


def test_without_a_plan_the_text_still_goes_and_the_view_says_so(line: Line) -> None:
    path = _take_the_call(line)
    browser = Browser(line.app)
    browser.sign_in(_amira(line), line.clock)
    view = browser.get(path).headers["Location"]
    html = browser.get(view).get_data(as_text=True)
    assert "No crisis plan is recorded for him" in html
    assert "R1001" in html and "high" in html


@pytest.fixture
def sms(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[SmsLine]:
    yield from start_line(tmp_path, database_url, clock)


@pytest.mark.hazard("H320")
@pytest.mark.hazard("H323")
def test_taking_a_text_conversation_texts_the_link_once_never_to_him(sms: SmsLine) -> None:
    from tests.support.sms_line import DANIEL as DANIEL_SMS
    from tests.support.sms_line import PRIMARY as PRIMARY_SMS

    add_plan(sms.svc.db, sms.ids[DANIEL_SMS], sms.clock.now())
    daniel_reaches_primary(sms)
    relay = sms.phone(PRIMARY_SMS).expect_sms("Reply 1 and your message", from_=CRISIS)
    relay.reply("1 I'm here Daniel.")
    sms.dispatch()
    sms.phone(DANIEL_SMS).expect_sms("I'm here Daniel.")
    link = sms.phone(PRIMARY_SMS).expect_sms(LINK_TEXT, from_=CRISIS)
    assert mentions_the_plan(link.body) == []
    # A second reply and the code taken again: still one link.
    relay.reply("1 Are you safe?")
    sms.dispatch()
    sms.phone(DANIEL_SMS).expect_sms("Are you safe?")
    relay.reply("1a")
    sms.dispatch()
    for message in sms.phone(PRIMARY_SMS).inbox:
        message.consumed = True
    bodies = [m.body for m in sms.phone(PRIMARY_SMS).inbox]
    assert sum("his crisis plan" in body for body in bodies) == 1
    assert not any("crisis plan" in m.body for m in sms.phone(DANIEL_SMS).inbox)
    with sms.svc.db.transaction() as session:
        deliveries = list(
            session.scalars(select(Delivery).where(Delivery.purpose == "crisis_plan_link"))
        )
        assert [d.to_number for d in deliveries] == [PRIMARY_SMS]
        (row,) = session.scalars(select(CrisisPlanLink))
        assert row.participant_id == sms.ids[DANIEL_SMS]
        assert row.staff_id == sms.ids[PRIMARY_SMS]

    # The taken conversation on the Now board: its plan is one tap away.
    secret, codes = enrol(sms.svc.db, sms.ids[PRIMARY_SMS], sms.clock.now())
    browser = Browser(sms.app)
    browser.sign_in(
        Person(sms.ids[PRIMARY_SMS], "Amira Okafor", PRIMARY_SMS, None, secret, codes), sms.clock
    )
    board = browser.get("/now/board").get_data(as_text=True)
    assert f'href="/contacts/{row.contact_id}/crisis-plan"' in board
