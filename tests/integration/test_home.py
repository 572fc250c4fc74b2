"""GET /: a newcomer opening the service's address is sent to sign in (a browser) or told where
the API and the health check are (a script); signed in, it is the console's Now board."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from crisisline.app import create_app
from crisisline.clock import FakeClock
from crisisline.models import StaffRole
from crisisline.settings import Settings
from tests.support.app import json_of
from tests.support.console import HTML, Browser, enrolled


def test_the_root_in_a_browser_asks_to_sign_in_in_the_services_name(client: FlaskClient) -> None:
    page = client.get("/", headers={"Accept": HTML})
    assert page.status_code == 302
    assert page.headers["Location"] == "/login?next=%2F"
    sign_in = client.get(page.headers["Location"], headers={"Accept": HTML})
    assert sign_in.status_code == 200
    assert sign_in.mimetype == "text/html"
    html = sign_in.get_data(as_text=True)
    assert "<title>Sign in · Resettle crisis line</title>" in html
    assert '<a class="service" href="/">Resettle crisis line</a>' in html


def test_the_root_tells_a_script_where_the_api_and_health_check_are(client: FlaskClient) -> None:
    for accept in ("application/json", "*/*"):
        answer = client.get("/", headers={"Accept": accept})
        assert answer.status_code == 401
        message = json_of(answer)["message"]
        for path in ("/api/v1/openapi.json", "/healthz", "/login"):
            assert path in message
    for path in ("/api/v1/openapi.json", "/healthz", "/livez"):
        assert client.get(path).status_code in (200, 503)  # each leads somewhere real


def test_the_root_signed_in_is_the_now_board(app: Flask, clock: FakeClock) -> None:
    person = enrolled(app, "Amira Okafor", "+447700900101", [StaffRole.ON_CALL], now=clock.now())
    browser = Browser(app)
    browser.sign_in(person, clock)
    page = browser.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<title>Now · Resettle crisis line</title>" in html
    assert "<h1>Amira Okafor</h1>" in html


def test_the_console_builds_when_rate_limits_are_switched_off(settings: Settings) -> None:
    """RATELIMIT_ENABLED=False (Flask-Limiter's own switch) leaves no limiter to share: the app
    still builds, and the sign-in page still answers."""
    app = create_app({"RATELIMIT_ENABLED": False}, settings=settings)
    response = app.test_client().get(
        "/login", base_url="https://crisis.example.org", headers={"Accept": HTML}
    )
    assert response.status_code == 200
    assert b"Phone number or email" in response.data
