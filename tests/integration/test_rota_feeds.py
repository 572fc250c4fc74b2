"""Calendar feeds: tokens stored hashed, feeds that import back to the same shifts, stable UIDs."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from icalendar import Calendar
from sqlalchemy import select

from crisisline import rota_service, staffing
from crisisline import staff as staff_service
from crisisline.clock import FakeClock
from crisisline.models import StaffRole
from crisisline.rota_models import CalendarFeedToken
from crisisline.tokens import hash_token
from tests.support.app import json_list_of, json_of, services_of
from tests.support.engine_line import PRIMARY, Line, staffed_line

UTC = dt.UTC


def _seed(app: Flask) -> dict[str, int]:
    services = services_of(app)
    now = services.clock.now()
    ids: dict[str, int] = {}
    with services.db.transaction() as session:
        for key, name, phone in (
            ("a", "Petra Lindqvist", "+447700900431"),
            ("b", "Osian Marsh", "+447700900432"),
            ("c", "Delphine Okoro", "+447700900433"),
        ):
            person = staff_service.create(
                session,
                staff_service.NewStaff(name, phone, None, [StaffRole.ON_CALL]),
                actor="tests",
                now=now,
            )
            ids[key] = person.id
        primary = rota_service.create(
            session,
            rota_service.NewRota(
                name="primary",
                timezone="Europe/London",
                members=[ids["a"], ids["b"]],
                shift_length="PT12H",
                first_handoff=dt.datetime(2026, 1, 5, 8, 0),
            ),
            actor="tests",
            now=now,
        )
        managers = rota_service.create(
            session,
            rota_service.NewRota(
                name="duty manager",
                timezone="Europe/London",
                members=[ids["c"]],
                shift_length="P7D",
                first_handoff=dt.datetime(2026, 1, 5, 9, 0),
            ),
            actor="tests",
            now=now,
        )
        ids["primary"], ids["managers"] = primary.id, managers.id
        # c covers one of a's day shifts on the primary rota without being a member of it.
        staffing.add_override(
            session,
            primary.id,
            rota_service.NewOverride(
                staff_id=ids["c"],
                start=dt.datetime(2026, 11, 27, 8, 0, tzinfo=UTC),
                end=dt.datetime(2026, 11, 27, 20, 0, tzinfo=UTC),
                mode="replace",
                reason="swap",
            ),
            actor="tests",
            now=now,
        )
    return ids


def _token_url(client: FlaskClient, auth: dict[str, str], path: str) -> str:
    response = client.post(path, headers=auth)
    assert response.status_code == 201, response.json
    url = str(json_of(response)["url"])
    assert url.startswith("https://crisis.example.org/calendar/")
    assert json_of(response)["webcal_url"] == "webcal://" + url.removeprefix("https://")
    return urlsplit(url).path


def _events(client: FlaskClient, path: str) -> list[dict[str, Any]]:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.data)
    return [
        {
            "uid": str(event["UID"]),
            "start": event.decoded("DTSTART"),
            "end": event.decoded("DTEND"),
            "summary": str(event["SUMMARY"]),
        }
        for event in calendar.walk("VEVENT")
    ]


def _api_shifts(
    client: FlaskClient, auth: dict[str, str], rota_id: int, start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, dt.datetime, list[str]]]:
    response = client.get(
        f"/api/v1/rotas/{rota_id}/shifts",
        query_string={"from": start.isoformat(), "to": end.isoformat()},
        headers=auth,
    )
    assert response.status_code == 200, response.json
    return [
        (
            dt.datetime.fromisoformat(s["start"]),
            dt.datetime.fromisoformat(s["end"]),
            [p["name"] for p in s["staff"]],
        )
        for s in json_list_of(response)
        if s["staff"]
    ]


def test_rota_feed_imports_back_to_the_same_shifts_as_the_api(
    app: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    ids = _seed(app)
    path = _token_url(client, auth, f"/api/v1/rotas/{ids['primary']}/calendar-token")
    events = _events(client, path)
    now = services_of(app).clock.now()
    assert events[0]["start"] <= now - dt.timedelta(days=7)
    assert events[-1]["end"] >= now + dt.timedelta(days=60)
    expected = _api_shifts(client, auth, ids["primary"], events[0]["start"], events[-1]["end"])
    got = [(e["start"], e["end"], e["summary"].split(": ", 1)[1].split(" + ")) for e in events]
    assert got == expected
    assert all(e["start"].tzinfo is not None for e in events)
    swapped = [e for e in events if e["start"] == dt.datetime(2026, 11, 27, 8, 0, tzinfo=UTC)]
    assert [e["summary"] for e in swapped] == ["primary: Delphine Okoro"]
    assert len({e["uid"] for e in events}) == len(events)
    # Phone numbers stay out of a feed that lives in third-party calendar apps.
    assert b"+4477009004" not in client.get(path).data


def test_uids_are_stable_across_refreshes_and_untouched_shifts_keep_theirs(
    app: Flask, client: FlaskClient, auth: dict[str, str], clock: FakeClock
) -> None:
    ids = _seed(app)
    path = _token_url(client, auth, f"/api/v1/rotas/{ids['primary']}/calendar-token")
    first = {(e["start"], e["end"]): e["uid"] for e in _events(client, path)}
    clock.advance(dt.timedelta(hours=1))
    again = {(e["start"], e["end"]): e["uid"] for e in _events(client, path)}
    assert again == first
    # An override on one night changes that night's events only.
    response = client.post(
        f"/api/v1/rotas/{ids['primary']}/overrides",
        json={
            "staff_id": ids["a"],
            "start": "2026-12-01T20:00Z",
            "end": "2026-12-02T02:00Z",
            "reason": "cover",
        },
        headers=auth,
    )
    assert response.status_code == 201
    after = {(e["start"], e["end"]): e["uid"] for e in _events(client, path)}
    unchanged = {k: v for k, v in first.items() if k[1] <= dt.datetime(2026, 12, 1, 20, tzinfo=UTC)}
    assert unchanged.items() <= after.items()
    night = dt.datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
    assert (
        after[(night, dt.datetime(2026, 12, 2, 2, 0, tzinfo=UTC))]
        == first[(night, dt.datetime(2026, 12, 2, 8, 0, tzinfo=UTC))]
    )


def test_staff_feed_lists_their_shifts_on_every_rota_including_cover(
    app: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    ids = _seed(app)
    path = _token_url(client, auth, f"/api/v1/staff/{ids['c']}/calendar-token")
    events = _events(client, path)
    summaries = {e["summary"] for e in events}
    assert summaries == {"On call: duty manager", "On call: primary"}
    cover = [e for e in events if e["summary"] == "On call: primary"]
    assert [(e["start"], e["end"]) for e in cover] == [
        (dt.datetime(2026, 11, 27, 8, 0, tzinfo=UTC), dt.datetime(2026, 11, 27, 20, 0, tzinfo=UTC))
    ]
    weekly = [e for e in events if e["summary"] == "On call: duty manager"]
    # Weekly turns hand over on Mondays at 09:00 local, whole turns even at the window's edges.
    assert all(e["start"].astimezone(dt.UTC).hour == 9 for e in weekly)
    assert all(e["end"] - e["start"] == dt.timedelta(days=7) for e in weekly)


def test_feed_tokens_are_hashed_replaced_by_a_new_one_and_tied_to_their_kind(
    app: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    ids = _seed(app)
    old = _token_url(client, auth, f"/api/v1/rotas/{ids['primary']}/calendar-token")
    new = _token_url(client, auth, f"/api/v1/rotas/{ids['primary']}/calendar-token")
    assert client.get(old).status_code == 404
    assert client.get(new).status_code == 200
    token = new.removeprefix("/calendar/rotas/").removesuffix(".ics")
    assert len(token) > 40
    assert client.get(f"/calendar/staff/{token}.ics").status_code == 404
    assert client.get("/calendar/rotas/cal_guessed.ics").status_code == 404
    with services_of(app).db.transaction() as session:
        rows = session.scalars(select(CalendarFeedToken)).all()
        assert [row.token_hash for row in rows] == [hash_token(token)]
    assert client.post("/api/v1/staff/999/calendar-token", headers=auth).status_code == 404
    assert client.post("/api/v1/rotas/999/calendar-token", headers=auth).status_code == 404
    # Deleting a rota withdraws its feed. ("primary" cannot be deleted: the shipped escalation
    # policies name it.)
    managers = _token_url(client, auth, f"/api/v1/rotas/{ids['managers']}/calendar-token")
    assert client.get(managers).status_code == 200
    refused = client.delete(f"/api/v1/rotas/{ids['primary']}", headers=auth)
    assert refused.status_code == 409
    assert client.delete(f"/api/v1/rotas/{ids['managers']}", headers=auth).status_code == 204
    assert client.get(managers).status_code == 404


# ---- a leaver on the calendar feeds (safety review) -------------------------------------------


@pytest.fixture
def line(app: Flask, clock: FakeClock) -> Line:
    return staffed_line(app, clock)


@pytest.mark.hazard("H81")
def test_a_deactivated_workers_calendar_link_stops_working(line: Line, client: FlaskClient) -> None:
    """A leaver's (or a lost phone's) feed link keeps showing who is on call and when."""
    from crisisline import calendar_feeds
    from crisisline.rota_models import CalendarFeedKind

    with line.svc.db.transaction() as session:
        token = calendar_feeds.create_token(
            session, CalendarFeedKind.STAFF, line.ids[PRIMARY], actor="t", now=line.clock.now()
        )
    path = calendar_feeds.feed_path(CalendarFeedKind.STAFF, token)
    assert client.get(path).status_code == 200
    with line.svc.db.transaction() as session:
        staffing.deactivate_staff(session, line.ids[PRIMARY], actor="t", now=line.clock.now())
    assert client.get(path).status_code == 404


@pytest.mark.hazard("H82")
def test_a_rota_feed_does_not_show_a_deactivated_member_covering_a_gap(
    line: Line, client: FlaskClient
) -> None:
    """After deactivation nobody is on call for primary, but the feed still names Amira."""
    from crisisline import calendar_feeds, rota_service
    from crisisline.rota_models import CalendarFeedKind

    with line.svc.db.transaction() as session:
        token = calendar_feeds.create_token(
            session, CalendarFeedKind.ROTA, line.ids["primary"], actor="t", now=line.clock.now()
        )
        staffing.deactivate_staff(session, line.ids[PRIMARY], actor="t", now=line.clock.now())
    with line.svc.db.transaction() as session:
        now_on_call = rota_service.on_call(session, line.ids["primary"], line.clock.now()).staff
        assert [p.name for p in now_on_call if p.active] == []  # a gap: the chain skips it
    from icalendar import Calendar

    feed = client.get(calendar_feeds.feed_path(CalendarFeedKind.ROTA, token))
    assert feed.status_code == 200
    now = line.clock.now()
    current_and_future = [
        str(event.get("summary"))
        for event in Calendar.from_ical(feed.get_data()).walk("VEVENT")
        if event.decoded("dtend") > now
    ]
    # Past shifts may name her; the one she no longer covers and those to come must not.
    assert [s for s in current_and_future if "Amira Okafor" in s] == []
