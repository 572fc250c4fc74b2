"""The console adapter: for local runs, every delivery is printed and nothing leaves the machine."""

from __future__ import annotations

import logging
import threading
import uuid
from typing import TextIO

from crisisline.telephony.errors import PermanentTelephonyError
from crisisline.telephony.port import (
    DEFAULT_CALL_TIMEOUT_SECONDS,
    ProviderReceipt,
    check_call,
    check_recording,
    check_sms,
    masked_recording,
)
from wording.sms import segment_count, sms_encoding

log = logging.getLogger(__name__)

# Nobody will ever report progress on a console delivery, so it is reported as far as it can
# honestly go: handed over.
CONSOLE_STATUS = "sent"


class ConsoleTelephony:
    """Prints each SMS and call to `out` (the developer's own terminal) instead of sending it.

    It writes only to the stream it is given, so message bodies stay out of log files; the
    one thing it also logs is a recording's deletion, named by its SID's last four characters.
    Arguments are checked exactly as the Twilio adapter checks them.
    """

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._lock = threading.Lock()

    def send_sms(
        self, to: str, from_: str, body: str, status_callback: str | None
    ) -> ProviderReceipt:
        """Print the SMS and return a console receipt."""
        check_sms(to, from_, body)
        sid = _console_sid("SM")
        segments = segment_count(body)
        plural = "" if segments == 1 else "s"
        indented = body.replace("\n", "\n    ")
        self._write(
            f"[console telephony] SMS {sid} to {to} from {from_} "
            f"({segments} {sms_encoding(body)} segment{plural}):\n    {indented}\n"
        )
        return ProviderReceipt(sid=sid, status=CONSOLE_STATUS)

    def place_call(
        self,
        to: str,
        from_: str,
        twiml_url: str,
        status_callback: str | None,
        timeout_seconds: int = DEFAULT_CALL_TIMEOUT_SECONDS,
    ) -> ProviderReceipt:
        """Print the call and return a console receipt; no TwiML is fetched."""
        check_call(to, from_, twiml_url, timeout_seconds)
        sid = _console_sid("CA")
        self._write(
            f"[console telephony] CALL {sid} to {to} from {from_}, ringing up to "
            f"{timeout_seconds} s; TwiML at {twiml_url}\n"
        )
        return ProviderReceipt(sid=sid, status=CONSOLE_STATUS)

    def fetch_recording(
        self, recording_url: str, *, max_bytes: int, deadline_seconds: float
    ) -> bytes:
        """Refuse: nothing was recorded, since no call ever left the machine."""
        raise PermanentTelephonyError(
            "console telephony has no recordings: they are fetched only with TELEPHONY=twilio"
        )

    def delete_recording(self, recording_url: str) -> None:
        """Report the deletion as done: no call left the machine, so nothing was recorded at
        a provider. Names the recording by the last four characters of its SID only."""
        check_recording(recording_url)
        masked = masked_recording(recording_url)
        log.info("console telephony: %s deleted (nothing was held at a provider)", masked)
        self._write(f"[console telephony] DELETE {masked}: nothing is held at a provider\n")

    def _write(self, text: str) -> None:
        # One write per delivery, so lines from the web and scheduler threads never interleave.
        with self._lock:
            self._out.write(text)
            self._out.flush()


def _console_sid(prefix: str) -> str:
    # Same length as a Twilio SID (two letters and 32 characters), so it fits wherever one does.
    return f"{prefix}console{uuid.uuid4().hex[:25]}"
