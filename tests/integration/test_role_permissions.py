"""Each role allowed and refused on representative API operations, with personal tokens acting
with the person's roles, and integration tokens within their scopes. A refusal is a 403 that
changes nothing; an allowed change is recorded as the person's or the integration's."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from crisisline import contacts, participants, staffing
from crisisline.alert_models import AlertSeverity, AlertStatus, RiskAlert
from crisisline.models import AuditEntry, Channel, Direction, RiskLevel, StaffRole
from crisisline.permissions import Permission
from tests.support.app import json_of, services_of
from tests.support.people import Person, integration, person

LINE = "+447700900000"


@dataclass(frozen=True)
class Line:
    """A small service: a worker who took one of Callum's calls yesterday, Callum's officer
    with an open alert on him, and people holding each of the other roles."""

    on_call: Person
    officer: Person
    duty_manager: Person
    clinical_lead: Person
    admin: Person
    callum: int  # the officer's caseload; the worker handled his call
    alert: int  # on Callum, for his officer


def _alert(app: Flask, participant_id: int, officer_id: int) -> int:
    svc = services_of(app)
    now = svc.clock.now()
    with svc.db.transaction() as session:
        alert = RiskAlert(
            participant_id=participant_id,
            rule="risk_phrases",
            severity=AlertSeverity.WARNING,
            reason="risk words in a text",
            status=AlertStatus.OPEN,
            raised_at=now,
            last_seen_at=now,
            recipient_staff_id=officer_id,
            routed_to="officer",
        )
        session.add(alert)
        session.flush()
        return alert.id


def _with_reason(someone: Person) -> Person:
    """Their grants reach every participant, Callum only with a reason (break-glass): it goes
    with each request, as a personal token has no sign-in session to remember it by."""
    reason = {"X-Access-Reason": "Reviewing the weekend's calls"}
    return Person(someone.staff_id, {**someone.headers, **reason})


@pytest.fixture
def line(app: Flask) -> Line:
    svc = services_of(app)
    now = svc.clock.now()
    on_call = person(app, "Amira Okafor", "+447700900101", [StaffRole.ON_CALL])
    officer = person(app, "Gareth Lloyd", "+447700900201", [StaffRole.RESPONSIBLE_OFFICER])
    duty_manager = _with_reason(
        person(app, "Priya Natarajan", "+447700900103", [StaffRole.DUTY_MANAGER])
    )
    clinical_lead = _with_reason(
        person(app, "Ruth Adeyemi", "+447700900104", [StaffRole.CLINICAL_LEAD])
    )
    admin = _with_reason(person(app, "Owen Pryce", "+447700900105", [StaffRole.ADMIN]))
    with svc.db.transaction() as session:
        callum = participants.create(
            session,
            participants.NewParticipant(
                "R3001", "Callum Reid", ["+447700900501"], officer.staff_id, RiskLevel.HIGH
            ),
            actor="tests",
            now=now,
        ).id
        contacts.record(
            session,
            channel=Channel.VOICE,
            direction=Direction.INBOUND,
            from_number="+447700900501",
            to_number=LINE,
            twilio_sid=None,
            started_at=now - dt.timedelta(days=1),
            participant_id=callum,
            handled_by_staff_id=on_call.staff_id,
        )
    alert = _alert(app, callum, officer.staff_id)
    return Line(on_call, officer, duty_manager, clinical_lead, admin, callum, alert)


def _rota(member: int) -> dict[str, Any]:
    return {
        "name": "weekend",
        "timezone": "Europe/London",
        "members": [member],
        "shift_length": "PT12H",
        "first_handoff": "2026-11-28T08:00",
    }


def _new_staff() -> dict[str, Any]:
    return {"name": "Nia Bowen", "phone": "07700 900106", "roles": ["on_call"]}


def _new_participant() -> dict[str, Any]:
    return {
        "reference": "R3002",
        "name": "Dylan Rees",
        "phones": ["07700 900502"],
        "risk_level": "low",
    }


def _changes(app: Flask) -> int:
    with services_of(app).db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def _answers(
    app: Flask, client: FlaskClient, headers: dict[str, str], requests: list[tuple[str, str, Any]]
) -> dict[str, int]:
    """Each request's status; a refused one must change nothing."""
    answers: dict[str, int] = {}
    for method, path, body in requests:
        before = _changes(app)
        response = client.open(path, method=method, json=body, headers=headers)
        answers[f"{method} {path}"] = response.status_code
        if response.status_code == 403:
            assert _changes(app) == before, f"{method} {path} was refused but changed something"
            assert "permission" in json_of(response)["message"]
    return answers


def test_an_on_call_worker_reads_the_participant_he_handled_and_not_whole_rotas(
    app: Flask, client: FlaskClient, line: Line
) -> None:
    answers = _answers(
        app,
        client,
        line.on_call.headers,
        [
            ("GET", f"/api/v1/participants/{line.callum}", None),
            ("GET", f"/api/v1/participants/{line.callum}/contacts", None),
            ("GET", "/api/v1/rotas", None),
            ("GET", "/api/v1/staff", None),
            ("POST", "/api/v1/rotas", _rota(line.on_call.staff_id)),
            ("GET", "/api/v1/alerts", None),
            ("POST", f"/api/v1/alerts/{line.alert}/acknowledge", None),
            ("GET", "/api/v1/escalations", None),
            ("GET", "/api/v1/deliveries", None),
            ("POST", "/api/v1/participants", _new_participant()),
        ],
    )
    assert answers == {
        f"GET /api/v1/participants/{line.callum}": 200,
        f"GET /api/v1/participants/{line.callum}/contacts": 200,
        # His own shifts are on the console's home page; whole rotas hold colleagues' phones.
        "GET /api/v1/rotas": 403,
        "GET /api/v1/staff": 403,
        "POST /api/v1/rotas": 403,
        "GET /api/v1/alerts": 403,
        f"POST /api/v1/alerts/{line.alert}/acknowledge": 403,
        "GET /api/v1/escalations": 403,
        "GET /api/v1/deliveries": 403,
        "POST /api/v1/participants": 403,
    }


def test_a_responsible_officer_acknowledges_and_resolves_his_alert_as_himself(
    app: Flask, client: FlaskClient, line: Line
) -> None:
    answers = _answers(
        app,
        client,
        line.officer.headers,
        [
            ("GET", f"/api/v1/participants/{line.callum}", None),
            ("GET", f"/api/v1/participants/{line.callum}/contacts", None),
            ("GET", "/api/v1/alerts", None),
            ("POST", f"/api/v1/alerts/{line.alert}/acknowledge", None),
            ("POST", f"/api/v1/alerts/{line.alert}/resolve", {"note": "Called him back: safe."}),
            ("GET", "/api/v1/escalations", None),
            ("PUT", "/api/v1/escalation-policies/crisis-call", {"steps": []}),
            # No escalation 1 is needed: the gate refuses before the view looks for it.
            ("POST", "/api/v1/escalations/1/close", None),
            ("POST", "/api/v1/rotas", _rota(line.on_call.staff_id)),
            ("GET", "/api/v1/staff", None),
            ("GET", "/api/v1/deliveries", None),
        ],
    )
    assert answers == {
        f"GET /api/v1/participants/{line.callum}": 200,
        f"GET /api/v1/participants/{line.callum}/contacts": 200,
        "GET /api/v1/alerts": 200,
        f"POST /api/v1/alerts/{line.alert}/acknowledge": 200,
        f"POST /api/v1/alerts/{line.alert}/resolve": 200,
        "GET /api/v1/escalations": 200,
        "PUT /api/v1/escalation-policies/crisis-call": 403,
        "POST /api/v1/escalations/1/close": 403,
        "POST /api/v1/rotas": 403,
        "GET /api/v1/staff": 403,
        "GET /api/v1/deliveries": 403,
    }
    with services_of(app).db.transaction() as session:
        alert = session.get(RiskAlert, line.alert)
        assert alert is not None
        assert alert.status is AlertStatus.RESOLVED
        assert alert.acknowledged_by == alert.resolved_by == f"staff:{line.officer.staff_id}"


@pytest.mark.parametrize("role", ["duty_manager", "clinical_lead"])
def test_a_duty_manager_or_clinical_lead_runs_the_line_but_not_its_staff(
    app: Flask, client: FlaskClient, line: Line, role: str
) -> None:
    manager: Person = getattr(line, role)
    answers = _answers(
        app,
        client,
        manager.headers,
        [
            ("POST", "/api/v1/rotas", _rota(line.on_call.staff_id)),
            ("GET", "/api/v1/contacts", None),
            ("GET", f"/api/v1/participants/{line.callum}/contacts", None),
            ("POST", "/api/v1/participants", _new_participant()),
            ("POST", f"/api/v1/alerts/{line.alert}/acknowledge", None),
            ("GET", "/api/v1/escalations", None),
            ("GET", "/api/v1/escalation-policies", None),
            ("GET", "/api/v1/deliveries", None),
            ("GET", "/api/v1/staff", None),
            ("POST", "/api/v1/staff", _new_staff()),
            ("PATCH", f"/api/v1/staff/{line.on_call.staff_id}", {"name": "Amira Okafor-Hale"}),
            ("POST", f"/api/v1/staff/{line.on_call.staff_id}/deactivate", None),
        ],
    )
    assert answers == {
        "POST /api/v1/rotas": 201,
        "GET /api/v1/contacts": 200,
        f"GET /api/v1/participants/{line.callum}/contacts": 200,
        "POST /api/v1/participants": 201,
        f"POST /api/v1/alerts/{line.alert}/acknowledge": 200,
        "GET /api/v1/escalations": 200,
        "GET /api/v1/escalation-policies": 200,
        "GET /api/v1/deliveries": 200,
        "GET /api/v1/staff": 200,
        "POST /api/v1/staff": 403,
        f"PATCH /api/v1/staff/{line.on_call.staff_id}": 403,
        f"POST /api/v1/staff/{line.on_call.staff_id}/deactivate": 403,
    }
    created = client.get("/api/v1/rotas/weekend", headers=manager.headers)
    assert created.status_code == 200
    with services_of(app).db.transaction() as session:
        last = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert last is not None
        assert last.actor == f"staff:{manager.staff_id}"


def test_an_administrator_keeps_staff_and_records_but_reads_no_contact_content(
    app: Flask, client: FlaskClient, line: Line
) -> None:
    answers = _answers(
        app,
        client,
        line.admin.headers,
        [
            ("POST", "/api/v1/staff", _new_staff()),
            ("GET", "/api/v1/staff", None),
            ("GET", f"/api/v1/participants/{line.callum}", None),
            ("POST", "/api/v1/participants", _new_participant()),
            ("GET", "/api/v1/rotas", None),
            ("GET", "/api/v1/contacts", None),
            ("GET", f"/api/v1/participants/{line.callum}/contacts", None),
            ("GET", "/api/v1/alerts", None),
            ("GET", "/api/v1/escalations", None),
            ("GET", "/api/v1/deliveries", None),
            ("POST", "/api/v1/rotas", _rota(line.on_call.staff_id)),
        ],
    )
    assert answers == {
        "POST /api/v1/staff": 201,
        "GET /api/v1/staff": 200,
        f"GET /api/v1/participants/{line.callum}": 200,
        "POST /api/v1/participants": 201,
        "GET /api/v1/rotas": 200,
        "GET /api/v1/contacts": 403,
        f"GET /api/v1/participants/{line.callum}/contacts": 403,
        "GET /api/v1/alerts": 403,
        "GET /api/v1/escalations": 403,
        "GET /api/v1/deliveries": 403,
        "POST /api/v1/rotas": 403,
    }


def test_a_person_with_two_roles_holds_the_permissions_of_both(
    app: Flask, client: FlaskClient, line: Line
) -> None:
    both = person(app, "Sian Morgan", "+447700900107", [StaffRole.ON_CALL, StaffRole.ADMIN])
    answers = _answers(
        app,
        client,
        both.headers,
        [
            ("GET", "/api/v1/staff", None),
            ("GET", "/api/v1/contacts", None),
            ("POST", "/api/v1/rotas", _rota(line.on_call.staff_id)),
        ],
    )
    # Staff from the administrator; contacts from the on-call worker (his handled ones).
    assert answers == {
        "GET /api/v1/staff": 200,
        "GET /api/v1/contacts": 200,
        "POST /api/v1/rotas": 403,
    }


def test_an_integration_acts_within_its_scopes_and_is_recorded_by_name(
    app: Flask, client: FlaskClient, line: Line
) -> None:
    reader = integration(app, "case-system", [Permission.CONTACTS_READ])
    rota_writer = integration(app, "rota-sync", [Permission.ROTAS_WRITE])
    assert _answers(
        app,
        client,
        reader,
        [
            ("GET", "/api/v1/contacts", None),
            ("POST", "/api/v1/rotas", _rota(line.on_call.staff_id)),
            ("GET", "/api/v1/participants", None),
        ],
    ) == {"GET /api/v1/contacts": 200, "POST /api/v1/rotas": 403, "GET /api/v1/participants": 403}
    response = client.post("/api/v1/rotas", json=_rota(line.on_call.staff_id), headers=rota_writer)
    assert response.status_code == 201, response.json
    with services_of(app).db.transaction() as session:
        last = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert last is not None
        assert last.actor == "integration:rota-sync"


def test_a_deactivated_persons_token_stops_working(
    app: Flask, client: FlaskClient, line: Line
) -> None:
    assert client.get("/api/v1/staff", headers=line.duty_manager.headers).status_code == 200
    svc = services_of(app)
    with svc.db.transaction() as session:
        staffing.deactivate_staff(
            session, line.duty_manager.staff_id, actor="tests", now=svc.clock.now()
        )
    assert client.get("/api/v1/staff", headers=line.duty_manager.headers).status_code == 401
