"""The follow-ups pages of the console: the officer's open list with a one-line "done" form,
errors shown again beside the field, done once, tabs for done, withdrawn and overdue; who may
see and mark which; the duty manager's "Follow-ups overdue" on the Now board; the access log."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import select

from crisisline.clock import FakeClock
from crisisline.models import RecordAccess
from crisisline.note_models import FollowUp, FollowUpStatus
from tests.support.app import services_of
from tests.support.console import Browser
from tests.support.follow_ups import Team, ask, make_team, signed_in, write_note

LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def team(app: Flask) -> Team:
    return make_team(app)


def _text(page: object) -> str:
    return html_lib.unescape(page.get_data(as_text=True))  # type: ignore[attr-defined]


def _cards(body: str) -> list[str]:
    return re.findall(r'<li class="follow-up-card[^"]*" id="follow-up-(\d+)"', body)


def _follow_up(app: Flask, contact_id: int) -> FollowUp:
    with services_of(app).db.transaction() as session:
        row = session.scalars(select(FollowUp).where(FollowUp.contact_id == contact_id)).one()
        session.expunge(row)
        return row


def _log(app: Flask, staff_id: int) -> list[tuple[str, int | None, int | None]]:
    with services_of(app).db.transaction() as session:
        return [
            (e.action, e.record_id, e.participant_id)
            for e in session.scalars(
                select(RecordAccess)
                .where(
                    RecordAccess.record_type == "follow_up",
                    RecordAccess.actor == f"staff:{staff_id}",
                )
                .order_by(RecordAccess.id)
            )
        ]


def test_the_officer_sees_his_open_follow_ups_and_marks_one_done_with_a_line(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    first = _follow_up(app, ask(app, team, team.mine, clock.now(), what="Ring him about work"))
    clock.advance(dt.timedelta(hours=1))
    second = _follow_up(app, ask(app, team, team.mine_too, clock.now(), what="Visit on Friday"))
    ask(app, team, team.his, clock.now())
    olive = signed_in(app, clock, team.officer)

    page = olive.get("/follow-ups")
    assert page.status_code == 200
    body = _text(page)
    assert 'href="/follow-ups" aria-current="page">Follow-ups</a>' in body
    # Open ones, oldest first; Owen's participant is not his.
    assert _cards(body) == [str(first.id), str(second.id)]
    assert "R2001 Adam Reed" in body and "R2002" not in body
    assert "Ring him about work" in body and "by Will Avery" in body
    assert "Done: what I did" in body
    assert f'action="/follow-ups/{first.id}/done"' in body

    done = olive.post(
        f"/follow-ups/{first.id}/done",
        {"what_done": "Rang him; new job Monday.", "next": "/follow-ups"},
    )
    assert done.status_code == 303 and done.headers["Location"] == "/follow-ups"
    after = _text(olive.get("/follow-ups"))
    assert "Marked done" in after
    assert _cards(after) == [str(second.id)]
    done_tab = _text(olive.get("/follow-ups?status=done"))
    assert _cards(done_tab) == [str(first.id)]
    assert "by Olive Marsh:" in done_tab and "Rang him; new job Monday." in done_tab
    assert "Done: what I did" not in done_tab
    assert (
        "change",
        first.id,
        team.mine,
    ) in _log(app, team.officer.staff_id)


def test_a_line_that_cannot_be_taken_is_shown_again_beside_the_field(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    follow_up = _follow_up(app, ask(app, team, team.mine, clock.now()))
    olive = signed_in(app, clock, team.officer)
    olive.get("/follow-ups")
    for typed, message in (("   ", "Write one line of what you did."), ("x" * 501, "at most 500")):
        page = olive.post(
            f"/follow-ups/{follow_up.id}/done", {"what_done": typed, "next": "/follow-ups"}
        )
        assert page.status_code == 422
        body = _text(page)
        assert message in body
        assert f'id="what-done-{follow_up.id}-error"' in body
        assert 'aria-invalid="true"' in body
        assert f'value="{typed[:500]}' in body
    assert _follow_up(app, follow_up.contact_id).status == FollowUpStatus.OPEN


def test_marking_it_twice_says_who_did_it_and_changes_nothing(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    follow_up = _follow_up(app, ask(app, team, team.mine, clock.now()))
    olive = signed_in(app, clock, team.officer)
    olive.get("/follow-ups")
    olive.post(f"/follow-ups/{follow_up.id}/done", {"what_done": "Rang him."})
    again = olive.post(f"/follow-ups/{follow_up.id}/done", {"what_done": "Visited him."})
    assert again.status_code == 303
    assert "Nothing changed: Olive Marsh already marked it done" in _text(olive.get("/follow-ups"))
    assert _follow_up(app, follow_up.contact_id).done_what == "Rang him."


def test_a_withdrawn_one_is_in_its_own_tab_without_a_form(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    contact_id = ask(app, team, team.mine, clock.now())
    write_note(app, contact_id, team.worker, clock.now(), follow_up=None, reason="Not needed")
    olive = signed_in(app, clock, team.officer)
    assert _cards(_text(olive.get("/follow-ups"))) == []
    withdrawn = _text(olive.get("/follow-ups?status=withdrawn"))
    assert _cards(withdrawn) == [str(_follow_up(app, contact_id).id)]
    assert "no longer asks for it" in withdrawn and "Done: what I did" not in withdrawn


def test_another_officer_gets_nothing_and_not_found_and_the_worker_is_refused(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    follow_up = _follow_up(app, ask(app, team, team.mine, clock.now()))
    owen = signed_in(app, clock, team.other_officer)
    assert _cards(_text(owen.get("/follow-ups"))) == []
    refused = owen.post(f"/follow-ups/{follow_up.id}/done", {"what_done": "Rang him."})
    assert refused.status_code == 404
    assert _log(app, team.other_officer.staff_id) == [("refused", follow_up.id, team.mine)]
    will = signed_in(app, clock, team.worker)
    assert will.get("/follow-ups").status_code == 403
    assert "Follow-ups</a>" not in _text(will.get("/"))
    assert will.post(f"/follow-ups/{follow_up.id}/done", {"what_done": "x"}).status_code == 403
    assert _follow_up(app, follow_up.contact_id).status == FollowUpStatus.OPEN


def test_the_duty_manager_sees_all_including_unassigned_and_marks_one_with_a_reason(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    mine = _follow_up(app, ask(app, team, team.mine, clock.now()))
    nobodys = _follow_up(app, ask(app, team, team.nobodys, clock.now()))
    dana = signed_in(app, clock, team.manager)
    body = _text(dana.get("/follow-ups"))
    assert _cards(body) == [str(mine.id), str(nobodys.id)]
    assert "Unassigned" in body and "Olive Marsh" in body
    asked = dana.post(
        f"/follow-ups/{mine.id}/done", {"what_done": "Rang him.", "next": "/follow-ups"}
    )
    assert asked.status_code == 403 and "Why do you need this record?" in _text(asked)
    given = dana.post(
        "/reason",
        {"participant_id": str(team.mine), "reason": "Olive is on leave", "next": "/follow-ups"},
    )
    assert given.status_code == 303
    dana.get("/follow-ups")
    done = dana.post(
        f"/follow-ups/{mine.id}/done", {"what_done": "Rang him.", "next": "/follow-ups"}
    )
    assert done.status_code == 303
    kept = _follow_up(app, mine.contact_id)
    assert (kept.status, kept.done_by) == (FollowUpStatus.DONE, f"staff:{team.manager.staff_id}")


def test_the_overdue_tab_and_the_duty_managers_now_board(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    # Asked on Christmas Eve at 10:00: overdue from Wednesday 30 December at 10:00.
    clock.set(dt.datetime(2026, 12, 24, 9, 40, tzinfo=LONDON).astimezone(dt.UTC))
    late = _follow_up(app, ask(app, team, team.mine, clock.now()))
    clock.set(dt.datetime(2026, 12, 30, 9, 0, tzinfo=LONDON).astimezone(dt.UTC))
    fresh = _follow_up(app, ask(app, team, team.nobodys, clock.now()))
    dana = signed_in(app, clock, team.manager)
    assert "Follow-ups overdue" in _text(dana.get("/"))
    assert "None: every follow-up asked is done" in _text(dana.get("/"))
    assert _cards(_text(dana.get("/follow-ups?status=overdue"))) == []

    clock.set(dt.datetime(2026, 12, 30, 10, 30, tzinfo=LONDON).astimezone(dt.UTC))
    dana = signed_in(app, clock, team.manager)  # signed out by the idle limit meanwhile
    board = _text(dana.get("/now/board"))
    assert "1 open more than two working days." in board
    assert f'id="follow-up-{late.id}"' in board and f'id="follow-up-{fresh.id}"' not in board
    assert "R2001, for Olive Marsh" in board
    assert 'href="/follow-ups?status=overdue"' in board
    # The board showed R2001's follow-up: in the access log, once for a refreshing board.
    dana.get("/now/board")
    assert _log(app, team.manager.staff_id).count(("read", None, team.mine)) == 1
    overdue = _text(dana.get("/follow-ups?status=overdue"))
    assert _cards(overdue) == [str(late.id)]
    assert "Overdue</span>" in overdue and "more than two working days have passed" in overdue

    # The officer's board has no such section: it is the duty managers'.
    olive = signed_in(app, clock, team.officer)
    assert "Follow-ups overdue" not in _text(olive.get("/"))
    assert _cards(_text(olive.get("/follow-ups?status=overdue"))) == [str(late.id)]


def test_a_tab_or_page_that_is_not_one_is_answered_422(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    olive = signed_in(app, clock, team.officer)
    assert olive.get("/follow-ups?status=late").status_code == 422
    assert "Choose one of the tabs" in _text(olive.get("/follow-ups?status=late"))
    assert olive.get("/follow-ups?page=0").status_code == 422


def test_a_form_without_its_csrf_token_changes_nothing(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    follow_up = _follow_up(app, ask(app, team, team.mine, clock.now()))
    olive: Browser = signed_in(app, clock, team.officer)
    olive.get("/follow-ups")
    answer = olive.post(f"/follow-ups/{follow_up.id}/done", {"what_done": "Rang him."}, csrf=False)
    assert answer.status_code == 400
    assert _follow_up(app, follow_up.contact_id).status == FollowUpStatus.OPEN
