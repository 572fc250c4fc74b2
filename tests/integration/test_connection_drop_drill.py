"""Drill: every connection to the database is terminated, several times, during a burst of
signed webhooks (PostgreSQL). H120, H121.

As a failover or a restart of PostgreSQL does: `pg_terminate_backend` on every other backend of
the database, six times 0.3 s apart, while four threads post signed texts and calls through the
real webhooks (at least 80 in all). Before, the retry took the next pooled connection, which the
same termination had killed: 19 of 400 contacts were answered with the fallback and never
recorded. Now every webhook answers 200, and once the spool is drained, the texts routed and
each call's final status callback handled, every text and call is on the record exactly once,
every call (nobody takes any) is chased once (its own missed-call escalation, or the flood's
for a stranger's calls beyond the flood rate), and no escalation is opened twice.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from crisisline import sms_intake
from crisisline.clock import FakeClock
from crisisline.db import Database
from crisisline.escalation_models import EscalationRecord
from crisisline.flood_models import FloodContact
from crisisline.jobs import Jobs
from crisisline.models import Contact, ContactOutcome
from crisisline.services import Services
from crisisline.sms_intake import InboundText
from tests.support.app import ENGINES, services_of, signed_post
from tests.support.call_intake import CALLER, LINE, STRANGER, add_participant, intake_services

OTHER = "+447700900202"  # a second participant
TERMINATIONS = 6
PAUSE_SECONDS = 0.3
WORKERS = 4
AT_LEAST = 80
AT_MOST = 400
# What a failover or a restart of PostgreSQL does to every other connection to the database.
TERMINATE_OTHERS = text(
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


@pytest.fixture
def svc(app: Flask, clock: FakeClock) -> Services:
    return intake_services(app, clock)


def _form(n: int) -> tuple[str, dict[str, str]]:
    """Request n of the burst: three texts to each call, from two participants and a stranger."""
    sender = (CALLER, OTHER, STRANGER)[n % 3]
    if n % 4 == 3:
        return "/webhooks/voice", {
            "CallSid": f"CA{n:032x}",
            "From": sender,
            "To": LINE,
            "CallStatus": "ringing",
            "Direction": "inbound",
        }
    return "/webhooks/sms", {
        "MessageSid": f"SM{n:032x}",
        "From": sender,
        "To": LINE,
        "Body": f"text {n}",
        "NumMedia": "0",
    }


def _terminate_every_connection(url: str, killed: list[int], done: threading.Event) -> None:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            for _ in range(TERMINATIONS):
                time.sleep(PAUSE_SECONDS)
                killed.append(int(connection.execute(TERMINATE_OTHERS).scalar_one()))
    finally:
        admin.dispose()
        done.set()


if "postgresql" in ENGINES:

    @pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
    def test_terminating_every_connection_during_a_burst_loses_and_doubles_nothing(
        svc: Services, app: Flask
    ) -> None:
        add_participant(svc, "R901", "Lewis Marsh", OTHER)
        warm = app.test_client()
        for n in (0, 3):  # a text and a call: both pools hold connections to kill
            path, form = _form(n)
            assert signed_post(warm, path, form).status_code == 200
        sent: dict[int, tuple[str, dict[str, str]]] = {0: _form(0), 3: _form(3)}
        answers: dict[int, str] = {}
        errors: list[BaseException] = []
        killed: list[int] = []
        terminated = threading.Event()
        numbers = iter(range(4, AT_MOST))
        taking = threading.Lock()

        def post_until_done() -> None:
            client = app.test_client()
            try:
                while True:
                    with taking:
                        n = next(numbers, None)
                    if n is None or (terminated.is_set() and len(sent) >= AT_LEAST):
                        return
                    path, form = sent[n] = _form(n)
                    response = signed_post(client, path, form)
                    assert response.status_code == 200, response.status_code
                    answers[n] = response.get_data(as_text=True)
            except BaseException as error:
                errors.append(error)

        terminator = threading.Thread(
            target=_terminate_every_connection, args=(svc.db.url, killed, terminated)
        )
        workers = [threading.Thread(target=post_until_done) for _ in range(WORKERS)]
        terminator.start()
        for worker in workers:
            worker.start()
        for thread in [terminator, *workers]:
            thread.join(timeout=120)
            assert not thread.is_alive()
        assert errors == []
        assert len(killed) == TERMINATIONS and sum(killed) > 0  # connections really were cut
        assert len(sent) >= AT_LEAST

        # The database is back: what the webhooks kept is recorded, texts are routed, and
        # each call ends (nobody took any) with its final status callback.
        svc = services_of(app)
        report = svc.spool_drainer.drain()
        assert report.failed == 0 and report.waiting == 0
        while Jobs(svc).route_texts():
            pass
        client = app.test_client()
        for path, form in sent.values():
            if path == "/webhooks/voice":
                status = {"CallSid": form["CallSid"], "CallStatus": "completed"}
                response = signed_post(client, "/webhooks/voice/status", status)
                assert response.status_code == 204

        sids = [form.get("MessageSid") or form["CallSid"] for _, form in sent.values()]
        with svc.db.transaction() as session:
            recorded = collections.Counter(
                session.scalars(select(Contact.twilio_sid).where(Contact.twilio_sid.in_(sids)))
            )
            unrouted = session.scalar(
                select(func.count(Contact.id)).where(Contact.outcome == ContactOutcome.UNROUTED)
            )
            escalations = session.execute(
                select(EscalationRecord.subject_type, EscalationRecord.subject_id)
            ).all()
            call_contacts = set(
                session.scalars(select(Contact.id).where(Contact.twilio_sid.like("CA%")))
            )
            # The stranger's calls beyond the flood rate are chased by the flood's one
            # escalation instead of one each (crisisline.floods): chased all the same.
            gathered = set(
                session.scalars(
                    select(FloodContact.contact_id).where(FloodContact.channel == "voice")
                )
            )
        assert recorded == collections.Counter(sids)  # every one on the record, once
        assert unrouted == 0  # every text reached routing
        opened: collections.Counter[Any] = collections.Counter(escalations)
        assert max(opened.values()) == 1  # no escalation opened twice
        missed = {subject for kind, subject in escalations if kind == "missed_call"}
        assert missed | gathered == call_contacts  # every call is chased ...
        assert not missed & gathered  # ... once


def _terminate_all(url: str) -> int:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            return int(connection.execute(TERMINATE_OTHERS).scalar_one())
    finally:
        admin.dispose()


if "postgresql" in ENGINES:

    @pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
    def test_after_a_termination_a_text_is_written_on_a_fresh_connection_not_the_next_dead_one(
        svc: Services,
    ) -> None:
        # The autocommit pool holds four connections; the termination kills them all.
        held = [svc.db.autocommit_engine.raw_connection() for _ in range(4)]
        for connection in held:
            connection.close()
        assert _terminate_all(svc.db.url) >= 4
        generation = svc.db.generation
        sid = "SM" + "f" * 32
        inbound = InboundText(sid, CALLER, CALLER, LINE, "still there?")
        assert sms_intake.take_in(svc.db, inbound, svc.clock.now()) is not None
        assert svc.db.generation == generation + 1  # the pools were renewed once
        with svc.db.transaction() as session:
            assert session.scalar(select(func.count()).where(Contact.twilio_sid == sid)) == 1

    @pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
    def test_a_transaction_whose_connection_dies_is_run_again_on_a_fresh_one(
        svc: Services,
    ) -> None:
        attempts: list[int] = []

        def work(session: Session) -> int:
            attempts.append(1)
            if len(attempts) == 1:
                pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
                admin = create_engine(svc.db.url, isolation_level="AUTOCOMMIT")
                with admin.connect() as connection:
                    connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                admin.dispose()
            return int(session.execute(text("SELECT 41 + 1")).scalar_one())

        assert svc.db.in_transaction(work) == 42
        assert len(attempts) == 2

    @pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
    def test_a_database_that_stays_unreachable_is_given_up_on_at_the_deadline(
        svc: Services,
    ) -> None:
        unreachable = Database("postgresql+psycopg://postgres@127.0.0.1:1/nowhere", 1)
        try:
            with pytest.raises(OperationalError):
                unreachable.in_transaction(lambda session: session.execute(text("SELECT 1")))
            assert unreachable.generation >= 1  # tried again on fresh connections first
        finally:
            unreachable.dispose()
