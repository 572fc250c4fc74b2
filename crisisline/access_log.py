"""gunicorn's access and error logs with phone numbers, secrets and message bodies redacted.

`config/gunicorn.conf.py` names `RedactingLogger` as gunicorn's `logger_class`. Every value an
access-log line can show (the request line, path, query string, referer, any header or environ
value a custom `access_log_format` names) goes through `crisisline.logs.redact_text` when the
line is formatted: query parameters by name, secret path segments (voicemail, calendar feed and
note links), then the number patterns. The handlers also keep the `RedactingFilter`, so a line that
gunicorn writes itself (an invalid request line in the error log) is redacted too.
"""

from __future__ import annotations

from typing import Any, Final

from gunicorn.glogging import Logger, SafeAtoms

from crisisline.logs import RedactingFilter, redact_text

# Headers whose whole value is a credential: never shown, whatever they hold.
_CREDENTIAL_ATOMS: Final = frozenset(
    {
        "{authorization}i",
        "{cookie}i",
        "{x-twilio-signature}i",
        "{proxy-authorization}i",
        "{http_authorization}e",
        "{http_cookie}e",
        "{http_x_twilio_signature}e",
        "{http_proxy_authorization}e",
        "{set-cookie}o",
    }
)


class RedactedAtoms(SafeAtoms):  # type: ignore[misc]
    """gunicorn's access-log values, each redacted as the format string reads it."""

    def __getitem__(self, key: str) -> Any:
        if key.lower() in _CREDENTIAL_ATOMS:
            return "[redacted]"
        value = super().__getitem__(key)
        return redact_text(value) if isinstance(value, str) else value


class RedactingLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger with phone numbers, secrets and message bodies kept out of every line."""

    atoms_wrapper_class = RedactedAtoms

    def setup(self, cfg: Any) -> None:
        """gunicorn's set-up, then the redacting filter on every handler it made."""
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.addFilter(RedactingFilter())
