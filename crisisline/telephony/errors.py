"""Telephony errors, and the one table that says which provider failures are worth retrying."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from crisisline.phones import redact


class TelephonyError(Exception):
    """A delivery the provider did not accept; `transient` says whether trying again may work.

    `code` is the provider's own error code (Twilio's five-digit codes) when it gave one,
    `http_status` the HTTP status of its reply (None when no reply came). The message never
    contains a full phone number or a message body, so it is safe to log.
    """

    transient: bool = True

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, code={self.code!r}, "
            f"http_status={self.http_status!r})"
        )


class TransientTelephonyError(TelephonyError):
    """The provider or the network failed; the same delivery may succeed if tried again later."""

    transient = True


class PermanentTelephonyError(TelephonyError):
    """The provider refused this delivery; sending it again unchanged will fail the same way."""

    transient = False


@dataclass(frozen=True, slots=True)
class _Code:
    transient: bool
    meaning: str


def _transient(meaning: str) -> _Code:
    return _Code(transient=True, meaning=meaning)


def _permanent(meaning: str) -> _Code:
    return _Code(transient=False, meaning=meaning)


# Twilio error codes (twilio.com/docs/api/errors). This table is the only place that decides
# whether a coded failure is retried. The outbox retries transient failures with backoff up to
# a limit and fails permanent ones at once, so "permanent" must mean "retrying the same
# request cannot help", and anything we are unsure of leans transient: a retry that fails
# again costs a little time, while a delivery failed too early is a message nobody receives.
# Codes 3xxxx arrive in status callbacks (ErrorCode) rather than REST replies; the outbox can
# use is_transient_error_code() on them.
_TWILIO_CODES: Final[dict[int, _Code]] = {
    # REST API: account and request faults. Configuration errors, not recipient errors: they
    # need a person to fix settings, so they fail at once (and should alert) instead of retrying.
    20003: _permanent("authentication failed: check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"),
    20404: _permanent("resource not found: the account SID is probably wrong"),
    20429: _transient("too many requests: Twilio is rate limiting this account"),
    20500: _transient("Twilio internal server error"),
    20503: _transient("Twilio service unavailable"),
    21205: _permanent("the call's TwiML URL is not a valid URL"),
    21212: _permanent("the 'From' number is not a valid phone number or sender ID"),
    21606: _permanent("the 'From' number cannot send SMS (not an SMS-capable Twilio number)"),
    21609: _permanent("the StatusCallback URL is not valid"),
    # Recipient faults: this number can never receive this delivery as it stands.
    21211: _permanent("the 'To' number is not a valid phone number"),
    21214: _permanent("the 'To' number cannot be reached by a call"),
    21215: _permanent("calls to this country or number type are not enabled (geo permissions)"),
    21216: _permanent("this account may not call that number (blocked or premium)"),
    21217: _permanent("the 'To' number does not appear to be valid for calls"),
    21219: _permanent("the 'To' number is not verified (trial account)"),
    21408: _permanent("SMS to this region is not enabled (geo permissions)"),
    21608: _permanent("the 'To' number is not verified (trial account)"),
    21610: _permanent("the recipient has replied STOP: Twilio blocks SMS until they send START"),
    21612: _permanent("the 'To' number cannot receive SMS from this 'From' number"),
    21614: _permanent("the 'To' number is not a mobile number that can receive SMS"),
    21617: _permanent("the message body is longer than Twilio's 1600-character limit"),
    21602: _permanent("the message body is empty"),
    # A full queue on the sending number drains by itself: wait, then try again.
    21611: _transient("the 'From' number has too many messages queued"),
    14107: _transient("SMS send rate limit exceeded"),
    # Delivery failures reported in status callbacks (ErrorCode on failed/undelivered).
    30001: _transient("queue overflow: too many messages queued at once"),
    30002: _permanent("the Twilio account is suspended"),
    # The handset is off or out of coverage. Twilio has already waited its validity period,
    # but a fresh message later may well arrive; escalation must not wait on it either way.
    30003: _transient("the handset is unreachable (switched off or out of coverage)"),
    30004: _permanent("the message was blocked (by the recipient or their carrier)"),
    30005: _permanent("unknown handset: the number does not exist or is no longer in service"),
    30006: _permanent("landline or unreachable carrier: the number cannot receive SMS"),
    # Carrier filtering: sending the same text again is filtered again.
    30007: _permanent("the carrier filtered the message"),
    # Twilio's own advice for 30008 is to try again.
    30008: _transient("unknown delivery error"),
    30009: _transient("a segment of a multi-part message went missing"),
    30010: _permanent("the message price exceeds the configured maximum price"),
}


def is_transient_error_code(code: int) -> bool | None:
    """Whether a Twilio error code is worth retrying; None for a code this table does not know."""
    entry = _TWILIO_CODES.get(code)
    return None if entry is None else entry.transient


def describe_error_code(code: int) -> str | None:
    """A short explanation of a Twilio error code for staff and logs; None if unknown."""
    entry = _TWILIO_CODES.get(code)
    return None if entry is None else entry.meaning


def provider_error(
    *,
    code: int | None,
    http_status: int | None,
    detail: str = "",
) -> TelephonyError:
    """Build the right TelephonyError for a provider failure from its code and HTTP status.

    The HTTP status wins when it says the provider itself failed (5xx, 429, 408): then we
    cannot know the request was judged at all. Otherwise a known code decides, and any other
    4xx is permanent. No status at all (no reply) is transient.
    """
    transient = _is_transient(code, http_status)
    meaning = describe_error_code(code) if code is not None else None
    parts = ["Twilio"]
    if code is not None:
        parts.append(f"error {code}")
    if http_status is not None:
        parts.append(f"(HTTP {http_status})")
    message = " ".join(parts)
    explanation = meaning or redact_numbers(detail)
    if explanation:
        message = f"{message}: {explanation}"
    error_class = TransientTelephonyError if transient else PermanentTelephonyError
    return error_class(message, code=code, http_status=http_status)


def _is_transient(code: int | None, http_status: int | None) -> bool:
    if http_status is None:
        return True
    if http_status >= 500 or http_status in (408, 429):
        return True
    if code is not None:
        known = is_transient_error_code(code)
        if known is not None:
            return known
    # Any other 4xx is a refusal. A 1xx/2xx/3xx that still ended up here is a reply we do not
    # understand: the message may or may not have gone, and a duplicate is preferred to a loss.
    return not 400 <= http_status < 500


# Anything that looks like a phone number: a run of seven or more digits, allowing the
# spaces, dashes and brackets people and providers put in them.
_PHONE_LIKE = re.compile(r"\+?\d[\d\s().-]{5,}\d")


def redact_numbers(text: str) -> str:
    """`text` with every phone-number-like run reduced to its last three digits."""
    return _PHONE_LIKE.sub(lambda match: redact(match.group(0)), text)
