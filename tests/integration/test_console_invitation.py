"""Setting up a sign-in from a texted invitation, through the pages: password, authenticator app,
recovery codes; the link works once, for 72 hours, and no step can be skipped."""

from __future__ import annotations

import datetime as dt
import re

import pyotp
import pytest
from flask import Flask

from crisisline import accounts
from crisisline.clock import FakeClock
from crisisline.console.views import ENROLMENT_COOKIE
from crisisline.gate import SESSION_COOKIE
from crisisline.models import StaffRole
from crisisline.staffing import invite_to_console
from tests.support.app import services_of
from tests.support.console import (
    Browser,
    Person,
    add_person,
    enrolled,
    invitation_token,
    sessions_of,
)

TOM = "+447700900102"
NEW_PASSWORD = "kettle on the Severn at dawn"


@pytest.fixture
def tom(app: Flask, clock: FakeClock) -> int:
    """An on-call worker just invited to the console; his staff id."""
    staff_id = add_person(app, "Tom Hughes", TOM, [StaffRole.ON_CALL], now=clock.now())
    svc = services_of(app)
    with svc.db.transaction() as session:
        invite_to_console(
            session,
            staff_id,
            actor="staff:99",
            now=clock.now(),
            public_base_url=svc.settings.public_base_url,
            from_=svc.settings.crisis_line_number,
        )
    return staff_id


def test_an_invitation_sets_up_a_password_an_authenticator_and_recovery_codes(
    app: Flask, clock: FakeClock, tom: int
) -> None:
    token = invitation_token(app, TOM)
    browser = Browser(app)
    landing = browser.get(f"/invitation/{token}")
    assert landing.status_code == 200
    assert ">Set up my sign-in</button>" in landing.get_data(as_text=True)

    started = browser.post(f"/invitation/{token}")
    assert started.status_code == 303
    # After the link, no secret is in any URL.
    assert started.headers["Location"] == "/invitation"
    cookie = started.headers["Set-Cookie"]
    assert cookie.startswith(f"{ENROLMENT_COOKIE}=")
    for flag in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/invitation"):
        assert flag in cookie

    password_page = browser.get("/invitation").get_data(as_text=True)
    assert '<label for="password">New password</label>' in password_page
    assert '<label for="confirm_password">Confirm new password</label>' in password_page
    weak = browser.post(
        "/invitation/password", {"password": "password1234", "confirm_password": "password1234"}
    )
    assert weak.status_code == 422
    assert "most common ones" in weak.get_data(as_text=True)
    short = browser.post("/invitation/password", {"password": "short", "confirm_password": "short"})
    assert "at least 12 characters" in short.get_data(as_text=True)
    slip = browser.post(
        "/invitation/password", {"password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD + "x"}
    )
    assert slip.status_code == 422
    assert "not the same" in slip.get_data(as_text=True)
    chosen = browser.post(
        "/invitation/password", {"password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    )
    assert chosen.status_code == 303
    assert chosen.headers["Location"] == "/invitation"

    code_page = browser.get("/invitation")
    html = code_page.get_data(as_text=True)
    assert "<svg" in html
    assert "style=" not in html and "<script" not in html  # the CSP allows neither inline
    secret = _secret_on(html)
    # The page shows the same secret until it is confirmed (a reload does not change it).
    assert _secret_on(browser.get("/invitation").get_data(as_text=True)) == secret
    right = pyotp.TOTP(secret).at(clock.now())
    wrong = browser.post("/invitation/code", {"code": f"{(int(right) + 1) % 1_000_000:06d}"})
    assert wrong.status_code == 422
    assert _secret_on(wrong.get_data(as_text=True)) == secret

    done = browser.post("/invitation/code", {"code": right})
    assert done.status_code == 200
    shown = done.get_data(as_text=True)
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", shown)
    assert len(codes) == accounts.RECOVERY_CODES
    assert ">I have saved these codes</button>" in shown
    assert done.headers["Cache-Control"] == "no-store"
    assert f"{ENROLMENT_COOKIE}=;" in done.headers["Set-Cookie"]
    # Enrolment is over: the set-up pages have nothing more to show.
    assert browser.get("/invitation").status_code == 410

    clock.advance(dt.timedelta(seconds=accounts.TOTP_STEP_SECONDS))
    person = Person(tom, "Tom Hughes", TOM, None, secret, codes)
    signed_in = Browser(app)
    first = signed_in.sign_in_password(TOM, NEW_PASSWORD)
    assert first.status_code == 303
    signed_in.get("/login")
    assert signed_in.post("/login", {"code": pyotp.TOTP(secret).at(clock.now())}).status_code == 303
    assert "Tom Hughes" in signed_in.get("/").get_data(as_text=True)
    signed_in.post("/logout")
    signed_in.sign_in_password(TOM, NEW_PASSWORD)
    signed_in.get("/login")
    assert signed_in.post("/login", {"recovery_code": person.recovery_codes[0]}).status_code == 303


def test_opening_the_link_spends_nothing_until_the_button_is_pressed(
    app: Flask, clock: FakeClock, tom: int
) -> None:
    token = invitation_token(app, TOM)
    # A messaging app's link preview, twice.
    Browser(app).get(f"/invitation/{token}")
    Browser(app).get(f"/invitation/{token}")
    browser = Browser(app)
    browser.get(f"/invitation/{token}")
    assert browser.post(f"/invitation/{token}").status_code == 303


def test_an_invitation_works_once(app: Flask, clock: FakeClock, tom: int) -> None:
    token = invitation_token(app, TOM)
    first = Browser(app)
    first.get(f"/invitation/{token}")
    assert first.post(f"/invitation/{token}").status_code == 303
    second = Browser(app)
    second.get(f"/invitation/{token}")
    again = second.post(f"/invitation/{token}")
    assert again.status_code == 410
    assert "has been used already" in again.get_data(as_text=True)
    assert second.cookie(ENROLMENT_COOKIE, "/invitation") is None


def test_an_invitation_expires_after_72_hours(app: Flask, clock: FakeClock, tom: int) -> None:
    token = invitation_token(app, TOM)
    clock.advance(dt.timedelta(hours=72))
    browser = Browser(app)
    browser.get(f"/invitation/{token}")
    late = browser.post(f"/invitation/{token}")
    assert late.status_code == 410
    assert "has expired" in late.get_data(as_text=True)


def test_an_unknown_link_is_refused(app: Flask, clock: FakeClock, tom: int) -> None:
    browser = Browser(app)
    browser.get("/invitation/not-a-token")
    answer = browser.post("/invitation/not-a-token")
    assert answer.status_code == 410
    assert "not valid" in answer.get_data(as_text=True)


def test_the_code_step_cannot_come_before_the_password(
    app: Flask, clock: FakeClock, tom: int
) -> None:
    token = invitation_token(app, TOM)
    browser = Browser(app)
    browser.get(f"/invitation/{token}")
    browser.post(f"/invitation/{token}")
    browser.get("/invitation")
    skipped = browser.post("/invitation/code", {"code": "123456"})
    assert skipped.status_code == 422
    assert '<label for="password">New password</label>' in skipped.get_data(as_text=True)
    with services_of(app).db.transaction() as session:
        account = accounts.get_for_staff(session, tom)
        assert account is not None
        assert account.totp_secret is None and account.totp_confirmed_at is None


def test_no_step_works_without_the_enrolment_that_the_link_began(
    app: Flask, clock: FakeClock, tom: int
) -> None:
    stranger = Browser(app)
    stranger.get("/login")
    assert stranger.get("/invitation").status_code == 410
    refused = stranger.post(
        "/invitation/password", {"password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    )
    assert refused.status_code == 410
    assert stranger.post("/invitation/code", {"code": "123456"}).status_code == 410


def test_an_enrolment_is_not_a_sign_in(app: Flask, clock: FakeClock, tom: int) -> None:
    token = invitation_token(app, TOM)
    browser = Browser(app)
    browser.get(f"/invitation/{token}")
    browser.post(f"/invitation/{token}")
    browser.get("/invitation")
    browser.post(
        "/invitation/password", {"password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    )
    enrolment_id = browser.cookie(ENROLMENT_COOKIE, "/invitation")
    assert enrolment_id is not None
    # Even offered as the sign-in cookie, it opens nothing and takes no code.
    browser.client.set_cookie(SESSION_COOKIE, enrolment_id, domain="crisis.example.org")
    assert browser.get("/").status_code == 302
    assert "Six-digit code" not in browser.get("/login").get_data(as_text=True)
    # And the half-set-up account cannot sign in with its password.
    assert Browser(app).sign_in_password(TOM, NEW_PASSWORD).status_code == 401


def test_an_enrolment_left_for_half_an_hour_must_be_invited_again(
    app: Flask, clock: FakeClock, tom: int
) -> None:
    token = invitation_token(app, TOM)
    browser = Browser(app)
    browser.get(f"/invitation/{token}")
    browser.post(f"/invitation/{token}")
    clock.advance(dt.timedelta(minutes=30))
    page = browser.get("/invitation")
    assert page.status_code == 410
    assert "invite you again" in page.get_data(as_text=True)
    (row,) = sessions_of(app, tom)
    assert row.ended_at is not None


def test_following_a_link_while_someone_is_signed_in_leaves_their_sign_in_alone(
    app: Flask, clock: FakeClock, tom: int
) -> None:
    admin = enrolled(app, "Priya Natarajan", "+447700900103", [StaffRole.ADMIN], now=clock.now())
    browser = Browser(app)
    browser.sign_in(admin, clock)
    token = invitation_token(app, TOM)
    browser.get(f"/invitation/{token}")
    browser.post(f"/invitation/{token}")
    assert "Priya Natarajan" in browser.get("/").get_data(as_text=True)


def _secret_on(html: str) -> str:
    found = re.search(r'<p class="secret" id="totp-secret">([A-Z2-7 ]+)</p>', html)
    assert found is not None, html
    return found.group(1).replace(" ", "")
