"""The record access log: every read and change of a participant's record through the API is
logged with who, when, what and from where; break-glass reasons; lists limited to the grant;
refusals that disclose nothing; reading the log (API, CSV, CLI); and no way to change it."""

from __future__ import annotations

import csv
import datetime as dt
import io
import secrets
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError

from crisisline import participants, record_access, staff, tokens
from crisisline.alert_models import AlertSeverity, AlertStatus, RiskAlert
from crisisline.clock import FakeClock
from crisisline.escalation_models import EscalationRecord
from crisisline.models import (
    ApiToken,
    Channel,
    Contact,
    Delivery,
    DeliveryStatus,
    Direction,
    RecordAccess,
    RiskLevel,
    StaffRole,
    StaffRoleAssignment,
)
from crisisline.permissions import Actor, Permission
from crisisline.record_access import Action, Origin, Visit
from tests.support.app import ENGINES, START, json_list_of, json_of, services_of

BROWSER = "Mozilla/5.0 (test) crisisline-access-log"


@dataclass
class World:
    """Six people, each with a personal token, three participants and their records."""

    staff: dict[str, int]
    people: dict[str, str]  # name -> bearer token
    participants: dict[str, int]  # reference -> id
    contacts: dict[str, int]
    alerts: dict[str, int]
    escalations: dict[str, int]


def _person_token(app: Flask, staff_id: int) -> str:
    svc = services_of(app)
    plaintext = "crl_" + secrets.token_urlsafe(24)
    with svc.db.transaction() as session:
        session.add(
            ApiToken(
                name=f"person-{staff_id}",
                token_hash=tokens.hash_token(plaintext),
                created_at=svc.clock.now(),
                staff_id=staff_id,
            )
        )
    return plaintext


def _integration_token(app: Flask, name: str, scopes: list[Permission]) -> str:
    svc = services_of(app)
    plaintext = "crl_" + secrets.token_urlsafe(24)
    with svc.db.transaction() as session:
        session.add(
            ApiToken(
                name=name,
                token_hash=tokens.hash_token(plaintext),
                created_at=svc.clock.now(),
                scopes=[str(scope) for scope in scopes],
            )
        )
    return plaintext


@pytest.fixture
def world(app: Flask) -> World:
    """Olu and Rena are responsible officers (R1001 is Olu's; R1002 and R1003 Rena's); Amira
    is on call and took R1001's text two days ago and R1002's call ten days ago; Dev is a duty
    manager, Cleo the clinical lead, Ada the administrator."""
    svc = services_of(app)
    now = svc.clock.now()
    roles = {
        "olu": [StaffRole.RESPONSIBLE_OFFICER],
        "rena": [StaffRole.RESPONSIBLE_OFFICER],
        "amira": [StaffRole.ON_CALL],
        "dev": [StaffRole.DUTY_MANAGER],
        "cleo": [StaffRole.CLINICAL_LEAD],
        "ada": [StaffRole.ADMIN],
    }
    with svc.db.transaction() as session:
        ids = {
            name: staff.create(
                session,
                staff.NewStaff(
                    name=name.title() + " Testperson",
                    phone=f"+4477009002{n:02d}",
                    email=None,
                    roles=held,
                ),
                actor="tests",
                now=now,
            ).id
            for n, (name, held) in enumerate(roles.items())
        }
        people = {}
        for reference, officer, phone in (
            ("R1001", "olu", "+447700900601"),
            ("R1002", "rena", "+447700900602"),
            ("R1003", "rena", "+447700900603"),
        ):
            people[reference] = participants.create(
                session,
                participants.NewParticipant(
                    reference=reference,
                    name=f"Participant {reference}",
                    phones=[phone],
                    responsible_officer_id=ids[officer],
                    risk_level=RiskLevel.MEDIUM,
                ),
                actor="tests",
                now=now,
            ).id

        def contact(reference: str | None, days_ago: int, handled_by: str | None) -> int:
            row = Contact(
                channel=Channel.SMS,
                direction=Direction.INBOUND,
                from_number="+447700900699",
                to_number="+447700900000",
                started_at=now - dt.timedelta(days=days_ago),
                participant_id=people[reference] if reference else None,
                handled_by_staff_id=ids[handled_by] if handled_by else None,
                body="Can someone call me",
                created_at=now,
                media_urls=[],
            )
            session.add(row)
            session.flush()
            return row.id

        contacts = {
            "r1001_handled": contact("R1001", 2, "amira"),
            "r1001_second": contact("R1001", 1, None),
            "r1002_long_ago": contact("R1002", 10, "amira"),
            "r1003": contact("R1003", 1, None),
            "unknown": contact(None, 1, None),
        }

        def alert(reference: str, officer: str) -> int:
            row = RiskAlert(
                participant_id=people[reference],
                rule="many_contacts",
                severity=AlertSeverity.WARNING,
                reason="Five contacts in a day",
                status=AlertStatus.OPEN,
                raised_at=now,
                last_seen_at=now,
                recipient_staff_id=ids[officer],
                routed_to="officer",
            )
            session.add(row)
            session.flush()
            return row.id

        alerts = {"R1001": alert("R1001", "olu"), "R1002": alert("R1002", "rena")}

        def escalation(reference: str | None, subject_id: int) -> int:
            row = EscalationRecord(
                policy_name="missed_call",
                policy={"steps": [], "repeat": 0},
                subject_type="missed_call",
                subject_id=subject_id,
                participant_id=people[reference] if reference else None,
                summary="Missed call",
                status="exhausted",
                step_index=0,
                loop=0,
                next_due_at=None,
                version=1,
                opened_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            return row.id

        escalations = {
            "R1001": escalation("R1001", contacts["r1001_second"]),
            "R1002": escalation("R1002", contacts["r1002_long_ago"]),
            "nobody": escalation(None, contacts["unknown"]),
        }
    return World(
        staff=ids,
        people={name: _person_token(app, staff_id) for name, staff_id in ids.items()},
        participants=people,
        contacts=contacts,
        alerts=alerts,
        escalations=escalations,
    )


def _as(world: World, name: str, reason: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {world.people[name]}", "User-Agent": BROWSER}
    if reason is not None:
        headers["X-Access-Reason"] = reason
    return headers


def _entries(app: Flask) -> list[RecordAccess]:
    with services_of(app).db.transaction() as session:
        rows = list(session.scalars(select(RecordAccess).order_by(RecordAccess.id)))
        session.expunge_all()
        return rows


@pytest.mark.hazard("H180")
def test_each_kind_of_read_is_logged_with_the_person_the_time_and_the_request(
    app: Flask, client: FlaskClient, world: World
) -> None:
    r1001 = world.participants["R1001"]
    reads = {
        f"/api/v1/participants/{r1001}": ("participant", r1001),
        f"/api/v1/participants/{r1001}/contacts": ("contacts", None),
        f"/api/v1/alerts/{world.alerts['R1001']}": ("risk_alert", world.alerts["R1001"]),
        f"/api/v1/escalations/{world.escalations['R1001']}": (
            "escalation",
            world.escalations["R1001"],
        ),
        "/api/v1/contacts": ("contacts", None),
        "/api/v1/alerts": ("risk_alert", None),
        "/api/v1/escalations": ("escalation", None),
        "/api/v1/participants": ("participant", None),
    }
    for path in reads:
        response = client.get(path, headers=_as(world, "olu"))
        assert response.status_code == 200, (path, response.json)

    entries = _entries(app)
    with services_of(app).db.transaction() as session:
        token_id = session.scalar(
            select(ApiToken.id).where(ApiToken.staff_id == world.staff["olu"])
        )
    # Olu's own participant, every time: one entry per request, his participant's.
    assert [(e.record_type, e.record_id) for e in entries] == list(reads.values())
    for entry in entries:
        assert entry.actor == f"staff:{world.staff['olu']}"
        assert entry.staff_id == world.staff["olu"]
        assert entry.token_id == token_id
        assert entry.action == "read"
        assert entry.participant_id == r1001
        assert entry.at == START
        assert entry.address == "127.0.0.1"
        assert entry.user_agent == BROWSER
        assert entry.reason is None  # his own caseload: no break-glass


def test_a_list_logs_one_entry_per_participant_not_per_row(
    app: Flask, client: FlaskClient, world: World, auth: dict[str, str]
) -> None:
    response = client.get("/api/v1/contacts", headers=auth)
    assert len(json_list_of(response)) == 5  # two of R1001's, one each of R1002, R1003, unknown
    entries = _entries(app)
    assert sorted(e.participant_id for e in entries if e.participant_id) == sorted(
        world.participants.values()
    )
    assert len(entries) == 3  # an unknown caller's contact is nobody's record


def test_an_integration_reads_within_its_scopes_without_a_reason_and_is_named(
    app: Flask, client: FlaskClient, world: World
) -> None:
    token = _integration_token(app, "case-system", [Permission.PARTICIPANTS_READ])
    r1002 = world.participants["R1002"]
    response = client.get(
        f"/api/v1/participants/{r1002}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    (entry,) = _entries(app)
    assert (entry.actor, entry.staff_id, entry.participant_id, entry.reason) == (
        "integration:case-system",
        None,
        r1002,
        None,
    )
    assert entry.token_id is not None


def test_changes_are_logged_as_changes(
    app: Flask, client: FlaskClient, world: World, auth: dict[str, str]
) -> None:
    created = client.post(
        "/api/v1/participants",
        json={
            "reference": "R2001",
            "name": "Nigel Testperson",
            "phones": ["+447700900611"],
            "risk_level": "medium",
        },
        headers=auth,
    )
    assert created.status_code == 201, created.json
    new_id = json_of(created)["id"]
    assert (
        client.patch(
            f"/api/v1/participants/{new_id}", json={"name": "Nigel Test"}, headers=auth
        ).status_code
        == 200
    )
    assert client.post(f"/api/v1/participants/{new_id}/close", headers=auth).status_code == 200
    alert = world.alerts["R1001"]
    assert client.post(f"/api/v1/alerts/{alert}/acknowledge", headers=auth).status_code == 200
    assert (
        client.post(
            f"/api/v1/alerts/{alert}/resolve", json={"note": "Called him back"}, headers=auth
        ).status_code
        == 200
    )
    entries = _entries(app)
    assert [(e.action, e.record_type, e.record_id, e.participant_id) for e in entries] == [
        ("change", "participant", new_id, new_id),
        ("change", "participant", new_id, new_id),
        ("change", "participant", new_id, new_id),
        ("change", "risk_alert", alert, world.participants["R1001"]),
        ("change", "risk_alert", alert, world.participants["R1001"]),
    ]


@pytest.mark.hazard("H181")
def test_outside_his_own_a_person_must_give_a_reason_with_every_request_and_it_is_kept(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Dev (duty manager) reaches every participant, but R1002 is not his own: break-glass."""
    path = f"/api/v1/participants/{world.participants['R1002']}"
    refused = client.get(path, headers=_as(world, "dev"))
    assert refused.status_code == 403
    body = json_of(refused)
    assert body["header"] == "X-Access-Reason"
    assert "X-Access-Reason" in body["message"] and "3 to 500 characters" in body["message"]
    assert _entries(app) == []  # nothing was shown, nothing logged as read

    reason = "Duty manager: missed call follow-up at 03:10"
    opened = client.get(path, headers=_as(world, "dev", reason))
    assert opened.status_code == 200
    assert json_of(opened)["reference"] == "R1002"
    (entry,) = _entries(app)
    assert (entry.actor, entry.reason) == (f"staff:{world.staff['dev']}", reason)

    # A personal token has no sign-in session: the next request needs its own reason.
    assert client.get(path, headers=_as(world, "dev")).status_code == 403
    # The same for his contacts, his alerts and a change to his record.
    assert client.get(f"{path}/contacts", headers=_as(world, "dev")).status_code == 403
    alert = f"/api/v1/alerts/{world.alerts['R1002']}"
    assert client.get(alert, headers=_as(world, "dev")).status_code == 403
    assert client.post(f"{alert}/acknowledge", headers=_as(world, "dev")).status_code == 403
    taken = client.post(f"{alert}/acknowledge", headers=_as(world, "dev", "Rena is on leave"))
    assert taken.status_code == 200
    assert _entries(app)[-1].reason == "Rena is on leave"


def test_a_reason_too_short_or_too_long_is_refused_naming_the_header(
    client: FlaskClient, world: World
) -> None:
    path = f"/api/v1/participants/{world.participants['R1002']}"
    for reason in ("ok", "x" * 501):
        response = client.get(path, headers=_as(world, "dev", reason))
        assert response.status_code == 422
        assert "X-Access-Reason" in json_of(response)["errors"]["json"]


def test_a_reason_in_utf8_is_kept_as_typed(app: Flask, client: FlaskClient, world: World) -> None:
    path = f"/api/v1/participants/{world.participants['R1002']}"
    typed = "Officer\u2019s leave \u2014 covering"  # an apostrophe and a dash from a phone
    headers = _as(world, "dev")
    # What a client sending UTF-8 puts on the wire; werkzeug reads header bytes as Latin-1.
    headers["X-Access-Reason"] = typed.encode().decode("latin-1")
    assert client.get(path, headers=headers).status_code == 200
    assert _entries(app)[-1].reason == typed


def test_ones_own_participants_need_no_reason(client: FlaskClient, world: World) -> None:
    r1001 = world.participants["R1001"]
    olu = client.get(f"/api/v1/participants/{r1001}", headers=_as(world, "olu"))
    assert olu.status_code == 200
    amira = client.get(f"/api/v1/participants/{r1001}/contacts", headers=_as(world, "amira"))
    assert amira.status_code == 200


@pytest.mark.hazard("H180")
@pytest.mark.hazard("H182")
def test_a_record_outside_the_grant_is_not_found_and_the_attempt_is_logged(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Amira (on call) never handled R1003; Olu is not R1002's officer. Each is answered as
    if the record did not exist, so a refusal says nothing of it, and the attempt is logged."""
    r1003 = world.participants["R1003"]
    refused = client.get(f"/api/v1/participants/{r1003}", headers=_as(world, "amira"))
    missing = client.get("/api/v1/participants/99999", headers=_as(world, "amira"))
    assert refused.status_code == missing.status_code == 404
    assert json_of(refused) == {"code": 404, "message": f"There is no participant with id {r1003}."}
    assert json_of(missing) == {"code": 404, "message": "There is no participant with id 99999."}

    olu = _as(world, "olu")
    alert = world.alerts["R1002"]
    assert client.get(f"/api/v1/alerts/{alert}", headers=olu).status_code == 404
    assert client.post(f"/api/v1/alerts/{alert}/acknowledge", headers=olu).status_code == 404
    assert (
        client.get(f"/api/v1/escalations/{world.escalations['R1002']}", headers=olu).status_code
        == 404
    )
    # An escalation about nobody (an unknown caller) is outside a caseload too.
    assert (
        client.get(f"/api/v1/escalations/{world.escalations['nobody']}", headers=olu).status_code
        == 404
    )
    with services_of(app).db.transaction() as session:
        assert session.get(RiskAlert, alert).status == AlertStatus.OPEN  # type: ignore[union-attr]

    entries = _entries(app)
    assert [(e.actor, e.action, e.record_type, e.participant_id) for e in entries] == [
        (f"staff:{world.staff['amira']}", "refused", "participant", r1003),
        (f"staff:{world.staff['olu']}", "refused", "risk_alert", world.participants["R1002"]),
        (f"staff:{world.staff['olu']}", "refused", "risk_alert", world.participants["R1002"]),
        (f"staff:{world.staff['olu']}", "refused", "escalation", world.participants["R1002"]),
        (f"staff:{world.staff['olu']}", "refused", "escalation", None),
    ]


@pytest.mark.hazard("H182")
def test_a_responsible_officer_lists_only_his_caseload(
    app: Flask, client: FlaskClient, world: World
) -> None:
    olu = _as(world, "olu")
    r1001 = world.participants["R1001"]
    listed = json_list_of(client.get("/api/v1/participants", headers=olu))
    assert [p["reference"] for p in listed] == ["R1001"]
    contacts = json_list_of(client.get("/api/v1/contacts", headers=olu))
    assert {c["participant_id"] for c in contacts} == {r1001} and len(contacts) == 2
    alerts = json_list_of(client.get("/api/v1/alerts", headers=olu))
    assert [a["id"] for a in alerts] == [world.alerts["R1001"]]
    escalations = json_list_of(client.get("/api/v1/escalations", headers=olu))
    assert [e["id"] for e in escalations] == [world.escalations["R1001"]]
    # Another officer's participant, asked for by id, is an empty list, not an error.
    other = client.get(f"/api/v1/alerts?participant_id={world.participants['R1002']}", headers=olu)
    assert other.status_code == 200 and json_list_of(other) == []
    assert {e.participant_id for e in _entries(app)} == {r1001}


@pytest.mark.hazard("H182")
def test_an_on_call_worker_lists_only_participants_handled_in_the_last_seven_days(
    client: FlaskClient, world: World, clock: FakeClock
) -> None:
    amira = _as(world, "amira")
    listed = json_list_of(client.get("/api/v1/participants", headers=amira))
    assert [p["reference"] for p in listed] == ["R1001"]  # R1002's call was ten days ago
    contacts = json_list_of(client.get("/api/v1/contacts", headers=amira))
    assert {c["participant_id"] for c in contacts} == {world.participants["R1001"]}
    clock.advance(dt.timedelta(days=6))  # R1001's text is now eight days old
    assert json_list_of(client.get("/api/v1/participants", headers=amira)) == []


@pytest.mark.hazard("H181")
@pytest.mark.hazard("H182")
def test_an_officer_who_also_works_on_call_reaches_his_caseload_and_the_men_he_took_calls_from(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Each role reaches its own participants: the wider grant does not hide the narrower."""
    svc = services_of(app)
    with svc.db.transaction() as session:
        session.add(StaffRoleAssignment(staff_id=world.staff["olu"], role=StaffRole.ON_CALL))
        took = session.get(Contact, world.contacts["r1003"])
        assert took is not None
        took.handled_by_staff_id = world.staff["olu"]
    olu = _as(world, "olu")
    listed = json_list_of(client.get("/api/v1/participants", headers=olu))
    assert [p["reference"] for p in listed] == ["R1001", "R1003"]
    r1003 = world.participants["R1003"]
    assert client.get(f"/api/v1/participants/{r1003}", headers=olu).status_code == 200
    # Rena's other man, whom Olu never took a call from, stays out of reach.
    r1002 = world.participants["R1002"]
    assert client.get(f"/api/v1/participants/{r1002}", headers=olu).status_code == 404


def test_a_list_narrowed_to_one_participant_outside_ones_own_needs_the_reason(
    app: Flask, client: FlaskClient, world: World
) -> None:
    r1002 = world.participants["R1002"]
    for path in (
        f"/api/v1/contacts?participant_id={r1002}",
        f"/api/v1/alerts?participant_id={r1002}",
        "/api/v1/participants?reference=R1002",
    ):
        assert client.get(path, headers=_as(world, "dev")).status_code == 403, path
        given = client.get(path, headers=_as(world, "dev", "Checking before a call-back"))
        assert given.status_code == 200, path
    # A list that names nobody shows what the grant reaches, without a reason.
    assert client.get("/api/v1/contacts", headers=_as(world, "dev")).status_code == 200
    narrowed = [e for e in _entries(app) if e.participant_id == r1002 and e.reason]
    assert len(narrowed) == 3


def test_reading_a_delivery_that_carries_a_participants_words_is_logged(
    app: Flask, client: FlaskClient, world: World, auth: dict[str, str]
) -> None:
    svc = services_of(app)
    with svc.db.transaction() as session:
        delivery = Delivery(
            purpose="escalation",
            priority=1,
            subject_type="escalation",
            subject_id=world.escalations["R1001"],
            channel=Channel.SMS,
            to_number="+447700900202",
            from_number="+447700900000",
            body="Missed call from R1001",
            status=DeliveryStatus.SENT,
            next_attempt_at=START,
            created_at=START,
            updated_at=START,
        )
        session.add(delivery)
        session.flush()
        delivery_id = delivery.id
    assert client.get("/api/v1/deliveries", headers=auth).status_code == 200
    assert client.get(f"/api/v1/deliveries/{delivery_id}", headers=auth).status_code == 200
    assert [(e.record_type, e.record_id, e.participant_id) for e in _entries(app)] == [
        ("delivery", None, world.participants["R1001"]),
        ("delivery", delivery_id, world.participants["R1001"]),
    ]


@pytest.mark.hazard("H181")
def test_the_console_asks_for_a_reason_once_per_sign_in_session(app: Flask, world: World) -> None:
    """reason_needed and open_record as the console will call them, with a web session."""
    svc = services_of(app)
    dev = Actor(
        kind="person",
        name="Dev Testperson",
        staff_id=world.staff["dev"],
        roles=frozenset({StaffRole.DUTY_MANAGER}),
        web_session_id="a" * 64,
    )
    r1002, r1001 = world.participants["R1002"], world.participants["R1001"]
    with svc.db.transaction() as session:
        assert record_access.reason_needed(session, dev, r1002, START)
        with pytest.raises(record_access.ReasonRequired):
            record_access.open_record(
                session,
                Visit(dev, START),
                Permission.PARTICIPANTS_READ,
                record_type="participant",
                record_id=r1002,
                participant_id=r1002,
            )
        record_access.open_record(
            session,
            Visit(dev, START, Origin("192.0.2.7", BROWSER), reason="Covering Rena tonight"),
            Permission.PARTICIPANTS_READ,
            record_type="participant",
            record_id=r1002,
            participant_id=r1002,
        )
    with svc.db.transaction() as session:
        assert not record_access.reason_needed(session, dev, r1002, START)
        # The rest of the session reads under the reason it gave, and says so.
        later = record_access.open_record(
            session,
            Visit(dev, START + dt.timedelta(minutes=5)),
            Permission.CONTACTS_READ,
            record_type="contacts",
            record_id=None,
            participant_id=r1002,
        )
        assert later is not None and later.reason == "Covering Rena tonight"
        # Another participant, or another sign-in, asks again.
        assert record_access.reason_needed(session, dev, r1001, START)
        other_sign_in = Actor(
            kind="person",
            name=dev.name,
            staff_id=dev.staff_id,
            roles=dev.roles,
            web_session_id="b" * 64,
        )
        assert record_access.reason_needed(session, other_sign_in, r1002, START)


def _clinical_lead_reads(client: FlaskClient, world: World, query: str) -> list[dict[str, object]]:
    response = client.get(f"/api/v1/access-log{query}", headers=_as(world, "cleo"))
    assert response.status_code == 200, response.json
    return json_list_of(response)


@pytest.mark.hazard("H184")
def test_the_clinical_lead_reads_who_has_seen_a_participants_record(
    app: Flask, client: FlaskClient, world: World, clock: FakeClock
) -> None:
    r1001 = world.participants["R1001"]
    client.get(f"/api/v1/participants/{r1001}", headers=_as(world, "olu"))
    clock.advance(dt.timedelta(hours=1))
    client.get(f"/api/v1/participants/{r1001}", headers=_as(world, "dev", "Night call-back"))
    client.get(f"/api/v1/participants/{world.participants['R1002']}", headers=_as(world, "rena"))

    seen = _clinical_lead_reads(client, world, "?participant=r1001")
    assert [(e["actor"], e["reason"]) for e in seen] == [
        (f"staff:{world.staff['dev']}", "Night call-back"),
        (f"staff:{world.staff['olu']}", None),
    ]
    by_staff = _clinical_lead_reads(client, world, f"?staff_id={world.staff['rena']}")
    assert [e["participant_id"] for e in by_staff] == [world.participants["R1002"]]
    since = (START + dt.timedelta(minutes=30)).isoformat()
    window = _clinical_lead_reads(
        client, world, f"?participant_id={r1001}&since={since.replace('+', '%2B')}"
    )
    assert [e["actor"] for e in window] == [
        f"staff:{world.staff['cleo']}",  # her own first reading of R1001's entries
        f"staff:{world.staff['dev']}",
    ]
    assert _clinical_lead_reads(client, world, "?action=change") == []

    # Reading the log is itself logged: one entry per participant on the page.
    own = _clinical_lead_reads(client, world, f"?actor=staff:{world.staff['cleo']}")
    assert {(e["record_type"], e["action"]) for e in own} == {("access_log", "read")}


def test_the_log_is_paged_like_the_other_lists(
    client: FlaskClient, world: World, auth: dict[str, str]
) -> None:
    for _ in range(3):
        client.get(f"/api/v1/participants/{world.participants['R1001']}", headers=auth)
    response = client.get(
        "/api/v1/access-log?actor=integration:tests&page_size=2", headers=_as(world, "ada")
    )
    assert len(json_list_of(response)) == 2
    assert 'rel="next"' in response.headers["Link"]


def test_an_unknown_reference_is_refused_naming_the_field(
    client: FlaskClient, world: World
) -> None:
    response = client.get("/api/v1/access-log?participant=R9999", headers=_as(world, "cleo"))
    assert response.status_code == 422
    assert "participant" in json_of(response)["errors"]["json"]


def test_only_the_clinical_lead_and_the_administrator_read_the_log(
    client: FlaskClient, world: World
) -> None:
    for name in ("olu", "amira", "dev"):
        assert client.get("/api/v1/access-log", headers=_as(world, name)).status_code == 403
    for name in ("cleo", "ada"):
        assert client.get("/api/v1/access-log", headers=_as(world, name)).status_code == 200


@pytest.mark.hazard("H184")
def test_the_log_exports_as_csv_and_the_export_is_logged(
    app: Flask, client: FlaskClient, world: World
) -> None:
    r1002 = world.participants["R1002"]
    client.get(f"/api/v1/participants/{r1002}", headers=_as(world, "dev", "=HYPERLINK(1)"))
    by_format = client.get("/api/v1/access-log?format=csv", headers=_as(world, "ada"))
    by_accept = client.get(
        "/api/v1/access-log", headers={**_as(world, "ada"), "Accept": "text/csv"}
    )
    for response in (by_format, by_accept):
        assert response.status_code == 200
        assert response.mimetype == "text/csv"
        assert "attachment" in response.headers["Content-Disposition"]
        assert "X-Pagination" not in response.headers  # every entry, not a page
    rows = list(csv.DictReader(io.StringIO(by_format.get_data(as_text=True))))
    assert [(r["actor"], r["participant_id"]) for r in rows] == [
        (f"staff:{world.staff['dev']}", str(r1002))
    ]
    # A reason typed as a formula is never run by the auditor's spreadsheet.
    assert rows[0]["reason"] == "'=HYPERLINK(1)"
    exports = [e for e in _entries(app) if e.record_type == "access_log"]
    assert [(e.action, e.participant_id) for e in exports] == [
        ("export", r1002),
        ("export", r1002),
    ]


def test_the_cli_shows_who_has_seen_a_participant(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, world: World, clock: FakeClock
) -> None:
    r1001 = world.participants["R1001"]
    client.get(f"/api/v1/participants/{r1001}", headers=_as(world, "olu"))
    clock.advance(dt.timedelta(days=10))
    client.get(f"/api/v1/participants/{r1001}", headers=_as(world, "dev", "Weekend cover"))

    shown = runner.invoke(args=["audit", "show", "--participant", "R1001", "--since", "7d"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.strip().splitlines()
    assert len(lines) == 1  # Olu's read was ten days ago
    assert f"staff:{world.staff['dev']}" in lines[0] and "reason: Weekend cover" in lines[0]

    by_staff = runner.invoke(
        args=["audit", "show", "--staff", str(world.staff["olu"]), "--since", "30d", "--csv"]
    )
    assert by_staff.exit_code == 0, by_staff.output
    rows = list(csv.DictReader(io.StringIO(by_staff.output)))
    assert [(r["actor"], r["participant_id"]) for r in rows] == [
        (f"staff:{world.staff['olu']}", str(r1001))
    ]
    cli_entries = [e for e in _entries(app) if e.actor == "cli"]
    assert [(e.action, e.participant_id) for e in cli_entries] == [
        ("read", r1001),
        ("export", r1001),
    ]

    unknown = runner.invoke(args=["audit", "show", "--participant", "R9999"])
    assert unknown.exit_code == 1
    assert "No participant has the reference 'R9999'" in unknown.output
    bad_span = runner.invoke(args=["audit", "show", "--since", "last week"])
    assert bad_span.exit_code == 2 and "7d" in bad_span.output


@pytest.mark.hazard("H183")
def test_no_route_and_no_command_changes_or_removes_an_entry(
    app: Flask, runner: FlaskCliRunner
) -> None:
    """Every route of the app: only GET (and HEAD, OPTIONS) reach the access log."""
    routes = [rule for rule in app.url_map.iter_rules() if "access-log" in rule.rule]
    assert routes, "the access log has its route"
    for rule in routes:
        assert (rule.methods or set()) - {"HEAD", "OPTIONS"} == {"GET"}, rule
    commands = runner.invoke(args=["audit", "--help"]).output
    assert "show" in commands
    assert not any(word in commands for word in ("delete", "remove", "purge", "edit"))


if "postgresql" in ENGINES:
    on_postgresql = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

    @on_postgresql
    @pytest.mark.hazard("H183")
    def test_postgresql_refuses_to_update_or_delete_an_entry(app: Flask) -> None:
        """The table's trigger refuses UPDATE, DELETE and TRUNCATE whatever the application
        does: a bug or an injected statement cannot rewrite who saw what."""
        svc = services_of(app)
        assert svc.db.engine.dialect.name == "postgresql"
        with svc.db.transaction() as session:
            record_access.record(
                session,
                "cli",
                action=Action.READ,
                record_type="participant",
                record_id=1,
                participant_id=1,
                at=START,
            )
        for statement in (
            update(RecordAccess).values(actor="someone else"),
            delete(RecordAccess),
        ):
            with (
                pytest.raises(DBAPIError, match="append-only"),
                svc.db.transaction() as session,
            ):
                session.execute(statement)
        with (
            pytest.raises(DBAPIError, match="append-only"),
            svc.db.engine.begin() as connection,
        ):
            connection.exec_driver_sql("TRUNCATE record_access_log")
        (entry,) = _entries(app)
        assert entry.actor == "cli"
