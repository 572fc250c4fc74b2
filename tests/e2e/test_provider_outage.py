"""Drills: Twilio's API failing or hanging while participants text in crisis (H130-H134).

The line runs with the real Twilio adapter against the simulator on loopback HTTP; faults are
the simulator's own (an outage, hanging requests). Time is the test's fake clock: an outage of
three minutes is three minutes of that clock, with the dispatcher run as the scheduler runs it.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from crisisline import escalation_engine, outbox, sms_conversations
from crisisline.clock import FakeClock
from crisisline.jobs import Jobs
from crisisline.models import Delivery, DeliveryStatus, ProviderOutage
from escalation import ByOperator
from tests.support.app import beat_as_leader, json_of
from tests.support.sms_line import (
    ACK,
    CRISIS,
    DANIEL,
    MANAGER,
    PRIMARY,
    STEP_WAIT,
    SmsLine,
    start_line,
)

TICK = dt.timedelta(seconds=5)
# Longer than the ordinary retry window (5 attempts over 150 s) that failed crisis texts for good.
OUTAGE = dt.timedelta(seconds=175)
ARRIVED = {DeliveryStatus.SENT, DeliveryStatus.DELIVERED}


@pytest.fixture
def line(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[SmsLine]:
    yield from start_line(tmp_path, database_url, clock)


def _health(app: Flask) -> dict[str, object]:
    beat_as_leader(app)
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    return json_of(response)


def _run_outage(line: SmsLine, length: dt.timedelta) -> list[dict[str, object]]:
    """Let `length` pass in ticks, dispatching as the scheduler does; /healthz after each."""
    seen = []
    elapsed = dt.timedelta(0)
    while elapsed < length:
        Jobs(line.svc).dispatch_outbox()
        seen.append(_health(line.app))
        line.clock.advance(TICK)
        elapsed += TICK
    return seen


def test_an_outage_longer_than_the_old_retry_window_loses_no_crisis_text_and_is_reported(
    line: SmsLine,
) -> None:
    """H130, H131: every crisis text arrives once after the outage; /healthz is degraded during
    it within a minute; the duty manager is told once, after it, what was delayed."""
    line.sim.outage(status=500)
    line.text(DANIEL, "it's a bad night, can someone ring me")

    during = _run_outage(line, OUTAGE)

    # Degraded within a minute of the first failure, saying how many wait and since when.
    first_degraded = next(i for i, h in enumerate(during) if h["status"] == "degraded")
    assert first_degraded * TICK <= dt.timedelta(seconds=60)
    provider = during[-1]["provider"]
    assert isinstance(provider, dict)
    assert provider["state"] == "failing"
    assert provider["crisis_waiting"] >= 2
    assert (
        provider["failing_since"]
        == line.clock.now().replace(hour=12, minute=0, second=0).isoformat()
    )
    # Nobody is texted about the outage over the channel that is failing.
    assert [d.purpose for d in line.deliveries() if d.purpose == "provider_recovered"] == []

    line.sim.end_outage()
    # Retried every minute at most: within a minute of recovery every crisis text is sent.
    line.clock.advance(outbox.CRISIS_BACKOFF_CAP)
    line.dispatch()
    line.dispatch()  # the pass after recovery reports it; this one sends the report

    line.phone(DANIEL).expect_sms(ACK, from_=CRISIS)
    line.phone(PRIMARY).expect_sms(
        "R1001 D. Price (1): it's a bad night, can someone ring me", from_=CRISIS
    )
    line.phone(PRIMARY).expect_sms("Reply 1")
    delayed = [d for d in line.deliveries() if d.failing_since is not None]
    assert len(delayed) >= 3
    assert all(d.status in ARRIVED for d in delayed)
    report = line.phone(MANAGER).expect_sms("texts and calls through Twilio failed from 12:00")
    assert f"{len(delayed)} delayed, all now sent" in report.body
    # Once each: nothing was sent twice, and the report is not repeated.
    line.clock.advance(TICK)
    line.dispatch()
    for phone in (DANIEL, PRIMARY, MANAGER):
        line.phone(phone).expect_no_sms()
    assert _health(line.app)["status"] == "ok"
    with line.svc.db.transaction() as session:
        (outage,) = session.scalars(select(ProviderOutage)).all()
        assert outage.ended_at is not None and outage.reported_at is not None


def test_a_conversation_closed_during_an_outage_stops_its_retries(line: SmsLine) -> None:
    """H132: once the escalation and conversation are settled, their texts are not retried
    (they would ask staff to take something already dealt with), and the report says so."""
    line.sim.outage(status=503)
    line.text(DANIEL, "help")
    _run_outage(line, dt.timedelta(seconds=40))
    (conversation,) = line.conversations()
    with line.svc.db.transaction() as session:
        escalation_engine.close_escalation(
            session,
            conversation.escalation_id or 0,
            ByOperator("Priya Natarajan (console)"),
            line.clock.now(),
            line.svc.reach,
        )
    # The scheduler's upkeep closes a conversation whose escalation was closed.
    sms_conversations.close_idle_conversations(line.svc.db, line.clock.now())
    line.sim.end_outage()
    line.clock.advance(dt.timedelta(seconds=60))
    line.dispatch()
    line.dispatch()

    # Told it was closed, and never afterwards asked to take it.
    line.phone(PRIMARY).expect_sms("was closed by Priya Natarajan")
    line.phone(PRIMARY).expect_no_sms()
    withdrawn = [
        d for d in line.deliveries() if d.failing_since is not None and d.purpose != "sms_fallback"
    ]
    assert withdrawn
    for delivery in withdrawn:
        assert delivery.status is DeliveryStatus.FAILED
        assert (delivery.error_message or "").startswith("not retried: ")
    line.phone(DANIEL).ignore_unexpected()
    report = line.phone(MANAGER).expect_sms("texts and calls through Twilio failed")
    assert "not sent" in report.body


def test_texts_failing_do_not_stop_the_escalation_calls_and_arrive_after(
    line: SmsLine,
) -> None:
    """H133: with only Twilio's Messages API failing, the step that calls and texts still
    calls; the texts are retried and arrive once Messages answers again."""
    line.sim.outage(status=500, resource="Messages")
    line.text(DANIEL, "please ring me")
    Jobs(line.svc).dispatch_outbox()
    line.wait(STEP_WAIT)
    # Step two of crisis-sms calls the primary and the backup even though no text has gone.
    line.phone(PRIMARY).expect_call()
    line.sim.end_outage()
    line.clock.advance(dt.timedelta(seconds=60))
    line.dispatch()
    line.phone(DANIEL).expect_sms(ACK)
    line.phone(PRIMARY).expect_sms("R1001 D. Price (1): please ring me")
    for phone in line.sim.phones:
        phone.ignore_unexpected()


@pytest.fixture
def hanging_line(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[SmsLine]:
    # A long client timeout keeps the hung requests in flight for as long as the test looks,
    # however slow the machine: the relay must go while they hang, not after they time out.
    yield from start_line(
        tmp_path, database_url, clock, DISPATCH_WORKERS="8", TWILIO_REQUEST_TIMEOUT="30"
    )


def test_a_relay_goes_while_earlier_provider_requests_hang(hanging_line: SmsLine) -> None:
    """H134: four sends hang at the provider; a participant's text written after them is
    relayed while they are still in flight, not after their timeouts one by one."""
    line = hanging_line
    others = ["+447700900601", "+447700900602", "+447700900603", "+447700900604"]
    with line.svc.db.transaction() as session:
        hung = [
            outbox.enqueue_sms(
                session,
                to=number,
                from_=CRISIS,
                body="Your message has reached the Resettle crisis line.",
                purpose="sms_acknowledgement",
                now=line.clock.now(),
            ).id
            for number in others
        ]
    for number in others:
        line.sim.hang_next_requests(1, seconds=60, status=503, to=number)
    pass_done = threading.Event()

    def dispatch() -> None:
        try:
            Jobs(line.svc).dispatch_outbox()
        finally:
            pass_done.set()

    worker = threading.Thread(target=dispatch)
    worker.start()
    try:
        line.text(DANIEL, "are you there")
        # Waiting for an event, with a generous bound so that a broken dispatcher fails
        # rather than hangs; nothing is asserted about how long it took.
        deadline = time.monotonic() + 30
        while not _has_relay(line) and time.monotonic() < deadline and not pass_done.is_set():
            time.sleep(0.02)
        with line.svc.db.transaction() as session:
            statuses = [session.get_one(Delivery, i).status for i in hung]
        assert _has_relay(line), "the relay was not sent while the hung requests were in flight"
        # The hung sends were still waiting on the provider when the relay went.
        assert statuses == [DeliveryStatus.SENDING] * 4
    finally:
        line.sim.clear_faults()
        worker.join()
    line.phone(PRIMARY).expect_sms("R1001 D. Price (1): are you there")
    for phone in line.sim.phones:
        phone.ignore_unexpected()


def _has_relay(line: SmsLine) -> bool:
    return any("are you there" in m.body for m in line.phone(PRIMARY).inbox)
