"""The app under test: its settings, its composition root, signed webhooks and JSON answers.

Database tests run on SQLite always and on PostgreSQL too when TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from crisisline.jobs import Jobs
from crisisline.services import Services
from crisisline.settings import Settings, load_settings
from crisisline.telephony import sign

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
ENGINES = ["sqlite", "postgresql"] if TEST_DATABASE_URL else ["sqlite"]
TEST_AUTH_TOKEN = "test-auth-token-not-secret"
START = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


def make_settings(tmp_path: Path, database_url: str, **overrides: str) -> Settings:
    """Settings for a test: console telephony, a known auth token, drama numbers."""
    env = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key",
        "TWILIO_AUTH_TOKEN": TEST_AUTH_TOKEN,
        "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
        "PUBLIC_BASE_URL": "https://crisis.example.org",
        "CRISIS_LINE_NUMBER": "+447700900000",
        **overrides,
    }
    return load_settings(env, instance_path=str(tmp_path / "instance"))


def beat_as_leader(app: Flask) -> None:
    """Take the scheduler lead, beat once and stand down (a no-op lead on SQLite): what
    /healthz reads. The leader's own PostgreSQL connection is not left open."""
    jobs = {j.name: j for j in Jobs(services_of(app)).scheduler_jobs("test")}
    jobs["leadership"].run()
    jobs["heartbeat"].run()
    stop = jobs["leadership"].stop
    assert stop is not None
    stop()


def signed_post(
    client: FlaskClient, path: str, form: dict[str, str], *, token: str = TEST_AUTH_TOKEN
) -> TestResponse:
    """POST `form` to `path` as Twilio would, signed for the test PUBLIC_BASE_URL."""
    url = "https://crisis.example.org" + path
    return client.post(path, data=form, headers={"X-Twilio-Signature": sign(token, url, form)})


def json_of(response: TestResponse) -> dict[str, Any]:
    """The body of `response`, which must be a JSON object."""
    body = response.get_json()
    assert isinstance(body, dict), body
    return body


def json_list_of(response: TestResponse) -> list[Any]:
    """The body of `response`, which must be a JSON array."""
    body = response.get_json()
    assert isinstance(body, list), body
    return body


def services_of(app: Flask) -> Services:
    """The composition root of `app`."""
    services: Services = app.extensions["crisisline"]
    return services
