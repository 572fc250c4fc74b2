"""The API reads a time without an offset as local wall-clock time (the rota's zone, else the
service's TIMEZONE), refuses a time the clocks skip or repeat, and finds rotas by name."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from crisisline.api.common import MAX_ID
from tests.support.app import json_list_of, json_of


def _staff(client: FlaskClient, auth: dict[str, str], name: str, phone: str) -> int:
    body = {"name": name, "phone": phone, "roles": ["on_call"]}
    response = client.post("/api/v1/staff", json=body, headers=auth)
    assert response.status_code == 201, response.json
    return int(json_of(response)["id"])


def _rota(client: FlaskClient, auth: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post("/api/v1/rotas", json=body, headers=auth)
    assert response.status_code == 201, response.json
    return json_of(response)


def _rotas(client: FlaskClient, auth: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """'primary' in London and 'Night Desk' in New York, daily from 08:00 local."""
    members = [
        _staff(client, auth, "Morwenna Hale", "07700 900411"),
        _staff(client, auth, "Tobias Quill", "07700 900412"),
    ]
    london = _rota(
        client,
        auth,
        name="primary",
        timezone="Europe/London",
        members=members,
        shift_length="P1D",
        first_handoff="2026-01-05T08:00",
    )
    new_york = _rota(
        client,
        auth,
        name="Night Desk",
        timezone="America/New_York",
        members=members,
        shift_length="P1D",
        first_handoff="2026-01-05T08:00",
    )
    return london, new_york


def _override(
    client: FlaskClient, auth: dict[str, str], rota: str | int, start: str, end: str
) -> Any:
    body = {"staff_id": None, "start": start, "end": end, "reason": "training"}
    return client.post(f"/api/v1/rotas/{rota}/overrides", json=body, headers=auth)


def test_an_override_in_local_time_is_read_in_the_rotas_zone(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    london, new_york = _rotas(client, auth)
    # The newcomer's command: a winter morning in London is UTC.
    winter = _override(client, auth, london["id"], "2026-12-05T08:00", "2026-12-05T12:00")
    assert winter.status_code == 201, winter.json
    assert json_of(winter)["start"] == "2026-12-05T08:00:00+00:00"
    summer = _override(client, auth, "primary", "2026-07-05T08:00", "2026-07-05T12:00")
    assert json_of(summer)["start"] == "2026-07-05T07:00:00+00:00"  # BST
    assert json_of(summer)["end"] == "2026-07-05T11:00:00+00:00"
    # The same words on the New York rota are New York's 08:00.
    ny = _override(client, auth, new_york["id"], "2026-12-05T08:00", "2026-12-05T12:00")
    assert json_of(ny)["start"] == "2026-12-05T13:00:00+00:00"
    # An explicit offset wins over the rota's zone.
    given = _override(client, auth, new_york["id"], "2026-12-05T08:00Z", "2026-12-05T09:00+00:00")
    assert json_of(given)["start"] == "2026-12-05T08:00:00+00:00"
    assert json_of(given)["end"] == "2026-12-05T09:00:00+00:00"


def test_on_call_shifts_and_override_lists_read_local_times_in_the_rotas_zone(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    _, new_york = _rotas(client, auth)
    created = _override(client, auth, "Night Desk", "2026-12-05T08:00", "2026-12-05T12:00")
    override_id = json_of(created)["id"]

    during = client.get("/api/v1/rotas/Night Desk/on-call?at=2026-12-05T09:00", headers=auth)
    assert json_of(during)["at"] == "2026-12-05T14:00:00+00:00"
    assert json_of(during)["override_ids"] == [override_id]
    # 09:00 in London is 04:00 in New York: before the override.
    with_offset = client.get(
        f"/api/v1/rotas/{new_york['id']}/on-call",
        query_string={"at": "2026-12-05T09:00+00:00"},
        headers=auth,
    )
    assert json_of(with_offset)["override_ids"] == []

    shifts = client.get(
        "/api/v1/rotas/night desk/shifts?from=2026-12-05T08:00&to=2026-12-05T12:00", headers=auth
    )
    assert [(s["start"], s["end"]) for s in json_list_of(shifts)] == [
        ("2026-12-05T13:00:00+00:00", "2026-12-05T17:00:00+00:00")
    ]
    meeting = client.get(
        "/api/v1/rotas/Night%20Desk/overrides?from=2026-12-05T11:00&to=2026-12-05T11:30",
        headers=auth,
    )
    assert [o["id"] for o in json_list_of(meeting)] == [override_id]
    before = client.get(
        "/api/v1/rotas/Night%20Desk/overrides?from=2026-12-05T07:00&to=2026-12-05T08:00",
        headers=auth,
    )
    assert json_list_of(before) == []


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/rotas/primary/on-call?at=2026-03-29T01:30", "at"),
        ("/api/v1/rotas/primary/shifts?from=2026-03-29T01:00&to=2026-03-30T00:00", "from"),
        ("/api/v1/rotas/primary/overrides?to=2026-03-29T01:59", "to"),
        ("/api/v1/rotas/gaps?from=2026-03-28T00:00&to=2026-03-29T01:15", "to"),
        ("/api/v1/contacts?from=2026-03-29T01:30", "from"),
        ("/api/v1/alerts?from=2026-03-29T01:30", "from"),
    ],
)
def test_a_local_time_the_clocks_skip_is_422_naming_the_field(
    client: FlaskClient, auth: dict[str, str], path: str, field: str
) -> None:
    _rotas(client, auth)
    response = client.get(path, headers=auth)
    assert response.status_code == 422, response.json
    problem = json_of(response)["errors"]["query"][field][0]
    assert "never happens in Europe/London" in problem
    assert json_of(response)["message"].startswith(f"Invalid input: {field}: 2026-03-29T01:")


def test_a_local_time_the_clocks_repeat_needs_an_offset(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    _rotas(client, auth)
    twice = _override(client, auth, "primary", "2026-10-25T01:30", "2026-10-25T03:00")
    assert twice.status_code == 422
    problem = json_of(twice)["errors"]["json"]["start"][0]
    assert "happens twice in Europe/London" in problem
    assert "2026-10-25T01:30:00+01:00 or 2026-10-25T01:30:00+00:00" in problem
    # With the offset it says which; the same hour in New York is not repeated that night.
    first = _override(client, auth, "primary", "2026-10-25T01:30+01:00", "2026-10-25T03:00")
    assert json_of(first)["start"] == "2026-10-25T00:30:00+00:00"
    second = _override(client, auth, "primary", "2026-10-25T01:30+00:00", "2026-10-25T03:00")
    assert json_of(second)["start"] == "2026-10-25T01:30:00+00:00"
    on_call = client.get("/api/v1/rotas/primary/on-call?at=2026-10-25T01:45", headers=auth)
    assert "happens twice" in json_of(on_call)["errors"]["query"]["at"][0]
    ny = _override(client, auth, "Night Desk", "2026-10-25T01:30", "2026-10-25T03:00")
    assert json_of(ny)["start"] == "2026-10-25T05:30:00+00:00"  # EDT until 1 November


def test_where_no_rota_is_named_local_times_are_the_services_timezone(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    members = [_staff(client, auth, "Ines Varga", "07700 900413")]
    _rota(
        client,
        auth,
        name="later",
        timezone="America/New_York",
        members=members,
        shift_length="P1D",
        first_handoff="2027-01-05T08:00",
    )
    gaps = client.get("/api/v1/rotas/gaps?from=2026-07-01T00:00&to=2026-07-02T00:00", headers=auth)
    found = json_list_of(gaps)
    assert [(g["start"], g["end"], g["reason"]) for g in found] == [
        ("2026-06-30T23:00:00+00:00", "2026-07-01T23:00:00+00:00", "rota_not_started")
    ]
    contacts = client.get(
        "/api/v1/contacts?from=2026-07-01T00:00&to=2026-07-02T00:00", headers=auth
    )
    assert contacts.status_code == 200, contacts.json


def test_a_rota_is_found_by_id_or_by_name(client: FlaskClient, auth: dict[str, str]) -> None:
    london, new_york = _rotas(client, auth)
    assert json_of(client.get("/api/v1/rotas/primary", headers=auth))["id"] == london["id"]
    assert json_of(client.get("/api/v1/rotas/PRIMARY", headers=auth))["id"] == london["id"]
    assert json_of(client.get(f"/api/v1/rotas/{new_york['id']}", headers=auth))["name"] == (
        "Night Desk"
    )
    on_call = client.get("/api/v1/rotas/primary/on-call", headers=auth)
    assert json_of(on_call)["rota_id"] == london["id"]

    missing = client.get("/api/v1/rotas/secondary/on-call", headers=auth)
    assert missing.status_code == 404
    assert "no rota called 'secondary'" in json_of(missing)["message"]
    assert client.get(f"/api/v1/rotas/{MAX_ID + 1}", headers=auth).status_code == 404

    renamed = client.patch("/api/v1/rotas/Night Desk", json={"name": "nights"}, headers=auth)
    assert json_of(renamed)["id"] == new_york["id"]
    token = client.post("/api/v1/rotas/nights/calendar-token", headers=auth)
    assert token.status_code == 201, token.json
    created = _override(client, auth, "nights", "2026-12-05T08:00", "2026-12-05T09:00")
    deleted = client.delete(
        f"/api/v1/rotas/nights/overrides/{json_of(created)['id']}", headers=auth
    )
    assert deleted.status_code == 204
    assert client.delete("/api/v1/rotas/nights", headers=auth).status_code == 204
    assert client.get(f"/api/v1/rotas/{new_york['id']}", headers=auth).status_code == 404


@pytest.mark.parametrize("name", ["42", "007", "gaps", "Gaps", "north/south"])
def test_a_name_a_path_would_read_otherwise_is_refused(
    client: FlaskClient, auth: dict[str, str], name: str
) -> None:
    london, _ = _rotas(client, auth)
    body = {
        "name": name,
        "members": london["members"],
        "shift_length": "P1D",
        "first_handoff": "2026-01-05T08:00",
    }
    created = client.post("/api/v1/rotas", json=body, headers=auth)
    assert created.status_code == 422, created.json
    assert list(json_of(created)["errors"]["json"]) == ["name"]
    renamed = client.patch(f"/api/v1/rotas/{london['id']}", json={"name": name}, headers=auth)
    assert renamed.status_code == 422
    assert list(json_of(renamed)["errors"]["json"]) == ["name"]
    # A name with digits and letters is a name.
    body["name"] = f"rota {name}".replace("/", " ")
    assert client.post("/api/v1/rotas", json=body, headers=auth).status_code == 201


def test_the_gaps_path_is_never_read_as_a_rota(client: FlaskClient, auth: dict[str, str]) -> None:
    options = client.options("/api/v1/rotas/gaps", headers=auth)
    assert set(options.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    patched = client.patch("/api/v1/rotas/gaps", json={"name": "x"}, headers=auth)
    assert patched.status_code == 405
