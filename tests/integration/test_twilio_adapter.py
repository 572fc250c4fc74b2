"""The Twilio adapter's HTTP requests and error mapping, pinned with `responses`."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import requests
import responses

from crisisline.telephony import (
    PermanentTelephonyError,
    TransientTelephonyError,
    TwilioTelephony,
)

ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "f3c1e0d2b4a5968778695a4b3c2d1e0f"
TWILIO = "https://api.twilio.com"
MESSAGES_URL = f"{TWILIO}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
CALLS_URL = f"{TWILIO}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"

CRISIS_LINE = "+447700900001"
ON_CALL_WORKER = "+447700900123"  # Priya Okafor
SMS_CALLBACK = "https://crisis.example.org/webhooks/sms/status?delivery=17"
CALL_CALLBACK = "https://crisis.example.org/webhooks/voice/status?delivery=18"
WHISPER = "https://crisis.example.org/webhooks/voice/whisper?escalation=42"

MESSAGE_REPLY = {
    "sid": "SM0e1d2c3b4a5968778695a4b3c2d1e0f9",
    "status": "queued",
    "to": ON_CALL_WORKER,
    "from": CRISIS_LINE,
    "account_sid": ACCOUNT_SID,
    "num_segments": "1",
}
CALL_REPLY = {
    "sid": "CA5f1e2d3c4b5a69788796a5b4c3d2e1f0",
    "status": "queued",
    "to": ON_CALL_WORKER,
    "from": CRISIS_LINE,
    "account_sid": ACCOUNT_SID,
}


@pytest.fixture
def twilio_http() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def telephony() -> TwilioTelephony:
    return TwilioTelephony(ACCOUNT_SID, AUTH_TOKEN, TWILIO)


def form_of(call: responses.Call) -> dict[str, list[str]]:
    body = call.request.body
    text = body.decode() if isinstance(body, bytes) else str(body)
    return parse_qs(text, keep_blank_values=True)


def expected_basic_auth() -> str:
    return "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()


# Requests


def test_send_sms_posts_twilios_form_fields_to_messages_json_with_basic_auth(
    twilio_http: responses.RequestsMock, telephony: TwilioTelephony
) -> None:
    twilio_http.post(MESSAGES_URL, json=MESSAGE_REPLY, status=201)

    receipt = telephony.send_sms(
        ON_CALL_WORKER, CRISIS_LINE, "Crisis call missed. Reply 1a to accept.", SMS_CALLBACK
    )

    (call,) = twilio_http.calls
    assert call.request.method == "POST"
    assert call.request.url == MESSAGES_URL
    assert call.request.headers["Authorization"] == expected_basic_auth()
    assert call.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form_of(call) == {
        "To": [ON_CALL_WORKER],
        "From": [CRISIS_LINE],
        "Body": ["Crisis call missed. Reply 1a to accept."],
        "StatusCallback": [SMS_CALLBACK],
    }
    assert (receipt.sid, receipt.status) == (MESSAGE_REPLY["sid"], "queued")


def test_send_sms_without_a_status_callback_sends_no_statuscallback_field(
    twilio_http: responses.RequestsMock, telephony: TwilioTelephony
) -> None:
    twilio_http.post(MESSAGES_URL, json=MESSAGE_REPLY, status=201)

    telephony.send_sms(ON_CALL_WORKER, CRISIS_LINE, "Test message from the crisis line", None)

    assert "StatusCallback" not in form_of(twilio_http.calls[0])


def test_send_sms_sends_a_non_gsm_body_as_utf8_unchanged(
    twilio_http: responses.RequestsMock, telephony: TwilioTelephony
) -> None:
    twilio_http.post(MESSAGES_URL, json=MESSAGE_REPLY, status=201)

    telephony.send_sms(ON_CALL_WORKER, CRISIS_LINE, "Dean: I can\u2019t \U0001f614", None)

    assert form_of(twilio_http.calls[0])["Body"] == ["Dean: I can\u2019t \U0001f614"]


def test_place_call_posts_url_method_timeout_and_all_progress_events_to_calls_json(
    twilio_http: responses.RequestsMock, telephony: TwilioTelephony
) -> None:
    twilio_http.post(CALLS_URL, json=CALL_REPLY, status=201)

    receipt = telephony.place_call(ON_CALL_WORKER, CRISIS_LINE, WHISPER, CALL_CALLBACK, 25)

    (call,) = twilio_http.calls
    assert call.request.url == CALLS_URL
    assert call.request.headers["Authorization"] == expected_basic_auth()
    assert form_of(call) == {
        "To": [ON_CALL_WORKER],
        "From": [CRISIS_LINE],
        "Url": [WHISPER],
        "Method": ["POST"],
        "Timeout": ["25"],
        "StatusCallback": [CALL_CALLBACK],
        "StatusCallbackEvent": ["initiated", "ringing", "answered", "completed"],
        "StatusCallbackMethod": ["POST"],
    }
    assert (receipt.sid, receipt.status) == (CALL_REPLY["sid"], "queued")


def test_place_call_rings_for_30_seconds_by_default_and_omits_callbacks_when_none(
    twilio_http: responses.RequestsMock, telephony: TwilioTelephony
) -> None:
    twilio_http.post(CALLS_URL, json=CALL_REPLY, status=201)

    telephony.place_call(ON_CALL_WORKER, CRISIS_LINE, WHISPER, None)

    form = form_of(twilio_http.calls[0])
    assert form["Timeout"] == ["30"]
    assert not {"StatusCallback", "StatusCallbackEvent", "StatusCallbackMethod"} & form.keys()


@pytest.mark.parametrize(
    "base", ["http://127.0.0.1:8765", "http://127.0.0.1:8765/", "http://localhost:8765"]
)
def test_requests_go_to_the_configured_api_base_url_such_as_the_simulator(
    twilio_http: responses.RequestsMock, base: str
) -> None:
    host = base.rstrip("/")
    twilio_http.post(
        f"{host}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json", json=MESSAGE_REPLY, status=201
    )
    twilio_http.post(
        f"{host}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json", json=CALL_REPLY, status=201
    )
    simulated = TwilioTelephony(ACCOUNT_SID, AUTH_TOKEN, base)

    simulated.send_sms(ON_CALL_WORKER, CRISIS_LINE, "hello", None)
    simulated.place_call(ON_CALL_WORKER, CRISIS_LINE, WHISPER, None)

    assert [call.request.url for call in twilio_http.calls] == [
        f"{host}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
        f"{host}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json",
    ]
    assert twilio_http.calls[0].request.headers["Authorization"] == expected_basic_auth()


def test_twilio_edge_and_region_in_the_environment_do_not_redirect_requests(
    twilio_http: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_EDGE", "dublin")
    monkeypatch.setenv("TWILIO_REGION", "ie1")
    local = "http://127.0.0.1:8765/2010-04-01/Accounts/" + ACCOUNT_SID + "/Messages.json"
    twilio_http.post(local, json=MESSAGE_REPLY, status=201)

    TwilioTelephony(ACCOUNT_SID, AUTH_TOKEN, "http://127.0.0.1:8765").send_sms(
        ON_CALL_WORKER, CRISIS_LINE, "hello", None
    )

    assert twilio_http.calls[0].request.url == local


def test_an_invalid_number_is_refused_before_any_request_is_made(
    twilio_http: responses.RequestsMock, telephony: TwilioTelephony
) -> None:
    with pytest.raises(PermanentTelephonyError) as raised:
        telephony.send_sms("07700900123", CRISIS_LINE, "hello", None)

    assert raised.value.code == 21211
    assert len(twilio_http.calls) == 0


# Construction


@pytest.mark.parametrize(
    "base", ["http://api.twilio.example.org", "ftp://127.0.0.1", "api.twilio.com", "https://x/?a"]
)
def test_an_unsafe_or_malformed_api_base_url_is_refused(base: str) -> None:
    with pytest.raises(ValueError, match="TWILIO_API_BASE_URL"):
        TwilioTelephony(ACCOUNT_SID, AUTH_TOKEN, base)


@pytest.mark.parametrize(("sid", "token"), [("", AUTH_TOKEN), (ACCOUNT_SID, "")])
def test_missing_credentials_are_refused_rather_than_read_from_the_environment(
    sid: str, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)

    with pytest.raises(ValueError, match="account SID and an auth token"):
        TwilioTelephony(sid, token, TWILIO)


# Error mapping


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_transient(
    twilio_http: responses.RequestsMock, telephony: TwilioTelephony, status: int
) -> None:
    twilio_http.post(
        MESSAGES_URL,
        json={"code": 20500, "message": "Internal Server Error", "status": status},
        status=status,
    )

    with pytest.raises(TransientTelephonyError) as raised:
        telephony.send_sms(ON_CALL_WORKER, CRISIS_LINE, "hello", SMS_CALLBACK)

    assert raised.value.http_status == status
    assert len(twilio_http.calls) == 1  # no hidden retries: the outbox decides


def test_a_server_error_with_an_html_body_is_transient_with_no_code(
    twilio_http: responses.RequestsMock, telephony: TwilioTelephony
) -> None:
    twilio_http.post(MESSAGES_URL, body="<html>Bad gateway</html>", status=502)

    with pytest.raises(TransientTelephonyError) as raised:
        telephony.send_sms(ON_CALL_WORKER, CRISIS_LINE, "hello", None)

    assert raised.value.code is None
    assert raised.value.http_status == 502


def test_rate_limiting_429_is_transient_and_keeps_twilios_code(
    twilio_http: responses.RequestsMock, telephony: TwilioTelephony
) -> None:
    twilio_http.post(
        CALLS_URL,
        json={"code": 20429, "message": "Too Many Requests", "status": 429},
        status=429,
    )

    with pytest.raises(TransientTelephonyError) as raised:
        telephony.place_call(ON_CALL_WORKER, CRISIS_LINE, WHISPER, CALL_CALLBACK)

    assert (raised.value.code, raised.value.http_status) == (20429, 429)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (21211, "The 'To' number +447700900123 is not a valid phone number."),
        (21610, "Attempt to send to unsubscribed recipient"),
        (21614, "'To' number is not a valid mobile number"),
        (21408, "Permission to send an SMS has not been enabled for the region"),
        (21612, "The 'To' phone number is not currently reachable via SMS"),
    ],
)
def test_twilio_refusals_are_permanent_with_the_code_kept(
    twilio_http: responses.RequestsMock, telephony: TwilioTelephony, code: int, message: str
) -> None:
    twilio_http.post(
        MESSAGES_URL,
        json={
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": 400,
        },
        status=400,
    )

    with pytest.raises(PermanentTelephonyError) as raised:
        telephony.send_sms(ON_CALL_WORKER, CRISIS_LINE, "hello", SMS_CALLBACK)

    assert (raised.value.code, raised.value.http_status) == (code, 400)
    assert raised.value.transient is False
    assert "447700900123" not in str(raised.value)


def test_bad_credentials_401_are_permanent(
    twilio_http: responses.RequestsMock, telephony: TwilioTelephony
) -> None:
    twilio_http.post(
        MESSAGES_URL, json={"code": 20003, "message": "Authenticate", "status": 401}, status=401
    )

    with pytest.raises(PermanentTelephonyError) as raised:
        telephony.send_sms(ON_CALL_WORKER, CRISIS_LINE, "hello", None)

    assert raised.value.code == 20003
    assert "TWILIO_AUTH_TOKEN" in str(raised.value)


def test_an_rfc9457_problem_reply_is_mapped_by_its_code_and_status(
    twilio_http: responses.RequestsMock, telephony: TwilioTelephony
) -> None:
    twilio_http.post(
        MESSAGES_URL,
        json={
            "type": "https://www.twilio.com/docs/errors/21610",
            "title": "Unsubscribed recipient",
            "status": 400,
            "code": 21610,
        },
        status=400,
    )

    with pytest.raises(PermanentTelephonyError) as raised:
        telephony.send_sms(ON_CALL_WORKER, CRISIS_LINE, "hello", None)

    assert raised.value.code == 21610


@pytest.mark.parametrize(
    "failure",
    [
        requests.ConnectionError("Connection refused"),
        requests.ConnectTimeout("connect timed out"),
        requests.ReadTimeout("read timed out"),
        requests.exceptions.ChunkedEncodingError("reply cut short"),
    ],
)
def test_network_failures_and_timeouts_are_transient_with_no_code(
    twilio_http: responses.RequestsMock,
    telephony: TwilioTelephony,
    failure: requests.RequestException,
) -> None:
    twilio_http.post(MESSAGES_URL, body=failure)

    with pytest.raises(TransientTelephonyError) as raised:
        telephony.send_sms(ON_CALL_WORKER, CRISIS_LINE, "hello", None)

    assert raised.value.code is None
    assert raised.value.http_status is None
    assert raised.value.__cause__ is failure


def test_an_accepted_reply_without_a_sid_is_transient_because_a_duplicate_beats_a_loss(
    twilio_http: responses.RequestsMock, telephony: TwilioTelephony
) -> None:
    twilio_http.post(MESSAGES_URL, json={"status": "queued"}, status=201)

    with pytest.raises(TransientTelephonyError, match="no sid"):
        telephony.send_sms(ON_CALL_WORKER, CRISIS_LINE, "hello", None)


def test_an_accepted_reply_that_is_not_json_is_transient(
    twilio_http: responses.RequestsMock, telephony: TwilioTelephony
) -> None:
    twilio_http.post(MESSAGES_URL, body="OK", status=201)

    with pytest.raises(TransientTelephonyError):
        telephony.send_sms(ON_CALL_WORKER, CRISIS_LINE, "hello", None)


def test_the_service_builds_the_adapter_with_the_configured_timeout_and_no_client_retries(
    tmp_path: Path,
) -> None:
    """A hung request holds a dispatch worker at most TWILIO_REQUEST_TIMEOUT (default 4 s);
    the HTTP client never retries by itself (a silent retry of a POST is a duplicate SMS)."""
    from crisisline.app import build_telephony
    from crisisline.settings import load_settings

    env = {
        "TELEPHONY": "twilio",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "PUBLIC_BASE_URL": "https://crisis.example.org",
        "CRISIS_LINE_NUMBER": CRISIS_LINE,
        "SECRET_KEY": "test-secret-key",
    }
    default = build_telephony(load_settings(env, instance_path=str(tmp_path)))
    assert isinstance(default, TwilioTelephony)
    assert default.request_timeout_seconds == 4.0
    tuned = build_telephony(
        load_settings(env | {"TWILIO_REQUEST_TIMEOUT": "2"}, instance_path=str(tmp_path))
    )
    assert isinstance(tuned, TwilioTelephony)
    http_client = tuned._client.http_client
    assert http_client.timeout == 2.0
    assert http_client.session.get_adapter(TWILIO).max_retries.total == 0


# Recordings

RECORDING_URL = f"{TWILIO}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE" + "c" * 32
AUDIO = b"ID3\x03\x00fake mp3 frames \xff\xfb"


def fetch(telephony: TwilioTelephony, recording_url: str) -> bytes:
    """As a voicemail link asks: at most 1 KiB, within 20 s."""
    return telephony.fetch_recording(recording_url, max_bytes=1024, deadline_seconds=20.0)


def test_fetch_recording_gets_the_mp3_from_the_api_host_with_basic_auth(
    twilio_http: responses.RequestsMock, telephony: TwilioTelephony
) -> None:
    twilio_http.get(RECORDING_URL + ".mp3", body=AUDIO, content_type="audio/mpeg")

    assert fetch(telephony, RECORDING_URL + ".json") == AUDIO

    (sent,) = twilio_http.calls
    assert sent.request.url == RECORDING_URL + ".mp3"
    assert sent.request.headers["Authorization"] == expected_basic_auth()


def test_fetch_recording_reads_twilios_recording_urls_from_the_configured_api_base_url(
    twilio_http: responses.RequestsMock,
) -> None:
    simulator = "http://127.0.0.1:8765"
    path = RECORDING_URL.removeprefix(TWILIO)
    twilio_http.get(simulator + path + ".mp3", body=AUDIO)

    fetched = fetch(TwilioTelephony(ACCOUNT_SID, AUTH_TOKEN, simulator), RECORDING_URL)

    assert fetched == AUDIO
    assert [call.request.url for call in twilio_http.calls] == [simulator + path + ".mp3"]


@pytest.mark.parametrize(
    "elsewhere",
    [
        "https://recordings.example.net/2010-04-01/Accounts/AC1/Recordings/RE1",
        "http://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
        f"{TWILIO}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/CA1",
        RECORDING_URL + "?redirect=evil",
    ],
)
def test_a_recording_off_twilios_api_host_is_refused_before_any_request(
    twilio_http: responses.RequestsMock, telephony: TwilioTelephony, elsewhere: str
) -> None:
    twilio_http.get(elsewhere, body=AUDIO)

    with pytest.raises(PermanentTelephonyError, match="credentials go nowhere else"):
        fetch(telephony, elsewhere)

    assert len(twilio_http.calls) == 0


def test_a_recording_twilio_does_not_have_is_permanent_with_its_code_and_no_url(
    twilio_http: responses.RequestsMock, telephony: TwilioTelephony
) -> None:
    twilio_http.get(
        RECORDING_URL + ".mp3",
        json={"code": 20404, "message": f"The requested resource {RECORDING_URL} was not found"},
        status=404,
    )

    with pytest.raises(PermanentTelephonyError) as raised:
        fetch(telephony, RECORDING_URL)

    assert (raised.value.code, raised.value.http_status) == (20404, 404)
    assert "Recordings" not in str(raised.value)


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 500},
        {"status": 503, "body": "<html>Service Unavailable</html>"},
        {"body": requests.ConnectTimeout("connect timed out")},
        {"body": requests.ConnectionError("refused")},
    ],
    ids=["500", "503-html", "timeout", "refused"],
)
def test_a_recording_twilio_cannot_give_now_is_transient(
    twilio_http: responses.RequestsMock, telephony: TwilioTelephony, failure: dict[str, object]
) -> None:
    twilio_http.get(RECORDING_URL + ".mp3", **failure)

    with pytest.raises(TransientTelephonyError) as raised:
        fetch(telephony, RECORDING_URL)

    assert raised.value.code is None


def test_a_recording_too_large_or_too_slow_is_given_up(
    twilio_http: responses.RequestsMock, telephony: TwilioTelephony
) -> None:
    twilio_http.get(RECORDING_URL + ".mp3", body=AUDIO * 100)

    with pytest.raises(PermanentTelephonyError, match="larger than 1024 bytes"):
        telephony.fetch_recording(RECORDING_URL, max_bytes=1024, deadline_seconds=20.0)
    with pytest.raises(TransientTelephonyError, match="took more than"):
        telephony.fetch_recording(RECORDING_URL, max_bytes=10**6, deadline_seconds=-1.0)
    assert telephony.fetch_recording(RECORDING_URL, max_bytes=10**6, deadline_seconds=20.0) == (
        AUDIO * 100
    )
