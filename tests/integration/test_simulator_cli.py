"""`crisisline simulate call/sms` play a participant over real loopback HTTP."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from flask import Flask, Response, request
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server

from crisisline.simulator import RequestsTransport, Simulator, create_simulator_app
from crisisline.simulator.cli import simulate
from crisisline.simulator.control import add_control_endpoints

TOKEN = "cli-test-token"
SID = "AC" + "9" * 32
CRISIS = "+447700900001"
PARTICIPANT = "+447700900123"
STAFF = "+447700900456"


@pytest.fixture
def service_url() -> Iterator[str]:
    """A throwaway service on 127.0.0.1 that checks signatures and answers TwiML."""
    from werkzeug.serving import make_server

    app = Flask("throwaway-cli-service")
    validator = RequestValidator(TOKEN)

    @app.before_request
    def check_signature() -> Response | None:
        signature = request.headers.get("X-Twilio-Signature", "")
        if not validator.validate(request.url, request.form, signature):
            return Response("forged", status=403)
        return None

    @app.post("/webhooks/sms")
    def sms() -> Response:
        return Response(
            "<Response><Message>Thanks, we have your text.</Message></Response>",
            mimetype="text/xml",
        )

    @app.post("/webhooks/voice")
    def voice() -> Response:
        return Response(
            "<Response><Say>Crisis line.</Say>"
            '<Gather numDigits="1" action="/webhooks/voice/menu"><Say>Press 1.</Say></Gather>'
            "<Hangup/></Response>",
            mimetype="text/xml",
        )

    @app.post("/webhooks/voice/menu")
    def menu() -> Response:
        return Response(
            f'<Response><Dial timeout="20"><Number url="/webhooks/voice/whisper">{STAFF}</Number>'
            "</Dial><Say>Goodbye.</Say></Response>",
            mimetype="text/xml",
        )

    @app.post("/webhooks/voice/whisper")
    def whisper() -> Response:
        return Response(
            '<Response><Gather numDigits="1" action="/webhooks/voice/accept">'
            "<Say>Press 1 to accept.</Say></Gather><Hangup/></Response>",
            mimetype="text/xml",
        )

    @app.post("/webhooks/voice/accept")
    def accept() -> Response:
        return Response("<Response/>", mimetype="text/xml")

    # An escalation-style call: the prompt asks for 4, and only 4 takes it.
    @app.post("/webhooks/take")
    def take() -> Response:
        return Response(
            f'<Response><Dial timeout="20"><Number url="/webhooks/take/prompt">{STAFF}</Number>'
            "</Dial></Response>",
            mimetype="text/xml",
        )

    @app.post("/webhooks/take/prompt")
    def take_prompt() -> Response:
        return Response(
            '<Response><Gather numDigits="1" action="/webhooks/take/key">'
            "<Say>Press 4 to take this. Press 5 to pass it on.</Say></Gather></Response>",
            mimetype="text/xml",
        )

    @app.post("/webhooks/take/key")
    def take_key() -> Response:
        said = "Taken." if request.form.get("Digits") == "4" else "Sorry, that key does nothing."
        return Response(f"<Response><Say>{said}</Say></Response>", mimetype="text/xml")

    @app.post("/webhooks/message")
    def leave_message() -> Response:
        return Response(
            '<Response><Record action="/webhooks/message/left" maxLength="60"/></Response>',
            mimetype="text/xml",
        )

    @app.post("/webhooks/message/left")
    def message_left() -> Response:
        return Response("<Response><Hangup/></Response>", mimetype="text/xml")

    # Texts answered later, through the REST API, as the service's outbox does.
    @app.post("/webhooks/later")
    def later() -> Response:
        api = app.config.get("SIMULATOR_URL")
        sender, line = request.form["From"], request.form["To"]

        def send() -> None:
            requests.post(
                f"{api}/2010-04-01/Accounts/{SID}/Messages.json",
                data={"From": line, "To": sender, "Body": "We have your message."},
                auth=(SID, TOKEN),
                timeout=5,
            )

        threading.Timer(0.3, send).start()
        return Response("<Response/>", mimetype="text/xml")

    @app.post("/webhooks/voice/status")
    @app.post("/webhooks/take/status")
    @app.post("/webhooks/message/status")
    def status() -> Response:
        return Response("", status=204)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    _SERVICES.append(app)
    yield f"http://127.0.0.1:{server.port}"
    _SERVICES.remove(app)
    server.shutdown()
    server.server_close()


_SERVICES: list[Flask] = []


@pytest.fixture
def serving_simulator(service_url: str) -> Iterator[tuple[str, Simulator]]:
    """What `simulate serve` runs: the REST API and the control endpoints, on a free port."""
    sim = Simulator(
        account_sid=SID, auth_token=TOKEN, transport=RequestsTransport(), delivery="immediate"
    )
    app = create_simulator_app(sim)
    add_control_endpoints(app, sim)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{server.port}"
    _SERVICES[-1].config["SIMULATOR_URL"] = url
    yield url, sim
    server.shutdown()
    server.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there


def env(service_url: str) -> dict[str, str]:
    return {
        "PUBLIC_BASE_URL": service_url,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_ACCOUNT_SID": SID,
        # Nothing listens here: the commands play in-process (no `simulate serve` running).
        "TWILIO_API_BASE_URL": f"http://127.0.0.1:{_closed_port()}",
        "CRISIS_LINE_NUMBER": CRISIS,
    }


def test_sms_command_prints_the_reply(service_url: str) -> None:
    result = CliRunner().invoke(
        simulate, ["sms", "--from", PARTICIPANT, "I need to talk"], env=env(service_url)
    )

    assert result.exit_code == 0, result.output
    assert f'SMS to {CRISIS}: "I need to talk"' in result.output
    assert f'SMS from {CRISIS}: "Thanks, we have your text."' in result.output


def test_call_command_prints_what_caller_and_staff_heard(service_url: str) -> None:
    result = CliRunner().invoke(
        simulate,
        ["call", "--from", PARTICIPANT, "--press", "1", "--answer", "answer"],
        env=env(service_url),
    )

    assert result.exit_code == 0, result.output
    assert 'heard "Crisis line."' in result.output
    assert f"connected to {STAFF}" in result.output
    assert 'heard "Press 1 to accept."' in result.output


def test_call_command_with_voicemail_is_not_connected(service_url: str) -> None:
    result = CliRunner().invoke(
        simulate,
        ["call", "--from", PARTICIPANT, "--press", "1", "--answer", "voicemail"],
        env=env(service_url),
    )

    assert result.exit_code == 0, result.output
    assert "(nobody was connected: no-answer)" in result.output
    assert 'heard "Goodbye."' in result.output


def test_wrong_token_exits_non_zero_and_says_why(service_url: str) -> None:
    result = CliRunner().invoke(
        simulate,
        ["sms", "--from", PARTICIPANT, "hi"],
        env={**env(service_url), "TWILIO_AUTH_TOKEN": "wrong"},
    )

    assert result.exit_code == 1
    assert "answered HTTP 403" in result.output


def test_defaults_come_from_the_services_env_file_with_a_national_crisis_number(
    service_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(
        f"PUBLIC_BASE_URL={service_url}\nTWILIO_AUTH_TOKEN={TOKEN}\nTWILIO_ACCOUNT_SID={SID}\n"
        f"CRISIS_LINE_NUMBER=07700 900001\nTWILIO_API_BASE_URL=http://127.0.0.1:{_closed_port()}\n"
    )
    monkeypatch.chdir(tmp_path)
    unset: dict[str, str | None] = dict.fromkeys(env(service_url))

    result = CliRunner().invoke(simulate, ["sms", "--from", PARTICIPANT, "hi"], env=unset)

    assert result.exit_code == 0, result.output
    assert f'SMS from {CRISIS}: "Thanks, we have your text."' in result.output


@pytest.mark.parametrize("written", ["07700900123", "07700 900123", "+44 7700 900123", PARTICIPANT])
def test_every_number_form_the_service_accepts_is_taken(service_url: str, written: str) -> None:
    result = CliRunner().invoke(
        simulate, ["sms", "--from", written, "--to", "07700900001", "hi"], env=env(service_url)
    )

    assert result.exit_code == 0, result.output
    assert f"=== {PARTICIPANT} ===" in result.output
    assert f'SMS to {CRISIS}: "hi"' in result.output


def test_a_number_that_is_not_one_is_refused_naming_the_option(service_url: str) -> None:
    result = CliRunner().invoke(simulate, ["sms", "--from", "12", "hi"], env=env(service_url))

    assert result.exit_code == 2
    assert "--from" in result.output


def test_without_a_serve_process_it_says_it_plays_in_process(service_url: str) -> None:
    result = CliRunner().invoke(
        simulate, ["call", "--from", PARTICIPANT, "--press", "1"], env=env(service_url)
    )

    assert result.exit_code == 0, result.output
    assert "playing it in this process" in result.output
    assert "voicemail link" in result.output


def test_sms_through_serve_prints_the_reply_the_phone_receives_later(
    service_url: str, serving_simulator: tuple[str, Simulator]
) -> None:
    url, _ = serving_simulator
    result = CliRunner().invoke(
        simulate,
        ["sms", "--from", PARTICIPANT, "--sms-path", "/webhooks/later", "hello", "--wait", "20"],
        env={**env(service_url), "TWILIO_API_BASE_URL": url},
    )

    assert result.exit_code == 0, result.output
    assert "playing it in this process" not in result.output
    assert f'SMS to this phone from {CRISIS}: "We have your message."' in result.output


def test_a_message_left_through_serve_is_held_by_the_serving_simulator(
    service_url: str, serving_simulator: tuple[str, Simulator]
) -> None:
    url, sim = serving_simulator
    result = CliRunner().invoke(
        simulate,
        [
            "call",
            *("--from", PARTICIPANT, "--voice-path", "/webhooks/message"),
            *("--message", "Please call me back", "--wait", "0"),
        ],
        env={**env(service_url), "TWILIO_API_BASE_URL": url},
    )

    assert result.exit_code == 0, result.output
    (recording,) = sim.recordings
    media = requests.get(
        f"{url}/2010-04-01/Accounts/{SID}/Recordings/{recording.sid}.mp3",
        auth=(SID, TOKEN),
        timeout=5,
    )
    assert media.status_code == 200  # what a voicemail link asks the simulator for
    assert b"Please call me back" in media.content


def test_the_control_endpoints_need_the_accounts_credentials(
    serving_simulator: tuple[str, Simulator],
) -> None:
    url, _ = serving_simulator
    answer = requests.post(f"{url}/_simulator/sms", json={}, auth=(SID, "wrong"), timeout=5)
    assert answer.status_code == 401


def test_simulated_staff_press_what_the_prompt_asks_by_default(service_url: str) -> None:
    result = CliRunner().invoke(
        simulate,
        ["call", "--from", PARTICIPANT, "--voice-path", "/webhooks/take"],
        env=env(service_url),
    )

    assert result.exit_code == 0, result.output
    assert "pressed 4" in result.output
    assert 'heard "Taken."' in result.output


def test_staff_presses_can_be_scripted(service_url: str) -> None:
    result = CliRunner().invoke(
        simulate,
        ["call", "--from", PARTICIPANT, "--voice-path", "/webhooks/take", "--staff-press", "5"],
        env=env(service_url),
    )

    assert result.exit_code == 0, result.output
    assert "pressed 5" in result.output
    assert 'heard "Sorry, that key does nothing."' in result.output
