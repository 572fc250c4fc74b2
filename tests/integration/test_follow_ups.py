"""Follow-ups (crisisline.follow_ups) on the database: asked by a note, listed for the officer,
marked done once with a line of what was done, withdrawn and asked again by corrections, who
may see and mark which, and when an open one is overdue (two working days in England and Wales,
weekends and bank holidays not counted)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import select

from crisisline import follow_ups, participants, record_access
from crisisline.clock import FakeClock
from crisisline.errors import Conflict, InvalidInput, NotFound
from crisisline.models import AuditEntry, RecordAccess
from crisisline.note_models import FollowUp, FollowUpStatus
from crisisline.permissions import Actor
from tests.support.app import services_of
from tests.support.follow_ups import Team, ask, make_team, write_note

LONDON = ZoneInfo("Europe/London")
UTC = dt.UTC


def _local(year: int, month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=LONDON).astimezone(UTC)


def _follow_up(app: Flask, contact_id: int) -> FollowUp:
    with services_of(app).db.transaction() as session:
        row = session.scalars(select(FollowUp).where(FollowUp.contact_id == contact_id)).one()
        session.expunge(row)
        return row


def _find(app: Flask, actor: Actor, **query: object) -> list[follow_ups.FollowUpRow]:
    svc = services_of(app)
    with svc.db.transaction() as session:
        rows, total = follow_ups.find(
            session,
            actor,
            follow_ups.Query(**query),  # type: ignore[arg-type]
            now=svc.clock.now(),
            zone=LONDON,
        )
        assert total == len(rows)
        return rows


def _mark(
    app: Flask, actor: Actor, follow_up_id: int, text: str, reason: str | None = None
) -> follow_ups.FollowUpRow:
    svc = services_of(app)
    with svc.db.transaction() as session:
        return follow_ups.mark_done(
            session, actor, follow_up_id, text, svc.clock.now(), reason=reason, zone=LONDON
        )


@pytest.fixture
def team(app: Flask) -> Team:
    return make_team(app)


def test_a_note_asking_opens_a_follow_up_the_officer_lists_marks_done_and_no_longer_sees_open(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    contact_id = ask(app, team, team.mine, clock.now(), what="Ring him about the hostel move")
    clock.advance(dt.timedelta(hours=2))

    listed = _find(app, team.officer.actor, status=FollowUpStatus.OPEN)
    assert [row.contact_id for row in listed] == [contact_id]
    row = listed[0]
    assert row.reference == "R2001"
    assert row.officer == "Olive Marsh"
    assert row.asked_by == "Will Avery"
    assert row.what == "Ring him about the hostel move"
    assert not row.overdue and not row.unassigned

    done = _mark(app, team.officer.actor, row.id, "  Rang him: the move is on Monday.  ")
    assert done.status == FollowUpStatus.DONE
    assert done.done_what == "Rang him: the move is on Monday."
    assert done.done_by == "Olive Marsh"
    assert done.done_at == clock.now()
    assert _find(app, team.officer.actor, status=FollowUpStatus.OPEN) == []
    assert [r.id for r in _find(app, team.officer.actor, status=FollowUpStatus.DONE)] == [row.id]


def test_marking_done_writes_the_audit_log_and_the_access_log(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    follow_up_id = _follow_up(app, ask(app, team, team.mine, clock.now())).id
    _mark(app, team.officer.actor, follow_up_id, "Saw him at the office.")
    with services_of(app).db.transaction() as session:
        audits = session.scalars(
            select(AuditEntry).where(AuditEntry.record_type == "follow_up")
        ).all()
        accesses = session.scalars(
            select(RecordAccess).where(RecordAccess.record_type == "follow_up")
        ).all()
    assert [(a.action, a.record_id, a.actor) for a in audits] == [
        ("follow_up.done", follow_up_id, f"staff:{team.officer.staff_id}")
    ]
    assert audits[0].changes == {"status": ["open", "done"]}
    assert [(e.action, e.record_id, e.participant_id, e.actor) for e in accesses] == [
        ("change", follow_up_id, team.mine, f"staff:{team.officer.staff_id}")
    ]


def test_reading_one_follow_up_is_logged_as_a_read_of_his_record(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    follow_up_id = _follow_up(app, ask(app, team, team.mine, clock.now())).id
    visit = record_access.Visit(actor=team.officer.actor, at=clock.now())
    with services_of(app).db.transaction() as session:
        row = follow_ups.get(session, visit, follow_up_id, zone=LONDON)
    assert row.id == follow_up_id
    with services_of(app).db.transaction() as session:
        entry = session.scalars(select(RecordAccess)).one()
    assert (entry.action, entry.record_type, entry.participant_id) == (
        "read",
        "follow_up",
        team.mine,
    )


def test_a_second_attempt_is_a_conflict_and_never_overwrites_what_was_done(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    follow_up_id = _follow_up(app, ask(app, team, team.mine, clock.now())).id
    _mark(app, team.officer.actor, follow_up_id, "First: rang him.")
    clock.advance(dt.timedelta(minutes=5))
    with pytest.raises(Conflict, match="Olive Marsh already marked it done"):
        _mark(app, team.manager.actor, follow_up_id, "Second: visited.", reason="Covering today")
    kept = _follow_up(app, _follow_up_contact(app, follow_up_id))
    assert kept.done_what == "First: rang him."
    assert kept.done_by == f"staff:{team.officer.staff_id}"


def _follow_up_contact(app: Flask, follow_up_id: int) -> int:
    with services_of(app).db.transaction() as session:
        found = session.get(FollowUp, follow_up_id)
        assert found is not None
        return found.contact_id


def test_what_was_done_is_one_required_line_of_at_most_500_characters(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    follow_up_id = _follow_up(app, ask(app, team, team.mine, clock.now())).id
    for text in ("", "   ", "Rang him.\nThen visited.", "x" * 501):
        with pytest.raises(InvalidInput) as refused:
            _mark(app, team.officer.actor, follow_up_id, text)
        assert refused.value.field == "what_done"
    assert _follow_up(app, _follow_up_contact(app, follow_up_id)).status == FollowUpStatus.OPEN
    assert _mark(app, team.officer.actor, follow_up_id, "y" * 500).done_what == "y" * 500


def test_a_correction_without_the_request_withdraws_it_and_a_later_one_asks_again(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    contact_id = ask(app, team, team.mine, clock.now(), what="Ring him")
    asked = _follow_up(app, contact_id)
    clock.advance(dt.timedelta(hours=1))
    write_note(app, contact_id, team.worker, clock.now(), follow_up=None, reason="Not needed")
    assert _follow_up(app, contact_id).status == FollowUpStatus.WITHDRAWN
    assert _find(app, team.officer.actor, status=FollowUpStatus.OPEN) == []
    assert [r.id for r in _find(app, team.officer.actor, status=FollowUpStatus.WITHDRAWN)] == [
        asked.id
    ]
    with pytest.raises(Conflict, match="withdrawn"):
        _mark(app, team.officer.actor, asked.id, "Rang him anyway.")

    clock.advance(dt.timedelta(hours=1))
    write_note(
        app, contact_id, team.worker, clock.now(), follow_up="Visit him", reason="He rang back"
    )
    again = _follow_up(app, contact_id)
    assert (again.id, again.status, again.what) == (asked.id, FollowUpStatus.OPEN, "Visit him")
    # Asked anew: its two working days start from the asking again, not from the first one.
    assert again.asked_at == clock.now() and again.asked_at > asked.asked_at
    assert _mark(app, team.officer.actor, asked.id, "Visited.").status == FollowUpStatus.DONE


def test_another_officer_and_an_on_call_worker_neither_see_nor_mark_it(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    follow_up_id = _follow_up(app, ask(app, team, team.mine, clock.now())).id
    assert _find(app, team.other_officer.actor) == []
    assert _find(app, team.worker.actor) == []
    for stranger in (team.other_officer, team.worker):
        with pytest.raises(record_access.Refused):
            _mark(app, stranger.actor, follow_up_id, "Rang him.")
    with pytest.raises(NotFound):
        _mark(app, team.officer.actor, follow_up_id + 100, "Rang him.")
    assert _follow_up(app, _follow_up_contact(app, follow_up_id)).status == FollowUpStatus.OPEN


def test_a_duty_manager_and_the_clinical_lead_see_all_and_mark_one_done_with_a_reason(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    mine = _follow_up(app, ask(app, team, team.mine, clock.now())).id
    his = _follow_up(app, ask(app, team, team.his, clock.now())).id
    for boss in (team.manager, team.lead):
        assert {r.id for r in _find(app, boss.actor)} == {mine, his}
    # Not his own participant: break-glass, as for any record of the participant's.
    with pytest.raises(record_access.ReasonRequired):
        _mark(app, team.manager.actor, mine, "Rang him for Olive.")
    done = _mark(app, team.manager.actor, mine, "Rang him for Olive.", reason="Officer on leave")
    assert (done.status, done.done_by) == (FollowUpStatus.DONE, "Dana Fenn")
    with services_of(app).db.transaction() as session:
        reason = session.scalar(
            select(RecordAccess.reason).where(
                RecordAccess.record_type == "follow_up", RecordAccess.action == "change"
            )
        )
    assert reason == "Officer on leave"


def test_one_asked_of_an_officer_stays_his_after_the_participant_moves(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    follow_up_id = _follow_up(app, ask(app, team, team.mine, clock.now())).id
    svc = services_of(app)
    with svc.db.transaction() as session:
        participants.update(
            session,
            team.mine,
            {"responsible_officer_id": team.other_officer.staff_id},
            actor="tests",
            now=clock.now(),
            zone=ZoneInfo("Europe/London"),
        )
    # Owen sees it (his caseload now) but it was asked of Olive: only she or a manager marks it.
    assert [r.id for r in _find(app, team.other_officer.actor)] == [follow_up_id]
    with pytest.raises(follow_ups.NotYours, match="Olive Marsh"):
        _mark(app, team.other_officer.actor, follow_up_id, "Rang him.")
    assert [r.id for r in _find(app, team.officer.actor)] == [follow_up_id]
    assert _mark(app, team.officer.actor, follow_up_id, "Rang him.").status == FollowUpStatus.DONE


def test_a_participant_without_an_officer_gives_an_unassigned_follow_up_for_the_managers(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    ask(app, team, team.nobodys, clock.now())
    (row,) = _find(app, team.manager.actor)
    assert row.unassigned and row.officer is None and row.reference == "R2004"
    assert _find(app, team.officer.actor) == []
    # He gets an officer later: she sees it, but it was asked of nobody, so the managers mark it.
    with services_of(app).db.transaction() as session:
        participants.update(
            session,
            team.nobodys,
            {"responsible_officer_id": team.officer.staff_id},
            actor="tests",
            now=clock.now(),
            zone=ZoneInfo("Europe/London"),
        )
    assert [r.id for r in _find(app, team.officer.actor)] == [row.id]
    with pytest.raises(follow_ups.NotYours, match="no responsible officer"):
        _mark(app, team.officer.actor, row.id, "Rang him.")
    done = _mark(app, team.lead.actor, row.id, "Rang him.", reason="Unassigned follow-up")
    assert done.status == FollowUpStatus.DONE


def test_lists_page_and_order_newest_or_oldest_first(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    first = _follow_up(app, ask(app, team, team.mine, clock.now())).id
    clock.advance(dt.timedelta(hours=1))
    second = _follow_up(app, ask(app, team, team.mine_too, clock.now())).id
    clock.advance(dt.timedelta(hours=1))
    third = _follow_up(app, ask(app, team, team.mine, clock.now())).id
    assert [r.id for r in _find(app, team.officer.actor)] == [third, second, first]
    assert [r.id for r in _find(app, team.officer.actor, oldest_first=True)] == [
        first,
        second,
        third,
    ]
    assert [r.id for r in _find(app, team.officer.actor, participant_id=team.mine)] == [
        third,
        first,
    ]
    svc = services_of(app)
    with svc.db.transaction() as session:
        rows, total = follow_ups.find(
            session,
            team.officer.actor,
            follow_ups.Query(offset=1, limit=1),
            now=clock.now(),
            zone=LONDON,
        )
    assert ([r.id for r in rows], total) == ([second], 3)


# ---- overdue: two working days -------------------------------------------------------------


def _overdue_ids(app: Flask, actor: Actor) -> list[int]:
    return [r.id for r in _find(app, actor, overdue=True)]


def test_overdue_across_a_weekend_only_after_two_working_days(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    asked_at = _local(2026, 12, 4, 10)  # Friday 10:00
    clock.set(asked_at - dt.timedelta(minutes=20))
    follow_up_id = _follow_up(app, ask(app, team, team.mine, clock.now())).id
    assert _follow_up(app, _follow_up_contact(app, follow_up_id)).asked_at == asked_at
    for not_yet in (
        _local(2026, 12, 6, 23, 59),
        _local(2026, 12, 7, 12),
        _local(2026, 12, 8, 9, 59),
    ):
        clock.set(not_yet)
        assert _overdue_ids(app, team.manager.actor) == []
    clock.set(_local(2026, 12, 8, 10, 1))  # Tuesday: Monday and Tuesday morning have passed
    assert _overdue_ids(app, team.manager.actor) == [follow_up_id]
    (row,) = _find(app, team.manager.actor)
    assert row.overdue and row.due_at == _local(2026, 12, 8, 10)


def test_asked_on_christmas_eve_is_overdue_only_after_the_29th(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    # 25 Dec Friday, the weekend, 28 Dec (Boxing Day observed): none is a working day.
    asked_at = _local(2026, 12, 24, 10)
    clock.set(asked_at - dt.timedelta(minutes=20))
    follow_up_id = _follow_up(app, ask(app, team, team.mine, clock.now())).id
    hour = _local(2026, 12, 24, 11)
    while hour <= _local(2026, 12, 29, 23):
        clock.set(hour)
        assert _overdue_ids(app, team.officer.actor) == [], hour
        hour += dt.timedelta(hours=1)
    clock.set(_local(2026, 12, 30, 9, 59))
    assert _overdue_ids(app, team.officer.actor) == []
    clock.set(_local(2026, 12, 30, 10, 1))
    assert _overdue_ids(app, team.officer.actor) == [follow_up_id]
    svc = services_of(app)
    with svc.db.transaction() as session:
        shown, total = follow_ups.overdue_now(session, clock.now(), LONDON)
    assert ([r.id for r in shown], total) == ([follow_up_id], 1)


def test_one_done_or_withdrawn_is_never_overdue(app: Flask, clock: FakeClock, team: Team) -> None:
    done = _follow_up(app, ask(app, team, team.mine, clock.now())).id
    withdrawn_contact = ask(app, team, team.mine_too, clock.now())
    _mark(app, team.officer.actor, done, "Rang him.")
    write_note(app, withdrawn_contact, team.worker, clock.now(), follow_up=None, reason="No need")
    clock.advance(dt.timedelta(days=30))
    assert _overdue_ids(app, team.manager.actor) == []
    assert len(_find(app, team.manager.actor, overdue=False)) == 2


def test_never_overdue_before_two_working_days_and_the_query_agrees_with_the_rule() -> None:
    # Every 5 hours over Christmas and New Year and over both clock changes: the instant a
    # follow-up falls due is at least two days on, and the query's cut-off says the same.
    starts = [
        _local(2026, 12, 18, 0),
        _local(2027, 3, 24, 0),  # clocks go forward on Sunday 28 March 2027
        _local(2026, 10, 21, 0),  # clocks go back on Sunday 25 October 2026
    ]
    for start in starts:
        asks = [start + dt.timedelta(hours=5 * n) for n in range(60)]
        nows = [start + dt.timedelta(hours=3 * n + 1) for n in range(140)]
        for asked in asks:
            due = follow_ups.due_at(asked, LONDON)
            assert due - asked >= dt.timedelta(days=2), asked
            for now in nows:
                assert (due < now) == (asked < follow_ups.overdue_before(now, LONDON)), (asked, now)


def test_working_days_are_those_of_england_and_wales() -> None:
    assert not follow_ups.is_working_day(dt.date(2026, 12, 25))
    assert not follow_ups.is_working_day(dt.date(2026, 12, 28))  # Boxing Day, observed
    assert not follow_ups.is_working_day(dt.date(2026, 8, 31))  # summer bank holiday (England)
    assert not follow_ups.is_working_day(dt.date(2026, 12, 5))  # Saturday
    assert follow_ups.is_working_day(dt.date(2026, 12, 29))
    assert follow_ups.is_working_day(dt.date(2027, 1, 4))  # 2 January is Scotland's, not ours


# ---- for the handover -----------------------------------------------------------------------


def test_the_handover_reads_follow_ups_asked_in_a_period_and_every_open_one(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    before = _follow_up(app, ask(app, team, team.his, clock.now() - dt.timedelta(days=3))).id
    start = clock.now()
    inside = _follow_up(app, ask(app, team, team.nobodys, start + dt.timedelta(hours=1))).id
    done = _follow_up(app, ask(app, team, team.mine, start + dt.timedelta(hours=2))).id
    end = start + dt.timedelta(hours=3)
    after = _follow_up(app, ask(app, team, team.mine_too, end)).id
    clock.set(end + dt.timedelta(hours=1))
    _mark(app, team.officer.actor, done, "Rang him.")
    svc = services_of(app)
    with svc.db.transaction() as session:
        asked = follow_ups.asked_between(session, start, end, now=clock.now(), zone=LONDON)
        still_open = follow_ups.open_follow_ups(session, now=clock.now(), zone=LONDON)
    assert [(r.id, r.reference, r.officer, r.status) for r in asked] == [
        (inside, "R2004", None, FollowUpStatus.OPEN),
        (done, "R2001", "Olive Marsh", FollowUpStatus.DONE),
    ]
    assert [r.id for r in still_open] == [before, inside, after]
    assert [r.overdue for r in still_open] == [True, False, False]
    assert all(r.asked_by == "Will Avery" for r in still_open)
