"""GET /calendar/rotas/<token>.ics and /calendar/staff/<token>.ics: the on-call shifts as
iCalendar feeds (crisisline.calendar_feeds builds them), for calendar apps that cannot sign in."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort
from icalendar import Calendar

from crisisline.calendar_feeds import find_token, rota_calendar, staff_calendar
from crisisline.gate import declare
from crisisline.permissions import Permission
from crisisline.rota_models import CalendarFeedKind
from crisisline.services import services

blueprint = Blueprint("calendar_feeds", __name__)
# Public to the gate on purpose: a calendar app reads a feed by its secret link.
declare(blueprint, Permission.PUBLIC)


def _ics(calendar: Calendar) -> Response:
    response = Response(calendar.to_ical(), mimetype="text/calendar")
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    # The URL is the secret: keep shared caches from holding a copy.
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


def _host() -> str:
    return urlsplit(services().settings.public_base_url).hostname or "crisisline"


@blueprint.get("/calendar/rotas/<token>.ics")
def rota_feed(token: str) -> Response:
    """A rota's on-call shifts as an iCalendar feed; 404 for an unknown or replaced link."""
    return _feed(CalendarFeedKind.ROTA, token, rota_calendar)


@blueprint.get("/calendar/staff/<token>.ics")
def staff_feed(token: str) -> Response:
    """One person's on-call shifts as an iCalendar feed; 404 for an unknown or replaced link."""
    return _feed(CalendarFeedKind.STAFF, token, staff_calendar)


def _feed(kind: CalendarFeedKind, token: str, build: Callable[..., Calendar]) -> Response:
    svc = services()
    with svc.db.transaction() as session:
        now = svc.clock.now()
        row = find_token(session, kind, token, now=now)
        if row is None:
            abort(404)
        return _ics(build(session, row.target_id, now=now, host=_host()))
