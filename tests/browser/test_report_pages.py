"""The reports page in a real browser, at a phone's width and a laptop's: over the last fortnight
R1001 and R1002 called at all hours, some calls answered by Amira or Tom and some missed, and
R1002 texted. The duty manager opens Reports from the menu (the last 7 days), reads the headline
figures against their targets, sees the four charts drawn, asks for the last fortnight broken down
by staff member, follows a figure to the contacts it counts, and types a period backwards.

The figures are the real measures' over the contacts recorded. Every page visited is saved
as a screenshot (screenshots/reports-*-WIDTHpx.png) and checked with axe-core, and none is
wider than the window.
"""

from __future__ import annotations

import datetime as dt

import pyotp
from playwright.sync_api import Page, expect
from sqlalchemy import select

from crisisline import contacts
from crisisline.models import Channel, ContactOutcome, Direction, Participant, Staff
from tests.support.app import services_of
from tests.support.browser import LiveServer, looked_at
from tests.support.console import PASSWORD, enrol

MANAGER_EMAIL = "priya.natarajan@example.org"
LINE = "+447700900000"
CHARTS = ("answer-rate", "time-to-answer", "time-to-call-back", "contacts-by-hour")


def test_the_duty_manager_reads_the_reports_and_their_charts(
    page: Page, live_server: LiveServer
) -> None:
    _fortnight(live_server)
    _sign_in(page, live_server, MANAGER_EMAIL)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    expect(page.locator("h1")).to_have_text("Reports")
    main = page.locator("main")
    expect(main).to_contain_text("Against the targets")
    # The last 7 days: answered 5 of 7 offered (the rest missed), none abandoned.
    expect(page.locator(".report-headline")).to_contain_text("Not met")
    expect(page.locator(".report-headline")).to_contain_text("Met")
    expect(page.get_by_role("heading", name="Calls", exact=True)).to_be_visible()
    _charts_drawn(page)
    looked_at(page, "reports-last-7-days")

    zone = services_of(live_server.app).settings.zone
    today = live_server.clock.now().astimezone(zone).date()
    page.get_by_label("First day").fill((today - dt.timedelta(days=14)).isoformat())
    page.get_by_label("Last day").fill(today.isoformat())
    page.get_by_label("Break down by").select_option("staff")
    page.get_by_role("button", name="Show the report").click()
    expect(page.get_by_role("heading", name="By staff member")).to_be_visible()
    page.locator("summary", has_text="Amira Okafor").click()
    _charts_drawn(page)
    # Amira answered the fortnight's calls 0, 3, 4, 7, 8, 11 and 12 days ago.
    expect(
        page.get_by_role("link", name="Calls offered: 7, the contacts it counts")
    ).to_be_visible()
    looked_at(page, "reports-by-staff")

    page.get_by_role("link", name="Calls offered: 7, the contacts it counts").click()
    expect(page.locator("h1")).to_have_text("Calls offered: the contacts")
    expect(page.locator(".report-contacts")).to_contain_text("R1001")
    expect(page.locator(".report-contacts")).not_to_contain_text("+4477009002")
    looked_at(page, "reports-contacts")

    page.goto("/reports?from=2026-11-26&to=2026-11-20")
    expect(page.locator("#report-to-error")).to_have_text("Must be on or after the first day.")
    looked_at(page, "reports-backwards")


def _charts_drawn(page: Page) -> None:
    """Each chart's <img> loaded an SVG the browser could draw."""
    for name in CHARTS:
        image = page.locator(f'img[src*="/reports/charts/{name}.svg"]')
        image.scroll_into_view_if_needed()
        expect(image).to_be_visible()
        page.wait_for_function(
            "image => image.complete && image.naturalWidth > 0", arg=image.element_handle()
        )


def _fortnight(live_server: LiveServer) -> None:
    """Calls and a text over the last 14 days, at different hours."""
    now = live_server.clock.now().replace(minute=0, second=0)
    with services_of(live_server.app).db.transaction() as session:
        people = {
            row.reference: row.id
            for row in session.execute(select(Participant.reference, Participant.id))
        }
        staff = {row.name: row.id for row in session.execute(select(Staff.name, Staff.id))}
        handlers = [staff["Amira Okafor"], None, staff["Tom Hughes"], staff["Amira Okafor"]]
        for n in range(14):
            handler = handlers[n % len(handlers)]
            at = now - dt.timedelta(days=n, hours=(n * 5) % 24)
            call, _ = contacts.record(
                session,
                channel=Channel.VOICE,
                direction=Direction.INBOUND,
                from_number="+447700900201" if n % 2 else "+447700900203",
                to_number=LINE,
                twilio_sid=None,
                started_at=at,
                participant_id=people["R1001" if n % 2 else "R1002"],
                outcome=ContactOutcome.ANSWERED if handler else ContactOutcome.MISSED,
                handled_by_staff_id=handler,
            )
            call.wait_seconds = 10 + 7 * n
            if handler:
                call.answered_at = at + dt.timedelta(seconds=10 + 7 * n)
            call.ended_at = at + dt.timedelta(minutes=12)
        contacts.record(
            session,
            channel=Channel.SMS,
            direction=Direction.INBOUND,
            from_number="+447700900203",
            to_number=LINE,
            twilio_sid=None,
            started_at=now - dt.timedelta(hours=3),
            participant_id=people["R1002"],
            body="please ring me",
            outcome=ContactOutcome.RELAYED,
        )


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
