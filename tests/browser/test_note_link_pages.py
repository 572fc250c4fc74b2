"""The texted link to a note form in a real browser, at a phone's width and a laptop's: the
worker who took a call opens the link, is asked to sign in and lands on the note form's
address; a colleague who opens the same link is told it was sent to someone else; an expired
and a changed link get pages of their own. None of them says anything about the contact.

Every refusal page is saved as a screenshot (screenshots/note-link-*-WIDTHpx.png) and checked
with axe-core, and none is wider than the window.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from urllib.parse import urlsplit

import pyotp
from playwright.sync_api import Page, expect
from sqlalchemy import select

from crisisline import contacts, note_prompts
from crisisline.models import Channel, ContactOutcome, Direction, Participant, Staff
from tests.support.app import services_of
from tests.support.browser import LiveServer, looked_at
from tests.support.console import PASSWORD, enrol

# The demo data: Amira Okafor and Tom Hughes are on-call workers; R1001 is Daniel Price.
WORKER_EMAIL = "amira.okafor@example.org"
COLLEAGUE_EMAIL = "tom.hughes@example.org"
LINE = "+447700900000"


def test_the_worker_signs_in_from_the_link_and_a_colleague_is_refused(
    page: Page, live_server: LiveServer, open_page: Callable[[int], Page]
) -> None:
    worker_id = _staff_id(live_server, WORKER_EMAIL)
    contact_id = _answered_call(live_server, worker_id)
    now = live_server.clock.now()
    path = _path(
        note_prompts.url(services_of(live_server.app).settings, contact_id, worker_id, now)
    )

    page.goto(path)
    expect(page.get_by_label("Phone number or email")).to_be_visible()
    _sign_in(page, live_server, WORKER_EMAIL)
    page.wait_for_url(f"**/contacts/{contact_id}/note")

    width = page.viewport_size["width"] if page.viewport_size else 1280
    other = open_page(width)
    other.goto(path)
    _sign_in(other, live_server, COLLEAGUE_EMAIL)
    expect(other.locator("h1")).to_have_text("Not your link")
    expect(other.get_by_role("alert")).to_contain_text("sent to another member of staff")
    for secret in ("Daniel", "R1001", "Amira", f"/contacts/{contact_id}"):
        expect(other.locator("main")).not_to_contain_text(secret)
    looked_at(other, "note-link-not-yours")

    expired = note_prompts.url(
        services_of(live_server.app).settings, contact_id, worker_id, now - dt.timedelta(hours=13)
    )
    answer = page.goto(_path(expired))
    assert answer is not None and answer.status == 410
    expect(page.locator("h1")).to_have_text("Link expired")
    looked_at(page, "note-link-expired")

    answer = page.goto(path[:-3])  # cut short, as a phone might wrap it
    assert answer is not None and answer.status == 404
    expect(page.locator("h1")).to_have_text("Link not recognised")
    looked_at(page, "note-link-not-recognised")


def _path(url: str) -> str:
    return urlsplit(url).path


def _staff_id(live_server: LiveServer, email: str) -> int:
    with services_of(live_server.app).db.transaction() as session:
        found = session.scalar(select(Staff.id).where(Staff.email == email))
    assert found is not None
    return found


def _answered_call(live_server: LiveServer, worker_id: int) -> int:
    """A call from R1001 that the worker took and that has ended."""
    svc = services_of(live_server.app)
    now = live_server.clock.now()
    with svc.db.transaction() as session:
        participant_id = session.scalar(
            select(Participant.id).where(Participant.reference == "R1001")
        )
        contact, _ = contacts.record(
            session,
            channel=Channel.VOICE,
            direction=Direction.INBOUND,
            from_number="+447700900201",
            to_number=LINE,
            twilio_sid=None,
            started_at=now - dt.timedelta(minutes=20),
            participant_id=participant_id,
            outcome=ContactOutcome.ANSWERED,
            handled_by_staff_id=worker_id,
        )
        contact.answered_at = now - dt.timedelta(minutes=19)
        contact.ended_at = now - dt.timedelta(minutes=2)
        return contact.id


def _sign_in(page: Page, live_server: LiveServer, email: str) -> None:
    """Give the demo worker a console account and sign in through both steps, from the sign-in
    page the link sent the browser to."""
    db = services_of(live_server.app).db
    secret, _ = enrol(db, _staff_id(live_server, email), live_server.clock.now())
    page.get_by_label("Phone number or email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Six-digit code").fill(pyotp.TOTP(secret).at(live_server.clock.now()))
    page.get_by_role("button", name="Sign in").click()
