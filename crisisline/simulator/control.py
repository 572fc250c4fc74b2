"""The control endpoints of `simulate serve`: `simulate sms` and `simulate call` play through it,
and faults can be injected into it while it runs.

One simulator must hold everything the service will later ask Twilio for (a recording a
voicemail link plays, the texts a phone receives), so the participant commands hand their
work to the running `serve` process instead of simulating a second Twilio of their own.
The endpoints take the account's basic auth, like the REST API they sit beside.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, jsonify, request

from crisisline.simulator.phone import CallScript
from crisisline.simulator.resources import TwilioApiError
from crisisline.simulator.simulator import Simulator

CONTROL_PREFIX = "/_simulator"


def add_control_endpoints(app: Flask, sim: Simulator) -> None:
    """Let participant commands text and call through `sim` and read what phones received."""

    @app.post(f"{CONTROL_PREFIX}/sms")
    def play_sms() -> Response:
        denied = _denied(sim)
        if denied is not None:
            return denied
        form = _json()
        marks = transcript_marks(sim)
        try:
            sim.configure_number(
                form["to"], sms_url=form["sms_url"], sms_fallback_url=form.get("sms_fallback_url")
            )
            mark = len(sim.messages)
            sim.incoming_sms(form["from"], form["to"], form["body"])
        except (KeyError, ValueError) as exc:
            return _unprocessable(str(exc))
        # The service's own answers come later, through its outbox: the caller polls for them.
        return jsonify({"messages_mark": mark, "transcript": transcript_since(sim, marks)})

    @app.post(f"{CONTROL_PREFIX}/call")
    def play_call() -> Response:
        denied = _denied(sim)
        if denied is not None:
            return denied
        form = _json()
        marks = transcript_marks(sim)
        staff = form.get("staff_script")
        usual = sim.default_call_script
        try:
            sim.configure_number(
                form["to"],
                voice_url=form["voice_url"],
                voice_fallback_url=form.get("voice_fallback_url"),
                voice_status_callback=form.get("voice_status_callback"),
            )
            caller = CallScript(press=tuple(form.get("press", ())), message=form.get("message"))
            if staff is not None:
                sim.default_call_script = CallScript(**staff)
            mark = len(sim.messages)
            record = sim.incoming_call(form["from"], form["to"], script=caller)
        except (KeyError, TypeError, ValueError) as exc:
            return _unprocessable(str(exc))
        finally:
            sim.default_call_script = usual
        return jsonify(
            {
                "messages_mark": mark,
                "transcript": transcript_since(sim, marks),
                "connected": record.bridged_to is not None,
            }
        )

    @app.post(f"{CONTROL_PREFIX}/faults/recording-deletions")
    def recording_deletion_faults() -> Response:
        """Fail the next deletions ({"fail": N, "status": 500}) or hold them past the client's
        timeout ({"hang": N, "seconds": 30, "status": null}), on a running simulator."""
        denied = _denied(sim)
        if denied is not None:
            return denied
        form = _json()
        try:
            fail, hang = _count(form, "fail"), _count(form, "hang")
            status = form.get("status")
            if status is not None and (type(status) is not int or not 400 <= status <= 599):
                raise ValueError("status must be an HTTP error status (400 to 599)")
            seconds = form.get("seconds", 30.0)
            if type(seconds) not in (int, float) or seconds < 0:
                raise ValueError("seconds must be a number of seconds, not negative")
            if not fail and not hang:
                raise ValueError("give fail or hang: how many deletions")
            if fail:
                sim.fail_next_deletions(fail, status=status or 500)
            if hang:
                sim.hang_next_deletions(hang, float(seconds), status=status)
        except ValueError as exc:
            return _unprocessable(str(exc))
        return jsonify({"fail": fail, "hang": hang})

    @app.get(f"{CONTROL_PREFIX}/messages")
    def messages() -> Response:
        denied = _denied(sim)
        if denied is not None:
            return denied
        after = request.args.get("after", "0")
        start = int(after) if after.isdigit() else 0
        sent = [
            {"from": m.from_, "to": m.to, "body": m.body, "index": index}
            for index, m in enumerate(list(sim.messages))
            if index >= start and m.direction != "inbound"
        ]
        return jsonify({"messages": sent, "mark": len(sim.messages)})


def transcript_marks(sim: Simulator) -> dict[str, int]:
    """How long each phone's transcript is now, to show only what happens after."""
    return {phone.number: len(phone.transcript) for phone in sim.phones}


def transcript_since(sim: Simulator, marks: Mapping[str, int]) -> str:
    """What each phone heard, pressed, sent and received since `marks`, phone by phone."""
    blocks = []
    for phone in sim.phones:
        entries = phone.transcript[marks.get(phone.number, 0) :]
        if entries:
            lines = [f"=== {phone.name} ==="]
            for entry in entries:
                if entry.at_seconds is None:
                    lines.append(entry.text)
                else:
                    minutes, seconds = divmod(int(entry.at_seconds), 60)
                    lines.append(f"  {minutes:02d}:{seconds:02d}  {entry.text}")
            blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n" if blocks else ""


def _count(form: dict[str, Any], name: str) -> int:
    value = form.get(name, 0)
    if type(value) is not int or value < 0:
        raise ValueError(f"{name} must be a whole number of deletions, not negative")
    return value


def _json() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _denied(sim: Simulator) -> Response | None:
    auth = request.authorization
    try:
        sim.authenticate(
            sim.account_sid,
            auth.username if auth is not None else None,
            auth.password if auth is not None else None,
        )
    except TwilioApiError as error:
        response = jsonify(error.to_json())
        response.status_code = error.status
        return response
    return None


def _unprocessable(problem: str) -> Response:
    response = jsonify({"message": f"cannot play that: {problem}"})
    response.status_code = 422
    return response
