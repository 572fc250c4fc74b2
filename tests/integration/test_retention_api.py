"""/api/v1/retention: the runs and what each removed, for retention:read (the clinical lead,
the administrator, an integration given the scope); others are refused."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient

from crisisline import retention
from crisisline.clock import FakeClock
from crisisline.models import StaffRole
from crisisline.permissions import Permission
from tests.support.app import json_list_of, json_of, services_of
from tests.support.people import integration, person
from tests.support.retention import schedule_for_tests, seed_history


def _run(app: Flask, clock: FakeClock) -> retention.Outcome:
    svc = services_of(app)
    outcome = retention.run(
        svc.db,
        schedule_for_tests(),
        clock=clock.now,
        zone=svc.settings.zone,
        secret_key=svc.settings.secret_key,
        actor="cli",
    )
    assert outcome is not None
    return outcome


def test_the_clinical_lead_reads_the_runs_and_what_one_removed(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    seed_history(services_of(app).db)
    outcome = _run(app, clock)
    lead = person(app, "Ffion Carew", "+447700900160", [StaffRole.CLINICAL_LEAD])

    runs = client.get("/api/v1/retention/runs", headers=lead.headers)
    assert runs.status_code == 200
    [listed] = json_list_of(runs)
    assert listed["id"] == outcome.run_id
    assert (listed["status"], listed["actor"], listed["held"]) == ("finished", "cli", 1)
    assert listed["counts"] == outcome.counts
    assert listed["actions"] == f"/api/v1/retention/runs/{outcome.run_id}/actions"

    one = json_of(client.get(f"/api/v1/retention/runs/{outcome.run_id}", headers=lead.headers))
    bodies = [c for c in one["by_rule"] if c["rule"] == "message_bodies"]
    assert bodies == [
        {
            "rule": "message_bodies",
            "record_type": "contact",
            "action": "anonymised",
            "count": outcome.counts["message_bodies"],
        }
    ]

    page = client.get(
        f"/api/v1/retention/runs/{outcome.run_id}/actions?rule=notes&page_size=5",
        headers=lead.headers,
    )
    assert page.status_code == 200
    actions = json_list_of(page)
    assert len(actions) == 5
    assert {a["rule"] for a in actions} == {"notes"}
    assert json.loads(page.headers["X-Pagination"])["total"] == outcome.counts["notes"]
    assert 'rel="next"' in page.headers["Link"]
    assert "sleep" not in page.get_data(as_text=True)


def test_an_integration_with_the_scope_reads_them(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    outcome = _run(app, clock)
    headers = integration(app, "DPO dashboard", [Permission.RETENTION_READ])
    answer = client.get(f"/api/v1/retention/runs/{outcome.run_id}", headers=headers)
    assert answer.status_code == 200
    assert json_of(answer)["by_rule"] == []


@pytest.mark.hazard("H269")
@pytest.mark.parametrize(
    "role", [StaffRole.ON_CALL, StaffRole.DUTY_MANAGER, StaffRole.RESPONSIBLE_OFFICER]
)
def test_others_are_refused(
    app: Flask, client: FlaskClient, clock: FakeClock, role: StaffRole
) -> None:
    outcome = _run(app, clock)
    someone = person(app, "Gethin Pryce", "+447700900161", [role])
    for path in (
        "/api/v1/retention/runs",
        f"/api/v1/retention/runs/{outcome.run_id}",
        f"/api/v1/retention/runs/{outcome.run_id}/actions",
    ):
        assert client.get(path, headers=someone.headers).status_code == 403
    other = integration(app, "Rota feed", [Permission.ROTAS_READ])
    assert client.get("/api/v1/retention/runs", headers=other).status_code == 403


def test_an_unknown_run_is_404_and_an_unknown_rule_422_naming_it(
    app: Flask, client: FlaskClient, clock: FakeClock, auth: dict[str, str]
) -> None:
    outcome = _run(app, clock)
    missing = client.get("/api/v1/retention/runs/999", headers=auth)
    assert missing.status_code == 404
    assert "no retention run with id 999" in json_of(missing)["message"]
    assert client.get("/api/v1/retention/runs/999/actions", headers=auth).status_code == 404
    wrong = client.get(
        f"/api/v1/retention/runs/{outcome.run_id}/actions?rule=everything", headers=auth
    )
    assert wrong.status_code == 422
    assert "rule" in json_of(wrong)["errors"]["query"]
