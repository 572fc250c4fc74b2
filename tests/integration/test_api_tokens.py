"""/api/v1/tokens and what a token may do: scopes, a person's roles, expiry, revocation, hashed
storage, the audit log naming the person or integration behind each change, and legacy tokens
named in /healthz until they are replaced."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from crisisline import staff
from crisisline.clock import FakeClock
from crisisline.models import ApiToken, AuditEntry, StaffRole
from crisisline.tokens import hash_token
from tests.support.app import beat_as_leader, json_list_of, json_of, services_of
from tests.support.tokens import bearer, issue_token

NEW_WORKER = {"name": "Tom Hughes", "phone": "+447700900102", "roles": ["on_call"]}


def _add_staff(app: Flask, name: str, phone: str, roles: list[StaffRole]) -> int:
    services = services_of(app)
    with services.db.transaction() as session:
        return staff.create(
            session,
            staff.NewStaff(name, phone, None, roles),
            actor="tests",
            now=services.clock.now(),
        ).id


def _issue(client: FlaskClient, headers: dict[str, str], **body: Any) -> Any:
    return client.post("/api/v1/tokens", json=body, headers=headers)


def test_an_integration_with_contacts_read_reads_contacts_and_is_refused_rota_changes(
    app: Flask, client: FlaskClient
) -> None:
    reader = bearer(issue_token(app, "case-management", scopes=["contacts:read"]))
    assert client.get("/api/v1/contacts", headers=reader).status_code == 200
    refused = client.post("/api/v1/rotas", json={"name": "primary"}, headers=reader)
    assert refused.status_code == 403
    assert json_of(refused)["message"] == (
        "This needs the permission rotas:write, which you do not hold."
    )
    assert client.get("/api/v1/tokens", headers=reader).status_code == 403


def test_an_on_call_workers_token_is_refused_staff_and_token_administration(
    app: Flask, client: FlaskClient
) -> None:
    amira = _add_staff(app, "Amira Okafor", "+447700900101", [StaffRole.ON_CALL])
    worker = bearer(issue_token(app, "amira-phone", staff_id=amira))
    assert client.post("/api/v1/staff", json=NEW_WORKER, headers=worker).status_code == 403
    assert client.post(f"/api/v1/staff/{amira}/deactivate", headers=worker).status_code == 403
    assert client.get("/api/v1/tokens", headers=worker).status_code == 403
    # What an on-call worker may do, their token may: list the participants they handled
    # (none yet); whole rotas, with colleagues' phones, are beyond their own shifts.
    listed = client.get("/api/v1/participants", headers=worker)
    assert listed.status_code == 200
    assert json_list_of(listed) == []
    assert client.get("/api/v1/rotas", headers=worker).status_code == 403


def test_a_persons_token_stops_when_they_are_deactivated(
    app: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    priya = _add_staff(app, "Priya Natarajan", "+447700900103", [StaffRole.DUTY_MANAGER])
    token = bearer(issue_token(app, "priya-laptop", staff_id=priya))
    assert client.get("/api/v1/rotas", headers=token).status_code == 200
    assert client.post(f"/api/v1/staff/{priya}/deactivate", headers=auth).status_code == 200
    assert client.get("/api/v1/rotas", headers=token).status_code == 401
    tokens = json_list_of(client.get("/api/v1/tokens", headers=auth))
    (listed,) = [t for t in tokens if t["name"] == "priya-laptop"]
    assert listed["state"] == "owner inactive"


def test_issuing_a_token_answers_its_secret_once_and_keeps_only_its_hash(
    app: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    response = _issue(
        client, auth, name="reports", scopes=["reports:read", "rotas:read"], expires_at=None
    )
    assert response.status_code == 201, response.json
    body = json_of(response)
    secret = body["token"]
    assert secret.startswith("crl_")
    assert body["owner"] == "integration:reports"
    assert body["scopes"] == ["reports:read", "rotas:read"]
    assert body["state"] == "live" and body["legacy"] is False
    assert body["created_by"] == "integration:tests"
    assert client.get("/api/v1/rotas", headers=bearer(secret)).status_code == 200
    listed = client.get("/api/v1/tokens", headers=auth)
    assert listed.status_code == 200
    assert secret not in listed.get_data(as_text=True)
    assert "token" not in json_list_of(listed)[1]
    one = json_of(client.get(f"/api/v1/tokens/{body['id']}", headers=auth))
    assert one["last_used_at"] is not None and "token" not in one
    with services_of(app).db.transaction() as session:
        stored = session.get(ApiToken, body["id"])
        assert stored is not None and stored.token_hash == hash_token(secret)
        # Nowhere in the table, in any column, is the secret itself.
        rows = session.execute(text("SELECT * FROM api_tokens")).all()
        assert not any(secret in str(value) for row in rows for value in row)


def test_bad_token_requests_are_refused_naming_the_field(
    app: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    unknown = _issue(client, auth, name="x", scopes=["contacts:read", "contacts:wipe"])
    assert unknown.status_code == 422
    assert "Unknown scope 'contacts:wipe'" in json_of(unknown)["message"]
    assert "scopes" in json_of(unknown)["errors"]["json"]
    ownerless = _issue(client, auth, name="x")
    assert ownerless.status_code == 422
    assert "person or to an integration" in json_of(ownerless)["message"]
    both = _issue(client, auth, name="x", staff_id=1, scopes=["rotas:read"])
    assert both.status_code == 422
    nobody = _issue(client, auth, name="x", staff_id=404)
    assert nobody.status_code == 422 and "staff_id" in json_of(nobody)["errors"]["json"]
    past = _issue(client, auth, name="x", scopes=["rotas:read"], expires_at="2020-01-01T00:00Z")
    assert past.status_code == 422 and "expires_at" in json_of(past)["errors"]["json"]
    digits = _issue(client, auth, name="42", scopes=["rotas:read"])
    assert digits.status_code == 422 and "name" in json_of(digits)["errors"]["json"]
    assert client.post("/api/v1/tokens/404/revoke", headers=auth).status_code == 404


def test_nobody_issues_through_the_api_a_token_that_may_do_more_than_they_may(
    app: Flask, client: FlaskClient
) -> None:
    """An administrator may not read contacts; a token they issue may not either."""
    helen = _add_staff(app, "Helen Marsh", "+447700900105", [StaffRole.ADMIN])
    priya = _add_staff(app, "Priya Natarajan", "+447700900103", [StaffRole.DUTY_MANAGER])
    admin = bearer(issue_token(app, "helen-laptop", staff_id=helen))
    wider = _issue(client, admin, name="reader", scopes=["contacts:read"])
    assert wider.status_code == 422
    assert "you do not hold contacts:read" in json_of(wider)["message"]
    as_a_manager = _issue(client, admin, name="priya", staff_id=priya)
    assert as_a_manager.status_code == 422 and "staff_id" in json_of(as_a_manager)["errors"]["json"]
    within = _issue(client, admin, name="hr-sync", scopes=["staff:read", "staff:write"])
    assert within.status_code == 201, within.json


def test_a_token_given_an_expiry_is_refused_from_then_on(
    clock: FakeClock, client: FlaskClient, auth: dict[str, str]
) -> None:
    response = _issue(
        client, auth, name="pilot", scopes=["rotas:read"], expires_at="2026-11-27T12:00Z"
    )
    assert response.status_code == 201, response.json
    secret = json_of(response)["token"]
    assert json_of(response)["expires_at"].startswith("2026-11-27T12:00")
    assert client.get("/api/v1/rotas", headers=bearer(secret)).status_code == 200
    clock.advance(dt.timedelta(days=1))
    assert client.get("/api/v1/rotas", headers=bearer(secret)).status_code == 401
    listed = json_of(client.get(f"/api/v1/tokens/{json_of(response)['id']}", headers=auth))
    assert listed["state"] == "expired"


def test_revoking_through_the_api_refuses_the_token_at_once(
    app: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    issued = json_of(_issue(client, auth, name="leaked", scopes=["rotas:read"]))
    leaked = bearer(issued["token"])
    assert client.get("/api/v1/rotas", headers=leaked).status_code == 200
    revoked = client.post(f"/api/v1/tokens/{issued['id']}/revoke", headers=auth)
    assert revoked.status_code == 200
    assert json_of(revoked)["state"] == "revoked" and json_of(revoked)["revoked_at"]
    assert client.get("/api/v1/rotas", headers=leaked).status_code == 401
    again = client.post(f"/api/v1/tokens/{issued['id']}/revoke", headers=auth)
    assert (
        again.status_code == 200 and json_of(again)["revoked_at"] == json_of(revoked)["revoked_at"]
    )
    with services_of(app).db.transaction() as session:
        entries = session.scalars(
            select(AuditEntry).where(
                AuditEntry.record_type == "api_token", AuditEntry.record_id == issued["id"]
            )
        ).all()
        assert [(e.action, e.actor) for e in entries] == [
            ("create", "integration:tests"),
            ("revoke", "integration:tests"),
        ]


def test_a_change_is_audited_as_the_person_or_the_integration_behind_the_token(
    app: Flask, client: FlaskClient
) -> None:
    helen = _add_staff(app, "Helen Marsh", "+447700900105", [StaffRole.ADMIN])
    person = bearer(issue_token(app, "helen-laptop", staff_id=helen))
    integration = bearer(issue_token(app, "hr-sync", scopes=["staff:write"]))
    by_person = client.post("/api/v1/staff", json=NEW_WORKER, headers=person)
    assert by_person.status_code == 201, by_person.json
    by_integration = client.post(
        "/api/v1/staff",
        json={"name": "Bea Lowe", "phone": "+447700900106", "roles": ["on_call"]},
        headers=integration,
    )
    assert by_integration.status_code == 201, by_integration.json
    with services_of(app).db.transaction() as session:
        actors = {
            entry.record_id: entry.actor
            for entry in session.scalars(
                select(AuditEntry).where(
                    AuditEntry.record_type == "staff", AuditEntry.action == "create"
                )
            )
        }
    assert actors[json_of(by_person)["id"]] == f"staff:{helen}"
    assert actors[json_of(by_integration)["id"]] == "integration:hr-sync"


def test_healthz_names_live_legacy_tokens_until_they_are_revoked_without_turning_unhealthy(
    app: Flask, client: FlaskClient
) -> None:
    services = services_of(app)
    beat_as_leader(app)
    before = json_of(client.get("/healthz"))
    assert not [w for w in before["warnings"] if "before tokens had owners" in w]
    with services.db.transaction() as session:
        # Two tokens from before tokens had owners, as migration 0018 left them.
        for name in ("old-laptop", "case-management"):
            session.add(
                ApiToken(
                    name=name,
                    token_hash=hash_token(f"crl_{name}"),
                    created_at=services.clock.now(),
                    legacy=True,
                )
            )
    # A legacy token keeps working, with every scope, until it is replaced.
    assert client.get("/api/v1/tokens", headers=bearer("crl_old-laptop")).status_code == 200
    response = client.get("/healthz")
    assert response.status_code == 200
    body = json_of(response)
    assert body["status"] in ("ok", "degraded")
    (warning,) = [w for w in body["warnings"] if "before tokens had owners" in w]
    assert warning.startswith("2 API token(s) made before tokens had owners")
    assert "crisisline tokens create" in warning and "--staff" in warning and "--scope" in warning
    legacy = bearer("crl_case-management")
    for listed in json_list_of(client.get("/api/v1/tokens", headers=legacy)):
        assert listed["legacy"] is True and listed["scopes"] == sorted(listed["scopes"])
        client.post(f"/api/v1/tokens/{listed['id']}/revoke", headers=legacy)
    after = json_of(client.get("/healthz"))
    assert not [w for w in after["warnings"] if "before tokens had owners" in w]


def test_the_openapi_document_describes_the_token_operations(client: FlaskClient) -> None:
    spec = json_of(client.get("/api/v1/openapi.json"))
    assert {"get", "post"} <= set(spec["paths"]["/api/v1/tokens"])
    assert "post" in spec["paths"]["/api/v1/tokens/{token_id}/revoke"]
    scopes = spec["components"]["schemas"]["NewToken"]["properties"]["scopes"]["description"]
    assert "`contacts:read`" in scopes and "`rotas:write`" in scopes
    assert "token" in spec["components"]["schemas"]["IssuedToken"]["properties"]
