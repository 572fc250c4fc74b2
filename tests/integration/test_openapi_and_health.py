"""The OpenAPI document is valid OpenAPI 3; /healthz tells the truth about the database."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from openapi_spec_validator import validate

from crisisline import rota_service, staff
from crisisline.app import create_app
from crisisline.clock import FakeClock
from crisisline.jobs import Jobs
from crisisline.models import StaffRole
from tests.support.app import (
    START,
    beat_as_leader,
    json_of,
    make_settings,
    services_of,
    signed_post,
)


def test_openapi_document_is_valid_openapi_3_and_lists_the_resources(client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = json_of(response)
    validate(spec)
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for path in (
        "/api/v1/staff",
        "/api/v1/staff/{staff_id}",
        "/api/v1/participants",
        "/api/v1/participants/{participant_id}",
    ):
        assert path in paths
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert "phones" in spec["components"]["schemas"]["Participant"]["properties"]


def test_openapi_document_needs_no_token(client: FlaskClient) -> None:
    assert client.get("/api/v1/openapi.json").status_code == 200


def test_healthz_is_200_when_the_database_answers_and_the_scheduler_beat(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner
) -> None:
    runner.invoke(args=["demo"])  # the rotas the shipped policies name, and a duty manager
    beat_as_leader(app)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {
        "status": "ok",
        "database": "ok",
        "scheduler": {
            "last_heartbeat": START.isoformat(),
            "age_seconds": 0.0,
            "state": "ok",
            # A heartbeat written without a listener: the sweeps poll every second.
            "wakeups": {"state": "none", "reconnects": 0},
        },
        "texts": {"waiting": 0, "oldest_seconds": None, "state": "ok", "given_up": 0},
        "spool": {"waiting": 0},
        "provider": {"state": "ok", "waiting": 0, "crisis_waiting": 0, "failing_since": None},
        "email": {"state": "ok", "failed": 0, "retrying": 0, "retrying_since": None},
        "recordings": {
            "state": "ok",
            "waiting": 0,
            "oldest_waiting_seconds": None,
            "failing": 0,
        },
        "retention": {"state": "ok", "last_finished": None, "last_failed": None},
        "warnings": [],
    }


def test_healthz_is_degraded_but_200_when_the_policies_name_missing_rotas(
    app: Flask, client: FlaskClient
) -> None:
    beat_as_leader(app)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert json_of(response)["status"] == "degraded"
    assert (
        "policy crisis-call names rota primary, which does not exist"
        in (json_of(response)["warnings"])
    )


def test_healthz_is_503_when_no_scheduler_has_ever_run(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 503
    assert json_of(response)["database"] == "ok"
    assert json_of(response)["scheduler"]["state"] == "never seen"


def test_healthz_turns_503_when_the_scheduler_heartbeat_is_stale(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    beat_as_leader(app)
    clock.advance(dt.timedelta(seconds=60))
    assert client.get("/healthz").status_code == 200
    clock.advance(dt.timedelta(seconds=1))
    stale = client.get("/healthz")
    assert stale.status_code == 503
    assert json_of(stale)["scheduler"] == {
        "last_heartbeat": START.isoformat(),
        "age_seconds": 61.0,
        "state": "stale",
        "wakeups": {"state": "none", "reconnects": 0},
    }


def test_healthz_turns_503_when_a_text_has_waited_a_minute_to_be_routed(
    app: Flask, client: FlaskClient, clock: FakeClock, runner: FlaskCliRunner
) -> None:
    """The scheduler beats but its route-texts job is not routing: a text reaches nobody."""
    runner.invoke(args=["demo"])
    form = {"MessageSid": "SM" + "5" * 32, "From": "+447700900501", "To": "+447700900000"}
    assert signed_post(client, "/webhooks/sms", {**form, "Body": "hello?"}).status_code == 200
    beat_as_leader(app)
    waiting = client.get("/healthz")
    assert waiting.status_code == 200
    assert json_of(waiting)["texts"] == {
        "waiting": 1,
        "oldest_seconds": 0.0,
        "state": "ok",
        "given_up": 0,
    }
    clock.advance(dt.timedelta(seconds=61))
    beat_as_leader(app)
    overdue = client.get("/healthz")
    assert overdue.status_code == 503
    assert json_of(overdue)["status"] == "unavailable"
    assert json_of(overdue)["texts"] == {
        "waiting": 1,
        "oldest_seconds": 61.0,
        "state": "overdue",
        "given_up": 0,
    }
    # Routed: healthy again.
    assert Jobs(services_of(app)).route_texts() == 1
    assert client.get("/healthz").status_code == 200


def test_healthz_names_texts_never_routed_after_they_are_no_longer_tried(
    app: Flask, client: FlaskClient, clock: FakeClock, runner: FlaskCliRunner
) -> None:
    """A text not routed within a day is no longer tried and no longer makes /healthz 503,
    but it reached nobody: /healthz says so (degraded) for a week, so that a person answers."""
    runner.invoke(args=["demo"])
    form = {"MessageSid": "SM" + "6" * 32, "From": "+447700900501", "To": "+447700900000"}
    assert signed_post(client, "/webhooks/sms", {**form, "Body": "anyone?"}).status_code == 200
    clock.advance(dt.timedelta(hours=24, seconds=1))  # the route-texts job never routed it
    beat_as_leader(app)
    response = client.get("/healthz")
    assert response.status_code == 200
    body = json_of(response)
    assert body["status"] == "degraded"
    assert body["texts"] == {"waiting": 0, "oldest_seconds": None, "state": "ok", "given_up": 1}
    (warning,) = [w for w in body["warnings"] if "never routed" in w]
    assert warning.startswith("1 text(s) from the last 7 days were never routed to staff")
    assert "outcome=routing_failed" in warning
    # The job leaves it alone now; and a week on, the warning clears by itself.
    assert Jobs(services_of(app)).route_texts() == 0
    clock.advance(dt.timedelta(days=7))
    beat_as_leader(app)
    cleared = json_of(client.get("/healthz"))
    assert cleared["texts"]["given_up"] == 0
    assert not [w for w in cleared["warnings"] if "never routed" in w]


def test_healthz_is_503_when_the_sqlite_file_cannot_be_opened(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/no/such/dir/crisisline.db"
    app = create_app(settings=make_settings(tmp_path, url), clock=FakeClock(START))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json == {
        "status": "unavailable",
        "database": "unreachable",
        "scheduler": None,
        "spool": {"waiting": 0},
    }


def test_healthz_is_503_when_postgresql_is_unreachable(tmp_path: Path) -> None:
    # Port 9 (discard) on loopback refuses connections at once.
    url = "postgresql+psycopg://postgres@127.0.0.1:9/crisisline"
    app = create_app(settings=make_settings(tmp_path, url), clock=FakeClock(START))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    services_of(app).db.dispose()


def test_livez_stays_200_when_the_database_is_down_and_no_scheduler_runs(
    tmp_path: Path,
) -> None:
    """The platform restarts a web process whose check fails. With /healthz as that check, a
    dead scheduler or database took the web down too, and with it the fail-safe TwiML that
    dials FALLBACK_NUMBER: /livez is the platform's check, /healthz the people's."""
    url = "postgresql+psycopg://postgres@127.0.0.1:9/crisisline"
    app = create_app(settings=make_settings(tmp_path, url), clock=FakeClock(START))
    client = app.test_client()
    assert client.get("/healthz").status_code == 503
    live = client.get("/livez")
    assert live.status_code == 200
    assert live.json == {"status": "ok"}
    services_of(app).db.dispose()


def test_app_uses_the_clock_it_was_given(app: Flask) -> None:
    assert services_of(app).clock.now() == START


# ---- a deployment that cannot reach anyone (safety review) ------------------------------------


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


@pytest.mark.hazard("H86")
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


@pytest.mark.hazard("H91")
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
