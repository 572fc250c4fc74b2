"""Participants' crisis plans: versions kept and the current one marked, the same checks on the
console's form and the API (422 naming the field, 409 on a clash), who may read and write them
(page and API), the review-date flags on the plan page, the officer's Now board and the
handover, the list of active participants without a plan, and every read and change in the
record access log."""

from __future__ import annotations

import datetime as dt
import html as html_text
import re
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from crisisline import contacts, crisis_plans, handover, participants
from crisisline.clock import FakeClock
from crisisline.crisis_plan_models import CrisisPlan
from crisisline.errors import Conflict
from crisisline.models import (
    Channel,
    Direction,
    ParticipantStatus,
    RecordAccess,
    RiskLevel,
    StaffRole,
)
from tests.support.app import json_of, services_of
from tests.support.console import Browser, Person, enrolled
from tests.support.tokens import bearer, issue_token

LINE = "+447700900000"
DYLAN_PHONE = "+447700900501"
ACCESS_REASON = "Covering the duty desk tonight"


@dataclass
class Team:
    officer: Person  # Dylan's responsible officer
    other_officer: Person  # Lee's
    worker: Person  # took Dylan's call yesterday
    other_worker: Person
    manager: Person
    lead: Person
    admin: Person
    dylan: int
    lee: int


@pytest.fixture
def team(app: Flask, clock: FakeClock) -> Team:
    now = clock.now()
    r = StaffRole
    officer = enrolled(app, "Gareth Lloyd", "+447700900111", [r.RESPONSIBLE_OFFICER], now=now)
    other = enrolled(app, "Helen Marsh", "+447700900112", [r.RESPONSIBLE_OFFICER], now=now)
    worker = enrolled(app, "Amira Okafor", "+447700900113", [r.ON_CALL], now=now)
    other_worker = enrolled(app, "Tom Hughes", "+447700900114", [r.ON_CALL], now=now)
    manager = enrolled(app, "Priya Natarajan", "+447700900115", [r.DUTY_MANAGER], now=now)
    lead = enrolled(app, "Ruth Adeyemi", "+447700900116", [r.CLINICAL_LEAD], now=now)
    admin = enrolled(app, "Sam Admin", "+447700900117", [r.ADMIN], now=now)
    with services_of(app).db.transaction() as session:
        dylan = participants.create(
            session,
            participants.NewParticipant(
                "R1001", "Dylan Price", [DYLAN_PHONE], officer.staff_id, RiskLevel.HIGH
            ),
            actor="t",
            now=now,
        ).id
        lee = participants.create(
            session,
            participants.NewParticipant(
                "R1002", "Lee Carter", ["+447700900502"], other.staff_id, RiskLevel.MEDIUM
            ),
            actor="t",
            now=now,
        ).id
        contacts.record(
            session,
            channel=Channel.VOICE,
            direction=Direction.INBOUND,
            from_number=DYLAN_PHONE,
            to_number=LINE,
            twilio_sid=None,
            started_at=now - dt.timedelta(days=1),
            participant_id=dylan,
            body=None,
            outcome="answered",
            handled_by_staff_id=worker.staff_id,
        )
    return Team(officer, other, worker, other_worker, manager, lead, admin, dylan, lee)


def plan_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "based_on": 0,
        "warning_signs": "Stops answering his phone; talks about 'ending it'.",
        "triggers": "Letters from the court; nights alone at the hostel.",
        "what_helps": "Being asked straight out how he is. A walk.",
        "what_does_not_help": "Being told to calm down.",
        "risk_to_self": "Overdose when drinking.",
        "risk_to_others": "Low; raised voice at staff.",
        "if_risk_rises": "Call 999 and tell the duty manager.",
        "practical_notes": "Approved premises, curfew 21:00 to 07:00.",
        "contacts": [
            {"name": "Kerry Price", "relationship": "sister", "phone": "07700 900771"},
            {
                "name": "Hostel night desk",
                "relationship": "approved premises",
                "phone": "+447700900772",
            },
        ],
        "agreed_on": "2026-11-20",
        "review_on": "2027-02-20",
    }
    body.update(changes)
    return body


def _write(app: Flask, pid: int, clock: FakeClock, **changes: Any) -> CrisisPlan:
    with services_of(app).db.transaction() as session:
        loaded = crisis_plans.load(plan_body(**changes))
        row = crisis_plans.write(
            session,
            pid,
            loaded,
            author="staff:1",
            author_staff_id=None,
            now=clock.now(),
            today=clock.now().date(),
        )
        session.expunge(row)
        return row


def _token(app: Flask, who: Person) -> dict[str, str]:
    return bearer(issue_token(app, f"t{who.staff_id}", staff_id=who.staff_id))


def _signed_in(app: Flask, clock: FakeClock, who: Person) -> Browser:
    # Each sign-in on a code step of its own: a code is good once.
    clock.advance(dt.timedelta(seconds=30))
    browser = Browser(app)
    answer = browser.sign_in(who, clock)
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return browser


def _text(page: Any) -> str:
    words = html_text.unescape(re.sub(r"<[^>]+>", " ", page.get_data(as_text=True)))
    return re.sub(r"\s+([.,:;)])", r"\1", " ".join(words.split()))


def _log(app: Flask, pid: int) -> list[RecordAccess]:
    with services_of(app).db.transaction() as session:
        rows = session.scalars(
            select(RecordAccess)
            .where(RecordAccess.record_type == crisis_plans.RECORD_TYPE)
            .where(RecordAccess.participant_id == pid)
            .order_by(RecordAccess.id)
        ).all()
        session.expunge_all()
        return list(rows)


# ---- the records ----------------------------------------------------------------------------


@pytest.mark.hazard("H310")
@pytest.mark.hazard("H318")
def test_each_change_is_a_new_version_and_the_highest_is_current(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    first = _write(app, team.dylan, clock)
    clock.advance(dt.timedelta(days=1))
    second = _write(
        app,
        team.dylan,
        clock,
        based_on=1,
        change_reason="He moved to his sister's",
        practical_notes="Lives at his sister's; no curfew now.",
        review_on="2027-03-01",
    )
    assert (first.version, second.version) == (1, 2)
    with services_of(app).db.transaction() as session:
        rows = crisis_plans.versions(session, team.dylan)
        current = crisis_plans.current(session, team.dylan)
        assert [r.version for r in rows] == [2, 1]
        assert current is not None and current.version == 2
        assert rows[1].practical_notes == "Approved premises, curfew 21:00 to 07:00."
        assert crisis_plans.changed(rows[1], rows[0]) == ["practical notes", "review date"]
        assert crisis_plans.changed(None, rows[1]) == ["first version"]
        # Numbers are kept as E.164, whatever form they were typed in.
        assert rows[0].contacts[0] == {
            "name": "Kerry Price",
            "relationship": "sister",
            "phone": "+447700900771",
        }


@pytest.mark.hazard("H312")
def test_the_checks_name_every_field_at_fault() -> None:
    with pytest.raises(crisis_plans.PlanInvalid) as refused:
        crisis_plans.load(
            plan_body(
                warning_signs="   ",
                triggers="x" * (crisis_plans.SECTION_MAX + 1),
                contacts=[
                    {"name": "Kerry Price", "phone": "07700 900771"},
                    {"name": "Someone", "phone": "12345"},
                    {"name": "", "phone": "07700900773"},
                ],
            )
        )
    assert refused.value.errors == {
        "warning_signs": "Write the warning signs: what a crisis looks like for him.",
        "triggers": "Keep this section to 2000 characters or fewer.",
        "contacts[1].phone": "'12345' has too few digits; include the area or mobile code",
        "contacts[2].name": "Give the name of the person or service (up to 200 characters).",
    }
    with pytest.raises(crisis_plans.PlanInvalid) as dates:
        crisis_plans.load(plan_body(agreed_on="2026-11-20", review_on="2026-11-20"))
    assert set(dates.value.errors) == {"review_on"}
    assert crisis_plans.load(plan_body(triggers="x" * crisis_plans.SECTION_MAX))["triggers"]


def test_agreed_in_the_future_and_no_reason_from_version_two_are_refused(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    with pytest.raises(crisis_plans.PlanInvalid) as future:
        _write(app, team.dylan, clock, agreed_on="2026-11-27")
    assert future.value.errors == {"agreed_on": "The day it was agreed cannot be in the future."}
    _write(app, team.dylan, clock)
    with pytest.raises(crisis_plans.PlanInvalid) as no_reason:
        _write(app, team.dylan, clock, based_on=1)
    assert set(no_reason.value.errors) == {"change_reason"}


@pytest.mark.hazard("H311")
def test_a_version_that_does_not_follow_the_current_one_is_a_clash(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    _write(app, team.dylan, clock)
    _write(app, team.dylan, clock, based_on=1, change_reason="Reviewed with him")
    with pytest.raises(Conflict) as clash:
        _write(app, team.dylan, clock, based_on=1, change_reason="My edit")
    assert clash.value.field == "based_on"
    with services_of(app).db.transaction() as session:
        assert [r.version for r in crisis_plans.versions(session, team.dylan)] == [2, 1]


@pytest.mark.hazard("H313")
@pytest.mark.hazard("H314")
def test_plans_past_review_and_participants_without_a_plan_are_listed(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    _write(app, team.dylan, clock, agreed_on="2026-06-01", review_on="2026-11-25")
    today = clock.now().date()
    with services_of(app).db.transaction() as session:
        closed = participants.create(
            session,
            participants.NewParticipant(
                "R1003", "Owen Birch", ["+447700900503"], team.officer.staff_id, RiskLevel.LOW
            ),
            actor="t",
            now=clock.now(),
        )
        closed.status = ParticipantStatus.CLOSED
    with services_of(app).db.transaction() as session:
        due = crisis_plans.due_for_review(session, today)
        assert [(f.reference, f.review_on) for f in due] == [("R1001", dt.date(2026, 11, 25))]
        assert (
            crisis_plans.due_for_review(session, today, officer_id=team.other_officer.staff_id)
            == []
        )
        # On the review day itself the plan is not yet past it.
        assert crisis_plans.due_for_review(session, dt.date(2026, 11, 25)) == []
        # A closed participant is nobody's worry; Lee has no plan.
        assert [f.reference for f in crisis_plans.without_plan(session)] == ["R1002"]
        assert crisis_plans.without_plan(session, officer_id=team.officer.staff_id) == []


# ---- the API ---------------------------------------------------------------------------------


def test_the_api_writes_versions_and_answers_the_current_and_all(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    client = app.test_client()
    headers = _token(app, team.officer)
    path = f"/api/v1/participants/{team.dylan}/crisis-plan"
    empty = client.get(path, headers=headers)
    assert empty.status_code == 200
    assert json_of(empty) == {"participant_id": team.dylan, "current": None, "versions": []}
    put = client.put(path, json=plan_body(), headers=headers)
    assert put.status_code == 200, put.get_data(as_text=True)
    second = client.put(
        path,
        json=plan_body(based_on=1, change_reason="New number for his sister", contacts=[]),
        headers=headers,
    )
    assert second.status_code == 200
    shown = json_of(client.get(path, headers=headers))
    assert shown["current"]["version"] == 2 and shown["current"]["current"] is True
    assert [(v["version"], v["current"]) for v in shown["versions"]] == [(2, True), (1, False)]
    assert shown["versions"][0]["author"] == "Gareth Lloyd"
    assert shown["versions"][0]["changed"] == ["people to contact"]
    assert shown["versions"][0]["change_reason"] == "New number for his sister"
    assert shown["versions"][1]["contacts"][0]["phone"] == "+447700900771"
    assert shown["current"]["past_review"] is False
    actions = [(e.action, e.actor) for e in _log(app, team.dylan)]
    label = f"staff:{team.officer.staff_id}"
    assert actions == [
        ("read", label),
        ("change", label),
        ("change", label),
        ("read", label),
    ]


@pytest.mark.hazard("H312")
@pytest.mark.hazard("H311")
def test_the_api_refuses_bad_plans_naming_the_field_and_a_clash_with_409(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    client = app.test_client()
    headers = _token(app, team.officer)
    path = f"/api/v1/participants/{team.dylan}/crisis-plan"
    bad = client.put(
        path,
        json=plan_body(
            contacts=[{"name": "A", "phone": "07700900771"}, {"name": "B", "phone": "x1"}]
        ),
        headers=headers,
    )
    assert bad.status_code == 422
    assert "contacts[1].phone" in json_of(bad)["errors"]["json"]
    future = client.put(
        path, json=plan_body(agreed_on="2030-01-01", review_on="2030-06-01"), headers=headers
    )
    assert future.status_code == 422
    assert json_of(future)["errors"]["json"] == {
        "agreed_on": ["The day it was agreed cannot be in the future."]
    }
    assert client.put(path, json=plan_body(), headers=headers).status_code == 200
    clash = client.put(path, json=plan_body(change_reason="again"), headers=headers)
    assert clash.status_code == 409
    assert "based_on" in json_of(clash)["errors"]["json"]
    no_reason = client.put(path, json=plan_body(based_on=1), headers=headers)
    assert no_reason.status_code == 422
    assert "change_reason" in json_of(no_reason)["errors"]["json"]


@pytest.mark.hazard("H315")
@pytest.mark.hazard("H316")
def test_the_api_lets_the_officer_and_lead_write_the_handler_and_manager_read_and_no_one_else(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    _write(app, team.dylan, clock)
    client = app.test_client()
    path = f"/api/v1/participants/{team.dylan}/crisis-plan"
    reason = {"X-Access-Reason": ACCESS_REASON}

    def get(who: Person, **extra: str) -> int:
        return client.get(path, headers={**_token(app, who), **extra}).status_code

    def put(who: Person, version: int, **extra: str) -> int:
        body = plan_body(based_on=version, change_reason=f"Reviewed by {who.name}")
        return client.put(path, json=body, headers={**_token(app, who), **extra}).status_code

    # Reading: his officer and the worker who took his call plainly; the duty manager and the
    # clinical lead (every participant) with a reason; another worker, another officer: 404;
    # an administrator holds no crisis-plans:read at all: 403.
    assert get(team.officer) == 200
    assert get(team.worker) == 200
    assert get(team.manager) == 403  # no reason given: the header is asked for
    assert get(team.manager, **reason) == 200
    assert get(team.lead, **reason) == 200
    assert get(team.other_worker) == 404
    assert get(team.other_officer) == 404
    assert get(team.admin) == 403
    # Writing: his officer and the clinical lead; nobody else.
    assert put(team.officer, 1) == 200
    assert put(team.lead, 2, **reason) == 200
    assert put(team.worker, 3) == 403
    assert put(team.manager, 3, **reason) == 403
    assert put(team.other_officer, 3) == 404
    assert put(team.admin, 3) == 403
    with services_of(app).db.transaction() as session:
        assert crisis_plans.current(session, team.dylan).version == 3  # type: ignore[union-attr]
    entries = _log(app, team.dylan)
    refused = {e.actor for e in entries if e.action == "refused"}
    assert refused == {
        f"staff:{team.other_worker.staff_id}",
        f"staff:{team.other_officer.staff_id}",
    }
    manager_reads = [e for e in entries if e.actor == f"staff:{team.manager.staff_id}"]
    assert [(e.action, e.reason) for e in manager_reads] == [("read", ACCESS_REASON)]


# ---- the console -----------------------------------------------------------------------------


def _form(**changes: str) -> dict[str, str]:
    form = {
        "based_on": "0",
        "warning_signs": "Stops answering his phone.",
        "triggers": "",
        "what_helps": "A walk.",
        "what_does_not_help": "",
        "risk_to_self": "",
        "risk_to_others": "",
        "if_risk_rises": "Call 999 and tell the duty manager.",
        "practical_notes": "",
        "contacts-0-name": "Kerry Price",
        "contacts-0-relationship": "sister",
        "contacts-0-phone": "07700 900771",
        "contacts-1-name": "",
        "contacts-1-relationship": "",
        "contacts-1-phone": "",
        "agreed_on": "2026-11-20",
        "review_on": "2027-02-20",
        "change_reason": "",
    }
    form.update(changes)
    return form


@pytest.mark.hazard("H310")
def test_the_officer_writes_a_plan_in_the_console_and_sees_it_marked_current(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    browser = _signed_in(app, clock, team.officer)
    person_page = browser.get(f"/participants/{team.dylan}")
    assert f'href="/participants/{team.dylan}/crisis-plan"' in person_page.get_data(as_text=True)
    none_yet = browser.get(f"/participants/{team.dylan}/crisis-plan")
    assert "R1001 has no crisis plan." in _text(none_yet)
    browser.get(f"/participants/{team.dylan}/crisis-plan/edit")
    saved = browser.post(f"/participants/{team.dylan}/crisis-plan/edit", _form())
    assert saved.status_code == 303, saved.get_data(as_text=True)
    clock.advance(dt.timedelta(minutes=5))
    form = browser.get(f"/participants/{team.dylan}/crisis-plan/edit")
    body = form.get_data(as_text=True)
    # Filled in from the current version, with the version it follows.
    assert 'name="based_on" value="1"' in body
    assert "Stops answering his phone." in body and 'value="+447700900771"' in body
    again = browser.post(
        f"/participants/{team.dylan}/crisis-plan/edit",
        _form(
            based_on="1",
            warning_signs="Stops answering; gives his things away.",
            change_reason="Reviewed with him after the weekend",
        ),
    )
    assert again.status_code == 303
    page = _text(browser.get(f"/participants/{team.dylan}/crisis-plan"))
    assert "Current · version 2" in page
    assert "Stops answering; gives his things away." in page
    assert "Version 2 (current)" in page
    assert "Why: Reviewed with him after the weekend" in page
    assert "Changed: warning signs." in page
    assert "Version 1 as it was" in page
    assert "past its review date" not in page


@pytest.mark.hazard("H312")
def test_the_form_refuses_bad_input_beside_the_field_and_keeps_what_was_typed(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    browser = _signed_in(app, clock, team.officer)
    browser.get(f"/participants/{team.dylan}/crisis-plan/edit")
    refused = browser.post(
        f"/participants/{team.dylan}/crisis-plan/edit",
        _form(warning_signs="", **{"contacts-0-phone": "0770090"}, what_helps="Tea"),
    )
    assert refused.status_code == 422
    body = refused.get_data(as_text=True)
    assert 'id="contacts-0-phone-error"' in body and 'id="warning_signs-error"' in body
    assert 'href="#contacts-0-phone"' in body
    assert ">Tea</textarea>" in body
    with services_of(app).db.transaction() as session:
        assert crisis_plans.current(session, team.dylan) is None
    browser.get(f"/participants/{team.dylan}/crisis-plan/edit")
    assert browser.post(f"/participants/{team.dylan}/crisis-plan/edit", _form()).status_code == 303
    stale = browser.post(
        f"/participants/{team.dylan}/crisis-plan/edit", _form(change_reason="old tab")
    )
    assert stale.status_code == 409
    assert "Someone saved version 1" in _text(stale)


@pytest.mark.hazard("H315")
def test_the_pages_follow_who_may_read_and_write(app: Flask, clock: FakeClock, team: Team) -> None:
    _write(app, team.dylan, clock)
    plan = f"/participants/{team.dylan}/crisis-plan"
    edit = plan + "/edit"
    expected = {
        # who: (plan page, edit form)
        "officer": (200, 200),
        "worker": (200, 403),
        "other_worker": (404, 403),
        "other_officer": (404, 404),
        "admin": (403, 403),
    }
    for who, (read, write) in expected.items():
        browser = _signed_in(app, clock, getattr(team, who))
        assert browser.get(plan).status_code == read, who
        assert browser.get(edit).status_code == write, who
    # The duty manager and the clinical lead reach him with a reason, given once.
    for who, write in (("manager", 403), ("lead", 200)):
        browser = _signed_in(app, clock, getattr(team, who))
        asked = browser.get(plan)
        assert asked.status_code == 403 and "reason" in _text(asked).lower(), who
        given = browser.post(
            "/reason",
            {"participant_id": str(team.dylan), "next": plan, "reason": ACCESS_REASON},
        )
        assert given.status_code == 303
        assert browser.get(plan).status_code == 200, who
        assert browser.get(edit).status_code == write, who
    # The handling worker sees no link to change it; the officer does.
    worker_page = _signed_in(app, clock, team.worker).get(plan).get_data(as_text=True)
    assert "/crisis-plan/edit" not in worker_page
    officer_page = _signed_in(app, clock, team.officer).get(plan).get_data(as_text=True)
    assert "/crisis-plan/edit" in officer_page


@pytest.mark.hazard("H316")
def test_reading_and_changing_in_the_console_is_in_the_access_log(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    browser = _signed_in(app, clock, team.officer)
    browser.get(f"/participants/{team.dylan}/crisis-plan/edit")
    browser.post(f"/participants/{team.dylan}/crisis-plan/edit", _form())
    browser.get(f"/participants/{team.dylan}/crisis-plan")
    _signed_in(app, clock, team.worker).get(f"/participants/{team.dylan}/crisis-plan")
    officer, worker = f"staff:{team.officer.staff_id}", f"staff:{team.worker.staff_id}"
    assert [(e.action, e.actor) for e in _log(app, team.dylan)] == [
        ("read", officer),
        ("change", officer),
        ("read", officer),
        ("read", worker),
    ]


# ---- review flags ----------------------------------------------------------------------------


@pytest.mark.hazard("H313")
@pytest.mark.hazard("H314")
def test_a_plan_past_its_review_date_is_flagged_on_the_page_and_the_officers_now_board(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    _write(app, team.dylan, clock, agreed_on="2026-06-01", review_on="2026-11-25")
    browser = _signed_in(app, clock, team.officer)
    page = _text(browser.get(f"/participants/{team.dylan}/crisis-plan"))
    assert "This plan is past its review date" in page
    board = browser.get("/now/board").get_data(as_text=True)
    assert "Crisis plans to review or write" in board
    assert f'id="now-plan-{team.dylan}"' in board
    assert "R1001: past its review date (2026-11-25)" in board
    # Lee has no plan: on his own officer's board, not on Dylan's officer's.
    assert "R1002" not in board
    other = _signed_in(app, clock, team.other_officer).get("/now/board").get_data(as_text=True)
    assert "R1002: no crisis plan" in other and "R1001" not in other
    # A worker's board has no such section.
    worker = _signed_in(app, clock, team.worker).get("/now/board").get_data(as_text=True)
    assert "Crisis plans to review or write" not in worker
    # Once reviewed, the flag goes.
    _write(app, team.dylan, clock, based_on=1, change_reason="Reviewed", review_on="2027-05-25")
    assert "Crisis plans to review or write" not in browser.get("/now/board").get_data(as_text=True)
    assert "past its review date" not in _text(
        browser.get(f"/participants/{team.dylan}/crisis-plan")
    )


@pytest.mark.hazard("H313")
@pytest.mark.hazard("H314")
@pytest.mark.hazard("H317")
def test_the_handover_names_plans_past_review_and_men_without_one_by_reference_and_initials(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    _write(app, team.dylan, clock, agreed_on="2026-06-01", review_on="2026-11-25")
    svc = services_of(app)
    now = clock.now()
    with svc.db.transaction() as session:
        shown = handover.build(
            session, now - dt.timedelta(hours=24), now, now=now, zone=svc.settings.zone
        )
    assert [(p.label, p.review_on) for p in shown.plans_past_review] == [
        ("R1001 D.P.", dt.date(2026, 11, 25))
    ]
    assert [p.label for p in shown.plans_missing] == ["R1002 L.C."]
    assert {team.dylan, team.lee} <= set(shown.participant_ids)
    words = handover.plain_text(shown, link=None)
    assert "CRISIS PLANS PAST THEIR REVIEW DATE OR MISSING" in words
    assert "- R1001 D.P.: past its review date (25 Nov 2026)." in words
    assert "- R1002 L.C.: no crisis plan." in words
    # Neither names nor anything of the plan itself.
    assert "Dylan" not in words and "Lee Carter" not in words and "curfew" not in words
    page = _text(_signed_in(app, clock, team.manager).get("/handover"))
    assert "R1001 D.P.: past its review date (2026-11-25)." in page
    assert "R1002 L.C.: no crisis plan." in page
