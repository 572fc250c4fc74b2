"""GET /api/v1/handover?from=&to=: the handover's sections as JSON, for duty managers, the
clinical lead and integrations holding handover:read; the default period; 422 naming the
field for a time it cannot read, a reversed range or one longer than 31 days."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from crisisline.clock import FakeClock
from crisisline.models import RecordAccess, StaffRole
from crisisline.permissions import Permission
from tests.support.app import json_of, services_of
from tests.support.handover import END, Night, build_night
from tests.support.people import integration, person
from tests.support.tokens import bearer, issue_token

PERIOD = "from=2026-12-05T08:30Z&to=2026-12-06T08:30Z"


def _night(app: Flask, clock: FakeClock) -> Night:
    with services_of(app).db.transaction() as session:
        night = build_night(session)
    clock.set(END)
    return night


def _manager(app: Flask, night: Night) -> dict[str, str]:
    return bearer(issue_token(app, "priya", staff_id=night.staff["priya"]))


def test_a_duty_manager_reads_every_section_of_the_period(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    night = _night(app, clock)
    answer = client.get(f"/api/v1/handover?{PERIOD}", headers=_manager(app, night))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = json_of(answer)
    assert (body["start"], body["end"]) == (
        "2026-12-05T08:30:00+00:00",
        "2026-12-06T08:30:00+00:00",
    )
    assert body["counts"] == {
        "calls": 3,
        "missed": 2,
        "voicemails": 1,
        "texts": 2,
        "alerts": 1,
        "no_note": 2,
    }
    groups = {g["label"]: g for g in body["participants"]}
    assert list(groups) == ["R1001 D.P.", "R1002 M.R.", "Unknown callers"]
    daniel = groups["R1001 D.P."]["contacts"]
    assert [c["kind"] for c in daniel] == ["call_answered", "conversation"]
    assert daniel[0]["note"]["risk_now"] == "medium"
    assert daniel[0]["note"]["version"] == 2
    assert daniel[0]["contact"] == f"/api/v1/contacts/{night.contacts['answered']}"
    assert daniel[1]["no_note_yet"] is True and daniel[1]["reply_seconds"] == 480
    assert [a["alert_id"] for a in body["alerts"]] == [night.alerts["in_period"]]
    assert len(body["follow_ups_open"]) == 2
    assert [d["author"] for d in body["debriefs"]] == ["Amira Okafor"]
    assert [e["escalation_id"] for e in body["escalations"]] == [
        night.escalations["second_step"],
        night.escalations["ran_out"],
    ]
    assert [g["rota"] for g in body["gaps"]] == ["primary"]
    assert body["failures"]["failed_deliveries"] == [{"purpose": "escalation", "count": 2}]
    assert body["failures"]["scheduler_stale"] is True
    # The note's text and the follow-up's wording stay on the contact, as do the bodies.
    text = answer.get_data(as_text=True)
    for secret in [*night.bodies, *night.note_texts]:
        assert secret not in text


def test_without_a_period_it_is_the_last_morning_handover(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    night = _night(app, clock)
    body = json_of(client.get("/api/v1/handover", headers=_manager(app, night)))
    assert (body["start"], body["end"]) == (
        "2026-12-05T08:30:00+00:00",
        "2026-12-06T08:30:00+00:00",
    )
    # From alone runs until now; local times are the service's zone.
    body = json_of(
        client.get("/api/v1/handover?from=2026-12-05T17:00", headers=_manager(app, night))
    )
    assert (body["start"], body["end"]) == (
        "2026-12-05T17:00:00+00:00",
        "2026-12-06T08:30:00+00:00",
    )


def test_a_bad_reversed_or_too_long_period_is_a_422_naming_the_field(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    night = _night(app, clock)
    headers = _manager(app, night)
    for query, field in (
        ("from=teatime", "from"),
        ("from=2026-12-06T08:30Z&to=2026-12-05T08:30Z", "to"),
        ("from=2026-10-01T00:00Z&to=2026-11-02T00:00Z", "to"),
        ("to=2026-03-29T01:30", "to"),
        ("from=2026-12-07T08:30Z", "from"),
    ):
        answer = client.get(f"/api/v1/handover?{query}", headers=headers)
        assert answer.status_code == 422, (query, answer.get_data(as_text=True))
        assert field in json_of(answer)["errors"]["query"], (query, answer.get_json())


def test_only_duty_managers_the_clinical_lead_and_holders_of_the_scope_read_it(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    night = _night(app, clock)
    lead = bearer(issue_token(app, "cara", staff_id=night.staff["cara"]))
    assert client.get(f"/api/v1/handover?{PERIOD}", headers=lead).status_code == 200
    scoped = integration(app, "reporting", [Permission.HANDOVER_READ])
    assert client.get(f"/api/v1/handover?{PERIOD}", headers=scoped).status_code == 200
    for roles in ([StaffRole.ON_CALL], [StaffRole.RESPONSIBLE_OFFICER], [StaffRole.ADMIN]):
        other = person(app, f"Someone {roles[0]}", f"+44770090090{len(roles[0])}", roles)
        answer = client.get(f"/api/v1/handover?{PERIOD}", headers=other.headers)
        assert answer.status_code == 403, roles
    unscoped = integration(app, "rotas", [Permission.ROTAS_READ])
    assert client.get(f"/api/v1/handover?{PERIOD}", headers=unscoped).status_code == 403
    assert client.get(f"/api/v1/handover?{PERIOD}").status_code == 401


def test_reading_it_is_logged_once_per_participant_named(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    night = _night(app, clock)
    client.get(f"/api/v1/handover?{PERIOD}", headers=_manager(app, night))
    with services_of(app).db.transaction() as session:
        logged = session.execute(
            select(RecordAccess.participant_id, RecordAccess.record_type).where(
                RecordAccess.actor == f"staff:{night.staff['priya']}"
            )
        ).all()
    assert sorted(logged) == sorted(
        # Leon had no contact in the period, but has no crisis plan: the handover names him.
        (night.participants[key], "handover")
        for key in ("daniel", "marcus", "leon")
    )
