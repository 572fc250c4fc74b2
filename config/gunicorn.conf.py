"""gunicorn settings for the `web` process (Procfile). Values come from the environment."""

from __future__ import annotations

import gc
import os
from typing import Any

from crisisline.access_log import RedactingLogger

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# A thread waiting on the database holds its slot. With more of them, more webhooks overlap
# their database waits, and calls or texts that arrive together share one commit
# (crisisline/group_commit.py); docs/performance.md has the measurements behind 8.
threads = int(os.environ.get("WEB_THREADS", "8"))
# Twilio gives up on a webhook after 15 s and plays its fallback; a worker stuck longer than
# that helps nobody, so recycle it.
timeout = int(os.environ.get("WEB_TIMEOUT", "20"))
graceful_timeout = 20
# gunicorn answers a request line longer than this with an HTML 414 that API clients cannot
# read, so it is raised to gunicorn's maximum and the app itself answers a JSON 414 for URLs
# longer than crisisline.api.common.MAX_URL_LENGTH (8000), well inside it: every over-long URL
# up to 8190 bytes gets a JSON answer. Beyond gunicorn's maximum only its own page is possible.
limit_request_line = 8190
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


# Phone numbers, secrets (calendar and voicemail link tokens) and message bodies never reach
# the access or error log: parameters are redacted by name (crisisline/access_log.py).
logger_class = RedactingLogger


def post_worker_init(worker: Any) -> None:
    """Move everything the worker loaded (the app, its modules, SQLAlchemy's metadata) out of
    the garbage collector's reach: a full collection then scans only what requests create.

    Without this a full collection in a worker scanned every object loaded at start-up and
    stopped all its threads for about 0.1 s under load (measured: 104-144 ms on the benchmark
    machine; 4 ms after), so every webhook in flight in that worker waited: the slowest one in
    a hundred took twice as long. Objects frozen here are never freed, which is what they are:
    they live as long as the worker does.
    """
    gc.freeze()
