"""The escalation pages for each role: an officer sees his caseload's escalations and is refused
(404, logged) another's and those about nobody; a duty manager sees them all; on-call workers
and administrators are refused the list. An escalation's page says where it is in its policy,
who was told and when, and offers take and close to whoever alert_desk says may."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from markupsafe import escape
from sqlalchemy import select

from crisisline import escalation_engine, policy_words
from crisisline.clock import FakeClock
from crisisline.escalation_models import EscalationRecord
from crisisline.models import StaffRole
from tests.support.alert_desk import ADMIN_PHONE, NOON, Desk, listed, open_desk, text
from tests.support.console import Browser, enrolled
from tests.support.risk_alerts import MANAGER, OFFICER, OFFICER_B, PRIMARY


@pytest.fixture
def desk(app: Flask, clock: FakeClock) -> Desk:
    return open_desk(app, clock)


@pytest.fixture
def about_nobody(desk: Desk) -> int:
    """An escalation about no participant (as a rota gap opens one), on the risk-alert policy."""
    svc = desk.service.svc
    with svc.db.transaction() as session:
        return escalation_engine.open_escalation(
            session,
            policy_name="risk-alert",
            subject_type="rota_gap",
            subject_id=None,
            participant_id=None,
            summary="Nobody on the primary rota tonight from 20:00",
            now=desk.clock.now(),
            reach=svc.reach,
        ).id


def _escalation_of(desk: Desk, alert_id: int) -> int:
    escalation_id = desk.alert(alert_id).escalation_id
    assert escalation_id is not None
    return escalation_id


def test_an_officer_lists_his_caseloads_escalations_only(desk: Desk, about_nobody: int) -> None:
    nadia = desk.sign_in(OFFICER, "Nadia Whitlock")
    page = nadia.get("/escalations")
    assert page.status_code == 200
    html = text(page)
    assert listed(html) == {"R2001", "R2002"}
    assert f'href="/escalations/{about_nobody}"' not in html
    assert 'href="/escalations" aria-current="page">Escalations</a>' in html
    assert sorted(desk.log(OFFICER)) == sorted(
        [
            ("read", "escalation", None, desk.participant_of(desk.urgent)),
            ("read", "escalation", None, desk.participant_of(desk.relapse)),
        ]
    )


def test_an_officer_opens_his_alerts_escalation_and_may_take_it(desk: Desk) -> None:
    escalation_id = _escalation_of(desk, desk.relapse)
    nadia = desk.sign_in(OFFICER, "Nadia Whitlock")
    page = nadia.get(f"/escalations/{escalation_id}")
    assert page.status_code == 200
    html = text(page)
    assert "Risk alert" in html and "R2001" in html
    assert "Step</dt><dd>1 of 1" in html
    assert "Texted Nadia Whitlock (step 1)" in html
    assert f'href="/alerts/{desk.relapse}"' in html
    # She was texted a reply code for it: take and close, coming back to this page.
    assert f'action="/escalations/{escalation_id}/take"' in html
    assert f'action="/escalations/{escalation_id}/close"' in html
    assert f'name="next" value="/escalations/{escalation_id}"' in html
    assert desk.log(OFFICER) == [
        ("read", "escalation", escalation_id, desk.participant_of(desk.relapse))
    ]
    taken = nadia.post(
        f"/escalations/{escalation_id}/take", {"next": f"/escalations/{escalation_id}"}
    )
    assert taken.status_code == 303 and taken.headers["Location"] == f"/escalations/{escalation_id}"
    after = text(nadia.get(f"/escalations/{escalation_id}"))
    assert "You took it:" in after and "Taken by Nadia Whitlock" in after
    assert f'action="/escalations/{escalation_id}/take"' not in after
    # The alert is acknowledged with it, as when the code is texted.
    assert "alert-status-acknowledged" in text(nadia.get(f"/alerts/{desk.relapse}"))
    assert desk.alert(desk.relapse).acknowledged_by == "Nadia Whitlock"


def test_an_officer_of_another_caseload_is_refused_the_escalation(
    desk: Desk, about_nobody: int
) -> None:
    escalation_id = _escalation_of(desk, desk.relapse)
    owen = desk.sign_in(OFFICER_B, "Owen Barraclough")
    html = text(owen.get("/escalations"))
    assert listed(html) == {"R2005"}
    for path in (f"/escalations/{escalation_id}", f"/escalations/{about_nobody}"):
        answer = owen.get(path)
        assert answer.status_code == 404
        assert "There is nothing at this address." in text(answer)
    refusals = [entry for entry in desk.log(OFFICER_B) if entry[0] == "refused"]
    assert refusals == [
        ("refused", "escalation", escalation_id, desk.participant_of(desk.relapse)),
        ("refused", "escalation", about_nobody, None),
    ]
    assert owen.get("/escalations/999999").status_code == 404


def test_a_duty_manager_sees_every_escalation_and_those_about_nobody(
    desk: Desk, about_nobody: int
) -> None:
    priya = desk.sign_in(MANAGER, "Priya Natarajan")
    html = text(priya.get("/escalations"))
    assert listed(html) == {"R2001", "R2002", "R2003", "R2005"}
    assert f'href="/escalations/{about_nobody}"' in html
    assert "nobody (about the line)" in html
    page = priya.get(f"/escalations/{about_nobody}")
    assert page.status_code == 200
    body = text(page)
    assert "nobody: it is about the line itself" in body
    assert "Texted Priya Natarajan (step 1)" in body
    # A duty manager may take or close any escalation, by name.
    assert f'action="/escalations/{about_nobody}/take"' in body
    # Another's participant: the reason first.
    other = _escalation_of(desk, desk.other)
    asked = priya.get(f"/escalations/{other}")
    assert asked.status_code == 403 and "Why do you need this record?" in text(asked)
    priya.post(
        "/reason",
        {
            "participant_id": str(desk.participant_of(desk.other)),
            "next": f"/escalations/{other}",
            "reason_choice": "Duty manager review of a contact or alert",
        },
    )
    assert priya.get(f"/escalations/{other}").status_code == 200
    # The list narrowed to an officer never shows those about nobody.
    narrowed = text(priya.get(f"/escalations?officer={desk.service.ids[OFFICER_B]}"))
    assert listed(narrowed) == {"R2005"} and f"/escalations/{about_nobody}" not in narrowed


def test_the_escalation_filters_narrow_the_list(desk: Desk, about_nobody: int) -> None:
    svc = desk.service.svc
    nadia = desk.sign_in(OFFICER, "Nadia Whitlock")
    nadia.get(f"/alerts/{desk.relapse}")
    nadia.post(f"/alerts/{desk.relapse}/resolve", {"note": "Spoke to him."})
    with svc.db.transaction() as session:
        rows = session.execute(select(EscalationRecord.id, EscalationRecord.status)).all()
    closed = [escalation_id for escalation_id, status in rows if status == "closed"]
    assert closed == [_escalation_of(desk, desk.relapse)]
    assert listed(text(nadia.get("/escalations?status=closed"))) == {"R2001"}
    assert listed(text(nadia.get("/escalations?status=open"))) == {"R2002"}
    assert listed(text(nadia.get("/escalations?participant=R2002"))) == {"R2002"}
    assert listed(text(nadia.get("/escalations?from=2026-11-24&to=2026-11-24"))) == {"R2002"}
    assert nadia.get("/escalations?status=resolved").status_code == 422  # an alert's word
    assert nadia.get("/escalations?participant=R2005").status_code == 422
    priya = desk.sign_in(MANAGER, "Priya Natarajan")
    today = text(priya.get("/escalations?from=2026-11-26"))
    assert f'href="/escalations/{about_nobody}"' in today and listed(today) == set()


def test_on_call_workers_and_administrators_are_refused_the_escalations(desk: Desk) -> None:
    escalation_id = _escalation_of(desk, desk.relapse)
    amira = desk.sign_in(PRIMARY, "Amira Okafor")
    assert amira.get("/escalations").status_code == 403
    assert amira.get(f"/escalations/{escalation_id}").status_code == 403
    admin = enrolled(desk.app, "Ruth Calloway", ADMIN_PHONE, [StaffRole.ADMIN], now=NOON)
    browser = Browser(desk.app)
    browser.sign_in(admin, desk.clock)
    assert browser.get("/escalations").status_code == 403
    assert browser.get(f"/escalations/{escalation_id}").status_code == 403


def test_the_page_says_when_the_next_step_is_due(desk: Desk) -> None:
    # The urgent alert runs the whole risk-alert chain: its next step has a time.
    escalation_id = _escalation_of(desk, desk.urgent)
    with desk.service.svc.db.transaction() as session:
        record = session.get_one(EscalationRecord, escalation_id)
        due = record.next_due_at
        steps = len(record.policy["steps"])
    assert due is not None
    priya = desk.sign_in(MANAGER, "Priya Natarajan")
    priya.post(
        "/reason",
        {
            "participant_id": str(desk.participant_of(desk.urgent)),
            "next": "/",
            "reason_choice": "Clinical review",
        },
    )
    html = text(priya.get(f"/escalations/{escalation_id}"))
    local = due.astimezone(desk.service.svc.settings.zone)
    assert f"Next step</dt><dd>{local:%a} {local.day} {local:%b, %H:%M}" in html
    assert f"1 of {steps}" in html
    assert dt.timedelta(0) < due - dt.datetime(2026, 11, 24, 22, 0, tzinfo=dt.UTC)


def test_the_page_says_in_words_what_the_escalation_does_from_its_own_copy(desk: Desk) -> None:
    """The sentences come from the copy of the policy the escalation keeps (what it follows),
    naming the rota or person of each step; a copy that cannot be read shows none, and the
    page still opens."""
    escalation_id = _escalation_of(desk, desk.urgent)
    with desk.service.svc.db.transaction() as session:
        record = session.get_one(EscalationRecord, escalation_id)
        expected = policy_words.copy_in_words(session, record.policy_name, record.policy)
        policy_name = record.policy_name
    assert expected and expected[0].startswith("First, ")
    assert any("If nobody takes it within" in sentence for sentence in expected)
    priya = desk.sign_in(MANAGER, "Priya Natarajan")
    priya.post(
        "/reason",
        {
            "participant_id": str(desk.participant_of(desk.urgent)),
            "next": "/",
            "reason_choice": "Clinical review",
        },
    )
    html = text(priya.get(f"/escalations/{escalation_id}"))
    assert f"What it does ({policy_name})" in html
    for sentence in expected:
        assert f"<li>{escape(sentence)}</li>" in html
    with desk.service.svc.db.transaction() as session:
        record = session.get_one(EscalationRecord, escalation_id)
        record.policy = {"steps": "not a list"}
    html = text(priya.get(f"/escalations/{escalation_id}"))
    assert "What it does" not in html
    assert "Next step" in html
