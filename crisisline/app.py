"""The app factory and composition root: settings, database, clock and adapters are built here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from flask import Flask, current_app

from crisisline.clock import Clock, SystemClock
from crisisline.db import Database
from crisisline.logs import configure_logging
from crisisline.settings import Settings, load_settings


@dataclass
class Services:
    """Everything a request, a CLI command or the scheduler needs, built once per app."""

    settings: Settings
    db: Database
    clock: Clock


def create_app(
    test_config: Mapping[str, Any] | None = None,
    *,
    settings: Settings | None = None,
    clock: Clock | None = None,
    environ: Mapping[str, str] | None = None,
) -> Flask:
    """Build the crisis line web app; tests pass settings and a clock in, production reads env."""
    app = Flask(__name__, instance_relative_config=False)
    if settings is None:
        settings = load_settings(environ)
    configure_logging()
    app.config.update(SECRET_KEY=settings.secret_key, JSON_SORT_KEYS=False)
    if test_config:
        app.config.update(test_config)
    services = Services(
        settings=settings, db=Database(settings.database_url), clock=clock or SystemClock()
    )
    app.extensions["crisisline"] = services

    from crisisline import health
    from crisisline.api import init_api

    app.register_blueprint(health.blueprint)
    init_api(app)

    from crisisline.cli import register_commands

    register_commands(app)
    return app


def services() -> Services:
    """The Services of the app handling the current request or command."""
    return cast(Services, current_app.extensions["crisisline"])
