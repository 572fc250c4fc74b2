"""How the simulator reaches the service: signed form POSTs through a pluggable transport."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import urlsplit

import requests
from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator

SIGNATURE_HEADER = "X-Twilio-Signature"
# Real Twilio sends this; services may dedupe retried webhooks on it.
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
USER_AGENT = "TwilioProxy/1.1"


class WebhookDeliveryError(Exception):
    """Nothing answered the webhook: connection refused, DNS failure or timeout."""


class WebhookTransport(Protocol):
    """Posts a form to one of the service's webhook URLs and returns (HTTP status, body text).

    Implementations raise WebhookDeliveryError when no HTTP answer came back at all; any HTTP
    answer, including 4xx and 5xx, is returned, because the simulator reacts to it as Twilio would.
    """

    def post(
        self, url: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> tuple[int, str]: ...


class RequestsTransport:
    """Real HTTP with `requests`, for `crisisline simulate` against a running service."""

    def __init__(self, timeout: float = 15.0, session: requests.Session | None = None) -> None:
        # 15 s is Twilio's total budget for a webhook answer (error 11205 after that).
        self._timeout = timeout
        self._session = session or requests.Session()

    def post(
        self, url: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> tuple[int, str]:
        """POST the form with requests; connection errors become WebhookDeliveryError."""
        try:
            response = self._session.post(
                url, data=dict(params), headers=dict(headers), timeout=self._timeout
            )
        except requests.RequestException as exc:
            raise WebhookDeliveryError(f"{type(exc).__name__} reaching {_origin(url)}") from exc
        return response.status_code, response.text


class FlaskClientTransport:
    """Posts into a Flask test client, keeping the scheme and host so signatures still match."""

    def __init__(self, client: FlaskClient) -> None:
        self._client = client

    def post(
        self, url: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> tuple[int, str]:
        """POST through the test client with base_url set to the URL's scheme and host."""
        parts = urlsplit(url)
        path = parts.path or "/"
        if parts.query:
            path = f"{path}?{parts.query}"
        response = self._client.post(
            path,
            base_url=f"{parts.scheme}://{parts.netloc}",
            data=dict(params),
            headers=dict(headers),
        )
        return response.status_code, response.get_data(as_text=True)


def compute_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """X-Twilio-Signature for a POST of `params` to `url`, with Twilio's own algorithm."""
    return str(RequestValidator(auth_token).compute_signature(url, dict(params)))


def signed_headers(auth_token: str, url: str, params: Mapping[str, str]) -> dict[str, str]:
    """The headers Twilio sends with a webhook: signature, idempotency token, user agent."""
    return {
        SIGNATURE_HEADER: compute_signature(auth_token, url, params),
        IDEMPOTENCY_HEADER: uuid.uuid4().hex,
        "User-Agent": USER_AGENT,
    }


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
