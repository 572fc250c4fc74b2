"""The telephony port: how the service sends an SMS, places a call, or fetches or deletes a
call's recording, whoever carries it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Protocol
from urllib.parse import urlsplit

from crisisline.telephony.errors import PermanentTelephonyError

# Twilio's own default is 60 s, long enough for most voicemail to pick up first. Forwarded
# calls are screened by a keypress anyway, but a shorter ring hands on to the next person in
# the escalation sooner.
DEFAULT_CALL_TIMEOUT_SECONDS: Final = 30

# The call progress events we ask Twilio to report on every outbound call.
CALL_STATUS_CALLBACK_EVENTS: Final = ("initiated", "ringing", "answered", "completed")

# Twilio refuses longer bodies with error 21617; every adapter refuses them the same way so
# that a fake or console run never hides a text that production would reject.
MAX_SMS_BODY_CHARACTERS: Final = 1600


@dataclass(frozen=True, slots=True)
class ProviderReceipt:
    """What the provider said when it accepted a delivery: its SID and its status word."""

    sid: str
    status: str


class Telephony(Protocol):
    """Sends SMS, places calls, and fetches and deletes the recordings of calls (a caller's
    voicemail).

    Implementations: `TwilioTelephony` (real REST calls), `ConsoleTelephony` (local runs; nothing
    leaves the machine) and `FakeTelephony` (unit tests). All three check their arguments the
    same way, so a fake never accepts what Twilio would refuse.

    Numbers are E.164 (`+447700900123`). `status_callback` is the absolute URL the provider
    posts delivery or call progress to; None asks for no callbacks.

    A returned `ProviderReceipt` means the provider accepted the request, not that the phone
    received anything: delivery is reported later through the status callback.

    A recording is fetched or deleted only at the provider itself: a recording URL anywhere
    else is refused before any request, so the account's credentials go nowhere else.

    Raises:
        PermanentTelephonyError: the provider refused this delivery and sending it again
            unchanged cannot succeed (invalid or unsubscribed number, number not able to take
            SMS, missing permission, bad credentials, body too long, any other 4xx reply).
            Twilio's error code is kept in `code`, the HTTP status in `http_status`.
        TransientTelephonyError: the provider or the network failed (HTTP 5xx or 429,
            timeout, connection refused or reset) and the same delivery may succeed later.
            After a timeout the provider may still have accepted the request, so a retry can
            send a duplicate; for a crisis line a duplicate is preferred to a lost message.

    Nothing else is raised for a provider failure.
    """

    def send_sms(
        self, to: str, from_: str, body: str, status_callback: str | None
    ) -> ProviderReceipt:
        """Send `body` as an SMS from `from_` to `to`."""
        ...

    def place_call(
        self,
        to: str,
        from_: str,
        twiml_url: str,
        status_callback: str | None,
        timeout_seconds: int = DEFAULT_CALL_TIMEOUT_SECONDS,
    ) -> ProviderReceipt:
        """Call `to` from `from_`; when answered, the provider fetches TwiML from `twiml_url`."""
        ...

    def fetch_recording(
        self, recording_url: str, *, max_bytes: int, deadline_seconds: float
    ) -> bytes:
        """The MP3 audio of the recording at `recording_url` (a call's RecordingUrl).

        A recording larger than `max_bytes` is refused (PermanentTelephonyError), and one not
        had in full within `deadline_seconds` is given up (TransientTelephonyError).
        """
        ...

    def delete_recording(self, recording_url: str) -> None:
        """Delete the recording at `recording_url` (a call's RecordingUrl) at the provider.

        Returns only when the provider confirmed the deletion or said it has no such
        recording (already deleted): either way it is gone. A provider that failed or did not
        answer raises TransientTelephonyError; one that refused (bad credentials, a recording
        of another account, any other 4xx) PermanentTelephonyError. After either the
        recording may still exist, so the caller keeps its reference and tries again later.
        """
        ...


_E164 = re.compile(r"\+[1-9]\d{6,14}")


def check_sms(to: str, from_: str, body: str) -> None:
    """Refuse, as Twilio would, an SMS that can never be sent."""
    _check_to(to)
    _check_from(from_)
    if not body:
        raise PermanentTelephonyError("the message body is empty", code=21602)
    if len(body) > MAX_SMS_BODY_CHARACTERS:
        raise PermanentTelephonyError(
            f"the message body has {len(body)} characters; the limit is {MAX_SMS_BODY_CHARACTERS}",
            code=21617,
        )


def check_call(to: str, from_: str, twiml_url: str, timeout_seconds: int) -> None:
    """Refuse, as Twilio would, a call that can never be placed."""
    _check_to(to)
    _check_from(from_)
    if not twiml_url.startswith(("https://", "http://")):
        raise PermanentTelephonyError("the call's TwiML URL is not an absolute URL", code=21205)
    # Twilio accepts 5 to 600 seconds and silently clamps anything else; a value outside that
    # range is a bug in the caller, not something to send.
    if not 5 <= timeout_seconds <= 600:
        raise ValueError(f"timeout_seconds must be between 5 and 600, not {timeout_seconds}")


def check_recording_size(size: int, max_bytes: int) -> None:
    """Refuse a recording larger than the caller of fetch_recording can take."""
    if size > max_bytes:
        raise PermanentTelephonyError(f"the recording is larger than {max_bytes} bytes")


# A Twilio recording SID: RE and 32 hexadecimal characters.
_RECORDING_SID = re.compile(r"RE[0-9a-fA-F]{32}")


def recording_sid(recording_url: str) -> str | None:
    """The recording SID at the end of a recording URL (`.../Recordings/RE...`, with or without
    `.json`, `.mp3` or `.wav`); None when the URL names no recording."""
    path = urlsplit(recording_url).path
    head, separator, last = path.rpartition("/Recordings/")
    if not separator or not head:
        return None
    sid = last.removesuffix(".json").removesuffix(".mp3").removesuffix(".wav")
    return sid if _RECORDING_SID.fullmatch(sid) else None


def check_recording(recording_url: str) -> str:
    """The SID of the recording `recording_url` names; PermanentTelephonyError when it names
    none (nothing can be deleted or fetched through it)."""
    sid = recording_sid(recording_url)
    if sid is None:
        raise PermanentTelephonyError("the recording URL does not name a recording")
    return sid


def masked_recording(recording_url: str) -> str:
    """A recording as logs and consoles may name it: the last four characters of its SID only
    (the URL carries the account SID, and with HTTP auth off it plays to anyone)."""
    sid = recording_sid(recording_url)
    return f"recording ...{sid[-4:]}" if sid is not None else "a recording"


def _check_to(to: str) -> None:
    if not _E164.fullmatch(to):
        raise PermanentTelephonyError(
            "the 'To' number is not in E.164 form (+447700900123)", code=21211
        )


def _check_from(from_: str) -> None:
    if not from_:
        raise PermanentTelephonyError("the 'From' number is empty", code=21212)
