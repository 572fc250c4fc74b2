"""From the texted link to the morning handover, in a real browser: Amira Okafor (on call in the
demo data) took a call from R1001 that has just ended. The scheduler's note-prompts job texts her
phone a link; on a 360 px phone she follows it, signs in and files her note in under ten actions
(counted); then the duty manager, at her desk, opens the handover and finds the call with
Amira's note, and the record access log holds both the writing and the reading.

Every page visited is saved as a screenshot (screenshots/night-*-WIDTHpx.png) and checked with
axe-core (no serious or critical violation), and none is wider than the window.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from urllib.parse import urlsplit

import pyotp
from playwright.sync_api import Page, expect
from sqlalchemy import select

from crisisline import contact_notes, contacts
from crisisline.jobs import Jobs
from crisisline.models import (
    Channel,
    ContactOutcome,
    Direction,
    Participant,
    RecordAccess,
    Staff,
)
from crisisline.note_models import RiskNow
from tests.support.app import services_of
from tests.support.browser import LiveServer, last_text_to, looked_at
from tests.support.console import PASSWORD, enrol

WORKER_EMAIL = "amira.okafor@example.org"
WORKER_PHONE = "+447700900101"
MANAGER_EMAIL = "priya.natarajan@example.org"
REFERENCE = "R1001"
HIS_PHONE = "+447700900201"
LINE = "+447700900000"
WHAT = "Rang after a row at his hostel; calmer by the end. Staying at his sister's tonight."


def test_a_worker_follows_the_texted_link_files_her_note_and_the_manager_reads_it_in_the_handover(
    live_server: LiveServer, open_page: Callable[[int], Page]
) -> None:
    call_id = _call_she_took_and_ended(live_server)
    svc = services_of(live_server.app)

    # The scheduler's pass texts her phone the link (through the console telephony).
    Jobs(svc).send_note_prompts()
    text = last_text_to(live_server.app, WORKER_PHONE)
    assert "please write your note on the call you took" in text
    assert HIS_PHONE not in text and REFERENCE not in text and "Daniel" not in text
    link = re.search(r"https?://\S+", text)
    assert link is not None, text
    secret = _account(live_server, WORKER_EMAIL)

    phone = open_page(360)
    actions = 0  # each goto, fill, check and click she makes is one action
    phone.goto(urlsplit(link.group(0)).path)  # she taps the link in the text
    actions += 1
    expect(phone.get_by_label("Phone number or email")).to_be_visible()
    looked_at(phone, "night-sign-in-from-link")
    phone.get_by_label("Phone number or email").fill(WORKER_EMAIL)
    actions += 1
    phone.get_by_label("Password").fill(PASSWORD)
    actions += 1
    phone.get_by_role("button", name="Continue").click()
    actions += 1
    phone.get_by_label("Six-digit code").fill(pyotp.TOTP(secret).at(live_server.clock.now()))
    actions += 1
    phone.get_by_role("button", name="Sign in").click()
    actions += 1
    phone.wait_for_url(f"**/contacts/{call_id}/note")
    expect(phone.locator("h1")).to_contain_text(REFERENCE)
    looked_at(phone, "night-note-form")
    phone.get_by_label("What happened").fill(WHAT)
    actions += 1
    phone.get_by_role("radio", name=re.compile(r"^Medium")).check()
    actions += 1
    phone.get_by_role("button", name="Save the note").click()
    actions += 1
    expect(phone.get_by_role("status").first).to_contain_text("Note saved.")
    assert actions < 10, f"{actions} actions from the text to a filed note"
    looked_at(phone, "night-note-saved")
    with svc.db.transaction() as session:
        (note,) = contact_notes.versions(session, call_id)
        assert (note.what_happened, note.risk_now) == (WHAT, RiskNow.MEDIUM)
        amira = session.scalar(select(Staff.id).where(Staff.email == WORKER_EMAIL))
        assert note.author_staff_id == amira

    # The morning: the duty manager reads the handover at her desk.
    live_server.clock.advance(dt.timedelta(hours=2))
    desk = open_page(1280)
    _sign_in(desk, live_server, MANAGER_EMAIL)
    desk.get_by_role("navigation", name="Main").get_by_role("link", name="Handover").click()
    desk.get_by_role("link", name="Last 24 hours").click()
    main = desk.locator("main")
    expect(desk.get_by_role("heading", name="R1001 D.P.")).to_be_visible()
    expect(main).to_contain_text("Call answered by Amira Okafor")
    expect(main).to_contain_text("Risk now: Medium")
    expect(main).to_contain_text(WHAT)
    expect(desk.locator(".handover-figures")).to_contain_text("0 with no note yet")
    looked_at(desk, "night-handover")

    # The record access log: her note written, and the manager's reading of his record.
    with svc.db.transaction() as session:
        man = session.scalar(select(Participant.id).where(Participant.reference == REFERENCE))
        manager = session.scalar(select(Staff.id).where(Staff.email == MANAGER_EMAIL))
        entries = session.scalars(
            select(RecordAccess).where(RecordAccess.participant_id == man)
        ).all()
        assert any(
            e.staff_id == amira and e.record_type == "contact_note" and e.action == "change"
            for e in entries
        ), [(e.staff_id, e.record_type, e.action) for e in entries]
        assert any(e.staff_id == manager and e.action == "read" for e in entries)


def _call_she_took_and_ended(live_server: LiveServer) -> int:
    """R1001 rang the line twenty minutes ago; Amira took the call and it has just ended."""
    svc = services_of(live_server.app)
    now = live_server.clock.now()
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
            started_at=now - dt.timedelta(minutes=20),
            participant_id=man,
            outcome=ContactOutcome.ANSWERED,
            handled_by_staff_id=amira,
        )
        contact.answered_at = now - dt.timedelta(minutes=19)
        contact.ended_at = now - dt.timedelta(minutes=1)
        return contact.id


def _account(live_server: LiveServer, email: str) -> str:
    """Give a demo staff member a console account; the TOTP secret of her authenticator."""
    db = services_of(live_server.app).db
    with db.transaction() as session:
        staff_id = session.scalar(select(Staff.id).where(Staff.email == email))
    assert staff_id is not None
    secret, _ = enrol(db, staff_id, live_server.clock.now())
    return secret


def _sign_in(page: Page, live_server: LiveServer, email: str) -> None:
    secret = _account(live_server, email)
    page.goto("/login")
    page.get_by_label("Phone number or email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Six-digit code").fill(pyotp.TOTP(secret).at(live_server.clock.now()))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
