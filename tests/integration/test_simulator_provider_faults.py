"""The simulator's provider faults: an outage by its clock, hanging and slow requests (H138)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from crisisline.clock import FakeClock
from crisisline.simulator import FlaskClientTransport, Simulator, create_simulator_app
from crisisline.simulator.cli import simulate
from crisisline.telephony import TransientTelephonyError, TwilioTelephony
from tests.support.app import START

ACCOUNT_SID = "AC" + "4" * 32
AUTH_TOKEN = "faults-test-token"
CRISIS = "+447700900001"
STAFF = "+447700900456"
MESSAGES = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
CALLS = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def sim(clock: FakeClock) -> Simulator:
    return Simulator(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        transport=FlaskClientTransport(Flask("unused").test_client()),
        clock=clock.now,
    )


@pytest.fixture
def api(sim: Simulator) -> FlaskClient:
    return create_simulator_app(sim).test_client()


def _text(api: FlaskClient) -> int:
    response = api.post(
        MESSAGES,
        data={"To": STAFF, "From": CRISIS, "Body": "Test."},
        auth=(ACCOUNT_SID, AUTH_TOKEN),
    )
    return response.status_code


def _call(api: FlaskClient) -> int:
    response = api.post(
        CALLS,
        data={"To": STAFF, "From": CRISIS, "Url": "https://crisis.example.org/call"},
        auth=(ACCOUNT_SID, AUTH_TOKEN),
    )
    return response.status_code


def test_an_outage_answers_every_request_until_it_ends_by_the_simulators_clock(
    sim: Simulator, api: FlaskClient, clock: FakeClock
) -> None:
    sim.outage(status=500, seconds=170)
    assert [_text(api), _call(api), _text(api)] == [500, 500, 500]
    clock.advance(dt.timedelta(seconds=169))
    assert _text(api) == 500
    clock.advance(dt.timedelta(seconds=1))
    assert [_text(api), _call(api)] == [201, 201]
    assert len(sim.messages) == 1
    sim.phone(STAFF).ignore_unexpected()


def test_an_outage_of_one_resource_until_ended_leaves_the_other_working(
    sim: Simulator, api: FlaskClient, clock: FakeClock
) -> None:
    sim.outage(status=503, resource="Messages")
    clock.advance(dt.timedelta(seconds=3600))
    assert (_text(api), _call(api)) == (503, 201)
    sim.end_outage()
    assert _text(api) == 201
    sim.phone(STAFF).ignore_unexpected()


def test_clear_faults_ends_an_outage(sim: Simulator, api: FlaskClient) -> None:
    sim.outage()
    sim.clear_faults()
    assert _text(api) == 201
    sim.phone(STAFF).ignore_unexpected()


@pytest.fixture
def served(sim: Simulator) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, create_simulator_app(sim), threaded=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.port}"
    sim.clear_faults()
    server.shutdown()
    server.server_close()


def test_a_hanging_request_runs_into_the_adapters_timeout_and_others_go_on(
    sim: Simulator, served: str
) -> None:
    """A hung request is a transient 'no reply' for the adapter; the next one is not held."""
    adapter = TwilioTelephony(ACCOUNT_SID, AUTH_TOKEN, served, request_timeout_seconds=0.3)
    sim.hang_next_requests(1, seconds=60, status=503)
    with pytest.raises(TransientTelephonyError, match="no reply from Twilio"):
        adapter.send_sms(STAFF, CRISIS, "Held.", None)
    receipt = adapter.send_sms(STAFF, CRISIS, "Not held.", None)
    assert receipt.sid.startswith("SM")
    assert [m.body for m in sim.messages] == ["Not held."]
    sim.phone(STAFF).ignore_unexpected()


def test_a_hang_for_one_number_holds_only_requests_to_it(sim: Simulator, served: str) -> None:
    adapter = TwilioTelephony(ACCOUNT_SID, AUTH_TOKEN, served, request_timeout_seconds=0.3)
    other = "+447700900457"
    sim.hang_next_requests(1, seconds=60, status=503, to=other)
    assert adapter.send_sms(STAFF, CRISIS, "Not held.", None).sid.startswith("SM")
    with pytest.raises(TransientTelephonyError, match="no reply from Twilio"):
        adapter.send_sms(other, CRISIS, "Held.", None)
    assert [m.body for m in sim.messages] == ["Not held."]
    sim.phone(STAFF).ignore_unexpected()


def test_a_hung_request_without_a_status_is_accepted_once_released(
    sim: Simulator, served: str
) -> None:
    """The client gave up, yet the provider took the message: the duplicate window."""
    adapter = TwilioTelephony(ACCOUNT_SID, AUTH_TOKEN, served, request_timeout_seconds=0.3)
    sim.hang_next_requests(1, seconds=60)
    with pytest.raises(TransientTelephonyError):
        adapter.send_sms(STAFF, CRISIS, "Taken late.", None)
    assert sim.messages == []
    sim.clear_faults()
    for _ in range(200):
        if sim.messages:
            break
        threading.Event().wait(0.02)  # the released request finishes on the server's thread
    assert [m.body for m in sim.messages] == ["Taken late."]
    sim.phone(STAFF).ignore_unexpected()


def test_slow_requests_are_each_delayed_until_cleared(sim: Simulator, served: str) -> None:
    adapter = TwilioTelephony(ACCOUNT_SID, AUTH_TOKEN, served, request_timeout_seconds=0.3)
    sim.slow_requests(60, resource="Calls")
    with pytest.raises(TransientTelephonyError):
        adapter.place_call(STAFF, CRISIS, "https://crisis.example.org/call", None)
    # Texts are not slowed.
    assert adapter.send_sms(STAFF, CRISIS, "Fast.", None).sid.startswith("SM")
    sim.clear_faults()
    assert adapter.place_call(STAFF, CRISIS, "https://crisis.example.org/call", None)
    sim.phone(STAFF).ignore_unexpected()


def test_hang_arguments_are_checked(sim: Simulator) -> None:
    with pytest.raises(ValueError):
        sim.hang_next_requests(0, seconds=1)
    with pytest.raises(ValueError):
        sim.slow_requests(-1)


def test_simulate_serve_offers_the_provider_faults_as_flags() -> None:
    result = CliRunner().invoke(simulate, ["serve", "--help"])
    assert result.exit_code == 0
    for flag in ("--outage-seconds", "--outage-status", "--hang-requests", "--hang-seconds"):
        assert flag in result.output
    assert "--delay-seconds" in result.output
