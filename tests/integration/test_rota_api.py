"""The rotas API: round trips, auth, 422s naming the field, on-call across DST, overrides, gaps."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from crisisline import rota_service
from crisisline.clock import FakeClock
from crisisline.models import AuditEntry
from tests.support.app import json_list_of, json_of, services_of
from tests.support.risk_alerts import Service, alerts_service


def _staff(client: FlaskClient, auth: dict[str, str], name: str, phone: str) -> int:
    response = client.post(
        "/api/v1/staff", json={"name": name, "phone": phone, "roles": ["on_call"]}, headers=auth
    )
    assert response.status_code == 201, response.json
    return int(json_of(response)["id"])


def _team(client: FlaskClient, auth: dict[str, str]) -> tuple[int, int, int]:
    return (
        _staff(client, auth, "Morwenna Hale", "07700 900411"),
        _staff(client, auth, "Tobias Quill", "07700 900412"),
        _staff(client, auth, "Ines Varga", "07700 900413"),
    )


def _rota(client: FlaskClient, auth: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post("/api/v1/rotas", json=body, headers=auth)
    assert response.status_code == 201, response.json
    return json_of(response)


def _twelve_hour(client: FlaskClient, auth: dict[str, str], members: list[int]) -> dict[str, Any]:
    return _rota(
        client,
        auth,
        name="primary",
        timezone="Europe/London",
        members=members,
        shift_length="PT12H",
        first_handoff="2026-01-05T08:00",
    )


def _on_call(client: FlaskClient, auth: dict[str, str], rota_id: int, at: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/rotas/{rota_id}/on-call", query_string={"at": at}, headers=auth)
    assert response.status_code == 200, response.json
    return json_of(response)


def _override(
    client: FlaskClient, auth: dict[str, str], rota_id: int, **body: Any
) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/rotas/{rota_id}/overrides", json={"reason": "test", **body}, headers=auth
    )
    assert response.status_code == 201, response.json
    return json_of(response)


def test_rota_round_trip_create_get_list_update_delete_is_audited(
    app: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    a, b, c = _team(client, auth)
    created = _rota(
        client,
        auth,
        name="out of hours",
        members=[a, b],
        shift_length="P7D",
        first_handoff="2026-01-05T09:00",
        coverage=[
            {"start": "Mon 17:00", "end": "Tue 09:00"},
            {"start": "Fri 17:00", "end": "Mon 09:00"},
        ],
    )
    assert created["timezone"] == "Europe/London"  # the service's zone by default
    assert created["members"] == [a, b]
    assert created["first_handoff"] == "2026-01-05T09:00:00"
    assert created["coverage"] == [
        {"start": "Mon 17:00", "end": "Tue 09:00"},
        {"start": "Fri 17:00", "end": "Mon 09:00"},
    ]
    rota_id = created["id"]
    assert client.get(f"/api/v1/rotas/{rota_id}", headers=auth).json == created

    listed = client.get("/api/v1/rotas", headers=auth)
    assert [r["name"] for r in json_list_of(listed)] == ["out of hours"]
    assert json.loads(listed.headers["X-Pagination"])["total"] == 1

    updated = client.patch(
        f"/api/v1/rotas/{rota_id}",
        json={"members": [c, b, a], "coverage": None, "shift_length": "P1D"},
        headers=auth,
    )
    assert updated.status_code == 200, updated.json
    assert json_of(updated)["members"] == [c, b, a]
    assert json_of(updated)["coverage"] is None
    assert json_of(updated)["shift_length"] == "P1D"
    # Swapping two members' places must not trip over the one-place-per-member rule.
    swapped = client.patch(f"/api/v1/rotas/{rota_id}", json={"members": [a, b, c]}, headers=auth)
    assert json_of(swapped)["members"] == [a, b, c]

    assert client.delete(f"/api/v1/rotas/{rota_id}", headers=auth).status_code == 204
    assert client.get(f"/api/v1/rotas/{rota_id}", headers=auth).status_code == 404

    with services_of(app).db.transaction() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.record_type == "rota").order_by(AuditEntry.id)
        ).all()
        assert [e.action for e in entries] == ["create", "update", "update", "delete"]
        assert {e.actor for e in entries} == {"integration:tests"}
        assert entries[1].changes["members"] == [[a, b], [c, b, a]]


def test_rota_endpoints_need_a_token(client: FlaskClient) -> None:
    for method, path in (
        ("get", "/api/v1/rotas"),
        ("post", "/api/v1/rotas"),
        ("get", "/api/v1/rotas/1/on-call"),
        ("get", "/api/v1/rotas/gaps?from=2026-11-26T00:00Z&to=2026-11-27T00:00Z"),
        ("post", "/api/v1/rotas/1/overrides"),
        ("post", "/api/v1/staff/1/calendar-token"),
    ):
        response = getattr(client, method)(path, headers={"Authorization": "Bearer wrong"})
        assert response.status_code == 401, path


def test_unknown_rota_or_override_is_404(client: FlaskClient, auth: dict[str, str]) -> None:
    a, _, _ = _team(client, auth)
    rota = _twelve_hour(client, auth, [a])
    assert client.get("/api/v1/rotas/999", headers=auth).status_code == 404
    assert client.get("/api/v1/rotas/999/on-call", headers=auth).status_code == 404
    missing = client.post(
        "/api/v1/rotas/999/overrides",
        json={
            "staff_id": a,
            "start": "2026-11-26T12:00Z",
            "end": "2026-11-26T13:00Z",
            "reason": "x",
        },
        headers=auth,
    )
    assert missing.status_code == 404
    assert "no rota with id 999" in json_of(missing)["message"]
    assert client.delete(f"/api/v1/rotas/{rota['id']}/overrides/5", headers=auth).status_code == 404


def test_a_second_rota_with_the_same_name_is_409(client: FlaskClient, auth: dict[str, str]) -> None:
    a, _, _ = _team(client, auth)
    _twelve_hour(client, auth, [a])
    again = client.post(
        "/api/v1/rotas",
        json={
            "name": "primary",
            "members": [a],
            "shift_length": "P1D",
            "first_handoff": "2026-01-05T09:00",
        },
        headers=auth,
    )
    assert again.status_code == 409
    assert json_of(again)["errors"]["json"] == {"name": [json_of(again)["message"]]}


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"timezone": "Europe/Atlantis"}, "timezone", "not a known IANA time zone"),
        ({"members": []}, "members", "at least one"),
        ({"members": [999]}, "members", "no member of staff with id 999"),
        ({"shift_length": "twelve hours"}, "shift_length", "ISO 8601 duration"),
        ({"shift_length": "P1M1D"}, "shift_length", "mixes months"),
        ({"first_handoff": "2026-01-05T08:00+01:00"}, "first_handoff", "without a UTC offset"),
        ({"first_handoff": "next monday"}, "first_handoff", "not a local date and time"),
        ({"coverage": [{"start": "Fri 17:00", "end": "Fri 17:00"}]}, "coverage", "different"),
        ({"coverage": [{"start": "Funday 17:00", "end": "Mon 09:00"}]}, "coverage", "day"),
        ({"coverage": []}, "coverage", "at least one window"),
    ],
)
def test_invalid_rota_is_422_naming_the_field(
    client: FlaskClient, auth: dict[str, str], change: dict[str, Any], field: str, words: str
) -> None:
    a, _, _ = _team(client, auth)
    body = {
        "name": "primary",
        "members": [a],
        "shift_length": "PT12H",
        "first_handoff": "2026-01-05T08:00",
        **change,
    }
    response = client.post("/api/v1/rotas", json=body, headers=auth)
    assert response.status_code == 422, response.json
    assert field in json_of(response)["message"]
    assert words in json_of(response)["message"]
    assert field in json.dumps(json_of(response)["errors"])
    assert client.get("/api/v1/rotas", headers=auth).json == []


def test_inactive_member_is_422_naming_members_and_the_person(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    a, b, _ = _team(client, auth)
    client.post(f"/api/v1/staff/{b}/deactivate", headers=auth)
    response = client.post(
        "/api/v1/rotas",
        json={
            "name": "primary",
            "members": [a, b],
            "shift_length": "PT12H",
            "first_handoff": "2026-01-05T08:00",
        },
        headers=auth,
    )
    assert response.status_code == 422
    assert json_of(response)["errors"] == {"json": {"members": [json_of(response)["message"]]}}
    assert "Tobias Quill" in json_of(response)["message"]
    assert "inactive" in json_of(response)["message"]

    rota = _twelve_hour(client, auth, [a])
    patched = client.patch(f"/api/v1/rotas/{rota['id']}", json={"members": [b]}, headers=auth)
    assert patched.status_code == 422
    assert "members" in json_of(patched)["errors"]["json"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"end": "2026-11-26T11:00Z"}, "end"),
        ({"end": "2026-11-26T12:00Z"}, "end"),
        # No offset is local time in the rota's zone; a time the clocks skip is refused.
        ({"start": "2026-03-29T01:30"}, "start"),
        ({"mode": "swap"}, "mode"),
        ({"mode": "add", "staff_id": None}, "staff_id"),
        ({"staff_id": 999}, "staff_id"),
        ({"reason": ""}, "reason"),
    ],
)
def test_invalid_override_is_422_naming_the_field(
    client: FlaskClient, auth: dict[str, str], change: dict[str, Any], field: str
) -> None:
    a, _, _ = _team(client, auth)
    rota = _twelve_hour(client, auth, [a])
    body = {
        "staff_id": a,
        "start": "2026-11-26T12:00Z",
        "end": "2026-11-26T18:00Z",
        "reason": "swap",
        **change,
    }
    response = client.post(f"/api/v1/rotas/{rota['id']}/overrides", json=body, headers=auth)
    assert response.status_code == 422, response.json
    assert field in json_of(response)["message"]
    assert field in json.dumps(json_of(response)["errors"])


def test_override_must_say_who_even_if_nobody_and_refuses_inactive_staff(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    a, b, _ = _team(client, auth)
    rota = _twelve_hour(client, auth, [a])
    body = {"start": "2026-11-26T12:00Z", "end": "2026-11-26T18:00Z", "reason": "x"}
    # Leaving staff_id out by mistake must not take everyone off call.
    missing = client.post(f"/api/v1/rotas/{rota['id']}/overrides", json=body, headers=auth)
    assert missing.status_code == 422
    assert "staff_id" in json_of(missing)["errors"]["json"]
    client.post(f"/api/v1/staff/{b}/deactivate", headers=auth)
    inactive = client.post(
        f"/api/v1/rotas/{rota['id']}/overrides", json={**body, "staff_id": b}, headers=auth
    )
    assert inactive.status_code == 422
    assert "Tobias Quill" in json_of(inactive)["message"]
    assert json_of(inactive)["errors"]["json"] == {"staff_id": [json_of(inactive)["message"]]}


def test_on_call_now_by_default_with_names_phones_and_times_in_utc_and_local(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    a, b, _ = _team(client, auth)
    rota = _twelve_hour(client, auth, [a, b])
    # The fake clock says 2026-11-26 12:00 UTC: the day shift, 08:00-20:00 GMT.
    answer = json_of(client.get(f"/api/v1/rotas/{rota['id']}/on-call", headers=auth))
    assert answer["staff"] == [
        {"id": a, "name": "Morwenna Hale", "phone": "+447700900411", "active": True}
    ]
    assert answer["shift_start"] == "2026-11-26T08:00:00+00:00"
    assert answer["shift_end"] == "2026-11-26T20:00:00+00:00"
    assert answer["source"] == "rotation"
    assert answer["shift_start_local"] == "2026-11-26T08:00:00+00:00"
    summer = _on_call(client, auth, rota["id"], "2026-07-01T12:00:00Z")
    assert summer["shift_start"] == "2026-07-01T07:00:00+00:00"  # still 08:00 local (BST)
    assert summer["shift_start_local"] == "2026-07-01T08:00:00+01:00"


def test_twelve_hour_rota_on_the_dst_change_nights(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    a, b, _ = _team(client, auth)
    rota = _twelve_hour(client, auth, [a, b])
    # Spring forward: the night shift 20:00 GMT to 08:00 BST lasts 11 hours.
    spring = _on_call(client, auth, rota["id"], "2026-03-29T03:00:00Z")
    assert (spring["shift_start"], spring["shift_end"]) == (
        "2026-03-28T20:00:00+00:00",
        "2026-03-29T07:00:00+00:00",
    )
    assert [s["id"] for s in spring["staff"]] == [b]
    # Fall back: 20:00 BST to 08:00 GMT lasts 13 hours, through the repeated hour.
    for at in ("2026-10-25T00:30:00Z", "2026-10-25T01:30:00+01:00", "2026-10-25T01:30:00Z"):
        autumn = _on_call(client, auth, rota["id"], at)
        assert (autumn["shift_start"], autumn["shift_end"]) == (
            "2026-10-24T19:00:00+00:00",
            "2026-10-25T08:00:00+00:00",
        ), at
        assert [s["id"] for s in autumn["staff"]] == [b]
    # An unencoded "+" in a query string arrives as a space; the offset is still honoured.
    raw = client.get(
        f"/api/v1/rotas/{rota['id']}/on-call?at=2026-03-29T04:00:00+01:00", headers=auth
    )
    assert json_of(raw)["at"] == "2026-03-29T03:00:00+00:00"


def test_daily_0130_handoff_follows_the_documented_change_night_rule(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    a, b, c = _team(client, auth)
    rota = _rota(
        client,
        auth,
        name="daily",
        members=[a, b, c],
        shift_length="P1D",
        first_handoff="2026-01-05T01:30",
    )
    # 01:30 does not exist on 29 March: the handoff moves forward to the change, 01:00 UTC.
    before = _on_call(client, auth, rota["id"], "2026-03-29T00:59:59Z")
    after = _on_call(client, auth, rota["id"], "2026-03-29T01:00:00Z")
    assert before["shift_end"] == after["shift_start"] == "2026-03-29T01:00:00+00:00"
    assert [s["id"] for s in before["staff"]] == [b]
    assert [s["id"] for s in after["staff"]] == [c]
    assert after["shift_end"] == "2026-03-30T00:30:00+00:00"
    # 01:30 happens twice on 25 October: the first (BST) is the handoff, the second is not.
    first = _on_call(client, auth, rota["id"], "2026-10-25T01:30:00+01:00")
    second = _on_call(client, auth, rota["id"], "2026-10-25T01:30:00+00:00")
    assert first["shift_start"] == second["shift_start"] == "2026-10-25T00:30:00+00:00"
    assert first["shift_end"] == "2026-10-26T01:30:00+00:00"


def test_later_override_wins_adds_stack_and_deleting_restores(
    app: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    a, b, c = _team(client, auth)
    rota = _twelve_hour(client, auth, [a])
    rota_id = rota["id"]
    wide = _override(
        client, auth, rota_id, staff_id=b, start="2026-11-26T09:00Z", end="2026-11-26T18:00Z"
    )
    # Entered later, starting later: it wins where the two overlap.
    narrow = _override(
        client, auth, rota_id, staff_id=c, start="2026-11-26T11:00Z", end="2026-11-26T13:00Z"
    )
    answer = _on_call(client, auth, rota_id, "2026-11-26T12:00Z")
    assert [s["id"] for s in answer["staff"]] == [c]
    assert answer["source"] == "override"
    assert answer["override_ids"] == [narrow["id"]]
    assert answer["scheduled_staff_id"] == a
    assert (answer["shift_start"], answer["shift_end"]) == (
        "2026-11-26T11:00:00+00:00",
        "2026-11-26T13:00:00+00:00",
    )
    # Entered last, starting earliest: precedence is by entry, not by start.
    latest = _override(
        client, auth, rota_id, staff_id=a, start="2026-11-26T10:00Z", end="2026-11-26T14:00Z"
    )
    assert _on_call(client, auth, rota_id, "2026-11-26T12:00Z")["staff"][0]["id"] == a
    added = _override(
        client,
        auth,
        rota_id,
        staff_id=b,
        mode="add",
        start="2026-11-26T11:30Z",
        end="2026-11-26T12:30Z",
    )
    both = _on_call(client, auth, rota_id, "2026-11-26T12:00Z")
    assert [s["id"] for s in both["staff"]] == [a, b]
    assert added["id"] in both["override_ids"]

    listed = json_list_of(client.get(f"/api/v1/rotas/{rota_id}/overrides", headers=auth))
    assert [o["id"] for o in listed] == [wide["id"], latest["id"], narrow["id"], added["id"]]
    assert listed[0]["created_by"] == "integration:tests"
    assert listed[0]["start"] == "2026-11-26T09:00:00+00:00"
    only_late = client.get(
        f"/api/v1/rotas/{rota_id}/overrides",
        query_string={"from": "2026-11-26T14:00Z", "to": "2026-11-27T00:00Z"},
        headers=auth,
    )
    assert [o["id"] for o in json_list_of(only_late)] == [wide["id"]]

    for override in listed:
        if override["id"] not in (wide["id"], narrow["id"]):
            deleted = client.delete(
                f"/api/v1/rotas/{rota_id}/overrides/{override['id']}", headers=auth
            )
            assert deleted.status_code == 204
    client.delete(f"/api/v1/rotas/{rota_id}/overrides/{narrow['id']}", headers=auth)
    restored = _on_call(client, auth, rota_id, "2026-11-26T12:00Z")
    assert [s["id"] for s in restored["staff"]] == [b]
    assert restored["override_ids"] == [wide["id"]]
    with services_of(app).db.transaction() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.record_type == "rota_override")
        ).all()
        assert sorted(actions) == ["create"] * 4 + ["delete"] * 3


def test_shifts_tile_the_window_with_overrides_applied(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    a, b, c = _team(client, auth)
    rota = _twelve_hour(client, auth, [a, b])
    _override(
        client,
        auth,
        rota["id"],
        staff_id=c,
        start="2026-11-26T10:00Z",
        end="2026-11-26T12:00Z",
    )
    response = client.get(
        f"/api/v1/rotas/{rota['id']}/shifts",
        query_string={"from": "2026-11-26T06:00Z", "to": "2026-11-27T06:00Z"},
        headers=auth,
    )
    assert response.status_code == 200, response.json
    spans = [
        (s["start"][11:16], s["end"][11:16], [p["id"] for p in s["staff"]], s["source"])
        for s in json_list_of(response)
    ]
    assert spans == [
        ("06:00", "08:00", [b], "rotation"),
        ("08:00", "10:00", [a], "rotation"),
        ("10:00", "12:00", [c], "override"),
        ("12:00", "20:00", [a], "rotation"),
        ("20:00", "06:00", [b], "rotation"),
    ]
    assert json_list_of(response)[0]["start_local"] == "2026-11-26T06:00:00+00:00"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2026-11-26T00:00Z", "to": "2027-03-01T00:00Z"}, "to"),  # more than 90 days
        ({"from": "2026-11-26T00:00Z", "to": "2026-11-25T00:00Z"}, "to"),
        ({"from": "2026-11-26T00:00Z"}, "to"),
        ({"from": "yesterday", "to": "2026-11-25T00:00Z"}, "from"),
    ],
)
def test_shift_and_gap_windows_are_checked(
    client: FlaskClient, auth: dict[str, str], query: dict[str, str], field: str
) -> None:
    a, _, _ = _team(client, auth)
    rota = _twelve_hour(client, auth, [a])
    for path in (f"/api/v1/rotas/{rota['id']}/shifts", "/api/v1/rotas/gaps"):
        response = client.get(path, query_string=query, headers=auth)
        assert response.status_code == 422, (path, response.json)
        assert field in json.dumps(json_of(response)["errors"])


def test_gaps_from_nobody_overrides_inactive_staff_and_not_started_rotas(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    a, b, c = _team(client, auth)
    primary = _twelve_hour(client, auth, [a, b])
    evenings = _rota(
        client,
        auth,
        name="evenings",
        members=[c],
        shift_length="P1D",
        first_handoff="2026-11-27T09:00",
        coverage=[{"start": "Thu 17:00", "end": "Fri 09:00"}],
    )
    sick = _override(
        client,
        auth,
        primary["id"],
        staff_id=None,
        start="2026-11-26T14:00Z",
        end="2026-11-26T16:00Z",
        reason="Morwenna off sick",
    )
    # b is on the night shift 20:00-08:00 and leaves: that shift is a gap, named.
    client.post(f"/api/v1/staff/{b}/deactivate", headers=auth)
    window = {"from": "2026-11-26T12:00Z", "to": "2026-11-27T12:00Z"}
    response = client.get("/api/v1/rotas/gaps", query_string=window, headers=auth)
    assert response.status_code == 200, response.json
    gaps = [
        (g["rota"], g["start"], g["end"], g["reason"], [p["id"] for p in g["staff"]])
        for g in json_list_of(response)
    ]
    assert gaps == [
        (
            "primary",
            "2026-11-26T14:00:00+00:00",
            "2026-11-26T16:00:00+00:00",
            "nobody_override",
            [],
        ),
        # The evenings rota starts on the 27th at 09:00: its Thursday evening is uncovered.
        (
            "evenings",
            "2026-11-26T17:00:00+00:00",
            "2026-11-27T09:00:00+00:00",
            "rota_not_started",
            [],
        ),
        (
            "primary",
            "2026-11-26T20:00:00+00:00",
            "2026-11-27T08:00:00+00:00",
            "no_usable_staff",
            [b],
        ),
    ]
    assert json_list_of(response)[0]["override_ids"] == [sick["id"]]
    assert json_list_of(response)[0]["rota_id"] == primary["id"]
    assert json_list_of(response)[1]["rota_id"] == evenings["id"]
    # Outside the evenings rota's coverage nothing is a gap, by design.
    later = client.get(
        "/api/v1/rotas/gaps",
        query_string={"from": "2026-11-27T09:00Z", "to": "2026-11-27T17:00Z"},
        headers=auth,
    )
    assert [g["rota"] for g in json_list_of(later)] == []


def test_an_override_longer_than_any_before_is_still_found(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    a, b, _ = _team(client, auth)
    rota = _twelve_hour(client, auth, [a])
    _override(
        client, auth, rota["id"], staff_id=b, start="2026-11-01T00:00Z", end="2026-11-01T01:00Z"
    )
    # Started weeks ago and still running: the interval lookup must reach back for it.
    long_cover = _override(
        client, auth, rota["id"], staff_id=b, start="2026-10-01T00:00Z", end="2027-01-01T00:00Z"
    )
    answer = _on_call(client, auth, rota["id"], "2026-11-26T12:00Z")
    assert answer["override_ids"] == [long_cover["id"]]
    assert [s["id"] for s in answer["staff"]] == [b]


def test_rota_paths_are_in_the_openapi_document(client: FlaskClient) -> None:
    paths = json_of(client.get("/api/v1/openapi.json"))["paths"]
    for path in (
        "/api/v1/rotas",
        "/api/v1/rotas/{rota}",
        "/api/v1/rotas/{rota}/overrides",
        "/api/v1/rotas/{rota}/overrides/{override_id}",
        "/api/v1/rotas/{rota}/on-call",
        "/api/v1/rotas/{rota}/shifts",
        "/api/v1/rotas/gaps",
        "/api/v1/rotas/{rota}/calendar-token",
        "/api/v1/staff/{staff_id}/calendar-token",
    ):
        assert path in paths, path


# ---- a rota the escalation policies name (safety review) --------------------------------------


@pytest.fixture
def service(app: Flask, clock: FakeClock) -> Service:
    return alerts_service(app, clock)


@pytest.mark.hazard("H64")
def test_the_duty_manager_rota_cannot_be_deleted_while_the_policies_name_it(
    service: Service, client: FlaskClient, auth: dict[str, str]
) -> None:
    with service.svc.db.transaction() as session:
        rota_id = rota_service.find_by_name(session, "duty-manager").id
    response = client.delete(f"/api/v1/rotas/{rota_id}", headers=auth)
    # The shipped policies bind "duty-manager" by name; deleting it silently takes the duty
    # manager out of every chain (the engine then logs a gap and skips), and the daily gap
    # warning cannot see a rota that no longer exists.
    assert response.status_code == 409, "a rota every escalation policy names was deleted"
