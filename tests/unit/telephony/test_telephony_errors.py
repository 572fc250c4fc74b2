"""Which provider failures are retried (transient) and which fail a delivery at once (permanent)."""

from __future__ import annotations

import pytest

from crisisline.telephony import (
    PermanentTelephonyError,
    TelephonyError,
    TransientTelephonyError,
    describe_error_code,
    is_transient_error_code,
    provider_error,
    redact_numbers,
)


@pytest.mark.parametrize(
    "code",
    [
        21211,  # invalid To
        21610,  # recipient replied STOP
        21614,  # not a mobile
        21408,  # region not enabled
        21612,  # To cannot receive from this From
        21606,  # From cannot send SMS
        20003,  # bad credentials
    ],
)
def test_refusal_codes_on_a_400_are_permanent_with_the_twilio_code_kept(code: int) -> None:
    error = provider_error(code=code, http_status=400, detail="refused")

    assert isinstance(error, PermanentTelephonyError)
    assert error.transient is False
    assert error.code == code
    assert error.http_status == 400


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_without_a_code_are_transient(status: int) -> None:
    error = provider_error(code=None, http_status=status)

    assert isinstance(error, TransientTelephonyError)
    assert error.transient is True
    assert error.code is None
    assert error.http_status == status


def test_rate_limiting_429_is_transient_and_keeps_its_code() -> None:
    error = provider_error(code=20429, http_status=429)

    assert isinstance(error, TransientTelephonyError)
    assert error.code == 20429


def test_a_server_error_is_transient_even_when_it_carries_a_permanent_looking_code() -> None:
    # A 5xx means Twilio failed before judging the request, whatever code came with it.
    assert provider_error(code=21211, http_status=503).transient is True


def test_a_full_sending_queue_21611_is_transient_although_it_arrives_as_a_400() -> None:
    assert isinstance(provider_error(code=21611, http_status=400), TransientTelephonyError)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_any_other_4xx_with_an_unknown_code_is_permanent(status: int) -> None:
    assert isinstance(provider_error(code=29999, http_status=status), PermanentTelephonyError)
    assert isinstance(provider_error(code=None, http_status=status), PermanentTelephonyError)


def test_408_request_timeout_is_transient() -> None:
    assert provider_error(code=None, http_status=408).transient is True


def test_no_http_reply_at_all_is_transient() -> None:
    assert isinstance(provider_error(code=None, http_status=None), TransientTelephonyError)


@pytest.mark.parametrize(
    ("code", "transient"),
    [
        (30001, True),  # queue overflow
        (30003, True),  # handset off: a later message may arrive
        (30008, True),  # unknown: Twilio advises retrying
        (30004, False),  # blocked
        (30005, False),  # number does not exist
        (30006, False),  # landline
        (30007, False),  # carrier filtered
    ],
)
def test_delivery_failure_codes_from_status_callbacks_are_classified(
    code: int, transient: bool
) -> None:
    assert is_transient_error_code(code) is transient
    assert describe_error_code(code)


def test_an_unknown_code_has_no_classification_or_description() -> None:
    assert is_transient_error_code(12345) is None
    assert describe_error_code(12345) is None


def test_the_error_message_explains_a_known_code_in_plain_words() -> None:
    error = provider_error(code=21610, http_status=400)

    assert "21610" in str(error)
    assert "STOP" in str(error)


def test_the_error_message_never_carries_a_full_phone_number_from_twilio() -> None:
    error = provider_error(
        code=29999,
        http_status=400,
        detail="The 'To' number +447700900123 is not reachable from +44 7700 900456",
    )

    message = str(error)
    assert "447700900123" not in message
    assert "7700 900456" not in message
    assert "***123" in message
    assert "***456" in message


def test_redact_numbers_leaves_short_numbers_such_as_error_codes_alone() -> None:
    assert redact_numbers("error 21211 on +447700900999") == "error 21211 on ***999"


def test_both_error_kinds_are_telephony_errors_with_the_flag_matching_the_class() -> None:
    transient = TransientTelephonyError("x", code=20500, http_status=500)
    permanent = PermanentTelephonyError("y", code=21211, http_status=400)

    assert isinstance(transient, TelephonyError)
    assert isinstance(permanent, TelephonyError)
    assert (transient.transient, permanent.transient) == (True, False)
    assert "code=20500" in repr(transient)
