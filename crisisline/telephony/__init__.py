"""Telephony: the port through which the service sends SMS, places calls, and fetches and
deletes a call's recording, and its adapters.

Use `Telephony` as the type, and build one of `TwilioTelephony`, `ConsoleTelephony` or
`FakeTelephony` in the composition root. Also here: Twilio signature checking for webhooks
and GSM-7 text handling for the texts the service writes.
"""

from typing import TYPE_CHECKING

from crisisline.telephony.console import ConsoleTelephony
from crisisline.telephony.errors import (
    PermanentTelephonyError,
    TelephonyError,
    TransientTelephonyError,
    describe_error_code,
    is_transient_error_code,
    provider_error,
    redact_numbers,
)
from crisisline.telephony.fake import FakeTelephony, PlacedCall, SentMessage
from crisisline.telephony.port import (
    CALL_STATUS_CALLBACK_EVENTS,
    DEFAULT_CALL_TIMEOUT_SECONDS,
    MAX_SMS_BODY_CHARACTERS,
    ProviderReceipt,
    Telephony,
    masked_recording,
    recording_sid,
)
from crisisline.telephony.signatures import (
    SIGNATURE_HEADER,
    is_valid_signature,
    public_url,
    sign,
)
from crisisline.telephony.twilio_rest import DEFAULT_API_BASE_URL, TwilioTelephony

__all__ = [
    "CALL_STATUS_CALLBACK_EVENTS",
    "DEFAULT_API_BASE_URL",
    "DEFAULT_CALL_TIMEOUT_SECONDS",
    "MAX_SMS_BODY_CHARACTERS",
    "SIGNATURE_HEADER",
    "ConsoleTelephony",
    "FakeTelephony",
    "PermanentTelephonyError",
    "PlacedCall",
    "ProviderReceipt",
    "SentMessage",
    "Telephony",
    "TelephonyError",
    "TransientTelephonyError",
    "TwilioTelephony",
    "describe_error_code",
    "is_transient_error_code",
    "is_valid_signature",
    "masked_recording",
    "provider_error",
    "public_url",
    "recording_sid",
    "redact_numbers",
    "sign",
]

if TYPE_CHECKING:
    # mypy proves here that every adapter satisfies the port.
    _ADAPTERS: tuple[type[Telephony], ...] = (TwilioTelephony, ConsoleTelephony, FakeTelephony)
