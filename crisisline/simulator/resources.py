"""The resources the simulated Twilio holds (messages, calls, recordings) and its API errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from crisisline.simulator._format import segments, twilio_date

API_VERSION = "2010-04-01"


class TwilioApiError(Exception):
    """An error the simulated REST API answers with, in Twilio's JSON shape."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def to_json(self) -> dict[str, object]:
        """The body Twilio sends: code, message, more_info and status."""
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


@dataclass(eq=False)
class SimulatedMessage:
    """A message resource as the simulated Twilio holds it."""

    sid: str
    account_sid: str
    from_: str
    to: str
    body: str
    direction: str
    status: str
    date_created: datetime
    status_callback: str | None = None
    messaging_service_sid: str | None = None
    error_code: int | None = None
    date_updated: datetime | None = None

    @property
    def num_segments(self) -> int:
        """How many SMS segments the body takes."""
        return segments(self.body)

    def to_json(self) -> dict[str, object]:
        """The resource as Twilio's Messages API returns it."""
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": twilio_date(self.date_created),
            "date_sent": None,
            "date_updated": twilio_date(self.date_updated or self.date_created),
            "direction": self.direction,
            "error_code": self.error_code,
            "error_message": None,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": "0",
            "num_segments": str(self.num_segments),
            "price": None,
            "price_unit": "GBP",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": self.to,
            "uri": f"{uri}.json",
        }


@dataclass(eq=False)
class SimulatedCall:
    """A call resource (one leg) as the simulated Twilio holds it."""

    sid: str
    account_sid: str
    from_: str
    to: str
    direction: str
    status: str
    date_created: datetime
    url: str | None = None
    method: str = "POST"
    twiml: str | None = None
    status_callback: str | None = None
    status_callback_events: tuple[str, ...] = ("completed",)
    timeout: float = 60.0
    parent_call_sid: str | None = None
    duration: int | None = None
    sequence: int = 0
    end_time: datetime | None = None

    def to_json(self) -> dict[str, object]:
        """The resource as Twilio's Calls API returns it."""
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{self.sid}"
        return {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": None,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": twilio_date(self.date_created),
            "date_updated": twilio_date(self.end_time or self.date_created),
            "direction": self.direction,
            "duration": None if self.duration is None else str(self.duration),
            "end_time": None if self.end_time is None else twilio_date(self.end_time),
            "forwarded_from": None,
            "from": self.from_,
            "from_formatted": self.from_,
            "group_sid": None,
            "parent_call_sid": self.parent_call_sid,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "GBP",
            "queue_time": "0",
            "sid": self.sid,
            "start_time": None,
            "status": self.status,
            "subresource_uris": {"recordings": f"{uri}/Recordings.json"},
            "to": self.to,
            "to_formatted": self.to,
            "trunk_sid": None,
            "uri": f"{uri}.json",
        }


@dataclass(frozen=True)
class Recording:
    """A recording made by <Record> on a simulated call."""

    sid: str
    call_sid: str
    url: str
    duration: int
    words: str

    def audio(self) -> bytes:
        """What the simulated Twilio serves as the recording's MP3: an ID3 header and the
        words said, so a test can tell which message was played."""
        return b"ID3\x03\x00\x00\x00\x00\x00\x00" + self.words.encode()


@dataclass(frozen=True)
class WebhookRequest:
    """One request the simulator made to the service, and what came back."""

    kind: str
    url: str
    params: Mapping[str, str]
    status_code: int | None
    body: str = ""
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the service answered 2xx."""
        return self.status_code is not None and 200 <= self.status_code < 300
