"""Shared fixtures: an app on every configured database engine, a fake clock, an API token.

Database tests run on SQLite always and on PostgreSQL too when TEST_DATABASE_URL is set.
If it is set but the server cannot be reached, those tests fail: they never skip. The plain
helpers tests import (settings, signed webhooks, JSON answers) are in tests/support/app.py.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import create_engine, text

from crisisline.app import create_app
from crisisline.clock import FakeClock
from crisisline.db import Base
from crisisline.mail import FakeMailer
from crisisline.migrate import upgrade
from crisisline.settings import Settings
from crisisline.telephony import FakeTelephony
from tests.support.app import ENGINES, START, TEST_DATABASE_URL, make_settings, services_of
from tests.support.tokens import issue_token

pytest_plugins = ["crisisline.simulator.pytest_fixtures"]

_ran_on: dict[str, int] = {}


def pytest_report_header() -> str:
    return "database engines: " + ", ".join(ENGINES)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _ran_on:
        counts = ", ".join(f"{engine}: {n}" for engine, n in sorted(_ran_on.items()))
        terminalreporter.write_line(f"database tests run per engine: {counts}")


def _postgres_url() -> str:
    url = TEST_DATABASE_URL
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies, so migrations run once per session."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        # Fold the WAL into the main file so that copying the file copies everything.
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_migrated() -> str:
    """The PostgreSQL test database, emptied and migrated once per session."""
    url = _postgres_url()
    engine = create_engine(url, connect_args={"connect_timeout": 5})
    with engine.begin() as conn:  # raises (failing the tests) if the server is unreachable
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade(url)
    return url


@pytest.fixture(params=ENGINES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated, empty database on each configured engine."""
    engine_name: str = request.param
    _ran_on[engine_name] = _ran_on.get(engine_name, 0) + 1
    if engine_name == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "crisisline.db"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
        return
    url: str = request.getfixturevalue("postgres_migrated")
    yield url
    engine = create_engine(url)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        # The record access log refuses TRUNCATE by a trigger (it is append-only); the test
        # harness, as the superuser, empties it between tests with triggers off.
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    """A clock that stands still at 2026-11-26 12:00 UTC until a test moves it."""
    return FakeClock(START)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Test settings on the test's database."""
    return make_settings(tmp_path, database_url)


@pytest.fixture
def telephony() -> FakeTelephony:
    """A telephony adapter that records what the service sends."""
    return FakeTelephony()


@pytest.fixture
def mailer() -> FakeMailer:
    """A mailer that records the emails the service sends (tests/support/smtp.py has a real
    SMTP server for the tests of the channel itself)."""
    return FakeMailer()


@pytest.fixture
def app(
    settings: Settings, clock: FakeClock, telephony: FakeTelephony, mailer: FakeMailer
) -> Iterator[Flask]:
    """The crisis line app on a fresh database, with the fake clock, telephony and mailer."""
    application = create_app(
        {"TESTING": True}, settings=settings, clock=clock, telephony=telephony, mailer=mailer
    )
    yield application
    services_of(application).db.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client for `app`."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """A CLI runner for `app`."""
    return app.test_cli_runner()


@pytest.fixture
def api_token(app: Flask) -> str:
    """A valid API token: an integration holding every scope, issued through the service."""
    return issue_token(app)


@pytest.fixture
def auth(api_token: str) -> dict[str, str]:
    """Headers that authenticate an API request."""
    return {"Authorization": f"Bearer {api_token}"}
