"""Wake-ups: a commit that creates work starts the scheduler's job at once (NOTIFY on PostgreSQL,
in memory on SQLite), and a lost wake-up, a killed listening connection or a restarted scheduler
still get everything done exactly once, by the safety sweep or the catch-up on connecting."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from sqlalchemy import create_engine, text

from crisisline import heartbeat, outbox, sms_intake, wakeups
from crisisline import jobs as jobs_module
from crisisline.jobs import Jobs
from crisisline.services import Services
from crisisline.telephony import FakeTelephony
from crisisline.wakeups import Listener, ListenerState, Work
from tests.support.app import services_of
from tests.support.wakeups import Heard, eventually, hearing

LINE = "+447700900000"
WORKER = "+447700900101"


def _enqueue(svc: Services, body: str) -> None:
    with svc.db.transaction() as session:
        outbox.enqueue_sms(
            session, to=WORKER, from_=LINE, body=body, purpose="test_message", now=svc.clock.now()
        )


def test_a_commit_that_queues_a_delivery_wakes_the_dispatcher(app: Flask) -> None:
    svc = services_of(app)
    with hearing(svc) as heard:
        _enqueue(svc, "Wake test")
        assert heard.wait_for(Work.OUTBOX)


@pytest.mark.hazard("H303")
def test_a_transaction_rolled_back_wakes_nobody(app: Flask) -> None:
    svc = services_of(app)
    with hearing(svc) as heard:
        with pytest.raises(RuntimeError), svc.db.transaction() as session:
            outbox.enqueue_sms(
                session,
                to=WORKER,
                from_=LINE,
                body="x",
                purpose="test_message",
                now=svc.clock.now(),
            )
            raise RuntimeError("the request failed after writing")
        # A later commit's wake-up arrives; the rolled-back one never did.
        _enqueue(svc, "after")
        assert heard.wait_for(Work.OUTBOX)
        assert heard.works == [Work.OUTBOX]


def test_wakeups_off_sends_none(app: Flask) -> None:
    svc = services_of(app)
    with hearing(svc) as heard:
        svc.db.wakes.enabled = False
        _enqueue(svc, "polled")
        svc.db.wakes.enabled = True
        _enqueue(svc, "woken")
        assert heard.wait_for(Work.OUTBOX)
        assert heard.works == [Work.OUTBOX]


def test_a_text_taken_in_wakes_the_router(app: Flask) -> None:
    """The SMS webhook's write: on PostgreSQL a group commit outside any ORM transaction, its
    wake-up sent afterwards by the notifier thread."""
    svc = services_of(app)
    with hearing(svc) as heard:
        contact_id = sms_intake.take_in(
            svc.db,
            sms_intake.InboundText(
                message_sid="SM" + "1" * 32,
                from_number="+447700900301",
                from_raw="+447700900301",
                to_number=LINE,
                body="hello",
            ),
            svc.clock.now(),
        )
        assert contact_id is not None
        assert heard.wait_for(Work.TEXTS)


@contextmanager
def scheduler(svc: Services, name: str = "wake-test") -> Iterator[None]:
    running = Jobs(svc).start_scheduler(name, background=True)
    running.start()
    try:
        yield
    finally:
        running.shutdown(wait=True)


def _sweeps_every(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    # Whichever interval applies on this engine (the safety sweep with NOTIFY, the polling one
    # without), so that what a test sees is the wake-up's doing, or the sweep's.
    monkeypatch.setattr(jobs_module, "SAFETY_SWEEP_SECONDS", seconds)
    monkeypatch.setattr(jobs_module, "SWEEP_SECONDS", seconds)


@pytest.mark.hazard("H304")
def test_a_woken_scheduler_sends_at_once_not_at_its_next_sweep(
    app: Flask, telephony: FakeTelephony, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = services_of(app)
    _sweeps_every(monkeypatch, 3600)  # after its first pass at start-up, no sweep in this test
    with scheduler(svc):
        time.sleep(0.5)  # past the first passes at start-up
        _enqueue(svc, "Woken")
        assert eventually(lambda: len(telephony.sent_messages) == 1)
        time.sleep(0.3)
    assert [m.body for m in telephony.sent_messages] == ["Woken"]


@pytest.mark.hazard("H300")
@pytest.mark.hazard("H302")
def test_a_lost_wakeup_is_sent_by_the_safety_sweep_exactly_once(
    app: Flask, telephony: FakeTelephony, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = services_of(app)
    _sweeps_every(monkeypatch, 1.0)
    with scheduler(svc):
        time.sleep(0.3)
        svc.db.wakes.enabled = False  # the commit's notification never goes: lost
        _enqueue(svc, "Lost wake-up")
        svc.db.wakes.enabled = True
        assert eventually(lambda: len(telephony.sent_messages) == 1)
        _enqueue(svc, "Woken too")  # woken and swept alike: still once
        assert eventually(lambda: len(telephony.sent_messages) == 2)
        time.sleep(2.5)  # two more sweeps: nothing is sent twice
    assert sorted(m.body for m in telephony.sent_messages) == ["Lost wake-up", "Woken too"]


@pytest.mark.hazard("H300")
def test_a_restarted_scheduler_sends_what_was_queued_while_it_was_down(
    app: Flask, telephony: FakeTelephony, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = services_of(app)
    _sweeps_every(monkeypatch, 3600)
    with scheduler(svc, "first"):
        time.sleep(0.3)
    _enqueue(svc, "While down")  # nobody listening: its notification is lost
    with scheduler(svc, "second"):
        assert eventually(lambda: len(telephony.sent_messages) == 1)
        time.sleep(0.3)
    assert [m.body for m in telephony.sent_messages] == ["While down"]


def _sqlite_keeps_polling(svc: Services) -> None:
    """On SQLite there is no listening connection to lose: another process would not hear a
    wake-up, so the sweeps stay every second."""
    assert not Jobs(svc).woken
    seconds = {job.name: job.seconds for job in Jobs(svc).scheduler_jobs("sqlite")}
    assert [seconds[work.value] for work in Work] == [1.0, 1.0, 1.0]


@pytest.mark.hazard("H300")
@pytest.mark.hazard("H304")
def test_with_postgresql_the_sweeps_are_the_safety_net(app: Flask) -> None:
    svc = services_of(app)
    seconds = {job.name: job.seconds for job in Jobs(svc).scheduler_jobs("intervals")}
    expected = wakeups.SAFETY_SWEEP_SECONDS if svc.db.wakes.postgres else 1.0
    assert [seconds[work.value] for work in Work] == [expected] * 3
    assert expected >= jobs_module.SWEEP_SECONDS  # never shorter than the polling interval


@pytest.mark.hazard("H301")
def test_a_killed_listening_connection_reconnects_and_catches_up(app: Flask) -> None:
    svc = services_of(app)
    if not svc.db.wakes.postgres:
        _sqlite_keeps_polling(svc)
        return
    heard = Heard()
    state = ListenerState()
    listener = Listener(svc.settings.database_url, heard, state=state).start()
    try:
        assert eventually(lambda: state.listening and set(heard.works) == set(Work))
        pid = listener.backend_pid
        assert pid is not None
        engine = create_engine(svc.settings.database_url)
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        engine.dispose()
        heard.works.clear()
        # Counted, reconnected, and every job woken once on reconnecting (what was notified
        # while it was away is not lost).
        assert eventually(lambda: state.reconnects == 1 and state.listening)
        assert eventually(lambda: set(heard.works) == set(Work))
        heard.works.clear()
        _enqueue(svc, "After the drop")
        assert heard.wait_for(Work.OUTBOX)
    finally:
        listener.stop()
    assert not state.listening


@pytest.mark.hazard("H302")
def test_a_killed_listener_loses_no_delivery_and_sends_none_twice(
    app: Flask, telephony: FakeTelephony, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = services_of(app)
    if not svc.db.wakes.postgres:
        _sqlite_keeps_polling(svc)
        return
    _sweeps_every(monkeypatch, 3600)
    listeners: list[Listener] = []
    real = wakeups.Listener

    def keep(*args: object, **kwargs: object) -> Listener:
        listener = real(*args, **kwargs)  # type: ignore[arg-type]
        listeners.append(listener)
        return listener

    monkeypatch.setattr("crisisline.jobs.Listener", keep)
    with scheduler(svc):
        assert eventually(lambda: bool(listeners) and listeners[0].backend_pid is not None)
        pid = listeners[0].backend_pid
        engine = create_engine(svc.settings.database_url)
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            # Queued while the listener is gone: its notification reaches nobody.
        _enqueue(svc, "During the drop")
        engine.dispose()
        assert eventually(lambda: len(telephony.sent_messages) == 1)
        _enqueue(svc, "After it")
        assert eventually(lambda: len(telephony.sent_messages) == 2)
        time.sleep(0.5)
    assert sorted(m.body for m in telephony.sent_messages) == ["After it", "During the drop"]


@pytest.mark.hazard("H301")
def test_the_heartbeat_and_healthz_report_the_listener(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = services_of(app)
    client = app.test_client()
    with scheduler(svc):

        def reported() -> dict[str, object] | None:
            body = client.get("/healthz").get_json()
            scheduler_block = body.get("scheduler") or {}
            wake = scheduler_block.get("wakeups")
            return wake if isinstance(wake, dict) else None

        assert eventually(lambda: reported() is not None)
        wake = reported()
        assert wake is not None
        if svc.db.wakes.postgres:
            assert eventually(lambda: (reported() or {}).get("state") == "listening")
        else:
            assert wake["state"] == "none"


def test_the_conninfo_keeps_the_credentials_and_drops_the_driver() -> None:
    info = wakeups.conninfo("postgresql+psycopg://user:secret@db.example:5433/crisis")
    assert info == "postgresql://user:secret@db.example:5433/crisis"


@pytest.mark.hazard("H301")
def test_healthz_warns_while_the_listener_is_reconnecting(app: Flask) -> None:
    svc = services_of(app)
    with svc.db.transaction() as session:
        heartbeat.beat(
            session,
            name="sched-a",
            pid=1,
            started_at=svc.clock.now(),
            now=svc.clock.now(),
            wake_listening=False,
            wake_reconnects=3,
        )
    body = app.test_client().get("/healthz").get_json()
    assert body["scheduler"]["wakeups"] == {"state": "reconnecting", "reconnects": 3}
    assert any("not hearing wake-ups" in warning for warning in body["warnings"])
    assert body["status"] == "degraded"
