"""The simulated Twilio REST API: Twilio-shaped answers, faults and signed status callbacks."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator

import pytest
from flask import Flask, Response, request
from flask.testing import FlaskClient
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from werkzeug.serving import BaseWSGIServer, make_server

from crisisline.simulator import (
    FlaskClientTransport,
    RequestsTransport,
    Simulator,
    create_simulator_app,
)

ACCOUNT_SID = "AC" + "3" * 32
AUTH_TOKEN = "rest-test-token"
BASE = "https://crisis.example.test"
CRISIS = "+447700900001"
STAFF = "+447700900456"
MESSAGES = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
CALLS = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"


def make_receiver() -> tuple[Flask, list[dict[str, str]]]:
    """A throwaway service that only checks signatures and keeps status callbacks."""
    app = Flask("throwaway-status-receiver")
    received: list[dict[str, str]] = []
    validator = RequestValidator(AUTH_TOKEN)

    @app.post("/status")
    def status() -> Response:
        if not validator.validate(
            request.url, request.form, request.headers.get("X-Twilio-Signature", "")
        ):
            return Response("forged", status=403)
        received.append(request.form.to_dict())
        return Response("", status=204)

    @app.post("/call")
    def call() -> Response:
        return Response("<Response><Say>Test call.</Say></Response>", mimetype="text/xml")

    return app, received


def auth(sid: str = ACCOUNT_SID, token: str = AUTH_TOKEN) -> dict[str, str]:
    credentials = base64.b64encode(f"{sid}:{token}".encode()).decode()
    return {"Authorization": f"Basic {credentials}"}


@pytest.fixture
def receiver() -> tuple[Flask, list[dict[str, str]]]:
    return make_receiver()


@pytest.fixture
def sim(receiver: tuple[Flask, list[dict[str, str]]]) -> Simulator:
    return Simulator(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        transport=FlaskClientTransport(receiver[0].test_client()),
    )


@pytest.fixture
def api(sim: Simulator) -> FlaskClient:
    return create_simulator_app(sim).test_client()


def send(api: FlaskClient, **form: str) -> tuple[int, dict[str, object]]:
    fields = {"To": STAFF, "From": CRISIS, "Body": "Test from the crisis line."} | form
    response = api.post(MESSAGES, data=fields, headers=auth())
    return response.status_code, response.get_json()


def test_message_is_answered_like_twilio_and_signed_callbacks_reach_delivered(
    sim: Simulator, api: FlaskClient, receiver: tuple[Flask, list[dict[str, str]]]
) -> None:
    status, body = send(api, StatusCallback=f"{BASE}/status")

    assert status == 201
    sid = str(body["sid"])
    assert sid.startswith("SM") and len(sid) == 34
    assert body["status"] == "queued"
    assert body["to"] == STAFF and body["from"] == CRISIS
    assert body["body"] == "Test from the crisis line."
    assert body["num_segments"] == "1"
    assert str(body["date_created"]).endswith("+0000")
    assert receiver[1] == []  # callbacks wait for run_pending

    assert sim.run_pending() == 3

    statuses = [(c["MessageSid"], c["MessageStatus"], c["SmsStatus"]) for c in receiver[1]]
    assert statuses == [(sid, s, s) for s in ("queued", "sent", "delivered")]
    assert receiver[1][-1]["AccountSid"] == ACCOUNT_SID
    assert receiver[1][-1]["To"] == STAFF and receiver[1][-1]["From"] == CRISIS
    assert sim.errors == []
    sim.phone(STAFF).expect_sms(contains="test from the crisis line", from_=CRISIS)
    sim.assert_no_unexpected()


def test_wrong_credentials_get_twilios_401(api: FlaskClient) -> None:
    response = api.post(MESSAGES, data={"To": STAFF}, headers=auth(token="wrong"))

    assert response.status_code == 401
    assert response.get_json()["code"] == 20003


def test_invalid_to_gets_error_21211(api: FlaskClient) -> None:
    status, body = send(api, To="07700 900456")

    assert status == 400
    assert body == {
        "code": 21211,
        "message": "The 'To' number 07700 900456 is not a valid phone number.",
        "more_info": "https://www.twilio.com/docs/errors/21211",
        "status": 400,
    }


def test_injected_server_errors_answer_the_next_requests_then_clear(
    sim: Simulator, api: FlaskClient
) -> None:
    sim.fail_next_requests(2, status=500)
    sim.fail_next_requests(1, status=429)

    results = [send(api)[0] for _ in range(4)]

    assert results == [500, 500, 429, 201]
    sim.phone(STAFF).expect_sms()


def test_recipient_failing_permanently_gets_the_chosen_code(
    sim: Simulator, api: FlaskClient
) -> None:
    sim.fail_recipient(STAFF, 21610)

    status, body = send(api)

    assert (status, body["code"]) == (400, 21610)
    assert body["message"] == "Attempt to send to unsubscribed recipient"
    sim.assert_no_unexpected()


def test_undelivered_message_reports_error_code_in_its_last_callback(
    sim: Simulator, api: FlaskClient, receiver: tuple[Flask, list[dict[str, str]]]
) -> None:
    sim.fail_delivery(STAFF, status="undelivered", error_code=30003, count=1)

    send(api, StatusCallback=f"{BASE}/status")
    sim.run_pending()

    assert [c["MessageStatus"] for c in receiver[1]] == ["queued", "sent", "undelivered"]
    assert receiver[1][-1]["ErrorCode"] == "30003"
    assert "ErrorCode" not in receiver[1][0]
    assert sim.messages[0].to_json()["error_code"] == 30003
    sim.phone(STAFF).expect_no_sms()


def test_replayed_callbacks_arrive_again_newest_first(
    sim: Simulator, api: FlaskClient, receiver: tuple[Flask, list[dict[str, str]]]
) -> None:
    _, body = send(api, StatusCallback=f"{BASE}/status")
    sim.run_pending()

    assert sim.replay_callbacks(str(body["sid"])) == 3

    assert [c["MessageStatus"] for c in receiver[1][3:]] == ["delivered", "sent", "queued"]
    sim.phone(STAFF).expect_sms()


def test_call_status_callbacks_follow_the_requested_events_with_sequence_numbers(
    sim: Simulator, api: FlaskClient, receiver: tuple[Flask, list[dict[str, str]]]
) -> None:
    sim.phone(STAFF).will_answer()
    response = api.post(
        CALLS,
        data={
            "To": STAFF,
            "From": CRISIS,
            "Url": f"{BASE}/call",
            "StatusCallback": f"{BASE}/status",
            "StatusCallbackEvent": ["initiated", "ringing", "answered", "completed"],
            "Timeout": "20",
        },
        headers=auth(),
    )
    body = response.get_json()
    assert response.status_code == 201
    assert body["sid"].startswith("CA") and len(body["sid"]) == 34
    assert body["status"] == "queued"

    sim.run_pending()

    assert [(c["CallStatus"], c["SequenceNumber"]) for c in receiver[1]] == [
        ("initiated", "0"),
        ("ringing", "1"),
        ("in-progress", "2"),
        ("completed", "3"),
    ]
    assert int(receiver[1][-1]["CallDuration"]) >= 1
    sim.phone(STAFF).expect_call(contains="Test call.")


def test_unanswered_call_ends_no_answer(
    sim: Simulator, api: FlaskClient, receiver: tuple[Flask, list[dict[str, str]]]
) -> None:
    api.post(
        CALLS,
        data={
            "To": STAFF,
            "From": CRISIS,
            "Url": f"{BASE}/call",
            "StatusCallback": f"{BASE}/status",
        },
        headers=auth(),
    )
    sim.run_pending()

    assert [c["CallStatus"] for c in receiver[1]] == ["no-answer"]
    sim.phone(STAFF).expect_call(answered=False)


def test_callbacks_the_service_refuses_are_reported(api: FlaskClient) -> None:
    app, _ = make_receiver()
    forger = Simulator(
        account_sid=ACCOUNT_SID,
        auth_token="a-different-token",
        transport=FlaskClientTransport(app.test_client()),
    )
    forger.fail_delivery(STAFF, status="failed", error_code=30006)
    forger.send_from_service(
        CRISIS, STAFF, "x", direction="outbound-api", status_callback=f"{BASE}/status"
    )
    forger.run_pending()

    assert forger.expect_error("HTTP 403")
    assert forger.expect_error("HTTP 403")
    forger.assert_no_unexpected()


@pytest.fixture
def served() -> Iterator[tuple[Simulator, list[dict[str, str]], str]]:
    """The simulator and the receiver both on real loopback HTTP servers."""
    receiver_app, received = make_receiver()
    servers: list[BaseWSGIServer] = []

    def start(app: Flask) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.port}"

    receiver_url = start(receiver_app)
    sim = Simulator(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        transport=RequestsTransport(timeout=5),
        delivery="immediate",
    )
    api_url = start(create_simulator_app(sim))
    yield sim, received, f"{api_url} {receiver_url}"
    for server in servers:
        server.shutdown()
        server.server_close()


def test_real_twilio_client_over_http_gets_callbacks_without_run_pending(
    served: tuple[Simulator, list[dict[str, str]], str],
) -> None:
    sim, received, urls = served
    api_url, receiver_url = urls.split()
    client = Client(ACCOUNT_SID, AUTH_TOKEN)
    client.api.base_url = api_url

    message = client.messages.create(
        to=STAFF,
        from_=CRISIS,
        body="Hello from the crisis line.",
        status_callback=f"{receiver_url}/status",
    )

    assert message.sid.startswith("SM") and message.status == "queued"
    deadline = time.monotonic() + 5
    while len(received) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [c["MessageStatus"] for c in received] == ["queued", "sent", "delivered"]
    sim.phone(STAFF).expect_sms(contains="Hello")

    sim.fail_recipient(STAFF, 21610)
    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(to=STAFF, from_=CRISIS, body="Again.")
    assert raised.value.code == 21610
    assert raised.value.status == 400
    sim.assert_no_unexpected()
