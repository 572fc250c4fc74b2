"""The API's answers at the edges of its contract: ids, missing bodies, paging, 405 and 414.

Each was found by a property-based run of the OpenAPI document (tests/integration/
test_api_contract.py now runs it on every test run). H152-H154.
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from crisisline.api.common import MAX_ID, MAX_PAGE, MAX_URL_LENGTH
from tests.support.app import json_of

ROOT = Path(__file__).resolve().parents[2]


def _document(client: FlaskClient) -> dict[str, Any]:
    return json_of(client.get("/api/v1/openapi.json"))


def _staff(client: FlaskClient, auth: dict[str, str]) -> int:
    body = {"name": "Morwenna Hale", "phone": "07700 900411", "roles": ["on_call"]}
    response = client.post("/api/v1/staff", json=body, headers=auth)
    assert response.status_code == 201, response.json
    return int(json_of(response)["id"])


def test_every_id_in_the_document_has_the_columns_maximum(client: FlaskClient) -> None:
    """H152: paths, queries and bodies alike; the document and the API agree on the range."""
    document = _document(client)
    seen = 0
    for path, item in document["paths"].items():
        operations = [op for key, op in item.items() if key != "parameters"]
        for parameters in [item.get("parameters", [])] + [
            op.get("parameters", []) for op in operations
        ]:
            for parameter in parameters:
                if parameter["name"] == "id" or parameter["name"].endswith("_id"):
                    assert parameter["schema"].get("maximum") == MAX_ID, (path, parameter)
                    seen += 1
    schemas = document["components"]["schemas"]
    for name in _request_body_schemas(document):
        for field, prop in schemas[name].get("properties", {}).items():
            if not prop.get("readOnly") and field.endswith("_id"):
                assert prop.get("maximum") == MAX_ID, (name, field)
                seen += 1
    members = document["components"]["schemas"]["Rota"]["properties"]["members"]["items"]
    assert members["maximum"] == MAX_ID
    assert seen > 20


def _request_body_schemas(document: dict[str, Any]) -> set[str]:
    """The names of the schemas a request body can hold, nested ones included."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            name = ref.rsplit("/", 1)[-1]
            if ref and name not in found:
                found.add(name)
                walk(document["components"]["schemas"][name])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for item in document["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict):
                walk(operation.get("requestBody", {}))
    return found


def test_an_id_up_to_the_maximum_is_looked_up_and_one_past_it_matches_nothing(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    for path in ("staff", "participants", "rotas", "deliveries", "escalations", "alerts"):
        at_maximum = client.get(f"/api/v1/{path}/{MAX_ID}", headers=auth)
        assert at_maximum.status_code == 404, (path, at_maximum.json)
        past = client.get(f"/api/v1/{path}/{MAX_ID + 1}", headers=auth)
        assert past.status_code == 404, (path, past.json)
        assert str(MAX_ID) in json_of(past)["message"]
    huge = client.get(f"/api/v1/staff/{2**70}", headers=auth)
    assert huge.status_code == 404


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/contacts", "participant_id"),
        ("/api/v1/alerts", "participant_id"),
        ("/api/v1/escalations", "participant_id"),
        ("/api/v1/participants", "responsible_officer_id"),
    ],
)
def test_an_id_in_a_query_past_the_maximum_is_422_naming_it(
    client: FlaskClient, auth: dict[str, str], path: str, field: str
) -> None:
    assert client.get(path, query_string={field: MAX_ID}, headers=auth).status_code == 200
    response = client.get(path, query_string={field: MAX_ID + 1}, headers=auth)
    assert response.status_code == 422
    assert field in json_of(response)["errors"]["query"]


def test_an_id_in_a_body_past_the_maximum_is_422_naming_it(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/participants",
        json={
            "reference": "R1",
            "name": "Daniel Price",
            "phones": ["07700 900201"],
            "risk_level": "high",
            "responsible_officer_id": MAX_ID + 1,
        },
        headers=auth,
    )
    assert response.status_code == 422
    assert "responsible_officer_id" in json_of(response)["errors"]["json"]


def _record(client: FlaskClient, auth: dict[str, str], resource: str, staff_id: int) -> int:
    """The id of a new record of `resource` (staff: `staff_id` itself)."""
    if resource == "staff":
        return staff_id
    bodies: dict[str, dict[str, Any]] = {
        "participants": {
            "reference": "R1",
            "name": "Daniel Price",
            "phones": ["07700 900201"],
            "risk_level": "high",
        },
        "rotas": {
            "name": "primary",
            "members": [staff_id],
            "shift_length": "P1D",
            "first_handoff": "2026-01-05T08:00",
        },
    }
    response = client.post(f"/api/v1/{resource}", json=bodies[resource], headers=auth)
    assert response.status_code == 201, response.json
    return int(json_of(response)["id"])


@pytest.mark.parametrize("resource", ["staff", "participants", "rotas"])
def test_a_patch_without_a_body_is_422_naming_the_body_and_changes_nothing(
    client: FlaskClient, auth: dict[str, str], resource: str
) -> None:
    """H153: webargs read a missing body as {} and the PATCH answered 200."""
    staff_id = _staff(client, auth)
    record_id = _record(client, auth, resource, staff_id)
    before = json_of(client.get(f"/api/v1/{resource}/{record_id}", headers=auth))
    for headers in (auth, {**auth, "Content-Type": "application/json"}):
        response = client.patch(f"/api/v1/{resource}/{record_id}", headers=headers)
        assert response.status_code == 422
        body = json_of(response)
        assert body["errors"] == {"json": {"body": [body["message"].split(": ", 2)[2]]}}
        assert "JSON object body" in body["message"]
    assert json_of(client.get(f"/api/v1/{resource}/{record_id}", headers=auth)) == before
    # An empty object is a body: it changes nothing and says so with 200.
    empty = client.patch(f"/api/v1/{resource}/{record_id}", json={}, headers=auth)
    assert empty.status_code == 200


def test_x_pagination_is_documented_as_the_json_text_that_is_sent(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    """H154: the document said an object; the header is the object's JSON text."""
    _staff(client, auth)
    documented = _document(client)["paths"]["/api/v1/staff"]["get"]["responses"]["200"]
    header = documented["headers"]["X-Pagination"]
    assert header["schema"] == {"type": "string"}
    assert "JSON" in header["description"]
    json.loads(header["example"])
    sent = client.get("/api/v1/staff", headers=auth).headers["X-Pagination"]
    assert json.loads(sent) == {
        "total": 1,
        "total_pages": 1,
        "first_page": 1,
        "last_page": 1,
        "page": 1,
    }


def test_a_method_the_resource_does_not_have_is_405_with_allow(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    response = client.delete("/api/v1/staff/1", headers=auth)
    assert response.status_code == 405
    allowed = {method.strip() for method in response.headers["Allow"].split(",")}
    assert {"GET", "PATCH"} <= allowed
    assert "DELETE" not in allowed
    assert "GET" in json_of(response)["message"]


def test_a_url_longer_than_the_limit_is_a_json_414(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    # A filter the endpoint knows: an unknown parameter is refused (422) whatever its length.
    base = "/api/v1/deliveries?status=sent&purpose="
    at_limit = client.get(base + "a" * (MAX_URL_LENGTH - len(base)), headers=auth)
    assert at_limit.status_code == 200
    over = client.get(base + "a" * (MAX_URL_LENGTH - len(base) + 1), headers=auth)
    assert over.status_code == 414
    assert str(MAX_URL_LENGTH) in json_of(over)["message"]


def test_gunicorns_request_line_limit_leaves_room_for_the_apps_json_414() -> None:
    config = runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))
    assert config["limit_request_line"] == 8190  # gunicorn's maximum
    # "GET " + URL + " HTTP/1.1" must fit in gunicorn's limit for the app to see it.
    assert len("DELETE ") + MAX_URL_LENGTH + len(" HTTP/1.1") < config["limit_request_line"]


def test_a_page_up_to_the_maximum_is_empty_and_one_past_it_is_422_naming_page(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    """H152: a page past the database's OFFSET came back as an unnamed 'out of range'."""
    _staff(client, auth)
    documented = _document(client)["paths"]["/api/v1/deliveries"]["get"]["parameters"]
    page = next(parameter for parameter in documented if parameter["name"] == "page")
    assert page["schema"]["maximum"] == MAX_PAGE
    last = client.get("/api/v1/staff", query_string={"page": MAX_PAGE}, headers=auth)
    assert last.status_code == 200
    assert last.json == []
    past = client.get("/api/v1/deliveries", query_string={"page": MAX_PAGE + 1}, headers=auth)
    assert past.status_code == 422
    assert "page" in json_of(past)["errors"]["query"]


def test_a_nul_character_in_a_query_or_a_body_is_422_naming_where(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    """PostgreSQL refuses text holding NUL: it came back as an unnamed 'out of range'."""
    query = client.get("/api/v1/escalations", query_string={"status": "open\x00"}, headers=auth)
    assert query.status_code == 422
    assert json_of(query)["errors"] == {"query": {"status": ["must not contain NUL characters"]}}
    body = client.post(
        "/api/v1/participants",
        json={"reference": "R1", "name": "Dan\x00iel", "phones": ["07700 900201"]},
        headers=auth,
    )
    assert body.status_code == 422
    assert json_of(body)["errors"] == {"json": {"name": ["must not contain NUL characters"]}}
    nested = client.post(
        "/api/v1/participants",
        json={"reference": "R1", "name": "Daniel", "phones": ["07700 900201", "0\x00"]},
        headers=auth,
    )
    assert json_of(nested)["errors"] == {"json": {"phones.1": ["must not contain NUL characters"]}}


def test_an_instant_before_year_1_in_utc_is_422_naming_the_field(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    """0001-01-01T01:22+13:17 is a valid ISO 8601 instant before year 1 once in UTC."""
    response = client.get(
        "/api/v1/rotas/gaps",
        query_string={"from": "2026-01-01T00:00:00Z", "to": "0001-01-01T01:22:51+13:17"},
        headers=auth,
    )
    assert response.status_code == 422
    assert "to" in json_of(response)["errors"]["query"]


@pytest.mark.hazard("H65")
@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/alerts?participant_id=99999999999999999999",
        "/api/v1/alerts/99999999999999999999",
        "/api/v1/alerts?page=99999999999999999999",
        "/api/v1/participants?responsible_officer_id=99999999999999999999",
        "/api/v1/contacts?participant_id=99999999999999999999",
        "/api/v1/escalations?participant_id=99999999999999999999",
        "/api/v1/alerts?from=9999-12-31T23:00:00-05:00",
        "/api/v1/alerts?from=0001-01-01T00:00:00%2B05:00",
        "/api/v1/contacts?from=9999-12-31T23:00:00-05:00",
        "/api/v1/rotas/gaps?from=9999-12-31T23:00:00-05:00&to=9999-12-31T23:30:00-05:00",
    ],
)
def test_odd_numbers_and_dates_are_422_or_404_never_500(
    client: FlaskClient, auth: dict[str, str], url: str
) -> None:
    response = client.get(url, headers=auth)
    assert response.status_code in (400, 404, 422), response.status_code
