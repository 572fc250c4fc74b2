"""The simulated Twilio's recording deletion: DELETE of the Recording resource as Twilio answers
it (204, then 404 20404 for the resource and its media), behind the account's basic auth, with
faults aimed at deletions only, and in the shape twilio-python itself expects."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from werkzeug.serving import make_server

from crisisline.simulator import (
    FlaskClientTransport,
    Recording,
    Simulator,
    create_simulator_app,
)
from crisisline.simulator.control import add_control_endpoints
from tests.support.ports import free_port

ACCOUNT_SID = "AC" + "4" * 32
AUTH_TOKEN = "deletion-test-token"
SID = "RE" + "7" * 32
RESOURCE = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{SID}.json"
MEDIA = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{SID}.mp3"
MESSAGES = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


def _auth(token: str = AUTH_TOKEN) -> dict[str, str]:
    credentials = base64.b64encode(f"{ACCOUNT_SID}:{token}".encode()).decode()
    return {"Authorization": f"Basic {credentials}"}


@pytest.fixture
def sim() -> Simulator:
    # Deleting a recording makes no callback: the service it would post to is never asked.
    nobody = Flask("no-webhooks-here")
    simulator = Simulator(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        transport=FlaskClientTransport(nobody.test_client()),
    )
    url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{SID}"
    simulator.add_recording(Recording(SID, "CA" + "8" * 32, url, 5, "Please ring me"))
    return simulator


@pytest.fixture
def api(sim: Simulator) -> FlaskClient:
    return create_simulator_app(sim).test_client()


def test_delete_answers_204_and_then_the_recording_and_its_media_are_404(
    sim: Simulator, api: FlaskClient
) -> None:
    assert api.get(MEDIA, headers=_auth()).status_code == 200
    deleted = api.delete(RESOURCE, headers=_auth())
    assert deleted.status_code == 204
    assert deleted.data == b""
    assert sim.deleted_recordings == [SID]
    for method in (api.get, api.delete):
        gone = method(MEDIA if method == api.get else RESOURCE, headers=_auth())
        assert gone.status_code == 404
        assert gone.get_json()["code"] == 20404
    assert sim.deleted_recordings == [SID]


@pytest.mark.hazard("H279")
def test_delete_needs_the_accounts_credentials(sim: Simulator, api: FlaskClient) -> None:
    assert api.delete(RESOURCE).status_code == 401
    refused = api.delete(RESOURCE, headers=_auth("wrong"))
    assert (refused.status_code, refused.get_json()["code"]) == (401, 20003)
    assert sim.deleted_recordings == []


def test_failed_deletions_answer_500_keep_the_recording_and_leave_other_requests_alone(
    sim: Simulator, api: FlaskClient
) -> None:
    sim.fail_next_deletions(2)
    sent = api.post(
        MESSAGES,
        data={"To": "+447700900456", "From": "+447700900001", "Body": "Test"},
        headers=_auth(),
    )
    assert sent.status_code == 201  # a message is not a deletion
    for _ in range(2):
        failed = api.delete(RESOURCE, headers=_auth())
        assert (failed.status_code, failed.get_json()["code"]) == (500, 20500)
    assert api.get(MEDIA, headers=_auth()).status_code == 200
    assert api.delete(RESOURCE, headers=_auth()).status_code == 204


FAULTS = "/_simulator/faults/recording-deletions"


@pytest.fixture
def controlled(sim: Simulator) -> FlaskClient:
    """The REST API and the control endpoints, as `simulate serve` runs them."""
    app = create_simulator_app(sim)
    add_control_endpoints(app, sim)
    return app.test_client()


def test_a_running_simulator_is_told_through_its_control_endpoint_to_fail_deletions(
    sim: Simulator, controlled: FlaskClient
) -> None:
    told = controlled.post(FAULTS, json={"fail": 1, "status": 503}, headers=_auth())
    assert told.status_code == 200
    assert told.get_json() == {"fail": 1, "hang": 0}
    failed = controlled.delete(RESOURCE, headers=_auth())
    assert (failed.status_code, failed.get_json()["code"]) == (503, 20503)
    assert controlled.delete(RESOURCE, headers=_auth()).status_code == 204


def test_a_running_simulator_is_told_through_its_control_endpoint_to_hang_deletions(
    sim: Simulator, controlled: FlaskClient
) -> None:
    told = controlled.post(FAULTS, json={"hang": 1, "seconds": 0.2, "status": 500}, headers=_auth())
    assert told.status_code == 200
    started = time.monotonic()
    held = controlled.delete(RESOURCE, headers=_auth())
    assert time.monotonic() - started >= 0.2
    assert held.status_code == 500
    assert sim.deleted_recordings == []


@pytest.mark.parametrize(
    "body",
    [{}, {"fail": -1}, {"fail": "2"}, {"hang": 1, "seconds": -5}, {"fail": 1, "status": 200}],
)
def test_the_fault_endpoint_refuses_what_it_cannot_do_with_a_422_naming_it(
    sim: Simulator, controlled: FlaskClient, body: dict[str, object]
) -> None:
    refused = controlled.post(FAULTS, json=body, headers=_auth())
    assert refused.status_code == 422
    assert "cannot play that" in refused.get_json()["message"]
    assert controlled.delete(RESOURCE, headers=_auth()).status_code == 204


def test_the_fault_endpoint_needs_the_accounts_credentials(controlled: FlaskClient) -> None:
    assert controlled.post(FAULTS, json={"fail": 1}).status_code == 401
    assert controlled.delete(RESOURCE, headers=_auth()).status_code == 204


@pytest.fixture
def served(sim: Simulator) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, create_simulator_app(sim), threaded=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        sim.clear_faults()
        server.shutdown()
        server.server_close()


def test_twilio_pythons_own_recording_delete_works_against_the_simulator(
    sim: Simulator, served: str
) -> None:
    """The simulator speaks the Recording API as twilio-python calls it: True on 204, and its
    TwilioRestException with 20404 when the recording is gone."""
    client = Client(ACCOUNT_SID, AUTH_TOKEN, environment={"TWILIO_EDGE": "", "TWILIO_REGION": ""})
    client.api.base_url = served
    assert client.recordings(SID).delete() is True
    with pytest.raises(TwilioRestException) as raised:
        client.recordings(SID).delete()
    assert (raised.value.status, raised.value.code) == (404, 20404)
    assert sim.deleted_recordings == [SID]


def _free_port() -> int:
    return free_port()


def test_simulate_serve_fails_the_first_deletions_when_asked(tmp_path: Path) -> None:
    """`crisisline simulate serve --fail-deletions 1`: the first deletion answers 500, the next
    is answered as usual (404 here: the simulator holds no recording yet)."""
    port = _free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "PUBLIC_BASE_URL": "http://127.0.0.1:5999",
        "CRISIS_LINE_NUMBER": "+447700900000",
    }
    command = [str(Path(sys.executable).parent / "crisisline"), "simulate", "serve"]
    serve = subprocess.Popen(
        [*command, "--port", str(port), "--fail-deletions", "1"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(base + "/", timeout=1)
                break
            except requests.ConnectionError:
                assert serve.poll() is None, serve.stdout.read() if serve.stdout else ""
                assert time.monotonic() < deadline, "simulate serve did not start"
                time.sleep(0.1)
        credentials = (ACCOUNT_SID, AUTH_TOKEN)
        first = requests.delete(base + RESOURCE, auth=credentials, timeout=5)
        second = requests.delete(base + RESOURCE, auth=credentials, timeout=5)
    finally:
        serve.terminate()
        output, _ = serve.communicate(timeout=10)
    assert (first.status_code, first.json()["code"]) == (500, 20500)
    assert (second.status_code, second.json()["code"]) == (404, 20404)
    assert "the next 1 recording deletion(s) answer 500" in output
