"""The retention pages: the clinical lead and the administrator read the schedule, the runs and
what each run removed, a rule and a page at a time; nobody else may; a rule or page that cannot
be read is 422, an unknown run 404."""

from __future__ import annotations

import html as html_module

import pytest
from flask import Flask

from crisisline import retention
from crisisline.clock import FakeClock
from crisisline.models import StaffRole
from tests.support.app import services_of
from tests.support.console import Browser, enrolled
from tests.support.retention import schedule_for_tests, seed_history


def _browser(app: Flask, clock: FakeClock, role: StaffRole, phone: str) -> Browser:
    person = enrolled(app, f"Tamsin {role.value}", phone, [role], now=clock.now())
    browser = Browser(app)
    browser.sign_in(person, clock)
    return browser


def _run(app: Flask, clock: FakeClock) -> retention.Outcome:
    svc = services_of(app)
    outcome = retention.run(
        svc.db,
        schedule_for_tests(),
        clock=clock.now,
        zone=svc.settings.zone,
        secret_key=svc.settings.secret_key,
        actor="scheduler",
        scheduled_for=clock.now().date(),
    )
    assert outcome is not None
    return outcome


@pytest.mark.parametrize("role", [StaffRole.CLINICAL_LEAD, StaffRole.ADMIN])
def test_the_clinical_lead_and_the_administrator_read_the_runs(
    app: Flask, clock: FakeClock, role: StaffRole
) -> None:
    seed_history(services_of(app).db)
    outcome = _run(app, clock)
    browser = _browser(app, clock, role, "+447700900150")

    page = browser.get("/retention")

    assert page.status_code == 200
    text = html_module.unescape(page.get_data(as_text=True))
    assert 'href="/retention" aria-current="page">Retention</a>' in text
    assert "Every day at 02:30 local time" in text
    # The shipped schedule, in words.
    assert "<strong>Notes</strong>: kept 20 years after the participant's end of service." in text
    assert "<strong>Sessions</strong>: kept 90 days from the record's own time." in text
    assert f'href="/retention/runs/{outcome.run_id}">Run {outcome.run_id}</a>' in text
    total = sum(outcome.counts.values())
    assert f"{total} records changed; 1 held participant left untouched." in text
    assert f"<li>Message bodies: {outcome.counts['message_bodies']}</li>" in text


@pytest.mark.hazard("H269")
def test_a_runs_page_lists_what_it_removed_by_rule_a_page_at_a_time(
    app: Flask, clock: FakeClock
) -> None:
    seed_history(services_of(app).db)
    outcome = _run(app, clock)
    browser = _browser(app, clock, StaffRole.CLINICAL_LEAD, "+447700900151")

    page = browser.get(f"/retention/runs/{outcome.run_id}")

    assert page.status_code == 200
    text = html_module.unescape(page.get_data(as_text=True))
    assert "(the daily run of 26 November 2026)" in text
    assert "1 participant under a legal hold left untouched." in text
    bodies = outcome.counts["message_bodies"]
    assert f">Message bodies</a>: {bodies} contact anonymised" in text
    assert (
        ">Voicemail recordings</a>: " in text and "contact deletion asked of the provider" in text
    )
    total = sum(outcome.counts.values())
    pages = -(-total // 50)
    assert pages > 1
    assert f"{total} records, page 1 of {pages}." in text
    # Nobody's words or numbers: only ids.
    assert "sleep" not in text and "+4477009004" not in text

    notes = html_module.unescape(
        browser.get(f"/retention/runs/{outcome.run_id}?rule=notes").get_data(as_text=True)
    )
    assert '<h2 id="h-records">Records: Notes</h2>' in notes
    assert f"{outcome.counts['notes']} records." in notes
    assert notes.count("<li>Notes: ") == outcome.counts["notes"]


def test_a_long_run_is_paged(app: Flask, clock: FakeClock) -> None:
    seed_history(services_of(app).db)
    outcome = _run(app, clock)
    browser = _browser(app, clock, StaffRole.ADMIN, "+447700900152")
    total = sum(outcome.counts.values())
    assert total > 50  # 50 a page
    first = html_module.unescape(
        browser.get(f"/retention/runs/{outcome.run_id}").get_data(as_text=True)
    )
    pages = -(-total // 50)
    assert f"{total} records, page 1 of {pages}." in first
    listed = first.split('<ol class="retention-actions">')[1].split("</ol>")[0]
    assert listed.count("<li>") == 50
    last = browser.get(f"/retention/runs/{outcome.run_id}?page={pages}")
    assert last.status_code == 200
    shown = last.get_data(as_text=True)
    assert f"Page {pages} of {pages}" in shown
    listed = shown.split('<ol class="retention-actions">')[1].split("</ol>")[0]
    assert listed.count("<li>") == total - 50 * (pages - 1)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("rule=everything", "rule: 'everything' is not a rule of the schedule"),
        ("page=0", "page: a page is a whole number from 1."),
        ("page=two", "page: a page is a whole number from 1."),
    ],
)
def test_a_rule_or_page_it_cannot_read_is_422_naming_it(
    app: Flask, clock: FakeClock, query: str, message: str
) -> None:
    outcome = _run(app, clock)
    browser = _browser(app, clock, StaffRole.ADMIN, "+447700900153")
    page = browser.get(f"/retention/runs/{outcome.run_id}?{query}")
    assert page.status_code == 422
    assert message in html_module.unescape(page.get_data(as_text=True))
    assert browser.get("/retention?page=-1").status_code == 422
    assert browser.get("/retention/runs/999").status_code == 404


@pytest.mark.hazard("H269")
@pytest.mark.parametrize(
    "role",
    [StaffRole.ON_CALL, StaffRole.DUTY_MANAGER, StaffRole.RESPONSIBLE_OFFICER],
)
def test_nobody_else_may_read_them(app: Flask, clock: FakeClock, role: StaffRole) -> None:
    outcome = _run(app, clock)
    browser = _browser(app, clock, role, "+447700900154")
    for path in ("/retention", f"/retention/runs/{outcome.run_id}"):
        assert browser.get(path).status_code == 403
    assert 'href="/retention"' not in browser.get("/").get_data(as_text=True)


def test_signed_out_it_asks_to_sign_in(app: Flask) -> None:
    page = Browser(app).get("/retention")
    assert page.status_code in (302, 303)
    assert "/login" in page.headers["Location"]
