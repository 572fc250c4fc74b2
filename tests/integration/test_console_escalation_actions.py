"""Taking and closing an escalation from the console, by the reply codes' rules: the person it
asked (holding a live code) or a duty manager may; anyone else is refused and nothing changes.
Taking a text conversation hands it to whoever took it, as replying with the code does."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from crisisline import caseloads, participants
from crisisline import escalation_engine as engine
from crisisline.clock import FakeClock
from crisisline.escalation_models import EscalationRecord
from crisisline.models import Delivery, RecordAccess, RiskLevel, StaffRole
from crisisline.permissions import Actor, Permission
from escalation.state import ByOperator
from tests.support.console import Browser, Person, enrol
from tests.support.engine_line import BACKUP, MANAGER, PRIMARY, Line, staffed_line


@pytest.fixture
def line(app: Flask, clock: FakeClock) -> Line:
    return staffed_line(app, clock)


def _participant(line: Line) -> int:
    with line.svc.db.transaction() as session:
        return participants.create(
            session,
            participants.NewParticipant(
                reference="R1001",
                name="Dylan Price",
                phones=["+447700900501"],
                risk_level=RiskLevel.HIGH,
                responsible_officer_id=None,
            ),
            actor="t",
            now=line.clock.now(),
        ).id


def _open(line: Line, participant_id: int) -> int:
    # "test-chain" texts the primary rota (Amira) first: she holds a live code, Tom does not.
    with line.svc.db.transaction() as session:
        return engine.open_escalation(
            session,
            policy_name="test-chain",
            subject_type="missed_call",
            subject_id=None,
            participant_id=participant_id,
            summary="Missed call from R1001 D. Price at 03:12",
            now=line.clock.now(),
            reach=line.svc.reach,
        ).id


def _account(app: Flask, line: Line, phone: str, name: str) -> Person:
    staff_id = line.ids[phone]
    secret, codes = enrol(line.svc.db, staff_id, line.clock.now())
    return Person(staff_id, name, phone, None, secret, codes)


def _signed_in(app: Flask, line: Line, phone: str, name: str) -> Browser:
    browser = Browser(app)
    browser.sign_in(_account(app, line, phone, name), line.clock)
    return browser


def _record(line: Line, escalation_id: int) -> EscalationRecord:
    with line.svc.db.transaction() as session:
        return session.get_one(EscalationRecord, escalation_id)


def test_the_worker_asked_reaches_the_participant_while_the_code_is_live(
    app: Flask, line: Line
) -> None:
    man = _participant(line)
    amira = Actor(
        kind="person",
        name="Amira",
        staff_id=line.ids[PRIMARY],
        roles=frozenset({StaffRole.ON_CALL}),
    )
    tom = Actor(
        kind="person", name="Tom", staff_id=line.ids[BACKUP], roles=frozenset({StaffRole.ON_CALL})
    )
    now = line.clock.now()
    with line.svc.db.transaction() as session:
        assert caseloads.access(session, amira, Permission.CONTACTS_READ, man, now) == "refused"
    escalation_id = _open(line, man)
    with line.svc.db.transaction() as session:
        assert caseloads.access(session, amira, Permission.CONTACTS_READ, man, now) == "own"
        assert caseloads.access(session, tom, Permission.CONTACTS_READ, man, now) == "refused"
    with line.svc.db.transaction() as session:
        engine.close_escalation(session, escalation_id, ByOperator("Priya"), now, line.svc.reach)
    with line.svc.db.transaction() as session:
        # Closed, the code is freed: she no longer reaches him through it.
        assert caseloads.access(session, amira, Permission.CONTACTS_READ, man, now) == "refused"


def test_the_worker_asked_takes_it_from_the_console_as_if_she_had_replied_with_the_code(
    app: Flask, line: Line
) -> None:
    escalation_id = _open(line, _participant(line))
    amira = _signed_in(app, line, PRIMARY, "Amira Okafor")
    amira.get("/")
    answer = amira.post(f"/escalations/{escalation_id}/take", {"next": "/"})
    assert answer.status_code == 303 and answer.headers["Location"] == "/"
    record = _record(line, escalation_id)
    assert record.status == "acknowledged"
    assert record.acknowledged_by_staff_id == line.ids[PRIMARY]
    assert "You took it: Missed call from R1001" in amira.get("/").get_data(as_text=True)
    with line.svc.db.transaction() as session:
        logged = session.scalars(
            select(RecordAccess).where(
                RecordAccess.record_type == "escalation", RecordAccess.action == "change"
            )
        ).all()
        assert [(e.action, e.record_id, e.staff_id) for e in logged] == [
            ("change", escalation_id, line.ids[PRIMARY])
        ]
    # Taking it again changes nothing and says who has it.
    amira.post(f"/escalations/{escalation_id}/take", {"next": "/"})
    assert "Nothing changed: Amira Okafor has already taken it." in amira.get("/").get_data(
        as_text=True
    )


def test_a_worker_not_asked_is_refused_and_nothing_changes(app: Flask, line: Line) -> None:
    escalation_id = _open(line, _participant(line))
    tom = _signed_in(app, line, BACKUP, "Tom Hughes")
    tom.get("/")
    with line.svc.db.transaction() as session:
        sent_before = len(session.scalars(select(Delivery)).all())
    for action in ("take", "close"):
        answer = tom.post(f"/escalations/{escalation_id}/{action}", {"next": "/"})
        assert answer.status_code == 422
        assert "You were not asked to take this one" in answer.get_data(as_text=True)
    assert _record(line, escalation_id).status == "open"
    with line.svc.db.transaction() as session:
        assert len(session.scalars(select(Delivery)).all()) == sent_before
        assert session.scalars(select(RecordAccess)).all() == []


def test_a_duty_manager_closes_any_escalation_by_name(app: Flask, line: Line) -> None:
    escalation_id = _open(line, _participant(line))
    priya = _signed_in(app, line, MANAGER, "Priya Natarajan")
    priya.get("/")
    # R1001 is not hers (no caseload, no contact handled): break-glass first, then the action.
    asked = priya.post(f"/escalations/{escalation_id}/close", {"next": "/escalations"})
    assert asked.status_code == 403
    assert "Why do you need this record?" in asked.get_data(as_text=True)
    assert _record(line, escalation_id).status == "open"
    given = priya.post(
        "/reason",
        {
            "participant_id": str(_record(line, escalation_id).participant_id),
            "next": "/escalations",
            "reason_choice": "Duty manager review of a contact or alert",
        },
    )
    assert given.status_code == 303 and given.headers["Location"] == "/escalations"
    answer = priya.post(f"/escalations/{escalation_id}/close", {"next": "/escalations"})
    assert answer.status_code == 303 and answer.headers["Location"] == "/escalations"
    with line.svc.db.transaction() as session:
        reasons = session.scalars(
            # Records opened (the Now board's lists, logged too, name no record and need none).
            select(RecordAccess.reason).where(
                RecordAccess.staff_id == line.ids[MANAGER], RecordAccess.record_id.is_not(None)
            )
        ).all()
    assert set(reasons) == {"Duty manager review of a contact or alert"}
    record = _record(line, escalation_id)
    assert record.status == "closed" and record.closed_by == "Priya Natarajan"
    # Amira, who was asked, is told it was closed: nobody keeps chasing it.
    with line.svc.db.transaction() as session:
        told = session.scalars(
            select(Delivery.body).where(Delivery.to_number == PRIMARY).order_by(Delivery.id)
        ).all()
    assert "closed" in told[-1].lower()


def test_an_unknown_escalation_is_not_found_and_another_sites_next_is_ignored(
    app: Flask, line: Line
) -> None:
    escalation_id = _open(line, _participant(line))
    priya = _signed_in(app, line, MANAGER, "Priya Natarajan")
    priya.get("/")
    assert priya.post("/escalations/999999/take", {"next": "/"}).status_code == 404
    answer = priya.post(f"/escalations/{escalation_id}/take", {"next": "https://evil.example/"})
    # The reason form asked for first goes back to this site's Now board, not the other site.
    assert answer.status_code == 403
    assert 'name="next" value="/"' in answer.get_data(as_text=True)


def test_a_form_without_its_csrf_token_changes_nothing(app: Flask, line: Line) -> None:
    escalation_id = _open(line, _participant(line))
    priya = _signed_in(app, line, MANAGER, "Priya Natarajan")
    answer = priya.post(f"/escalations/{escalation_id}/take", {"next": "/"}, csrf=False)
    assert answer.status_code == 400
    assert _record(line, escalation_id).status == "open"
