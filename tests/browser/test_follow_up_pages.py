"""Follow-ups in a real browser, at a phone's width and a laptop's: Amira (on call) took a call
from R1001 and her note asks his officer to ring him; Gareth Lloyd, his officer, signs in, opens
Follow-ups from the menu and marks it done with a line of what he did, and finds it under Done.
Priya Natarajan, the duty manager, sees on the Now board a follow-up for R1003 asked a fortnight
ago and still open ("Follow-ups overdue"), and follows its link to the overdue list.

Every page visited is saved as a screenshot (screenshots/follow-ups-*-WIDTHpx.png) and checked
with axe-core, and none is wider than the window.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pyotp
from playwright.sync_api import Page, expect
from sqlalchemy import select

from crisisline.models import Participant, Staff
from crisisline.note_models import FollowUp, FollowUpStatus
from tests.support.app import services_of
from tests.support.browser import LiveServer, looked_at
from tests.support.console import PASSWORD, enrol
from tests.support.follow_ups import Member, handled_call, write_note

WHAT_DONE = "Rang him at 09:10: he is settled at his sister's."


def test_an_officer_marks_a_follow_up_done_and_the_duty_manager_sees_an_overdue_one(
    page: Page, live_server: LiveServer, open_page: Callable[[int], Page]
) -> None:
    app = live_server.app
    now = live_server.clock.now()
    amira = _member(live_server, "amira.okafor@example.org")
    asked = handled_call(
        app, _participant(live_server, "R1001"), amira, now - dt.timedelta(hours=2)
    )
    write_note(app, asked, amira, now - dt.timedelta(hours=1), follow_up="Ring him this morning")
    late = handled_call(app, _participant(live_server, "R1003"), amira, now - dt.timedelta(days=14))
    write_note(app, late, amira, now - dt.timedelta(days=14), follow_up="Check he saw his GP")

    _sign_in(page, live_server, "gareth.lloyd@example.org")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Follow-ups").click()
    expect(page.locator("h1")).to_have_text("Follow-ups")
    card = page.locator(".follow-up-card").filter(has_text="R1001")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("Ring him this morning")
    expect(card).to_contain_text("by Amira Okafor")
    expect(page.locator(".follow-up-card").filter(has_text="R1003")).to_have_count(0)
    looked_at(page, "follow-ups-officer-open")

    card.get_by_label("Done: what I did").fill(WHAT_DONE)
    card.get_by_role("button", name="Mark done").click()
    expect(page.get_by_role("status").first).to_contain_text("Marked done")
    expect(page.locator(".follow-up-card")).to_have_count(0)
    looked_at(page, "follow-ups-officer-marked")
    page.get_by_role("link", name="Done", exact=True).click()
    expect(page.locator(".follow-up-card").filter(has_text="R1001")).to_contain_text(WHAT_DONE)
    looked_at(page, "follow-ups-officer-done")
    with services_of(app).db.transaction() as session:
        row = session.scalars(select(FollowUp).where(FollowUp.contact_id == asked)).one()
        assert (row.status, row.done_what) == (FollowUpStatus.DONE, WHAT_DONE)

    width = page.viewport_size["width"] if page.viewport_size else 1280
    manager = open_page(width)
    _sign_in(manager, live_server, "priya.natarajan@example.org")
    section = manager.locator("section").filter(has=manager.locator("#now-follow-ups"))
    expect(section).to_contain_text("Follow-ups overdue")
    expect(section).to_contain_text("1 open more than two working days.")
    expect(section).to_contain_text("R1003, for Helen Marsh")
    looked_at(manager, "follow-ups-now-board-overdue")
    section.get_by_role("link", name="Every overdue follow-up").click()
    expect(manager.locator("h1")).to_have_text("Follow-ups")
    overdue = manager.locator(".follow-up-card")
    expect(overdue).to_have_count(1)
    expect(overdue).to_contain_text("Check he saw his GP")
    expect(overdue).to_contain_text("Overdue")
    looked_at(manager, "follow-ups-manager-overdue")


def _member(live_server: LiveServer, email: str) -> Member:
    with services_of(live_server.app).db.transaction() as session:
        found = session.scalars(select(Staff).where(Staff.email == email)).one()
        return Member(found.id, found.name, found.phone, tuple(found.roles))


def _participant(live_server: LiveServer, reference: str) -> int:
    with services_of(live_server.app).db.transaction() as session:
        found = session.scalar(select(Participant.id).where(Participant.reference == reference))
    assert found is not None
    return found


def _sign_in(page: Page, live_server: LiveServer, email: str) -> None:
    """Give the demo person a console account and sign in through both steps."""
    db = services_of(live_server.app).db
    with db.transaction() as session:
        staff_id = session.scalar(select(Staff.id).where(Staff.email == email))
    assert staff_id is not None
    secret, _ = enrol(db, staff_id, live_server.clock.now())
    page.goto("/login")
    page.get_by_label("Phone number or email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Six-digit code").fill(pyotp.TOTP(secret).at(live_server.clock.now()))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
