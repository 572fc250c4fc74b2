"""The crisis plan at the moment of contact in a real browser, at a phone's width and a
laptop's: the worker who took Daniel's call follows the texted link, signs in on the phone, and
sees his plan on one screen; the opening is in the record access log against the contact; the
same link opened again says it was used and offers the Now board.

Each page is saved as a screenshot (screenshots/crisis-plan-*-WIDTHpx.png) and checked with
axe-core, and none is wider than the window.
"""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

import pyotp
from playwright.sync_api import Page, expect
from sqlalchemy import select

from crisisline import contacts, crisis_plan_links
from crisisline.models import (
    Channel,
    ContactOutcome,
    Delivery,
    Direction,
    Participant,
    RecordAccess,
    Staff,
)
from tests.support.app import services_of
from tests.support.browser import LiveServer, looked_at
from tests.support.console import PASSWORD, enrol
from tests.support.crisis_plan import PLAN_WORDS, add_plan, mentions_the_plan

# The demo data: Amira Okafor is an on-call worker; R1001 is Daniel Price.
WORKER_EMAIL = "amira.okafor@example.org"
LINE = "+447700900000"


def test_the_worker_follows_the_texted_link_signs_in_and_sees_his_plan(
    page: Page, live_server: LiveServer
) -> None:
    svc = services_of(live_server.app)
    now = live_server.clock.now()
    with svc.db.transaction() as session:
        worker_id = session.scalar(select(Staff.id).where(Staff.email == WORKER_EMAIL))
        daniel = session.scalar(select(Participant.id).where(Participant.reference == "R1001"))
    assert worker_id is not None and daniel is not None
    add_plan(svc.db, daniel, now)
    # The call the worker has just taken, and the link as pressing 1 writes it.
    with svc.db.transaction() as session:
        contact, _ = contacts.record(
            session,
            channel=Channel.VOICE,
            direction=Direction.INBOUND,
            from_number="+447700900201",
            to_number=LINE,
            twilio_sid=None,
            started_at=now - dt.timedelta(seconds=40),
            participant_id=daniel,
            outcome=ContactOutcome.ANSWERED,
            handled_by_staff_id=worker_id,
        )
        contact.answered_at = now
        contact_id = contact.id
        assert crisis_plan_links.send_link(
            session,
            contact_id=contact_id,
            participant_id=daniel,
            staff_id=worker_id,
            now=now,
            reach=svc.reach,
        )
    with svc.db.transaction() as session:
        text = session.scalars(
            select(Delivery.body).where(Delivery.purpose == crisis_plan_links.PURPOSE)
        ).one()
    assert text is not None and mentions_the_plan(text) == []
    found = re.search(r"(https?://\S+/plan/link/\S+)$", text)
    assert found is not None
    path = urlsplit(found.group(1)).path

    page.goto(path)
    expect(page.get_by_label("Phone number or email")).to_be_visible()
    secret, _ = enrol(svc.db, worker_id, now)
    page.get_by_label("Phone number or email").fill(WORKER_EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Six-digit code").fill(pyotp.TOTP(secret).at(now))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**/contacts/{contact_id}/crisis-plan")

    expect(page.locator("h1")).to_contain_text("R1001")
    expect(page.locator("h1")).to_contain_text("Daniel")
    expect(page.locator("#plan-risk")).to_contain_text("high")
    expect(page.locator("main")).to_contain_text(PLAN_WORDS["if_risk_rises"])
    expect(page.locator("main")).to_contain_text(PLAN_WORDS["warning_signs"])
    expect(page.locator("#plan-recent")).to_contain_text("No note yet")
    looked_at(page, "crisis-plan-view")

    with svc.db.transaction() as session:
        (entry,) = session.scalars(
            select(RecordAccess).where(RecordAccess.record_type == "crisis_plan")
        )
        assert entry.reason == f"contact {contact_id}"
        assert (entry.staff_id, entry.participant_id) == (worker_id, daniel)

    answer = page.goto(path)
    assert answer is not None and answer.status == 410
    expect(page.locator("h1")).to_have_text("Link already used")
    page.get_by_role("link", name="Go to the Now board").click()
    page.wait_for_url("**/")
    looked_at(page, "crisis-plan-now-board")
