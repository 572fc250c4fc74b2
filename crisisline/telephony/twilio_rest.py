"""The Twilio adapter: the telephony port over Twilio's REST API, with twilio-python (and
`requests` for a recording's audio, which twilio-python does not fetch, and for deleting a
recording at the very URL the same checks allowed)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Final
from urllib.parse import urlsplit

import requests
from twilio.base.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    TwilioException,
    TwilioRestException,
    TwilioServiceException,
)
from twilio.http.http_client import TwilioHttpClient  # type: ignore[import-untyped, unused-ignore]
from twilio.rest import Client  # type: ignore[import-untyped, unused-ignore]

from crisisline.telephony.errors import (
    PermanentTelephonyError,
    TelephonyError,
    TransientTelephonyError,
    provider_error,
    redact_numbers,
)
from crisisline.telephony.port import (
    CALL_STATUS_CALLBACK_EVENTS,
    DEFAULT_CALL_TIMEOUT_SECONDS,
    ProviderReceipt,
    check_call,
    check_recording,
    check_recording_size,
    check_sms,
)

DEFAULT_API_BASE_URL: Final = "https://api.twilio.com"
# Connect and read, each: a hung request holds a dispatch worker no longer than this, and a
# crisis text waits for a free worker at most about this long (crisisline.outbox).
DEFAULT_REQUEST_TIMEOUT_SECONDS: Final = 4.0
# A recording is fetched for a person waiting to play it (crisisline.voicemail_links), not on a
# dispatch worker: connecting and each read may take this long; the caller's deadline bounds
# the whole download.
RECORDING_REQUEST_TIMEOUT_SECONDS: Final = 10.0
_RECORDING_CHUNK_BYTES: Final = 64 * 1024

# Twilio's "The requested resource ... was not found".
_NOT_FOUND: Final = 20404

# Loopback hosts may be reached over plain http (the simulator, local tests); anywhere else the
# auth token travels in a Basic auth header and must be protected by TLS.
_LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})


class TwilioTelephony:
    """Sends SMS and places calls through Twilio's REST API at `api_base_url`.

    `api_base_url` is `https://api.twilio.com` in production and the simulator's address
    (for example `http://127.0.0.1:8765`) in local runs and tests: requests go to
    `{api_base_url}/2010-04-01/Accounts/{account_sid}/Messages.json` and `Calls.json`, and a
    recording's audio is read from its path there (`recording_media_url`).
    Errors are raised as described on the `Telephony` port.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        api_base_url: str = DEFAULT_API_BASE_URL,
        *,
        request_timeout_seconds: float = DEFAULT_REQUEST_TIMEOUT_SECONDS,
    ) -> None:
        if not account_sid or not auth_token:
            # twilio.rest.Client would quietly fall back to TWILIO_* in os.environ.
            raise ValueError("TwilioTelephony needs both an account SID and an auth token")
        self.api_base_url = _checked_base_url(api_base_url)
        self.request_timeout_seconds = request_timeout_seconds
        self._account_sid = account_sid
        self._auth_token = auth_token
        # The outbox sends from several threads at once. A twilio Client keeps per-request
        # state (its http client's last request and response, one requests.Session), so each
        # thread gets its own.
        self._local = threading.local()

    @property
    def _client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._new_client()
        return client

    def _new_client(self) -> Any:
        # No retries inside the HTTP client: the outbox decides about retries, and a POST
        # silently retried after a read timeout is a duplicate SMS we never hear about.
        http_client = TwilioHttpClient(timeout=self.request_timeout_seconds, max_retries=0)
        client: Any = Client(
            self._account_sid,
            self._auth_token,
            http_client=http_client,
            # Client reads TWILIO_EDGE and TWILIO_REGION from os.environ (an empty mapping
            # means os.environ too) and rewrites the host to api.{edge}.{region}.twilio.com,
            # which would send a simulator's requests to Twilio. Pin both to "unset".
            environment={"TWILIO_EDGE": "", "TWILIO_REGION": ""},
        )
        # twilio-python has no constructor argument for its API host; the Api domain's
        # base_url is what every v2010 request URL is built from (twilio.base.domain.Domain).
        client.api.base_url = self.api_base_url
        return client

    def send_sms(
        self, to: str, from_: str, body: str, status_callback: str | None
    ) -> ProviderReceipt:
        """Send an SMS through Twilio (POST Messages.json)."""
        check_sms(to, from_, body)
        arguments: dict[str, Any] = {"to": to, "from_": from_, "body": body}
        if status_callback is not None:
            arguments["status_callback"] = status_callback
        return self._create(self._client.messages, arguments)

    def place_call(
        self,
        to: str,
        from_: str,
        twiml_url: str,
        status_callback: str | None,
        timeout_seconds: int = DEFAULT_CALL_TIMEOUT_SECONDS,
    ) -> ProviderReceipt:
        """Place a call through Twilio (POST Calls.json); Twilio fetches `twiml_url` by POST."""
        check_call(to, from_, twiml_url, timeout_seconds)
        arguments: dict[str, Any] = {
            "to": to,
            "from_": from_,
            "url": twiml_url,
            "method": "POST",
            "timeout": timeout_seconds,
        }
        if status_callback is not None:
            arguments["status_callback"] = status_callback
            arguments["status_callback_event"] = list(CALL_STATUS_CALLBACK_EVENTS)
            arguments["status_callback_method"] = "POST"
        return self._create(self._client.calls, arguments)

    def fetch_recording(
        self, recording_url: str, *, max_bytes: int, deadline_seconds: float
    ) -> bytes:
        """GET the recording's MP3 from Twilio's API with the account's credentials, only for
        a recording on that host (`recording_media_url`)."""
        where = recording_media_url(self.api_base_url, recording_url)
        if where is None:
            raise PermanentTelephonyError(
                "the recording is not on Twilio's API host: the credentials go nowhere else"
            )
        auth = (self._account_sid, self._auth_token)
        try:
            # requests drops the Authorization header if Twilio redirects to another host.
            with requests.get(
                where, auth=auth, timeout=RECORDING_REQUEST_TIMEOUT_SECONDS, stream=True
            ) as got:
                if got.status_code != 200:
                    raise _from_twilio(got.status_code, _reply_code(got), "")
                body = bytearray()
                deadline = time.monotonic() + deadline_seconds
                for chunk in got.iter_content(_RECORDING_CHUNK_BYTES):
                    body.extend(chunk)
                    check_recording_size(len(body), max_bytes)
                    if time.monotonic() > deadline:
                        raise TransientTelephonyError(
                            f"the recording took more than {deadline_seconds:g} s to fetch"
                        )
                return bytes(body)
        except requests.RequestException as exc:
            raise _network_error(exc, self.api_base_url) from exc

    def delete_recording(self, recording_url: str) -> None:
        """DELETE the Recording resource at Twilio's API with the account's credentials, only
        for a recording of this account on that host (`recording_resource_url`).

        Twilio answers 204 with no body; 404 with error 20404 when it has no such recording,
        which here means already deleted (the URL's account is this account, checked first,
        so a 404 cannot be another account's recording that these credentials cannot see).
        """
        check_recording(recording_url)
        where = recording_resource_url(self.api_base_url, recording_url)
        if where is None:
            raise PermanentTelephonyError(
                "the recording is not on Twilio's API host: the credentials go nowhere else"
            )
        if recording_account(recording_url) != self._account_sid:
            raise PermanentTelephonyError(
                "the recording belongs to another Twilio account than TWILIO_ACCOUNT_SID"
            )
        try:
            # No redirects: a DELETE is sent only where the checks above allowed. The
            # request timeout (connect and read) bounds a provider that stops answering.
            reply = requests.delete(
                where,
                auth=(self._account_sid, self._auth_token),
                timeout=self.request_timeout_seconds,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise _network_error(exc, self.api_base_url) from exc
        if 200 <= reply.status_code < 300:
            return
        code = _reply_code(reply)
        if reply.status_code == 404 and _twilio_code(code, 404) == _NOT_FOUND:
            return
        raise _from_twilio(reply.status_code, code, "")

    def _create(self, resource: Any, arguments: dict[str, Any]) -> ProviderReceipt:
        try:
            instance = resource.create(**arguments)
        except TwilioRestException as exc:
            raise _from_twilio(exc.status, exc.code, exc.msg) from exc
        except TwilioServiceException as exc:
            raise _from_twilio(exc.status, exc.code, exc.detail or exc.title) from exc
        except (requests.RequestException, json.JSONDecodeError) as exc:
            raise _network_error(exc, self.api_base_url) from exc
        except TwilioException as exc:
            raise PermanentTelephonyError(
                f"the Twilio client refused the request: {redact_numbers(str(exc))}"
            ) from exc
        return _receipt(instance)


def _network_error(
    exc: requests.RequestException | json.JSONDecodeError, api_base_url: str
) -> TransientTelephonyError:
    """A request that got no usable reply: transient, since the request may have been taken."""
    if isinstance(exc, requests.Timeout | requests.ConnectionError):
        # Includes connect and read timeouts, refused and reset connections, TLS and DNS
        # failures. After a read timeout Twilio may have accepted the request.
        return TransientTelephonyError(
            f"no reply from Twilio at {api_base_url}: {type(exc).__name__}"
        )
    # A reply cut short or unreadable: the request may have been accepted.
    return TransientTelephonyError(
        f"unreadable reply from Twilio at {api_base_url}: {type(exc).__name__}"
    )


def _reply_code(reply: requests.Response) -> object:
    """The error code of a Twilio error reply's JSON body, if it has one. Its message is left
    out: for a recording, it names the recording's URL."""
    try:
        body = reply.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


def _from_twilio(status: object, code: object, detail: object) -> TelephonyError:
    http_status = status if isinstance(status, int) else None
    twilio_code = _twilio_code(code, http_status)
    return provider_error(code=twilio_code, http_status=http_status, detail=str(detail or ""))


def _twilio_code(code: object, http_status: int | None) -> int | None:
    try:
        value = int(str(code))
    except ValueError:
        return None
    # When a reply carries no error code, twilio-python puts the HTTP status in its place.
    if value == http_status or value < 10000:
        return None
    return value


def _receipt(instance: Any) -> ProviderReceipt:
    sid = getattr(instance, "sid", None)
    status = getattr(instance, "status", None)
    if not isinstance(sid, str) or not sid:
        # Accepted (2xx) but without a SID: the message may well be on its way. Transient, so
        # the outbox tries again, because a duplicate is preferred to a loss.
        raise TransientTelephonyError("Twilio accepted the request but its reply had no sid")
    return ProviderReceipt(sid=sid, status=str(status) if status is not None else "queued")


def recording_media_url(api_base_url: str, recording_url: str) -> str | None:
    """Where to fetch a Twilio recording's MP3: its path on `api_base_url` (Twilio's API in
    production, the simulator locally), or None when the URL is not a recording on Twilio's
    API (the account's credentials must never be sent anywhere else)."""
    path = _recording_path(api_base_url, recording_url)
    return None if path is None else f"{api_base_url}{path}.mp3"


def recording_resource_url(api_base_url: str, recording_url: str) -> str | None:
    """Where to DELETE a Twilio recording: its Recording resource (`.json`) on `api_base_url`,
    or None, exactly when `recording_media_url` is None."""
    path = _recording_path(api_base_url, recording_url)
    return None if path is None else f"{api_base_url}{path}.json"


def recording_account(recording_url: str) -> str | None:
    """The account SID in a recording URL (`/2010-04-01/Accounts/AC.../Recordings/RE...`)."""
    parts = urlsplit(recording_url).path.split("/")
    if "Accounts" not in parts:
        return None
    index = parts.index("Accounts") + 1
    return parts[index] if index < len(parts) else None


def _recording_path(api_base_url: str, recording_url: str) -> str | None:
    given = urlsplit(recording_url)
    api = urlsplit(api_base_url)
    hosts = {("https", "api.twilio.com"), (api.scheme, api.netloc)}
    if (given.scheme, given.netloc) not in hosts or given.query or given.fragment:
        return None
    if "/Recordings/" not in given.path:
        return None
    return given.path.removesuffix(".json").removesuffix(".wav").removesuffix(".mp3")


def _checked_base_url(api_base_url: str) -> str:
    parts = urlsplit(api_base_url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"TWILIO_API_BASE_URL must be an http(s) URL, not {api_base_url!r}")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
        raise ValueError(
            "TWILIO_API_BASE_URL may use plain http only on this machine (127.0.0.1, "
            f"localhost); {api_base_url!r} would send the auth token unencrypted"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"TWILIO_API_BASE_URL must not have a query or fragment: {api_base_url}")
    return api_base_url.rstrip("/")
