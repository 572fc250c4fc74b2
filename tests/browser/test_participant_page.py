"""A participant's page in a real browser, at a phone's width and a laptop's: an on-call worker
opens a man whose texts she handled and reads them on his timeline; a duty manager finds another
man by a phone number typed the way people write it and opens his page through break-glass.

Each page is saved as a screenshot (screenshots/participant-*-WIDTHpx.png), checked with
axe-core, checked to fit the window, and watched for content security policy violations (the
chart's SVG brings pygal's own styles; the page must not need them)."""

from __future__ import annotations

import datetime as dt

import pyotp
from playwright.sync_api import ConsoleMessage, Page, expect
from sqlalchemy import select

from crisisline import contacts, participants, staff
from crisisline.models import Channel, Direction, RecordAccess
from tests.support.app import services_of
from tests.support.browser import LiveServer, axe_check, fits_the_window, save_screenshot
from tests.support.console import PASSWORD, enrol

WORKER_EMAIL = "amira.okafor@example.org"  # on call (demo staff)
MANAGER_EMAIL = "priya.natarajan@example.org"  # duty manager (demo staff)
DANIEL = "+447700900201"  # R1001 Daniel Price
MARCUS = "+447700900204"  # R1003 Marcus Bell
LINE = "+447700900000"


def test_an_on_call_worker_reads_the_texts_of_a_man_she_handled(
    page: Page, live_server: LiveServer
) -> None:
    """Amira took Daniel's texts last night: the Participants list has him (and only the men
    she handled), and his page shows his words and hers, newest first, under the day they
    were sent; his calls and texts by week sit below, as a chart with a table of the same
    figures. Nothing on the page breaks the content security policy."""
    violations = _csp_violations(page)
    amira_id, amira_phone = _staff_member(live_server, WORKER_EMAIL)
    daniel = _participant(live_server, DANIEL)
    now = live_server.clock.now()
    _text(live_server, daniel, now - dt.timedelta(hours=9), "I can't sleep. Can someone ring me?")
    _text(
        live_server,
        daniel,
        now - dt.timedelta(hours=8, minutes=58),
        "Hi Daniel, it's Amira from the crisis line. I'll ring you in 5 minutes.",
        staff_id=amira_id,
    )
    _call(live_server, daniel, now - dt.timedelta(hours=8, minutes=50), staff_id=amira_id)
    _text(live_server, daniel, now - dt.timedelta(hours=8), "Thanks for earlier, feeling calmer.")

    _sign_in(page, live_server, amira_id, amira_phone)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Participants").click()
    expect(page.locator("h1")).to_have_text("Participants")
    results = page.locator("table.participant-results tbody tr")
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text("R1001 Daniel Price")
    fits_the_window(page)
    save_screenshot(page, "participant-search-worker")
    axe_check(page)

    results.first.get_by_role("link").click()
    expect(page.locator("h1")).to_have_text("R1001 Daniel Price")
    texts = page.locator("li.participant-texts")
    expect(texts).to_have_count(3)
    expect(texts.nth(0)).to_contain_text("Thanks for earlier, feeling calmer.")
    expect(texts.nth(0)).to_contain_text("Text from him")
    expect(texts.nth(1)).to_contain_text("Written by Amira Okafor")
    expect(texts.nth(1)).to_contain_text("I'll ring you in 5 minutes.")
    expect(texts.nth(2)).to_contain_text("I can't sleep. Can someone ring me?")
    call = page.locator("li.participant-calls")
    expect(call).to_contain_text("Answered by")
    expect(call).to_contain_text("Amira Okafor")
    expect(call).to_contain_text("4 min 05 s")
    # Alerts are for officers and duty managers: not hers to filter on.
    expect(page.get_by_label("Alerts")).to_have_count(0)
    chart = page.locator("figure.participant-chart img")
    expect(chart).to_be_visible()
    # The SVG loads (and draws) under its own policy: waits for it, failing if it never does.
    page.wait_for_function(
        "() => { const chart = document.querySelector('figure.participant-chart img');"
        " return chart !== null && chart.complete && chart.naturalWidth > 0; }"
    )
    expect(page.locator("table.participant-week-table tbody tr")).to_have_count(12)
    fits_the_window(page)
    save_screenshot(page, "participant-page-worker")
    axe_check(page)

    # She narrows the timeline to his calls.
    page.get_by_text("Filter by kind or date").click()
    page.get_by_label("Calls", exact=True).check()
    page.get_by_role("button", name="Show").click()
    expect(page.locator("li.participant-texts")).to_have_count(0)
    expect(page.locator("li.participant-calls")).to_have_count(1)
    expect(page.get_by_label("Calls", exact=True)).to_be_checked()
    fits_the_window(page)
    save_screenshot(page, "participant-page-worker-calls")
    axe_check(page)
    assert violations == []


def test_a_duty_manager_finds_a_man_by_his_number_and_opens_him_through_break_glass(
    page: Page, live_server: LiveServer
) -> None:
    """Priya types Marcus's number as it is written on a note (+44 7700 900204), finds him,
    and opening his page asks her why first; with a reason chosen she sees his details and
    timeline, and the reason is in the access log."""
    violations = _csp_violations(page)
    priya_id, priya_phone = _staff_member(live_server, MANAGER_EMAIL)
    marcus = _participant(live_server, MARCUS)
    _text(live_server, marcus, live_server.clock.now() - dt.timedelta(days=3), "Are you open?")

    _sign_in(page, live_server, priya_id, priya_phone)
    page.goto("/participants")
    page.get_by_label("Reference, name or phone number").fill("+44 7700 900204")
    page.get_by_role("button", name="Search").click()
    results = page.locator("table.participant-results tbody tr")
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text("R1003 Marcus Bell")
    fits_the_window(page)
    save_screenshot(page, "participant-search-manager")
    axe_check(page)

    results.first.get_by_role("link").click()
    expect(page.locator("h1")).to_have_text("Why do you need this record?")
    fits_the_window(page)
    save_screenshot(page, "participant-break-glass")
    axe_check(page)
    page.get_by_label("Safeguarding concern raised about him").check()
    page.get_by_role("button", name="Open the record").click()

    expect(page.locator("h1")).to_have_text("R1003 Marcus Bell")
    expect(page.locator(".participant-details")).to_contain_text("Helen Marsh")
    expect(page.locator(".participant-details")).to_contain_text("07700 900204")
    expect(page.locator("li.participant-texts")).to_contain_text("Are you open?")
    expect(page.get_by_label("Alerts")).to_have_count(1)
    fits_the_window(page)
    save_screenshot(page, "participant-page-manager")
    axe_check(page)
    with services_of(live_server.app).db.transaction() as session:
        reasons = set(
            session.scalars(
                # The page's reads (the search's list entry needed no reason).
                select(RecordAccess.reason).where(
                    RecordAccess.staff_id == priya_id,
                    RecordAccess.participant_id == marcus,
                    RecordAccess.record_id.is_not(None),
                )
            )
        )
    assert reasons == {"Safeguarding concern raised about him"}
    assert violations == []


# ---- helpers ----------------------------------------------------------------------------------


def _csp_violations(page: Page) -> list[str]:
    """Content security policy violations the page reports on its console, as they come."""
    found: list[str] = []

    def heard(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            found.append(message.text)

    page.on("console", heard)
    return found


def _staff_member(live_server: LiveServer, email: str) -> tuple[int, str]:
    with services_of(live_server.app).db.transaction() as session:
        person = staff.find_by_email(session, email)
        assert person is not None
        return person.id, person.phone


def _participant(live_server: LiveServer, phone: str) -> int:
    with services_of(live_server.app).db.transaction() as session:
        found = participants.id_by_phone(session, phone)
        assert found is not None
        return found


def _text(
    live_server: LiveServer,
    participant_id: int,
    at: dt.datetime,
    body: str,
    *,
    staff_id: int | None = None,
) -> None:
    """A text from him (or, with `staff_id`, that member of staff's words relayed to him)."""
    inbound = staff_id is None
    with services_of(live_server.app).db.transaction() as session:
        phone = participants.get(session, participant_id).phones[0]
        contacts.record(
            session,
            channel=Channel.SMS,
            direction=Direction.INBOUND if inbound else Direction.OUTBOUND,
            from_number=phone if inbound else LINE,
            to_number=LINE if inbound else phone,
            twilio_sid=None,
            started_at=at,
            participant_id=participant_id,
            body=body,
            outcome="relayed" if inbound else "sent",
            handled_by_staff_id=staff_id,
        )


def _call(live_server: LiveServer, participant_id: int, at: dt.datetime, *, staff_id: int) -> None:
    with services_of(live_server.app).db.transaction() as session:
        phone = participants.get(session, participant_id).phones[0]
        contact, _ = contacts.record(
            session,
            channel=Channel.VOICE,
            direction=Direction.INBOUND,
            from_number=phone,
            to_number=LINE,
            twilio_sid=None,
            started_at=at,
            participant_id=participant_id,
            outcome="answered",
            handled_by_staff_id=staff_id,
        )
        contact.wait_seconds = 20
        contact.duration_seconds = 245


def _sign_in(page: Page, live_server: LiveServer, staff_id: int, phone: str) -> None:
    secret, _codes = enrol(services_of(live_server.app).db, staff_id, live_server.clock.now())
    page.goto("/login")
    page.get_by_label("Phone number or email").fill(phone)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Six-digit code").fill(pyotp.TOTP(secret).at(live_server.clock.now()))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
