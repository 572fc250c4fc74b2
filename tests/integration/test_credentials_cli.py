"""`crisisline tokens` and `crisisline accounts`: tokens that belong to someone, console
accounts given by invitation and taken away, and the demo administrator who can sign in."""

from __future__ import annotations

import datetime as dt
import re

import pyotp
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from crisisline import accounts, staff, web_sessions
from crisisline.clock import FakeClock
from crisisline.demo import DEMO_ADMINISTRATOR_EMAIL
from crisisline.models import ApiToken, AuditEntry, Delivery, Staff, StaffRole
from crisisline.tokens import hash_token
from tests.support.app import services_of
from tests.support.tokens import bearer


def _add_staff(app: Flask, name: str, phone: str, roles: list[StaffRole]) -> int:
    services = services_of(app)
    with services.db.transaction() as session:
        person = staff.create(
            session,
            staff.NewStaff(name, phone, None, roles),
            actor="tests",
            now=services.clock.now(),
        )
        return person.id


def _created(runner: FlaskCliRunner, *args: str) -> str:
    result = runner.invoke(args=["tokens", "create", *args])
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[0]


def test_a_token_issued_to_a_person_is_printed_once_stored_hashed_and_acts_with_their_roles(
    app: Flask, runner: FlaskCliRunner, client: FlaskClient
) -> None:
    amira = _add_staff(app, "Amira Okafor", "+447700900101", [StaffRole.DUTY_MANAGER])
    result = runner.invoke(args=["tokens", "create", "amira-laptop", "--staff", str(amira)])
    assert result.exit_code == 0, result.output
    plaintext = result.stdout.strip()
    assert plaintext.startswith("crl_") and "\n" not in plaintext
    assert "Amira Okafor" in result.stderr and "shown only this once" in result.stderr
    with services_of(app).db.transaction() as session:
        stored = session.scalars(select(ApiToken)).one()
        assert (stored.staff_id, stored.scopes, stored.legacy) == (amira, None, False)
        assert stored.token_hash == hash_token(plaintext)
        assert stored.created_by == "cli"
        assert not any(plaintext in str(value) for value in vars(stored).values())
    assert client.get("/api/v1/rotas", headers=bearer(plaintext)).status_code == 200
    # A duty manager holds no staff administration, and neither does their token.
    refused = client.post(
        "/api/v1/staff",
        json={"name": "Tom Hughes", "phone": "+447700900102", "roles": ["on_call"]},
        headers=bearer(plaintext),
    )
    assert refused.status_code == 403


def test_an_integration_token_holds_exactly_the_scopes_it_was_issued_with(
    runner: FlaskCliRunner, client: FlaskClient
) -> None:
    plaintext = _created(runner, "case-management", "--scope", "contacts:read")
    assert client.get("/api/v1/contacts", headers=bearer(plaintext)).status_code == 200
    refused = client.post("/api/v1/rotas", json={}, headers=bearer(plaintext))
    assert refused.status_code == 403
    assert "rotas:write" in refused.json["message"]  # type: ignore[index]


def test_tokens_create_needs_an_owner_and_names_an_unknown_scope(runner: FlaskCliRunner) -> None:
    ownerless = runner.invoke(args=["tokens", "create", "my-laptop"])
    assert ownerless.exit_code == 2
    assert "--staff STAFF_ID" in ownerless.output and "contacts:read" in ownerless.output
    both = runner.invoke(args=["tokens", "create", "x", "--staff", "1", "--scope", "rotas:read"])
    assert both.exit_code == 2
    unknown = runner.invoke(args=["tokens", "create", "x", "--scope", "rotas:reed"])
    assert unknown.exit_code == 1
    assert "Unknown scope 'rotas:reed'" in unknown.output and "rotas:read" in unknown.output
    nobody = runner.invoke(args=["tokens", "create", "x", "--staff", "404"])
    assert nobody.exit_code == 1 and "no member of staff with id 404" in nobody.output
    digits = runner.invoke(args=["tokens", "create", "12", "--scope", "rotas:read"])
    assert digits.exit_code == 1 and "digits alone" in digits.output


def test_all_scopes_is_allowed_with_a_warning(runner: FlaskCliRunner, client: FlaskClient) -> None:
    result = runner.invoke(args=["tokens", "create", "migration", "--all-scopes"])
    assert result.exit_code == 0, result.output
    assert "Warning: this token may do everything" in result.stderr
    plaintext = result.stdout.strip()
    assert client.get("/api/v1/tokens", headers=bearer(plaintext)).status_code == 200


def test_a_token_stops_working_when_it_expires(
    clock: FakeClock, runner: FlaskCliRunner, client: FlaskClient
) -> None:
    plaintext = _created(runner, "pilot", "--scope", "rotas:read", "--expires", "90d")
    assert client.get("/api/v1/rotas", headers=bearer(plaintext)).status_code == 200
    clock.advance(dt.timedelta(days=90))
    assert client.get("/api/v1/rotas", headers=bearer(plaintext)).status_code == 401
    listed = runner.invoke(args=["tokens", "list"]).output
    assert "pilot  integration:pilot  expired" in listed


def test_an_expiry_date_lasts_to_the_end_of_that_day_in_service_time(
    app: Flask, runner: FlaskCliRunner
) -> None:
    _created(runner, "summer", "--scope", "rotas:read", "--expires", "2027-07-31")
    with services_of(app).db.transaction() as session:
        token = session.scalars(select(ApiToken)).one()
        # Midnight at the end of 31 July in London is 23:00 UTC (summer time).
        assert token.expires_at == dt.datetime(2027, 7, 31, 23, 0, tzinfo=dt.UTC)
    bad = runner.invoke(args=["tokens", "create", "x", "--scope", "rotas:read", "--expires", "3m"])
    assert bad.exit_code == 1 and "90d" in bad.output
    past = runner.invoke(
        args=["tokens", "create", "x", "--scope", "rotas:read", "--expires", "2020-01-01"]
    )
    assert past.exit_code == 1 and "in the future" in past.output


def test_tokens_list_shows_owner_scopes_dates_and_the_legacy_flag_never_a_secret(
    app: Flask, runner: FlaskCliRunner, client: FlaskClient
) -> None:
    amira = _add_staff(app, "Amira Okafor", "+447700900101", [StaffRole.ON_CALL])
    person = _created(runner, "amira-phone", "--staff", str(amira))
    integration = _created(runner, "reports", "--scope", "reports:read", "--scope", "rotas:read")
    services = services_of(app)
    with services.db.transaction() as session:
        # A token from before tokens had owners, as migration 0018 left it.
        session.add(
            ApiToken(
                name="old-laptop",
                token_hash=hash_token("crl_old"),
                created_at=services.clock.now(),
                legacy=True,
            )
        )
    client.get("/api/v1/rotas", headers=bearer(integration))
    listed = runner.invoke(args=["tokens", "list"]).output
    assert "1  amira-phone  staff:1 (Amira Okafor)  live" in listed
    assert "may: the person's roles" in listed
    assert "2  reports  integration:reports  live" in listed
    assert "may: reports:read, rotas:read" in listed
    assert "last used 2026-11-26 12:00 GMT" in listed
    assert "3  old-laptop  integration:old-laptop  live  LEGACY" in listed
    assert "created 2026-11-26 12:00 GMT by cli" in listed
    assert person not in listed and integration not in listed


def test_revoking_by_name_or_id_refuses_the_token_at_once(
    runner: FlaskCliRunner, client: FlaskClient
) -> None:
    leaked = _created(runner, "leaked", "--scope", "rotas:read")
    retired = _created(runner, "retired", "--scope", "rotas:read")
    by_name = runner.invoke(args=["tokens", "revoke", "leaked"])
    assert by_name.exit_code == 0, by_name.output
    assert "Revoked token 1 ('leaked')" in by_name.output
    assert client.get("/api/v1/rotas", headers=bearer(leaked)).status_code == 401
    assert client.get("/api/v1/rotas", headers=bearer(retired)).status_code == 200
    by_id = runner.invoke(args=["tokens", "revoke", "2"])
    assert by_id.exit_code == 0, by_id.output
    assert client.get("/api/v1/rotas", headers=bearer(retired)).status_code == 401
    assert "revoked 2026-11-26 12:00 GMT" in runner.invoke(args=["tokens", "list"]).output
    again = runner.invoke(args=["tokens", "revoke", "1"])
    assert again.exit_code == 1 and "revoked already" in again.output
    unknown = runner.invoke(args=["tokens", "revoke", "nobody"])
    assert unknown.exit_code == 1 and "No live API token" in unknown.output


def test_revoking_a_name_two_live_tokens_share_asks_for_the_id(runner: FlaskCliRunner) -> None:
    _created(runner, "case-management", "--all-scopes")
    _created(runner, "case-management", "--scope", "contacts:read")  # its replacement
    result = runner.invoke(args=["tokens", "revoke", "case-management"])
    assert result.exit_code == 1
    assert "2 live tokens are called 'case-management' (ids 1, 2): revoke one by id" in (
        result.output
    )


def test_accounts_invite_texts_the_link_and_prints_only_the_delivery(
    app: Flask, runner: FlaskCliRunner
) -> None:
    tom = _add_staff(app, "Tom Hughes", "+447700900102", [StaffRole.ON_CALL])
    result = runner.invoke(args=["accounts", "invite", str(tom)])
    assert result.exit_code == 0, result.output
    with services_of(app).db.transaction() as session:
        delivery = session.scalars(select(Delivery)).one()
        assert delivery.to_number == "+447700900102"
        assert delivery.purpose == "console_invitation"
        assert "https://crisis.example.org/invitation/" in delivery.body
        link = delivery.body[delivery.body.index("https://") :].split()[0]
        assert accounts.get_for_staff(session, tom) is not None
    assert f"Invitation texted to Tom Hughes's registered phone (delivery {delivery.id}" in (
        result.output
    )
    assert link not in result.output and "/invitation/" not in result.output
    assert "+447700900102" not in result.output
    assert "TELEPHONY=console" in result.output
    missing = runner.invoke(args=["accounts", "invite", "404"])
    assert missing.exit_code == 1 and "no member of staff with id 404" in missing.output


def _enrolled(app: Flask, staff_id: int) -> None:
    services = services_of(app)
    now = services.clock.now()
    with services.db.transaction() as session:
        token = accounts.invite(session, staff_id, actor="tests", now=now)
        account = accounts.redeem_invitation(session, token, now=now)
        accounts.set_password(session, account, "correct horse battery", now=now)
        enrolment = accounts.start_totp_enrolment(session, account, now=now)
        code = pyotp.TOTP(enrolment.secret).at(now)
        assert accounts.confirm_totp(session, account, code, now=now)


def test_accounts_list_says_each_account_state_and_the_last_sign_in(
    app: Flask, runner: FlaskCliRunner
) -> None:
    services = services_of(app)
    ids = {
        name: _add_staff(app, name, f"+4477009001{n:02d}", [StaffRole.ON_CALL])
        for n, name in enumerate(
            ["Amira Okafor", "Bea Lowe", "Cal Reyes", "Dee Shah", "Eli Moss", "Fay Kerr"]
        )
    }
    now = services.clock.now()
    with services.db.transaction() as session:
        accounts.invite(session, ids["Bea Lowe"], actor="tests", now=now - dt.timedelta(days=4))
        accounts.invite(session, ids["Cal Reyes"], actor="tests", now=now)
    for name in ("Dee Shah", "Eli Moss", "Fay Kerr"):
        _enrolled(app, ids[name])
    with services.db.transaction() as session:
        dee = accounts.get_for_staff(session, ids["Dee Shah"])
        assert dee is not None
        row = web_sessions.find(
            session,
            web_sessions.begin(
                session, dee, now=now, limits=web_sessions.Limits(), address=None, user_agent=None
            ),
        )
        assert row is not None
        web_sessions.complete_second_factor(row, now=now, limits=web_sessions.Limits())
        eli = accounts.get_for_staff(session, ids["Eli Moss"])
        assert eli is not None
        for _ in range(accounts.MAX_FAILED_SIGN_INS):
            accounts.record_failed_sign_in(session, eli, now=now)
        accounts.disable(session, ids["Fay Kerr"], actor="tests", now=now)
    listed = runner.invoke(args=["accounts", "list"])
    assert listed.exit_code == 0, listed.output
    lines = {re.split(r"  +", line)[1]: line for line in listed.output.splitlines()[2:]}
    assert "no account" in lines["Amira Okafor"]
    assert "invitation expired" in lines["Bea Lowe"]
    assert "invited" in lines["Cal Reyes"] and "on_call" in lines["Cal Reyes"]
    assert "active" in lines["Dee Shah"] and "2026-11-26 12:00 GMT" in lines["Dee Shah"]
    assert "locked" in lines["Eli Moss"]
    assert "disabled" in lines["Fay Kerr"]


def test_accounts_disable_ends_sessions_and_revokes_the_persons_tokens(
    app: Flask, runner: FlaskCliRunner, client: FlaskClient
) -> None:
    services = services_of(app)
    dee = _add_staff(app, "Dee Shah", "+447700900110", [StaffRole.DUTY_MANAGER])
    _enrolled(app, dee)
    with services.db.transaction() as session:
        account = accounts.get_for_staff(session, dee)
        assert account is not None
        cookie = web_sessions.begin(
            session,
            account,
            now=services.clock.now(),
            limits=web_sessions.Limits(),
            address=None,
            user_agent=None,
        )
    plaintext = _created(runner, "dee-laptop", "--staff", str(dee))
    result = runner.invoke(args=["accounts", "disable", str(dee)])
    assert result.exit_code == 0, result.output
    assert "1 sign-in session(s) ended, 1 API token(s) revoked" in result.output
    assert client.get("/api/v1/rotas", headers=bearer(plaintext)).status_code == 401
    with services.db.transaction() as session:
        row = web_sessions.find(session, cookie)
        assert row is not None and row.ended_at is not None
        assert (
            session.scalars(
                select(AuditEntry).where(
                    AuditEntry.record_type == "staff_account", AuditEntry.action == "disable"
                )
            )
            .one()
            .actor
            == "cli"
        )
    listed = runner.invoke(args=["accounts", "list"]).output
    assert "disabled" in listed
    unknown = runner.invoke(args=["accounts", "disable", "404"])
    assert unknown.exit_code == 1 and "no console account" in unknown.output


def test_demo_seeds_an_administrator_who_can_sign_in_with_the_printed_details(
    app: Flask, runner: FlaskCliRunner
) -> None:
    services = services_of(app)
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    output = first.output

    def shown(label: str) -> str:
        line = next(line for line in output.splitlines() if line.strip().startswith(label))
        return line.strip()[len(label) :].split()[0]

    password = shown("password")
    secret = shown("TOTP secret")
    assert "sign in at    https://crisis.example.org/login" in output
    assert f"as            {DEMO_ADMINISTRATOR_EMAIL} (or the phone number +4477009001" in output
    assert shown("otpauth URI").startswith("otpauth://totp/")
    assert f"pyotp.TOTP('{secret}').now()" in output
    with services.db.transaction() as session:
        admin = staff.find_by_email(session, DEMO_ADMINISTRATOR_EMAIL)
        assert admin is not None and admin.roles == [StaffRole.ADMIN]
        assert admin.phone.startswith("+4477009009") or admin.phone.startswith("+4477009001")
        account = accounts.get_for_staff(session, admin.id)
        assert account is not None
        assert accounts.state(admin, account, now=services.clock.now()) == "active"
        assert accounts.verify_password(account, password, now=services.clock.now())
        # The code an authenticator shows now is accepted at the first sign-in.
        code = pyotp.TOTP(secret).at(services.clock.now())
        assert accounts.verify_totp(account, code, now=services.clock.now())
        assert password not in str(account.password_hash)
        leads = [s for s in session.scalars(select(Staff)) if StaffRole.CLINICAL_LEAD in s.roles]
        assert len(leads) == 1
    again = runner.invoke(args=["demo"])
    assert password not in again.output and "TOTP secret" not in again.output
