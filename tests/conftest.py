"""Shared fixtures: an app on every configured database engine, a fake clock, an API token.

Database tests run on SQLite always and on PostgreSQL too when TEST_DATABASE_URL is set.
If it is set but the server cannot be reached, those tests fail: they never skip. The plain
helpers tests import (settings, signed webhooks, JSON answers) are in tests/support/app.py.

`make test` runs the suite in parallel (pytest-xdist): each worker has its own SQLite files and
its own PostgreSQL database, TEST_DATABASE_URL's name plus the worker's (`crisisline_ci_gw0`,
...), made afresh through the server's `postgres` database, so two workers never meet.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import URL, create_engine, exists, literal, make_url, select, text, union_all

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


def _count_ran_on(counts: dict[str, int]) -> None:
    for engine, n in counts.items():
        _ran_on[engine] = _ran_on.get(engine, 0) + n


def pytest_sessionfinish(session: pytest.Session) -> None:
    """An xdist worker hands its counts to the controller, which prints the summary."""
    workeroutput: dict[str, Any] | None = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["database_tests_ran_on"] = dict(_ran_on)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """On the xdist controller: add up what each worker ran (it prints the summary line)."""
    counts: dict[str, int] = getattr(node, "workeroutput", {}).get("database_tests_ran_on", {})
    _count_ran_on(counts)


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


def _worker_database(url: URL, worker: str) -> URL:
    """`url`'s server with a database of the xdist worker's own, dropped and made afresh."""
    own = url.set(database=f"{url.database}_{worker}")
    server = create_engine(
        url.set(database="postgres"),
        isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": 5},
    )
    name = server.dialect.identifier_preparer.quote(str(own.database))
    with server.connect() as conn:  # raises (failing the tests) if the server is unreachable
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    server.dispose()
    return own


@pytest.fixture(scope="session")
def postgres_migrated() -> str:
    """The PostgreSQL test database, emptied and migrated once per session (under xdist, the
    worker's own database, made afresh)."""
    url = _postgres_url()
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        url = _worker_database(make_url(url), worker).render_as_string(hide_password=False)
    else:
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
    _empty_postgres(url)


def _empty_postgres(url: str) -> None:
    """Empty every table and restart every sequence the test used, as a fresh migration.

    DELETE on the few tables that hold rows, not TRUNCATE on all of them: the tests leave a
    handful of rows, and TRUNCATE makes new files for every table and index (measured: about
    five times as long, on some 1,700 PostgreSQL tests). Sequences are restarted with setval.
    """
    engine = create_engine(url)
    tables = Base.metadata.sorted_tables
    with engine.begin() as conn:
        # The record access log refuses deletes by a trigger (it is append-only); the test
        # harness, as the superuser, empties it between tests with triggers (and so foreign
        # key checks) off.
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        held = union_all(
            *(select(literal(i)).where(exists().select_from(t)) for i, t in enumerate(tables))
        )
        for i in conn.execute(held).scalars():
            conn.execute(tables[i].delete())
        conn.execute(
            text(
                "SELECT setval(format('%I.%I', schemaname, sequencename), start_value, false) "
                "FROM pg_sequences WHERE schemaname = current_schema() "
                "AND last_value IS NOT NULL"
            )
        )
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
