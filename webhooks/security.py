"""Twilio signature checking for every webhook, against the public URL Twilio actually signed."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flask import abort, request

from crisisline.services import services
from crisisline.telephony import SIGNATURE_HEADER, is_valid_signature, public_url

P = ParamSpec("P")
R = TypeVar("R")
log = logging.getLogger(__name__)


def signed_by_twilio(view: Callable[P, R]) -> Callable[P, R]:
    """Answer 403, having recorded nothing, unless X-Twilio-Signature is valid for this request.

    The URL checked is PUBLIC_BASE_URL + path + the raw query string, never the URL as seen
    behind a proxy (which changes scheme and host) and never re-encoded.
    """

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        settings = services().settings
        url = public_url(settings.public_base_url, request.path, request.query_string)
        signature = request.headers.get(SIGNATURE_HEADER)
        if not is_valid_signature(settings.twilio_auth_token, url, request.form, signature):
            log.warning("rejected webhook to %s: missing or invalid signature", request.path)
            abort(403)
        return view(*args, **kwargs)

    return wrapper
