"""The signed-in console: the home page, the staff accounts page (administrators only), and the
security headers every answer of the app carries."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from crisisline import accounts, rota_service
from crisisline.app import create_app
from crisisline.clock import FakeClock
from crisisline.models import Delivery, StaffRole
from crisisline.staffing import INVITATION_PURPOSE
from tests.support.app import START, make_settings, services_of, signed_post
from tests.support.console import Browser, Person, add_person, enrol, enrolled, sessions_of
from tests.support.team import BACKUP, MANAGER, PRIMARY, add_team, add_weekly_rota

ADMIN_PHONE = "+447700900120"


@pytest.fixture
def team(app: Flask, clock: FakeClock) -> dict[str, int]:
    """Amira (primary), Tom (backup) and Priya (duty-manager), each on a weekly rota of one."""
    with services_of(app).db.transaction() as session:
        return add_team(session, now=clock.now())


@pytest.fixture
def joan(app: Flask, clock: FakeClock) -> Person:
    """The administrator."""
    return enrolled(app, "Joan Reyes", ADMIN_PHONE, [StaffRole.ADMIN], now=clock.now())


def account_for(app: Flask, staff_id: int, name: str, phone: str, now: dt.datetime) -> Person:
    """Give a member of staff made without one a console account."""
    secret, codes = enrol(services_of(app).db, staff_id, now)
    return Person(staff_id, name, phone, None, secret, codes)


def test_home_says_who_you_are_who_is_on_call_and_your_next_shift(
    app: Flask, clock: FakeClock, team: dict[str, int]
) -> None:
    with services_of(app).db.transaction() as session:
        # Tom alone, weekly turns from Monday 23 November 09:00 (London is on UTC in winter).
        add_weekly_rota(
            session,
            "nights",
            team[BACKUP],
            now=clock.now(),
            first_handoff=dt.datetime(2026, 11, 23, 9),
        )
    tom = account_for(app, team[BACKUP], "Tom Hughes", BACKUP, clock.now())
    browser = Browser(app)
    browser.sign_in(tom, clock)
    page = browser.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<h1>Tom Hughes</h1>" in html
    assert "Signed in as Tom Hughes: On-call worker." in html
    for rota, name in (
        ("primary", "Amira Okafor"),
        ("backup", "Tom Hughes"),
        ("duty-manager", "Priya Natarajan"),
        ("nights", "Tom Hughes"),
    ):
        assert f"<strong>{rota}</strong>:\n      {name}" in html
    assert "You are on call now on the backup rota, until Mon 30 Nov, 09:00." in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    # No inline script or style (the content security policy allows neither): the scripts
    # are htmx and the board's own, from the service's own files.
    assert re.findall(r"<script[^>]*>", html) == [
        '<script src="/assets/now.js" defer>',
        '<script src="/assets/htmx/htmx.min.js" defer>',
    ]
    assert "style=" not in html
    # The navigation: the Now board and sign-out, no administrator's page for an on-call worker.
    assert '<a href="/" aria-current="page">Now</a>' in html
    assert ">Sign out</button>" in html
    assert "Staff accounts" not in html


def test_home_shows_a_shift_to_come(app: Flask, clock: FakeClock, team: dict[str, int]) -> None:
    new = add_person(app, "Sam Whitfield", "+447700900130", [StaffRole.ON_CALL], now=clock.now())
    with services_of(app).db.transaction() as session:
        # Amira this week, Sam from Monday 30 November 09:00.
        rota_service.create(
            session,
            rota_service.NewRota(
                name="weekends",
                timezone="Europe/London",
                members=[team[PRIMARY], new],
                shift_length="P7D",
                first_handoff=dt.datetime(2026, 11, 23, 9),
            ),
            actor="t",
            now=clock.now(),
        )
    sam = account_for(app, new, "Sam Whitfield", "+447700900130", clock.now())
    browser = Browser(app)
    browser.sign_in(sam, clock)
    html = browser.get("/").get_data(as_text=True)
    assert "Mon 30 Nov, 09:00 to Mon 7 Dec, 09:00, on the weekends rota." in html


def test_home_with_no_shift_and_no_rota(app: Flask, clock: FakeClock, joan: Person) -> None:
    browser = Browser(app)
    browser.sign_in(joan, clock)
    html = browser.get("/").get_data(as_text=True)
    assert "You are not on call in the next four weeks." in html
    assert "There are no rotas yet." in html
    assert "Signed in as Joan Reyes: Administrator." in html


def test_the_staff_accounts_page_shows_each_status_and_invites(
    app: Flask, clock: FakeClock, team: dict[str, int], joan: Person
) -> None:
    amira = account_for(app, team[PRIMARY], "Amira Okafor", PRIMARY, clock.now())
    svc = services_of(app)
    with svc.db.transaction() as session:
        account = accounts.get_for_staff(session, amira.staff_id)
        assert account is not None
        for _ in range(accounts.MAX_FAILED_SIGN_INS):
            accounts.record_failed_sign_in(session, account, now=clock.now())
    browser = Browser(app)
    browser.sign_in(joan, clock)
    home = browser.get("/").get_data(as_text=True)
    assert '<a href="/staff-accounts">Staff accounts</a>' in home

    page = browser.get("/staff-accounts")
    assert page.status_code == 200
    assert _status(page.get_data(as_text=True), team[PRIMARY]) == "locked"
    assert _status(page.get_data(as_text=True), team[BACKUP]) == "none"
    assert _status(page.get_data(as_text=True), joan.staff_id) == "active"

    invited = browser.post(f"/staff-accounts/{team[BACKUP]}/invite")
    assert invited.status_code == 303
    after = browser.get("/staff-accounts").get_data(as_text=True)
    assert "An invitation is on its way to Tom Hughes&#39;s phone." in after
    assert _status(after, team[BACKUP]) == "invited"
    assert "valid until Sun 29 Nov, 12:00" in after
    with svc.db.transaction() as session:
        body = session.scalars(
            select(Delivery.body).where(Delivery.purpose == INVITATION_PURPOSE)
        ).one()
    assert "https://crisis.example.org/invitation/" in body


def test_disabling_an_account_signs_its_owner_out_everywhere(
    app: Flask, clock: FakeClock, team: dict[str, int], joan: Person
) -> None:
    amira = account_for(app, team[PRIMARY], "Amira Okafor", PRIMARY, clock.now())
    hers = Browser(app)
    hers.sign_in(amira, clock)
    assert hers.get("/").status_code == 200

    browser = Browser(app)
    browser.sign_in(joan, clock)
    page = browser.get("/staff-accounts").get_data(as_text=True)
    assert ">Disable</button>" in page
    assert browser.post(f"/staff-accounts/{amira.staff_id}/disable").status_code == 303
    after = browser.get("/staff-accounts").get_data(as_text=True)
    assert "Amira Okafor&#39;s account is disabled and signed out everywhere." in after
    assert _status(after, amira.staff_id) == "disabled"
    assert hers.get("/").status_code == 302
    (row,) = sessions_of(app, amira.staff_id)
    assert row.ended_reason == "disabled"
    clock.advance(dt.timedelta(minutes=1))
    assert Browser(app).sign_in_password(PRIMARY).status_code == 401


def test_an_administrator_cannot_disable_their_own_account(
    app: Flask, clock: FakeClock, joan: Person
) -> None:
    browser = Browser(app)
    browser.sign_in(joan, clock)
    browser.get("/staff-accounts")
    refused = browser.post(f"/staff-accounts/{joan.staff_id}/disable")
    assert refused.status_code == 422
    assert "ask another administrator" in refused.get_data(as_text=True)
    assert browser.get("/").status_code == 200


def test_an_administrator_cannot_re_invite_themselves_and_is_offered_no_button(
    app: Flask, clock: FakeClock, joan: Person
) -> None:
    """Re-inviting oneself would end one's own sign-in mid-task: the own row has no buttons,
    and a posted re-invitation is refused with the reason and changes nothing."""
    browser = Browser(app)
    browser.sign_in(joan, clock)
    page = browser.get("/staff-accounts").get_data(as_text=True)
    own_row = page.split(f'id="staff-{joan.staff_id}"', 1)[1].split("</li>", 1)[0]
    assert "This is you" in own_row
    assert "<button" not in own_row
    refused = browser.post(f"/staff-accounts/{joan.staff_id}/invite")
    assert refused.status_code == 422
    assert "Ask another administrator" in refused.get_data(as_text=True)
    assert browser.get("/").status_code == 200
    (row,) = sessions_of(app, joan.staff_id)
    assert row.ended_at is None


def test_inviting_someone_no_longer_active_is_refused_with_the_reason(
    app: Flask, clock: FakeClock, joan: Person, auth: dict[str, str]
) -> None:
    leaver = add_person(app, "Lee Carter", "+447700900140", [StaffRole.ON_CALL], now=clock.now())
    app.test_client().post(f"/api/v1/staff/{leaver}/deactivate", headers=auth)
    browser = Browser(app)
    browser.sign_in(joan, clock)
    page = browser.get("/staff-accounts").get_data(as_text=True)
    assert "no longer active" in page
    refused = browser.post(f"/staff-accounts/{leaver}/invite")
    assert refused.status_code == 422
    assert "is not active" in refused.get_data(as_text=True)


@pytest.mark.parametrize("role", [StaffRole.ON_CALL, StaffRole.DUTY_MANAGER])
def test_the_staff_accounts_page_is_refused_to_others(
    app: Flask, clock: FakeClock, team: dict[str, int], role: StaffRole
) -> None:
    person = enrolled(app, "Kit Morgan", "+447700900150", [role], now=clock.now())
    browser = Browser(app)
    browser.sign_in(person, clock)
    refused = browser.get("/staff-accounts")
    assert refused.status_code == 403
    assert refused.mimetype == "text/html"
    html = refused.get_data(as_text=True)
    assert "<h1>Not allowed</h1>" in html
    assert "accounts:admin" in html
    browser.get("/")
    forged = browser.post(f"/staff-accounts/{team[BACKUP]}/invite")
    assert forged.status_code == 403
    assert browser.post(f"/staff-accounts/{team[MANAGER]}/disable").status_code == 403
    with services_of(app).db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0
        assert accounts.get_for_staff(session, team[BACKUP]) is None


def test_an_invitation_sent_without_the_form_token_is_refused(
    app: Flask, clock: FakeClock, team: dict[str, int], joan: Person
) -> None:
    browser = Browser(app)
    browser.sign_in(joan, clock)
    browser.get("/staff-accounts")
    assert browser.post(f"/staff-accounts/{team[BACKUP]}/invite", csrf=False).status_code == 400
    with services_of(app).db.transaction() as session:
        assert accounts.get_for_staff(session, team[BACKUP]) is None


def test_the_stylesheet_is_served_to_anyone(app: Flask) -> None:
    sheet = Browser(app).get("/assets/console.css")
    assert sheet.status_code == 200
    assert sheet.mimetype == "text/css"


def test_every_answer_carries_the_security_headers(
    app: Flask, clock: FakeClock, joan: Person
) -> None:
    browser = Browser(app)
    answers = [browser.get("/login"), browser.get("/assets/console.css")]
    browser.sign_in(joan, clock)
    answers.append(browser.get("/"))
    client = app.test_client()
    answers.append(client.get("/api/v1/openapi.json", base_url="https://crisis.example.org"))
    answers.append(client.get("/livez", base_url="https://crisis.example.org"))
    text = {
        "MessageSid": "SM" + "a" * 32,
        "AccountSid": "AC" + "1" * 32,
        "From": "+447700900555",
        "To": "+447700900000",
        "Body": "hello",
        "NumMedia": "0",
    }
    answers.append(signed_post(client, "/webhooks/sms", text))
    assert [answer.status_code for answer in answers] == [200] * len(answers)
    for answer in answers:
        csp = answer.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Referrer-Policy"] == "same-origin"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    # HSTS is sent over https only (the webhook came over plain http, as behind the proxy).
    for answer in answers[:-1]:
        assert answer.headers["Strict-Transport-Security"] == "max-age=31556926"
    # The machine paths never get a cookie.
    assert "Set-Cookie" not in answers[3].headers
    assert "Set-Cookie" not in answers[5].headers


def test_no_hsts_when_the_service_is_not_on_https(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, PUBLIC_BASE_URL="http://127.0.0.1:5000")
    app = create_app({"TESTING": True}, settings=settings, clock=FakeClock(START))
    try:
        page = app.test_client().get("/login", base_url="https://127.0.0.1:5000")
        assert page.status_code == 200
        assert "Strict-Transport-Security" not in page.headers
        assert page.headers["X-Frame-Options"] == "DENY"
    finally:
        services_of(app).db.dispose()


def _status(html: str, staff_id: int) -> str:
    start = html.index(f'id="staff-{staff_id}"')
    marker = html.index('class="status status-', start)
    return html[html.index(">", marker) + 1 : html.index("<", marker + 1)]


def test_htmx_is_served_from_its_package_to_anyone(client: FlaskClient) -> None:
    with client.get("/assets/htmx/htmx.min.js") as answer:
        assert answer.status_code == 200
        assert answer.mimetype in {"text/javascript", "application/javascript"}
        assert b"htmx" in answer.get_data()
