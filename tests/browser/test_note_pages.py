"""Notes in a real browser, at a phone's width and a laptop's: Amira Okafor (on call in the demo
data) took a call from R1001 last night; signed in, she opens the call's note form, files a
note in under ten actions (counted), and sees it on the call's page; then she corrects it, and
the page shows the correction and the first version as it was written.

Every page visited is saved as a screenshot (screenshots/notes-*-WIDTHpx.png) and checked with
axe-core (no serious or critical violation), and none is wider than the window.
"""

from __future__ import annotations

import datetime as dt
import re

import pyotp
from playwright.sync_api import Page, expect
from sqlalchemy import select

from crisisline import contact_notes, contacts
from crisisline.models import Channel, ContactOutcome, Direction, Participant, Staff
from tests.support.app import services_of
from tests.support.browser import LiveServer, looked_at
from tests.support.console import PASSWORD, enrol

WORKER_EMAIL = "amira.okafor@example.org"
REFERENCE = "R1001"
HIS_PHONE = "+447700900201"
LINE = "+447700900000"
WHAT = "Rang after a row at his hostel. Talked it through; he will stay at his sister's tonight."
CORRECTED = WHAT + " He agreed to ring the line again if it flares up."


def test_a_worker_files_a_note_on_a_call_she_took_in_under_ten_actions(
    page: Page, live_server: LiveServer
) -> None:
    call_id = _call_she_took(live_server)
    _sign_in(page, live_server, WORKER_EMAIL)

    # What the worker does, counted: each goto, fill, check and click is one action.
    actions = 0
    page.goto(f"/contacts/{call_id}/note")
    actions += 1
    expect(page.locator("h1")).to_contain_text(REFERENCE)
    looked_at(page, "notes-form-new")
    page.get_by_label("What happened").fill(WHAT)
    actions += 1
    page.get_by_role("radio", name=re.compile(r"^Medium")).check()
    actions += 1
    page.get_by_role("button", name="Save the note").click()
    actions += 1
    expect(page.get_by_role("status").first).to_contain_text("Note saved.")
    assert actions < 10, f"{actions} actions to file a note"
    expect(page.locator(".note-current")).to_contain_text(WHAT)
    expect(page.locator(".note-current")).to_contain_text("Medium")
    expect(page.locator(".note-current")).to_contain_text("Written by Amira Okafor")
    looked_at(page, "notes-contact-one-version")

    # A correction: prefilled from the note, asks why, and keeps the first version.
    page.get_by_role("link", name="Correct this note").click()
    expect(page.get_by_label("What happened")).to_have_value(WHAT)
    expect(page.get_by_role("radio", name=re.compile(r"^Medium"))).to_be_checked()
    # The browser itself asks for the reason before sending (the server refuses it too).
    expect(page.get_by_label("Why are you correcting it?")).to_have_attribute("required", "")
    looked_at(page, "notes-form-correction")
    page.get_by_label("Why are you correcting it?").fill("Left out what he agreed to")
    page.get_by_label("What happened").fill(CORRECTED)
    page.get_by_role("button", name="Save the correction").click()
    expect(page.get_by_role("status").first).to_contain_text("Correction saved (version 2).")
    expect(page.locator(".note-current")).to_contain_text(CORRECTED)
    expect(page.locator(".note-current")).to_contain_text("Left out what he agreed to")
    expect(page.locator(".note-version")).to_have_count(1)
    expect(page.locator(".note-version")).to_contain_text("Version 1")
    expect(page.locator(".note-version")).to_contain_text(WHAT)
    looked_at(page, "notes-contact-two-versions")
    with services_of(live_server.app).db.transaction() as session:
        first, second = contact_notes.versions(session, call_id)
        assert first.what_happened == WHAT and second.what_happened == CORRECTED

    # His page links the call to its note.
    page.get_by_role("link", name=re.compile(rf"^{REFERENCE} ")).click()
    expect(page.locator(f'a[href="/contacts/{call_id}"]')).to_have_text("Note")
    looked_at(page, "notes-participant-timeline")


def _call_she_took(live_server: LiveServer) -> int:
    """R1001 rang the line last night and Amira Okafor took the call."""
    svc = services_of(live_server.app)
    at = live_server.clock.now() - dt.timedelta(hours=9)
    with svc.db.transaction() as session:
        amira = session.scalar(select(Staff.id).where(Staff.email == WORKER_EMAIL))
        man = session.scalar(select(Participant.id).where(Participant.reference == REFERENCE))
        contact, _ = contacts.record(
            session,
            channel=Channel.VOICE,
            direction=Direction.INBOUND,
            from_number=HIS_PHONE,
            to_number=LINE,
            twilio_sid=None,
            started_at=at,
            participant_id=man,
            outcome=ContactOutcome.ANSWERED,
            handled_by_staff_id=amira,
        )
        contact.ended_at = at + dt.timedelta(minutes=14)
        return contact.id


def _sign_in(page: Page, live_server: LiveServer, email: str) -> None:
    """Give the demo worker a console account and sign in through both steps."""
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
