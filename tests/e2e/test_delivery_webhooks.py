"""Signed status callbacks bring deliveries forward; forged ones are refused and change nothing."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from crisisline.jobs import Jobs
from crisisline.models import Delivery, DeliveryStatus
from crisisline.telephony import FakeTelephony, sign
from tests.support.app import TEST_AUTH_TOKEN, json_list_of, json_of, services_of, signed_post


def _test_message(client: FlaskClient, auth: dict[str, str]) -> tuple[int, int]:
    created = client.post(
        "/api/v1/staff",
        json={"name": "Amira Okafor", "phone": "07700 900101", "roles": ["on_call"]},
        headers=auth,
    )
    staff = json_of(created)
    response = client.post(f"/api/v1/staff/{staff['id']}/test-message", headers=auth)
    assert response.status_code == 202, response.json
    return staff["id"], json_of(response)["id"]


def _status(app: Flask, delivery_id: int) -> DeliveryStatus:
    with services_of(app).db.transaction() as session:
        return session.get_one(Delivery, delivery_id).status


def test_test_message_goes_through_the_outbox_and_is_listed_with_its_status(
    app: Flask, client: FlaskClient, auth: dict[str, str], telephony: FakeTelephony
) -> None:
    _, delivery_id = _test_message(client, auth)
    listed = client.get("/api/v1/deliveries?to=07700900101&purpose=test_message", headers=auth)
    assert [d["id"] for d in json_list_of(listed)] == [delivery_id]
    assert json_list_of(listed)[0]["status"] == "queued"
    assert json_list_of(listed)[0]["from"] == "+447700900000"

    Jobs(services_of(app)).dispatch_outbox()
    (message,) = telephony.sent_messages
    assert message.to == "+447700900101"
    assert "test message for Amira" in message.body
    assert message.sid is not None

    path = f"/webhooks/deliveries/{delivery_id}/status"
    form = {"MessageSid": message.sid, "MessageStatus": "delivered", "AccountSid": "AC1"}
    assert signed_post(client, path, form).status_code == 204
    delivered = json_of(client.get(f"/api/v1/deliveries/{delivery_id}", headers=auth))
    assert delivered["status"] == "delivered"
    delivered_only = client.get("/api/v1/deliveries?status=delivered", headers=auth)
    assert json_list_of(delivered_only)[0]["id"] == delivery_id
    assert client.get("/api/v1/deliveries?status=queued", headers=auth).json == []


def test_test_message_to_unknown_staff_is_404(client: FlaskClient, auth: dict[str, str]) -> None:
    assert client.post("/api/v1/staff/999/test-message", headers=auth).status_code == 404


def test_unsigned_forged_and_tampered_callbacks_are_403_and_change_nothing(
    app: Flask, client: FlaskClient, auth: dict[str, str], telephony: FakeTelephony
) -> None:
    _, delivery_id = _test_message(client, auth)
    Jobs(services_of(app)).dispatch_outbox()
    sid = telephony.sent_messages[0].sid
    assert sid is not None
    path = f"/webhooks/deliveries/{delivery_id}/status"
    url = "https://crisis.example.org" + path
    form = {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "30003"}

    unsigned = client.post(path, data=form)
    forged = client.post(path, data=form, headers={"X-Twilio-Signature": sign("wrong", url, form)})
    signed_for_delivered = sign(TEST_AUTH_TOKEN, url, {**form, "MessageStatus": "delivered"})
    tampered = client.post(path, data=form, headers={"X-Twilio-Signature": signed_for_delivered})
    other_path = sign(TEST_AUTH_TOKEN, url.replace(str(delivery_id), "999"), form)
    replayed = client.post(path, data=form, headers={"X-Twilio-Signature": other_path})

    assert [r.status_code for r in (unsigned, forged, tampered, replayed)] == [403] * 4
    assert _status(app, delivery_id) is DeliveryStatus.SENT


def test_a_signed_callback_passes_behind_a_proxy_that_changes_scheme_and_host(
    app: Flask, client: FlaskClient, auth: dict[str, str], telephony: FakeTelephony
) -> None:
    _, delivery_id = _test_message(client, auth)
    Jobs(services_of(app)).dispatch_outbox()
    path = f"/webhooks/deliveries/{delivery_id}/status"
    sid = telephony.sent_messages[0].sid
    assert sid is not None
    form = {"MessageSid": sid, "MessageStatus": "delivered"}
    signature = sign(TEST_AUTH_TOKEN, "https://crisis.example.org" + path, form)
    # The app sees plain http on an internal host, as it would behind TLS termination.
    response = client.post(
        path,
        data=form,
        base_url="http://10.0.0.7:8000",
        headers={
            "X-Twilio-Signature": signature,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "crisis.example.org",
        },
    )
    assert response.status_code == 204
    assert _status(app, delivery_id) is DeliveryStatus.DELIVERED


def test_a_malformed_callback_is_422_naming_the_field_not_500(
    app: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    _, delivery_id = _test_message(client, auth)
    path = f"/webhooks/deliveries/{delivery_id}/status"
    missing = signed_post(client, path, {"MessageStatus": "delivered"})
    assert missing.status_code == 422
    assert json_of(missing)["field"] == "MessageSid"
    bad_number = signed_post(
        client, path, {"MessageSid": "SM1", "MessageStatus": "failed", "ErrorCode": "x"}
    )
    assert bad_number.status_code == 422
    assert json_of(bad_number)["field"] == "ErrorCode"
    huge = signed_post(client, path, {"MessageSid": "S" * 5000, "MessageStatus": "sent"})
    assert huge.status_code == 422
    assert _status(app, delivery_id) is DeliveryStatus.QUEUED


def test_a_callback_for_an_unknown_delivery_is_accepted_and_ignored(client: FlaskClient) -> None:
    form = {"MessageSid": "SM" + "2" * 32, "MessageStatus": "delivered"}
    assert signed_post(client, "/webhooks/deliveries/4242/status", form).status_code == 204
