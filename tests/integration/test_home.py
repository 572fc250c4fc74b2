"""GET /: a newcomer opening the service's address learns what it is and where to go."""

from __future__ import annotations

from flask.testing import FlaskClient


def test_the_root_in_a_browser_names_the_service_and_links_the_api_document_and_health(
    client: FlaskClient,
) -> None:
    page = client.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "<h1>Resettle crisis line</h1>" in html
    for path in ("/api/v1/openapi.json", "/healthz", "/livez"):
        assert f'href="{path}"' in html
        assert client.get(path).status_code in (200, 503)  # each link leads somewhere real


def test_the_root_answers_json_to_a_client_that_asks_for_it(client: FlaskClient) -> None:
    answer = client.get("/", headers={"Accept": "application/json"})
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["service"] == "Resettle crisis line"
    assert body["links"]["api_document"] == "/api/v1/openapi.json"
    assert client.get("/", headers={"Accept": "*/*"}).get_json()["links"]["health"] == "/healthz"
