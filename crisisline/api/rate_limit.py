"""A rate limit on the HTTP API per token (Flask-Limiter): 429 with Retry-After beyond it.

One limit (API_RATE_LIMIT, default 300 per minute) is shared by every API route and counted per
API token, so a runaway integration slows itself down and no one else; a request without a valid
token is counted by the client's address. Only the API's blueprints are limited: Twilio's
webhooks, /healthz, /livez, the calendar feeds and voicemail links never are, because a crisis
call or text must never be answered 429.

Counts are kept where API_RATE_LIMIT_STORAGE_URL says: memory:// (the default) counts in each
process, so with several gunicorn workers a token gets up to the limit from each; a shared
store (redis://host:6379, memcached://host:11211) makes it one limit for the whole service.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_smorest import Blueprint

from crisisline.gate import current_actor
from crisisline.settings import Settings

__all__ = ["limit_api", "requester"]


def requester() -> str:
    """Whom a request is counted against: its API token, or its address without a valid one."""
    actor = current_actor()
    if actor is not None and actor.token_id is not None:
        return f"token:{actor.token_id}"
    return f"address:{get_remote_address()}"


def limit_api(app: Flask, settings: Settings, blueprints: Iterable[Blueprint]) -> Limiter:
    """Count every request to `blueprints` against one limit per token."""
    limiter = Limiter(
        requester,
        app=app,
        # Nothing outside the blueprints below is limited: webhooks and health checks never.
        default_limits=[],
        storage_uri=settings.api_rate_limit_storage_url,
        # X-RateLimit-* on every limited answer, and Retry-After on a 429.
        headers_enabled=True,
        # A store that cannot be reached lets requests through rather than failing them.
        swallow_errors=True,
    )
    shared = limiter.shared_limit(
        settings.api_rate_limit,
        scope="api",
        error_message=(
            f"Too many requests from this token: the API takes {settings.api_rate_limit}. "
            "Wait for the seconds in Retry-After, then go on."
        ),
    )
    for blueprint in blueprints:
        shared(blueprint)
    return limiter
