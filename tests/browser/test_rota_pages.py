"""The rota pages in a real browser at a phone's width and a laptop's: a duty manager creates an
override for tonight in local time across the October 2026 clock change (the form asks which
01:30 is meant) and sees it on the calendar; a membership change shows its preview and, applied
from the default handoff, moves no shift this week. Each page is screenshotted and checked with
axe-core."""

from __future__ import annotations

import datetime as dt

import pyotp
from playwright.sync_api import Page, expect
from sqlalchemy import select

from crisisline import rota_service
from crisisline.models import Staff
from crisisline.rota_models import RotaOverride
from tests.support.app import services_of
from tests.support.browser import LiveServer, looked_at
from tests.support.console import PASSWORD, enrol

MANAGER_EMAIL = "priya.natarajan@example.org"
# Saturday 24 October 2026, 18:00 in London (BST): the clocks go back at 02:00 tonight.
EVENING = dt.datetime(2026, 10, 24, 17, 0, tzinfo=dt.UTC)
WEEK_START = dt.datetime(2026, 10, 18, 23, 0, tzinfo=dt.UTC)  # Mon 19 Oct 00:00 BST
NEXT_WEEK = dt.datetime(2026, 10, 26, 0, 0, tzinfo=dt.UTC)  # Mon 26 Oct 00:00 GMT


def test_duty_manager_overrides_tonight_across_the_clock_change_and_changes_members_safely(
    page: Page, live_server: LiveServer
) -> None:
    live_server.clock.set(EVENING)
    services = services_of(live_server.app)
    with services.db.transaction() as session:
        manager = session.scalars(select(Staff).where(Staff.email == MANAGER_EMAIL)).one()
        manager_id = manager.id
        primary = rota_service.find_by_name(session, "primary")
        rota_id = primary.id
    secret, _ = enrol(services.db, manager_id, live_server.clock.now())

    page.goto("/login")
    page.get_by_label("Phone number or email").fill(MANAGER_EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Six-digit code").fill(pyotp.TOTP(secret).at(live_server.clock.now()))
    page.get_by_role("button", name="Sign in").click()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Rotas").click()
    expect(page.locator("h1")).to_have_text("Rotas")
    looked_at(page, "rota-list")
    page.get_by_role("link", name="primary").click()
    expect(page.locator("h1")).to_have_text("primary rota")
    expect(page.locator("main")).to_contain_text("Week of Mon 19 Oct 2026")

    # Tonight 22:00 until 01:30: the form asks which 01:30, then saves it.
    page.get_by_role("link", name="Add an override").click()
    expect(page.locator("h1")).to_have_text("Add an override to primary")
    page.get_by_label("Who is on call").select_option(label="Priya Natarajan")
    page.locator("#start_date").fill("2026-10-24")
    page.locator("#start_time").fill("22:00")
    page.locator("#end_date").fill("2026-10-25")
    page.locator("#end_time").fill("01:30")
    page.get_by_label("Why").fill("Amira is unwell tonight")
    page.get_by_role("button", name="Save the override").click()
    expect(page.locator("#end-error")).to_contain_text("happens twice")
    looked_at(page, "rota-override-which")
    page.get_by_label("The second 01:30 (GMT)").check()
    page.get_by_role("button", name="Save the override").click()
    expect(page.get_by_role("status")).to_contain_text("Override saved")
    calendar = page.locator("main")
    expect(calendar).to_contain_text("Sat 24 Oct 22:00")
    expect(calendar).to_contain_text("Sun 25 Oct 01:30 GMT")
    expect(calendar).to_contain_text("Override by Priya Natarajan: Amira is unwell tonight")
    with services.db.transaction() as session:
        row = session.scalars(select(RotaOverride)).one()
        assert (row.starts_at, row.ends_at) == (
            dt.datetime(2026, 10, 24, 21, 0, tzinfo=dt.UTC),
            dt.datetime(2026, 10, 25, 1, 30, tzinfo=dt.UTC),
        )
    looked_at(page, "rota-calendar")

    # A member added from the first handoff after this week: previewed, then nothing this week
    # moves.
    with services.db.transaction() as session:
        this_week = rota_service.shifts(session, rota_id, WEEK_START, NEXT_WEEK).shifts
    page.get_by_role("link", name="Change members or shift length").click()
    expect(page.locator("h1")).to_contain_text("Change the members or shift length of primary")
    page.get_by_label("Add a member (at the end)").select_option(label="Priya Natarajan")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview-heading")).to_contain_text(
        "Preview: applying from Mon 26 Oct 08:00"
    )
    expect(page.locator(".rota-preview")).to_contain_text("Priya Natarajan")
    looked_at(page, "rota-change-preview")
    page.get_by_role("button", name="Apply this change").click()
    expect(page.get_by_role("status")).to_contain_text("Change saved from the handoff at 08:00")
    with services.db.transaction() as session:
        assert rota_service.shifts(session, rota_id, WEEK_START, NEXT_WEEK).shifts == this_week
    page.get_by_role("link", name="Week after →").click()
    expect(page.locator("main")).to_contain_text("Week of Mon 26 Oct 2026")
    looked_at(page, "rota-calendar-next-week")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="My shifts").click()
    expect(page.locator("h1")).to_have_text("My shifts")
    expect(page.locator("main")).to_contain_text("Sat 24 Oct 22:00")
    page.get_by_role("button", name="Issue my calendar link").click()
    expect(page.locator("main")).to_contain_text("/calendar/staff/")
    looked_at(page, "my-shifts")
