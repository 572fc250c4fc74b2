"""The Flask app standing in for Twilio's REST API (Messages, Calls, and recordings' media and
deletion)."""

from __future__ import annotations

from flask import Flask, Response, jsonify, request

from crisisline.simulator.resources import API_VERSION, TwilioApiError
from crisisline.simulator.simulator import Resource, Simulator

_ACCOUNT = f"/{API_VERSION}/Accounts/<account_sid>"


def create_simulator_app(sim: Simulator) -> Flask:
    """A WSGI app answering Twilio's Messages, Calls and Recordings endpoints for `sim`."""
    app = Flask("crisisline.simulator")

    @app.post(f"{_ACCOUNT}/Messages.json")
    def create_message(account_sid: str) -> Response:
        try:
            _guard(sim, account_sid, "Messages")
            message = sim.create_message(request.form.to_dict())
        except TwilioApiError as error:
            return _error(error)
        return _created(sim, message.to_json())

    @app.post(f"{_ACCOUNT}/Calls.json")
    def create_call(account_sid: str) -> Response:
        try:
            _guard(sim, account_sid, "Calls")
            call = sim.create_call(
                request.form.to_dict(), request.form.getlist("StatusCallbackEvent")
            )
        except TwilioApiError as error:
            return _error(error)
        return _created(sim, call.to_json())

    @app.get(f"{_ACCOUNT}/Messages/<sid>.json")
    def fetch_message(account_sid: str, sid: str) -> Response:
        try:
            _authenticate(sim, account_sid)
            return jsonify(sim.find_message(sid).to_json())
        except TwilioApiError as error:
            return _error(error)

    @app.get(f"{_ACCOUNT}/Calls/<sid>.json")
    def fetch_call(account_sid: str, sid: str) -> Response:
        try:
            _authenticate(sim, account_sid)
            return jsonify(sim.find_call(sid).to_json())
        except TwilioApiError as error:
            return _error(error)

    @app.get(f"{_ACCOUNT}/Recordings/<sid>.mp3")
    def fetch_recording_audio(account_sid: str, sid: str) -> Response:
        """A recording's media, as Twilio serves it with HTTP auth on media URLs enforced."""
        try:
            _authenticate(sim, account_sid)
            audio = sim.find_recording(sid).audio()
        except TwilioApiError as error:
            return _error(error)
        return Response(audio, mimetype="audio/mpeg")

    @app.delete(f"{_ACCOUNT}/Recordings/<sid>.json")
    def delete_recording(account_sid: str, sid: str) -> Response:
        """Delete a recording: 204 with no body, as Twilio answers; 404 (20404) for one it does
        not have, deleted already or never made. Injected faults for "Recordings" apply."""
        try:
            _guard(sim, account_sid, "Recordings")
            sim.delete_recording(sid)
        except TwilioApiError as error:
            return _error(error)
        return Response(status=204)

    @app.errorhandler(404)
    def not_found(_: Exception) -> Response:
        return _error(
            TwilioApiError(404, 20404, f"The requested resource {request.path} was not found")
        )

    @app.errorhandler(405)
    def not_allowed(_: Exception) -> Response:
        return _error(TwilioApiError(405, 20004, "Method not allowed"))

    return app


def _authenticate(sim: Simulator, account_sid: str) -> None:
    auth = request.authorization
    sim.authenticate(
        account_sid,
        auth.username if auth is not None else None,
        auth.password if auth is not None else None,
    )


def _guard(sim: Simulator, account_sid: str, resource: Resource) -> None:
    _authenticate(sim, account_sid)
    after_hang = sim.hold_request(resource, request.form.get("To", "").strip() or None)
    if after_hang is not None:
        raise after_hang
    fault = sim.take_request_fault(resource)
    if fault is not None:
        raise fault


def _created(sim: Simulator, payload: dict[str, object]) -> Response:
    response = jsonify(payload)
    response.status_code = 201
    if sim.delivery == "immediate":
        # After the response is out, so the service has the SID before any callback about it.
        response.call_on_close(sim.run_pending)
    return response


def _error(error: TwilioApiError) -> Response:
    response = jsonify(error.to_json())
    response.status_code = error.status
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
    return response
