"""A crisis plan in a real browser, at a phone's width and a laptop's: Gareth Lloyd (R1001's
officer in the demo data) opens R1001's page, follows the link to his crisis plan (none yet),
writes it with a mistyped contact number (refused beside the field, what he typed kept), puts
it right and saves; then changes it with a reason and sees version 2 marked current above
version 1. With the plan past its review date, the page and his Now board say so.

Every page visited is saved as a screenshot (screenshots/crisis-plan-*-WIDTHpx.png) and checked
with axe-core (no serious or critical violation), and none is wider than the window.
"""

from __future__ import annotations

import datetime as dt

import pyotp
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from crisisline.crisis_plan_models import CrisisPlan
from crisisline.models import Participant, Staff
from tests.support.app import services_of
from tests.support.browser import LiveServer, looked_at
from tests.support.console import PASSWORD, enrol

OFFICER_EMAIL = "gareth.lloyd@example.org"
REFERENCE = "R1001"


@pytest.mark.hazard("H319")
def test_the_plan_form_and_page_work_at_360_px_and_desk_width_with_no_axe_violations(
    page: Page, live_server: LiveServer
) -> None:
    _sign_in(page, live_server, OFFICER_EMAIL)
    with services_of(live_server.app).db.transaction() as session:
        man = session.scalar(select(Participant.id).where(Participant.reference == REFERENCE))
    today = live_server.clock.now().date()

    page.goto(f"/participants/{man}")
    page.get_by_role("link", name="His crisis plan").click()
    expect(page.get_by_role("status").first).to_contain_text(f"{REFERENCE} has no crisis plan.")
    looked_at(page, "crisis-plan-none")
    page.get_by_role("link", name="Write his crisis plan").click()
    expect(page.locator("h1")).to_contain_text(REFERENCE)
    page.get_by_label("What a crisis looks like for him (warning signs)").fill(
        "Stops answering his phone; talks about giving his things away."
    )
    page.get_by_label("What helps").fill("Being asked straight out how he is. A walk.")
    page.get_by_label("What to do if the risk rises").fill("Call 999 and tell the duty manager.")
    first = page.get_by_role("group", name="Contact 1")
    first.get_by_label("Name").fill("Kerry Price")
    first.get_by_label("Who they are to him").fill("sister")
    first.get_by_label("Phone").fill("07700 9007")
    page.get_by_label("Agreed with him on").fill((today - dt.timedelta(days=3)).isoformat())
    page.get_by_label("To be reviewed by").fill((today + dt.timedelta(days=90)).isoformat())
    looked_at(page, "crisis-plan-form-new")
    page.get_by_role("button", name="Save as a new version").click()

    # Refused beside the field, with what he typed kept.
    expect(page.get_by_role("alert")).to_contain_text("Nothing was saved")
    phone = page.get_by_role("group", name="Contact 1").get_by_label("Phone")
    expect(phone).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("What helps")).to_have_value(
        "Being asked straight out how he is. A walk."
    )
    looked_at(page, "crisis-plan-form-refused")
    phone.fill("07700 900771")
    page.get_by_role("button", name="Save as a new version").click()
    expect(page.get_by_role("status").first).to_contain_text("saved as a new version")
    expect(page.locator(".plan-current")).to_contain_text("Current · version 1")
    expect(page.locator(".plan-contacts")).to_contain_text("Kerry Price (sister)")
    looked_at(page, "crisis-plan-version-1")

    # A change, with its reason: version 2 is current, version 1 kept below it.
    page.get_by_role("link", name="Change the plan (new version)").click()
    expect(page.get_by_label("What helps")).to_have_value(
        "Being asked straight out how he is. A walk."
    )
    page.get_by_label("Practical notes").fill("Approved premises; curfew 21:00 to 07:00.")
    page.get_by_label("Why are you changing the plan?").fill("Moved to approved premises")
    page.get_by_role("button", name="Save as a new version").click()
    expect(page.locator(".plan-current")).to_contain_text("Current · version 2")
    expect(page.locator(".plan-history")).to_contain_text("Why: Moved to approved premises")
    expect(page.locator(".plan-history")).to_contain_text("Changed: practical notes.")
    looked_at(page, "crisis-plan-version-2")

    # Past its review date: flagged on the page and on his Now board.
    with services_of(live_server.app).db.transaction() as session:
        for plan in session.scalars(select(CrisisPlan).where(CrisisPlan.participant_id == man)):
            plan.review_on = today - dt.timedelta(days=1)
    page.reload()
    expect(page.locator(".plan-overdue")).to_contain_text("past its review date")
    looked_at(page, "crisis-plan-past-review")
    page.goto("/")
    expect(page.locator(f"#now-plan-{man}")).to_contain_text(f"{REFERENCE}: past its review date")
    looked_at(page, "crisis-plan-now-board")


def _sign_in(page: Page, live_server: LiveServer, email: str) -> None:
    """Give the demo officer a console account and sign in through both steps."""
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
