"""GET /api/v1/reports, /reports.csv, /reports/contacts and /reports/contacts.csv: periods of
local days (default the seven before today, at most 366), 422s naming the field, the per-staff
breakdown refused to integrations and to roles outside supervision, the CSV parsing back to
the JSON's figures, and the drill-down paged, naming participants by reference only and logged
in the record access log.

The figures are a small measure module's (tests/support/report_measures.py), so that what is
tested here is the API; the service's own measures are tested on their own data, and through
the API in test_api_reports_with_measures.py.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from crisisline.clock import FakeClock
from crisisline.models import RecordAccess, StaffRole
from crisisline.permissions import Permission
from tests.support.app import json_list_of, json_of, services_of
from tests.support.people import integration, person
from tests.support.report_measures import (
    ANSWERED_SHARE,
    OFFERED,
    Calls,
    installed,
    seed_calls,
)

__all__ = ["installed"]  # the fixture, used by name

pytestmark = pytest.mark.usefixtures("installed")
WEEK = "from=2026-11-02&to=2026-11-08"


def _calls(app: Flask) -> Calls:
    svc = services_of(app)
    with svc.db.transaction() as session:
        return seed_calls(session, svc.clock.now())


def _manager(app: Flask) -> dict[str, str]:
    return person(app, "Priya Shah", "+447700900111", [StaffRole.DUTY_MANAGER]).headers


def _figures(body: dict[str, object]) -> dict[str, dict[str, object]]:
    figures = body["figures"]
    assert isinstance(figures, list)
    return {f["key"]: f for f in figures}


def test_a_week_of_local_days_gives_every_figure_against_its_target(
    app: Flask, client: FlaskClient
) -> None:
    calls = _calls(app)
    answer = client.get(f"/api/v1/reports?{WEEK}", headers=_manager(app))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = json_of(answer)
    assert body["period"] == {
        "from": "2026-11-02",
        "to": "2026-11-08",
        "days": 7,
        "start": "2026-11-02T00:00:00+00:00",
        "end": "2026-11-09T00:00:00+00:00",
        "zone": "Europe/London",
    }
    figures = _figures(body)
    # Ten calls from Monday 00:00 to Sunday 23:59 local; 23:59 the Sunday before and 00:00
    # the Monday after are outside. Six answered: 60%, under the 90% target.
    assert figures[OFFERED] == {
        "key": OFFERED,
        "label": "Calls offered (test)",
        "unit": "count",
        "group": "Calls",
        "value": 10.0,
        "numerator": None,
        "denominator": None,
        "target": None,
        "better": None,
        "met": None,
        "contacts": 10,
        "parts": [],
    }
    answered = figures[ANSWERED_SHARE]
    assert (answered["value"], answered["numerator"], answered["denominator"]) == (0.6, 6, 10)
    assert (answered["target"], answered["better"], answered["met"]) == (0.9, "higher", False)
    assert body["breakdown"] is None and body["groups"] == []
    assert "before" in calls.contacts and "after" in calls.contacts


def test_the_period_is_local_days_across_the_clock_change(app: Flask, client: FlaskClient) -> None:
    body = json_of(
        client.get("/api/v1/reports?from=2026-10-25&to=2026-10-25", headers=_manager(app))
    )
    # 25 October 2026: the clocks go back, so the local day is 25 hours from 23:00 UTC.
    assert body["period"]["start"] == "2026-10-24T23:00:00+00:00"
    assert body["period"]["end"] == "2026-10-26T00:00:00+00:00"


def test_the_target_follows_the_setting(app: Flask, client: FlaskClient) -> None:
    _calls(app)
    services_of(app).settings.__dict__["target_answer_rate"] = 50.0
    answered = _figures(json_of(client.get(f"/api/v1/reports?{WEEK}", headers=_manager(app))))[
        ANSWERED_SHARE
    ]
    assert (answered["target"], answered["met"]) == (0.5, True)


@pytest.mark.parametrize(
    ("query", "days"),
    [
        ("", ("2026-11-19", "2026-11-25")),  # the clock: Thursday 26 November, 12:00
        ("from=2026-11-02", ("2026-11-02", "2026-11-08")),
        ("to=2026-11-08", ("2026-11-02", "2026-11-08")),
        ("from=2025-11-27&to=2026-11-27", ("2025-11-27", "2026-11-27")),  # 366 days
    ],
)
def test_without_dates_it_is_the_seven_days_before_today(
    app: Flask, client: FlaskClient, query: str, days: tuple[str, str]
) -> None:
    body = json_of(client.get(f"/api/v1/reports?{query}", headers=_manager(app)))
    assert (body["period"]["from"], body["period"]["to"]) == days


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ("from=2026-11-31", "from", "date"),
        ("from=yesterday", "from", "date"),
        ("to=2026-11-01T00:00Z", "to", "date"),
        ("from=2026-11-08&to=2026-11-02", "to", "on or after from"),
        ("from=2025-11-26&to=2026-11-27", "to", "at most 366 days"),
        ("from=0001-01-01", "from", "2000-01-01"),
        ("to=9999-12-31", "to", "2999-12-31"),
        ("breakdown=team", "breakdown", "Must be one of"),
        ("week=45", "week", "not a parameter"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    app: Flask, client: FlaskClient, query: str, field: str, words: str
) -> None:
    headers = _manager(app)
    for path in ("/api/v1/reports", "/api/v1/reports.csv"):
        answer = client.get(f"{path}?{query}", headers=headers)
        assert answer.status_code == 422, answer.get_data(as_text=True)
        body = json_of(answer)
        assert field in body["errors"]["query"]
        assert words in body["message"]


def test_a_breakdown_gives_the_same_figures_over_each_group(
    app: Flask, client: FlaskClient
) -> None:
    _calls(app)
    headers = _manager(app)
    body = json_of(client.get(f"/api/v1/reports?{WEEK}&breakdown=day_night", headers=headers))
    assert body["breakdown"] == "day_night"
    groups = {g["group"]: {f["key"]: f for f in g["figures"]} for g in body["groups"]}
    assert list(groups) == ["day", "night"]
    # The night is the risk rules' (00:00 to 06:00): Monday 02:15 and Saturday 03:40
    # answered, Wednesday 04:10 missed.
    assert groups["night"][OFFERED]["value"] == 3
    assert groups["night"][ANSWERED_SHARE]["numerator"] == 2
    assert groups["day"][OFFERED]["value"] == 7
    assert groups["day"][ANSWERED_SHARE]["numerator"] == 4
    weekdays = json_of(client.get(f"/api/v1/reports?{WEEK}&breakdown=weekday", headers=headers))
    assert [g["group"] for g in weekdays["groups"]] == [
        "Mon",
        "Tue",
        "Wed",
        "Thu",
        "Fri",
        "Sat",
        "Sun",
    ]


@pytest.mark.parametrize("role", [StaffRole.DUTY_MANAGER, StaffRole.CLINICAL_LEAD])
def test_the_staff_breakdown_is_for_duty_managers_and_the_clinical_lead(
    app: Flask, client: FlaskClient, role: StaffRole
) -> None:
    _calls(app)
    headers = person(app, "Joan Baxter", "+447700900112", [role]).headers
    body = json_of(client.get(f"/api/v1/reports?{WEEK}&breakdown=staff", headers=headers))
    groups = {g["group"]: {f["key"]: f for f in g["figures"]} for g in body["groups"]}
    assert groups["Amira Okafor"][OFFERED]["value"] == 6
    assert groups["nobody"][OFFERED]["value"] == 4


def test_an_integration_is_refused_the_staff_breakdown_and_told_why(
    app: Flask, client: FlaskClient
) -> None:
    _calls(app)
    headers = integration(app, "commissioner-dashboard", [Permission.REPORTS_READ])
    assert client.get(f"/api/v1/reports?{WEEK}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/reports?{WEEK}&breakdown=rota", headers=headers).status_code == 200
    for path in (
        f"/api/v1/reports?{WEEK}&breakdown=staff",
        f"/api/v1/reports.csv?{WEEK}&breakdown=staff",
        f"/api/v1/reports/contacts?{WEEK}&measure={OFFERED}&breakdown=staff&group=nobody",
        f"/api/v1/reports/contacts.csv?{WEEK}&measure={OFFERED}&breakdown=staff",
    ):
        answer = client.get(path, headers=headers)
        assert answer.status_code == 403, path
        message = json_of(answer)["message"]
        assert "only a duty manager or the clinical lead" in message
        assert "integration's token" in message


def test_a_person_outside_supervision_is_refused_the_staff_breakdown(
    app: Flask, client: FlaskClient
) -> None:
    # Only the supervising roles hold reports:read, so a person without one is refused at the
    # gate; a person holding one of them beside another role (an administrator who is also a
    # duty manager) may see the breakdown.
    officer = person(app, "Tom Hale", "+447700900113", [StaffRole.RESPONSIBLE_OFFICER])
    answer = client.get(f"/api/v1/reports?{WEEK}&breakdown=staff", headers=officer.headers)
    assert answer.status_code == 403
    both = person(app, "Sam Ito", "+447700900114", [StaffRole.ADMIN, StaffRole.DUTY_MANAGER])
    answer = client.get(f"/api/v1/reports?{WEEK}&breakdown=staff", headers=both.headers)
    assert answer.status_code == 200


def test_the_csv_parses_back_to_the_json_figures(app: Flask, client: FlaskClient) -> None:
    _calls(app)
    headers = _manager(app)
    query = f"{WEEK}&breakdown=day_night"
    body = json_of(client.get(f"/api/v1/reports?{query}", headers=headers))
    answer = client.get(f"/api/v1/reports.csv?{query}", headers=headers)
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    assert 'filename="report-2026-11-02_2026-11-08.csv"' in answer.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    from_json = {("all", f["key"]): f for f in body["figures"]}
    for group in body["groups"]:
        from_json.update({(group["group"], f["key"]): f for f in group["figures"]})
    assert {(row["group"], row["measure"]) for row in rows} == set(from_json)
    for row in rows:
        figure = from_json[(row["group"], row["measure"])]
        assert row["label"] == figure["label"] and row["unit"] == figure["unit"]
        assert float(row["value"]) == pytest.approx(figure["value"])
        assert (int(row["numerator"]) if row["numerator"] else None) == figure["numerator"]
        assert (int(row["denominator"]) if row["denominator"] else None) == figure["denominator"]
        assert (float(row["target"]) if row["target"] else None) == figure["target"]
        assert int(row["contacts"]) == figure["contacts"]
        assert row["period_start"] == body["period"]["start"]
        assert row["period_end"] == body["period"]["end"]


def test_the_drill_down_lists_exactly_the_contacts_a_figure_counts_page_by_page(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    calls = _calls(app)
    headers = _manager(app)
    base = f"/api/v1/reports/contacts?{WEEK}&measure={ANSWERED_SHARE}&page_size=4"
    first = client.get(base, headers=headers)
    assert first.status_code == 200, first.get_data(as_text=True)
    paging = json.loads(first.headers["X-Pagination"])
    assert (paging["total"], paging["total_pages"]) == (6, 2)
    assert 'rel="next"' in first.headers["Link"]
    second = client.get(f"{base}&page=2", headers=headers)
    listed = json_list_of(first) + json_list_of(second)
    answered = ["mon_night", "tue_day", "thu_day", "fri_day", "sat_night", "sun_late"]
    assert [row["contact_id"] for row in listed] == [calls.contacts[n] for n in answered]
    row = listed[0]
    assert row == {
        "contact_id": calls.contacts["mon_night"],
        "started_at": "2026-11-02T02:15:00+00:00",
        "channel": "voice",
        "direction": "inbound",
        "outcome": "answered",
        "wait_seconds": 20,
        "duration_seconds": 280,
        "participant": "R1001",
        "handled_by": "Amira Okafor",
        "contact": f"/api/v1/contacts/{calls.contacts['mon_night']}",
    }
    text = first.get_data(as_text=True) + second.get_data(as_text=True)
    for secret in ("Daniel", "Marcus", "+447700900201", "+447700900202"):
        assert secret not in text
    # A group of the breakdown: the night's answered calls alone.
    night = client.get(
        f"/api/v1/reports/contacts?{WEEK}&measure={ANSWERED_SHARE}&breakdown=day_night&group=night",
        headers=headers,
    )
    assert [r["contact_id"] for r in json_list_of(night)] == [
        calls.contacts["mon_night"],
        calls.contacts["sat_night"],
    ]
    # A group the breakdown has no facts in lists nothing.
    empty = client.get(
        f"/api/v1/reports/contacts?{WEEK}&measure={OFFERED}&breakdown=rota&group=backup",
        headers=headers,
    )
    assert empty.status_code == 200 and json_list_of(empty) == []


def test_reading_the_drill_down_is_logged_for_each_participant_listed(
    app: Flask, client: FlaskClient
) -> None:
    calls = _calls(app)
    manager = person(app, "Priya Shah", "+447700900111", [StaffRole.DUTY_MANAGER])
    # The first page holds Daniel's night call and the missed calls of Marcus and an unknown.
    answer = client.get(
        f"/api/v1/reports/contacts?from=2026-11-02&to=2026-11-02&measure={OFFERED}",
        headers=manager.headers,
    )
    assert [r["participant"] for r in json_list_of(answer)] == ["R1001", "R1002"]
    answer = client.get(
        f"/api/v1/reports/contacts.csv?from=2026-11-06&to=2026-11-06&measure={OFFERED}",
        headers=manager.headers,
    )
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert [(r["participant"], r["outcome"]) for r in rows] == [
        ("R1002", "answered"),
        ("", "missed"),
    ]
    # The figures alone name nobody: reading them is not logged.
    client.get(f"/api/v1/reports?{WEEK}", headers=manager.headers)
    with services_of(app).db.transaction() as session:
        logged = session.execute(
            select(RecordAccess.action, RecordAccess.record_type, RecordAccess.participant_id)
            .where(RecordAccess.staff_id == manager.staff_id)
            .order_by(RecordAccess.id)
        ).all()
    daniel, marcus = calls.participants["R1001"], calls.participants["R1002"]
    assert [tuple(row) for row in logged] == [
        ("read", "contacts", daniel),
        ("read", "contacts", marcus),
        ("export", "contacts", marcus),
    ]


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ("", "measure", "Missing data"),
        ("measure=calls.nothing", "measure", "is not a measure"),
        (f"measure={OFFERED}&group=night", "group", "needs a breakdown"),
        (f"measure={OFFERED}&breakdown=day_night&group=evening", "group", "not a group"),
        (f"measure={OFFERED}&breakdown=hour&group=24", "group", "not a group"),
        (f"measure={OFFERED}&to=2026-11-01&from=2026-11-02", "to", "on or after from"),
    ],
)
def test_the_drill_down_names_the_field_it_cannot_read(
    app: Flask, client: FlaskClient, query: str, field: str, words: str
) -> None:
    headers = _manager(app)
    for path in ("/api/v1/reports/contacts", "/api/v1/reports/contacts.csv"):
        answer = client.get(f"{path}?{query}", headers=headers)
        assert answer.status_code == 422, answer.get_data(as_text=True)
        body = json_of(answer)
        assert field in body["errors"]["query"], body
        assert words in body["message"]


def test_reports_need_reports_read(app: Flask, client: FlaskClient) -> None:
    worker = person(app, "Lee Bell", "+447700900115", [StaffRole.ON_CALL])
    other = integration(app, "rota-sync", [Permission.ROTAS_READ])
    for headers in (worker.headers, other):
        for path in (
            "/api/v1/reports",
            "/api/v1/reports.csv",
            f"/api/v1/reports/contacts?measure={OFFERED}",
            f"/api/v1/reports/contacts.csv?measure={OFFERED}",
        ):
            assert client.get(path, headers=headers).status_code == 403, path
    assert client.get("/api/v1/reports").status_code == 401
