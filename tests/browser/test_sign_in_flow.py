"""The whole sign-in story in a real browser, at a phone's width and a laptop's: the demo
administrator signs in with a password and a TOTP code and invites an on-call worker; the worker
follows the texted link, sets a password, links an authenticator app, is shown recovery codes,
signs in, is refused the administrator's page and signs out.

The pages people see on the way are saved as screenshots (screenshots/flow-*-WIDTHpx.png) for
people to look at, and each of them is checked with axe-core (no serious or critical
violation), the sign-in and home pages first of all.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pyotp
from playwright.sync_api import Locator, Page, expect

from crisisline import staff
from tests.support.app import services_of
from tests.support.browser import (
    LiveServer,
    axe_check,
    fits_the_window,
    last_text_to,
    save_screenshot,
)

# An on-call worker of the demo staff who has no console account until this test invites her.
WORKER_EMAIL = "amira.okafor@example.org"
WORKER_NAME = "Amira Okafor"
WORKER_PASSWORD = "harbour lantern quietly forty-one"
INVITATION_LINK = re.compile(r"(https?://\S+/invitation/\S+)$")
TOTP_STEP = dt.timedelta(seconds=30)


def test_administrator_invites_a_worker_who_enrols_signs_in_and_is_refused_admin_pages(
    page: Page, live_server: LiveServer, open_page: Callable[[int], Page]
) -> None:
    """An administrator signs in (password, then code) and invites a worker from the staff
    accounts page; the texted link lets the worker set a password, link an authenticator app
    (QR code and typed key) and see ten recovery codes; the worker then signs in with a code,
    sees no administrator's link, is refused /staff-accounts with a "Not allowed" page, and
    signing out ends the session. No page is wider than the window, and axe-core finds no
    serious violation on any of them."""
    admin = live_server.administrator
    worker_id, worker_phone = _staff_member(live_server, WORKER_EMAIL)
    width = _width(page)

    # The administrator signs in: password, then the code his authenticator shows.
    page.goto("/login")
    expect(page.locator("h1")).to_have_text("Sign in")
    fits_the_window(page)
    save_screenshot(page, "flow-login")
    axe_check(page)
    page.get_by_label("Phone number or email").fill(admin.email)
    page.get_by_label("Password").fill(admin.password)
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("h1")).to_have_text("Sign in: your code")
    page.get_by_label("Six-digit code").fill(_code(admin.totp_secret, live_server))
    page.get_by_role("button", name="Sign in").click()

    expect(page.locator("h1")).to_have_text(admin.name)
    assert page.url == f"{live_server.url}/"
    expect(page.locator("main")).to_contain_text(f"Signed in as {admin.name}: Administrator.")
    expect(page.locator("main")).to_contain_text("On call now")
    fits_the_window(page)
    save_screenshot(page, "flow-home")
    axe_check(page)

    # He invites the worker, who has never had an account.
    _nav(page).get_by_role("link", name="Staff accounts").click()
    expect(page.locator("h1")).to_have_text("Staff accounts")
    row = page.locator(f"li#staff-{worker_id}")
    expect(row.locator("h2")).to_have_text(WORKER_NAME)
    expect(row.locator(".status")).to_have_text("none")
    row.get_by_role("button", name="Invite", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(
        f"An invitation is on its way to {WORKER_NAME}'s phone."
    )
    row = page.locator(f"li#staff-{worker_id}")
    expect(row.locator(".status")).to_have_text("invited")
    expect(row.get_by_role("button", name="Re-invite", exact=True)).to_be_visible()
    fits_the_window(page)
    save_screenshot(page, "flow-staff-accounts")
    axe_check(page)

    # The worker follows the link texted to her registered phone, in a browser of her own.
    text = last_text_to(live_server.app, worker_phone)
    found = INVITATION_LINK.search(text)
    assert found is not None, f"no invitation link in the text: {text!r}"
    link = found.group(1)
    assert link.startswith(f"{live_server.url}/invitation/")
    worker = open_page(width)
    worker.goto(link)
    expect(worker.locator("h1")).to_have_text("Set up your sign-in")
    worker.get_by_role("button", name="Set up my sign-in").click()

    # Step 1: a password, typed twice.
    expect(worker.locator("h1")).to_have_text("Choose a password")
    expect(worker.locator("main")).to_contain_text(f"Hello {WORKER_NAME}.")
    worker.get_by_label("New password", exact=True).fill(WORKER_PASSWORD)
    worker.get_by_label("Confirm new password").fill(WORKER_PASSWORD)
    worker.get_by_role("button", name="Set password").click()

    # Step 2: the authenticator app, from the QR code or the key typed in.
    expect(worker.locator("h1")).to_have_text("Link your authenticator app")
    expect(worker.locator("figure.qr svg")).to_be_visible()
    secret = worker.locator("#totp-secret").inner_text().replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret), "the typed key is a base32 TOTP secret"
    fits_the_window(worker)
    save_screenshot(worker, "flow-enrolment-qr")
    axe_check(worker)
    worker.get_by_label("Six-digit code").fill(_code(secret, live_server))
    worker.get_by_role("button", name="Confirm code").click()

    # Step 3: ten recovery codes, shown once.
    expect(worker.locator("h1")).to_have_text("Your recovery codes")
    codes = worker.locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    assert len(set(codes)) == 10
    fits_the_window(worker)
    save_screenshot(worker, "flow-recovery-codes")
    axe_check(worker)
    worker.get_by_role("button", name="I have saved these codes").click()
    expect(worker.locator("h1")).to_have_text("Sign in")
    assert worker.url.startswith(f"{live_server.url}/login")

    # The administrator sees her account active now.
    page.reload()
    row = page.locator(f"li#staff-{worker_id}")
    expect(row.locator(".status")).to_have_text("active")
    expect(row.get_by_role("button", name="Disable", exact=True)).to_be_visible()

    # The worker signs in, with the next step's code (the one that confirmed the app is spent).
    live_server.clock.advance(TOTP_STEP)
    worker.get_by_label("Phone number or email").fill(worker_phone)
    worker.get_by_label("Password").fill(WORKER_PASSWORD)
    worker.get_by_role("button", name="Continue").click()
    expect(worker.locator("h1")).to_have_text("Sign in: your code")
    worker.get_by_label("Six-digit code").fill(_code(secret, live_server))
    worker.get_by_role("button", name="Sign in").click()
    expect(worker.locator("h1")).to_have_text(WORKER_NAME)
    expect(worker.locator("main")).to_contain_text(f"Signed in as {WORKER_NAME}: On-call worker.")
    expect(_nav(worker).get_by_role("link", name="Now")).to_be_visible()
    expect(_nav(worker).get_by_role("link", name="Staff accounts")).to_have_count(0)

    # An administrator's page is refused her, as a page in the console's frame.
    response = worker.goto("/staff-accounts")
    assert response is not None
    assert response.status == 403
    expect(worker.locator("h1")).to_have_text("Not allowed")
    expect(worker.locator("main")).to_contain_text("ask an administrator")
    expect(worker.locator(f"li#staff-{worker_id}")).to_have_count(0)
    fits_the_window(worker)
    save_screenshot(worker, "flow-refused")
    axe_check(worker)

    # Signing out ends her session: the home page sends her to sign in again.
    _nav(worker).get_by_role("button", name="Sign out").click()
    expect(worker.get_by_role("status")).to_have_text("You have signed out.")
    expect(worker.locator("h1")).to_have_text("Sign in")
    response = worker.goto("/")
    assert response is not None
    assert worker.url == f"{live_server.url}/login?next=%2F"
    expect(worker.locator("h1")).to_have_text("Sign in")

    # The administrator, in his own browser, is still signed in.
    page.goto("/")
    expect(page.locator("h1")).to_have_text(admin.name)


def _staff_member(live_server: LiveServer, email: str) -> tuple[int, str]:
    """The demo staff member's id and registered phone."""
    with services_of(live_server.app).db.transaction() as session:
        person = staff.find_by_email(session, email)
        assert person is not None
        return person.id, person.phone


def _code(secret: str, live_server: LiveServer) -> str:
    """The code an authenticator app with `secret` shows at the live app's time."""
    return pyotp.TOTP(secret).at(live_server.clock.now())


def _nav(page: Page) -> Locator:
    """The main navigation bar."""
    return page.get_by_role("navigation", name="Main")


def _width(page: Page) -> int:
    """The page's window width in px."""
    viewport = page.viewport_size
    assert viewport is not None
    return viewport["width"]
