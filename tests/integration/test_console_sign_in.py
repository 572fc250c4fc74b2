"""Signing in to the console: password then code, lockout, session limits and their ends."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from crisisline import accounts, sign_in, staffing
from crisisline.account_models import WebSession
from crisisline.app import create_app
from crisisline.clock import FakeClock
from crisisline.gate import SESSION_COOKIE
from crisisline.models import AuditEntry, StaffRole
from tests.support.app import START, json_of, make_settings, services_of
from tests.support.console import PASSWORD, Browser, Person, enrolled, sessions_of

AMIRA = "+447700900101"
ROSA = "+447700900111"


@pytest.fixture
def amira(app: Flask, clock: FakeClock) -> Person:
    """An on-call worker with a console account (and an email to sign in with)."""
    return enrolled(
        app,
        "Amira Okafor",
        AMIRA,
        [StaffRole.ON_CALL],
        email="amira.okafor@example.org",
        now=clock.now(),
    )


def test_signing_in_takes_the_password_then_the_six_digit_code(
    app: Flask, clock: FakeClock, amira: Person
) -> None:
    browser = Browser(app)
    page = browser.get("/login")
    assert page.status_code == 200
    # The form's CSRF secret, in Flask's signed cookie (never who is signed in).
    form_cookie = page.headers["Set-Cookie"]
    assert form_cookie.startswith("crisisline_form=")
    for flag in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
        assert flag in form_cookie
    html = page.get_data(as_text=True)
    assert '<label for="identifier">Phone number or email</label>' in html
    assert '<label for="password">Password</label>' in html

    first = browser.post("/login", {"identifier": "07700 900101", "password": PASSWORD})
    assert first.status_code == 303
    assert first.headers["Location"] == "/login"
    cookie = first.headers["Set-Cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    for flag in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
        assert flag in cookie
    # Half-open: the password alone opens nothing.
    assert browser.get("/").status_code == 302

    code_page = browser.get("/login").get_data(as_text=True)
    assert '<label for="code">Six-digit code</label>' in code_page
    done = browser.post("/login", {"code": pyotp.TOTP(amira.secret).at(clock.now())})
    assert done.status_code == 303
    assert done.headers["Location"] == "/"
    home = browser.get("/")
    assert home.status_code == 200
    assert "Amira Okafor" in home.get_data(as_text=True)
    (row,) = sessions_of(app, amira.staff_id)
    assert row.second_factor_at == clock.now()
    assert row.expires_at == clock.now() + dt.timedelta(hours=12)
    # Only the hash of the cookie's value is stored.
    assert browser.cookie() not in {row.id_hash}


def test_an_email_in_any_case_signs_in_too(app: Flask, clock: FakeClock, amira: Person) -> None:
    browser = Browser(app)
    assert browser.sign_in(amira, clock, identifier="Amira.Okafor@EXAMPLE.org").status_code == 303
    assert browser.get("/").status_code == 200


def test_a_wrong_code_is_refused_and_the_right_one_then_signs_in(
    app: Flask, clock: FakeClock, amira: Person
) -> None:
    browser = Browser(app)
    assert browser.sign_in_password(amira.phone).status_code == 303
    browser.get("/login")
    right = pyotp.TOTP(amira.secret).at(clock.now())
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    refused = browser.post("/login", {"code": wrong})
    assert refused.status_code == 401
    assert sign_in.WRONG_CODE in refused.get_data(as_text=True)
    assert browser.get("/").status_code == 302
    assert browser.post("/login", {"code": right}).status_code == 303
    assert browser.get("/").status_code == 200


def test_a_code_once_used_cannot_sign_in_again(app: Flask, clock: FakeClock, amira: Person) -> None:
    code = pyotp.TOTP(amira.secret).at(clock.now())
    first = Browser(app)
    assert first.sign_in(amira, clock).status_code == 303
    clock.advance(dt.timedelta(seconds=10))  # the same 30-second step
    second = Browser(app)
    assert second.sign_in_password(amira.phone).status_code == 303
    second.get("/login")
    replayed = second.post("/login", {"code": code})
    assert replayed.status_code == 401
    assert sign_in.WRONG_CODE in replayed.get_data(as_text=True)


def test_a_recovery_code_signs_in_once(app: Flask, clock: FakeClock, amira: Person) -> None:
    code = amira.recovery_codes[3]
    browser = Browser(app)
    browser.sign_in_password(amira.phone)
    browser.get("/login")
    assert browser.post("/login", {"recovery_code": code.upper()}).status_code == 303
    assert browser.get("/").status_code == 200
    browser.post("/logout")

    browser.sign_in_password(amira.phone)
    browser.get("/login")
    again = browser.post("/login", {"recovery_code": code})
    assert again.status_code == 401
    assert browser.get("/").status_code == 302


def test_ten_failures_lock_the_account_with_the_same_answer_as_for_no_account(
    app: Flask, clock: FakeClock, amira: Person
) -> None:
    browser = Browser(app)
    answers = []
    for _ in range(accounts.MAX_FAILED_SIGN_INS):
        answers.append(browser.sign_in_password(amira.phone, "not the password at all"))
    # Locked now: the right password gets exactly the same answer as a wrong one...
    answers.append(browser.sign_in_password(amira.phone))
    # ...and as a name nobody has, or a member of staff with no account.
    answers.append(browser.sign_in_password("+447700900999"))
    answers.append(browser.sign_in_password("nobody@example.org"))
    statuses = {answer.status_code for answer in answers}
    assert statuses == {401}
    messages = {_error_of(answer.get_data(as_text=True)) for answer in answers}
    assert messages == {sign_in.FAILED_SIGN_IN}
    assert "locked for 15 minutes" in sign_in.FAILED_SIGN_IN
    assert sessions_of(app, amira.staff_id) == []
    with services_of(app).db.transaction() as session:
        locks = session.scalars(select(AuditEntry).where(AuditEntry.action == "lock")).all()
        assert len(locks) == 1
        assert locks[0].actor == "system"

    clock.advance(accounts.LOCKOUT)
    assert browser.sign_in(amira, clock).status_code == 303
    assert browser.get("/").status_code == 200


def test_failed_codes_count_towards_the_lockout(
    app: Flask, clock: FakeClock, amira: Person
) -> None:
    browser = Browser(app)
    for _ in range(accounts.MAX_FAILED_SIGN_INS - 1):
        browser.sign_in_password(amira.phone, "not the password at all")
    browser.sign_in_password(amira.phone)
    browser.get("/login")
    locked = browser.post("/login", {"code": "000000"})
    assert locked.status_code == 401
    assert sign_in.LOCKED in locked.get_data(as_text=True)
    (row,) = sessions_of(app, amira.staff_id)
    assert row.ended_reason == "locked"


def test_failed_sign_ins_from_one_address_are_limited(
    app: Flask, clock: FakeClock, amira: Person
) -> None:
    browser = Browser(app)
    # Getting it right is never counted...
    assert browser.sign_in(amira, clock).status_code == 303
    browser.post("/logout")
    # ...thirty failures are, whichever names they try.
    for number in range(30):
        answer = browser.sign_in_password(f"+4477009005{number:02d}", "a guess at a password")
        assert answer.status_code == 401
    limited = browser.sign_in_password("+447700900599", "a guess at a password")
    assert limited.status_code == 429
    assert "Too many failed sign-ins" in limited.get_data(as_text=True)
    assert "Retry-After" in limited.headers


def test_a_session_ends_after_the_idle_limit(app: Flask, clock: FakeClock, amira: Person) -> None:
    browser = Browser(app)
    browser.sign_in(amira, clock)
    clock.advance(dt.timedelta(minutes=29))
    assert browser.get("/").status_code == 200
    clock.advance(dt.timedelta(minutes=29))
    assert browser.get("/").status_code == 200
    clock.advance(dt.timedelta(minutes=30))
    lapsed = browser.get("/")
    assert lapsed.status_code == 302
    assert lapsed.headers["Location"] == "/login?next=%2F"
    (row,) = sessions_of(app, amira.staff_id)
    assert row.ended_reason == "idle"


def test_a_session_ends_after_the_absolute_limit_however_busy(
    app: Flask, clock: FakeClock, amira: Person
) -> None:
    browser = Browser(app)
    browser.sign_in(amira, clock)
    started = clock.now()
    while clock.now() < started + dt.timedelta(hours=12) - dt.timedelta(minutes=20):
        assert browser.get("/").status_code == 200
        clock.advance(dt.timedelta(minutes=20))
    clock.set(started + dt.timedelta(hours=12))
    assert browser.get("/").status_code == 302
    (row,) = sessions_of(app, amira.staff_id)
    assert row.ended_reason == "expired"


def test_the_limits_come_from_the_settings(tmp_path: Path, database_url: str) -> None:
    clock = FakeClock(START)
    settings = make_settings(
        tmp_path, database_url, SESSION_IDLE_MINUTES="5", SESSION_MAX_HOURS="1"
    )
    app = create_app({"TESTING": True}, settings=settings, clock=clock)
    try:
        person = enrolled(app, "Amira Okafor", AMIRA, [StaffRole.ON_CALL], now=clock.now())
        browser = Browser(app)
        browser.sign_in(person, clock)
        clock.advance(dt.timedelta(minutes=5))
        assert browser.get("/").status_code == 302
        (row,) = sessions_of(app, person.staff_id)
        assert row.expires_at == START + dt.timedelta(hours=1)
    finally:
        services_of(app).db.dispose()


def test_signing_out_ends_the_session_for_good(app: Flask, clock: FakeClock, amira: Person) -> None:
    browser = Browser(app)
    browser.sign_in(amira, clock)
    stolen = browser.cookie()
    assert stolen is not None
    browser.get("/")
    out = browser.post("/logout")
    assert out.status_code == 303
    assert out.headers["Location"] == "/login"
    assert f"{SESSION_COOKIE}=;" in out.headers["Set-Cookie"]
    assert "You have signed out." in browser.get("/login").get_data(as_text=True)
    (row,) = sessions_of(app, amira.staff_id)
    assert row.ended_reason == "signed_out"
    # The old cookie, replayed, is worth nothing.
    other = Browser(app)
    other.client.set_cookie(SESSION_COOKIE, stolen, domain="crisis.example.org")
    assert other.get("/").status_code == 302


def test_deactivating_the_member_of_staff_ends_their_session(
    app: Flask, clock: FakeClock, amira: Person, auth: dict[str, str]
) -> None:
    browser = Browser(app)
    browser.sign_in(amira, clock)
    assert browser.get("/").status_code == 200
    api: FlaskClient = app.test_client()
    answer = api.post(f"/api/v1/staff/{amira.staff_id}/deactivate", headers=auth)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert browser.get("/").status_code == 302
    (row,) = sessions_of(app, amira.staff_id)
    assert row.ended_reason == "deactivated"


def test_reinviting_ends_the_session_and_the_old_credentials(
    app: Flask, clock: FakeClock, amira: Person
) -> None:
    browser = Browser(app)
    browser.sign_in(amira, clock)
    svc = services_of(app)
    with svc.db.transaction() as session:
        staffing.invite_to_console(
            session,
            amira.staff_id,
            actor="staff:1",
            now=clock.now(),
            public_base_url=svc.settings.public_base_url,
            from_=svc.settings.crisis_line_number,
        )
    assert browser.get("/").status_code == 302
    (row,) = sessions_of(app, amira.staff_id)
    assert row.ended_reason == "reinvited"
    clock.advance(dt.timedelta(minutes=1))
    assert Browser(app).sign_in_password(amira.phone).status_code == 401


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
    app: Flask, clock: FakeClock, amira: Person
) -> None:
    browser = Browser(app)
    browser.get("/login")
    refused = browser.post("/login", {"identifier": amira.phone, "password": PASSWORD}, csrf=False)
    assert refused.status_code == 400
    assert "nothing was done" in refused.get_data(as_text=True)
    assert sessions_of(app, amira.staff_id) == []

    browser.sign_in(amira, clock)
    out = browser.post("/logout", csrf=False)
    assert out.status_code == 400
    assert browser.get("/").status_code == 200
    forged = browser.post("/logout", {"csrf_token": "forged"})
    assert forged.status_code == 400
    assert browser.get("/").status_code == 200
    (row,) = sessions_of(app, amira.staff_id)
    assert row.ended_at is None


def test_a_form_posted_from_another_site_is_refused(
    app: Flask, clock: FakeClock, amira: Person
) -> None:
    browser = Browser(app)
    browser.sign_in(amira, clock)
    browser.get("/")
    answer = browser.client.post(
        "/logout",
        data={"csrf_token": browser.token},
        base_url="https://crisis.example.org",
        headers={"Referer": "https://elsewhere.example.com/page"},
    )
    assert answer.status_code == 400
    assert browser.get("/").status_code == 200


def test_after_signing_in_the_page_asked_for_opens_but_never_another_site(
    app: Flask, clock: FakeClock, amira: Person
) -> None:
    browser = Browser(app)
    asked = browser.get("/staff-accounts")
    assert asked.headers["Location"] == "/login?next=%2Fstaff-accounts"
    done = browser.sign_in(amira, clock, next_path="/staff-accounts")
    assert done.headers["Location"] == "/staff-accounts"
    browser.post("/logout")
    clock.advance(dt.timedelta(minutes=1))
    elsewhere = browser.sign_in(amira, clock, next_path="//evil.example.com/")
    assert elsewhere.headers["Location"] == "/"


def test_the_sign_in_page_tells_a_signed_in_person_who_they_are(
    app: Flask, clock: FakeClock, amira: Person
) -> None:
    browser = Browser(app)
    browser.sign_in(amira, clock)
    page = browser.get("/login").get_data(as_text=True)
    assert "You are signed in as Amira Okafor." in page
    assert ">Sign out</button>" in page


def test_a_half_open_session_lapses_after_five_minutes(
    app: Flask, clock: FakeClock, amira: Person
) -> None:
    browser = Browser(app)
    browser.sign_in_password(amira.phone)
    clock.advance(dt.timedelta(minutes=5))
    browser.get("/login")
    late = browser.post("/login", {"code": pyotp.TOTP(amira.secret).at(clock.now())})
    assert late.status_code == 401
    assert sign_in.START_AGAIN in late.get_data(as_text=True)


def test_a_session_row_keeps_where_the_sign_in_came_from(
    app: Flask, clock: FakeClock, amira: Person
) -> None:
    Browser(app).sign_in(amira, clock)
    with services_of(app).db.transaction() as session:
        row = session.scalars(select(WebSession)).one()
        assert row.address == "127.0.0.1"
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "sign_in")).all()
        assert [entry.actor for entry in entries] == [f"staff:{amira.staff_id}"]
        assert all(PASSWORD not in str(entry.changes) for entry in entries)


def test_a_script_that_is_not_signed_in_is_told_where_things_are(client: FlaskClient) -> None:
    answer = client.get("/", headers={"Accept": "application/json"})
    assert answer.status_code == 401
    assert "/api/v1/openapi.json" in json_of(answer)["message"]


def _error_of(html: str) -> str:
    start = html.index('role="alert"')
    return html[html.index(">", start) + 1 : html.index("</p>", start)]
