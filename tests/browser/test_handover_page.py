"""The handover in a real browser, at a phone's width and a laptop's: overnight R1001 called and
Amira took the call and wrote her note, R1002's call was missed, and Tom took a text
conversation with R1001 and has written no note yet. The duty manager signs in, opens the
handover from the menu, chooses "Last 24 hours", reads every section (the note, "no note
yet", the missed call not called back), then asks for a period of her own with the fields.

Every page visited is saved as a screenshot (screenshots/handover-*-WIDTHpx.png) and checked
with axe-core (no serious or critical violation), and none is wider than the window.
"""

from __future__ import annotations

import datetime as dt

import pyotp
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from crisisline import contacts
from crisisline.conversation_models import SmsConversation
from crisisline.models import Channel, ContactOutcome, Direction, Participant, Staff
from crisisline.note_models import RiskNow
from tests.support.app import services_of
from tests.support.browser import LiveServer, looked_at
from tests.support.console import PASSWORD, enrol
from tests.support.handover import note

MANAGER_EMAIL = "priya.natarajan@example.org"
LINE = "+447700900000"


def test_the_duty_manager_reads_the_nights_handover(page: Page, live_server: LiveServer) -> None:
    _night(live_server)
    _sign_in(page, live_server, MANAGER_EMAIL)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Handover").click()
    expect(page.locator("h1")).to_have_text("Handover")
    looked_at(page, "handover-default")

    page.get_by_role("link", name="Last 24 hours").click()
    main = page.locator("main")
    expect(page.locator(".handover-figures")).to_contain_text(
        "2 calls (1 missed), 1 text, 0 alerts, 1 with no note yet."
    )
    r1001 = page.get_by_role("heading", name="R1001 D.P.")
    expect(r1001).to_be_visible()
    expect(main).to_contain_text("Call answered by Amira Okafor")
    expect(main).to_contain_text("Risk now: High")
    expect(main).to_contain_text("Talked him down; he went to his sister's.")
    expect(main).to_contain_text("taken by Tom Hughes")
    expect(page.locator(".handover-missing")).to_contain_text("No note yet.")
    expect(main).to_contain_text("Not called back.")
    expect(page.get_by_role("heading", name="Who was on call")).to_be_visible()
    looked_at(page, "handover-last-24-hours")

    # A period of her own: the last two hours miss the call at 22:00 and the missed call.
    now = live_server.clock.now()
    zone = services_of(live_server.app).settings.zone
    page.get_by_label("From (local time)").fill(_local(now - dt.timedelta(hours=2), zone))
    page.get_by_label("To (local time)").fill(_local(now, zone))
    page.get_by_role("button", name="Show the handover").click()
    expect(page.locator(".handover-figures")).to_contain_text(
        "0 calls, 1 text, 0 alerts, 1 with no note yet."
    )
    expect(main).not_to_contain_text("Call answered")
    looked_at(page, "handover-own-period")

    # A period backwards: the form again, the message beside the field.
    page.get_by_label("From (local time)").fill(_local(now, zone))
    page.get_by_label("To (local time)").fill(_local(now - dt.timedelta(hours=2), zone))
    page.get_by_role("button", name="Show the handover").click()
    expect(page.locator("#handover-to-error")).to_have_text("must be after the start")
    looked_at(page, "handover-backwards")


def _local(instant: dt.datetime, zone: dt.tzinfo) -> str:
    return instant.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def _ids(session: Session) -> tuple[dict[str, int], dict[str, int]]:
    people = {
        row.reference: row.id
        for row in session.execute(select(Participant.reference, Participant.id))
    }
    staff = {row.name: row.id for row in session.execute(select(Staff.name, Staff.id))}
    return people, staff


def _night(live_server: LiveServer) -> None:
    """Three contacts in the last 24 hours: 10, 6 and 1 hours ago."""
    now = live_server.clock.now()
    with services_of(live_server.app).db.transaction() as session:
        people, staff = _ids(session)
        call, _ = contacts.record(
            session,
            channel=Channel.VOICE,
            direction=Direction.INBOUND,
            from_number="+447700900201",
            to_number=LINE,
            twilio_sid=None,
            started_at=now - dt.timedelta(hours=10),
            participant_id=people["R1001"],
            outcome=ContactOutcome.ANSWERED,
            handled_by_staff_id=staff["Amira Okafor"],
        )
        call.ended_at = now - dt.timedelta(hours=9, minutes=40)
        session.flush()
        note(
            session,
            call.id,
            staff["Amira Okafor"],
            now - dt.timedelta(hours=9),
            "Talked him down; he went to his sister's.",
            risk=RiskNow.HIGH,
        )
        contacts.record(
            session,
            channel=Channel.VOICE,
            direction=Direction.INBOUND,
            from_number="+447700900203",
            to_number=LINE,
            twilio_sid=None,
            started_at=now - dt.timedelta(hours=6),
            participant_id=people["R1002"],
            outcome=ContactOutcome.MISSED,
        )
        conversation = SmsConversation(
            phone="+447700900202",
            participant_id=people["R1001"],
            status="open",
            handled_by_staff_id=staff["Tom Hughes"],
            opened_at=now - dt.timedelta(hours=1),
            last_message_at=now - dt.timedelta(hours=1),
        )
        session.add(conversation)
        session.flush()
        text, _ = contacts.record(
            session,
            channel=Channel.SMS,
            direction=Direction.INBOUND,
            from_number="+447700900202",
            to_number=LINE,
            twilio_sid=None,
            started_at=now - dt.timedelta(hours=1),
            participant_id=people["R1001"],
            body="can someone ring me",
            outcome=ContactOutcome.RELAYED,
        )
        text.conversation_id = conversation.id


def _sign_in(page: Page, live_server: LiveServer, email: str) -> None:
    """Give the demo duty manager a console account and sign in through both steps."""
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
