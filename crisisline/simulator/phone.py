"""Simulated phones: what each one received and heard, how it behaves on calls, and expectations."""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from crisisline.simulator.resources import SimulatedMessage
    from crisisline.simulator.simulator import Simulator

Answer = Literal["answer", "voicemail", "no-answer", "busy", "failed"]
ANSWERS: tuple[Answer, ...] = ("answer", "voicemail", "no-answer", "busy", "failed")

# A press entry meaning "press what the prompt asks for".
AUTO = "auto"
# "Press 4 to take this", "press star to repeat": the key a prompt asks for, first one first.
_ASKED_KEY = re.compile(r"\bpress\s+([0-9]|star|hash|\*|#)\s+to\b", re.IGNORECASE)
_KEY_WORDS = {"star": "*", "hash": "#"}


def key_asked_for(prompt: str) -> str:
    """The key the first "Press N to ..." in `prompt` asks for; "" when it asks for none."""
    found = _ASKED_KEY.search(prompt)
    if found is None:
        return ""
    key = found.group(1).lower()
    return _KEY_WORDS.get(key, key)


# How long a phone rings before it is picked up: a person is quick, a voicemail box waits.
_DEFAULT_RING_SECONDS: dict[Answer, float] = {"answer": 5.0, "voicemail": 20.0}


@dataclass(frozen=True)
class CallScript:
    """How a simulated phone behaves on one call.

    `answer`: "answer" (a person), "voicemail" (picks up after 20 s but never presses a key or
    speaks), "no-answer" (rings out), "busy" or "failed". `press` holds the keys pressed at each
    successive <Gather>, in order; "" presses nothing at that Gather, and once the list is used up
    the phone presses nothing. `message` is what the person says when a <Record> starts (None:
    silence). `talk_seconds` is how long a bridged conversation lasts.

    A press entry may be `AUTO` ("auto"): press the key the prompt asks for (its first "Press
    N to ..."), as a person reading the prompt would. With `follow_prompts`, every <Gather> after
    the `press` entries are used up is answered that way too (the simulated staff's default).

    `hang_up_after` is how many seconds after the call is answered this phone hangs up, wherever
    the call has got to: during a message, a <Gather>, while a <Dial> rings, or while recording
    (None: it stays until the call ends). It does not cut short a conversation already bridged.
    `hang_up_after_recording` hangs up as soon as the message for a <Record> has been spoken.
    """

    answer: Answer = "answer"
    press: Sequence[str] = ()
    message: str | None = None
    ring_seconds: float | None = None
    talk_seconds: int = 60
    hang_up_after_recording: bool = False
    hang_up_after: float | None = None
    follow_prompts: bool = False

    def __post_init__(self) -> None:
        if self.answer not in ANSWERS:
            raise ValueError(f"answer must be one of {', '.join(ANSWERS)}, not {self.answer!r}")
        if self.hang_up_after is not None and not self.hang_up_after >= 0:
            raise ValueError(f"hang_up_after must be 0 or more seconds, not {self.hang_up_after!r}")
        # A bare string is one entry ("12" presses 1 then 2 at the first Gather), not one per key.
        presses = (self.press,) if isinstance(self.press, str) else tuple(self.press)
        for keys in presses:
            if keys != AUTO and not re.fullmatch(r"[0-9*#]*", keys):
                raise ValueError(
                    f"press entries may hold only 0-9, * and #, or be {AUTO!r}, not {keys!r}"
                )
        object.__setattr__(self, "press", presses)

    @property
    def answers(self) -> bool:
        """True when something picks up: a person or a voicemail box."""
        return self.answer in ("answer", "voicemail")

    def seconds_to_answer(self) -> float:
        """Seconds of ringing before this phone picks up (infinite when it never does)."""
        if not self.answers:
            return float("inf")
        if self.ring_seconds is not None:
            return self.ring_seconds
        return _DEFAULT_RING_SECONDS[self.answer]


NO_ANSWER = CallScript(answer="no-answer")


@dataclass(frozen=True)
class TranscriptEntry:
    """One line of what a phone experienced, already worded for people to read."""

    text: str
    call_sid: str | None = None
    at_seconds: float | None = None


@dataclass(eq=False)
class ReceivedSMS:
    """A text message that reached a simulated phone."""

    sid: str
    from_: str
    to: str
    body: str
    received_at: datetime
    phone: Phone = field(repr=False)
    consumed: bool = False

    def reply(self, body: str) -> SimulatedMessage:
        """Text `body` back to the number this message came from."""
        return self.phone.send_sms(self.from_, body)

    def describe(self) -> str:
        """One readable line: sender and body."""
        return f'from {self.from_}: "{self.body}"'


@dataclass(eq=False)
class CallRecord:
    """One call as a simulated phone lived it: placed by it or received by it."""

    sid: str
    direction: Literal["placed", "received"]
    from_: str
    to: str
    status: str = "ringing"
    answered: bool = False
    bridged_to: str | None = None
    duration: int = 0
    entries: list[TranscriptEntry] = field(default_factory=list)
    heard: list[str] = field(default_factory=list)
    pressed: list[str] = field(default_factory=list)
    consumed: bool = False

    @property
    def heard_text(self) -> str:
        """Everything said to this phone on the call, joined with spaces."""
        return " ".join(self.heard)

    def describe(self) -> str:
        """One readable line: who called, how it ended and what was heard."""
        other = self.from_ if self.direction == "received" else self.to
        verb = "call from" if self.direction == "received" else "call to"
        heard = f', heard "{self.heard_text}"' if self.heard else ", heard nothing"
        pressed = f", pressed {' '.join(self.pressed)}" if self.pressed else ""
        return f"{verb} {other} ({self.status}){heard}{pressed}"


class Phone:
    """A simulated handset: an inbox, a call log, a transcript and a script for incoming calls."""

    def __init__(self, simulator: Simulator, number: str, label: str | None = None) -> None:
        self.number = number
        self.label = label
        self.inbox: list[ReceivedSMS] = []
        self.calls: list[CallRecord] = []
        self.transcript: list[TranscriptEntry] = []
        # Used for incoming calls once the queued scripts run out; None: the simulator's default.
        self.default_script: CallScript | None = None
        self.ignores_unexpected = False
        self._simulator = simulator
        self._scripts: deque[CallScript] = deque()
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"Phone({self.number!r}, label={self.label!r})"

    @property
    def name(self) -> str:
        """The number, with the label when there is one."""
        return f"{self.number} ({self.label})" if self.label else self.number

    # Scripts for the calls this phone receives

    def queue_script(self, script: CallScript) -> Phone:
        """Use `script` for the next call this phone receives or places."""
        with self._lock:
            self._scripts.append(script)
        return self

    def will_answer(self, *press: str, message: str | None = None, talk_seconds: int = 60) -> Phone:
        """A person answers the next call and presses these keys at successive Gathers."""
        return self.queue_script(
            CallScript(press=press, message=message, talk_seconds=talk_seconds)
        )

    def will_go_to_voicemail(self) -> Phone:
        """The next call is picked up by voicemail: it answers but never presses a key."""
        return self.queue_script(CallScript(answer="voicemail"))

    def will_not_answer(self) -> Phone:
        """The next call rings out."""
        return self.queue_script(NO_ANSWER)

    def will_be_busy(self) -> Phone:
        """The next call gets a busy signal."""
        return self.queue_script(CallScript(answer="busy"))

    def next_script(self, fallback: CallScript) -> CallScript:
        """Take the script for the call now starting: the next queued one, else the default."""
        with self._lock:
            if self._scripts:
                return self._scripts.popleft()
        return self.default_script or fallback

    # Driving the service from this phone

    def send_sms(self, to: str, body: str) -> SimulatedMessage:
        """Text the service's number `to` from this phone."""
        return self._simulator.incoming_sms(self.number, to, body)

    def reply(self, body: str, *, to: str | None = None) -> SimulatedMessage:
        """Text back to `to`, by default the number that last texted this phone."""
        if to is None:
            with self._lock:
                if not self.inbox:
                    raise AssertionError(f"{self.name} cannot reply: it has received no SMS")
                to = self.inbox[-1].from_
        return self.send_sms(to, body)

    def call(
        self,
        to: str,
        *press: str,
        message: str | None = None,
        hang_up_after: float | None = None,
        withheld_as: str | None = None,
    ) -> CallRecord:
        """Call the service's number `to`, pressing these keys at successive Gathers.

        `hang_up_after`: the caller gives up this many seconds after the call is answered (see
        CallScript). `withheld_as`: the number is withheld, and Twilio's From is this instead
        ("anonymous", "Restricted", "+266696687"...).
        """
        script = CallScript(press=press, message=message, hang_up_after=hang_up_after)
        return self._simulator.incoming_call(self.number, to, script=script, caller_id=withheld_as)

    # Expectations, GoAlert style

    def expect_sms(
        self,
        contains: str | None = None,
        *,
        from_: str | None = None,
        matches: str | None = None,
    ) -> ReceivedSMS:
        """Take the oldest unconsumed SMS that matches, or fail listing what did arrive.

        `contains` is case-insensitive; `matches` is a regular expression searched in the body.
        """
        with self._lock:
            for message in self.inbox:
                if message.consumed:
                    continue
                if _sms_matches(message, contains, from_, matches):
                    message.consumed = True
                    return message
            wanted = _describe_wanted("SMS", contains, from_, matches)
            raise AssertionError(
                _failure(self, wanted, [m for m in self.inbox if not m.consumed], self.inbox)
            )

    def expect_no_sms(self) -> None:
        """Fail if this phone holds an SMS that no expectation has taken."""
        with self._lock:
            waiting = [m for m in self.inbox if not m.consumed]
            if waiting:
                lines = "\n".join(f"  {i}. {m.describe()}" for i, m in enumerate(waiting, 1))
                raise AssertionError(
                    f"{self.name} was expected to have no new SMS but has:\n{lines}"
                )

    def expect_call(
        self,
        contains: str | None = None,
        *,
        from_: str | None = None,
        answered: bool | None = None,
    ) -> CallRecord:
        """Take the oldest unconsumed received call that matches, or fail listing the calls.

        `contains` is searched, case-insensitively, in what the phone heard on the call.
        """
        with self._lock:
            received = [c for c in self.calls if c.direction == "received"]
            for call in received:
                if call.consumed:
                    continue
                if contains is not None and contains.lower() not in call.heard_text.lower():
                    continue
                if from_ is not None and call.from_ != from_:
                    continue
                if answered is not None and call.answered != answered:
                    continue
                call.consumed = True
                return call
            wanted = _describe_wanted("call", contains, from_, None)
            if answered is not None:
                wanted += " that was answered" if answered else " that was not answered"
            raise AssertionError(
                _failure(self, wanted, [c for c in received if not c.consumed], received)
            )

    def ignore_unexpected(self) -> Phone:
        """Let this phone hold unconsumed messages and calls without failing the test."""
        self.ignores_unexpected = True
        return self

    def unexpected(self) -> list[str]:
        """Readable lines for each SMS or received call that no expectation took."""
        if self.ignores_unexpected:
            return []
        with self._lock:
            lines = [f"received SMS {m.describe()}" for m in self.inbox if not m.consumed]
            lines += [
                f"received a {c.describe()}"
                for c in self.calls
                if c.direction == "received" and not c.consumed
            ]
        return lines

    # Used by the simulator

    def _receive_sms(self, message: ReceivedSMS) -> None:
        with self._lock:
            self.inbox.append(message)
            self.transcript.append(TranscriptEntry(f'SMS from {message.from_}: "{message.body}"'))

    def _note_sent_sms(self, to: str, body: str) -> None:
        with self._lock:
            self.transcript.append(TranscriptEntry(f'SMS to {to}: "{body}"'))

    def _start_call(self, record: CallRecord) -> None:
        with self._lock:
            self.calls.append(record)
            if record.direction == "received":
                text = f"--- call from {record.from_} ({record.sid}) ---"
            else:
                text = f"--- call to {record.to} ({record.sid}) ---"
            self.transcript.append(TranscriptEntry(text, record.sid, None))

    def _note(self, record: CallRecord, text: str, at_seconds: float) -> None:
        entry = TranscriptEntry(text, record.sid, at_seconds)
        with self._lock:
            record.entries.append(entry)
            self.transcript.append(entry)


def _sms_matches(
    message: ReceivedSMS, contains: str | None, from_: str | None, matches: str | None
) -> bool:
    if contains is not None and contains.lower() not in message.body.lower():
        return False
    if from_ is not None and message.from_ != from_:
        return False
    return matches is None or re.search(matches, message.body) is not None


def _describe_wanted(
    kind: str, contains: str | None, from_: str | None, matches: str | None
) -> str:
    parts = [kind]
    if contains is not None:
        parts.append(f"containing {contains!r}")
    if matches is not None:
        parts.append(f"matching /{matches}/")
    if from_ is not None:
        parts.append(f"from {from_}")
    return " ".join(parts)


def _failure(
    phone: Phone,
    wanted: str,
    waiting: Sequence[ReceivedSMS | CallRecord],
    everything: Sequence[ReceivedSMS | CallRecord],
) -> str:
    lines = [f"{phone.name} did not receive the expected {wanted}."]
    if waiting:
        lines.append(f"Not yet matched by any expectation ({len(waiting)}):")
        lines += [f"  {i}. {item.describe()}" for i, item in enumerate(waiting, 1)]
    else:
        lines.append("Nothing is waiting that an expectation has not already taken.")
    taken = len(everything) - len(waiting)
    if taken:
        lines.append(f"({taken} earlier ones were already taken by expectations.)")
    return "\n".join(lines)
