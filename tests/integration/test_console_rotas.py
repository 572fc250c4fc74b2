"""The rota pages: each rota's calendar per role, overrides from local times across the October
2026 clock change, removal, and membership and shift-length changes applied from a chosen
handoff (preview first; nothing before the handoff moves; only the people moved are texted)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from crisisline import rota_changes, rota_service
from crisisline.clock import FakeClock
from crisisline.escalation_models import StaffNotice
from crisisline.models import Staff, StaffRole
from crisisline.rota_models import (
    CalendarFeedKind,
    CalendarFeedToken,
    RotaOverride,
    RotaRevisionRecord,
)
from crisisline.rota_notices import CHANGED
from rotas import OnCallShift
from tests.support.app import services_of
from tests.support.console import Browser, Person, add_person, enrolled

LONDON = ZoneInfo("Europe/London")
UTC = dt.UTC
# Wednesday 21 October 2026, noon in London (BST): the clocks go back on Sunday the 25th.
NOW = dt.datetime(2026, 10, 21, 11, 0, tzinfo=UTC)


@dataclass
class Team:
    app: Flask
    clock: FakeClock
    manager: Person
    worker: Person
    officer: Person
    members: list[int]  # [worker, Bea, Cal]
    rota_id: int


@pytest.fixture
def team(app: Flask, clock: FakeClock) -> Team:
    clock.set(NOW)
    manager = enrolled(app, "Dana Moss", "+447700900101", [StaffRole.DUTY_MANAGER], now=clock.now())
    worker = enrolled(app, "Wyn Ellis", "+447700900102", [StaffRole.ON_CALL], now=clock.now())
    officer = enrolled(
        app, "Olu Hart", "+447700900103", [StaffRole.RESPONSIBLE_OFFICER], now=clock.now()
    )
    bea = add_person(app, "Bea Lowe", "+447700900104", [StaffRole.ON_CALL], now=clock.now())
    cal = add_person(app, "Cal Reed", "+447700900105", [StaffRole.ON_CALL], now=clock.now())
    add_person(app, "Dev Shaw", "+447700900106", [StaffRole.ON_CALL], now=clock.now())
    with services_of(app).db.transaction() as session:
        rota_id = rota_service.create(
            session,
            rota_service.NewRota(
                name="Nights",
                timezone="Europe/London",
                members=[worker.staff_id, bea, cal],
                shift_length="P1D",
                first_handoff=dt.datetime(2026, 10, 1, 9, 0),
            ),
            actor="test",
            now=clock.now(),
        ).id
    return Team(app, clock, manager, worker, officer, [worker.staff_id, bea, cal], rota_id)


def signed_in(team: Team, who: Person) -> Browser:
    browser = Browser(team.app)
    browser.sign_in(who, team.clock)
    return browser


def text(page: TestResponse) -> str:
    return page.get_data(as_text=True)


def post(browser: Browser, path: str, form: dict[str, Any] | None = None) -> TestResponse:
    """Send a form whose fields may repeat (lists), with the page's CSRF token."""
    return browser.post(path, cast(dict[str, str], form or {}))


def staff_id_named(app: Flask, name: str) -> int:
    with services_of(app).db.transaction() as session:
        found = session.scalars(select(Staff.id).where(Staff.name == name)).one()
        return int(found)


def shifts(app: Flask, rota_id: int, start: dt.datetime, end: dt.datetime) -> list[OnCallShift]:
    with services_of(app).db.transaction() as session:
        return rota_service.shifts(session, rota_id, start, end).shifts


def on_call(app: Flask, rota_id: int, at: dt.datetime) -> tuple[int, ...]:
    with services_of(app).db.transaction() as session:
        return rota_service.on_call(session, rota_id, at).shift.staff_ids


def change_notices(app: Flask) -> dict[int, str]:
    with services_of(app).db.transaction() as session:
        rows = session.scalars(select(StaffNotice).where(StaffNotice.kind == CHANGED)).all()
        return {row.staff_id: row.body or "" for row in rows if row.staff_id is not None}


def on_call_time(periods: list[OnCallShift]) -> dict[int, list[tuple[dt.datetime, dt.datetime]]]:
    """Each person's on-call time, as merged intervals."""
    found: dict[int, list[tuple[dt.datetime, dt.datetime]]] = {}
    for period in periods:
        for staff_id in period.staff_ids:
            spans = found.setdefault(staff_id, [])
            if spans and spans[-1][1] == period.start:
                spans[-1] = (spans[-1][0], period.end)
            else:
                spans.append((period.start, period.end))
    return found


def moved_people(before: list[OnCallShift], *, app: Flask, rota_id: int) -> set[int]:
    """Those whose on-call time in the next 90 days differs now from `before`."""
    old = on_call_time(before)
    new = on_call_time(shifts(app, rota_id, NOW, NOW + dt.timedelta(days=90)))
    return {i for i in set(old) | set(new) if old.get(i) != new.get(i)}


# ---- the calendar, per role -------------------------------------------------------------------


def test_duty_manager_sees_four_weeks_named_with_overrides_and_gaps(team: Team) -> None:
    with services_of(team.app).db.transaction() as session:
        rota_service.add_override(
            session,
            team.rota_id,
            rota_service.NewOverride(
                staff_id=None,
                start=dt.datetime(2026, 10, 22, 8, 0, tzinfo=UTC),
                end=dt.datetime(2026, 10, 22, 12, 0, tzinfo=UTC),
                mode="replace",
                reason="training day",
            ),
            actor=f"staff:{team.manager.staff_id}",
            now=team.clock.now(),
        )
    browser = signed_in(team, team.manager)
    listing = browser.get("/rotas")
    assert listing.status_code == 200
    assert "Nights" in text(listing)
    page = browser.get(f"/rotas/{team.rota_id}")
    assert page.status_code == 200
    body = text(page)
    # Four weeks from Monday 19 October, in London time; the rota's members by name.
    for week in ("Mon 19 Oct 2026", "Mon 26 Oct 2026", "Mon 2 Nov 2026", "Mon 9 Nov 2026"):
        assert f"Week of {week}" in body
    assert "Week of Mon 16 Nov" not in body
    for name in ("Wyn Ellis", "Bea Lowe", "Cal Reed"):
        assert name in body
    # 09:00 London is 08:00 UTC before the change and 09:00 UTC after: both read 09:00.
    assert "Thu 22 Oct 09:00" in body and "Tue 27 Oct 09:00" in body
    # The override is marked with who made it and why; the hole it leaves is a gap, in words.
    assert "Override by Dana Moss: training day" in body
    assert "Gap: nobody usable on call" in body
    assert body.count('<tr class="rota-gap') == 1
    # Any week back, by a link.
    earlier = browser.get(f"/rotas/{team.rota_id}?week=2026-10-05")
    assert "Week of Mon 5 Oct 2026" in text(earlier)
    bad = browser.get(f"/rotas/{team.rota_id}?week=next-tuesday")
    assert bad.status_code == 422


def test_on_call_worker_is_refused_whole_rotas_but_sees_their_shifts(team: Team) -> None:
    browser = signed_in(team, team.worker)
    assert browser.get("/rotas").status_code == 403
    assert browser.get(f"/rotas/{team.rota_id}").status_code == 403
    assert browser.get(f"/rotas/{team.rota_id}/overrides/new").status_code == 403
    page = browser.get("/my-shifts")
    assert page.status_code == 200
    body = text(page)
    # Wyn's turns: every third day from 1 Oct (index 0): 22 Oct, 25 Oct, 28 Oct ...
    assert "Thu 22 Oct 09:00" in body and "Sun 25 Oct 09:00" in body
    starts = re.findall(r"<td>Nights</td>\s*<td>([^<]+)</td>", body)
    assert starts[:3] == ["Thu 22 Oct 09:00", "Sun 25 Oct 09:00", "Wed 28 Oct 09:00"]
    assert "Wed 18 Nov" in body  # four weeks ahead
    assert "no calendar link yet" in body
    issued = post(browser, "/my-shifts/calendar-link")
    assert issued.status_code == 200
    link = re.search(r"https://[^<\"]+/calendar/staff/[^<\"]+\.ics", text(issued))
    assert link is not None
    with services_of(team.app).db.transaction() as session:
        tokens = session.scalars(
            select(CalendarFeedToken).where(CalendarFeedToken.kind == CalendarFeedKind.STAFF)
        ).all()
        assert [t.target_id for t in tokens] == [team.worker.staff_id]
    feed = team.app.test_client().get(link.group(0).split("crisis.example.org", 1)[-1])
    assert feed.status_code == 200 and b"BEGIN:VCALENDAR" in feed.data
    again = browser.get("/my-shifts")
    assert "You have a calendar link" in text(again)


def test_officer_is_refused_the_rotas(team: Team) -> None:
    browser = signed_in(team, team.officer)
    assert browser.get("/rotas").status_code == 403
    assert browser.get(f"/rotas/{team.rota_id}").status_code == 403
    assert post(browser, f"/rotas/{team.rota_id}/change", {}).status_code == 403
    home = text(browser.get("/"))
    assert 'href="/rotas"' not in home and 'href="/my-shifts"' in home


# ---- overrides from local time across the October clock change ------------------------------


def override_form(
    person: str, start: tuple[str, str], end: tuple[str, str], **extra: str
) -> dict[str, str]:
    return {
        "person": person,
        "start_date": start[0],
        "start_time": start[1],
        "end_date": end[0],
        "end_time": end[1],
        "reason": "covering the change night",
        **extra,
    }


def test_override_across_the_october_change_asks_which_and_stores_utc(team: Team) -> None:
    dev = staff_id_named(team.app, "Dev Shaw")
    browser = signed_in(team, team.manager)
    browser.get(f"/rotas/{team.rota_id}/overrides/new")
    form = override_form(str(dev), ("2026-10-24", "22:00"), ("2026-10-25", "01:30"))
    asked = post(browser, f"/rotas/{team.rota_id}/overrides", form)
    # 01:30 on 25 October happens twice: the form comes back asking which, beside the field.
    assert asked.status_code == 422
    body = text(asked)
    assert "happens twice" in body
    assert "The first 01:30 (BST)" in body and "The second 01:30 (GMT)" in body
    with services_of(team.app).db.transaction() as session:
        assert session.scalars(select(RotaOverride)).all() == []
    saved = post(browser, f"/rotas/{team.rota_id}/overrides", {**form, "end_which": "second"})
    assert saved.status_code == 303
    with services_of(team.app).db.transaction() as session:
        row = session.scalars(select(RotaOverride)).one()
        assert row.staff_id == dev
        assert row.starts_at == dt.datetime(2026, 10, 24, 21, 0, tzinfo=UTC)  # 22:00 BST
        assert row.ends_at == dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # second 01:30, GMT
        assert row.created_by == f"staff:{team.manager.staff_id}"
    # The routing agrees: Dev is on call in the repeated hour, both times round.
    assert on_call(team.app, team.rota_id, dt.datetime(2026, 10, 25, 0, 45, tzinfo=UTC)) == (dev,)
    assert on_call(team.app, team.rota_id, dt.datetime(2026, 10, 25, 1, 15, tzinfo=UTC)) == (dev,)
    # Dev gains the time and whoever was due (Cal, 24 Oct's turn) loses it: both are texted.
    notices = change_notices(team.app)
    assert set(notices) == {dev, team.members[2]}
    assert "you are now on call" in notices[dev]
    # The calendar shows it, marked, in local time.
    page = text(browser.get(f"/rotas/{team.rota_id}?week=2026-10-19"))
    assert "Sat 24 Oct 22:00" in page and "Sun 25 Oct 01:30 GMT" in page
    assert "covering the change night" in page

    first = post(
        browser,
        f"/rotas/{team.rota_id}/overrides",
        override_form(
            str(dev), ("2026-10-25", "01:30"), ("2026-10-25", "03:00"), start_which="first"
        ),
    )
    assert first.status_code == 303
    with services_of(team.app).db.transaction() as session:
        latest = session.scalars(select(RotaOverride).order_by(RotaOverride.id.desc())).first()
        assert latest is not None
        assert latest.starts_at == dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_a_time_the_clocks_skip_is_refused_beside_the_field(team: Team) -> None:
    browser = signed_in(team, team.manager)
    browser.get(f"/rotas/{team.rota_id}/overrides/new")
    page = post(
        browser,
        f"/rotas/{team.rota_id}/overrides",
        override_form("nobody", ("2027-03-28", "01:30"), ("2027-03-28", "05:00")),
    )
    assert page.status_code == 422
    assert "does not exist in Europe/London" in text(page)
    assert 'id="start-error"' in text(page)
    backwards = post(
        browser,
        f"/rotas/{team.rota_id}/overrides",
        override_form("", ("2026-10-28", "10:00"), ("2026-10-28", "09:00")),
    )
    assert backwards.status_code == 422
    assert "The end must be after the start." in text(backwards)
    assert "Choose who is on call" in text(backwards)
    garbage = post(
        browser,
        f"/rotas/{team.rota_id}/overrides",
        override_form("nobody", ("someday", "25:99"), ("2026-10-28", "nine")),
    )
    assert garbage.status_code == 422
    with services_of(team.app).db.transaction() as session:
        assert session.scalars(select(RotaOverride)).all() == []


def test_removing_an_override_asks_first_then_texts_those_it_moves(team: Team) -> None:
    dev = staff_id_named(team.app, "Dev Shaw")
    with services_of(team.app).db.transaction() as session:
        override_id = rota_service.add_override(
            session,
            team.rota_id,
            rota_service.NewOverride(
                staff_id=dev,
                start=dt.datetime(2026, 10, 28, 9, 0, tzinfo=UTC),
                end=dt.datetime(2026, 10, 28, 17, 0, tzinfo=UTC),
                mode="replace",
                reason="swap",
            ),
            actor="test",
            now=team.clock.now(),
        ).id
    browser = signed_in(team, team.manager)
    browser.get(f"/rotas/{team.rota_id}")
    ask = post(browser, f"/rotas/{team.rota_id}/overrides/{override_id}/remove")
    assert ask.status_code == 200 and "Remove this override" in text(ask)
    with services_of(team.app).db.transaction() as session:
        assert session.get(RotaOverride, override_id) is not None
    done = post(
        browser, f"/rotas/{team.rota_id}/overrides/{override_id}/remove", {"confirm": "yes"}
    )
    assert done.status_code == 303
    with services_of(team.app).db.transaction() as session:
        assert session.get(RotaOverride, override_id) is None
    # Dev loses the time, Wyn (28 Oct's turn) gets it back.
    assert set(change_notices(team.app)) == {dev, team.worker.staff_id}
    missing = post(browser, f"/rotas/{team.rota_id}/overrides/999/remove", {"confirm": "yes"})
    assert missing.status_code == 404


# ---- safe membership and shift-length changes -------------------------------------------------


def test_adding_a_member_previews_then_applies_from_the_chosen_handoff(team: Team) -> None:
    dev = staff_id_named(team.app, "Dev Shaw")
    week_start = dt.datetime(2026, 10, 18, 23, 0, tzinfo=UTC)  # Mon 19 Oct 00:00 BST
    horizon = NOW + dt.timedelta(days=28)
    before = shifts(team.app, team.rota_id, week_start - dt.timedelta(days=14), horizon)
    before_90 = shifts(team.app, team.rota_id, NOW, NOW + dt.timedelta(days=90))
    browser = signed_in(team, team.manager)
    form_page = text(browser.get(f"/rotas/{team.rota_id}/change"))
    # The default handoff is the first after this week: Mon 26 Oct 09:00 GMT.
    default = dt.datetime(2026, 10, 26, 9, 0, tzinfo=UTC)
    assert f'value="{default.isoformat()}" selected' in form_page
    form = {
        "member": [str(i) for i in team.members],
        "add": str(dev),
        "shift_length": "P1D",
        "handoff": default.isoformat(),
        "action": "preview",
    }
    preview = post(browser, f"/rotas/{team.rota_id}/change", form)
    assert preview.status_code == 200
    body = text(preview)
    # Old turns from 26 Oct: Bea, Cal, Wyn, Bea, ...; new (Bea due, carrying on in the new
    # order Wyn, Bea, Cal, Dev): Bea, Cal, Dev, Wyn, ... The first shift to change is 28 Oct.
    rows = re.findall(
        r"<tr>\s*<td>([^<]+) \u2013 ([^<]+)</td>\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>", body
    )
    assert rows, body
    assert rows[0] == ("Wed 28 Oct 09:00", "Thu 29 Oct 09:00", "Wyn Ellis", "Dev Shaw")
    with services_of(team.app).db.transaction() as session:
        shown = rota_changes.preview(
            session,
            team.rota_id,
            {"members": [*team.members, dev], "shift_length": "P1D"},
            default,
            now=team.clock.now(),
        )
        expected_changed = {(c.after.start, c.after.staff_ids) for c in shown.changes}
    assert len(rows) == len(expected_changed)
    assert all(start >= default for start, _ in expected_changed)
    # Nothing written by a preview.
    assert shifts(team.app, team.rota_id, week_start - dt.timedelta(days=14), horizon) == before

    applied = post(browser, f"/rotas/{team.rota_id}/change", {**form, "action": "apply"})
    assert applied.status_code == 303
    after = shifts(team.app, team.rota_id, week_start - dt.timedelta(days=14), horizon)
    # Shift by shift: every one before the handoff (this week and the two before) is unchanged.
    assert [s for s in after if s.start < default] == [s for s in before if s.start < default]
    changed_after = {
        (s.start, s.staff_ids)
        for s in after
        if (s.start, s.end, s.staff_ids) not in {(b.start, b.end, b.staff_ids) for b in before}
    }
    assert changed_after == expected_changed
    # Only the people whose on-call time moved are texted, and no text is about a shift before
    # the first one that changed.
    assert change_notices(team.app).keys() == moved_people(
        before_90, app=team.app, rota_id=team.rota_id
    )
    for body in change_notices(team.app).values():
        assert not any(
            day in body for day in ("Wed 21 Oct", "Thu 22 Oct", "Mon 26 Oct", "Tue 27 Oct")
        )
    # The routing agrees with the calendar after the change.
    for shift in after:
        middle = shift.start + (shift.end - shift.start) / 2
        assert on_call(team.app, team.rota_id, middle) == shift.staff_ids
    calendar = text(browser.get(f"/rotas/{team.rota_id}?week=2026-10-26"))
    assert "Dev Shaw" in calendar


def test_an_earlier_handoff_may_be_chosen_and_nothing_before_it_moves(team: Team) -> None:
    horizon = NOW + dt.timedelta(days=28)
    start = NOW - dt.timedelta(days=7)
    before = shifts(team.app, team.rota_id, start, horizon)
    browser = signed_in(team, team.manager)
    browser.get(f"/rotas/{team.rota_id}/change")
    tomorrow = dt.datetime(2026, 10, 22, 8, 0, tzinfo=UTC)  # Thu 22 Oct 09:00 BST
    # Remove Cal, swap Wyn and Bea.
    form = {
        "member": [str(i) for i in team.members],
        f"position_{team.members[0]}": "2",
        f"position_{team.members[1]}": "1",
        f"remove_{team.members[2]}": "yes",
        "shift_length": "P1D",
        "handoff": tomorrow.isoformat(),
        "action": "apply",
    }
    assert post(browser, f"/rotas/{team.rota_id}/change", form).status_code == 303
    after = shifts(team.app, team.rota_id, start, horizon)
    assert [s for s in after if s.start < tomorrow] == [s for s in before if s.start < tomorrow]
    # 22 Oct was Wyn's: he is still due then and carries on, then Bea, Wyn, ...
    from_tomorrow = [s.staff_ids for s in after if s.start >= tomorrow][:4]
    wyn, bea = team.members[0], team.members[1]
    assert from_tomorrow == [(wyn,), (bea,), (wyn,), (bea,)]
    with services_of(team.app).db.transaction() as session:
        assert rota_service.get(session, team.rota_id).members == [bea, wyn]


def test_a_shift_length_change_applies_from_its_handoff_only(team: Team) -> None:
    horizon = NOW + dt.timedelta(days=28)
    start = NOW - dt.timedelta(days=3)
    before = shifts(team.app, team.rota_id, start, horizon)
    browser = signed_in(team, team.manager)
    browser.get(f"/rotas/{team.rota_id}/change")
    handoff = dt.datetime(2026, 10, 26, 9, 0, tzinfo=UTC)
    form = {
        "member": [str(i) for i in team.members],
        "shift_length": "PT12H",
        "handoff": handoff.isoformat(),
        "action": "preview",
    }
    preview = post(browser, f"/rotas/{team.rota_id}/change", form)
    assert preview.status_code == 200
    assert "Mon 26 Oct 09:00 \u2013 Mon 26 Oct 21:00" in text(preview)
    assert "Sun 25 Oct" not in text(preview).split("Preview: applying")[1]
    assert (
        post(browser, f"/rotas/{team.rota_id}/change", {**form, "action": "apply"}).status_code
        == 303
    )
    after = shifts(team.app, team.rota_id, start, horizon)
    assert [s for s in after if s.start < handoff] == [s for s in before if s.start < handoff]
    twelve = [s for s in after if s.start >= handoff][:3]
    assert [(s.end - s.start) for s in twelve] == [dt.timedelta(hours=12)] * 3
    # Bea was due at 26 Oct 09:00 and keeps that turn (now 12 hours), then Cal, Wyn.
    assert [s.staff_ids[0] for s in twelve] == [team.members[1], team.members[2], team.members[0]]
    for shift in after:
        assert on_call(team.app, team.rota_id, shift.start) == shift.staff_ids


def test_bad_change_input_is_shown_beside_the_fields(team: Team) -> None:
    browser = signed_in(team, team.manager)
    browser.get(f"/rotas/{team.rota_id}/change")
    base = {"member": [str(i) for i in team.members], "shift_length": "P1D", "action": "preview"}
    bad_length = post(
        browser,
        f"/rotas/{team.rota_id}/change",
        {**base, "shift_length": "a while", "handoff": "2026-10-26T09:00:00+00:00"},
    )
    assert bad_length.status_code == 422 and 'id="shift_length-error"' in text(bad_length)
    not_a_handoff = post(
        browser,
        f"/rotas/{team.rota_id}/change",
        {**base, "handoff": "2026-10-26T10:00:00+00:00"},
    )
    assert not_a_handoff.status_code == 422 and "not one of the rota" in text(not_a_handoff)
    past = post(
        browser,
        f"/rotas/{team.rota_id}/change",
        {**base, "handoff": "2026-10-20T08:00:00+00:00"},
    )
    assert past.status_code == 422 and "still to come" in text(past)
    garbage = post(browser, f"/rotas/{team.rota_id}/change", {**base, "handoff": "soon"})
    assert garbage.status_code == 422
    nobody = post(
        browser,
        f"/rotas/{team.rota_id}/change",
        {
            **base,
            "handoff": "2026-10-26T09:00:00+00:00",
            **{f"remove_{i}": "yes" for i in team.members},
        },
    )
    assert nobody.status_code == 422 and 'id="members-error"' in text(nobody)


# ---- the API's PATCH, from a handoff ----------------------------------------------------------


def test_the_api_patch_may_apply_from_a_handoff(
    team: Team, client: FlaskClient, auth: dict[str, str]
) -> None:
    dev = staff_id_named(team.app, "Dev Shaw")
    start, horizon = NOW - dt.timedelta(days=7), NOW + dt.timedelta(days=28)
    before = shifts(team.app, team.rota_id, start, horizon)
    handoff = dt.datetime(2026, 10, 26, 9, 0, tzinfo=UTC)
    answer = client.patch(
        f"/api/v1/rotas/{team.rota_id}",
        json={"members": [*team.members, dev], "effective_from": "2026-10-26T09:00"},
        headers=auth,
    )
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["members"] == [*team.members, dev]
    after = shifts(team.app, team.rota_id, start, horizon)
    assert [s for s in after if s.start < handoff] == [s for s in before if s.start < handoff]
    assert [s for s in after if s.start >= handoff] != [s for s in before if s.start >= handoff]
    not_a_handoff = client.patch(
        f"/api/v1/rotas/{team.rota_id}",
        json={"members": team.members, "effective_from": "2026-11-02T10:00"},
        headers=auth,
    )
    assert not_a_handoff.status_code == 422
    assert "effective_from" in str(not_a_handoff.get_json())
    # An earlier handoff than the last change's is refused: that change is already fixed.
    earlier = client.patch(
        f"/api/v1/rotas/{team.rota_id}",
        json={"members": team.members, "effective_from": "2026-10-23T09:00"},
        headers=auth,
    )
    assert earlier.status_code == 422
    # Without effective_from the whole rota changes at once, as before (history kept).
    whole = client.patch(
        f"/api/v1/rotas/{team.rota_id}", json={"shift_length": "PT12H"}, headers=auth
    )
    assert whole.status_code == 200
    assert [s for s in shifts(team.app, team.rota_id, start, horizon) if s.start < handoff] == [
        s for s in before if s.start < handoff
    ]


def test_only_those_whose_shifts_move_are_texted(team: Team) -> None:
    wyn, bea, cal = team.members
    before_90 = shifts(team.app, team.rota_id, NOW, NOW + dt.timedelta(days=90))
    browser = signed_in(team, team.manager)
    browser.get(f"/rotas/{team.rota_id}/change")
    handoff = dt.datetime(2026, 10, 28, 9, 0, tzinfo=UTC)  # Wyn's turn: he carries on
    # The same cycle written from another member: no shift changes, nobody is texted.
    same = {
        "member": [str(i) for i in team.members],
        f"position_{wyn}": "3",
        f"position_{bea}": "1",
        f"position_{cal}": "2",
        "shift_length": "P1D",
        "handoff": handoff.isoformat(),
        "action": "preview",
    }
    assert "No shift in the next four weeks would change." in text(
        post(browser, f"/rotas/{team.rota_id}/change", same)
    )
    assert (
        post(browser, f"/rotas/{team.rota_id}/change", {**same, "action": "apply"}).status_code
        == 303
    )
    assert change_notices(team.app) == {}
    assert on_call_time(shifts(team.app, team.rota_id, NOW, NOW + dt.timedelta(days=90))) == (
        on_call_time(before_90)
    )
    # Bea and Cal swap; Wyn keeps every third day: only Bea and Cal are texted.
    browser.get(f"/rotas/{team.rota_id}/change")
    later = dt.datetime(2026, 10, 31, 9, 0, tzinfo=UTC)  # Wyn's turn again
    swap = {
        "member": [str(bea), str(cal), str(wyn)],
        f"position_{bea}": "2",
        f"position_{cal}": "1",
        f"position_{wyn}": "3",
        "shift_length": "P1D",
        "handoff": later.isoformat(),
        "action": "apply",
    }
    assert post(browser, f"/rotas/{team.rota_id}/change", swap).status_code == 303
    assert change_notices(team.app).keys() == {bea, cal}
    assert moved_people(before_90, app=team.app, rota_id=team.rota_id) == {bea, cal}


def test_deleting_a_rota_deletes_its_revisions(
    team: Team, client: FlaskClient, auth: dict[str, str]
) -> None:
    answer = client.patch(
        f"/api/v1/rotas/{team.rota_id}",
        json={"shift_length": "PT12H", "effective_from": "2026-10-26T09:00"},
        headers=auth,
    )
    assert answer.status_code == 200
    with services_of(team.app).db.transaction() as session:
        assert len(session.scalars(select(RotaRevisionRecord)).all()) == 1
    assert client.delete(f"/api/v1/rotas/{team.rota_id}", headers=auth).status_code == 204
    with services_of(team.app).db.transaction() as session:
        assert session.scalars(select(RotaRevisionRecord)).all() == []
