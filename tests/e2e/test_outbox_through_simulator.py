"""With TELEPHONY=twilio pointed at the simulator, deliveries really travel over HTTP and back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from crisisline.clock import FakeClock
from crisisline.jobs import Jobs
from crisisline.models import Delivery, DeliveryStatus
from crisisline.outbox import BACKOFF_CAP
from crisisline.simulator import Simulator
from tests.support.app import json_of, services_of
from tests.support.simulated_twilio import simulated_twilio

ACCOUNT_SID = "AC" + "7" * 32
STAFF_PHONE = "+447700900101"


@pytest.fixture
def twilio_app(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> Iterator[tuple[Flask, Simulator]]:
    """The service with the real Twilio adapter, talking to the simulator on loopback HTTP."""
    with simulated_twilio(tmp_path, database_url, clock, ACCOUNT_SID) as (app, sim):
        yield app, sim


def _send_test_message(client: FlaskClient, token: str) -> int:
    auth = {"Authorization": f"Bearer {token}"}
    created = client.post(
        "/api/v1/staff",
        json={"name": "Amira Okafor", "phone": STAFF_PHONE, "roles": ["on_call"]},
        headers=auth,
    )
    staff = json_of(created)
    response = client.post(f"/api/v1/staff/{staff['id']}/test-message", headers=auth)
    assert response.status_code == 202
    return int(json_of(response)["id"])


def _token(app: Flask) -> str:
    from tests.support.tokens import issue_token

    return issue_token(app, "e2e")


def _delivery(app: Flask, delivery_id: int) -> Delivery:
    with services_of(app).db.transaction() as session:
        return session.get_one(Delivery, delivery_id)


def test_a_test_message_reaches_the_phone_and_callbacks_bring_it_to_delivered(
    twilio_app: tuple[Flask, Simulator],
) -> None:
    app, sim = twilio_app
    delivery_id = _send_test_message(app.test_client(), _token(app))
    assert Jobs(services_of(app)).dispatch_outbox().sent == 1
    sim.phone(STAFF_PHONE).expect_sms(contains="test message for Amira", from_="+447700900000")
    assert _delivery(app, delivery_id).status is DeliveryStatus.SENT
    sim.run_pending()
    delivery = _delivery(app, delivery_id)
    assert delivery.status is DeliveryStatus.DELIVERED
    assert delivery.provider_sid is not None and delivery.provider_sid.startswith("SM")


def test_a_provider_answering_500_several_times_is_retried_until_delivered(
    twilio_app: tuple[Flask, Simulator], clock: FakeClock
) -> None:
    app, sim = twilio_app
    delivery_id = _send_test_message(app.test_client(), _token(app))
    sim.fail_next_requests(3, status=500)
    for _ in range(3):
        assert Jobs(services_of(app)).dispatch_outbox().retrying == 1
        clock.advance(BACKOFF_CAP)
    assert Jobs(services_of(app)).dispatch_outbox().sent == 1
    sim.phone(STAFF_PHONE).expect_sms(contains="test message")
    sim.run_pending()
    delivery = _delivery(app, delivery_id)
    assert delivery.status is DeliveryStatus.DELIVERED
    assert delivery.attempts == 4


def test_a_permanent_error_fails_the_delivery_at_once_with_the_code_kept(
    twilio_app: tuple[Flask, Simulator], clock: FakeClock
) -> None:
    app, sim = twilio_app
    delivery_id = _send_test_message(app.test_client(), _token(app))
    sim.fail_recipient(STAFF_PHONE, code=21610)
    assert Jobs(services_of(app)).dispatch_outbox().failed == 1
    clock.advance(BACKOFF_CAP)
    assert Jobs(services_of(app)).dispatch_outbox().sent == 0
    delivery = _delivery(app, delivery_id)
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.error_code == 21610
    assert delivery.attempts == 1
    sim.phone(STAFF_PHONE).expect_no_sms()


def test_a_carrier_failure_reported_by_callback_ends_undelivered_with_its_code(
    twilio_app: tuple[Flask, Simulator],
) -> None:
    app, sim = twilio_app
    delivery_id = _send_test_message(app.test_client(), _token(app))
    sim.fail_delivery(STAFF_PHONE, status="undelivered", error_code=30006)
    Jobs(services_of(app)).dispatch_outbox()
    sim.run_pending()
    delivery = _delivery(app, delivery_id)
    assert delivery.status is DeliveryStatus.UNDELIVERED
    assert delivery.error_code == 30006
    sim.phone(STAFF_PHONE).ignore_unexpected()
