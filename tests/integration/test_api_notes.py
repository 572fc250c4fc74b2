"""The notes API: GET /api/v1/contacts/{id} with its note's current version, GET and POST
/api/v1/contacts/{id}/notes, with who may read and write (404 outside the grant, the refusal
logged; 403 without the permission or the break-glass reason), 422 naming the field at fault,
409 for a contact nobody handled, and the operations in the OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from crisisline.clock import FakeClock
from crisisline.models import RecordAccess
from crisisline.permissions import Permission
from tests.support.app import json_list_of, json_of
from tests.support.notes import ADMIN, LEAD, Line, open_line
from tests.support.people import integration
from tests.support.risk_alerts import BACKUP, MANAGER, OFFICER, PARTICIPANT, PRIMARY
from tests.support.tokens import bearer, issue_token

NOTE = {"what_happened": "Rang after a row at the hostel; calmer by the end.", "risk_now": "low"}


@pytest.fixture
def line(app: Flask, clock: FakeClock) -> Line:
    return open_line(app, clock)


def _headers(line: Line, phone: str, reason: str | None = None) -> dict[str, str]:
    headers = bearer(issue_token(line.app, f"{phone}'s token", staff_id=line.id(phone)))
    if reason is not None:
        headers["X-Access-Reason"] = reason
    return headers


def _post(client: FlaskClient, contact_id: int, headers: dict[str, str], **body: Any) -> Any:
    return client.post(f"/api/v1/contacts/{contact_id}/notes", json=body, headers=headers)


def test_the_worker_who_took_the_call_writes_corrects_and_reads_its_note(
    line: Line, client: FlaskClient
) -> None:
    amira = _headers(line, PRIMARY)
    before = json_of(client.get(f"/api/v1/contacts/{line.call}", headers=amira))
    assert (before["id"], before["takes_note"], before["note"]) == (line.call, True, None)
    assert before["note_contact_id"] == line.call
    first = _post(client, line.call, amira, **NOTE, actions=["safety_plan"])
    assert first.status_code == 201, first.get_json()
    body = json_of(first)
    assert (body["version"], body["risk_now"], body["actions"]) == (1, "low", ["safety_plan"])
    assert body["author"] == f"staff:{line.id(PRIMARY)}"
    assert body["author_staff_id"] == line.id(PRIMARY)
    assert body["alert_id"] is None and body["alert_failed"] is False
    missing = _post(client, line.call, amira, **NOTE)
    assert missing.status_code == 422
    assert "correction_reason" in json_of(missing)["errors"]["json"]
    second = _post(
        client,
        line.call,
        amira,
        what_happened="Rang after a row at the hostel; he is staying with his sister.",
        risk_now="medium",
        correction_reason="He told me where he is staying",
    )
    assert second.status_code == 201 and json_of(second)["version"] == 2
    listed = json_list_of(client.get(f"/api/v1/contacts/{line.call}/notes", headers=amira))
    assert [(n["version"], n["risk_now"]) for n in listed] == [(1, "low"), (2, "medium")]
    assert listed[0]["what_happened"] == NOTE["what_happened"]  # never changed
    after = json_of(client.get(f"/api/v1/contacts/{line.call}", headers=amira))
    assert after["note"] == {"version": 2, "notes": f"/api/v1/contacts/{line.call}/notes"}


def test_his_officer_reads_and_writes_and_each_is_logged(line: Line, client: FlaskClient) -> None:
    nadia = _headers(line, OFFICER)
    assert _post(client, line.call, nadia, **NOTE).status_code == 201
    assert client.get(f"/api/v1/contacts/{line.call}/notes", headers=nadia).status_code == 200
    man = line.id(PARTICIPANT)
    assert line.log(OFFICER) == [
        ("change", "contact_note", line.call, man, None),
        ("read", "contact_note", line.call, man, None),
    ]


@pytest.mark.parametrize("phone", [MANAGER, LEAD])
def test_a_duty_manager_and_the_clinical_lead_give_a_reason(
    line: Line, client: FlaskClient, phone: str
) -> None:
    refused = _post(client, line.call, _headers(line, phone), **NOTE)
    assert refused.status_code == 403 and json_of(refused)["header"] == "X-Access-Reason"
    headers = _headers(line, phone, "Clinical review")
    assert _post(client, line.call, headers, **NOTE).status_code == 201
    answer = client.get(f"/api/v1/contacts/{line.call}/notes", headers=headers)
    assert answer.status_code == 200 and len(json_list_of(answer)) == 1
    assert [entry[4] for entry in line.log(phone)] == ["Clinical review", "Clinical review"]


def test_another_worker_is_answered_not_found_and_the_refusal_is_logged(
    line: Line, client: FlaskClient
) -> None:
    _post(client, line.call, _headers(line, PRIMARY), **NOTE)
    tom = _headers(line, BACKUP)  # he took R2001's texts last night, not this call
    for answer in (
        client.get(f"/api/v1/contacts/{line.call}/notes", headers=tom),
        _post(client, line.call, tom, **NOTE, correction_reason="Mine now"),
    ):
        assert answer.status_code == 404
        assert json_of(answer)["message"] == f"There is no contact with id {line.call}."
    man = line.id(PARTICIPANT)
    assert line.log(BACKUP) == [("refused", "contact_note", line.call, man, None)] * 2
    with line.service.svc.db.transaction() as session:
        notes = session.scalars(select(RecordAccess).where(RecordAccess.action == "change"))
        assert len(list(notes)) == 1


def test_the_administrator_holds_neither_permission(line: Line, client: FlaskClient) -> None:
    admin = _headers(line, ADMIN)
    for answer in (
        client.get(f"/api/v1/contacts/{line.call}", headers=admin),
        client.get(f"/api/v1/contacts/{line.call}/notes", headers=admin),
        _post(client, line.call, admin, **NOTE),
    ):
        assert answer.status_code == 403
    assert line.versions(line.call) == []


def test_an_integration_writes_as_itself(line: Line, client: FlaskClient) -> None:
    headers = integration(line.app, "notes", [Permission.NOTES_WRITE, Permission.CONTACTS_READ])
    answer = _post(client, line.call, headers, **NOTE)
    assert answer.status_code == 201
    body = json_of(answer)
    assert (body["author"], body["author_staff_id"]) == ("integration:notes", None)
    reader = integration(line.app, "reader", [Permission.CONTACTS_READ])
    assert _post(client, line.call, reader, **NOTE).status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"risk_now": "low"}, "what_happened"),
        ({**NOTE, "what_happened": "   "}, "what_happened"),
        ({**NOTE, "risk_now": "extreme"}, "risk_now"),
        ({"what_happened": "x"}, "risk_now"),
        ({**NOTE, "actions": ["juggled"]}, "actions"),
        ({**NOTE, "actions": ["other"]}, "other_action"),
        ({**NOTE, "follow_up_wanted": True}, "follow_up_what"),
        ({**NOTE, "follow_up_wanted": "perhaps"}, "follow_up_wanted"),
        ({**NOTE, "mood": "fine"}, "mood"),
    ],
)
def test_invalid_input_is_422_naming_the_field(
    line: Line, client: FlaskClient, body: dict[str, Any], field: str
) -> None:
    answer = _post(client, line.call, _headers(line, PRIMARY), **body)
    assert answer.status_code == 422, answer.get_json()
    assert field in json_of(answer)["errors"]["json"]
    assert line.versions(line.call) == []


def test_a_contact_nobody_handled_answers_409_and_a_missing_one_404(
    line: Line, client: FlaskClient
) -> None:
    nadia = _headers(line, OFFICER)
    shown = json_of(client.get(f"/api/v1/contacts/{line.missed}", headers=nadia))
    assert (shown["takes_note"], shown["note"]) == (False, None)
    for answer in (
        _post(client, line.missed, nadia, **NOTE),
        client.get(f"/api/v1/contacts/{line.missed}/notes", headers=nadia),
    ):
        assert answer.status_code == 409
        assert "nobody handled it" in json_of(answer)["message"]
    assert _post(client, 999_999, nadia, **NOTE).status_code == 404
    assert client.get("/api/v1/contacts/999999", headers=nadia).status_code == 404


def test_a_later_text_reaches_its_conversations_note(line: Line, client: FlaskClient) -> None:
    tom = _headers(line, BACKUP)
    answer = _post(client, line.later_text, tom, **NOTE)
    assert answer.status_code == 201 and json_of(answer)["contact_id"] == line.opening
    shown = json_of(client.get(f"/api/v1/contacts/{line.reply}", headers=tom))
    assert shown["note_contact_id"] == line.opening and shown["note"]["version"] == 1


def test_an_immediate_risk_note_returns_its_urgent_alert(line: Line, client: FlaskClient) -> None:
    answer = _post(
        client,
        line.call,
        _headers(line, PRIMARY),
        what_happened="He has pills saved up.",
        risk_now="immediate",
        actions=["called_emergency"],
    )
    body = json_of(answer)
    assert answer.status_code == 201 and body["alert_id"] is not None
    nadia = _headers(line, OFFICER)
    alert = json_of(client.get(f"/api/v1/alerts/{body['alert_id']}", headers=nadia))
    assert (alert["severity"], alert["rule"]) == ("urgent", "note_risk_immediate")


def test_the_openapi_document_lists_the_three_operations(client: FlaskClient) -> None:
    paths = json_of(client.get("/api/v1/openapi.json"))["paths"]
    assert "get" in paths["/api/v1/contacts/{contact_id}"]
    assert {"get", "post"} <= set(paths["/api/v1/contacts/{contact_id}/notes"])
    post = paths["/api/v1/contacts/{contact_id}/notes"]["post"]
    assert "201" in post["responses"] and "requestBody" in post
