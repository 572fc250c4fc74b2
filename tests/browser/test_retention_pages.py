"""The retention pages in a real browser, at a phone's width and a laptop's: years of history
have had their daily run; the demo administrator opens Retention from the menu, reads the
schedule and the run, opens the run, filters it to the notes, and pages through it.

Each page is saved as a screenshot (screenshots/retention-*-WIDTHpx.png) and checked with
axe-core (no serious or critical violation); none is wider than the window.
"""

from __future__ import annotations

import pyotp
from playwright.sync_api import Page, expect

from crisisline import retention
from tests.support.app import services_of
from tests.support.browser import LiveServer, looked_at
from tests.support.retention import schedule_for_tests, seed_history


def test_the_administrator_reads_what_the_retention_run_removed(
    page: Page, live_server: LiveServer
) -> None:
    svc = services_of(live_server.app)
    seed_history(svc.db)
    outcome = retention.run(
        svc.db,
        schedule_for_tests(),
        clock=live_server.clock.now,
        zone=svc.settings.zone,
        secret_key=svc.settings.secret_key,
        actor="scheduler",
        scheduled_for=live_server.clock.now().astimezone(svc.settings.zone).date(),
    )
    assert outcome is not None and outcome.status == "finished"
    admin = live_server.administrator
    page.goto("/login")
    page.get_by_label("Phone number or email").fill(admin.email)
    page.get_by_label("Password").fill(admin.password)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Six-digit code").fill(
        pyotp.TOTP(admin.totp_secret).at(live_server.clock.now())
    )
    page.get_by_role("button", name="Sign in").click()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Retention").click()
    expect(page.locator("h1")).to_have_text("Retention")
    main = page.locator("main")
    expect(main).to_contain_text("Every day at 02:30 local time")
    expect(main).to_contain_text("Notes: kept 20 years after the participant's end of service.")
    expect(main).to_contain_text("1 held participant left untouched")
    looked_at(page, "retention-runs")

    page.get_by_role("link", name=f"Run {outcome.run_id}").click()
    expect(page.locator("h1")).to_have_text(f"Retention run {outcome.run_id}")
    total = sum(outcome.counts.values())
    pages = -(-total // 50)
    expect(page.get_by_role("status")).to_have_text(f"{total} records, page 1 of {pages}.")
    looked_at(page, "retention-run")

    page.get_by_role("navigation", name="Which rule").get_by_role("link", name="Notes").click()
    expect(page.get_by_role("heading", name="Records: Notes")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text(f"{outcome.counts['notes']} records.")
    looked_at(page, "retention-run-notes")

    page.get_by_role("navigation", name="Which rule").get_by_role("link", name="All rules").click()
    page.get_by_role("link", name="Next page").click()
    expect(page.get_by_role("status")).to_have_text(f"{total} records, page 2 of {pages}.")
    looked_at(page, "retention-run-page-2")
