"""The fake adapter for unit tests: records every delivery and fails on request."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from crisisline.telephony.errors import TelephonyError, provider_error
from crisisline.telephony.port import (
    DEFAULT_CALL_TIMEOUT_SECONDS,
    ProviderReceipt,
    check_call,
    check_recording,
    check_recording_size,
    check_sms,
)


@dataclass(frozen=True, slots=True)
class SentMessage:
    """An SMS the fake accepted (or, in `failed_attempts`, refused)."""

    to: str
    from_: str
    body: str
    status_callback: str | None
    sid: str | None


@dataclass(frozen=True, slots=True)
class PlacedCall:
    """A call the fake accepted (or, in `failed_attempts`, refused)."""

    to: str
    from_: str
    twiml_url: str
    status_callback: str | None
    timeout_seconds: int
    sid: str | None


class FakeTelephony:
    """Telephony for unit tests: nothing is sent; deliveries are recorded in order.

    `sent_messages` and `placed_calls` hold accepted deliveries; `failed_attempts` holds the
    ones refused because of `fail_next`. SIDs are predictable (`SMfake0000...0001`), and
    arguments are checked exactly as the Twilio adapter checks them. `recordings` holds the
    audio `fetch_recording` gives for each recording URL (any other is not found, as Twilio
    answers); `fetched_recordings` the URLs asked for, in order. `delete_recording` removes a
    recording from `recordings` and lists its URL in `deleted_recordings` (a recording it does
    not hold is already gone, as Twilio's 404 is taken); `fail_next_deletions` makes the next
    deletions raise instead, and `deletion_attempts` lists every URL asked, failed or not.
    """

    status = "queued"

    def __init__(self) -> None:
        self.sent_messages: list[SentMessage] = []
        self.placed_calls: list[PlacedCall] = []
        self.failed_attempts: list[SentMessage | PlacedCall] = []
        self.recordings: dict[str, bytes] = {}
        self.fetched_recordings: list[str] = []
        self.deleted_recordings: list[str] = []
        self.deletion_attempts: list[str] = []
        self._deletion_failures: list[TelephonyError] = []
        self._failures: list[TelephonyError] = []
        self._counter = 0
        self._lock = threading.Lock()

    def fail_next(self, error: TelephonyError, times: int = 1) -> None:
        """Make the next `times` deliveries (SMS or call, in order) raise `error`."""
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._failures.extend([error] * times)

    def fail_next_deletions(self, error: TelephonyError, times: int = 1) -> None:
        """Make the next `times` recording deletions raise `error` (the recording stays)."""
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._deletion_failures.extend([error] * times)

    def messages_to(self, number: str) -> list[SentMessage]:
        """The accepted SMS sent to `number`, oldest first."""
        return [message for message in self.sent_messages if message.to == number]

    def calls_to(self, number: str) -> list[PlacedCall]:
        """The accepted calls placed to `number`, oldest first."""
        return [call for call in self.placed_calls if call.to == number]

    def send_sms(
        self, to: str, from_: str, body: str, status_callback: str | None
    ) -> ProviderReceipt:
        """Record the SMS, or raise the next queued failure."""
        check_sms(to, from_, body)
        with self._lock:
            failure = self._pop_failure()
            if failure is not None:
                self.failed_attempts.append(SentMessage(to, from_, body, status_callback, None))
                raise failure
            sid = self._next_sid("SM")
            self.sent_messages.append(SentMessage(to, from_, body, status_callback, sid))
        return ProviderReceipt(sid=sid, status=self.status)

    def place_call(
        self,
        to: str,
        from_: str,
        twiml_url: str,
        status_callback: str | None,
        timeout_seconds: int = DEFAULT_CALL_TIMEOUT_SECONDS,
    ) -> ProviderReceipt:
        """Record the call, or raise the next queued failure."""
        check_call(to, from_, twiml_url, timeout_seconds)
        with self._lock:
            failure = self._pop_failure()
            if failure is not None:
                self.failed_attempts.append(
                    PlacedCall(to, from_, twiml_url, status_callback, timeout_seconds, None)
                )
                raise failure
            sid = self._next_sid("CA")
            self.placed_calls.append(
                PlacedCall(to, from_, twiml_url, status_callback, timeout_seconds, sid)
            )
        return ProviderReceipt(sid=sid, status=self.status)

    def fetch_recording(
        self, recording_url: str, *, max_bytes: int, deadline_seconds: float
    ) -> bytes:
        """The audio in `recordings` for `recording_url`; not found (HTTP 404) for any other."""
        with self._lock:
            self.fetched_recordings.append(recording_url)
            audio = self.recordings.get(recording_url)
        if audio is None:
            raise provider_error(code=20404, http_status=404)
        check_recording_size(len(audio), max_bytes)
        return audio

    def delete_recording(self, recording_url: str) -> None:
        """Forget the recording, or raise the next queued deletion failure."""
        check_recording(recording_url)
        with self._lock:
            self.deletion_attempts.append(recording_url)
            if self._deletion_failures:
                raise self._deletion_failures.pop(0)
            self.recordings.pop(recording_url, None)
            self.deleted_recordings.append(recording_url)

    def _pop_failure(self) -> TelephonyError | None:
        return self._failures.pop(0) if self._failures else None

    def _next_sid(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}fake{self._counter:028d}"
