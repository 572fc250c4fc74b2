"""Corrections of a participant's details and his end of service: every change keeps what the
details were, who changed them, when and why, in the same transaction as the change; the
console asks why, the API takes an optional reason; the earlier details are shown to everyone
who may read him; closing him sets the local day he left (or a day given) and reopening clears
it."""

from __future__ import annotations

import datetime as dt
import html as html_text
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from crisisline import participant_corrections, participants
from crisisline.clock import FakeClock
from crisisline.data_protection_models import ParticipantCorrection
from crisisline.errors import Conflict, InvalidInput
from crisisline.models import ParticipantStatus, RiskLevel, StaffRole
from tests.support.app import json_of, services_of
from tests.support.console import Browser, Person, enrolled
from tests.support.tokens import bearer, issue_token

ACCESS_REASON = "Keeping his record accurate"
WHY = "Surname misspelt at referral"
LONDON_MIDNIGHT = dt.datetime(2026, 6, 30, 23, 30, tzinfo=dt.UTC)  # 00:30 on 1 July in London
ROLES = {
    "admin": ([StaffRole.ADMIN], "+447700900141"),
    "duty_manager": ([StaffRole.DUTY_MANAGER], "+447700900142"),
    "clinical_lead": ([StaffRole.CLINICAL_LEAD], "+447700900143"),
    "on_call": ([StaffRole.ON_CALL], "+447700900144"),
    "responsible_officer": ([StaffRole.RESPONSIBLE_OFFICER], "+447700900145"),
}


def _add(app: Flask, clock: FakeClock, officer: int | None = None) -> int:
    with services_of(app).db.transaction() as session:
        return participants.create(
            session,
            participants.NewParticipant(
                "R4001", "Tomas Brenn", ["+447700900621"], officer, RiskLevel.MEDIUM
            ),
            actor="test",
            now=clock.now(),
        ).id


def _person(app: Flask, clock: FakeClock, role: str) -> Person:
    roles, phone = ROLES[role]
    return enrolled(app, f"Staff {role}", phone, roles, now=clock.now())


def _corrections(app: Flask, pid: int) -> list[ParticipantCorrection]:
    with services_of(app).db.transaction() as session:
        return participant_corrections.history(session, pid)


def _text(page: object) -> str:
    return html_text.unescape(page.get_data(as_text=True))  # type: ignore[attr-defined]


def _words(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split()).replace(" ,", ",").replace(" .", ".")


def _browser(app: Flask, clock: FakeClock, who: Person, pid: int) -> Browser:
    browser = Browser(app)
    browser.sign_in(who, clock)
    asked = browser.get(f"/participants/{pid}")
    if asked.status_code == 403:  # outside his own: the break-glass reason first
        given = browser.post(
            "/reason",
            {
                "participant_id": str(pid),
                "reason_choice": "other",
                "reason": ACCESS_REASON,
                "next": f"/participants/{pid}",
            },
        )
        assert given.status_code == 303
    return browser


def _form(**changes: str) -> dict[str, str]:
    form = {
        "reference": "R4001",
        "name": "Tomas Brenn",
        "phones": "07700 900621",
        "responsible_officer_id": "",
        "risk_level": "medium",
        "status": "active",
        "ended_service_on": "",
        "reason": WHY,
    }
    form.update(changes)
    return form


def _earlier(page: str) -> str:
    found = re.search(r'<section aria-labelledby="earlier-heading".*?</section>', page, re.S)
    assert found, page
    return _words(found.group(0))


# ---------------------------------------------------------------------------------------------
# Corrections in the console


@pytest.mark.hazard("H293")
@pytest.mark.parametrize("role", ["admin", "duty_manager", "clinical_lead"])
def test_a_writer_corrects_his_details_with_a_reason_and_the_earlier_ones_are_shown(
    app: Flask, clock: FakeClock, role: str
) -> None:
    pid = _add(app, clock)
    writer = _person(app, clock, role)
    browser = _browser(app, clock, writer, pid)
    assert "have not been changed since he was added" in _earlier(
        _text(browser.get(f"/participants/{pid}"))
    )
    browser.get(f"/participants/{pid}/edit")
    saved = browser.post(
        f"/participants/{pid}/edit", _form(name="Tomas Brennan", risk_level="high")
    )
    assert saved.status_code == 303, _text(saved)
    (correction,) = _corrections(app, pid)
    assert correction.changes == {
        "name": ["Tomas Brenn", "Tomas Brennan"],
        "risk_level": ["medium", "high"],
    }
    assert (correction.reason, correction.actor) == (WHY, f"staff:{writer.staff_id}")
    shown = _earlier(_text(browser.get(f"/participants/{pid}")))
    assert "Thursday 26 November 2026, 12:00, by Staff " + role in shown
    assert f"Why: {WHY}" in shown
    assert "Name: Tomas Brenn changed to Tomas Brennan" in shown.replace("→ ", "")
    assert "Risk level: medium changed to high" in shown.replace("→ ", "")


@pytest.mark.hazard("H293")
@pytest.mark.parametrize(
    ("reason", "message"),
    [("", "Say why, in at least 3 characters."), ("no", "Say why, in at least 3 characters.")],
)
def test_a_change_without_a_reason_is_refused_beside_the_field_and_nothing_changes(
    app: Flask, clock: FakeClock, reason: str, message: str
) -> None:
    pid = _add(app, clock)
    browser = _browser(app, clock, _person(app, clock, "admin"), pid)
    browser.get(f"/participants/{pid}/edit")
    refused = browser.post(f"/participants/{pid}/edit", _form(name="Tomas Brennan", reason=reason))
    assert refused.status_code == 422
    page = _text(refused)
    assert f'<p class="error" id="reason-error">{message}</p>' in page
    assert 'value="Tomas Brennan"' in page  # the form kept as typed
    with services_of(app).db.transaction() as session:
        assert participants.get(session, pid).name == "Tomas Brenn"
    assert _corrections(app, pid) == []


@pytest.mark.hazard("H293")
@pytest.mark.hazard("H295")
def test_the_officer_who_reads_him_sees_his_earlier_details_but_may_not_correct_them(
    app: Flask, clock: FakeClock
) -> None:
    officer = _person(app, clock, "responsible_officer")
    pid = _add(app, clock, officer=officer.staff_id)
    with services_of(app).db.transaction() as session:
        participants.update(
            session,
            pid,
            {"phones": ["+447700900622"]},
            actor="test",
            now=clock.now(),
            zone=services_of(app).settings.zone,
            reason="New phone given at appointment",
        )
    browser = _browser(app, clock, officer, pid)
    shown = _earlier(_text(browser.get(f"/participants/{pid}")))
    assert "Phone numbers: +447700900621" in shown and "+447700900622" in shown
    assert "Why: New phone given at appointment" in shown
    assert browser.get(f"/participants/{pid}/edit").status_code == 403
    assert browser.post(f"/participants/{pid}/edit", _form(name="X Y")).status_code == 403
    assert len(_corrections(app, pid)) == 1


@pytest.mark.hazard("H295")
def test_an_on_call_worker_who_never_handled_him_sees_nothing_of_him(
    app: Flask, clock: FakeClock
) -> None:
    pid = _add(app, clock)
    with services_of(app).db.transaction() as session:
        participants.update(
            session,
            pid,
            {"name": "Tomas Brennan"},
            actor="test",
            now=clock.now(),
            zone=services_of(app).settings.zone,
            reason=WHY,
        )
    browser = Browser(app)
    browser.sign_in(_person(app, clock, "on_call"), clock)
    assert browser.get(f"/participants/{pid}").status_code == 404
    assert browser.post(f"/participants/{pid}/edit", _form(name="X Y")).status_code == 403


# ---------------------------------------------------------------------------------------------
# Corrections through the API


@pytest.mark.hazard("H293")
def test_a_patch_keeps_the_earlier_values_with_its_reason_or_not_given(
    app: Flask, client: FlaskClient, clock: FakeClock, auth: dict[str, str]
) -> None:
    pid = _add(app, clock)
    without = client.patch(f"/api/v1/participants/{pid}", json={"name": "T. Brenn"}, headers=auth)
    assert without.status_code == 200, without.json
    assert "reason" not in json_of(without)
    clock.advance(dt.timedelta(minutes=1))
    given = client.patch(
        f"/api/v1/participants/{pid}",
        json={"name": "Tomas Brennan", "reason": WHY},
        headers=auth,
    )
    assert given.status_code == 200
    newest, first = _corrections(app, pid)
    assert (first.reason, first.changes) == ("not given", {"name": ["Tomas Brenn", "T. Brenn"]})
    assert (newest.reason, newest.changes) == (WHY, {"name": ["T. Brenn", "Tomas Brennan"]})
    assert first.actor == newest.actor == "integration:tests"
    unchanged = client.patch(
        f"/api/v1/participants/{pid}", json={"name": "Tomas Brennan"}, headers=auth
    )
    assert unchanged.status_code == 200
    assert len(_corrections(app, pid)) == 2  # nothing changed: nothing to correct


@pytest.mark.parametrize("reason", ["ab", "x" * 501, "   "])
def test_a_patch_with_a_bad_reason_is_422_naming_it_and_changes_nothing(
    app: Flask, client: FlaskClient, clock: FakeClock, auth: dict[str, str], reason: str
) -> None:
    pid = _add(app, clock)
    answer = client.patch(
        f"/api/v1/participants/{pid}",
        json={"name": "Tomas Brennan", "reason": reason},
        headers=auth,
    )
    assert answer.status_code == 422
    assert "reason" in json_of(answer)["errors"]["json"]
    with services_of(app).db.transaction() as session:
        assert participants.get(session, pid).name == "Tomas Brenn"
    assert _corrections(app, pid) == []


@pytest.mark.hazard("H295")
@pytest.mark.parametrize("role", ["on_call", "responsible_officer"])
def test_a_patch_by_a_role_without_participants_write_is_refused(
    app: Flask, client: FlaskClient, clock: FakeClock, role: str
) -> None:
    who = _person(app, clock, role)
    pid = _add(app, clock, officer=who.staff_id if role == "responsible_officer" else None)
    headers = bearer(issue_token(app, role, staff_id=who.staff_id))
    answer = client.patch(
        f"/api/v1/participants/{pid}", json={"name": "X Y", "reason": WHY}, headers=headers
    )
    assert answer.status_code == 403
    closing = client.post(f"/api/v1/participants/{pid}/close", headers=headers)
    assert closing.status_code == 403
    assert _corrections(app, pid) == []


def test_the_api_participant_shows_the_new_fields_and_keeps_the_old(
    app: Flask, client: FlaskClient, clock: FakeClock, auth: dict[str, str]
) -> None:
    pid = _add(app, clock)
    shown = json_of(client.get(f"/api/v1/participants/{pid}", headers=auth))
    assert set(shown) == {
        "id",
        "reference",
        "name",
        "phones",
        "responsible_officer_id",
        "risk_level",
        "status",
        "created_at",
        "updated_at",
        "ended_service_on",
        "anonymised_at",
        "legal_hold",
    }
    assert (shown["ended_service_on"], shown["anonymised_at"], shown["legal_hold"]) == (
        None,
        None,
        None,
    )


# ---------------------------------------------------------------------------------------------
# End of service


@pytest.mark.hazard("H294")
def test_closing_sets_the_local_day_he_left_and_reopening_clears_it(
    app: Flask, client: FlaskClient, clock: FakeClock, auth: dict[str, str]
) -> None:
    clock.set(LONDON_MIDNIGHT - dt.timedelta(days=10))
    pid = _add(app, clock)
    clock.set(LONDON_MIDNIGHT)
    closed = client.post(f"/api/v1/participants/{pid}/close", headers=auth)
    assert closed.status_code == 200
    # 23:30 UTC on 30 June is 00:30 on 1 July in London: the day he left is the local one.
    assert json_of(closed)["ended_service_on"] == "2026-07-01"
    reopened = client.patch(f"/api/v1/participants/{pid}", json={"status": "active"}, headers=auth)
    assert json_of(reopened)["ended_service_on"] is None
    again = client.patch(
        f"/api/v1/participants/{pid}",
        json={"status": "closed", "ended_service_on": "2026-06-25", "reason": "Left last week"},
        headers=auth,
    )
    assert json_of(again)["ended_service_on"] == "2026-06-25"
    kept = client.patch(f"/api/v1/participants/{pid}", json={"name": "Tomas Brennan"}, headers=auth)
    assert json_of(kept)["ended_service_on"] == "2026-06-25"  # a closed man keeps his day
    newest = _corrections(app, pid)[1]
    assert newest.changes == {
        "status": ["active", "closed"],
        "ended_service_on": [None, "2026-06-25"],
    }
    assert newest.reason == "Left last week"


@pytest.mark.hazard("H294")
def test_a_participant_added_already_closed_left_the_service_that_local_day(
    client: FlaskClient, clock: FakeClock, auth: dict[str, str]
) -> None:
    clock.set(LONDON_MIDNIGHT)
    added = client.post(
        "/api/v1/participants",
        json={
            "reference": "R4009",
            "name": "Ivo Marsh",
            "phones": ["07700 900628"],
            "risk_level": "low",
            "status": "closed",
        },
        headers=auth,
    )
    assert added.status_code == 201, added.json
    assert json_of(added)["ended_service_on"] == "2026-07-01"
    assert json_of(added)["legal_hold"] is None


@pytest.mark.hazard("H294")
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"status": "closed", "ended_service_on": "2026-07-02"}, "cannot be after today"),
        ({"status": "closed", "ended_service_on": "2026-06-19"}, "before he was added"),
        ({"ended_service_on": "2026-06-25"}, "Only a closed participant"),
        ({"status": "closed", "ended_service_on": "1 July"}, "Not a valid date"),
    ],
)
def test_a_wrong_end_of_service_day_is_refused_naming_the_field(
    app: Flask,
    client: FlaskClient,
    clock: FakeClock,
    auth: dict[str, str],
    body: dict[str, str],
    message: str,
) -> None:
    clock.set(LONDON_MIDNIGHT - dt.timedelta(days=10))  # added on 21 June, local
    pid = _add(app, clock)
    clock.set(LONDON_MIDNIGHT)
    answer = client.patch(f"/api/v1/participants/{pid}", json=body, headers=auth)
    assert answer.status_code == 422, answer.json
    assert message in " ".join(json_of(answer)["errors"]["json"]["ended_service_on"])
    with services_of(app).db.transaction() as session:
        found = participants.get(session, pid)
        assert (found.status, found.ended_service_on) == (ParticipantStatus.ACTIVE, None)
    with services_of(app).db.transaction() as session, pytest.raises(InvalidInput) as refused:
        participants.close(
            session,
            pid,
            actor="test",
            now=clock.now(),
            zone=services_of(app).settings.zone,
            ended_on=dt.date(2026, 7, 2),
        )
    assert refused.value.field == "ended_service_on"


@pytest.mark.hazard("H294")
def test_the_console_closes_him_from_the_day_given_and_shows_it(
    app: Flask, clock: FakeClock
) -> None:
    clock.set(LONDON_MIDNIGHT - dt.timedelta(days=10))
    pid = _add(app, clock)
    clock.set(LONDON_MIDNIGHT)
    browser = _browser(app, clock, _person(app, clock, "duty_manager"), pid)
    browser.get(f"/participants/{pid}/edit")
    asked = browser.post(f"/participants/{pid}/deactivate")
    assert 'name="ended_service_on" value="2026-07-01"' in _text(asked)
    future = browser.post(
        f"/participants/{pid}/deactivate", {"confirm": "yes", "ended_service_on": "2026-07-05"}
    )
    assert future.status_code == 422
    assert "cannot be after today (01/07/2026)" in _text(future)
    done = browser.post(
        f"/participants/{pid}/deactivate", {"confirm": "yes", "ended_service_on": "2026-06-28"}
    )
    assert done.status_code == 303
    page = _words(_text(browser.get(f"/participants/{pid}")))
    assert "Left the service on Sunday 28 June 2026" in page
    # Made active again through the edit form (with its reason): the day is cleared.
    browser.get(f"/participants/{pid}/edit")
    reopened = browser.post(
        f"/participants/{pid}/edit", _form(status="active", reason="Returned to the service")
    )
    assert reopened.status_code == 303
    with services_of(app).db.transaction() as session:
        found = participants.get(session, pid)
        assert (found.status, found.ended_service_on) == (ParticipantStatus.ACTIVE, None)


@pytest.mark.hazard("H293")
def test_a_correction_and_its_change_are_one_transaction(app: Flask, clock: FakeClock) -> None:
    """A change refused part-way (a number held by another man) leaves no correction behind."""
    pid = _add(app, clock)
    with services_of(app).db.transaction() as session:
        participants.create(
            session,
            participants.NewParticipant(
                "R4002", "Owen Lusk", ["+447700900629"], None, RiskLevel.LOW
            ),
            actor="test",
            now=clock.now(),
        )
    with pytest.raises(Conflict), services_of(app).db.transaction() as session:
        participants.update(
            session,
            pid,
            {"name": "Tomas Brennan", "phones": ["+447700900629"]},
            actor="test",
            now=clock.now(),
            zone=services_of(app).settings.zone,
            reason=WHY,
        )
    with services_of(app).db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ParticipantCorrection)) == 0
        assert participants.get(session, pid).name == "Tomas Brenn"
