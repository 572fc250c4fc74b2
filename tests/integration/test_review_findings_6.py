"""Regression tests for the sixth safety review (start-up, configuration and health;
docs/hazard-log.md H86 to H91): each failed until its defect was fixed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from crisisline import rota_service, staff
from crisisline.models import Staff, StaffRole
from crisisline.settings import SettingsError, load_settings
from tests.support.app import TEST_AUTH_TOKEN, beat_as_leader, services_of

LIVE_ENV = {
    "TELEPHONY": "twilio",
    "SECRET_KEY": "a-long-random-secret-key-for-the-test",
    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "TWILIO_AUTH_TOKEN": TEST_AUTH_TOKEN,
    "PUBLIC_BASE_URL": "https://crisis.example.org",
    "CRISIS_LINE_NUMBER": "+447700900000",
}


def _rotas(app: Flask, names: tuple[str, ...], roles: list[StaffRole]) -> None:
    svc = services_of(app)
    now = svc.clock.now()
    with svc.db.transaction() as session:
        person = staff.create(
            session,
            staff.NewStaff("Amira Okafor", "+447700900101", None, roles),
            actor="t",
            now=now,
        )
        for name in names:
            rota_service.create(
                session,
                rota_service.NewRota(
                    name=name,
                    timezone="Europe/London",
                    members=[person.id],
                    shift_length="P7D",
                    first_handoff=dt.datetime(2026, 11, 2, 9, 0),
                ),
                actor="t",
                now=now,
            )


# ---- settings a live line starts with ------------------------------------------------------


def test_a_live_line_refuses_an_http_public_base_url(tmp_path: Path) -> None:
    """TELEPHONY=twilio with PUBLIC_BASE_URL=http://...: every callback URL the service writes
    is plain http and every signature is checked against http:// while Twilio signs the https
    URL it was given, so every webhook answers 403 and every call goes to Twilio's fallback."""
    env = {**LIVE_ENV, "PUBLIC_BASE_URL": "http://crisis.example.org"}
    with pytest.raises(SettingsError, match="PUBLIC_BASE_URL"):
        load_settings(env, instance_path=str(tmp_path))


def test_a_fallback_number_that_is_the_crisis_line_itself_is_refused(tmp_path: Path) -> None:
    """When failing safe the voice fallback dials FALLBACK_NUMBER; if that is the crisis line the
    caller is put through to the same failing line again instead of to a person."""
    env = {**LIVE_ENV, "FALLBACK_NUMBER": "07700 900000"}
    with pytest.raises(SettingsError, match="FALLBACK_NUMBER"):
        load_settings(env, instance_path=str(tmp_path))


def test_a_staff_phone_that_is_the_crisis_line_number_is_refused(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    """Every notification to this 'worker' is a text or call from the crisis line to itself:
    the on-call person is never reached, and nothing says so."""
    response = client.post(
        "/api/v1/staff",
        json={"name": "Tom Hughes", "phone": "+447700900000", "roles": ["on_call"]},
        headers=auth,
    )
    assert response.status_code == 422, response.get_json()


# ---- what /healthz says about a deployment that cannot reach anyone --------------------------


def test_healthz_names_the_rotas_the_shipped_policies_need_but_the_deployment_lacks(
    app: Flask, client: FlaskClient
) -> None:
    """The README creates a rota called "duty manager"; the shipped policies name
    "duty-manager". Every duty-manager step then resolves to nobody and is skipped, silently:
    /healthz says 200 "ok" and start-up said nothing."""
    _rotas(app, ("primary", "backup", "duty manager"), [StaffRole.ON_CALL, StaffRole.DUTY_MANAGER])
    beat_as_leader(app)
    response = client.get("/healthz")
    body = response.get_data(as_text=True)
    assert "duty-manager" in body, f"/healthz is silent about the missing rota: {body}"


def test_healthz_says_when_no_active_duty_manager_exists(app: Flask, client: FlaskClient) -> None:
    """Gap warnings and exhausted-chain incidents go to the duty managers. With none active they
    are only logged (rota_notices: 'no active duty manager to tell') and /healthz says ok."""
    _rotas(app, ("primary", "backup", "duty-manager"), [StaffRole.ON_CALL])
    beat_as_leader(app)
    response = client.get("/healthz")
    body = response.get_data(as_text=True).lower()
    assert "duty manager" in body or "duty_manager" in body, (
        f"/healthz is silent about having no duty manager: {body}"
    )


def test_start_up_refuses_a_broken_escalation_policies_file(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """crisis_line.toml and risk_rules.toml are checked in create_app; the escalation policies
    are only read (and cached) the first time an escalation opens, so a broken or incomplete
    file lets the web and scheduler start and answer /healthz 200, then fails mid-crisis."""
    from crisisline import escalation_engine
    from crisisline.app import create_app
    from escalation import defaults
    from tests.support.app import make_settings

    broken = tmp_path / "escalation_policies.toml"
    broken.write_text('[policies.crisis-sms]\nrepeat = "two"\n')
    monkeypatch.setattr(defaults, "DEFAULT_POLICIES_PATH", broken)
    escalation_engine.shipped_policies.cache_clear()
    try:
        with pytest.raises(Exception, match="polic"):
            create_app({"TESTING": True}, settings=make_settings(tmp_path, database_url))
    finally:
        escalation_engine.shipped_policies.cache_clear()


def test_a_staff_import_row_with_the_crisis_line_number_is_refused(
    app: Flask, tmp_path: Path
) -> None:
    """The API refused the line's own number as a staff phone, but `crisisline import staff`
    took it: every notification to that worker would be the line texting itself."""
    path = tmp_path / "staff.csv"
    path.write_text(
        "name,phone,email,roles,active\n"
        "Amira Okafor,07700 900101,,on_call,\n"
        "Tom Hughes,07700 900000,,on_call,\n"  # line 3: the crisis line itself
    )
    result = app.test_cli_runner().invoke(args=["import", "staff", str(path)])
    assert result.exit_code == 1
    assert "line 3: phone: this is the crisis line's own number" in result.stderr
    with services_of(app).db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Staff)) == 0


def test_a_participant_import_row_with_the_crisis_line_number_is_refused(
    app: Flask, tmp_path: Path
) -> None:
    path = tmp_path / "participants.csv"
    path.write_text(
        "reference,name,phones,responsible_officer_email,risk_level,status\n"
        "R3001,Daniel Price,07700 900201;+447700900000,,high,\n"
    )
    result = app.test_cli_runner().invoke(args=["import", "participants", str(path)])
    assert result.exit_code == 1
    assert "line 2: phones: this is the crisis line's own number" in result.stderr


def test_a_participant_number_that_is_the_crisis_line_is_refused_by_the_api(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    """Relays to such a participant would be the line texting itself."""
    body = {
        "reference": "R3009",
        "name": "Lee Carter",
        "phones": ["+447700900000"],
        "risk_level": "medium",
    }
    response = client.post("/api/v1/participants", json=body, headers=auth)
    assert response.status_code == 422, response.get_json()
    assert "phones" in response.get_json()["errors"]["json"], response.get_json()
    created = client.post(
        "/api/v1/participants",
        json={**body, "phones": ["+447700900201"]},
        headers=auth,
    )
    assert created.status_code == 201, created.get_json()
    changed = client.patch(
        f"/api/v1/participants/{created.get_json()['id']}",
        json={"phones": ["+447700900201", "07700 900000"]},
        headers=auth,
    )
    assert changed.status_code == 422, changed.get_json()
