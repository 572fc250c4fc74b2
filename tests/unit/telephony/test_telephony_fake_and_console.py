"""The fake and console adapters: record or print deliveries, and refuse what Twilio refuses."""

from __future__ import annotations

import io
import logging

import pytest

from crisisline.telephony import (
    DEFAULT_CALL_TIMEOUT_SECONDS,
    ConsoleTelephony,
    FakeTelephony,
    PermanentTelephonyError,
    ProviderReceipt,
    Telephony,
    TransientTelephonyError,
)

CRISIS_LINE = "+447700900001"
ON_CALL_WORKER = "+447700900123"  # Priya Okafor, on call tonight
DUTY_MANAGER = "+447700900456"  # Tomasz Reilly
CALLBACK = "https://crisis.example.org/webhooks/sms/status?delivery=17"
TWIML = "https://crisis.example.org/webhooks/voice/whisper?escalation=42"


def send_alert(telephony: Telephony, to: str) -> ProviderReceipt:
    """A stand-in for the outbox: it only knows the port."""
    return telephony.send_sms(to, CRISIS_LINE, "Crisis call missed. Reply 1a to accept.", CALLBACK)


# The fake


def test_fake_records_each_sms_in_order_with_a_distinct_sid() -> None:
    fake = FakeTelephony()

    first = send_alert(fake, ON_CALL_WORKER)
    second = send_alert(fake, DUTY_MANAGER)

    assert [message.to for message in fake.sent_messages] == [ON_CALL_WORKER, DUTY_MANAGER]
    assert first.sid != second.sid
    assert first.sid.startswith("SM") and len(first.sid) == 34
    assert first.status == "queued"
    assert fake.sent_messages[0].sid == first.sid
    assert fake.sent_messages[0].status_callback == CALLBACK
    assert fake.messages_to(DUTY_MANAGER)[0].body.startswith("Crisis call missed")


def test_fake_records_a_call_with_its_twiml_url_and_default_ring_time() -> None:
    fake = FakeTelephony()

    receipt = fake.place_call(ON_CALL_WORKER, CRISIS_LINE, TWIML, None)

    (call,) = fake.calls_to(ON_CALL_WORKER)
    assert call.twiml_url == TWIML
    assert call.timeout_seconds == DEFAULT_CALL_TIMEOUT_SECONDS
    assert call.sid == receipt.sid
    assert receipt.sid.startswith("CA")


def test_fake_fails_exactly_the_next_n_deliveries_then_sends() -> None:
    fake = FakeTelephony()
    outage = TransientTelephonyError("Twilio error (HTTP 503)", http_status=503)
    fake.fail_next(outage, times=2)

    for _ in range(2):
        with pytest.raises(TransientTelephonyError) as raised:
            send_alert(fake, ON_CALL_WORKER)
        assert raised.value is outage
    receipt = send_alert(fake, ON_CALL_WORKER)

    assert len(fake.failed_attempts) == 2
    assert all(attempt.sid is None for attempt in fake.failed_attempts)
    assert [message.sid for message in fake.sent_messages] == [receipt.sid]


def test_fake_failures_apply_to_calls_and_sms_alike_in_order() -> None:
    fake = FakeTelephony()
    fake.fail_next(PermanentTelephonyError("unsubscribed", code=21610, http_status=400))

    with pytest.raises(PermanentTelephonyError):
        fake.place_call(ON_CALL_WORKER, CRISIS_LINE, TWIML, None)
    send_alert(fake, ON_CALL_WORKER)

    assert len(fake.sent_messages) == 1
    assert fake.placed_calls == []


def test_fake_refuses_to_fail_zero_times() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        FakeTelephony().fail_next(TransientTelephonyError("x"), times=0)


RECORDING = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"


def test_fake_gives_the_recording_it_holds_and_notes_each_url_asked_for() -> None:
    fake = FakeTelephony()
    fake.recordings[RECORDING] = b"ID3 fake mp3"

    assert fake.fetch_recording(RECORDING, max_bytes=1024, deadline_seconds=20.0) == b"ID3 fake mp3"
    with pytest.raises(PermanentTelephonyError) as raised:
        fake.fetch_recording(RECORDING + "2", max_bytes=1024, deadline_seconds=20.0)

    assert (raised.value.code, raised.value.http_status) == (20404, 404)
    assert fake.fetched_recordings == [RECORDING, RECORDING + "2"]


def test_fake_refuses_a_recording_larger_than_asked_for_as_twilios_adapter_does() -> None:
    fake = FakeTelephony()
    fake.recordings[RECORDING] = b"x" * 1025

    with pytest.raises(PermanentTelephonyError, match="larger than 1024 bytes"):
        fake.fetch_recording(RECORDING, max_bytes=1024, deadline_seconds=20.0)


# Both local adapters check arguments as the Twilio adapter does.


@pytest.fixture(params=["fake", "console"])
def local_telephony(request: pytest.FixtureRequest) -> Telephony:
    return FakeTelephony() if request.param == "fake" else ConsoleTelephony(io.StringIO())


@pytest.mark.parametrize("to", ["07700900123", "447700900123", "+44 7700 900123", "", "+0123456"])
def test_a_number_not_in_e164_is_refused_as_twilio_21211(
    local_telephony: Telephony, to: str
) -> None:
    with pytest.raises(PermanentTelephonyError) as raised:
        local_telephony.send_sms(to, CRISIS_LINE, "hello", None)
    assert raised.value.code == 21211


def test_an_empty_body_is_refused_as_twilio_21602(local_telephony: Telephony) -> None:
    with pytest.raises(PermanentTelephonyError) as raised:
        local_telephony.send_sms(ON_CALL_WORKER, CRISIS_LINE, "", None)
    assert raised.value.code == 21602


def test_a_body_over_1600_characters_is_refused_as_twilio_21617(
    local_telephony: Telephony,
) -> None:
    local_telephony.send_sms(ON_CALL_WORKER, CRISIS_LINE, "a" * 1600, None)
    with pytest.raises(PermanentTelephonyError) as raised:
        local_telephony.send_sms(ON_CALL_WORKER, CRISIS_LINE, "a" * 1601, None)
    assert raised.value.code == 21617


def test_a_relative_twiml_url_is_refused_as_twilio_21205(local_telephony: Telephony) -> None:
    with pytest.raises(PermanentTelephonyError) as raised:
        local_telephony.place_call(ON_CALL_WORKER, CRISIS_LINE, "/webhooks/voice/whisper", None)
    assert raised.value.code == 21205


@pytest.mark.parametrize("seconds", [0, 4, 601])
def test_a_ring_time_outside_twilios_5_to_600_seconds_is_a_programming_error(
    local_telephony: Telephony, seconds: int
) -> None:
    with pytest.raises(ValueError, match="between 5 and 600"):
        local_telephony.place_call(ON_CALL_WORKER, CRISIS_LINE, TWIML, None, seconds)


# The console


def test_console_prints_the_sms_with_recipient_sender_segments_and_body() -> None:
    out = io.StringIO()
    console = ConsoleTelephony(out)

    receipt = console.send_sms(ON_CALL_WORKER, CRISIS_LINE, "Line one\nLine two", CALLBACK)

    printed = out.getvalue()
    assert f"SMS {receipt.sid} to {ON_CALL_WORKER} from {CRISIS_LINE}" in printed
    assert "1 GSM-7 segment)" in printed
    assert "    Line one\n    Line two\n" in printed


def test_console_receipts_are_marked_sent_with_console_sids_of_twilio_length() -> None:
    console = ConsoleTelephony(io.StringIO())

    sms = send_alert(console, ON_CALL_WORKER)
    again = send_alert(console, ON_CALL_WORKER)
    call = console.place_call(ON_CALL_WORKER, CRISIS_LINE, TWIML, None, 45)

    assert sms.sid.startswith("SMconsole") and len(sms.sid) == 34
    assert call.sid.startswith("CAconsole") and len(call.sid) == 34
    assert sms.sid != again.sid
    assert (sms.status, call.status) == ("sent", "sent")


def test_console_prints_a_call_with_its_twiml_url_and_ring_time() -> None:
    out = io.StringIO()

    receipt = ConsoleTelephony(out).place_call(DUTY_MANAGER, CRISIS_LINE, TWIML, None, 25)

    assert f"CALL {receipt.sid} to {DUTY_MANAGER} from {CRISIS_LINE}" in out.getvalue()
    assert "25 s" in out.getvalue()
    assert TWIML in out.getvalue()


def test_console_reports_a_ucs2_text_and_its_segment_count() -> None:
    out = io.StringIO()

    ConsoleTelephony(out).send_sms(ON_CALL_WORKER, CRISIS_LINE, "ł" * 71, None)

    assert "2 UCS-2 segments" in out.getvalue()


def test_console_never_writes_the_body_or_number_to_logging(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)

    ConsoleTelephony(io.StringIO()).send_sms(
        ON_CALL_WORKER, CRISIS_LINE, "I am not safe tonight", None
    )

    assert "not safe" not in caplog.text
    assert "900123" not in caplog.text


def test_console_has_no_recordings_to_give() -> None:
    out = io.StringIO()

    with pytest.raises(PermanentTelephonyError, match="TELEPHONY=twilio"):
        ConsoleTelephony(out).fetch_recording(RECORDING, max_bytes=1024, deadline_seconds=20.0)

    assert out.getvalue() == ""
