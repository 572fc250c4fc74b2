"""Logging set-up that keeps phone numbers, email addresses and message bodies out of every log
line."""

from __future__ import annotations

import logging
import re
from typing import Final
from urllib.parse import unquote_plus

from crisisline.mail import mask_addresses

# A phone number in any form a log line might carry it: E.164, national with spaces,
# URL-encoded (%2B44...) in an access log's query string.
_PHONE = re.compile(
    r"(?:\+|%2B)\d[\d \-]{5,17}\d"  # international: +44 7700 900123, %2B447700900123
    # UK national: 07700 900123, 07700+900123 (form-encoded), 07700%20900123
    r"|(?<![\w.:/-])0\d{2,4}(?:[ \-+]|%20)?\d{3,4}(?:[ \-+]|%20)?\d{3,4}(?![\w.:])"
    r"|(?<![\w.:/-])44\d{9,10}(?!\d)",  # E.164 without its plus
    re.IGNORECASE,
)
# Message bodies travel as Body=... in Twilio's form posts and in query strings.
_BODY = re.compile(r"(Body=)[^&\s\"']*", re.IGNORECASE)
# ...and as 'Body': '...' when a dict of webhook parameters is logged (repr or JSON).
_BODY_FIELD = re.compile(r"""(["']Body["']\s*:\s*)(["']).*?(?<!\\)\2""", re.IGNORECASE)
# Path segments that are secrets: a voicemail link's token plays a participant's message to
# whoever has it (voicemail_links), a calendar feed's token shows the rota (calendar_feeds).
_PATH_SECRET = re.compile(
    r"(/+(?:voicemail|calendar/+(?:rotas|staff))/+)[^\s\"'?#]+", re.IGNORECASE
)
# A note link's token (note_prompts) and a crisis plan link's (crisis_plan_links), in its path
# and in the sign-in page's `next` (encoded).
_NOTE_LINK = re.compile(
    r"((?:/|%2F)+(?:notes|plan)(?:/|%2F)+link(?:/|%2F)+)[^\s\"'?#&]+", re.IGNORECASE
)

# Query and form parameters are redacted by NAME, whatever their value looks like: a number
# can be written in more ways than any pattern knows (7700-900-201, (07700) 900201,
# 0044 7700 900201, %2B44(0)7700900201, one digit at a time). Every parameter the service
# accepts that can carry a phone number (the API's phone, to, from; Twilio's From, To, Caller,
# Called, ForwardedFrom) keeps only its last three digits; secrets and words are removed.
# `from` and `to` are times in some API queries: they are redacted too, as the name decides.
# `name` (the participants filter) is a person's name: removed, like a message's words.
NUMBER_PARAMETERS: Final = frozenset(
    {"phone", "phones", "number", "from", "to", "caller", "called", "forwardedfrom", "mobile"}
)
SECRET_PARAMETERS: Final = frozenset(
    {
        "token",
        "key",
        "api_key",
        "access_token",
        "secret",
        "password",
        "signature",
        "sig",
        "bodysha256",
        "body",
        "transcriptiontext",
        "callername",
        "name",
        "recordingurl",
    }
)
# A name=value pair that starts a line, a query string or a word, up to the next separator.
# The value runs to the next &, space or quote that ends a log field; a quote gunicorn escaped
# (\") inside a request line does not end it, so a number cut by ; \" or # leaves no digits.
_PARAMETER = re.compile(r"""(?:(?<=^)|(?<=[?&;\s"'(]))([^\s=&;?#"']+)=((?:\\"|[^&\s"])*)""")
_ALREADY_REDACTED = re.compile(r"\*\*\*\d{3}|\[redacted\]")
_DECODE_ROUNDS: Final = 3  # %2570hone is %70hone is phone: decode a name until it settles


def redact_text(text: str) -> str:
    """`text` with message bodies removed, phone numbers cut to their last three digits and
    email addresses to their first character and domain."""
    text = _PARAMETER.sub(_redact_parameter, text)
    text = mask_addresses(text)
    text = _BODY.sub(r"\1[redacted]", text)
    text = _BODY_FIELD.sub(r"\1'[redacted]'", text)
    text = _PATH_SECRET.sub(r"\1[redacted]", text)
    text = _NOTE_LINK.sub(r"\1[redacted]", text)
    return _PHONE.sub(_last_three, text)


def parameter_name(raw: str) -> str:
    """A query parameter's name as the app reads it: percent- and +-decoded, lower case."""
    name = raw
    for _ in range(_DECODE_ROUNDS):
        decoded = unquote_plus(name)
        if decoded == name:
            break
        name = decoded
    return name.strip().lower()


def _redact_parameter(match: re.Match[str]) -> str:
    raw_name, value = match.group(1), match.group(2)
    if _ALREADY_REDACTED.fullmatch(value):
        return match.group(0)  # a line redacted once (access log atoms, then the filter)
    name = parameter_name(raw_name)
    if name in SECRET_PARAMETERS:
        return f"{raw_name}=[redacted]"
    if name in NUMBER_PARAMETERS:
        digits = re.sub(r"\D", "", unquote_plus(parameter_name(value)))
        kept = "***" + digits[-3:] if len(digits) >= 7 else "[redacted]"
        return f"{raw_name}={kept}"
    return match.group(0)


def _last_three(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", re.sub("%2B|%20", "", match.group(0), flags=re.IGNORECASE))
    if len(digits) < 7:
        return match.group(0)
    return "***" + digits[-3:]


class RedactingFilter(logging.Filter):
    """Rewrites each record's final message through redact_text before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = redact_text(message)
        record.args = None
        if record.exc_info:
            # A traceback carries the failing SQL's parameters (numbers, a participant's
            # words): format it here, redacted, so no handler formats the raw one later.
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


def configure_logging(level: int = logging.INFO) -> None:
    """Send logs to stderr through the redacting filter (idempotent)."""
    root = logging.getLogger()
    if any(isinstance(f, RedactingFilter) for h in root.handlers for f in h.filters):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level)
    # Alembic announces its plugins at import time; that is noise in every process.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # APScheduler logs every run of every job at INFO: once a second, that drowns the rest.
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
    # The twilio client logs every request at INFO: noise, and a risk of carrying details.
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
    # Werkzeug and gunicorn add their own handlers; filter theirs too.
    for name in ("werkzeug", "gunicorn.access", "gunicorn.error"):
        for existing in logging.getLogger(name).handlers:
            existing.addFilter(RedactingFilter())
