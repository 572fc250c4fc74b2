"""Subject access requests in a real browser, at a phone's width and a laptop's: the demo
administrator opens Subject access from the menu, sees an overdue request flagged, logs a new one
for R1001 (a mistyped reference first: the message beside the field), opens it, exports the
bundle (a zip download, opened and read), extends the deadline and marks it complete.

Every page visited is saved as a screenshot (screenshots/subject-access-*-WIDTHpx.png) and checked
with axe-core, and none is wider than the window.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import pyotp
from playwright.sync_api import Locator, Page, expect

from crisisline import subject_access
from tests.support.app import services_of
from tests.support.browser import LiveServer, looked_at


def test_the_administrator_logs_exports_extends_and_completes_a_request(
    page: Page, live_server: LiveServer
) -> None:
    app = live_server.app
    svc = services_of(app)
    today = live_server.clock.now().astimezone(svc.settings.zone).date()
    with svc.db.transaction() as session:
        subject_access.log_request(
            session,
            reference="R1002",
            received_on=today - dt.timedelta(days=40),
            detail="A letter to the office",
            actor="cli",
            now=live_server.clock.now(),
            today=today,
        )
    admin = live_server.administrator
    assert admin is not None
    page.goto("/login")
    page.get_by_label("Phone number or email").fill(admin.email)
    page.get_by_label("Password").fill(admin.password)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Six-digit code").fill(
        pyotp.TOTP(admin.totp_secret).at(live_server.clock.now())
    )
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("main")).to_contain_text("Signed in as")

    _nav(page).get_by_role("link", name="Subject access").click()
    expect(page.locator("h1")).to_have_text("Subject access requests")
    overdue = page.locator(".sar-card").filter(has_text="R1002")
    expect(overdue).to_contain_text("OVERDUE by")
    expect(overdue).to_have_class("sar-card sar-overdue")
    looked_at(page, "subject-access-list")

    page.get_by_role("link", name="Log a request").click()
    expect(page.locator("h1")).to_have_text("Log a subject access request")
    page.get_by_label("Participant's reference").fill("R1O01")
    page.get_by_label("Received on").fill((today - dt.timedelta(days=2)).isoformat())
    page.get_by_label("How it came and what it asks for (optional)").fill("Asked his officer")
    page.get_by_role("button", name="Log the request").click()
    expect(page.locator("#participant-error")).to_contain_text("No participant has the reference")
    expect(page.get_by_label("How it came and what it asks for (optional)")).to_have_value(
        "Asked his officer"
    )
    looked_at(page, "subject-access-new-error")

    page.get_by_label("Participant's reference").fill("R1001")
    page.get_by_role("button", name="Log the request").click()
    expect(page.locator("h1")).to_contain_text("R1001")
    expect(page.get_by_role("status")).to_contain_text("Request logged. It is due on")
    expect(page.locator(".sar-due")).to_contain_text("due in")
    looked_at(page, "subject-access-request")

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Export the bundle (zip)").click()
    download = download_info.value
    assert download.suggested_filename.startswith("subject-access-R1001-")
    path = download.path()
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as bundle:
        data = json.loads(bundle.read("data.json"))
        assert "index.html" in bundle.namelist()
    assert data["participant"]["reference"] == "R1001"

    page.reload()
    expect(page.locator("main")).to_contain_text("1 time, last")
    page.get_by_label("By").select_option("2")
    page.get_by_label("Why it is complex").fill("Two years of texts to read through")
    page.get_by_role("button", name="Extend").click()
    expect(page.get_by_role("status")).to_contain_text("Extended: it is now due on")
    looked_at(page, "subject-access-extended")

    page.get_by_role("button", name="Mark complete").click()
    expect(page.get_by_role("status")).to_contain_text("Marked complete")
    expect(page.locator(".sar-due")).to_have_text("Completed")
    looked_at(page, "subject-access-completed")


def _nav(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Main")
