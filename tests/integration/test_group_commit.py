"""Group commit (crisisline.group_commit): calls and texts that arrive together are written by
one statement, and each webhook still gets its own answer.

A busy line writes rows that arrive while a write is under way together, in one statement. A
mix-up there would put a call on the wrong record or hand a webhook another call's id; a
failure would turn away callers who did nothing wrong. So, with the database held so that rows
really do queue: each call's contact and live call are its own and found by their SIDs; each
text is on its sender's record; a SID twice is written once; one bad row leaves the others to
be written alone; an error from the database reaches every webhook of that statement (each
answers its fail-safe); and a burst through the real webhook records every call once.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, select, text

from crisisline import group_commit, one_statement, participants, sms_intake
from crisisline.call_models import LiveCall
from crisisline.calls import CallPlan
from crisisline.clock import FakeClock
from crisisline.models import Channel, Contact, ContactOutcome
from crisisline.services import Services
from crisisline.sms_intake import InboundText
from tests.support.app import ENGINES, signed_post
from tests.support.call_intake import (
    CALLER,
    LINE,
    STRANGER,
    add_participant,
    call,
    hang_up,
    intake_call,
    intake_services,
    ringing,
    sid_of,
)
from tests.support.routing import PRIMARY

OTHER = "+447700900202"  # a second participant


@pytest.fixture
def svc(app: Flask, clock: FakeClock) -> Services:
    return intake_services(app, clock)


def test_a_row_is_written_as_json_with_its_times_aware_and_its_nulls_left_out() -> None:
    when = dt.datetime(2026, 11, 27, 3, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    encoded = group_commit.encode({"at": when, "channel": Channel.VOICE, "body": None, "n": 3})
    assert encoded == '{"at": "2026-11-27T02:00:00+00:00", "channel": "voice", "n": 3}'
    with pytest.raises(ValueError, match="naive"):
        group_commit.encode({"at": dt.datetime(2026, 11, 27, 3, 0)})
    with pytest.raises(TypeError, match="set"):
        group_commit.encode({"odd": {1}})


if "postgresql" in ENGINES:
    # Group commit is PostgreSQL's (SQLite serialises writers and takes the general path).
    on_postgresql = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

    @pytest.fixture
    def pg(svc: Services) -> Services:
        assert svc.db.engine.dialect.name == "postgresql"
        add_participant(svc, "R901", "Lewis Marsh", OTHER)
        return svc

    def _participant(svc: Services, number: str) -> int:
        with svc.db.transaction() as session:
            found = participants.id_by_phone(session, number)
        assert found is not None
        return found

    @contextmanager
    def _contacts_held(svc: Services) -> Iterator[Callable[[], None]]:
        """Hold the contacts table so that every write to it waits; yields a function that
        waits until a write is blocked on it. Released when the block ends."""
        engine = create_engine(svc.db.url)
        connection = engine.connect()
        connection.execute(text("LOCK TABLE contacts IN SHARE MODE"))

        def a_write_is_waiting() -> None:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                # A new snapshot of the server's activity each time (a transaction keeps one).
                connection.execute(text("SELECT pg_stat_clear_snapshot()"))
                blocked = connection.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                    )
                ).scalar()
                if blocked:
                    return
                time.sleep(0.01)
            raise AssertionError("no write blocked on the held table")

        try:
            yield a_write_is_waiting
        finally:
            connection.rollback()
            connection.close()
            engine.dispose()

    class Runs:
        """Calls of one function in threads, each result (or error) kept by name."""

        def __init__(self) -> None:
            self.results: dict[str, Any] = {}
            self.errors: dict[str, BaseException] = {}
            self.threads: list[threading.Thread] = []

        def start(self, name: str, work: Callable[[], Any]) -> None:
            def run() -> None:
                try:
                    self.results[name] = work()
                except BaseException as error:
                    self.errors[name] = error

            thread = threading.Thread(target=run)
            thread.start()
            self.threads.append(thread)

        def join(self) -> None:
            for thread in self.threads:
                thread.join(timeout=30)
                assert not thread.is_alive(), "a writer never returned"

    def _wait_for(group: group_commit.Group, waiting: int) -> None:
        deadline = time.monotonic() + 10
        while group.waiting() != waiting:
            assert time.monotonic() < deadline, f"{group.waiting()} rows waiting, not {waiting}"
            time.sleep(0.005)

    def _text(sid: str, sender: str | None, body: str = "are you there") -> InboundText:
        return InboundText(sid, sender, sender or "anonymous", LINE, body)

    def _sms_sid(n: int) -> str:
        return "SM" + f"{n:032d}"

    def _take_in(svc: Services, sid: str, sender: str | None) -> Callable[[], int | None]:
        return lambda: sms_intake.take_in(svc.db, _text(sid, sender), svc.clock.now())

    def _texts_group(svc: Services) -> group_commit.Group:
        return group_commit.group(svc.db, sms_intake._statement())

    def _contact(svc: Services, sid: str) -> Contact | None:
        with svc.db.transaction() as session:
            return session.scalar(select(Contact).where(Contact.twilio_sid == sid))

    def _queue(
        pg: Services,
        runs: Runs,
        a_write_is_waiting: Callable[[], None],
        texts: Sequence[tuple[str, int, str | None]],
    ) -> None:
        """A first text's write under way (held), then `texts` (name, n, sender) queued behind
        it in this order."""
        runs.start("first", _take_in(pg, _sms_sid(1), CALLER))
        a_write_is_waiting()
        for count, (name, n, sender) in enumerate(texts, 1):
            runs.start(name, _take_in(pg, _sms_sid(n), sender))
            _wait_for(_texts_group(pg), count)

    @on_postgresql
    def test_texts_that_arrive_during_a_write_are_written_together_each_on_its_record(
        pg: Services,
    ) -> None:
        group = _texts_group(pg)
        before = group.statements
        runs = Runs()
        with _contacts_held(pg) as a_write_is_waiting:
            _queue(
                pg,
                runs,
                a_write_is_waiting,
                [("a", 2, OTHER), ("b", 3, STRANGER), ("c", 4, CALLER)],
            )
        runs.join()
        assert runs.errors == {}
        assert group.statements - before == 2  # the first alone, then the other three together
        senders = {"first": (1, CALLER), "a": (2, OTHER), "b": (3, STRANGER), "c": (4, CALLER)}
        for name, (n, sender) in senders.items():
            contact = _contact(pg, _sms_sid(n))
            assert contact is not None
            assert runs.results[name] == contact.id  # each webhook got its own text's id
            assert contact.from_number == sender
            assert contact.outcome == ContactOutcome.UNROUTED
            expected = None if sender == STRANGER else _participant(pg, sender)
            assert contact.participant_id == expected

    @on_postgresql
    def test_calls_that_arrive_during_a_write_are_written_together_each_its_own(
        pg: Services, client: FlaskClient
    ) -> None:
        call(client, 1)  # the general path: reads the routing version, fills the cache
        hang_up(client, 1)  # (the one-statement path runs only while no call holds a phone)
        intake_call(pg, 7, CALLER)  # and the statement for a call from a known number is ready
        hang_up(client, 7)
        (calls,) = [g for g in group_commit.groups(pg.db) if g is not _texts_group(pg)]
        before = calls.statements
        runs = Runs()
        callers = {2: CALLER, 3: OTHER, 4: STRANGER, 5: OTHER}
        with _contacts_held(pg) as a_write_is_waiting:
            # The write the others queue behind is Twilio repeating call 7, which has ended: it
            # writes nothing, so no call holds a phone when the four are written (a call that
            # did would send them to the general path, which rings around busy phones).
            runs.start("7", lambda: intake_call(pg, 7, CALLER))
            a_write_is_waiting()
            for n, caller in callers.items():

                def intake(n: int = n, caller: str = caller) -> CallPlan | None:
                    return intake_call(pg, n, caller)

                runs.start(str(n), intake)
            _wait_for(calls, 4)
        runs.join()
        assert runs.errors == {}
        assert calls.statements - before == 2  # the first alone, then the other four together
        assert runs.results["7"] is None  # a repeat: not written again
        for n, caller in callers.items():
            plan = runs.results[str(n)]
            assert plan is not None and plan.ring is not None
            # Calls written by one statement do not see each other ring (docs/calls.md, busy
            # phones): each rings the first step, as every call did before phones were busy.
            assert [r.phone for r in plan.ring.recipients] == [PRIMARY]
            with pg.db.transaction() as session:
                contact = session.scalar(select(Contact).where(Contact.twilio_sid == sid_of(n)))
                live = session.scalar(select(LiveCall).where(LiveCall.call_sid == sid_of(n)))
                assert contact is not None and live is not None
                assert live.contact_id == contact.id  # the live call is this call's
                assert plan.call_id == live.id  # and the webhook got its own live call
                assert contact.from_number == caller
                expected = None if caller == STRANGER else _participant(pg, caller)
                assert contact.participant_id == expected

    @on_postgresql
    def test_the_same_sid_twice_at_once_is_written_once(pg: Services) -> None:
        group = _texts_group(pg)
        before = group.statements
        runs = Runs()
        with _contacts_held(pg) as a_write_is_waiting:
            # Twilio retried at once: the same MessageSid twice.
            texts = [("a", 2, OTHER), ("again", 2, OTHER), ("b", 3, CALLER)]
            _queue(pg, runs, a_write_is_waiting, texts)
        runs.join()
        assert runs.errors == {}
        contact = _contact(pg, _sms_sid(2))
        assert contact is not None
        assert runs.results["a"] == contact.id
        assert runs.results["again"] is None  # written once: the repeat is known as a repeat
        assert runs.results["b"] is not None
        # The repeat was never in the same statement as the first: it waited for the next.
        assert group.statements - before == 3

    @on_postgresql
    def test_one_bad_row_turns_no_other_away(
        pg: Services, caplog: pytest.LogCaptureFixture
    ) -> None:
        bad = "+4477009002019999999999"  # longer than any number the column holds
        runs = Runs()
        with _contacts_held(pg) as a_write_is_waiting:
            _queue(
                pg, runs, a_write_is_waiting, [("a", 2, OTHER), ("bad", 3, bad), ("b", 4, STRANGER)]
            )
        runs.join()
        # The good texts are recorded, each once, on their senders' records.
        for name, n in (("first", 1), ("a", 2), ("b", 4)):
            contact = _contact(pg, _sms_sid(n))
            assert contact is not None and runs.results[name] == contact.id
        # The bad one fails alone (its webhook answers the fail-safe) and wrote nothing.
        assert set(runs.errors) == {"bad"}
        assert _contact(pg, _sms_sid(3)) is None
        assert "refused" in caplog.text
        assert bad not in caplog.text and OTHER not in caplog.text  # no number in the log

    @on_postgresql
    def test_a_database_error_reaches_every_row_of_its_statement(pg: Services) -> None:
        group = _texts_group(pg)

        def give_up_on_locks(connection: Any, *_args: object) -> None:
            connection.execute("SET lock_timeout = '1s'")

        event.listen(pg.db.autocommit_engine, "checkout", give_up_on_locks)
        runs = Runs()
        try:
            with _contacts_held(pg) as a_write_is_waiting:
                _queue(pg, runs, a_write_is_waiting, [("a", 2, OTHER), ("b", 3, STRANGER)])
                runs.join()  # the table is still held: every statement gives up
        finally:
            event.remove(pg.db.autocommit_engine, "checkout", give_up_on_locks)
        assert set(runs.errors) == {"first", "a", "b"}
        assert all(isinstance(e, psycopg.OperationalError) for e in runs.errors.values())
        for n in (1, 2, 3):
            assert _contact(pg, _sms_sid(n)) is None
        # Nothing is left waiting, and the next text is written as usual.
        assert group.waiting() == 0
        assert sms_intake.take_in(pg.db, _text(_sms_sid(4), CALLER), pg.clock.now()) is not None

    class Interrupted(BaseException):
        """Stands for anything that stops a write midway that is not an error of the database
        (the thread asked to stop, a bug)."""

    @on_postgresql
    def test_an_interrupted_write_loses_no_text_and_leaves_the_group_working(
        pg: Services, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        group = _texts_group(pg)
        runs = Runs()
        with _contacts_held(pg) as a_write_is_waiting:
            _queue(pg, runs, a_write_is_waiting, [("a", 2, OTHER), ("b", 3, STRANGER)])

            def interrupted(*_args: object) -> list[tuple[object, ...]]:
                raise Interrupted

            # The next statement (a's and b's together) is interrupted.
            monkeypatch.setattr(one_statement, "run_all", interrupted)
        runs.join()
        monkeypatch.undo()
        assert isinstance(runs.errors.pop("a"), Interrupted)  # the thread that was writing
        assert runs.errors == {}
        # b was not taken for a repeat: it was recorded alone.
        contact = _contact(pg, _sms_sid(3))
        assert contact is not None and runs.results["b"] == contact.id
        assert _contact(pg, _sms_sid(2)) is None
        # Nothing waits, and the group writes the next text as usual.
        assert group.waiting() == 0
        assert sms_intake.take_in(pg.db, _text(_sms_sid(4), CALLER), pg.clock.now()) is not None

    @on_postgresql
    def test_a_burst_of_calls_through_the_webhook_records_each_once(
        pg: Services, app: Flask
    ) -> None:
        call(app.test_client(), 1)
        burst = range(100, 140)
        runs = Runs()
        for n in burst:
            caller = (CALLER, OTHER, STRANGER)[n % 3]

            def post(n: int = n, caller: str = caller) -> list[str]:
                form = {"CallSid": sid_of(n), "From": caller, "To": LINE, "CallStatus": "ringing"}
                response = signed_post(app.test_client(), "/webhooks/voice", form)
                assert response.status_code == 200
                return ringing(response)

            runs.start(str(n), post)
        runs.join()
        assert runs.errors == {}
        # Each participant's call rings someone; a stranger's may find every phone busy with
        # the calls before it and get the fallback message instead (calls.busy_staff).
        callers = {n: (CALLER, OTHER, STRANGER)[n % 3] for n in burst}
        assert all(runs.results[str(n)] for n in burst if callers[n] != STRANGER)
        assert any(runs.results[str(n)] == [PRIMARY] for n in burst)
        with pg.db.transaction() as session:
            pairs = session.execute(
                select(Contact.twilio_sid, LiveCall.call_sid).join(
                    LiveCall, LiveCall.contact_id == Contact.id
                )
            ).all()
            contacts = [sid or "" for sid in session.scalars(select(Contact.twilio_sid))]
        assert sorted(contacts) == sorted([sid_of(1)] + [sid_of(n) for n in burst])  # each once
        assert all(sid == call_sid for sid, call_sid in pairs)  # each live call its own
        assert len(pairs) == len(contacts)
