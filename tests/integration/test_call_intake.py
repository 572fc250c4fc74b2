"""A new call in one statement (crisisline.call_intake): exact, all or nothing, once per CallSid.

On PostgreSQL the voice webhook records a new call and rings its first step with one statement
planned from the routing cache. A plan made from a stale cache would ring someone who has gone
off call; a half-written call would leave a contact with no live call; a repeated webhook must
change nothing. So: the rows it writes are the rows the general path writes; after a routing
change it writes nothing and the general path rings the right person; a repeated CallSid, a
staff phone, an empty rota and a cold cache all go to the general path; a pooled connection
the server dropped is retried; a database gone answers with the fail-safe.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, func, select, text

from crisisline import routing_cache, staffing
from crisisline.alert_models import RiskAlert
from crisisline.call_models import LiveCall
from crisisline.clock import FakeClock
from crisisline.models import Contact, Staff
from crisisline.services import Services
from tests.support.app import ENGINES
from tests.support.call_intake import (
    STRANGER,
    call,
    hang_up,
    intake_call,
    intake_services,
    ringing,
    sid_of,
)
from tests.support.routing import BACKUP, PRIMARY, STANDBY, standby_covers


@pytest.fixture
def svc(app: Flask, clock: FakeClock) -> Services:
    """A primary and a backup rota of one person each, a standby, and one participant
    (tests/support/call_intake.py)."""
    return intake_services(app, clock)


def _rows(svc: Services, n: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The contact and live call recorded for call n, by column, without ids and SIDs."""
    with svc.db.transaction() as session:
        contact = session.scalar(select(Contact).where(Contact.twilio_sid == sid_of(n)))
        live = session.scalar(select(LiveCall).where(LiveCall.call_sid == sid_of(n)))
        if contact is None and live is None:
            return None
        assert contact is not None and live is not None, "a contact without its live call"
        assert live.contact_id == contact.id
        skip = {"id", "twilio_sid", "call_sid", "contact_id"}
        return (
            {c.key: getattr(contact, c.key) for c in Contact.__table__.c if c.key not in skip},
            {c.key: getattr(live, c.key) for c in LiveCall.__table__.c if c.key not in skip},
        )


def _count(svc: Services, model: type) -> int:
    with svc.db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_always_takes_the_general_path(svc: Services, client: FlaskClient) -> None:
    call(client, 1)
    assert intake_call(svc, 2) is None
    assert _rows(svc, 2) is None


def test_every_call_rings_the_right_person_across_a_routing_change(
    svc: Services, client: FlaskClient, clock: FakeClock
) -> None:
    """Through the webhook on each engine: whichever path a call takes, it rings who is on call
    now, and each call is recorded once with its live call."""
    # Each call ends before the next: a phone still ringing would be left out (H141).
    assert ringing(call(client, 1)) == [PRIMARY]
    hang_up(client, 1)
    assert ringing(call(client, 2)) == [PRIMARY]
    hang_up(client, 2)
    standby_covers(svc, clock, from_minutes=0)
    assert ringing(call(client, 3)) == [STANDBY]
    hang_up(client, 3)
    assert ringing(call(client, 4)) == [STANDBY]
    hang_up(client, 4)
    with svc.db.transaction() as session:
        standby = session.scalar(select(Staff).where(Staff.phone == STANDBY))
        assert standby is not None
        staffing.deactivate_staff(session, standby.id, actor="t", now=clock.now())
    # The standby has gone: the primary rota reaches nobody, so the backup rings at once.
    assert ringing(call(client, 5)) == [BACKUP]
    hang_up(client, 5)
    assert ringing(call(client, 6)) == [BACKUP]
    for n in range(1, 7):
        assert _rows(svc, n) is not None
    assert _count(svc, Contact) == _count(svc, LiveCall) == 6


def test_webhook_answers_set_no_cookie(svc: Services, client: FlaskClient) -> None:
    """The service keeps no browser sessions: Twilio is never handed a cookie."""
    response = call(client, 1)
    assert "Set-Cookie" not in response.headers
    assert client.get_cookie("session") is None


if "postgresql" in ENGINES:
    # The one-statement path is PostgreSQL's: these run there only (defined only when the
    # suite has a PostgreSQL server, as .ci/run gives it).
    on_postgresql = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

    @pytest.fixture
    def pg(svc: Services) -> Services:
        assert svc.db.engine.dialect.name == "postgresql"
        return svc

    @on_postgresql
    def test_a_warm_cache_writes_the_rows_the_general_path_writes(
        pg: Services, client: FlaskClient
    ) -> None:
        call(client, 1)  # the general path: reads the version, fills the cache
        general = _rows(pg, 1)
        hang_up(client, 1)  # the one-statement path only runs while no call is live
        plan = intake_call(pg, 2)
        assert plan is not None and plan.action == "ring" and plan.ring is not None
        assert [r.phone for r in plan.ring.recipients] == [PRIMARY]
        assert plan.ring.timeout == pg.messages.ring_timeout_seconds
        one_statement = _rows(pg, 2)
        assert one_statement is not None and one_statement == general
        hang_up(client, 2)
        assert one_statement[0]["participant_id"] is not None  # found by the statement
        # And through the webhook: a third call runs nothing on the main pool.
        seen: list[str] = []
        engine = pg.db.engine

        def note(*args: object) -> None:
            seen.append(str(args[2]))

        event.listen(engine, "before_cursor_execute", note)
        try:
            assert ringing(call(client, 3)) == [PRIMARY]
        finally:
            event.remove(engine, "before_cursor_execute", note)
        assert seen == []
        assert _rows(pg, 3) == general

    @on_postgresql
    def test_unknown_and_withheld_callers_match_the_general_path(
        pg: Services, client: FlaskClient
    ) -> None:
        call(client, 1, STRANGER)
        general = _rows(pg, 1)
        hang_up(client, 1)
        assert intake_call(pg, 2, STRANGER) is not None
        assert _rows(pg, 2) == general
        row = _rows(pg, 2)
        assert row is not None and row[0]["participant_id"] is None
        assert row[0]["from_number"] == STRANGER
        hang_up(client, 2)
        call(client, 3, "anonymous")
        general = _rows(pg, 3)
        hang_up(client, 3)
        assert intake_call(pg, 4, "anonymous") is not None
        assert _rows(pg, 4) == general
        row = _rows(pg, 4)
        assert row is not None and row[0]["from_number"] is None

    @on_postgresql
    def test_a_routing_change_elsewhere_makes_it_write_nothing(
        pg: Services, client: FlaskClient, clock: FakeClock
    ) -> None:
        call(client, 1)
        hang_up(client, 1)
        # Another process puts the standby on call: a new routing version this process has
        # not read. The cache still says the primary.
        other = create_engine(pg.db.url)
        with other.begin() as connection:
            connection.execute(text("UPDATE routing_state SET version = version + 1"))
        other.dispose()
        assert intake_call(pg, 2) is None
        assert _rows(pg, 2) is None  # all or nothing: no contact without its live call
        assert _count(pg, Contact) == 1
        # The general path reads the new version; and after a real override it rings the
        # standby, whichever path the next calls take.
        standby_covers(pg, clock, from_minutes=0)
        assert ringing(call(client, 3)) == [STANDBY]
        hang_up(client, 3)
        plan = intake_call(pg, 4)
        assert plan is not None and plan.ring is not None
        assert [r.phone for r in plan.ring.recipients] == [STANDBY]

    @on_postgresql
    def test_a_repeated_call_sid_changes_nothing(pg: Services, client: FlaskClient) -> None:
        call(client, 1)
        hang_up(client, 1)
        first = call(client, 2)  # the one-statement path
        before = _rows(pg, 2)
        assert intake_call(pg, 2) is None
        again = call(client, 2)
        assert ringing(again) == ringing(first) == [PRIMARY]
        assert _rows(pg, 2) == before
        assert _count(pg, Contact) == _count(pg, LiveCall) == 2

    @on_postgresql
    def test_a_staff_phone_gets_the_call_back_menu(pg: Services, client: FlaskClient) -> None:
        call(client, 1)
        assert intake_call(pg, 2, BACKUP) is None
        response = call(client, 2, BACKUP)
        assert ringing(response) == []
        with pg.db.transaction() as session:
            live = session.scalar(select(LiveCall).where(LiveCall.call_sid == sid_of(2)))
            assert live is not None and live.kind == "staff"

    @on_postgresql
    def test_a_cold_cache_takes_the_general_path(pg: Services, client: FlaskClient) -> None:
        call(client, 1)
        hang_up(client, 1)
        routing_cache.clear()  # as in a process just started
        assert intake_call(pg, 2) is None
        assert _rows(pg, 2) is None
        assert ringing(call(client, 2)) == [PRIMARY]

    @on_postgresql
    def test_nobody_on_call_falls_back_and_raises_the_alert(
        pg: Services, client: FlaskClient, clock: FakeClock
    ) -> None:
        with pg.db.transaction() as session:
            for person in session.scalars(select(Staff)):
                staffing.deactivate_staff(session, person.id, actor="t", now=clock.now())
        for n in (1, 2):
            response = call(client, n)
            assert ringing(response) == []
            assert b"<Record" in response.data  # the fallback message and a voicemail
            assert intake_call(pg, 10 + n) is None
        with pg.db.transaction() as session:
            rules = list(session.scalars(select(RiskAlert.rule).order_by(RiskAlert.id)))
        assert rules.count("unanswered") == 2  # one unanswered-call alert for each call
        assert _rows(pg, 11) is None

    @on_postgresql
    def test_a_connection_the_server_dropped_is_retried(pg: Services, client: FlaskClient) -> None:
        call(client, 1)
        hang_up(client, 1)
        assert intake_call(pg, 2) is not None  # the autocommit pool now holds a connection
        before = _rows(pg, 2)
        hang_up(client, 2)
        admin = create_engine(pg.db.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            killed = connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar()
        admin.dispose()
        assert killed
        plan = intake_call(pg, 3)
        assert plan is not None and plan.ring is not None
        assert _rows(pg, 3) == before

    @on_postgresql
    def test_a_database_gone_after_the_cache_is_warm_answers_the_fail_safe(
        pg: Services, client: FlaskClient
    ) -> None:
        call(client, 1)
        unreachable = create_engine(
            "postgresql+psycopg://postgres@127.0.0.1:1/nowhere",
            isolation_level="AUTOCOMMIT",
            connect_args={"connect_timeout": 2},
        )
        original = pg.db.autocommit_engine
        pg.db.__dict__["autocommit_engine"] = unreachable  # the server is gone
        try:
            response = call(client, 2)
        finally:
            pg.db.__dict__["autocommit_engine"] = original
            unreachable.dispose()
        says = [say.text for say in ET.fromstring(response.data).iter("Say")]  # noqa: S314
        # The crisis numbers (twice), never silence and never Twilio's stock error.
        assert says.count(pg.messages.fallback_spoken) == 2
        assert ringing(response) == []
