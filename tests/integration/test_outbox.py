"""The outbox: deliveries are written first, sent once, retried only when worth it, never lost."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from crisisline import outbox
from crisisline.clock import FakeClock
from crisisline.jobs import Jobs
from crisisline.models import Delivery, DeliveryStatus
from crisisline.services import Services
from crisisline.telephony import FakeTelephony, PermanentTelephonyError, TransientTelephonyError
from tests.support.app import services_of, signed_post
from tests.support.engine_line import Line, staffed_line
from tests.support.risk_alerts import MANAGER, OFFICER, PRIMARY, Service, alerts_service

STAFF_PHONE = "+447700900101"
CRISIS_LINE = "+447700900000"


def _enqueue(svc: Services, body: str = "Test message", **kwargs: object) -> int:
    with svc.db.transaction() as session:
        delivery = outbox.enqueue_sms(
            session,
            to=STAFF_PHONE,
            from_=CRISIS_LINE,
            body=body,
            purpose="test_message",
            now=svc.clock.now(),
            **kwargs,  # type: ignore[arg-type]
        )
        return delivery.id


def _get(svc: Services, delivery_id: int) -> Delivery:
    with svc.db.transaction() as session:
        return session.get_one(Delivery, delivery_id)


def test_service_texts_are_written_queued_in_gsm7_with_their_segment_count(app: Flask) -> None:
    svc = services_of(app)
    # Curly quotes, an en dash and an ellipsis: what a phone's keyboard or a pasted text brings.
    delivery_id = _enqueue(svc, body="\u201cCall back\u201d \u2013 it\u2019s urgent\u2026")
    delivery = _get(svc, delivery_id)
    assert delivery.status is DeliveryStatus.QUEUED
    assert delivery.body == '"Call back" - it\'s urgent...'
    assert delivery.segments == 1
    words = "I\u2019m scared \U0001f622"
    verbatim = _get(svc, _enqueue(svc, body=words, verbatim=True))
    assert verbatim.body == words


def test_a_due_delivery_is_sent_once_and_marked_sent_with_the_provider_sid(
    app: Flask, telephony: FakeTelephony
) -> None:
    svc = services_of(app)
    delivery_id = _enqueue(svc)
    report = Jobs(svc).dispatch_outbox()
    assert report.sent == 1
    assert [m.to for m in telephony.sent_messages] == [STAFF_PHONE]
    message = telephony.sent_messages[0]
    assert message.status_callback == (
        f"https://crisis.example.org/webhooks/deliveries/{delivery_id}/status"
    )
    delivery = _get(svc, delivery_id)
    assert delivery.status is DeliveryStatus.SENT
    assert delivery.provider_sid == message.sid
    assert delivery.attempts == 1
    assert Jobs(svc).dispatch_outbox().sent == 0
    assert len(telephony.sent_messages) == 1


def test_transient_errors_are_retried_with_backoff_until_sent(
    app: Flask, telephony: FakeTelephony, clock: FakeClock
) -> None:
    svc = services_of(app)
    delivery_id = _enqueue(svc)
    telephony.fail_next(TransientTelephonyError("503", http_status=503), times=2)

    assert Jobs(svc).dispatch_outbox().retrying == 1
    first_retry = _get(svc, delivery_id)
    assert first_retry.status is DeliveryStatus.QUEUED
    assert first_retry.next_attempt_at == clock.now() + dt.timedelta(seconds=10)
    assert Jobs(svc).dispatch_outbox().sent == 0  # not due yet

    clock.advance(dt.timedelta(seconds=10))
    assert Jobs(svc).dispatch_outbox().retrying == 1
    assert _get(svc, delivery_id).next_attempt_at == clock.now() + dt.timedelta(seconds=20)

    clock.advance(dt.timedelta(seconds=20))
    assert Jobs(svc).dispatch_outbox().sent == 1
    delivery = _get(svc, delivery_id)
    assert delivery.status is DeliveryStatus.SENT
    assert delivery.attempts == 3
    assert len(telephony.sent_messages) == 1


def test_transient_errors_fail_the_delivery_after_the_attempt_limit(
    app: Flask, telephony: FakeTelephony, clock: FakeClock
) -> None:
    svc = services_of(app)
    delivery_id = _enqueue(svc, max_attempts=3)
    telephony.fail_next(TransientTelephonyError("busy", code=20429, http_status=429), times=5)
    for _ in range(3):
        Jobs(svc).dispatch_outbox()
        clock.advance(outbox.BACKOFF_CAP)
    delivery = _get(svc, delivery_id)
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.attempts == 3
    assert delivery.error_code == 20429
    assert delivery.finished_at is not None


def test_a_permanent_error_fails_at_once_with_twilios_code_kept(
    app: Flask, telephony: FakeTelephony, clock: FakeClock
) -> None:
    svc = services_of(app)
    delivery_id = _enqueue(svc)
    telephony.fail_next(PermanentTelephonyError("unsubscribed", code=21610, http_status=400))
    assert Jobs(svc).dispatch_outbox().failed == 1
    clock.advance(dt.timedelta(hours=1))
    assert Jobs(svc).dispatch_outbox().sent == 0
    delivery = _get(svc, delivery_id)
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.error_code == 21610
    assert delivery.attempts == 1
    assert telephony.sent_messages == []


def test_a_dispatcher_killed_between_claim_and_send_loses_nothing(
    app: Flask, telephony: FakeTelephony, clock: FakeClock
) -> None:
    svc = services_of(app)
    delivery_id = _enqueue(svc)
    # A dispatcher claims the delivery and dies before sending: nothing records the outcome.
    claims = outbox.claim_due(svc.db, clock.now())
    assert [c.delivery_id for c in claims] == [delivery_id]
    assert _get(svc, delivery_id).status is DeliveryStatus.SENDING

    assert Jobs(svc).dispatch_outbox().sent == 0  # the lease still stands
    clock.advance(outbox.LEASE + dt.timedelta(seconds=1))
    assert Jobs(svc).dispatch_outbox().sent == 1  # after a restart, the lease has run out
    assert _get(svc, delivery_id).status is DeliveryStatus.SENT
    assert len(telephony.sent_messages) == 1


def test_a_dispatcher_whose_lease_ran_out_cannot_overwrite_the_new_owners_result(
    app: Flask, telephony: FakeTelephony, clock: FakeClock
) -> None:
    svc = services_of(app)
    delivery_id = _enqueue(svc)
    (slow,) = outbox.claim_due(svc.db, clock.now())
    clock.advance(outbox.LEASE + dt.timedelta(seconds=1))
    assert Jobs(svc).dispatch_outbox().sent == 1
    sid = _get(svc, delivery_id).provider_sid
    failure = TransientTelephonyError("late", http_status=503)
    assert outbox.record_failure(svc.db, slow, failure, clock.now()) == "lost_claims"
    delivery = _get(svc, delivery_id)
    assert delivery.status is DeliveryStatus.SENT
    assert delivery.provider_sid == sid


def test_two_dispatchers_running_at_once_send_each_delivery_exactly_once(
    app: Flask, telephony: FakeTelephony
) -> None:
    svc = services_of(app)
    ids = {_enqueue(svc, body=f"message {i}") for i in range(30)}
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            for _ in range(10):
                Jobs(svc).dispatch_outbox()
        except BaseException as error:  # a failure in a thread must fail the test
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    bodies = sorted(m.body for m in telephony.sent_messages)
    assert bodies == sorted(f"message {i}" for i in range(30))
    with svc.db.transaction() as session:
        statuses = set(session.scalars(select(Delivery.status).where(Delivery.id.in_(ids))))
    assert statuses == {DeliveryStatus.SENT}


def _status(svc: Services, delivery_id: int, sid: str, status: str, **extra: int) -> bool:
    with svc.db.transaction() as session:
        update = outbox.StatusUpdate(delivery_id, sid, status, **extra)
        return outbox.apply_status(session, update, svc.clock.now())


def test_status_callbacks_move_forward_only_and_repeats_change_nothing(app: Flask) -> None:
    svc = services_of(app)
    delivery_id = _enqueue(svc)
    Jobs(svc).dispatch_outbox()
    sid = _get(svc, delivery_id).provider_sid or ""
    assert _status(svc, delivery_id, sid, "delivered")
    assert not _status(svc, delivery_id, sid, "delivered")  # duplicate
    assert not _status(svc, delivery_id, sid, "sent")  # late, out of order
    assert not _status(svc, delivery_id, sid, "failed", error_code=30003)  # terminal stays
    delivery = _get(svc, delivery_id)
    assert delivery.status is DeliveryStatus.DELIVERED
    assert delivery.error_code is None


def test_a_failed_callback_keeps_the_carrier_error_code(app: Flask) -> None:
    svc = services_of(app)
    delivery_id = _enqueue(svc)
    Jobs(svc).dispatch_outbox()
    sid = _get(svc, delivery_id).provider_sid or ""
    assert _status(svc, delivery_id, sid, "undelivered", error_code=30006)
    delivery = _get(svc, delivery_id)
    assert delivery.status is DeliveryStatus.UNDELIVERED
    assert delivery.error_code == 30006


def test_a_callback_with_another_deliverys_sid_is_ignored(app: Flask) -> None:
    svc = services_of(app)
    delivery_id = _enqueue(svc)
    Jobs(svc).dispatch_outbox()
    assert not _status(svc, delivery_id, "SM" + "9" * 32, "failed")
    assert _get(svc, delivery_id).status is DeliveryStatus.SENT


def test_a_callback_that_overtakes_the_rest_reply_is_not_undone(
    app: Flask, clock: FakeClock
) -> None:
    svc = services_of(app)
    delivery_id = _enqueue(svc)
    (claim,) = outbox.claim_due(svc.db, clock.now())
    assert _status(svc, delivery_id, "SM" + "1" * 32, "delivered")
    assert outbox.record_sent(svc.db, claim, "SM" + "1" * 32, "queued", clock.now()) == "sent"
    assert _get(svc, delivery_id).status is DeliveryStatus.DELIVERED


def test_voice_callbacks_apply_in_sequence_order(app: Flask) -> None:
    svc = services_of(app)
    with svc.db.transaction() as session:
        delivery_id = outbox.enqueue_call(
            session,
            to=STAFF_PHONE,
            from_=CRISIS_LINE,
            script="Escalation call",
            twiml_url="https://crisis.example.org/webhooks/escalations/1/call",
            purpose="escalation",
            now=svc.clock.now(),
        ).id
    Jobs(svc).dispatch_outbox()
    sid = _get(svc, delivery_id).provider_sid or ""
    assert sid.startswith("CA")
    assert _status(svc, delivery_id, sid, "completed", sequence=3)
    assert not _status(svc, delivery_id, sid, "ringing", sequence=1)
    assert _get(svc, delivery_id).status is DeliveryStatus.DELIVERED


def test_backoff_doubles_from_ten_seconds_up_to_five_minutes() -> None:
    waits = [outbox.backoff(n).total_seconds() for n in range(1, 8)]
    assert waits == [10, 20, 40, 80, 160, 300, 300]


# ---- one bad delivery, and a reply that times out (safety reviews) ----------------------------


@pytest.fixture
def service(app: Flask, clock: FakeClock) -> Service:
    return alerts_service(app, clock)


@pytest.fixture
def line(app: Flask, clock: FakeClock) -> Line:
    return staffed_line(app, clock)


class _BrokenForOneNumber(FakeTelephony):
    def __init__(self, number: str) -> None:
        super().__init__()
        self.number = number

    def send_sms(self, to: str, from_: str, body: str, status_callback: str | None) -> Any:
        if to == self.number:
            raise RuntimeError("unexpected error outside the port's contract")
        return super().send_sms(to, from_, body, status_callback)


@pytest.mark.hazard("H63")
def test_one_delivery_that_raises_unexpectedly_does_not_hold_back_the_others(
    service: Service,
) -> None:
    telephony = _BrokenForOneNumber(PRIMARY)
    service.svc.telephony = telephony
    with service.svc.db.transaction() as session:
        for to in (PRIMARY, OFFICER, MANAGER):
            outbox.enqueue_sms(
                session,
                to=to,
                from_=service.svc.settings.crisis_line_number,
                body="Resettle crisis line: test",
                purpose="test_message",
                now=service.clock.now(),
            )
    for _ in range(5):  # five minutes of passes, each lease running out in between
        with contextlib.suppress(RuntimeError):
            Jobs(service.svc).dispatch_outbox()
        service.clock.advance(dt.timedelta(seconds=61))
    delivered_to = {message.to for message in telephony.sent_messages}
    assert {OFFICER, MANAGER} <= delivered_to, "stuck in 'sending' behind one bad delivery"
    with service.svc.db.transaction() as session:
        bad = session.scalars(select(Delivery).where(Delivery.to_number == PRIMARY)).one()
        # Retried for ever, never failed: max_attempts is not enforced on lease expiry.
        assert bad.status == DeliveryStatus.FAILED or bad.attempts <= bad.max_attempts


@pytest.mark.hazard("H80")
def test_a_delivered_text_whose_rest_reply_timed_out_is_not_moved_back_and_sent_again(
    line: Line, client: FlaskClient, telephony: FakeTelephony, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twilio accepts the text, its 'delivered' callback arrives, then the REST reply times out.

    The delivery is terminal (delivered); the transient error must not move it back to
    queued, send it again under a new SID whose callbacks are then ignored, and leave it stuck.
    """
    from crisisline import outbox
    from crisisline.telephony import TransientTelephonyError

    with line.svc.db.transaction() as session:
        delivery_id = outbox.enqueue_sms(
            session,
            to=PRIMARY,
            from_="+447700900000",
            body="Resettle crisis line: test.",
            purpose="test_message",
            now=line.clock.now(),
        ).id
    real_send = telephony.send_sms
    calls = {"n": 0}

    def accepted_then_timed_out(to: str, from_: str, body: str, callback: str | None) -> object:
        receipt = real_send(to, from_, body, callback)
        calls["n"] += 1
        if calls["n"] == 1:
            signed_post(
                client,
                f"/webhooks/deliveries/{delivery_id}/status",
                {"MessageSid": receipt.sid, "MessageStatus": "delivered", "To": to},
            )
            raise TransientTelephonyError("read timed out")
        return receipt

    monkeypatch.setattr(telephony, "send_sms", accepted_then_timed_out)
    Jobs(line.svc).dispatch_outbox()
    with line.svc.db.transaction() as session:
        status = session.get_one(Delivery, delivery_id).status
    assert status == DeliveryStatus.DELIVERED  # it reached the phone; never moved backwards
    line.clock.advance(dt.timedelta(minutes=1))
    Jobs(line.svc).dispatch_outbox()
    assert len(telephony.messages_to(PRIMARY)) == 1
