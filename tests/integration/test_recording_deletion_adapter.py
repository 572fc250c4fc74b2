"""The Twilio adapter's recording deletion, pinned with `responses`: DELETE of the Recording
resource on the API host with the account's credentials, 204 and 404 (20404) both done,
failures sorted into transient and permanent, and the credentials never sent anywhere else."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
import requests
import responses

from crisisline.telephony import (
    PermanentTelephonyError,
    TransientTelephonyError,
    TwilioTelephony,
)
from crisisline.telephony.twilio_rest import recording_resource_url

ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "f3c1e0d2b4a5968778695a4b3c2d1e0f"
TWILIO = "https://api.twilio.com"
RECORDING_SID = "RE" + "5d" * 16
RECORDING_URL = f"{TWILIO}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{RECORDING_SID}"
RESOURCE = RECORDING_URL + ".json"


@pytest.fixture
def twilio_http() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def telephony() -> TwilioTelephony:
    return TwilioTelephony(ACCOUNT_SID, AUTH_TOKEN, TWILIO, request_timeout_seconds=2.0)


def _twilio_error(status: int, code: int) -> dict[str, object]:
    return {
        "code": code,
        "message": f"The requested resource {RECORDING_URL} was not found",
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def test_delete_sends_delete_to_the_recording_resource_with_basic_auth_and_204_is_done(
    twilio_http: responses.RequestsMock, telephony: TwilioTelephony
) -> None:
    twilio_http.delete(RESOURCE, status=204)

    telephony.delete_recording(RECORDING_URL)  # returns: done

    (sent,) = twilio_http.calls
    assert sent.request.method == "DELETE"
    assert sent.request.url == RESOURCE
    expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert sent.request.headers["Authorization"] == expected


@pytest.mark.parametrize("suffix", ["", ".json", ".mp3", ".wav"])
def test_every_form_of_a_recording_url_deletes_the_same_resource(
    twilio_http: responses.RequestsMock, telephony: TwilioTelephony, suffix: str
) -> None:
    twilio_http.delete(RESOURCE, status=204)
    telephony.delete_recording(RECORDING_URL + suffix)
    assert [call.request.url for call in twilio_http.calls] == [RESOURCE]


def test_a_recording_twilio_does_not_have_404_20404_is_already_gone_and_done(
    twilio_http: responses.RequestsMock, telephony: TwilioTelephony
) -> None:
    twilio_http.delete(RESOURCE, status=404, json=_twilio_error(404, 20404))
    telephony.delete_recording(RECORDING_URL)  # returns: done
    assert len(twilio_http.calls) == 1


@pytest.mark.hazard("H273")
def test_a_404_without_twilios_not_found_code_is_not_taken_as_deleted(
    twilio_http: responses.RequestsMock, telephony: TwilioTelephony
) -> None:
    """A proxy's or a load balancer's 404 says nothing about the recording."""
    twilio_http.delete(RESOURCE, status=404, body="<html>Not Found</html>")
    with pytest.raises(PermanentTelephonyError) as raised:
        telephony.delete_recording(RECORDING_URL)
    assert raised.value.http_status == 404
    assert raised.value.code is None


@pytest.mark.parametrize(("status", "code"), [(500, 20500), (503, 20503), (429, 20429)])
def test_server_errors_and_rate_limits_are_transient(
    twilio_http: responses.RequestsMock, telephony: TwilioTelephony, status: int, code: int
) -> None:
    twilio_http.delete(RESOURCE, status=status, json=_twilio_error(status, code))
    with pytest.raises(TransientTelephonyError) as raised:
        telephony.delete_recording(RECORDING_URL)
    assert (raised.value.http_status, raised.value.code) == (status, code)


@pytest.mark.parametrize(
    "failure", [requests.ReadTimeout("read timed out"), requests.ConnectionError("refused")]
)
def test_timeouts_and_connection_failures_are_transient(
    twilio_http: responses.RequestsMock, telephony: TwilioTelephony, failure: Exception
) -> None:
    twilio_http.delete(RESOURCE, body=failure)
    with pytest.raises(TransientTelephonyError) as raised:
        telephony.delete_recording(RECORDING_URL)
    assert raised.value.http_status is None
    assert RECORDING_SID not in str(raised.value)


@pytest.mark.parametrize(("status", "code"), [(401, 20003), (403, 20003), (400, 21000)])
def test_other_refusals_are_permanent_with_the_code_kept_and_no_url_in_the_message(
    twilio_http: responses.RequestsMock, telephony: TwilioTelephony, status: int, code: int
) -> None:
    twilio_http.delete(RESOURCE, status=status, json=_twilio_error(status, code))
    with pytest.raises(PermanentTelephonyError) as raised:
        telephony.delete_recording(RECORDING_URL)
    assert (raised.value.http_status, raised.value.code) == (status, code)
    assert RECORDING_SID not in str(raised.value)
    assert ACCOUNT_SID not in str(raised.value)


@pytest.mark.hazard("H272")
def test_a_redirect_is_not_followed_and_is_not_taken_as_deleted(
    twilio_http: responses.RequestsMock, telephony: TwilioTelephony
) -> None:
    twilio_http.delete(RESOURCE, status=307, headers={"Location": "https://elsewhere.example/x"})
    with pytest.raises(TransientTelephonyError):
        telephony.delete_recording(RECORDING_URL)
    assert [call.request.url for call in twilio_http.calls] == [RESOURCE]


@pytest.mark.hazard("H272")
@pytest.mark.parametrize(
    "elsewhere",
    [
        f"https://recordings.example.net/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{RECORDING_SID}",
        f"http://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{RECORDING_SID}",
        f"{RECORDING_URL}?redirect=https://example.net",
        f"https://api.twilio.com.example.net/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{RECORDING_SID}",
    ],
)
def test_a_recording_off_twilios_api_host_is_refused_before_any_request(
    twilio_http: responses.RequestsMock, telephony: TwilioTelephony, elsewhere: str
) -> None:
    with pytest.raises(PermanentTelephonyError, match="credentials go nowhere else"):
        telephony.delete_recording(elsewhere)
    assert len(twilio_http.calls) == 0


@pytest.mark.hazard("H273")
def test_a_recording_of_another_account_is_refused_before_any_request(
    twilio_http: responses.RequestsMock, telephony: TwilioTelephony
) -> None:
    """Twilio answers 404 for another account's recording: taken as "already gone", that would
    clear the reference of a recording still held. So it is never asked."""
    other = RECORDING_URL.replace(ACCOUNT_SID, "AC" + "9" * 32)
    with pytest.raises(PermanentTelephonyError, match="another Twilio account"):
        telephony.delete_recording(other)
    assert len(twilio_http.calls) == 0


@pytest.mark.hazard("H272")
def test_a_url_naming_no_recording_is_refused_before_any_request(
    twilio_http: responses.RequestsMock, telephony: TwilioTelephony
) -> None:
    for not_a_recording in (
        f"{TWILIO}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/CA" + "1" * 32,
        f"{TWILIO}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/",
        f"{TWILIO}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/../Messages",
    ):
        with pytest.raises(PermanentTelephonyError):
            telephony.delete_recording(not_a_recording)
    assert len(twilio_http.calls) == 0


def test_the_simulator_base_url_is_where_deletions_go(
    twilio_http: responses.RequestsMock,
) -> None:
    base = "http://127.0.0.1:5055"
    telephony = TwilioTelephony(ACCOUNT_SID, AUTH_TOKEN, base)
    twilio_http.delete(
        f"{base}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{RECORDING_SID}.json", status=204
    )
    telephony.delete_recording(RECORDING_URL)  # Twilio's own URL, read on the simulator
    assert recording_resource_url(base, RECORDING_URL) == twilio_http.calls[0].request.url
