"""Twilio request signatures (X-Twilio-Signature): rebuild the signed URL, check it, compute it."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from urllib.parse import urlsplit

from twilio.request_validator import RequestValidator  # type: ignore[import-untyped, unused-ignore]

SIGNATURE_HEADER = "X-Twilio-Signature"


def public_url(public_base_url: str, path: str, query_string: str | bytes = "") -> str:
    """The URL Twilio requested and signed: PUBLIC_BASE_URL, the request path, the raw query.

    Behind a proxy or tunnel the URL the app sees (scheme, host, port) is not the one Twilio
    signed, so it is rebuilt from configuration. The query string must be the raw one from
    the request (Flask: `request.query_string`), never re-parsed, re-sorted or re-encoded:
    Twilio signed the exact characters of the URL it was given.
    """
    parts = urlsplit(public_base_url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError(f"PUBLIC_BASE_URL must be an http(s) URL, not {public_base_url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"PUBLIC_BASE_URL must not have a query or fragment: {public_base_url}")
    if isinstance(query_string, bytes):
        # Twilio sends the query exactly as written in our TwiML: percent-encoded ASCII. Bytes
        # that are not valid UTF-8 cannot match what Twilio signed; decoding them as
        # replacement characters makes the check fail, which is the safe outcome.
        query_string = query_string.decode("utf-8", errors="replace")
    url = public_base_url.rstrip("/") + "/" + path.lstrip("/")
    if query_string:
        url = f"{url}?{query_string}"
    return url


def is_valid_signature(
    auth_token: str,
    url: str,
    params: Mapping[str, str],
    signature: str | None,
) -> bool:
    """True if `signature` is Twilio's signature of `url` and the form `params` under `auth_token`.

    `params` is the POSTed form as received. A multi-valued mapping (werkzeug's MultiDict, as
    Flask's `request.form`) has every value of a repeated field checked, as Twilio signs them.
    A missing or empty signature, or an empty auth token, is never valid. The URL is tried
    with and without the scheme's default port, as Twilio's own validator does.
    """
    if not signature or not auth_token:
        return False
    validator = RequestValidator(auth_token)
    # The URL exactly as given first (one HMAC, the usual case); then Twilio's own check,
    # which tries it with and without the default port.
    expected = str(validator.compute_signature(url, params)).encode()
    if hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
        return True
    return bool(validator.validate(url, params, signature))


def sign(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """Twilio's signature of a request to `url` with form `params`, for the simulator and tests."""
    if not auth_token:
        raise ValueError("cannot sign with an empty auth token")
    validator = RequestValidator(auth_token)
    return str(validator.compute_signature(url, params))
