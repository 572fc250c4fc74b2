"""List endpoints: the participant filters people expect, unknown query parameters refused by
name, and RFC 8288 Link headers to the other pages beside X-Pagination."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from crisisline.api.common import query_parameters
from crisisline.logs import redact_text
from tests.support.app import json_list_of, json_of

PEOPLE = [
    ("R1001", "Daniel Price", "07700 900201"),
    ("R1002", "Owen Pricewell", "07700 900202"),
    ("R1003", "Marcus 100%_Reed", "07700 900203"),
    ("r1004", "Liam Hale", "07700 900204"),
]


def _add_people(client: FlaskClient, auth: dict[str, str]) -> None:
    for reference, name, phone in PEOPLE:
        body = {"reference": reference, "name": name, "phones": [phone], "risk_level": "medium"}
        response = client.post("/api/v1/participants", json=body, headers=auth)
        assert response.status_code == 201, response.json


def _references(client: FlaskClient, auth: dict[str, str], **query: str) -> list[str]:
    response = client.get("/api/v1/participants", query_string=query, headers=auth)
    assert response.status_code == 200, response.json
    return [p["reference"] for p in json_list_of(response)]


def test_participants_are_found_by_reference_name_or_phone(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    _add_people(client, auth)
    assert _references(client, auth, reference="R1001") == ["R1001"]
    assert _references(client, auth, reference="R1004") == ["r1004"]  # any case
    assert _references(client, auth, reference="R100") == []  # the whole reference
    assert _references(client, auth, name="price") == ["R1001", "R1002"]  # part, any case
    assert _references(client, auth, name="PRICEW") == ["R1002"]
    # % and _ are letters of the name, not LIKE wildcards.
    assert _references(client, auth, name="100%_") == ["R1003"]
    assert _references(client, auth, name="%") == ["R1003"]
    assert _references(client, auth, name="e_l") == []
    assert _references(client, auth, phone="+44 7700 900203") == ["R1003"]
    assert _references(client, auth, phone="07700900204") == ["r1004"]
    assert _references(client, auth, name="price", phone="07700900202") == ["R1002"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/participants?reference=R1001&surname=Price",
        "/api/v1/staff?surname=Price",
        "/api/v1/deliveries?recipient=1",
        "/api/v1/contacts?who=1",
        "/api/v1/escalations?who=1",
        "/api/v1/alerts?who=1",
        "/api/v1/rotas?surname=Price",
        "/api/v1/rotas/gaps?from=2026-12-05T00:00Z&to=2026-12-06T00:00Z&surname=x",
        "/api/v1/escalation-policies?surname=x",
    ],
)
def test_a_query_parameter_an_endpoint_does_not_know_is_422_naming_it(
    client: FlaskClient, auth: dict[str, str], path: str
) -> None:
    response = client.get(path, headers=auth)
    assert response.status_code == 422, response.json
    body = json_of(response)
    unknown = path.rsplit("&", 1)[-1].rsplit("?", 1)[-1].split("=")[0]
    assert list(body["errors"]["query"]) == [unknown]
    assert body["message"].startswith(f"Invalid input: {unknown}: is not a parameter")


def test_the_refusal_lists_what_the_endpoint_does_take(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    response = client.get("/api/v1/participants?ref=R1001", headers=auth)
    assert response.status_code == 422
    message = json_of(response)["errors"]["query"]["ref"][0]
    for name in ("reference", "name", "phone", "status", "page", "page_size"):
        assert name in message


def test_paging_and_every_filter_stay_allowed(client: FlaskClient, auth: dict[str, str]) -> None:
    _add_people(client, auth)
    query = "reference=R1001&name=dan&phone=07700900201&status=active&page=1&page_size=5"
    assert client.get(f"/api/v1/participants?{query}", headers=auth).status_code == 200
    # A list without filters still pages; an endpoint that is not a list takes no paging.
    assert client.get("/api/v1/rotas?page=2&page_size=1", headers=auth).status_code == 200
    assert client.get("/api/v1/participants/1?page=2", headers=auth).status_code == 422


def test_the_check_and_the_openapi_document_name_the_same_parameters(app: Flask) -> None:
    document = app.test_client().get("/api/v1/openapi.json").json
    assert document is not None
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or "GET" not in (rule.methods or set()):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        if path not in document["paths"]:
            continue
        operation = document["paths"][path]["get"]
        documented = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        assert query_parameters(app.view_functions[rule.endpoint]) == documented, path
        checked += 1
    assert checked >= 10


def _people(client: FlaskClient, auth: dict[str, str], count: int) -> None:
    for n in range(count):
        body = {
            "reference": f"R{3000 + n}",
            "name": f"Person {n}",
            "phones": [f"07700 900{300 + n}"],
            "risk_level": "low",
        }
        assert client.post("/api/v1/participants", json=body, headers=auth).status_code == 201


def _links(header: str) -> dict[str, str]:
    found = {relation: url for url, relation in re.findall(r'<([^>]*)>; rel="(\w+)"', header)}
    assert ", ".join(f'<{u}>; rel="{r}"' for r, u in found.items()) == header
    return found


def test_a_default_page_is_ten_rows_and_links_lead_to_the_rest(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    _people(client, auth, 23)
    first = client.get("/api/v1/participants?status=active", headers=auth)
    assert len(json_list_of(first)) == 10
    assert json.loads(first.headers["X-Pagination"])["total_pages"] == 3
    links = _links(first.headers["Link"])
    assert links == {
        "next": "/api/v1/participants?status=active&page=2",
        "first": "/api/v1/participants?status=active&page=1",
        "last": "/api/v1/participants?status=active&page=3",
    }
    seen: list[str] = []
    url: str | None = links["first"]
    while url is not None:
        page = client.get(url, headers=auth)
        seen += [p["reference"] for p in json_list_of(page)]
        url = _links(page.headers["Link"]).get("next")
    assert seen == [f"R{3000 + n}" for n in range(23)]

    middle = client.get("/api/v1/participants?page_size=5&page=2&status=active", headers=auth)
    assert _links(middle.headers["Link"]) == {
        "next": "/api/v1/participants?page_size=5&status=active&page=3",
        "prev": "/api/v1/participants?page_size=5&status=active&page=1",
        "first": "/api/v1/participants?page_size=5&status=active&page=1",
        "last": "/api/v1/participants?page_size=5&status=active&page=5",
    }


def test_links_keep_the_query_encoded_and_an_empty_list_has_none(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    _people(client, auth, 12)
    response = client.get("/api/v1/participants?name=Person%20&page_size=10", headers=auth)
    assert _links(response.headers["Link"])["next"] == (
        "/api/v1/participants?name=Person+&page_size=10&page=2"
    )
    empty = client.get("/api/v1/participants?name=nobody", headers=auth)
    assert json_list_of(empty) == []
    assert "Link" not in empty.headers


@pytest.mark.parametrize(
    "path",
    ["/api/v1/staff", "/api/v1/deliveries", "/api/v1/contacts", "/api/v1/rotas", "/api/v1/alerts"],
)
def test_every_paged_list_sends_links_and_documents_them(
    client: FlaskClient, auth: dict[str, str], path: str
) -> None:
    for n in range(2):
        body = {"name": f"Worker {n}", "phone": f"07700 9004{n}0", "roles": ["on_call"]}
        assert client.post("/api/v1/staff", json=body, headers=auth).status_code == 201
    response = client.get(f"{path}?page_size=1", headers=auth)
    assert response.status_code == 200, response.json
    if json.loads(response.headers["X-Pagination"])["total"]:
        assert 'rel="first"' in response.headers["Link"]
    document: Any = client.get("/api/v1/openapi.json").json
    headers = document["paths"][path]["get"]["responses"]["200"]["headers"]
    assert {"X-Pagination", "Link"} <= set(headers)


def test_a_participant_name_filter_never_reaches_the_log() -> None:
    line = '"GET /api/v1/participants?name=Daniel%20Price&reference=R1001 HTTP/1.1" 200'
    redacted = redact_text(line)
    assert "Daniel" not in redacted
    assert "name=[redacted]&reference=R1001" in redacted
