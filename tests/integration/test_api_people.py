"""The staff and participants API: round trips, auth, conflicts, validation, audit."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from crisisline.models import AuditEntry
from tests.support.app import json_list_of, json_of, services_of


def _officer(client: FlaskClient, auth: dict[str, str], **extra: Any) -> dict[str, Any]:
    body = {
        "name": "Gareth Lloyd",
        "phone": "07700 900104",
        "email": "gareth@example.org",
        "roles": ["responsible_officer"],
        **extra,
    }
    response = client.post("/api/v1/staff", json=body, headers=auth)
    assert response.status_code == 201, response.json
    return json_of(response)


def _participant(client: FlaskClient, auth: dict[str, str], **extra: Any) -> Any:
    body = {
        "reference": "R2001",
        "name": "Daniel Price",
        "phones": ["07700 900201", "+44 7700 900202"],
        "risk_level": "high",
        **extra,
    }
    return client.post("/api/v1/participants", json=body, headers=auth)


def test_staff_round_trip_stores_phone_as_e164(client: FlaskClient, auth: dict[str, str]) -> None:
    created = _officer(client, auth)
    assert created["phone"] == "+447700900104"
    assert created["roles"] == ["responsible_officer"]
    assert created["active"] is True

    fetched = client.get(f"/api/v1/staff/{created['id']}", headers=auth).json
    assert fetched == created

    updated = client.patch(
        f"/api/v1/staff/{created['id']}",
        json={"roles": ["responsible_officer", "duty_manager"], "name": "Gareth Ll."},
        headers=auth,
    )
    assert json_of(updated)["roles"] == ["duty_manager", "responsible_officer"]
    assert json_of(updated)["name"] == "Gareth Ll."

    deactivated = client.post(f"/api/v1/staff/{created['id']}/deactivate", headers=auth)
    assert deactivated.status_code == 200
    assert json_of(deactivated)["active"] is False


def test_staff_list_filters_by_role_and_active_and_pages(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    for i in range(3):
        client.post(
            "/api/v1/staff",
            json={"name": f"Worker {i}", "phone": f"07700 90030{i}", "roles": ["on_call"]},
            headers=auth,
        )
    _officer(client, auth)
    on_call = client.get("/api/v1/staff?role=on_call&page_size=2", headers=auth)
    assert [s["name"] for s in json_list_of(on_call)] == ["Worker 0", "Worker 1"]
    paging = json.loads(on_call.headers["X-Pagination"])
    assert paging["total"] == 3
    assert paging["total_pages"] == 2
    officers = json_list_of(client.get("/api/v1/staff?role=responsible_officer", headers=auth))
    assert [s["name"] for s in officers] == ["Gareth Lloyd"]


def test_participant_round_trip_and_find_by_phone_in_any_format(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    officer = _officer(client, auth)
    response = _participant(client, auth, responsible_officer_id=officer["id"])
    assert response.status_code == 201, response.json
    created = response.json
    assert created["phones"] == ["+447700900201", "+447700900202"]
    assert created["status"] == "active"
    assert created["responsible_officer_id"] == officer["id"]

    for form in ("07700900202", "+447700900202", "0044 7700 900202", "07700 900 202"):
        found = client.get("/api/v1/participants", query_string={"phone": form}, headers=auth)
        assert [p["reference"] for p in json_list_of(found)] == ["R2001"], form
    nobody = client.get("/api/v1/participants?phone=07700900999", headers=auth)
    assert nobody.json == []

    changed = client.patch(
        f"/api/v1/participants/{created['id']}",
        json={"phones": ["07700 900202", "07700 900203"], "risk_level": "very_high"},
        headers=auth,
    )
    assert changed.status_code == 200, changed.json
    assert json_of(changed)["phones"] == ["+447700900202", "+447700900203"]
    assert json_of(changed)["risk_level"] == "very_high"
    freed = client.get("/api/v1/participants?phone=07700900201", headers=auth)
    assert freed.json == []

    closed = client.post(f"/api/v1/participants/{created['id']}/close", headers=auth)
    assert json_of(closed)["status"] == "closed"


def test_missing_or_wrong_token_is_401_and_changes_nothing(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    body = {"name": "Ann Other", "phone": "07700 900150"}
    assert client.post("/api/v1/staff", json=body).status_code == 401
    wrong = client.post("/api/v1/staff", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert "not valid" in json_of(wrong)["message"]
    basic = client.get("/api/v1/staff", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401
    assert basic.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/api/v1/staff", headers=auth).json == []


def test_invalid_phone_is_422_naming_the_field_and_the_problem(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/staff", json={"name": "Ann Other", "phone": "07700 12"}, headers=auth
    )
    assert response.status_code == 422
    assert json_of(response)["errors"]["json"]["phone"] == [
        "'07700 12' has too few digits; include the area or mobile code"
    ]
    assert json_of(response)["message"].startswith("Invalid input: phone:")

    participant = _participant(client, auth, phones=["07700 900201", "not a number"])
    assert participant.status_code == 422
    assert "phones.1" in participant.json["message"]
    assert "contains letters" in participant.json["message"]


def test_missing_fields_and_bad_enums_are_422(client: FlaskClient, auth: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/participants",
        json={"reference": "R9", "phones": [], "risk_level": "extreme"},
        headers=auth,
    )
    assert response.status_code == 422
    errors = json_of(response)["errors"]["json"]
    assert set(errors) == {"name", "phones", "risk_level"}


def test_number_held_by_another_participant_is_409(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    assert _participant(client, auth).status_code == 201
    clash = _participant(client, auth, reference="R2002", phones=["07700900202"])
    assert clash.status_code == 409
    assert "R2001" in clash.json["message"]
    assert clash.json["errors"]["json"]["phones"]
    same_reference = _participant(client, auth, phones=["07700900299"])
    assert same_reference.status_code == 409
    listed = json_list_of(client.get("/api/v1/participants", headers=auth))
    assert [p["reference"] for p in listed] == ["R2001"]


def test_staff_phone_cannot_also_be_a_participants(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    assert _participant(client, auth).status_code == 201
    clash = client.post(
        "/api/v1/staff", json={"name": "Ann Other", "phone": "07700900201"}, headers=auth
    )
    assert clash.status_code == 409
    officer = _officer(client, auth)
    reverse = _participant(client, auth, reference="R2003", phones=[officer["phone"]])
    assert reverse.status_code == 409


def test_responsible_officer_must_be_active_staff_with_the_role(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    created = client.post(
        "/api/v1/staff",
        json={"name": "Tom Hughes", "phone": "07700900102", "roles": ["on_call"]},
        headers=auth,
    )
    worker = json_of(created)
    no_role = _participant(client, auth, responsible_officer_id=worker["id"])
    assert no_role.status_code == 422
    assert "responsible_officer_id" in no_role.json["errors"]["json"]

    officer = _officer(client, auth)
    client.post(f"/api/v1/staff/{officer['id']}/deactivate", headers=auth)
    inactive = _participant(client, auth, responsible_officer_id=officer["id"])
    assert inactive.status_code == 422
    assert "inactive" in inactive.json["message"]

    unknown = _participant(client, auth, responsible_officer_id=9999)
    assert unknown.status_code == 422


def test_unknown_records_are_404(client: FlaskClient, auth: dict[str, str]) -> None:
    assert client.get("/api/v1/staff/999", headers=auth).status_code == 404
    missing = client.patch("/api/v1/participants/999", json={"name": "X"}, headers=auth)
    assert missing.status_code == 404
    assert "no participant" in json_of(missing)["message"]


def test_malformed_json_body_is_a_clear_error_not_500(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/staff",
        data="{not json",
        headers={**auth, "Content-Type": "application/json"},
    )
    assert response.status_code in (400, 422)
    assert response.is_json


def test_every_change_is_in_the_audit_log_with_the_token_name(
    app: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    officer = _officer(client, auth)
    client.patch(f"/api/v1/staff/{officer['id']}", json={"name": "G. Lloyd"}, headers=auth)
    participant = _participant(client, auth).json
    client.post(f"/api/v1/participants/{participant['id']}/close", headers=auth)
    # A refused change leaves no trace.
    _participant(client, auth)

    with services_of(app).db.transaction() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.record_type != "api_token").order_by(AuditEntry.id)
        ).all()
        trail = [(e.actor, e.action, e.record_type, e.record_id) for e in entries]
        rename = entries[1].changes
    assert trail == [
        ("integration:tests", "create", "staff", officer["id"]),
        ("integration:tests", "update", "staff", officer["id"]),
        ("integration:tests", "create", "participant", participant["id"]),
        ("integration:tests", "close", "participant", participant["id"]),
    ]
    assert rename == {"name": ["Gareth Lloyd", "G. Lloyd"]}


# ---- the crisis line's own number (safety review) ---------------------------------------------


@pytest.mark.hazard("H90")
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


@pytest.mark.hazard("H94")
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
