"""Corrections and legal holds in a real browser, at a phone's width and a laptop's: the demo
administrator corrects a participant's name with the reason and sees the earlier name listed
on his page; the clinical lead places a legal hold on him (a reason too short first, refused
beside the field), sees it in place, then lifts it.

Each page is saved as a screenshot (screenshots/holds-*-WIDTHpx.png) and checked with axe-core
(no serious or critical violation); none is wider than the window.
"""

from __future__ import annotations

import re

import pyotp
from playwright.sync_api import Page, expect

from crisisline import legal_holds, participant_corrections, participants, staff
from tests.support.app import services_of
from tests.support.browser import LiveServer, looked_at
from tests.support.console import PASSWORD, enrol

CLINICAL_LEAD_EMAIL = "nadia.rahman@example.org"
REFERENCE = "R1002"


def test_an_administrator_corrects_a_name_and_sees_the_earlier_one(
    page: Page, live_server: LiveServer
) -> None:
    admin = live_server.administrator
    _sign_in(page, live_server, admin.email, admin.password, admin.totp_secret)
    pid = _participant_id(live_server)
    _open_record(page, pid)
    expect(page.locator("#earlier-heading")).to_have_text("Earlier details")
    expect(page.locator(".participant-earlier")).to_contain_text("have not been changed")

    page.get_by_role("link", name="Correct or change his details").click()
    expect(page.locator("h1")).to_have_text(f"Edit participant {REFERENCE}")
    page.get_by_label("Name").fill("Lee Cartwright")
    page.get_by_role("button", name="Save changes").click()
    # Without a reason nothing is saved, and the message is beside the reason.
    expect(page.locator("#reason-error")).to_have_text("Say why, in at least 3 characters.")
    expect(page.get_by_label("Name")).to_have_value("Lee Cartwright")
    looked_at(page, "holds-correction-needs-reason")

    page.get_by_label("Why are you changing this?").fill("Surname misspelt at referral")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_contain_text(f"Participant {REFERENCE}'s details")
    expect(page.locator("h1")).to_have_text(f"{REFERENCE} Lee Cartwright")
    earlier = page.locator(".participant-corrections li").first
    expect(earlier).to_contain_text("Surname misspelt at referral")
    expect(earlier.locator("del")).to_have_text("Lee Carter")
    expect(earlier.locator("ins")).to_have_text("Lee Cartwright")
    page.locator("#earlier-heading").scroll_into_view_if_needed()
    looked_at(page, "holds-earlier-details")
    with services_of(live_server.app).db.transaction() as session:
        (kept,) = participant_corrections.history(session, pid)
        assert kept.changes == {"name": ["Lee Carter", "Lee Cartwright"]}


def test_a_clinical_lead_places_then_lifts_a_legal_hold(
    page: Page, live_server: LiveServer
) -> None:
    with services_of(live_server.app).db.transaction() as session:
        nadia = staff.find_by_email(session, CLINICAL_LEAD_EMAIL)
        assert nadia is not None
        nadia_id = nadia.id
    secret, _ = enrol(services_of(live_server.app).db, nadia_id, live_server.clock.now())
    _sign_in(page, live_server, CLINICAL_LEAD_EMAIL, PASSWORD, secret)
    pid = _participant_id(live_server)
    _open_record(page, pid)
    hold = page.locator(".participant-hold")
    expect(hold).to_contain_text("No legal hold is in place")
    looked_at(page, "holds-none")

    page.get_by_label("Why must his records be held?").fill("no")
    page.get_by_role("button", name="Place a legal hold").click()
    expect(page.locator("h1")).to_have_text(f"Place a legal hold on {REFERENCE}")
    expect(page.locator("#hold-reason-error")).to_have_text("Say why, in at least 3 characters.")
    looked_at(page, "holds-place-error")

    page.get_by_label("Why must his records be held?").fill(
        "Solicitor's letter: civil claim expected, keep everything"
    )
    page.get_by_role("button", name="Place a legal hold").click()
    expect(page.get_by_role("status")).to_contain_text("The legal hold is in place.")
    expect(hold).to_contain_text("A legal hold has been in place since")
    expect(hold).to_contain_text("civil claim expected")
    expect(hold).to_contain_text("Placed by Nadia Rahman.")
    hold.scroll_into_view_if_needed()
    looked_at(page, "holds-in-place")
    with services_of(live_server.app).db.transaction() as session:
        assert legal_holds.current(session, pid) is not None

    page.get_by_label("Why are you lifting the hold?").fill("Claim withdrawn")
    page.get_by_role("button", name="Lift the legal hold").click()
    expect(page.get_by_role("status")).to_contain_text("The legal hold is lifted.")
    expect(hold).to_contain_text("No legal hold is in place")
    expect(hold.locator(".participant-holds")).to_contain_text("Claim withdrawn")
    looked_at(page, "holds-lifted")
    with services_of(live_server.app).db.transaction() as session:
        assert legal_holds.current(session, pid) is None


def _participant_id(live_server: LiveServer) -> int:
    with services_of(live_server.app).db.transaction() as session:
        found, _ = participants.list_participants(session, reference=REFERENCE)
        return found[0].id


def _open_record(page: Page, pid: int) -> None:
    """Open his page, giving the reason first where he is not the person's own."""
    page.goto(f"/participants/{pid}")
    if page.locator("h1").inner_text() == "Why do you need this record?":
        page.get_by_label("Another reason (type it below)").check()
        page.get_by_label(re.compile("Your reason, in your own words")).fill(
            "Keeping his record accurate"
        )
        page.get_by_role("button", name="Open the record").click()
    expect(page.locator("h1")).to_contain_text(REFERENCE)


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
