"""The simulated Twilio: messages, calls and recordings, fault injection, phones and pending
callbacks."""

from __future__ import annotations

import functools
import hmac
import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, Literal
from urllib.parse import urljoin

from crisisline.simulator._format import (
    country_of,
    is_alphanumeric_sender,
    is_e164,
    redact,
    require_e164,
    segments,
)
from crisisline.simulator.phone import NO_ANSWER, CallRecord, CallScript, Phone, ReceivedSMS
from crisisline.simulator.resources import (
    API_VERSION,
    Recording,
    SimulatedCall,
    SimulatedMessage,
    TwilioApiError,
    WebhookRequest,
)
from crisisline.simulator.transcript import format_call, format_transcript
from crisisline.simulator.transport import WebhookDeliveryError, WebhookTransport, signed_headers
from crisisline.simulator.twiml import TwimlError, TwimlNode, parse_twiml
from crisisline.simulator.voice import run_inbound_call, run_outbound_call

logger = logging.getLogger(__name__)

Delivery = Literal["manual", "immediate"]
# When a caller hangs up while Twilio still has a request to make for the TwiML it was following
# (a <Dial> action, a <Record> action), which reaches the service first: that request or the
# call's final status callback. Twilio does not promise an order (see Simulator).
HangUpOrder = Literal["action-first", "status-first"]
# The REST resources faults can be aimed at: "Recordings" is a recording's deletion (DELETE
# .../Recordings/RE....json); fetching its media is never failed or held.
Resource = Literal["Messages", "Calls", "Recordings"]
FailureStatus = Literal["failed", "undelivered"]

_MAX_SMS_REDIRECTS = 10

# Twilio's own handling of opt-out keywords on a long code: the whole message, trimmed and in
# any case, is the keyword. It answers with its own text and, after STOP, refuses every text
# from that number to the phone with 21610 until the phone texts START.
# (twilio.com/docs/messaging/tutorials/advanced-opt-out)
OPT_OUT_KEYWORDS: Final = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT", "CANCEL", "OPTOUT", "REVOKE"}
)
OPT_IN_KEYWORDS: Final = frozenset({"START", "UNSTOP", "YES"})
OPT_OUT_REPLY: Final = (
    "You have successfully been unsubscribed. You will not receive any more messages from "
    "this number. Reply START to resubscribe."
)
OPT_IN_REPLY: Final = (
    "You have successfully been re-subscribed to messages from this number. Reply HELP for "
    "help. Reply STOP to unsubscribe. Msg&Data Rates May Apply."
)
_CALL_EVENTS = ("initiated", "ringing", "answered", "completed")

# Messages Twilio answers with for the codes tests are most likely to inject.
_KNOWN_ERRORS: dict[int, str] = {
    21211: "The 'To' number {to} is not a valid phone number.",
    21408: "Permission to send an SMS has not been enabled for the region indicated by "
    "the 'To' number: {to}.",
    21610: "Attempt to send to unsubscribed recipient",
    21612: "The 'To' phone number: {to}, is not currently reachable using the 'From' phone "
    "number: {from_} via SMS.",
    21614: "'To' number is not a valid mobile number",
    21215: "Account not authorized to call {to}. Perhaps you need to enable some international "
    "permissions.",
    21217: "Phone number does not appear to be valid",
}
_REQUEST_FAULTS: dict[int, tuple[int, str]] = {
    429: (20429, "Too Many Requests"),
    500: (20500, "An internal server error has occurred"),
    502: (20502, "Bad Gateway"),
    503: (20503, "Service is unavailable. Please try again"),
}


def _request_error(status: int) -> TwilioApiError:
    code, message = _REQUEST_FAULTS.get(status, (20000 + status, "Simulated failure"))
    return TwilioApiError(status, code, message)


@dataclass
class NumberConfig:
    """The webhooks configured on one of the service's Twilio numbers."""

    voice_url: str | None = None
    voice_fallback_url: str | None = None
    voice_status_callback: str | None = None
    sms_url: str | None = None
    sms_fallback_url: str | None = None


@dataclass
class _RequestFault:
    status: int
    remaining: int
    resource: Resource | None


@dataclass
class _Outage:
    status: int
    until: datetime | None  # by the simulator's clock; None: until ended
    resource: Resource | None


@dataclass
class _Hang:
    seconds: float
    remaining: int | None  # None: every request (a slow provider) until cleared
    status: int | None  # answered after the hang; None: the request then goes on as usual
    resource: Resource | None
    to: str | None = None  # only requests to this number; None: any


@dataclass
class _DeliveryFault:
    status: FailureStatus
    error_code: int
    remaining: int | None


@dataclass
class _WebhookFault:
    url_contains: str
    status: int | None  # None: no answer within Twilio's 15 s (error 11205)
    remaining: int


@dataclass
class _Repeat:
    kind: str
    remaining: int


@dataclass(frozen=True)
class _Work:
    description: str
    action: Callable[[], None] = field(repr=False)


class Simulator:
    """A stand-in for Twilio: accepts REST requests, signs callbacks and plays simulated phones.

    Status callbacks and outbound calls wait in a queue until `run_pending()` (deterministic
    tests). With delivery="immediate" the queue is run as soon as the REST request that filled
    it has been answered.

    A caller who hangs up (CallScript.hang_up_after) is modelled on what Twilio does, as its
    <Dial> and <Record> pages describe and as observed: while a <Dial> rings, the legs still
    ringing are cancelled (CallStatus=canceled on their own status callbacks), the caller's
    call ends `completed` with CallDuration up to the hang-up, and Twilio still requests the
    Dial `action` URL (CallStatus=completed, DialCallStatus=`hang_up_dial_status`, by default
    "no-answer"; "canceled" is also seen) and ignores whatever TwiML comes back. A hang-up during
    <Record> still requests the Record action with the recording (Digits=hangup); a hang-up
    during <Say>, <Play>, <Pause> or while a <Gather> waits requests nothing more. Twilio does not
    promise which of the ignored action request and the final status callback arrives first;
    `hang_up_order` chooses ("action-first", the default, or "status-first") so that tests can
    cover both. (Assumption: the reference notes in the project say nothing about the order, and
    Twilio's docs only say the action is requested "when the <Dial> call ends".)

    `time_passes`, when given, is called with the seconds that go by on a caller's call (a
    message heard, a ring, a recording) before the next request about it is made, so that a
    test's fake clock can keep time with the call. Only the caller's leg keeps time; a staff
    leg's screening runs inside the caller's ring and does not move the clock by itself.
    """

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        transport: WebhookTransport,
        delivery: Delivery = "manual",
        clock: Callable[[], datetime] | None = None,
        new_sid: Callable[[str], str] | None = None,
        on_activity: Callable[[str], None] | None = None,
        hang_up_order: HangUpOrder = "action-first",
        hang_up_dial_status: str = "no-answer",
        time_passes: Callable[[float], None] | None = None,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.transport = transport
        self.delivery = delivery
        self.default_call_script: CallScript = NO_ANSWER
        self.messages: list[SimulatedMessage] = []
        self.calls: list[SimulatedCall] = []
        self.recordings: list[Recording] = []
        # The SIDs of recordings deleted through the REST API, in order (each once: a second
        # DELETE of the same SID is answered 404 like any unknown recording).
        self.deleted_recordings: list[str] = []
        self.requests: list[WebhookRequest] = []
        self.errors: list[str] = []
        self._clock = clock or (lambda: datetime.now(UTC))
        self._new_sid = new_sid or (lambda prefix: prefix + uuid.uuid4().hex)
        self._on_activity = on_activity
        self.hang_up_order: HangUpOrder = hang_up_order
        self.hang_up_dial_status = hang_up_dial_status
        self.time_passes = time_passes
        self._webhook_faults: list[_WebhookFault] = []
        self._repeats: list[_Repeat] = []
        self._phones: dict[str, Phone] = {}
        self._numbers: dict[str, NumberConfig] = {}
        self._request_faults: list[_RequestFault] = []
        self._outage: _Outage | None = None
        self._hangs: list[_Hang] = []
        # Set to let every hanging request go at once (clear_faults); replaced afterwards.
        self._release = threading.Event()
        self._recipient_faults: dict[str, tuple[int, Resource | None]] = {}
        self._delivery_faults: dict[str, _DeliveryFault] = {}
        # (phone, our number) pairs where the phone texted STOP to that number.
        self._opted_out: set[tuple[str, str]] = set()
        self._pending: deque[_Work] = deque()
        self._lock = threading.RLock()
        self._run_lock = threading.Lock()
        self._runner: int | None = None

    # Configuration

    def phone(self, number: str, label: str | None = None) -> Phone:
        """The simulated phone with this E.164 number, created on first use."""
        require_e164(number)
        with self._lock:
            phone = self._phones.get(number)
            if phone is None:
                phone = self._phones[number] = Phone(self, number, label)
            elif label and not phone.label:
                phone.label = label
            return phone

    @property
    def phones(self) -> list[Phone]:
        """Every phone that has taken part so far, in order of first use."""
        with self._lock:
            return list(self._phones.values())

    def configure_number(
        self,
        number: str,
        *,
        voice_url: str | None = None,
        voice_fallback_url: str | None = None,
        voice_status_callback: str | None = None,
        sms_url: str | None = None,
        sms_fallback_url: str | None = None,
    ) -> None:
        """Set the webhooks of one of the service's numbers, as in the Twilio console."""
        require_e164(number)
        with self._lock:
            self._numbers[number] = NumberConfig(
                voice_url, voice_fallback_url, voice_status_callback, sms_url, sms_fallback_url
            )

    def new_sid(self, prefix: str) -> str:
        """A fresh 34-character SID with this two-letter prefix (SM, CA, RE...)."""
        return self._new_sid(prefix)

    def now(self) -> datetime:
        """The simulator's clock."""
        return self._clock()

    # Fault injection

    def fail_next_requests(
        self, count: int = 1, *, status: int = 500, resource: Resource | None = None
    ) -> None:
        """Answer the next `count` REST requests (to `resource`, or any) with this HTTP status."""
        with self._lock:
            self._request_faults.append(_RequestFault(status, count, resource))

    def outage(
        self,
        *,
        status: int = 500,
        seconds: float | None = None,
        resource: Resource | None = None,
    ) -> None:
        """Answer every REST request (to `resource`, or any) with this HTTP status for
        `seconds` by the simulator's clock, or until `end_outage` or `clear_faults`."""
        with self._lock:
            until = None if seconds is None else self.now() + timedelta(seconds=seconds)
            self._outage = _Outage(status, until, resource)

    def end_outage(self) -> None:
        """The provider answers again."""
        with self._lock:
            self._outage = None

    def hang_next_requests(
        self,
        count: int = 1,
        seconds: float = 30.0,
        *,
        status: int | None = None,
        resource: Resource | None = None,
        to: str | None = None,
    ) -> None:
        """Hold each of the next `count` REST requests (to `resource`, to the number `to`, or
        any) for `seconds` of real time before answering, as a provider that stopped answering
        does (a client timeout fires first).

        After the hang the request is answered with `status` if given; otherwise it goes on
        as usual (the message is accepted although the client may have stopped waiting, the
        window in which a provider takes a request twice).
        """
        if count < 1 or seconds < 0:
            raise ValueError("count must be at least 1 and seconds not negative")
        if to is not None:
            require_e164(to)
        with self._lock:
            self._hangs.append(_Hang(seconds, count, status, resource, to))

    def slow_requests(self, seconds: float, *, resource: Resource | None = None) -> None:
        """Delay every REST request (to `resource`, or any) by `seconds` of real time, until
        `clear_faults`: a slow provider."""
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        with self._lock:
            self._hangs.append(_Hang(seconds, None, None, resource))

    def fail_next_deletions(self, count: int = 1, *, status: int = 500) -> None:
        """Answer the next `count` recording deletions with this HTTP status (Twilio's code for
        it: 20500 for 500); the recordings stay."""
        if count < 1:
            raise ValueError("count must be at least 1")
        self.fail_next_requests(count, status=status, resource="Recordings")

    def hang_next_deletions(
        self, count: int = 1, seconds: float = 30.0, *, status: int | None = None
    ) -> None:
        """Hold the next `count` recording deletions for `seconds` of real time (longer than
        the client's timeout: a provider that stopped answering), then answer `status` or,
        with none, delete the recording although the client may have stopped waiting."""
        self.hang_next_requests(count, seconds, status=status, resource="Recordings")

    def fail_recipient(
        self, number: str, code: int = 21610, *, resource: Resource | None = None
    ) -> None:
        """Refuse every request to `number` with this Twilio error code (HTTP 400)."""
        require_e164(number)
        with self._lock:
            self._recipient_faults[number] = (code, resource)

    def fail_delivery(
        self,
        number: str,
        *,
        status: FailureStatus = "undelivered",
        error_code: int = 30003,
        count: int | None = None,
    ) -> None:
        """Accept messages to `number` but end them `failed`/`undelivered` with ErrorCode.

        `count` limits it to the next so many messages; None keeps failing them.
        """
        require_e164(number)
        with self._lock:
            self._delivery_faults[number] = _DeliveryFault(status, error_code, count)

    def fail_next_webhooks(
        self, url_contains: str, count: int = 1, *, status: int | None = None
    ) -> None:
        """The service fails the next `count` webhooks whose URL contains `url_contains`.

        status=None: no answer within Twilio's 15 s (error 11205, the request is not posted);
        an HTTP status: the service answered with it (error 11200). A voice URL with a Fallback
        URL configured then has its fallback requested, as on Twilio.
        """
        with self._lock:
            self._webhook_faults.append(_WebhookFault(url_contains, status, count))

    def deliver_twice(self, kind: str, count: int = 1) -> None:
        """Post each of the next `count` webhooks of `kind` twice in a row, following the second
        answer, as Twilio does when it retries a request whose answer it did not get.

        Kinds: "voice", "dial-action", "gather", "record", "redirect", "call-status",
        "message-status", "sms", "voice-fallback", "recording-status".
        """
        with self._lock:
            self._repeats.append(_Repeat(kind, count))

    def clear_faults(self) -> None:
        """Forget every injected fault."""
        with self._lock:
            self._request_faults.clear()
            self._outage = None
            self._hangs.clear()
            self._release.set()
            self._release = threading.Event()
            self._recipient_faults.clear()
            self._delivery_faults.clear()
            self._webhook_faults.clear()
            self._repeats.clear()

    # The REST API (the Flask app translates HTTP to these)

    def authenticate(self, account_sid: str, username: str | None, password: str | None) -> None:
        """Check HTTP basic auth as Twilio does; raise TwilioApiError 401 (code 20003) if wrong."""
        good = (
            username is not None
            and password is not None
            and hmac.compare_digest(username, self.account_sid)
            and hmac.compare_digest(password, self.auth_token)
        )
        if not good:
            raise TwilioApiError(401, 20003, "Authenticate")
        if account_sid != self.account_sid:
            raise TwilioApiError(404, 20404, "The requested resource was not found")

    def hold_request(self, resource: Resource, to: str | None = None) -> TwilioApiError | None:
        """Hang or slow this request if a hang is due (real time); the error to answer after it.

        Called by the REST app before `take_request_fault`, outside the simulator's lock, so
        that other requests go on while one hangs.
        """
        with self._lock:
            hang = next(
                (
                    h
                    for h in self._hangs
                    if (h.remaining is None or h.remaining > 0)
                    and h.resource in (None, resource)
                    and h.to in (None, to)
                ),
                None,
            )
            if hang is None:
                return None
            if hang.remaining is not None:
                hang.remaining -= 1
            release = self._release
        logger.info("simulator: holding a request on %s for %s s", resource, hang.seconds)
        release.wait(hang.seconds)
        if hang.status is None:
            return None
        return _request_error(hang.status)

    def take_request_fault(self, resource: Resource) -> TwilioApiError | None:
        """The injected failure for this request, if one is due."""
        with self._lock:
            outage = self._outage
            if outage is not None and outage.until is not None and self.now() >= outage.until:
                self._outage = outage = None
            if outage is not None and outage.resource in (None, resource):
                return _request_error(outage.status)
            for fault in self._request_faults:
                if fault.remaining > 0 and fault.resource in (None, resource):
                    fault.remaining -= 1
                    code, message = _REQUEST_FAULTS.get(
                        fault.status, (20000 + fault.status, "Simulated failure")
                    )
                    logger.info("simulator: injected HTTP %s on %s", fault.status, resource)
                    return TwilioApiError(fault.status, code, message)
        return None

    def create_message(self, form: Mapping[str, str]) -> SimulatedMessage:
        """Accept a Messages.json request, or raise TwilioApiError as Twilio would."""
        to = form.get("To", "").strip()
        from_ = form.get("From", "").strip()
        service_sid = form.get("MessagingServiceSid", "").strip() or None
        body = form.get("Body", "")
        if not to:
            raise TwilioApiError(400, 21604, "A 'To' phone number is required.")
        if not is_e164(to):
            raise TwilioApiError(400, 21211, _error_text(21211, to, from_))
        if not from_ and not service_sid:
            raise TwilioApiError(400, 21603, "A 'From' phone number is required.")
        if from_ and not (is_e164(from_) or is_alphanumeric_sender(from_)):
            raise TwilioApiError(
                400,
                21212,
                f"The 'From' number {from_} is not a valid phone number, shortcode, "
                "or alphanumeric sender ID.",
            )
        if not body and not form.get("MediaUrl"):
            raise TwilioApiError(400, 21602, "Message body is required.")
        if len(body) > 1600:
            raise TwilioApiError(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        self._raise_recipient_fault("Messages", to, from_)
        if self.has_opted_out(to, from_):
            raise TwilioApiError(400, 21610, _error_text(21610, to, from_))
        return self.send_from_service(
            from_ or (service_sid or ""),
            to,
            body,
            direction="outbound-api",
            status_callback=form.get("StatusCallback") or None,
            messaging_service_sid=service_sid,
        )

    def create_call(
        self, form: Mapping[str, str], status_callback_events: Iterable[str] = ()
    ) -> SimulatedCall:
        """Accept a Calls.json request, or raise TwilioApiError as Twilio would."""
        to = form.get("To", "").strip()
        from_ = form.get("From", "").strip()
        url = form.get("Url", "").strip() or None
        twiml = form.get("Twiml") or None
        if not to:
            raise TwilioApiError(400, 21201, "No 'To' number is specified")
        if not is_e164(to):
            raise TwilioApiError(400, 21211, _error_text(21211, to, from_))
        if not from_:
            raise TwilioApiError(400, 21213, "No 'From' number is specified")
        if not is_e164(from_):
            raise TwilioApiError(
                400, 21212, f"The 'From' number {from_} is not a valid phone number."
            )
        if url is None and twiml is None:
            raise TwilioApiError(400, 21205, "Url parameter is required.")
        self._raise_recipient_fault("Calls", to, from_)
        events = tuple(
            event.lower()
            for value in status_callback_events
            for event in value.replace(",", " ").split()
            if event.lower() in _CALL_EVENTS
        )
        try:
            timeout = float(form.get("Timeout") or 60)
        except ValueError:
            timeout = 60.0
        call = SimulatedCall(
            sid=self.new_sid("CA"),
            account_sid=self.account_sid,
            from_=from_,
            to=to,
            direction="outbound-api",
            status="queued",
            date_created=self.now(),
            url=url,
            method=(form.get("Method") or "POST").upper(),
            twiml=twiml,
            status_callback=form.get("StatusCallback") or None,
            status_callback_events=events or ("completed",),
            timeout=min(max(timeout, 5.0), 600.0),
        )
        with self._lock:
            self.calls.append(call)
        logger.info("simulator: accepted call %s to %s", call.sid, redact(to))
        self._enqueue(f"outbound call {call.sid}", lambda: self._run_outbound_call(call))
        return call

    def find_message(self, sid: str) -> SimulatedMessage:
        """The message with this SID, or TwilioApiError 404."""
        with self._lock:
            for message in self.messages:
                if message.sid == sid:
                    return message
        raise TwilioApiError(
            404, 20404, f"The requested resource /Messages/{sid}.json was not found"
        )

    def find_call(self, sid: str) -> SimulatedCall:
        """The call with this SID, or TwilioApiError 404."""
        with self._lock:
            for call in self.calls:
                if call.sid == sid:
                    return call
        raise TwilioApiError(404, 20404, f"The requested resource /Calls/{sid}.json was not found")

    # Messages leaving the service

    def send_from_service(
        self,
        from_: str,
        to: str,
        body: str,
        *,
        direction: str,
        status_callback: str | None = None,
        messaging_service_sid: str | None = None,
    ) -> SimulatedMessage:
        """Queue a message from the service to a simulated phone and its status callbacks."""
        message = SimulatedMessage(
            sid=self.new_sid("SM"),
            account_sid=self.account_sid,
            from_=from_,
            to=to,
            body=body,
            direction=direction,
            status="queued",
            date_created=self.now(),
            status_callback=status_callback,
            messaging_service_sid=messaging_service_sid,
        )
        fault = self._take_delivery_fault(to)
        if fault is None:
            steps: list[str] = ["queued", "sent", "delivered"]
            # The handset has it before the delivery receipt comes back, so the inbox fills now.
            self.phone(to)._receive_sms(
                ReceivedSMS(message.sid, from_, to, body, self.now(), self.phone(to))
            )
        else:
            steps = (
                ["queued", "failed"]
                if fault.status == "failed"
                else ["queued", "sent", fault.status]
            )
        with self._lock:
            self.messages.append(message)
        logger.info("simulator: accepted message %s to %s", message.sid, redact(to))
        self._activity(f'SMS {from_} -> {to}: "{body}"')
        error_code = None if fault is None else fault.error_code
        for step in steps:
            self._enqueue(
                f"message {message.sid} {step}",
                functools.partial(self._advance_message, message, step, error_code),
            )
        return message

    def _advance_message(
        self, message: SimulatedMessage, status: str, error_code: int | None
    ) -> None:
        message.status = status
        message.date_updated = self.now()
        if status in ("failed", "undelivered"):
            message.error_code = error_code
        if not message.status_callback:
            return
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "From": message.from_,
            "MessageSid": message.sid,
            "MessageStatus": status,
            "SmsSid": message.sid,
            "SmsStatus": status,
            "To": message.to,
        }
        if message.messaging_service_sid:
            params["MessagingServiceSid"] = message.messaging_service_sid
        if message.error_code is not None and status in ("failed", "undelivered"):
            params["ErrorCode"] = str(message.error_code)
        self.post_webhook("message-status", message.status_callback, params)

    # Participants driving the service

    def has_opted_out(self, phone: str, number: str) -> bool:
        """True if `phone` texted STOP to our `number` (and not START since)."""
        with self._lock:
            return (phone, number) in self._opted_out

    def incoming_sms(
        self, from_: str, to: str, body: str, sms_url: str | None = None
    ) -> SimulatedMessage:
        """A phone texts the service's number: post the signed SMS webhook, deliver any reply.

        STOP and START act first, as on Twilio: the phone is opted out of (or back into) texts
        from that number and gets Twilio's own confirmation; the webhook is still posted.
        """
        config = self._numbers.get(to, NumberConfig())
        url = sms_url or config.sms_url
        if url is None:
            raise ValueError(f"no SMS webhook for {to}: pass sms_url or call configure_number")
        phone = self.phone(from_)
        message = SimulatedMessage(
            sid=self.new_sid("SM"),
            account_sid=self.account_sid,
            from_=from_,
            to=to,
            body=body,
            direction="inbound",
            status="received",
            date_created=self.now(),
        )
        with self._lock:
            self.messages.append(message)
        phone._note_sent_sms(to, body)
        self._opt_out_keyword(from_, to, body)
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "Body": body,
            "From": from_,
            "FromCity": "",
            "FromCountry": country_of(from_),
            "FromState": "",
            "FromZip": "",
            "MessageSid": message.sid,
            "NumMedia": "0",
            "NumSegments": str(segments(body)),
            "SmsMessageSid": message.sid,
            "SmsSid": message.sid,
            "SmsStatus": "received",
            "To": to,
            "ToCity": "",
            "ToCountry": country_of(to),
            "ToState": "",
            "ToZip": "",
        }
        fallback_url = config.sms_fallback_url if sms_url is None else None
        document = self._fetch_messaging_twiml(url, params, fallback_url)
        if document is not None:
            self._follow_messaging_twiml(document[0], document[1], params, message)
        return message

    def incoming_call(
        self,
        from_: str,
        to: str,
        voice_url: str | None = None,
        *,
        script: CallScript | None = None,
        fallback_url: str | None = None,
        caller_id: str | None = None,
    ) -> CallRecord:
        """A phone calls the service's number: fetch the voice webhook and follow the TwiML.

        Returns the caller's record of the call; the whole call, including any phones the
        service dials, has run by the time this returns. `caller_id` is what Twilio gives as
        From when the phone withholds its number ("anonymous", "Restricted", "+266696687"...).
        """
        config = self._numbers.get(to, NumberConfig())
        url = voice_url or config.voice_url
        if url is None:
            raise ValueError(f"no voice webhook for {to}: pass voice_url or call configure_number")
        phone = self.phone(from_)
        call = SimulatedCall(
            sid=self.new_sid("CA"),
            account_sid=self.account_sid,
            from_=caller_id or from_,
            to=to,
            direction="inbound",
            status="ringing",
            date_created=self.now(),
            url=url,
            status_callback=config.voice_status_callback,
        )
        with self._lock:
            self.calls.append(call)
        logger.info("simulator: inbound call %s from %s", call.sid, redact(from_))
        record = run_inbound_call(
            self,
            call,
            phone,
            script or phone.next_script(CallScript()),
            fallback_url=fallback_url or (config.voice_fallback_url if voice_url is None else None),
        )
        self._activity(_call_summary(phone, record))
        return record

    # Webhooks and the queue of pending work

    def post_webhook(self, kind: str, url: str, params: Mapping[str, str]) -> WebhookRequest:
        """Sign and post `params` to `url` through the transport, and record the outcome.

        A webhook `deliver_twice` named is posted a second time and the second answer returned.
        """
        request = self._post_once(kind, url, params)
        if self._take_repeat(kind):
            logger.info("simulator: delivering a %s webhook again", kind)
            request = self._post_once(kind, url, params)
        return request

    def redeliver(self, request: WebhookRequest) -> WebhookRequest:
        """Post an earlier webhook again, unchanged (a duplicate, or one arriving late)."""
        return self._post_once(request.kind, request.url, request.params)

    def webhooks(self, kind: str, call_sid: str | None = None) -> list[WebhookRequest]:
        """The webhooks of `kind` posted so far (about `call_sid`, if given), oldest first."""
        with self._lock:
            return [
                r
                for r in self.requests
                if r.kind == kind and call_sid in (None, r.params.get("CallSid"))
            ]

    def let_time_pass(self, seconds: float) -> None:
        """Tell `time_passes` that `seconds` went by on a caller's call."""
        if self.time_passes is not None and seconds > 0:
            self.time_passes(seconds)

    def _post_once(self, kind: str, url: str, params: Mapping[str, str]) -> WebhookRequest:
        fault = self._take_webhook_fault(url)
        if fault is not None and fault.status is None:
            request = WebhookRequest(kind, url, dict(params), None, "", "timed out")
            self.record_error(f"{kind} webhook {url} did not answer within 15 s (11205)")
        elif fault is not None and fault.status is not None:
            request = WebhookRequest(kind, url, dict(params), fault.status, "")
            self.record_error(f"{kind} webhook {url} answered HTTP {fault.status}")
        else:
            headers = signed_headers(self.auth_token, url, params)
            try:
                status, body = self.transport.post(url, params, headers)
            except WebhookDeliveryError as exc:
                request = WebhookRequest(kind, url, dict(params), None, "", str(exc))
                self.record_error(f"{kind} webhook {url} could not be reached: {exc}")
            else:
                request = WebhookRequest(kind, url, dict(params), status, body)
                if not request.ok:
                    self.record_error(f"{kind} webhook {url} answered HTTP {status}")
        with self._lock:
            self.requests.append(request)
        return request

    def _take_webhook_fault(self, url: str) -> _WebhookFault | None:
        with self._lock:
            for fault in self._webhook_faults:
                if fault.remaining > 0 and fault.url_contains in url:
                    fault.remaining -= 1
                    logger.info("simulator: injected a webhook failure")
                    return fault
        return None

    def _take_repeat(self, kind: str) -> bool:
        with self._lock:
            for repeat in self._repeats:
                if repeat.remaining > 0 and repeat.kind == kind:
                    repeat.remaining -= 1
                    return True
        return False

    def add_call(self, call: SimulatedCall) -> None:
        """Hold a call leg created while following TwiML (a <Dial>ed number)."""
        with self._lock:
            self.calls.append(call)

    def add_recording(self, recording: Recording) -> None:
        """Hold a recording made by <Record>."""
        with self._lock:
            self.recordings.append(recording)

    def find_recording(self, sid: str) -> Recording:
        """The recording with this SID, or TwilioApiError 404."""
        with self._lock:
            for recording in self.recordings:
                if recording.sid == sid:
                    return recording
        raise TwilioApiError(404, 20404, f"The requested resource /Recordings/{sid} was not found")

    def delete_recording(self, sid: str) -> None:
        """Delete the recording with this SID, as DELETE .../Recordings/{sid}.json does; after
        it the recording's media and resource are 404 (TwilioApiError 404, code 20404)."""
        with self._lock:
            recording = self.find_recording(sid)
            self.recordings.remove(recording)
            self.deleted_recordings.append(sid)
        logger.info("simulator: deleted recording ...%s", sid[-4:])

    def record_error(self, text: str) -> None:
        """Note a problem Twilio would log in its debugger (assert_no_unexpected reports it)."""
        with self._lock:
            self.errors.append(text)
        logger.warning("simulator: %s", text)

    @property
    def pending(self) -> list[str]:
        """Descriptions of the work waiting for run_pending()."""
        with self._lock:
            return [work.description for work in self._pending]

    def run_pending(self) -> int:
        """Deliver queued status callbacks and run queued calls, in order, until none are left.

        Returns how many items ran. Work queued meanwhile (for example by the service reacting to
        a callback) runs in the same pass.
        """
        me = threading.get_ident()
        if self._runner == me:
            return 0  # called again from inside a callback: the outer pass picks the work up
        with self._run_lock:
            self._runner = me
            try:
                done = 0
                while True:
                    with self._lock:
                        if not self._pending:
                            return done
                        work = self._pending.popleft()
                    try:
                        work.action()
                    except Exception:  # one broken item must not strand the rest
                        logger.exception("simulator: %s failed", work.description)
                        self.record_error(f"simulator failed running {work.description}")
                    done += 1
            finally:
                self._runner = None

    def replay_callbacks(self, sid: str, *, reverse: bool = True) -> int:
        """Post again every status callback already sent for `sid`: duplicates, newest first."""
        with self._lock:
            earlier = [
                r
                for r in self.requests
                if r.kind.endswith("-status")
                and sid in (r.params.get("MessageSid"), r.params.get("CallSid"))
            ]
        for request in reversed(earlier) if reverse else earlier:
            self.post_webhook(request.kind, request.url, request.params)
        return len(earlier)

    def run_in_background(self, interval: float = 0.2) -> Callable[[], None]:
        """Run pending work every `interval` seconds on a thread; returns a function to stop it."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(interval):
                self.run_pending()

        thread = threading.Thread(target=loop, name="twilio-simulator", daemon=True)
        thread.start()

        def stopper() -> None:
            stop.set()
            thread.join(timeout=5)

        return stopper

    # Assertions

    def assert_no_unexpected(self) -> None:
        """Fail listing every SMS and call no expectation took, and every unexpected error."""
        lines = [f"  {phone.name} {line}" for phone in self.phones for line in phone.unexpected()]
        with self._lock:
            lines += [f"  error: {error}" for error in self.errors]
            pending = len(self._pending)
        if lines:
            hint = f" ({pending} items still pending: call run_pending())" if pending else ""
            raise AssertionError(
                "Unexpected activity in the simulator" + hint + ":\n" + "\n".join(lines)
            )

    def expect_error(self, contains: str) -> str:
        """Take the first recorded error containing `contains`, or fail listing the errors."""
        with self._lock:
            for index, error in enumerate(self.errors):
                if contains.lower() in error.lower():
                    return self.errors.pop(index)
            listed = "\n".join(f"  {e}" for e in self.errors) or "  (none)"
        raise AssertionError(f"No simulator error containing {contains!r}; errors were:\n{listed}")

    def transcript(self) -> str:
        """Readable text of what every phone heard and received."""
        return format_transcript(self.phones)

    # Internals

    def _enqueue(self, description: str, action: Callable[[], None]) -> None:
        with self._lock:
            self._pending.append(_Work(description, action))
        # "immediate" runs from the REST view once its response is out (see rest.py), so the
        # service always learns the SID before the first callback about it.

    def _activity(self, text: str) -> None:
        if self._on_activity is not None:
            self._on_activity(text)

    def _raise_recipient_fault(self, resource: Resource, to: str, from_: str) -> None:
        with self._lock:
            fault = self._recipient_faults.get(to)
        if fault is not None and fault[1] in (None, resource):
            raise TwilioApiError(400, fault[0], _error_text(fault[0], to, from_))

    def _opt_out_keyword(self, phone: str, number: str, body: str) -> None:
        keyword = body.strip().upper()
        if keyword in OPT_OUT_KEYWORDS:
            with self._lock:
                self._opted_out.add((phone, number))
            reply = OPT_OUT_REPLY
        elif keyword in OPT_IN_KEYWORDS:
            with self._lock:
                self._opted_out.discard((phone, number))
            reply = OPT_IN_REPLY
        else:
            return
        self.send_from_service(number, phone, reply, direction="outbound-reply")

    def _take_delivery_fault(self, to: str) -> _DeliveryFault | None:
        with self._lock:
            fault = self._delivery_faults.get(to)
            if fault is None:
                return None
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    del self._delivery_faults[to]
            return fault

    def _run_outbound_call(self, call: SimulatedCall) -> None:
        phone = self.phone(call.to)
        record = run_outbound_call(self, call, phone, phone.next_script(self.default_call_script))
        self._activity(_call_summary(phone, record))

    def _fetch_messaging_twiml(
        self, url: str, params: Mapping[str, str], fallback_url: str | None
    ) -> tuple[TwimlNode, str] | None:
        fallback_params = {"ErrorCode": "11200", "ErrorUrl": url}
        attempts: list[tuple[str | None, dict[str, str]]] = [
            (url, {}),
            (fallback_url, fallback_params),
        ]
        for target, extra in attempts:
            if target is None:
                return None
            request = self.post_webhook("sms", target, {**params, **extra})
            if not request.ok:
                continue
            if not request.body.strip():
                return None  # an empty answer means "no reply", as with Twilio
            try:
                return parse_twiml(request.body), target
            except TwimlError as exc:
                self.record_error(f"sms webhook {target} answered with invalid TwiML: {exc}")
        return None

    def _follow_messaging_twiml(
        self, document: TwimlNode, url: str, params: Mapping[str, str], inbound: SimulatedMessage
    ) -> None:
        for _ in range(_MAX_SMS_REDIRECTS):
            for node in document.children:
                if node.tag in ("Message", "Sms"):
                    body_node = node.child("Body")
                    if self.has_opted_out(
                        node.attr("to", inbound.from_), node.attr("from", inbound.to)
                    ):
                        # Twilio refuses it (21610); nothing reaches the phone.
                        self._activity(f"SMS reply refused (21610): {inbound.from_} opted out")
                        continue
                    self.send_from_service(
                        node.attr("from", inbound.to),
                        node.attr("to", inbound.from_),
                        body_node.text if body_node is not None else node.text,
                        direction="outbound-reply",
                        status_callback=node.attr("statusCallback") or node.attr("action") or None,
                    )
                elif node.tag == "Redirect":
                    break
                else:
                    self.record_error(f"<{node.tag}> is not messaging TwiML the simulator supports")
            else:
                return
            url = urljoin(url, node.text)
            fetched = self._fetch_messaging_twiml(url, params, None)
            if fetched is None:
                return
            document, url = fetched
        self.record_error(f"more than {_MAX_SMS_REDIRECTS} redirects answering one SMS")


def _error_text(code: int, to: str, from_: str) -> str:
    return _KNOWN_ERRORS.get(code, f"Twilio error {code}").format(to=to, from_=from_)


def _call_summary(phone: Phone, record: CallRecord) -> str:
    return format_call(phone, record)
