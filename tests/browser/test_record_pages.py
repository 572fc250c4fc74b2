"""The record pages in a real browser, at a phone's width and a laptop's: the demo administrator
adds a member of staff (a bad phone number first, shown beside the field, then corrected),
previews and confirms a CSV import of staff, and sees what deactivating someone would change;
a duty manager adds a participant (an error first) and reads an escalation policy in words.

Each page is saved as a screenshot (screenshots/records-*-WIDTHpx.png) and checked with axe-core
(no serious or critical violation); none is wider than the window.
"""

from __future__ import annotations

from collections.abc import Callable

import pyotp
from playwright.sync_api import FilePayload, Locator, Page, expect

from crisisline import staff
from tests.support.app import services_of
from tests.support.browser import LiveServer, looked_at
from tests.support.console import PASSWORD, enrol

DUTY_MANAGER_EMAIL = "priya.natarajan@example.org"
IMPORT_CSV = (
    "name,phone,email,roles,active\n"
    "Sian Evans,07700 900161,sian.evans@example.org,on_call,yes\n"
    "Idris Wynne,+44 7700 900162,,on_call;duty_manager,\n"
)


def test_an_administrator_adds_staff_previews_an_import_and_sees_what_deactivating_changes(
    page: Page, live_server: LiveServer
) -> None:
    admin = live_server.administrator
    _sign_in(page, live_server, admin.email, admin.password, admin.totp_secret)

    _nav(page).get_by_role("link", name="Staff", exact=True).click()
    expect(page.locator("h1")).to_have_text("Staff")
    expect(page.locator("main")).to_contain_text("Priya Natarajan")
    looked_at(page, "records-staff-list")

    # A bad number first: the form comes back filled, the message beside the phone field.
    page.get_by_role("link", name="Add a member of staff").click()
    expect(page.locator("h1")).to_have_text("Add a member of staff")
    page.get_by_label("Name").fill("Rhys Bowen")
    page.get_by_label("Mobile phone").fill("12345")
    page.get_by_label("On-call worker").check()
    page.get_by_role("button", name="Add member of staff").click()
    expect(page.locator("#phone-error")).to_contain_text("has too few digits")
    expect(page.get_by_label("Name")).to_have_value("Rhys Bowen")
    expect(page.get_by_label("On-call worker")).to_be_checked()
    expect(page.get_by_role("alert")).to_contain_text("Nothing was saved")
    looked_at(page, "records-staff-form-error")

    page.get_by_label("Mobile phone").fill("07700 900160")
    page.get_by_role("button", name="Add member of staff").click()
    expect(page.get_by_role("status")).to_contain_text("Rhys Bowen is added.")
    expect(page.locator("main table")).to_contain_text("+447700900160")

    # A CSV import: the preview lists what would be created, and nothing is written until
    # the import is confirmed.
    page.get_by_role("link", name="Import staff from a CSV file").click()
    expect(page.locator("h1")).to_have_text("Import staff")
    looked_at(page, "records-import-upload")
    upload: FilePayload = {
        "name": "staff.csv",
        "mimeType": "text/csv",
        "buffer": IMPORT_CSV.encode(),
    }
    page.get_by_label("CSV file").set_input_files(files=upload)
    page.get_by_role("button", name="Preview the import").click()
    expect(page.locator("h1")).to_contain_text("Import staff: preview")
    expect(page.locator("main")).to_contain_text("2 staff will be created")
    expect(page.locator("main")).to_contain_text("+447700900162")
    looked_at(page, "records-import-preview")
    with services_of(live_server.app).db.transaction() as session:
        assert staff.active_by_phone(session, "+447700900161") is None
    page.get_by_role("button", name="Import these 2").click()
    expect(page.get_by_role("status")).to_contain_text("Imported 2 staff.")
    expect(page.locator("main table")).to_contain_text("Idris Wynne")

    # Deactivating asks first, saying what it changes.
    page.get_by_role("link", name="Edit Rhys Bowen").click()
    expect(page.locator("h1")).to_have_text("Edit Rhys Bowen")
    looked_at(page, "records-staff-edit")
    page.get_by_role("button", name="Deactivate Rhys Bowen…").click()
    expect(page.locator("h1")).to_have_text("Deactivate Rhys Bowen?")
    expect(page.locator("main")).to_contain_text("They are on no rota.")
    looked_at(page, "records-staff-deactivate")
    page.get_by_role("button", name="Yes, deactivate Rhys Bowen").click()
    expect(page.get_by_role("status")).to_contain_text("Rhys Bowen is no longer active")


def test_a_duty_manager_adds_a_participant_and_reads_a_policy_in_words(
    page: Page, live_server: LiveServer, open_page: Callable[[int], Page]
) -> None:
    with services_of(live_server.app).db.transaction() as session:
        priya = staff.find_by_email(session, DUTY_MANAGER_EMAIL)
        assert priya is not None
        priya_id = priya.id
    secret, _ = enrol(services_of(live_server.app).db, priya_id, live_server.clock.now())
    _sign_in(page, live_server, DUTY_MANAGER_EMAIL, PASSWORD, secret)

    _nav(page).get_by_role("link", name="Add participants").click()
    expect(page.locator("h1")).to_have_text("Add a participant")
    page.get_by_label("Reference").fill("R7001")
    page.get_by_label("Name").fill("Aled Jones")
    page.get_by_label("Phone numbers").fill("07700 900170\n0770")
    page.get_by_label("Risk level").select_option("medium")
    page.get_by_role("button", name="Add participant").click()
    expect(page.locator("#phones-error")).to_contain_text("'0770'")
    expect(page.get_by_label("Reference")).to_have_value("R7001")
    looked_at(page, "records-participant-form-error")

    _nav(page).get_by_role("link", name="Policies").click()
    expect(page.locator("h1")).to_have_text("Escalation policies")
    looked_at(page, "records-policies")
    page.get_by_role("link", name="crisis-call").click()
    expect(page.locator("h1")).to_have_text("Escalation policy crisis-call")
    steps = page.locator("ol.policy-steps li")
    expect(steps.first).to_have_text("First, ring and text the primary rota.")
    expect(steps.nth(1)).to_have_text(
        "If nobody takes it within 2 minutes, ring and text the backup rota."
    )
    expect(page.locator("main")).to_contain_text("Editing stays in the API")
    looked_at(page, "records-policy")


def _sign_in(
    page: Page, live_server: LiveServer, identifier: str, password: str, secret: str
) -> None:
    page.goto("/login")
    page.get_by_label("Phone number or email").fill(identifier)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Six-digit code").fill(pyotp.TOTP(secret).at(live_server.clock.now()))
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("main")).to_contain_text("Signed in as")


def _nav(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Main")
