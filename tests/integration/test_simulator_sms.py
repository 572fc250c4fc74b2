"""Inbound SMS, TwiML replies and the GoAlert-style phone script API."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest
from flask import Flask, Response, request
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from crisisline.simulator import FlaskClientTransport, Simulator, format_transcript

if TYPE_CHECKING:
    from crisisline.simulator.pytest_fixtures import SimulatorFactory

# The fixture module is not registered in conftest; this test module proves it works on its own.

TOKEN = "sms-test-token"

BASE = "https://crisis.example.test"
CRISIS = "+447700900001"
PARTICIPANT = "+447700900123"
STAFF = "+447700900456"


def make_service() -> tuple[Flask, list[dict[str, str]]]:
    """Replies to texts; "1a" from anyone is an acknowledgement. Not the real service."""
    app = Flask("throwaway-sms-service")
    seen: list[dict[str, str]] = []
    validator = RequestValidator(TOKEN)

    @app.post("/sms")
    def sms() -> Response:
        if not validator.validate(
            request.url, request.form, request.headers.get("X-Twilio-Signature", "")
        ):
            return Response("forged", status=403)
        seen.append(request.form.to_dict())
        reply = MessagingResponse()
        body = request.form["Body"].strip().lower()
        if body == "1a":
            reply.message("Acknowledged. Thank you.")
        elif body == "quiet":
            pass
        else:
            reply.message("We got your message. Someone will reply soon.")
            reply.message(f"Crisis text: {request.form['Body']} Reply 1a to acknowledge.", to=STAFF)
        return Response(str(reply), mimetype="text/xml")

    return app, seen


@pytest.fixture
def service() -> tuple[Flask, list[dict[str, str]]]:
    return make_service()


@pytest.fixture
def sim(simulator: SimulatorFactory, service: tuple[Flask, list[dict[str, str]]]) -> Simulator:
    sim = simulator(FlaskClientTransport(service[0].test_client()), auth_token=TOKEN)
    sim.configure_number(CRISIS, sms_url=f"{BASE}/sms")
    return sim


def test_inbound_sms_is_signed_with_twilios_parameters(
    sim: Simulator, service: tuple[Flask, list[dict[str, str]]]
) -> None:
    inbound = sim.phone(PARTICIPANT).send_sms(CRISIS, "I am struggling tonight")

    (form,) = service[1]
    assert form["Body"] == "I am struggling tonight"
    assert form["From"] == PARTICIPANT and form["To"] == CRISIS
    assert form["MessageSid"] == form["SmsSid"] == inbound.sid
    assert len(inbound.sid) == 34 and inbound.sid.startswith("SM")
    assert form["NumMedia"] == "0"
    assert form["SmsStatus"] == "received"
    assert form["AccountSid"] == sim.account_sid
    sim.phone(PARTICIPANT).expect_sms(contains="someone will reply")
    sim.phone(STAFF).expect_sms(contains="I am struggling tonight")


def test_script_reads_like_a_conversation(sim: Simulator) -> None:
    participant, staff = sim.phone(PARTICIPANT), sim.phone(STAFF)

    participant.send_sms(CRISIS, "Can someone call me")
    participant.expect_sms(contains="someone will reply", from_=CRISIS)
    staff.expect_sms(contains="Reply 1a").reply("1a")
    staff.expect_sms(contains="acknowledged")


def test_expect_sms_failure_lists_what_did_arrive(sim: Simulator) -> None:
    sim.phone(PARTICIPANT).send_sms(CRISIS, "hello")
    participant = sim.phone(PARTICIPANT)

    with pytest.raises(AssertionError) as failure:
        participant.expect_sms(contains="acknowledged")

    text = str(failure.value)
    assert "did not receive the expected SMS containing 'acknowledged'" in text
    assert 'from +447700900001: "We got your message. Someone will reply soon."' in text
    participant.expect_sms()
    sim.phone(STAFF).expect_sms()


def test_assert_no_unexpected_names_each_leftover(sim: Simulator) -> None:
    sim.phone(PARTICIPANT).send_sms(CRISIS, "hello")
    sim.phone(PARTICIPANT).expect_sms()

    with pytest.raises(AssertionError) as failure:
        sim.assert_no_unexpected()

    assert "+447700900456 received SMS from +447700900001" in str(failure.value)
    sim.phone(STAFF).expect_sms()


def test_expect_call_failure_lists_received_calls(sim: Simulator) -> None:
    with pytest.raises(AssertionError, match="did not receive the expected call"):
        sim.phone(STAFF).expect_call()


def test_empty_reply_sends_nothing(sim: Simulator) -> None:
    sim.phone(PARTICIPANT).send_sms(CRISIS, "quiet")
    sim.phone(PARTICIPANT).expect_no_sms()


def test_ignored_phone_does_not_fail_the_test(sim: Simulator) -> None:
    sim.phone(STAFF).ignore_unexpected()
    sim.phone(PARTICIPANT).send_sms(CRISIS, "hello")
    sim.phone(PARTICIPANT).expect_sms()
    sim.assert_no_unexpected()


def test_transcript_shows_what_each_phone_sent_and_received(sim: Simulator) -> None:
    sim.phone(PARTICIPANT, "participant").send_sms(CRISIS, "hello")

    text = format_transcript(sim.phones)

    assert "=== +447700900123 (participant) ===" in text
    assert 'SMS to +447700900001: "hello"' in text
    assert 'SMS from +447700900001: "We got your message. Someone will reply soon."' in text
    sim.phone(PARTICIPANT).expect_sms()
    sim.phone(STAFF).expect_sms()


def test_rejected_signature_is_reported_as_an_error(
    service: tuple[Flask, list[dict[str, str]]],
) -> None:
    sim = Simulator(
        account_sid="AC" + "1" * 32,
        auth_token="forged-token",
        transport=FlaskClientTransport(service[0].test_client()),
    )
    sim.incoming_sms(PARTICIPANT, CRISIS, "hello", f"{BASE}/sms")

    assert service[1] == []
    sim.phone(PARTICIPANT).expect_no_sms()
    with pytest.raises(AssertionError, match=r"sms webhook .* answered HTTP 403"):
        sim.assert_no_unexpected()


def test_logs_hold_no_full_numbers_or_bodies(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="crisisline.simulator")
    sim.phone(PARTICIPANT).send_sms(CRISIS, "my secret worry")
    sim.run_pending()
    sim.phone(PARTICIPANT).expect_sms()
    sim.phone(STAFF).expect_sms()

    logged = caplog.text
    assert "simulator" in logged
    for secret in (PARTICIPANT, STAFF, CRISIS, "7700900", "secret worry"):
        assert secret not in logged
