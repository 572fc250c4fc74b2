"""GET /: what this service is and where to go next (until the staff console takes the root)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from markupsafe import escape

from crisisline.gate import declare
from crisisline.permissions import Permission

blueprint = Blueprint("home", __name__)
# Public to the gate on purpose: the service's name and links (until the console takes /).
declare(blueprint, Permission.PUBLIC)

NAME = "Resettle crisis line"
LINKS = {
    "api_document": "/api/v1/openapi.json",
    "health": "/healthz",
    "liveness": "/livez",
}
ABOUT = (
    "The 24-hour crisis line service: calls and texts to the crisis number are routed to the "
    "on-call rota, escalated until someone answers, and recorded against the participant. "
    "The JSON API is under /api/v1 (bearer token: `crisisline tokens create NAME`); the "
    "repository's README and docs/ explain everything else."
)


@blueprint.get("/")
def home() -> ResponseReturnValue:
    """A short page (or JSON, for a client that prefers it) naming the service and its links."""
    # Browsers name text/html; curl and API clients send */* or JSON and get JSON.
    if not any(kind == "text/html" for kind, _quality in request.accept_mimetypes):
        return jsonify(service=NAME, about=ABOUT, links=LINKS)
    items = "".join(
        f'<li><a href="{escape(path)}">{escape(path)}</a> ({escape(name.replace("_", " "))})</li>'
        for name, path in LINKS.items()
    )
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{NAME}</title></head><body><h1>{NAME}</h1><p>{escape(ABOUT)}</p>"
        f"<ul>{items}</ul></body></html>"
    )
    return page, 200, {"Content-Type": "text/html; charset=utf-8"}
