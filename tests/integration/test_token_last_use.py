"""A token's last use is kept to the minute: recorded on first use and again once a minute has
passed, not written on every request (which made every API read a write transaction)."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from crisisline.clock import FakeClock
from crisisline.models import ApiToken, StaffRole
from tests.support.app import services_of
from tests.support.people import person


def _last_use(app: Flask) -> dt.datetime | None:
    with services_of(app).db.transaction() as session:
        return session.scalars(select(ApiToken)).one().last_used_at


def test_a_tokens_last_use_is_recorded_to_the_minute(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    manager = person(app, "Priya Natarajan", "+447700900103", [StaffRole.DUTY_MANAGER])
    first = clock.now()
    assert _last_use(app) is None
    assert client.get("/api/v1/rotas", headers=manager.headers).status_code == 200
    assert _last_use(app) == first
    clock.advance(dt.timedelta(seconds=59))
    assert client.get("/api/v1/rotas", headers=manager.headers).status_code == 200
    assert _last_use(app) == first
    clock.advance(dt.timedelta(seconds=1))
    assert client.get("/api/v1/rotas", headers=manager.headers).status_code == 200
    assert _last_use(app) == first + dt.timedelta(minutes=1)
