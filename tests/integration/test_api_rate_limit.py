"""The API's rate limit per token: 429 with Retry-After past it; webhooks are never limited.

H155. The limit is set low (3 a minute) so a test reaches it in a few requests; counts are
kept in the app's own memory, so each test starts from nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from crisisline.app import create_app
from crisisline.clock import FakeClock
from crisisline.telephony import FakeTelephony
from tests.support.app import json_of, make_settings, services_of, signed_post
from tests.support.tokens import bearer, issue_token

LIMIT = 3


@pytest.fixture
def limited_app(
    tmp_path: Path, database_url: str, clock: FakeClock, telephony: FakeTelephony
) -> Iterator[Flask]:
    """The app with API_RATE_LIMIT at 3 a minute."""
    settings = make_settings(tmp_path, database_url, API_RATE_LIMIT=f"{LIMIT} per minute")
    app = create_app({"TESTING": True}, settings=settings, clock=clock, telephony=telephony)
    yield app
    services_of(app).db.dispose()


def _bearer(app: Flask, name: str) -> dict[str, str]:
    return bearer(issue_token(app, name))


def test_past_the_limit_a_token_gets_429_with_retry_after_and_a_json_message(
    limited_app: Flask,
) -> None:
    client = limited_app.test_client()
    auth = _bearer(limited_app, "integration-a")
    # One limit across the whole API, not one per resource.
    for path in ("/api/v1/staff", "/api/v1/participants", "/api/v1/rotas"):
        assert client.get(path, headers=auth).status_code == 200
    refused = client.get("/api/v1/deliveries", headers=auth)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    body = json_of(refused)
    assert body["code"] == 429
    assert f"{LIMIT} per minute" in body["message"]
    assert "Retry-After" in body["message"]


def test_another_token_is_not_slowed_by_the_first(limited_app: Flask) -> None:
    client = limited_app.test_client()
    busy, other = _bearer(limited_app, "busy"), _bearer(limited_app, "other")
    for _ in range(LIMIT):
        client.get("/api/v1/staff", headers=busy)
    assert client.get("/api/v1/staff", headers=busy).status_code == 429
    for _ in range(LIMIT):
        assert client.get("/api/v1/staff", headers=other).status_code == 200


def test_requests_without_a_valid_token_are_counted_by_address_not_against_a_token(
    limited_app: Flask,
) -> None:
    client = limited_app.test_client()
    auth = _bearer(limited_app, "integration")
    forged = {"Authorization": "Bearer not-a-token"}
    for _ in range(LIMIT):
        assert client.get("/api/v1/staff", headers=forged).status_code == 401
    assert client.get("/api/v1/staff", headers=forged).status_code == 429
    assert client.get("/api/v1/staff").status_code == 429  # the same address, no token
    assert client.get("/api/v1/staff", headers=auth).status_code == 200


def test_webhooks_and_health_checks_are_never_limited(limited_app: Flask) -> None:
    """A crisis text or call must never be answered 429, however many come."""
    client: FlaskClient = limited_app.test_client()
    auth = _bearer(limited_app, "integration")
    for _ in range(LIMIT + 1):
        client.get("/api/v1/staff", headers=auth)
    for i in range(LIMIT * 4):
        form = {
            "MessageSid": f"SM{i:032d}",
            "AccountSid": "AC" + "1" * 32,
            "From": f"+4477009005{i:02d}",
            "To": "+447700900000",
            "Body": "hello",
            "NumMedia": "0",
        }
        response = signed_post(client, "/webhooks/sms", form)
        assert response.status_code == 200, response.data
        call = {
            "CallSid": f"CA{i:032d}",
            "AccountSid": "AC" + "1" * 32,
            "From": f"+4477009006{i:02d}",
            "To": "+447700900000",
            "CallStatus": "ringing",
        }
        assert signed_post(client, "/webhooks/voice", call).status_code == 200
        assert client.get("/livez").status_code == 200
        assert client.get("/healthz").status_code != 429
    assert client.get("/api/v1/openapi.json").status_code == 200


def test_the_429_is_in_the_openapi_document(limited_app: Flask) -> None:
    document = json_of(limited_app.test_client().get("/api/v1/openapi.json"))
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method != "parameters" and path != "/api/v1/openapi.json":
                assert "429" in operation["responses"], (method, path)
    assert "Retry-After" in document["components"]["responses"]["RATE_LIMITED"]["headers"]
