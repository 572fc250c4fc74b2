"""`crisisline simulate call/sms` play a participant over real loopback HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from flask import Flask, Response, request
from twilio.request_validator import RequestValidator

from crisisline.simulator.cli import simulate

TOKEN = "cli-test-token"
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

    @app.post("/webhooks/voice/status")
    def status() -> Response:
        return Response("", status=204)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.port}"
    server.shutdown()
    server.server_close()


def env(service_url: str) -> dict[str, str]:
    return {
        "PUBLIC_BASE_URL": service_url,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_ACCOUNT_SID": "AC" + "9" * 32,
        # Nothing listens here: the commands play in-process (no `simulate serve` running).
        "TWILIO_API_BASE_URL": "http://127.0.0.1:9",
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
