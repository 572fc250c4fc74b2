"""Twilio request signatures: published vectors, realistic webhooks, forgeries and proxies."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from werkzeug.datastructures import MultiDict

from crisisline.telephony import is_valid_signature, public_url, sign

# The vectors published in twilio-python's tests/unit/test_request_validator.py. Their
# numbers are Twilio's own fixtures, used only as bytes to sign; nothing is ever dialled.
VECTOR_TOKEN = "12345"
VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}
VECTOR_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
VECTOR_SIGNATURE_HTTP_PORT_80 = "0ZXoZLH/DfblKGATFgpif+LLRf4="
VECTOR_SIGNATURE_HTTPS_PORT_443 = "kvajT1Ptam85bY51eRf/AJRuM3w="
VECTOR_SIGNATURE_DUPLICATE_KEYS = "IK+Dwps556ElfBT0I3Rgjkr1wJU="

AUTH_TOKEN = "f3c1e0d2b4a5968778695a4b3c2d1e0f"
PUBLIC_BASE = "https://crisis.example.org"
CRISIS_LINE = "+447700900001"
PARTICIPANT = "+447700900321"  # Dean Hollis, a participant
ON_CALL_WORKER = "+447700900123"

# A complete inbound voice webhook as Twilio posts it for a call to the crisis line.
VOICE_PARAMS = {
    "AccountSid": "AC0123456789abcdef0123456789abcdef",
    "ApiVersion": "2010-04-01",
    "CallSid": "CA5f1e2d3c4b5a69788796a5b4c3d2e1f0",
    "CallStatus": "ringing",
    "CallToken": "%7B%22parentCallInfoToken%22%3A%22eyJhbGciOiJFUzI1NiJ9%22%7D",
    "Called": CRISIS_LINE,
    "CalledCity": "",
    "CalledCountry": "GB",
    "CalledState": "",
    "CalledZip": "",
    "Caller": PARTICIPANT,
    "CallerCity": "",
    "CallerCountry": "GB",
    "CallerState": "",
    "CallerZip": "",
    "Direction": "inbound",
    "From": PARTICIPANT,
    "FromCity": "",
    "FromCountry": "GB",
    "FromState": "",
    "FromZip": "",
    "StirVerstat": "TN-Validation-Passed-A",
    "To": CRISIS_LINE,
    "ToCity": "",
    "ToCountry": "GB",
    "ToState": "",
    "ToZip": "",
}

# A complete inbound SMS webhook, with the curly apostrophe and emoji phones really send.
SMS_PARAMS = {
    "ToCountry": "GB",
    "ToState": "",
    "SmsMessageSid": "SM0e1d2c3b4a5968778695a4b3c2d1e0f9",
    "NumMedia": "0",
    "ToCity": "",
    "FromZip": "",
    "SmsSid": "SM0e1d2c3b4a5968778695a4b3c2d1e0f9",
    "FromState": "",
    "SmsStatus": "received",
    "FromCity": "",
    "Body": "I can\u2019t do this tonight \U0001f614 please call me",
    "FromCountry": "GB",
    "To": CRISIS_LINE,
    "MessagingServiceSid": "MG00112233445566778899aabbccddeeff",
    "ToZip": "",
    "NumSegments": "1",
    "MessageSid": "SM0e1d2c3b4a5968778695a4b3c2d1e0f9",
    "AccountSid": "AC0123456789abcdef0123456789abcdef",
    "From": PARTICIPANT,
    "ApiVersion": "2010-04-01",
}


def reference_signature(token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's documented algorithm, written out independently of twilio-python."""
    payload = url + "".join(key + params[key] for key in sorted(params))
    digest = hmac.new(token.encode(), payload.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


# Published vectors


def test_sign_reproduces_twilios_published_vector() -> None:
    assert sign(VECTOR_TOKEN, VECTOR_URL, VECTOR_PARAMS) == VECTOR_SIGNATURE


def test_the_published_vector_validates() -> None:
    assert is_valid_signature(VECTOR_TOKEN, VECTOR_URL, VECTOR_PARAMS, VECTOR_SIGNATURE)


def test_a_signature_made_with_explicit_http_port_80_validates_against_the_url_without_it() -> None:
    with_port = "http://mycompany.com:80/myapp.php?foo=1&bar=2"
    without_port = "http://mycompany.com/myapp.php?foo=1&bar=2"

    assert sign(VECTOR_TOKEN, with_port, VECTOR_PARAMS) == VECTOR_SIGNATURE_HTTP_PORT_80
    assert is_valid_signature(
        VECTOR_TOKEN, without_port, VECTOR_PARAMS, VECTOR_SIGNATURE_HTTP_PORT_80
    )


def test_a_signature_made_with_explicit_https_port_443_validates_against_the_url_without_it() -> (
    None
):
    with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2"

    assert sign(VECTOR_TOKEN, with_port, VECTOR_PARAMS) == VECTOR_SIGNATURE_HTTPS_PORT_443
    assert is_valid_signature(
        VECTOR_TOKEN, VECTOR_URL, VECTOR_PARAMS, VECTOR_SIGNATURE_HTTPS_PORT_443
    )


def test_a_signature_made_without_a_port_validates_against_the_url_with_the_default_port() -> None:
    assert is_valid_signature(
        VECTOR_TOKEN,
        "https://mycompany.com:443/myapp.php?foo=1&bar=2",
        VECTOR_PARAMS,
        VECTOR_SIGNATURE,
    )


def test_repeated_form_fields_in_a_multidict_are_all_signed_sorted_and_deduplicated() -> None:
    form = MultiDict(
        [
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]
    )

    assert sign(VECTOR_TOKEN, VECTOR_URL, form) == VECTOR_SIGNATURE_DUPLICATE_KEYS
    assert is_valid_signature(VECTOR_TOKEN, VECTOR_URL, form, VECTOR_SIGNATURE_DUPLICATE_KEYS)


# Forgeries


@pytest.mark.parametrize(
    "signature",
    # Non-ASCII: compared as bytes, so a strange header is refused, never an error (a 500).
    [None, "", "RSOYDt4T1cUTdK1PDd93/VVr8B8", "x" * 28, "é" * 28, "\ud800" * 28],
)
def test_a_missing_empty_or_forged_signature_is_rejected(signature: str | None) -> None:
    assert not is_valid_signature(VECTOR_TOKEN, VECTOR_URL, VECTOR_PARAMS, signature)


def test_a_replay_with_one_changed_parameter_is_rejected() -> None:
    assert not is_valid_signature(
        VECTOR_TOKEN, VECTOR_URL, {**VECTOR_PARAMS, "Digits": "9999"}, VECTOR_SIGNATURE
    )


def test_a_replay_with_an_added_parameter_is_rejected() -> None:
    assert not is_valid_signature(
        VECTOR_TOKEN, VECTOR_URL, {**VECTOR_PARAMS, "CallStatus": "completed"}, VECTOR_SIGNATURE
    )


def test_a_replay_with_a_dropped_parameter_is_rejected() -> None:
    params = {key: value for key, value in VECTOR_PARAMS.items() if key != "Digits"}

    assert not is_valid_signature(VECTOR_TOKEN, VECTOR_URL, params, VECTOR_SIGNATURE)


def test_a_replay_to_another_url_or_query_is_rejected() -> None:
    assert not is_valid_signature(
        VECTOR_TOKEN, VECTOR_URL.replace("foo=1", "foo=2"), VECTOR_PARAMS, VECTOR_SIGNATURE
    )
    assert not is_valid_signature(
        VECTOR_TOKEN, "https://mycompany.com/myapp.php", VECTOR_PARAMS, VECTOR_SIGNATURE
    )


def test_a_signature_made_with_another_auth_token_is_rejected() -> None:
    assert not is_valid_signature("54321", VECTOR_URL, VECTOR_PARAMS, VECTOR_SIGNATURE)


def test_an_empty_auth_token_never_validates_even_its_own_signature() -> None:
    own = reference_signature("", VECTOR_URL, VECTOR_PARAMS)

    assert not is_valid_signature("", VECTOR_URL, VECTOR_PARAMS, own)
    with pytest.raises(ValueError, match="empty auth token"):
        sign("", VECTOR_URL, VECTOR_PARAMS)


# Realistic webhooks


def test_a_complete_voice_webhook_signed_by_twilio_validates() -> None:
    url = public_url(PUBLIC_BASE, "/webhooks/voice", b"")
    signature = reference_signature(AUTH_TOKEN, url, VOICE_PARAMS)

    assert sign(AUTH_TOKEN, url, VOICE_PARAMS) == signature
    assert is_valid_signature(AUTH_TOKEN, url, MultiDict(VOICE_PARAMS), signature)


def test_a_complete_sms_webhook_with_curly_quote_and_emoji_validates() -> None:
    url = public_url(PUBLIC_BASE, "/webhooks/sms", b"")
    signature = reference_signature(AUTH_TOKEN, url, SMS_PARAMS)

    assert is_valid_signature(AUTH_TOKEN, url, MultiDict(SMS_PARAMS), signature)


def test_an_sms_webhook_replayed_with_a_changed_body_is_rejected() -> None:
    url = public_url(PUBLIC_BASE, "/webhooks/sms", b"")
    signature = reference_signature(AUTH_TOKEN, url, SMS_PARAMS)
    tampered = {**SMS_PARAMS, "Body": "I'm fine, no need to call"}

    assert not is_valid_signature(AUTH_TOKEN, url, tampered, signature)


def test_an_sms_webhook_replayed_from_another_number_is_rejected() -> None:
    url = public_url(PUBLIC_BASE, "/webhooks/sms", b"")
    signature = reference_signature(AUTH_TOKEN, url, SMS_PARAMS)

    assert not is_valid_signature(
        AUTH_TOKEN, url, {**SMS_PARAMS, "From": "+447700900999"}, signature
    )


def test_a_screening_gather_callback_with_a_query_string_validates() -> None:
    # The whisper's <Gather action="..."> carries our own query; Twilio signs it as written.
    params = {
        "AccountSid": "AC0123456789abcdef0123456789abcdef",
        "CallSid": "CA99887766554433221100ffeeddccbbaa",
        "CallStatus": "in-progress",
        "Digits": "1",
        "Direction": "outbound-api",
        "FinishedOnKey": "",
        "From": CRISIS_LINE,
        "To": ON_CALL_WORKER,
        "msg": "Gather End",
    }
    url = public_url(PUBLIC_BASE, "/webhooks/voice/screen", b"escalation=42&attempt=1")
    signature = reference_signature(AUTH_TOKEN, url, params)

    assert url == "https://crisis.example.org/webhooks/voice/screen?escalation=42&attempt=1"
    assert is_valid_signature(AUTH_TOKEN, url, params, signature)


def test_behind_a_proxy_the_url_rebuilt_from_public_base_validates_and_the_seen_url_does_not() -> (
    None
):
    # Twilio called https://crisis.example.org; TLS ended at the proxy, which forwarded to
    # the app over plain http on another host and port.
    signed_url = "https://crisis.example.org/webhooks/voice/status?delivery=17"
    signature = reference_signature(AUTH_TOKEN, signed_url, VOICE_PARAMS)
    url_seen_by_app = "http://10.0.0.5:8000/webhooks/voice/status?delivery=17"

    rebuilt = public_url(PUBLIC_BASE, "/webhooks/voice/status", b"delivery=17")

    assert not is_valid_signature(AUTH_TOKEN, url_seen_by_app, VOICE_PARAMS, signature)
    assert is_valid_signature(AUTH_TOKEN, rebuilt, VOICE_PARAMS, signature)


# Rebuilding the public URL


def test_public_url_keeps_the_raw_query_string_unsorted_and_unencoded() -> None:
    raw = b"to=%2B447700900123&b=2&a=1&note=a+b"

    url = public_url(PUBLIC_BASE, "/webhooks/voice", raw)

    assert url == "https://crisis.example.org/webhooks/voice?to=%2B447700900123&b=2&a=1&note=a+b"


def test_public_url_accepts_a_str_query_and_adds_no_question_mark_without_one() -> None:
    assert public_url(PUBLIC_BASE, "/webhooks/sms", "a=1") == f"{PUBLIC_BASE}/webhooks/sms?a=1"
    assert public_url(PUBLIC_BASE, "/webhooks/sms", "") == f"{PUBLIC_BASE}/webhooks/sms"


def test_public_url_joins_a_base_with_a_path_prefix_and_trailing_slash() -> None:
    url = public_url("https://probation.example.org/resettle/", "webhooks/voice", b"")

    assert url == "https://probation.example.org/resettle/webhooks/voice"


def test_public_url_keeps_an_explicit_port_of_a_tunnel_or_local_run() -> None:
    assert public_url("http://127.0.0.1:5000", "/webhooks/sms", b"") == (
        "http://127.0.0.1:5000/webhooks/sms"
    )


@pytest.mark.parametrize(
    "base", ["crisis.example.org", "ftp://crisis.example.org", "https://x.org/?a=1", "https://"]
)
def test_public_url_refuses_a_base_that_is_not_a_plain_http_url(base: str) -> None:
    with pytest.raises(ValueError, match="PUBLIC_BASE_URL"):
        public_url(base, "/webhooks/voice", b"")


def test_a_query_with_bytes_that_are_not_utf8_fails_validation_instead_of_crashing() -> None:
    url = public_url(PUBLIC_BASE, "/webhooks/sms", b"x=\xff")
    signature = reference_signature(AUTH_TOKEN, f"{PUBLIC_BASE}/webhooks/sms?x=%FF", SMS_PARAMS)

    assert not is_valid_signature(AUTH_TOKEN, url, SMS_PARAMS, signature)
