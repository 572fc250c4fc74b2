"""A browser for the console's pages (the Flask test client over https, sending what a browser
sends: text/html in Accept, a same-origin Referer and each form's CSRF token), and people with
console accounts set up through the records, as an invitation would leave them."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import pyotp
from argon2 import PasswordHasher
from flask import Flask
from sqlalchemy import select
from werkzeug.test import TestResponse

from crisisline import accounts, staff
from crisisline.account_models import WebSession
from crisisline.clock import FakeClock
from crisisline.db import Database
from crisisline.gate import SESSION_COOKIE
from crisisline.models import Delivery, StaffRole
from crisisline.staffing import INVITATION_PATH, INVITATION_PURPOSE
from tests.support.app import services_of

ORIGIN = "https://crisis.example.org"
PASSWORD = "tea at Ludlow 4 tuesday"
HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Person:
    """A member of staff with a console account: how they sign in."""

    staff_id: int
    name: str
    phone: str
    email: str | None
    secret: str
    recovery_codes: list[str]


class Browser:
    """One browser: its cookies, and the CSRF token of the last page it showed."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client = app.test_client()
        self.token = ""

    def get(self, path: str, **headers: str) -> TestResponse:
        """Open `path` as a browser would; remembers the page's CSRF token."""
        page = self.client.get(path, base_url=ORIGIN, headers={"Accept": HTML, **headers})
        return self._read(page)

    def post(
        self, path: str, form: dict[str, str] | None = None, *, csrf: bool = True
    ) -> TestResponse:
        """Send a form to `path` with the last page's CSRF token (unless `csrf` is False)."""
        data = dict(form or {})
        if csrf:
            data.setdefault("csrf_token", self.token)
        page = self.client.post(
            path,
            data=data,
            base_url=ORIGIN,
            headers={"Accept": HTML, "Referer": ORIGIN + path},
        )
        return self._read(page)

    def _read(self, page: TestResponse) -> TestResponse:
        found = _TOKEN.search(page.get_data(as_text=True))  # buffers the body...
        if found:
            self.token = found.group(1)
        page.close()  # ...so a streamed file (the stylesheet) can be closed at once
        return page

    def cookie(self, name: str = SESSION_COOKIE, path: str = "/") -> str | None:
        """The value of a cookie this browser holds, if any."""
        held = self.client.get_cookie(name, domain="crisis.example.org", path=path)
        return held.value if held is not None else None

    def sign_in_password(self, identifier: str, password: str = PASSWORD) -> TestResponse:
        """Open the sign-in page and send a name and password."""
        self.get("/login")
        return self.post("/login", {"identifier": identifier, "password": password})

    def sign_in(
        self,
        person: Person,
        clock: FakeClock,
        *,
        identifier: str | None = None,
        next_path: str = "",
    ) -> TestResponse:
        """Sign in through both steps with the code of the clock's current step."""
        path = f"/login?next={next_path}" if next_path else "/login"
        self.get(path)
        first = self.post(path, {"identifier": identifier or person.phone, "password": PASSWORD})
        assert first.status_code == 303, first.get_data(as_text=True)
        self.get(first.headers["Location"])
        return self.post(path, {"code": pyotp.TOTP(person.secret).at(clock.now())})


def add_person(
    app: Flask,
    name: str,
    phone: str,
    roles: Sequence[StaffRole],
    *,
    email: str | None = None,
    now: dt.datetime,
) -> int:
    """A member of staff (no account yet); their id."""
    db = services_of(app).db
    with db.transaction() as session:
        return staff.create(
            session, staff.NewStaff(name, phone, email, list(roles)), actor="test", now=now
        ).id


def enrolled(
    app: Flask,
    name: str,
    phone: str,
    roles: Sequence[StaffRole],
    *,
    email: str | None = None,
    now: dt.datetime,
) -> Person:
    """A member of staff who has followed their invitation: password, TOTP, recovery codes."""
    staff_id = add_person(app, name, phone, roles, email=email, now=now)
    secret, codes = enrol(services_of(app).db, staff_id, now)
    return Person(staff_id, name, phone, email, secret, codes)


@functools.cache
def _password_hash() -> str:
    return PasswordHasher().hash(PASSWORD)


def enrol(db: Database, staff_id: int, now: dt.datetime) -> tuple[str, list[str]]:
    """Invite, redeem, set the password and confirm TOTP; the secret and recovery codes.

    The code confirmed is the step before `now`'s, so that a sign-in at `now` is not a replay.
    """
    with db.transaction() as session:
        token = accounts.invite(session, staff_id, actor="admin", now=now)
        account = accounts.redeem_invitation(session, token, now=now)
        # What accounts.set_password leaves, with the argon2id hash of PASSWORD made once per
        # run: at its real cost (0.1 s) a test setting up six people spent most of its time
        # hashing. Setting a password through the service is tested in test_accounts.py.
        assert accounts.check_password_policy(PASSWORD) is None
        account.password_hash = _password_hash()
        account.password_set_at = now
        account.updated_at = now
        enrolment = accounts.start_totp_enrolment(session, account, now=now)
        earlier = now - dt.timedelta(seconds=accounts.TOTP_STEP_SECONDS)
        assert accounts.confirm_totp(
            session, account, pyotp.TOTP(enrolment.secret).at(earlier), now=now
        )
        codes = accounts.new_recovery_codes(session, account, now=now)
        return enrolment.secret, codes


def invitation_token(app: Flask, phone: str) -> str:
    """The token of the last invitation texted to `phone` (read from the outbox)."""
    with services_of(app).db.transaction() as session:
        body = session.scalars(
            select(Delivery.body)
            .where(Delivery.purpose == INVITATION_PURPOSE, Delivery.to_number == phone)
            .order_by(Delivery.id.desc())
        ).first()
    assert body is not None
    found = re.search(re.escape(INVITATION_PATH) + r"([A-Za-z0-9_-]+)", body)
    assert found is not None, body
    return found.group(1)


def sessions_of(app: Flask, staff_id: int) -> list[WebSession]:
    """Every console session of a member of staff, oldest first (detached)."""
    with services_of(app).db.transaction() as session:
        rows = list(
            session.scalars(
                select(WebSession)
                .where(WebSession.staff_id == staff_id)
                .order_by(WebSession.created_at)
            )
        )
        for row in rows:
            session.expunge(row)
        return rows
