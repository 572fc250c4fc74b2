"""Keeping a webhook request in the spool (crisisline.spool) when the database cannot take it,
for webhooks.spool_recorder to record later exactly as the webhook would have."""

from __future__ import annotations

import datetime as dt
import logging

from flask import request

from crisisline.services import Services
from crisisline.spool import Entry
from crisisline.telephony import SIGNATURE_HEADER

log = logging.getLogger(__name__)


def keep(svc: Services, received_at: dt.datetime) -> None:
    """Keep the current (signed) request in the spool; if even that fails, say so loudly."""
    entry = Entry(
        path=request.path,
        query=request.query_string.decode("utf-8", "replace"),
        params=tuple(request.form.items(multi=True)),
        signature=request.headers.get(SIGNATURE_HEADER),
        received_at=received_at,
    )
    try:
        svc.spool.keep(entry)
    except Exception as error:
        # Nothing more can be done here: the caller or texter still gets the fail-safe.
        log.critical(
            "%s could not be recorded nor kept in the spool (%s): it is lost unless Twilio's "
            "logs are read",
            request.path,
            type(error).__name__,
        )
        return
    log.error("%s kept in the spool, to be recorded once the database is back", request.path)
    svc.spool_drainer.keep_draining()
