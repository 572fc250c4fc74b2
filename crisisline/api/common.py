"""What every API blueprint shares: bearer auth, error bodies, phone fields, the actor's name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import g, request
from flask.typing import ResponseReturnValue
from flask_smorest import Api, Blueprint
from marshmallow import ValidationError, fields
from sqlalchemy.exc import DataError, StatementError
from werkzeug.exceptions import HTTPException

from crisisline import phones, tokens
from crisisline.app import services
from crisisline.errors import Conflict, DomainError, NotFound


class PhoneNumber(fields.String):
    """A phone number in any common form, loaded as E.164 using the service's DEFAULT_REGION."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return phones.normalise(text, services().settings.default_region)
        except phones.InvalidPhoneNumber as exc:
            raise ValidationError(f"{text!r} {exc}") from exc


class CrisisLineApi(Api):  # type: ignore[misc]
    """flask-smorest's Api with error bodies that say in words what to fix."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        app.register_error_handler(DomainError, _domain_error)
        # Numbers past 64 bits and dates near year 1 or 9999 overflow in the driver or in the
        # conversion to UTC, wherever they are used: answer 422, never 500.
        app.register_error_handler(OverflowError, _out_of_range)
        app.register_error_handler(DataError, _out_of_range)
        app.register_error_handler(StatementError, _statement_error)

    def handle_http_exception(self, error: HTTPException) -> ResponseReturnValue:
        """JSON for every HTTP error, with a one-line `message` naming each invalid field."""
        response: ResponseReturnValue = super().handle_http_exception(error)
        if error.code == 422:
            messages = getattr(error, "data", {}).get("messages", {})
            problems = list(flatten_messages(messages))
            body = {
                "code": 422,
                "status": "Unprocessable Entity",
                "message": "Invalid input: " + "; ".join(f"{k}: {v}" for k, v in problems),
                "errors": messages,
            }
            return body, 422
        return response


def flatten_messages(messages: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(field path, problem) pairs from marshmallow's nested error messages."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            # The location (json, query) is not a field; leave it out of the readable path.
            name = "" if key in ("json", "query", "form", "path") and not prefix else str(key)
            path = f"{prefix}.{name}" if prefix and name else (name or prefix)
            yield from flatten_messages(value, path)
    elif isinstance(messages, list):
        yield prefix or "input", " ".join(str(m) for m in messages)
    else:
        yield prefix or "input", str(messages)


def _out_of_range(error: Exception) -> ResponseReturnValue:
    return {
        "code": 422,
        "status": "Unprocessable Entity",
        "message": "Invalid input: a number or a date is out of range.",
    }, 422


def _statement_error(error: StatementError) -> ResponseReturnValue:
    if isinstance(error.orig, OverflowError | ValueError) or isinstance(error, DataError):
        return _out_of_range(error)
    raise error


def _domain_error(error: DomainError) -> ResponseReturnValue:
    status = 404 if isinstance(error, NotFound) else 409 if isinstance(error, Conflict) else 422
    body: dict[str, Any] = {"code": status, "message": error.message}
    if error.field:
        body["errors"] = {"json": {error.field: [error.message]}}
    return body, status


def protected_blueprint(
    name: str, import_name: str, url_prefix: str, description: str
) -> Blueprint:
    """A blueprint whose every route needs a valid bearer token (401 otherwise)."""
    blueprint = Blueprint(name, import_name, url_prefix=url_prefix, description=description)
    blueprint.before_request(_require_token)
    return blueprint


def _require_token() -> ResponseReturnValue | None:
    header = request.headers.get("Authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        return _unauthorised(
            "Send Authorization: Bearer <token>; create one with `crisisline tokens create NAME`."
        )
    svc = services()
    with svc.db.transaction() as session:
        token = tokens.authenticate(session, credential.strip(), now=svc.clock.now())
        if token is None:
            return _unauthorised("This token is not valid or has been revoked.")
        g.actor = f"token:{token.name}"
    return None


def _unauthorised(message: str) -> ResponseReturnValue:
    return (
        {"code": 401, "status": "Unauthorized", "message": message},
        401,
        {"WWW-Authenticate": 'Bearer realm="crisisline"'},
    )


def actor() -> str:
    """Who is making this request, as the audit log names them."""
    return str(g.get("actor", "unknown"))
