"""Following voice TwiML on one call leg, as Twilio would, for the simulated phone on that leg."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal
from urllib.parse import urljoin

from crisisline.simulator._format import country_of, seconds_to_say, twilio_date
from crisisline.simulator.phone import AUTO, CallRecord, CallScript, Phone, key_asked_for
from crisisline.simulator.resources import API_VERSION, Recording, SimulatedCall
from crisisline.simulator.twiml import TwimlError, TwimlNode, parse_twiml

if TYPE_CHECKING:
    from crisisline.simulator.simulator import Simulator

APPLICATION_ERROR = "We are sorry, an application error has occurred. Goodbye."
MAX_DOCUMENTS = 50

EndReason = Literal["fell-through", "hangup", "rejected", "busy", "error", "caller-hung-up"]


@dataclass(frozen=True)
class _Fetch:
    url: str
    method: str
    kind: str
    params: Mapping[str, str] = field(default_factory=dict)
    # False when Twilio makes the request but ignores the answer (the caller has hung up).
    follow: bool = True


@dataclass(frozen=True)
class _End:
    reason: EndReason


@dataclass(frozen=True)
class _DialOutcome:
    call: SimulatedCall
    status: str  # the child leg's final status
    bridged: bool
    seconds: float  # how long the caller waited on this leg before it ended or bridged
    connected_seconds: int = 0
    caller_hung_up: bool = False  # the caller hung up before this leg could be connected


def run_inbound_call(
    sim: Simulator,
    call: SimulatedCall,
    phone: Phone,
    script: CallScript,
    *,
    fallback_url: str | None,
) -> CallRecord:
    """A simulated phone calls the service: follow its TwiML until the call ends."""
    record = CallRecord(call.sid, "placed", call.from_, call.to)
    phone._start_call(record)
    reason: EndReason | None = None

    def end() -> None:
        # Once: a hang-up may have ended the call (status first) before the leg returns.
        if call.end_time is not None:
            return
        if reason == "busy":
            status = "busy"
        elif reason == "rejected":
            status = "no-answer"
        elif not record.answered:
            status = "failed"
        else:
            status = "completed"
        _finish(sim, call, phone, record, status, leg.elapsed if record.answered else 0)

    leg = CallLeg(
        sim, call, phone, record, script, service_number=call.to, keeps_time=True, on_end=end
    )
    reason = leg.run(call.url, "POST", fallback_url=fallback_url)
    end()
    return record


def run_outbound_call(
    sim: Simulator, call: SimulatedCall, phone: Phone, script: CallScript
) -> CallRecord:
    """The service called a simulated phone through Calls.json: ring it and follow the TwiML."""
    record = CallRecord(call.sid, "received", call.from_, call.to)
    phone._start_call(record)
    _set_status(sim, call, "initiated", "initiated")
    if script.answer == "failed":
        _finish(sim, call, phone, record, "failed", 0)
        return record
    _set_status(sim, call, "ringing", "ringing")
    if script.answer == "busy":
        phone._note(record, "(busy)", 0)
        _finish(sim, call, phone, record, "busy", 0)
        return record
    ring = script.seconds_to_answer()
    if ring > call.timeout:
        phone._note(record, f"(rang for {call.timeout:g}s, not picked up)", 0)
        _finish(sim, call, phone, record, "no-answer", 0)
        return record
    record.answered = True
    if script.answer == "voicemail":
        phone._note(record, "(picked up by voicemail)", 0)
    _set_status(sim, call, "in-progress", "answered")
    leg = CallLeg(sim, call, phone, record, script, service_number=call.from_)
    leg.run(call.url, call.method, twiml=call.twiml)
    _finish(sim, call, phone, record, "completed", leg.elapsed)
    return record


class CallLeg:
    """Follows TwiML for one leg of a call, on behalf of the simulated phone on that leg."""

    def __init__(
        self,
        sim: Simulator,
        call: SimulatedCall,
        phone: Phone,
        record: CallRecord,
        script: CallScript,
        *,
        service_number: str,
        keeps_time: bool = False,
        on_end: Callable[[], None] | None = None,
    ) -> None:
        self.sim = sim
        self.call = call
        self.phone = phone
        self.record = record
        self.script = script
        self.service_number = service_number
        self.elapsed = 0.0
        # The caller's own leg tells the simulator's clock hook as time goes by; a staff leg's
        # time is inside the caller's ring.
        self._keeps_time = keeps_time
        # Ends the call (its final status callback) when a hang-up sends that first.
        self._on_end = on_end
        # How far into the Dial under way the clock has been moved (phones picking up).
        self._dial_told = 0.0
        # Voicemail picks up but never presses anything; that is the point of screening.
        self._presses: deque[str] = deque(script.press if script.answer == "answer" else ())
        self._message = script.message if script.answer == "answer" else None
        self._follows_prompts = script.follow_prompts and script.answer == "answer"

    def run(
        self,
        url: str | None,
        method: str = "POST",
        *,
        twiml: str | None = None,
        fallback_url: str | None = None,
    ) -> EndReason:
        """Fetch (or take inline) the first document and follow it; return why the leg ended."""
        if twiml is not None:
            try:
                document, document_url = parse_twiml(twiml), url or ""
            except TwimlError as exc:
                self._application_error(f"inline TwiML for {self.call.sid} is invalid: {exc}")
                return "error"
        else:
            fetched = self._fetch(_Fetch(url or "", method, "voice"), fallback_url=fallback_url)
            if fetched is None:
                return "error"
            document, document_url = fetched
        self._answer()
        for _ in range(MAX_DOCUMENTS):
            step = self._execute(document.children, document_url)
            if isinstance(step, _End):
                return step.reason
            if not step.follow:
                # The caller has gone: Twilio still makes the request and ignores the answer.
                self.sim.post_webhook(step.kind, step.url, {**self.base_params(), **step.params})
                return "caller-hung-up"
            fetched = self._fetch(step)
            if fetched is None:
                return "error"
            document, document_url = fetched
        self._application_error(f"more than {MAX_DOCUMENTS} TwiML documents on {self.call.sid}")
        return "error"

    # Requests to the service

    def base_params(self) -> dict[str, str]:
        """The parameters Twilio sends with every request about this call."""
        call = self.call
        params = {
            "AccountSid": call.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": call.sid,
            "CallStatus": call.status,
            "Called": call.to,
            "Caller": call.from_,
            "Direction": call.direction,
            "From": call.from_,
            "FromCountry": country_of(call.from_),
            "To": call.to,
            "ToCountry": country_of(call.to),
        }
        if call.parent_call_sid:
            params["ParentCallSid"] = call.parent_call_sid
        return params

    def _fetch(
        self, step: _Fetch, *, fallback_url: str | None = None
    ) -> tuple[TwimlNode, str] | None:
        if not step.url:
            self._application_error(f"{step.kind} on {self.call.sid} has no URL to request")
            return None
        if step.method.upper() != "POST":
            self._application_error(
                f"{step.url} uses method {step.method}; the simulator only POSTs"
            )
            return None
        params = {**self.base_params(), **step.params}
        problem = self._try(step.kind, step.url, params)
        if isinstance(problem, tuple):
            return problem
        if fallback_url:
            self.sim.record_error(problem)
            last = self.sim.requests[-1] if self.sim.requests else None
            # 11205: no answer in time; 11200: an HTTP error or a document that is not TwiML.
            code = "11205" if last is not None and last.status_code is None else "11200"
            fallback = self._try(
                "voice-fallback",
                fallback_url,
                {**params, "ErrorCode": code, "ErrorUrl": step.url},
            )
            if isinstance(fallback, tuple):
                return fallback
            problem = fallback
        self._application_error(problem)
        return None

    def _try(self, kind: str, url: str, params: Mapping[str, str]) -> tuple[TwimlNode, str] | str:
        request = self.sim.post_webhook(kind, url, params)
        if not request.ok:
            return f"no TwiML for {self.call.sid} from {url}"
        try:
            return parse_twiml(request.body), url
        except TwimlError as exc:
            return f"{kind} webhook {url} answered with invalid TwiML: {exc}"

    # Verbs

    def _execute(self, nodes: tuple[TwimlNode, ...], document_url: str) -> _Fetch | _End:
        for node in nodes:
            step = self._verb(node, document_url)
            if step is not None:
                return step
        return _End("fell-through")

    def _verb(self, node: TwimlNode, document_url: str) -> _Fetch | _End | None:
        tag = node.tag
        if tag in ("Say", "Play", "Pause"):
            return _End("caller-hung-up") if self._listen(node) else None
        if tag == "Gather":
            return self._gather(node, document_url)
        if tag == "Dial":
            return self._dial(node, document_url)
        if tag == "Record":
            return self._record(node, document_url)
        if tag == "Redirect":
            if not node.text:
                self._application_error("<Redirect> without a URL")
                return _End("error")
            return _Fetch(urljoin(document_url, node.text), node.attr("method", "POST"), "redirect")
        if tag == "Hangup":
            self._note("(the line hung up)")
            return _End("hangup")
        if tag == "Reject":
            reason = node.attr("reason", "rejected")
            self._note(f"(call rejected: {reason})")
            return _End("busy" if reason == "busy" else "rejected")
        if tag in ("Sms", "Message"):
            self.sim.send_from_service(
                node.attr("from", self.service_number),
                node.attr("to", self.phone.number),
                node.text,
                direction="outbound-reply",
                status_callback=node.attr("statusCallback") or node.attr("action") or None,
            )
            return None
        self._application_error(f"<{tag}> is not supported by the simulator")
        return _End("error")

    def _listen(self, node: TwimlNode) -> bool:
        """Hear a Say, Play or Pause; True if the phone hung up part-way through it."""
        loops = max(1, int(node.number("loop", 1)))
        repeat = f" (x{loops})" if loops > 1 else ""
        if node.tag == "Say":
            self.record.heard.append(node.text)
            note, seconds = f'heard "{node.text}"{repeat}', seconds_to_say(node.text) * loops
        elif node.tag == "Play":
            self.record.heard.append(f"[audio {node.text}]")
            note, seconds = f"heard audio {node.text}{repeat}", 5.0 * loops
        else:
            length = node.number("length", 1.0)
            note, seconds = f"(silence {length:g}s)", length
        left = self._time_left()
        if seconds > left:
            self._note(note + f" (part of it: {left:g}s)")
            self._pass(left)
            self._hang_up("while it played")
            return True
        self._note(note)
        self._pass(seconds)
        return False

    def _gather(self, node: TwimlNode, document_url: str) -> _Fetch | _End | None:
        for child in node.children:
            if child.tag in ("Say", "Play", "Pause") and self._listen(child):
                return _End("caller-hung-up")  # Twilio requests no Gather action after a hang-up
        timeout = node.number("timeout", 5.0)
        action = urljoin(document_url, node.attr("action")) if node.attr("action") else document_url
        method = node.attr("method", "POST")
        keys = self._presses.popleft() if self._presses else (AUTO if self._follows_prompts else "")
        if keys == AUTO:
            keys = key_asked_for(" ".join(c.text for c in node.children if c.tag == "Say"))
        if "dtmf" not in node.attr("input", "dtmf"):
            keys = ""  # speech-only gathers are not simulated
        if not keys and timeout > self._time_left():
            self._pass(self._time_left())
            self._hang_up("while waiting for a key")
            return _End("caller-hung-up")
        if not keys:
            self._note(f"(pressed nothing; waited {timeout:g}s)")
            self._pass(timeout)
            if node.flag("actionOnEmptyResult"):
                return _Fetch(action, method, "gather", {"Digits": "", "FinishedOnKey": ""})
            return None
        finish_on_key = node.attrs.get("finishOnKey", "#")
        finished_on = ""
        if finish_on_key and finish_on_key in keys:
            keys, finished_on = keys[: keys.index(finish_on_key)], finish_on_key
        num_digits = int(node.number("numDigits", 0))
        if num_digits and len(keys) > num_digits:
            keys = keys[:num_digits]
        self.record.pressed.append(keys + finished_on)
        self._note(f"pressed {keys + finished_on}")
        self._pass(0.5 * len(keys + finished_on))
        return _Fetch(action, method, "gather", {"Digits": keys, "FinishedOnKey": finished_on})

    def _record(self, node: TwimlNode, document_url: str) -> _Fetch | _End | None:
        if node.flag("playBeep", default=True):
            self._note("(beep)")
        timeout = node.number("timeout", 5.0)
        message, self._message = self._message, None
        left = self._time_left()
        if not message and timeout > left:
            # Hung up in silence: nothing was recorded, so (we assume) no action is requested.
            self._pass(left)
            self._hang_up("during the recording, having said nothing")
            return _End("caller-hung-up")
        if not message:
            self._note(f"(said nothing; recording ended after {timeout:g}s of silence)")
            self._pass(timeout)
            # Twilio skips the action for an empty recording and goes on to the next verb.
            return None
        duration = int(min(node.number("maxLength", 3600.0), math.ceil(seconds_to_say(message))))
        # Hanging up while speaking cuts the recording short; after speaking, during the
        # silence that would end it, leaves it whole. Either way the action is still requested.
        hangs_up = self.script.hang_up_after_recording or duration + timeout > left
        if duration > left:
            duration = max(1, math.ceil(left))
        sid = self.sim.new_sid("RE")
        url = f"https://api.twilio.com/{API_VERSION}/Accounts/{self.call.account_sid}/Recordings/{sid}"
        self.sim.add_recording(Recording(sid, self.call.sid, url, duration, message))
        self._note(f'left a message ({duration}s): "{message}"')
        if not hangs_up:
            self._pass(duration + timeout)
        elif self.script.hang_up_after_recording:
            self._pass(min(duration, left))
        else:
            self._pass(left)
        params = {"RecordingUrl": url, "RecordingDuration": str(duration), "RecordingSid": sid}
        status_callback = node.attr("recordingStatusCallback")
        if status_callback:
            self.sim.post_webhook(
                "recording-status",
                urljoin(document_url, status_callback),
                {
                    "AccountSid": self.call.account_sid,
                    "CallSid": self.call.sid,
                    "RecordingSid": sid,
                    "RecordingUrl": url,
                    "RecordingStatus": "completed",
                    "RecordingDuration": str(duration),
                    "RecordingChannels": "1",
                    "RecordingSource": "RecordVerb",
                    "RecordingStartTime": twilio_date(self.sim.now()),
                },
            )
        action = urljoin(document_url, node.attr("action")) if node.attr("action") else document_url
        method = node.attr("method", "POST")
        if hangs_up:
            self._hang_up("after leaving the message")
            return self._ignored_request(
                _Fetch(action, method, "record", {**params, "Digits": "hangup"}, follow=False)
            )
        return _Fetch(action, method, "record", params)

    def _dial(self, node: TwimlNode, document_url: str) -> _Fetch | _End | None:
        timeout = node.number("timeout", 30.0)
        hang_up_in = self._time_left()
        caller_id = node.attr("callerId", self.call.from_)
        numbers = [child for child in node.children if child.tag == "Number"]
        others = [child.tag for child in node.children if child.tag != "Number"]
        if others:
            self._application_error(f"<Dial><{others[0]}> is not supported by the simulator")
            outcomes: list[_DialOutcome] = []
        else:
            targets = numbers or [TwimlNode("Number", {}, node.text)]
            self._note("dialled " + ", ".join(t.text for t in targets))
            if node.flag("answerOnBridge"):
                self._note("(hears ringing)")
            outcomes = self._ring_all(targets, caller_id, timeout, document_url, hang_up_in)
        bridged = next((o for o in outcomes if o.bridged), None)
        params: dict[str, str] = {"DialBridged": "true" if bridged else "false"}
        if bridged is None and any(o.caller_hung_up for o in outcomes):
            return self._hang_up_while_ringing(node, document_url, outcomes, hang_up_in)
        if bridged is not None:
            self.record.bridged_to = bridged.call.to
            self._pass_dial(bridged.seconds + bridged.connected_seconds)
            params.update(
                DialCallStatus="completed",
                DialCallSid=bridged.call.sid,
                DialCallDuration=str(bridged.call.duration or 0),
            )
        else:
            statuses = {o.status for o in outcomes}
            status = (
                statuses.pop()
                if len(statuses) == 1 and statuses <= {"busy", "failed"}
                else ("failed" if not outcomes else "no-answer")
            )
            self._pass_dial(max((o.seconds for o in outcomes), default=0.0))
            self._note(f"(nobody was connected: {status})")
            params["DialCallStatus"] = status
            if outcomes:
                params["DialCallSid"] = outcomes[-1].call.sid
        if not node.attr("action"):
            return None  # without an action Twilio carries on with the next verb
        return _Fetch(
            urljoin(document_url, node.attr("action")),
            node.attr("method", "POST"),
            "dial-action",
            params,
        )

    def _hang_up_while_ringing(
        self,
        node: TwimlNode,
        document_url: str,
        outcomes: list[_DialOutcome],
        hang_up_in: float,
    ) -> _Fetch | _End:
        # The legs still ringing were cancelled in _ring_all. The caller's call is over, and
        # Twilio still tells the action URL how the Dial ended (it ignores the answer).
        self._pass_dial(hang_up_in)
        self._hang_up("while the line rang")
        if not node.attr("action"):
            return _End("caller-hung-up")
        params = {
            "DialBridged": "false",
            "DialCallStatus": self.sim.hang_up_dial_status,
            "DialCallSid": outcomes[-1].call.sid,
        }
        return self._ignored_request(
            _Fetch(
                urljoin(document_url, node.attr("action")),
                node.attr("method", "POST"),
                "dial-action",
                params,
                follow=False,
            )
        )

    def _ring_all(
        self,
        targets: list[TwimlNode],
        caller_id: str,
        timeout: float,
        document_url: str,
        hang_up_in: float = math.inf,
    ) -> list[_DialOutcome]:
        # Every number rings at once; whoever picks up first is screened first.
        legs = []
        for target in targets:
            phone = self.sim.phone(target.text)
            script = phone.next_script(self.sim.default_call_script)
            child = SimulatedCall(
                sid=self.sim.new_sid("CA"),
                account_sid=self.call.account_sid,
                from_=caller_id,
                to=target.text,
                direction="outbound-dial",
                status="queued",
                date_created=self.sim.now(),
                status_callback=_resolve(document_url, target.attr("statusCallback")),
                status_callback_events=tuple(
                    target.attr("statusCallbackEvent", "completed").replace(",", " ").split()
                ),
                parent_call_sid=self.call.sid,
            )
            self.sim.add_call(child)
            legs.append((script.seconds_to_answer(), target, phone, script, child))
        outcomes: list[_DialOutcome] = []
        bridged_at: float | None = None
        for ring, target, phone, script, child in sorted(legs, key=lambda leg: leg[0]):
            record = CallRecord(child.sid, "received", child.from_, child.to)
            phone._start_call(record)
            _set_status(self.sim, child, "initiated", "initiated")
            if script.answer in ("busy", "failed"):
                _finish(self.sim, child, phone, record, script.answer, 0)
                outcomes.append(_DialOutcome(child, script.answer, False, 0.0))
                continue
            _set_status(self.sim, child, "ringing", "ringing")
            if bridged_at is None and hang_up_in < timeout and hang_up_in <= ring:
                # The caller hung up while this phone still rang: Twilio cancels the leg.
                phone._note(record, f"(rang for {hang_up_in:g}s; the caller hung up)", 0)
                _finish(self.sim, child, phone, record, "canceled", 0)
                outcomes.append(_DialOutcome(child, "canceled", False, hang_up_in, 0, True))
                continue
            if bridged_at is not None or ring > timeout:
                # Another phone was connected first (this one stops ringing), or the Dial timed out.
                waited = timeout if bridged_at is None else min(bridged_at, timeout)
                phone._note(record, f"(rang for {waited:g}s, not picked up)", 0)
                status = "no-answer" if bridged_at is None else "canceled"
                _finish(self.sim, child, phone, record, status, 0)
                outcomes.append(_DialOutcome(child, "no-answer", False, waited))
                continue
            outcome = self._screen(
                ring, target, phone, script, child, record, document_url, hang_up_in
            )
            outcomes.append(outcome)
            if outcome.bridged:
                bridged_at = outcome.seconds
        return outcomes

    def _screen(
        self,
        ring: float,
        target: TwimlNode,
        phone: Phone,
        script: CallScript,
        child: SimulatedCall,
        record: CallRecord,
        document_url: str,
        hang_up_in: float = math.inf,
    ) -> _DialOutcome:
        record.answered = True
        if script.answer == "voicemail":
            phone._note(record, "(picked up by voicemail)", 0)
        _set_status(self.sim, child, "in-progress", "answered")
        self._tell_dial_time(ring)
        leg = CallLeg(
            self.sim,
            child,
            phone,
            record,
            script,
            service_number=child.from_,
            keeps_time=self._keeps_time,
        )
        reason: EndReason = "fell-through"
        if target.attr("url"):
            # The whisper runs on the called phone before bridging; only falling off its end
            # bridges, so a <Hangup/> after an unanswered <Gather> keeps voicemail out.
            reason = leg.run(
                urljoin(document_url, target.attr("url")), target.attr("method", "POST")
            )
        # The screening told the clock as it went.
        self._dial_told = max(self._dial_told, ring + leg.elapsed)
        if reason != "fell-through":
            _finish(self.sim, child, phone, record, "completed", leg.elapsed)
            self._note(f"({target.text} picked up but was not connected)", ring + leg.elapsed)
            return _DialOutcome(child, "no-answer", False, ring + leg.elapsed)
        if ring + leg.elapsed > hang_up_in:
            # The caller hung up while this phone was still in its screening (the simulator runs
            # the screening to its end first; the service may already have recorded the press).
            _finish(self.sim, child, phone, record, "completed", leg.elapsed)
            phone._note(record, "(the caller had hung up; not connected)", leg.elapsed)
            return _DialOutcome(child, "no-answer", False, hang_up_in, 0, True)
        self._note(f"connected to {target.text}", ring + leg.elapsed)
        self.record.answered = True
        phone._note(record, f"connected to {self.call.from_}", leg.elapsed)
        leg.elapsed += script.talk_seconds
        phone._note(record, f"(talked for {script.talk_seconds}s)", leg.elapsed)
        _finish(self.sim, child, phone, record, "completed", leg.elapsed)
        return _DialOutcome(
            child, "completed", True, ring + leg.elapsed - script.talk_seconds, script.talk_seconds
        )

    # Time and hanging up

    def _time_left(self) -> float:
        """Seconds until this phone hangs up by its script (infinite if it never does)."""
        after = self.script.hang_up_after
        return math.inf if after is None else max(0.0, after - self.elapsed)

    def _pass(self, seconds: float) -> None:
        self.elapsed += seconds
        if self._keeps_time:
            self.sim.let_time_pass(seconds)

    def _tell_dial_time(self, at: float) -> None:
        """The Dial under way has run `at` seconds: move the clock there (a phone picks up)."""
        if self._keeps_time and at > self._dial_told:
            self.sim.let_time_pass(at - self._dial_told)
            self._dial_told = at

    def _pass_dial(self, seconds: float) -> None:
        """The Dial took `seconds` in all; the clock has already been told part of it."""
        self.elapsed += seconds
        if self._keeps_time:
            self.sim.let_time_pass(max(0.0, seconds - self._dial_told))
        self._dial_told = 0.0

    def _hang_up(self, when: str) -> None:
        self._note(f"(hung up {when})")
        self.call.status = "completed"

    def _ignored_request(self, step: _Fetch) -> _Fetch:
        """A request Twilio makes after the hang-up; the final status may have to go first."""
        if self.sim.hang_up_order == "status-first" and self._on_end is not None:
            self._on_end()
        return step

    # Transcript and errors

    def _answer(self) -> None:
        if self.call.status in ("ringing", "queued", "initiated"):
            self.call.status = "in-progress"
        self.record.answered = True

    def _note(self, text: str, later: float = 0.0) -> None:
        self.phone._note(self.record, text, self.elapsed + later)

    def _application_error(self, problem: str) -> None:
        self.sim.record_error(problem)
        self.record.heard.append(APPLICATION_ERROR)
        self._note(f'heard "{APPLICATION_ERROR}"')


def _resolve(document_url: str, url: str) -> str | None:
    return urljoin(document_url, url) if url else None


def _set_status(sim: Simulator, call: SimulatedCall, status: str, event: str) -> None:
    call.status = status
    _post_status(sim, call, event)


def _finish(
    sim: Simulator,
    call: SimulatedCall,
    phone: Phone,
    record: CallRecord,
    status: str,
    seconds: float,
) -> None:
    call.status = status
    call.duration = math.ceil(seconds)
    call.end_time = sim.now()
    record.status = status
    record.duration = call.duration
    phone._note(record, f"--- call ended: {status}, {call.duration}s ---", seconds)
    _post_status(sim, call, "completed")


def _post_status(sim: Simulator, call: SimulatedCall, event: str) -> None:
    if not call.status_callback or event not in call.status_callback_events:
        return
    params = {
        "AccountSid": call.account_sid,
        "ApiVersion": API_VERSION,
        "CallSid": call.sid,
        "CallStatus": call.status,
        "Called": call.to,
        "Caller": call.from_,
        "CallbackSource": "call-progress-events",
        "Direction": call.direction,
        "From": call.from_,
        "SequenceNumber": str(call.sequence),
        "Timestamp": twilio_date(sim.now()),
        "To": call.to,
    }
    if call.parent_call_sid:
        params["ParentCallSid"] = call.parent_call_sid
    if event == "completed":
        params["CallDuration"] = str(call.duration or 0)
        params["Duration"] = str(math.ceil((call.duration or 0) / 60))
    call.sequence += 1
    sim.post_webhook("call-status", call.status_callback, params)
