"""The report through the API with the service's own measures (crisisline.call_measures,
crisisline.care_measures and crisisline.cover_measures): every measure named in
docs/reports.md is in the JSON, the CSV parses back to it, and each figure's drill-down lists
exactly as many contacts as the figure says it counts. The calls of
tests/support/report_measures.py give the one figure the definition settles by hand: ten
inbound calls offered in the week.

The modules' own tests work every figure out on hand-built data; these check that the API
carries them all, whole.
"""

from __future__ import annotations

import csv
import io
import json

from flask import Flask
from flask.testing import FlaskClient

from crisisline.models import StaffRole
from tests.support.app import json_list_of, json_of, services_of
from tests.support.people import person
from tests.support.report_measures import seed_calls

WEEK = "from=2026-11-02&to=2026-11-08"
KEYS = (
    "calls.offered",
    "calls.answered",
    "calls.answer_rate",
    "calls.answered_within_60s",
    "calls.time_to_answer_median",
    "calls.time_to_answer_p90",
    "calls.abandoned",
    "calls.abandoned_after_30s",
    "calls.fallback",
    "calls.voicemails",
    "callbacks.missed",
    "callbacks.called_back_share",
    "callbacks.time_median",
    "callbacks.time_p90",
    "callbacks.not_within_24h",
    "texts.conversations",
    "texts.first_reply_median",
    "texts.first_reply_p90",
    "texts.replied_within_5min",
    "texts.no_reply",
    "escalations.second_step",
    "escalations.last_step",
    "escalations.ran_out",
    "alerts.raised",
    "alerts.time_to_ack_median",
    "rota.gap_hours",
    "notes.within_30min",
    "notes.by_handover",
)


def test_every_measure_comes_through_the_api_and_its_csv_with_its_contacts(
    app: Flask, client: FlaskClient
) -> None:
    svc = services_of(app)
    with svc.db.transaction() as session:
        seed_calls(session, svc.clock.now())
    headers = person(app, "Priya Shah", "+447700900111", [StaffRole.DUTY_MANAGER]).headers
    body = json_of(client.get(f"/api/v1/reports?{WEEK}&breakdown=day_night", headers=headers))
    figures = {f["key"]: f for f in body["figures"]}
    missing = [key for key in KEYS if key not in figures]
    assert not missing, f"measures missing from the report: {missing}"
    assert figures["calls.offered"]["value"] == 10
    assert figures["calls.offered"]["contacts"] == 10

    rows = list(
        csv.DictReader(
            io.StringIO(
                client.get(
                    f"/api/v1/reports.csv?{WEEK}&breakdown=day_night", headers=headers
                ).get_data(as_text=True)
            )
        )
    )
    whole = {row["measure"]: row for row in rows if row["group"] == "all"}
    for key, figure in figures.items():
        row = whole[key]
        assert (float(row["value"]) if row["value"] else None) == figure["value"], key
        assert int(row["contacts"]) == figure["contacts"], key

    for key, figure in figures.items():
        answer = client.get(
            f"/api/v1/reports/contacts?{WEEK}&measure={key}&page_size=100", headers=headers
        )
        assert answer.status_code == 200, key
        assert json.loads(answer.headers["X-Pagination"])["total"] == figure["contacts"], key
        assert len(json_list_of(answer)) == min(figure["contacts"], 100), key
