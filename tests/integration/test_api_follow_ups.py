"""/api/v1/follow-ups: listed within the reader's reach with filters and pages, one read, and
marked done once (422 naming the field, 409 when done or withdrawn, 404 outside the reach,
403 when asked of another officer); every read and change in the access log."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from crisisline import participants
from crisisline.clock import FakeClock
from crisisline.models import RecordAccess
from crisisline.note_models import FollowUp
from crisisline.permissions import Permission
from tests.support.app import json_list_of, json_of, services_of
from tests.support.follow_ups import Member, Team, ask, make_team, write_note
from tests.support.people import integration
from tests.support.tokens import bearer, issue_token

LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def team(app: Flask) -> Team:
    return make_team(app)


def _headers(app: Flask, member: Member) -> dict[str, str]:
    return bearer(issue_token(app, f"{member.name}'s token", staff_id=member.staff_id))


def _id(app: Flask, contact_id: int) -> int:
    with services_of(app).db.transaction() as session:
        found = session.scalar(select(FollowUp.id).where(FollowUp.contact_id == contact_id))
        assert found is not None
        return found


def _accesses(app: Flask) -> list[tuple[str, str, int | None, int | None]]:
    with services_of(app).db.transaction() as session:
        return [
            (e.actor, e.action, e.record_id, e.participant_id)
            for e in session.scalars(
                select(RecordAccess)
                .where(RecordAccess.record_type == "follow_up")
                .order_by(RecordAccess.id)
            )
        ]


def test_the_officer_lists_his_reads_one_and_marks_it_done(
    app: Flask, client: FlaskClient, clock: FakeClock, team: Team
) -> None:
    follow_up_id = _id(app, ask(app, team, team.mine, clock.now(), what="Ring him"))
    ask(app, team, team.his, clock.now())
    officer = _headers(app, team.officer)

    listed = client.get("/api/v1/follow-ups?status=open", headers=officer)
    assert listed.status_code == 200
    (row,) = json_list_of(listed)
    assert row["id"] == follow_up_id
    assert row["participant_reference"] == "R2001"
    assert (row["officer"], row["asked_by"], row["what"]) == (
        "Olive Marsh",
        "Will Avery",
        "Ring him",
    )
    assert (row["status"], row["overdue"], row["unassigned"]) == ("open", False, False)
    assert row["contact"] == f"/api/v1/contacts/{row['contact_id']}"

    one = client.get(f"/api/v1/follow-ups/{follow_up_id}", headers=officer)
    assert json_of(one)["id"] == follow_up_id

    done = client.post(
        f"/api/v1/follow-ups/{follow_up_id}/done",
        json={"what_done": "Rang him; he is settled."},
        headers=officer,
    )
    assert done.status_code == 200, done.get_data(as_text=True)
    body = json_of(done)
    assert (body["status"], body["what_done"], body["done_by"]) == (
        "done",
        "Rang him; he is settled.",
        "Olive Marsh",
    )
    assert json_list_of(client.get("/api/v1/follow-ups?status=open", headers=officer)) == []
    label = f"staff:{team.officer.staff_id}"
    assert _accesses(app) == [
        (label, "read", None, team.mine),
        (label, "read", follow_up_id, team.mine),
        (label, "change", follow_up_id, team.mine),
    ]


def test_what_was_done_is_checked_and_named_in_a_422(
    app: Flask, client: FlaskClient, clock: FakeClock, team: Team
) -> None:
    follow_up_id = _id(app, ask(app, team, team.mine, clock.now()))
    officer = _headers(app, team.officer)
    path = f"/api/v1/follow-ups/{follow_up_id}/done"
    for body in ({}, {"what_done": ""}, {"what_done": "a\nb"}, {"what_done": "x" * 501}):
        answer = client.post(path, json=body, headers=officer)
        assert answer.status_code == 422, body
        assert "what_done" in json.dumps(json_of(answer)["errors"]), body
    assert (
        json_of(client.get(f"/api/v1/follow-ups/{follow_up_id}", headers=officer))["status"]
        == "open"
    )


def test_done_twice_or_withdrawn_is_a_409_and_keeps_what_was_written(
    app: Flask, client: FlaskClient, clock: FakeClock, team: Team
) -> None:
    follow_up_id = _id(app, ask(app, team, team.mine, clock.now()))
    officer = _headers(app, team.officer)
    path = f"/api/v1/follow-ups/{follow_up_id}/done"
    assert client.post(path, json={"what_done": "Rang him."}, headers=officer).status_code == 200
    again = client.post(path, json={"what_done": "Visited him."}, headers=officer)
    assert again.status_code == 409
    assert "already marked it done" in json_of(again)["message"]
    assert (
        json_of(client.get(f"/api/v1/follow-ups/{follow_up_id}", headers=officer))["what_done"]
        == "Rang him."
    )

    contact_id = ask(app, team, team.mine_too, clock.now())
    write_note(app, contact_id, team.worker, clock.now(), follow_up=None, reason="Not needed")
    withdrawn = client.post(
        f"/api/v1/follow-ups/{_id(app, contact_id)}/done",
        json={"what_done": "Rang him."},
        headers=officer,
    )
    assert withdrawn.status_code == 409
    assert "withdrawn" in json_of(withdrawn)["message"]


def test_outside_the_reach_is_404_and_logged_and_the_worker_is_refused(
    app: Flask, client: FlaskClient, clock: FakeClock, team: Team
) -> None:
    follow_up_id = _id(app, ask(app, team, team.mine, clock.now()))
    other = _headers(app, team.other_officer)
    assert json_list_of(client.get("/api/v1/follow-ups", headers=other)) == []
    assert client.get(f"/api/v1/follow-ups/{follow_up_id}", headers=other).status_code == 404
    marked = client.post(
        f"/api/v1/follow-ups/{follow_up_id}/done", json={"what_done": "x"}, headers=other
    )
    assert marked.status_code == 404
    assert json_of(marked)["message"] == f"There is no follow-up with id {follow_up_id}."
    assert client.get("/api/v1/follow-ups/999999", headers=other).status_code == 404
    refused = [a for a in _accesses(app) if a[1] == "refused"]
    assert (
        refused
        == [(f"staff:{team.other_officer.staff_id}", "refused", follow_up_id, team.mine)] * 2
    )
    worker = _headers(app, team.worker)
    assert client.get("/api/v1/follow-ups", headers=worker).status_code == 403
    assert (
        client.post(
            f"/api/v1/follow-ups/{follow_up_id}/done", json={"what_done": "x"}, headers=worker
        ).status_code
        == 403
    )


def test_asked_of_another_officer_is_a_403_naming_him(
    app: Flask, client: FlaskClient, clock: FakeClock, team: Team
) -> None:
    follow_up_id = _id(app, ask(app, team, team.mine, clock.now()))
    with services_of(app).db.transaction() as session:
        participants.update(
            session,
            team.mine,
            {"responsible_officer_id": team.other_officer.staff_id},
            actor="tests",
            now=clock.now(),
            zone=ZoneInfo("Europe/London"),
        )
    answer = client.post(
        f"/api/v1/follow-ups/{follow_up_id}/done",
        json={"what_done": "Rang him."},
        headers=_headers(app, team.other_officer),
    )
    assert answer.status_code == 403
    assert "Olive Marsh" in json_of(answer)["message"]


def test_a_duty_manager_reads_all_and_marks_one_done_giving_a_reason(
    app: Flask, client: FlaskClient, clock: FakeClock, team: Team
) -> None:
    follow_up_id = _id(app, ask(app, team, team.mine, clock.now()))
    ask(app, team, team.nobodys, clock.now())
    manager = _headers(app, team.manager)
    rows = json_list_of(client.get("/api/v1/follow-ups?order=oldest", headers=manager))
    assert [r["participant_reference"] for r in rows] == ["R2001", "R2004"]
    assert [r["unassigned"] for r in rows] == [False, True]
    path = f"/api/v1/follow-ups/{follow_up_id}/done"
    without = client.post(path, json={"what_done": "Rang him."}, headers=manager)
    assert without.status_code == 403 and json_of(without)["header"] == "X-Access-Reason"
    with_reason = client.post(
        path,
        json={"what_done": "Rang him."},
        headers={**manager, "X-Access-Reason": "Covering for Olive"},
    )
    assert with_reason.status_code == 200
    assert json_of(with_reason)["done_by"] == "Dana Fenn"


def test_filters_overdue_participant_and_pages(
    app: Flask, client: FlaskClient, clock: FakeClock, team: Team
) -> None:
    # Asked Monday 7 December 2026 10:00; a week later both are overdue, one is done.
    clock.set(dt.datetime(2026, 12, 7, 10, tzinfo=LONDON).astimezone(dt.UTC))
    old_mine = _id(app, ask(app, team, team.mine, clock.now()))
    old_his = _id(app, ask(app, team, team.his, clock.now()))
    clock.advance(dt.timedelta(days=7))
    new_mine = _id(app, ask(app, team, team.mine, clock.now()))
    token = integration(app, "case-system", [Permission.FOLLOW_UPS_READ])

    def ids(query: str) -> list[int]:
        answer = client.get(f"/api/v1/follow-ups{query}", headers=token)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return [r["id"] for r in json_list_of(answer)]

    assert ids("") == [new_mine, old_his, old_mine]
    assert ids("?overdue=true") == [old_his, old_mine]
    assert ids("?overdue=false") == [new_mine]
    assert ids(f"?participant_id={team.mine}&order=oldest") == [old_mine, new_mine]
    assert ids("?status=done") == []
    paged = client.get("/api/v1/follow-ups?page=2&page_size=2", headers=token)
    assert [r["id"] for r in json_list_of(paged)] == [old_mine]
    assert json.loads(paged.headers["X-Pagination"])["total"] == 3
    for bad in ("?status=late", "?overdue=perhaps", "?order=sideways", "?officer=3"):
        answer = client.get(f"/api/v1/follow-ups{bad}", headers=token)
        assert answer.status_code == 422, bad
    # An integration reading follow-ups may not mark them done without the write scope.
    assert (
        client.post(
            f"/api/v1/follow-ups/{old_mine}/done", json={"what_done": "x"}, headers=token
        ).status_code
        == 403
    )
