"""The handover in the console: any period ("since 17:00 yesterday"), everything in it.

`/handover?from=&to=` (menu "Handover", handover:read: duty managers and the clinical lead)
shows `crisisline.handover.build` for the period asked: presets and two local date-time
fields choose it; a time that cannot be read shows the form again with the message beside the
field (422) and nothing else. Unlike the email, the page shows each note's text: it is behind
sign-in, and reading it is logged, one entry per participant the handover names.
"""

from __future__ import annotations

import datetime as dt

from flask import current_app, render_template, request
from flask.typing import ResponseReturnValue

from crisisline import handover
from crisisline.console.common import blueprint, menu_item, visit
from crisisline.errors import InvalidInput
from crisisline.gate import requires
from crisisline.permissions import Permission
from crisisline.services import services

menu_item("Handover", "console.handover_page", Permission.HANDOVER_READ, order=15)


@blueprint.app_template_filter("handover_input")
def handover_input(instant: dt.datetime) -> str:
    """An instant as a local date-time field holds it: "2026-12-05T17:00"."""
    return instant.astimezone(services().settings.zone).strftime("%Y-%m-%dT%H:%M")


@blueprint.app_template_filter("handover_query")
def handover_query(instant: dt.datetime) -> str:
    """An instant as a link's from or to: "2026-12-05T17:00Z" (UTC: one reading only)."""
    return instant.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%MZ")


@blueprint.app_template_filter("handover_wait")
def handover_wait(seconds: int) -> str:
    """A wait in words: "4 min"."""
    return handover.duration_words(seconds)


@blueprint.get("/handover")
@requires(Permission.HANDOVER_READ)
def handover_page() -> ResponseReturnValue:
    """The handover of the period asked (default: the last morning handover's)."""
    svc = services()
    now = svc.clock.now()
    zone = svc.settings.zone
    at = svc.settings.handover_time
    typed = {name: request.args.get(name, "") for name in ("from", "to")}
    errors: dict[str, str] = {}
    shown = None
    try:
        period = handover.period_asked(typed["from"], typed["to"], now, at, zone)
    except InvalidInput as error:
        errors[error.field or "to"] = error.message
    if not errors:
        with svc.db.transaction() as session:
            shown = handover.build(session, period.start, period.end, now=now, zone=zone)
            handover.log_read(session, visit(), shown)
    page = render_template(
        "handover_page.html",
        shown=shown,
        outline=handover.outline(shown) if shown is not None else None,
        typed=typed,
        errors=errors,
        presets=handover.presets(now, at, zone),
        contact_pages="console.contact_page" in current_app.view_functions,
    )
    return page, 422 if errors else 200
