"""The outbox sends the most urgent first, concurrently, and keeps crisis deliveries trying
through a provider outage while what they are about is open (H130, H132, H135, H136)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

from flask import Flask
from sqlalchemy import func, select

from crisisline import delivery_kinds, outbox
from crisisline.clock import FakeClock
from crisisline.models import Delivery, DeliveryStatus
from crisisline.services import Services
from crisisline.telephony import (
    FakeTelephony,
    PermanentTelephonyError,
    ProviderReceipt,
    TransientTelephonyError,
)
from tests.support.app import services_of

CRISIS_LINE = "+447700900000"
STAFF_PHONE = "+447700900101"
PARTICIPANT = "+447700900501"
BACKLOG = [f"+4477009002{n:02d}" for n in range(100)]  # drama range, one per staff phone


def _enqueue(svc: Services, purpose: str, to: str = STAFF_PHONE, **kwargs: object) -> int:
    with svc.db.transaction() as session:
        return outbox.enqueue_sms(
            session,
            to=to,
            from_=CRISIS_LINE,
            body=f"{purpose} text",
            purpose=purpose,
            now=svc.clock.now(),
            **kwargs,  # type: ignore[arg-type]
        ).id


def _backlog(svc: Services, per_phone: int = 3) -> None:
    with svc.db.transaction() as session:
        for _ in range(per_phone):
            for phone in BACKLOG:
                outbox.enqueue_sms(
                    session,
                    to=phone,
                    from_=CRISIS_LINE,
                    body="Reminder: your on-call shift starts at 18:00.",
                    purpose="rota_notice",
                    now=svc.clock.now(),
                    flush=False,
                )


def _get(svc: Services, delivery_id: int) -> Delivery:
    with svc.db.transaction() as session:
        return session.get_one(Delivery, delivery_id)


def _dispatch(svc: Services, telephony: object, workers: int) -> outbox.DispatchReport:
    return outbox.dispatch_due(
        svc.db,
        telephony,  # type: ignore[arg-type]
        svc.clock.now,
        svc.delivery_status_url,
        workers=workers,
    )


def test_each_purpose_has_one_priority_participants_first() -> None:
    assert delivery_kinds.kind_of("sms_relay").priority == delivery_kinds.PARTICIPANT
    assert delivery_kinds.kind_of("sms_acknowledgement").priority == delivery_kinds.PARTICIPANT
    assert delivery_kinds.kind_of("escalation").priority == delivery_kinds.STAFF_ALERT
    assert delivery_kinds.kind_of("escalation_incident").priority == delivery_kinds.STAFF_ALERT
    assert delivery_kinds.kind_of("rota_notice").priority == delivery_kinds.ROUTINE
    assert delivery_kinds.kind_of("test_message").priority == delivery_kinds.ROUTINE
    assert delivery_kinds.kind_of("anything new").priority == delivery_kinds.ROUTINE
    assert not delivery_kinds.kind_of("rota_notice").crisis
    assert delivery_kinds.kind_of("sms_relay").crisis


def test_a_relay_written_after_a_backlog_is_sent_first(
    app: Flask, telephony: FakeTelephony
) -> None:
    """H135: 300 reminders queued, then a participant's relay and an escalation text: the
    relay goes first and the escalation second, whatever the pool size."""
    svc = services_of(app)
    _backlog(svc)
    escalation = _enqueue(svc, "escalation", to="+447700900102")
    relay = _enqueue(svc, "sms_relay")
    report = _dispatch(svc, telephony, workers=1)
    assert report.sent == 302
    assert [m.to for m in telephony.sent_messages[:2]] == [STAFF_PHONE, "+447700900102"]
    assert _get(svc, relay).status is DeliveryStatus.SENT
    assert _get(svc, escalation).status is DeliveryStatus.SENT


class _ArrivingMidPass:
    """A fake provider that, on its `at`-th send, lets a participant's text be written."""

    def __init__(self, inner: FakeTelephony, at: int, arrive: Callable[[], None]) -> None:
        self.inner = inner
        self.at = at
        self.arrive = arrive
        self.count = 0
        self.lock = threading.Lock()

    def send_sms(self, to: str, from_: str, body: str, cb: str | None) -> ProviderReceipt:
        with self.lock:
            self.count += 1
            due = self.count == self.at
        if due:
            self.arrive()
        return self.inner.send_sms(to, from_, body, cb)

    def place_call(self, *args: object, **kwargs: object) -> ProviderReceipt:
        return self.inner.place_call(*args, **kwargs)  # type: ignore[arg-type]


def test_a_relay_due_mid_pass_does_not_wait_behind_claimed_reminders(
    app: Flask, telephony: FakeTelephony
) -> None:
    """H135: a relay written while a pass works through a backlog is claimed in its priority's
    turn: at most one pool's worth of reminders claimed before it goes ahead of it."""
    svc = services_of(app)
    _backlog(svc)
    workers = 8
    sent_before: list[int] = []

    def arrive() -> None:
        _enqueue(svc, "sms_relay")
        # Written (committed) now: count what had gone by then.
        sent_before.append(len(telephony.sent_messages))

    _dispatch(svc, _ArrivingMidPass(telephony, 20, arrive), workers=workers)
    position = [m.to for m in telephony.sent_messages].index(STAFF_PHONE)
    # After what had gone when it was written, only the sends already claimed went first.
    assert sent_before[0] <= position <= sent_before[0] + workers
    assert len(telephony.sent_messages) == 301


def test_concurrent_dispatch_sends_each_delivery_exactly_once(
    app: Flask, telephony: FakeTelephony
) -> None:
    """H136: eight workers and two passes at once send every delivery once and record it."""
    svc = services_of(app)
    _backlog(svc, per_phone=2)
    passes = [threading.Thread(target=_dispatch, args=(svc, telephony, 8)) for _ in range(2)]
    for thread in passes:
        thread.start()
    for thread in passes:
        thread.join()
    _dispatch(svc, telephony, 8)
    sent = [(m.to, m.status_callback) for m in telephony.sent_messages]
    assert len(sent) == len(set(sent)) == 200
    with svc.db.transaction() as session:
        statuses = session.execute(
            select(Delivery.status, func.count()).group_by(Delivery.status)
        ).all()
    assert statuses == [(DeliveryStatus.SENT, 200)]


def test_one_phone_gets_its_texts_one_at_a_time_in_order(
    app: Flask, telephony: FakeTelephony
) -> None:
    svc = services_of(app)
    with svc.db.transaction() as session:
        parts = [
            outbox.enqueue_sms(
                session,
                to=STAFF_PHONE,
                from_=CRISIS_LINE,
                body=f"part {n} of 6",
                purpose="sms_relay",
                now=svc.clock.now(),
            ).id
            for n in range(1, 7)
        ]
    _dispatch(svc, telephony, workers=8)
    assert [m.body for m in telephony.messages_to(STAFF_PHONE)] == [
        f"part {n} of 6" for n in range(1, 7)
    ]
    assert all(_get(svc, p).status is DeliveryStatus.SENT for p in parts)


def test_a_crisis_delivery_is_retried_on_the_crisis_schedule_past_the_ordinary_window(
    app: Flask, telephony: FakeTelephony, clock: FakeClock
) -> None:
    """H130: 5 s, 10 s, 20 s, 40 s, then every 60 s; a routine text still fails after 5."""
    svc = services_of(app)
    relay = _enqueue(svc, "sms_relay")
    reminder = _enqueue(svc, "rota_notice", to="+447700900102")
    outage = TransientTelephonyError("Twilio answered 500", http_status=500)
    waits = []
    for _ in range(8):
        reminder_due = _get(svc, reminder).status is DeliveryStatus.QUEUED
        telephony.fail_next(outage, times=2 if reminder_due else 1)
        _dispatch(svc, telephony, workers=1)
        delivery = _get(svc, relay)
        assert delivery.status is DeliveryStatus.QUEUED
        waits.append(int((delivery.next_attempt_at - clock.now()).total_seconds()))
        clock.advance(dt.timedelta(minutes=5))
    assert waits == [5, 10, 20, 40, 60, 60, 60, 60]
    assert _get(svc, reminder).status is DeliveryStatus.FAILED
    assert _get(svc, reminder).attempts == outbox.DEFAULT_MAX_ATTEMPTS
    _dispatch(svc, telephony, workers=1)
    assert _get(svc, relay).status is DeliveryStatus.SENT
    assert len(telephony.messages_to(STAFF_PHONE)) == 1


def test_a_crisis_delivery_gives_up_at_the_horizon_saying_so(
    app: Flask, telephony: FakeTelephony, clock: FakeClock
) -> None:
    svc = services_of(app)
    relay = _enqueue(svc, "sms_relay")
    telephony.fail_next(TransientTelephonyError("no reply"), times=3)
    horizon = dt.timedelta(hours=1)
    for _ in range(2):
        outbox.dispatch_due(
            svc.db, telephony, svc.clock.now, svc.delivery_status_url, crisis_horizon=horizon
        )
        assert _get(svc, relay).status is DeliveryStatus.QUEUED
        clock.advance(dt.timedelta(minutes=40))
    outbox.dispatch_due(
        svc.db, telephony, svc.clock.now, svc.delivery_status_url, crisis_horizon=horizon
    )
    delivery = _get(svc, relay)
    assert delivery.status is DeliveryStatus.FAILED
    assert (delivery.error_message or "").startswith("still failing 1 h after it was written")


def test_a_permanent_error_still_fails_a_crisis_delivery_at_once(
    app: Flask, telephony: FakeTelephony
) -> None:
    """H137: an unsubscribed phone (21610) is not retried for a day."""
    svc = services_of(app)
    relay = _enqueue(svc, "sms_acknowledgement", to=PARTICIPANT)
    telephony.fail_next(PermanentTelephonyError("unsubscribed", code=21610, http_status=400))
    assert _dispatch(svc, telephony, workers=8).failed == 1
    delivery = _get(svc, relay)
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.error_code == 21610
    assert delivery.failing_since is None


def test_a_crisis_retry_whose_subject_was_settled_is_withdrawn_not_sent(
    app: Flask, telephony: FakeTelephony, clock: FakeClock
) -> None:
    """H132, with a subject type registered for the test."""
    svc = services_of(app)
    settled: set[int] = set()
    outbox.register_subject(
        "test_subject", lambda _s, i: f"test subject {i} settled" if i in settled else None
    )
    kept = _enqueue(svc, "escalation", subject=outbox.Subject("test_subject", 1))
    dropped = _enqueue(
        svc, "escalation", to="+447700900102", subject=outbox.Subject("test_subject", 2)
    )
    telephony.fail_next(TransientTelephonyError("503"), times=2)
    _dispatch(svc, telephony, workers=1)
    settled.add(2)
    clock.advance(dt.timedelta(seconds=5))
    report = _dispatch(svc, telephony, workers=1)
    assert (report.sent, report.withdrawn) == (1, 1)
    assert _get(svc, kept).status is DeliveryStatus.SENT
    withdrawn = _get(svc, dropped)
    assert withdrawn.status is DeliveryStatus.FAILED
    assert withdrawn.error_message == "not retried: test subject 2 settled"
    assert telephony.messages_to("+447700900102") == []


def test_the_api_shows_each_deliverys_priority_and_when_it_started_failing(
    app: Flask, telephony: FakeTelephony, api_token: str
) -> None:
    svc = services_of(app)
    relay = _enqueue(svc, "sms_relay")
    telephony.fail_next(TransientTelephonyError("503"))
    _dispatch(svc, telephony, workers=1)
    response = app.test_client().get(
        f"/api/v1/deliveries/{relay}", headers={"Authorization": f"Bearer {api_token}"}
    )
    body = response.get_json()
    assert body["priority"] == delivery_kinds.PARTICIPANT
    assert body["failing_since"] is not None and body["status"] == "queued"
