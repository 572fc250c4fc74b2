"""gunicorn settings for the `web` process (Procfile). Values come from the environment."""

from __future__ import annotations

import os
from typing import Any

from gunicorn.glogging import Logger

from crisisline.logs import RedactingFilter

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
# Twilio gives up on a webhook after 15 s and plays its fallback; a worker stuck longer than
# that helps nobody, so recycle it.
timeout = int(os.environ.get("WEB_TIMEOUT", "20"))
graceful_timeout = 20
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


class RedactingLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger with phone numbers and message bodies redacted from every line."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.addFilter(RedactingFilter())


logger_class = RedactingLogger
