"""The Now board (`/`): who is on call, live calls, open escalations and alerts, texts waiting
and the scheduler's health, refreshed in place.

The page and its fragment (`/now/board`, the board's sections alone) read the same
`crisisline.line_now.board` for the person signed in: the fragment shows nothing the page would
not. With JavaScript on, htmx asks for the fragment every few seconds and swaps it in (the
flashed notices above it stay); without, the page reloads itself every 30 seconds and has a
plain "Refresh" link.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from flask import render_template
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from crisisline import (
    alert_desk,
    contact_notes,
    crisis_plans,
    follow_ups,
    line_now,
    on_call_now,
    sms_intake,
)
from crisisline.console.common import blueprint, menu_item, person, visit
from crisisline.gate import requires
from crisisline.permissions import Permission
from crisisline.services import services

# How often the board asks for itself again with JavaScript on, and without.
REFRESH_SECONDS: Final = 5
RELOAD_SECONDS: Final = 30
# The oldest overdue follow-ups shown to duty managers; the rest are counted.
FOLLOW_UPS_SHOWN: Final = 5
# A worker's oldest notes still to write; the rest are counted.
NOTES_SHOWN: Final = 5


def overdue_follow_ups(session: Session, now: dt.datetime) -> line_now.FollowUpsOverdue:
    """The follow-ups open more than two working days, as the board lists them."""
    rows, total = follow_ups.overdue_now(
        session, now, services().settings.zone, limit=FOLLOW_UPS_SHOWN
    )
    lines = [
        line_now.FollowUpLine(
            follow_up_id=row.id,
            participant_id=row.participant_id,
            reference=row.reference,
            officer=row.officer,
            asked_at=row.asked_at,
            due_at=row.due_at,
        )
        for row in rows
    ]
    return line_now.FollowUpsOverdue(lines=lines, total=total)


def notes_to_write(session: Session, staff_id: int, now: dt.datetime) -> line_now.NotesToWrite:
    """The contacts this person handled whose note is still to write, oldest first."""
    rows, total = contact_notes.notes_to_write(session, staff_id, now, limit=NOTES_SHOWN)
    lines = [
        line_now.NoteLine(
            contact_id=row.contact_id,
            kind=row.kind,
            started_at=row.started_at,
            participant_id=row.participant_id,
            reference=row.reference,
        )
        for row in rows
    ]
    return line_now.NotesToWrite(lines=lines, total=total)


def plans_to_review(session: Session, staff_id: int, now: dt.datetime) -> line_now.PlansToReview:
    """His caseload's crisis plans past their review date, and his men with no plan."""
    today = now.astimezone(services().settings.zone).date()
    return line_now.PlansToReview(
        past_review=[
            line_now.PlanLine(flag.participant_id, flag.reference, flag.review_on)
            for flag in crisis_plans.due_for_review(session, today, officer_id=staff_id)
        ],
        missing=[
            line_now.PlanLine(flag.participant_id, flag.reference, None)
            for flag in crisis_plans.without_plan(session, officer_id=staff_id)
        ],
    )


RULES: Final = line_now.Rules(
    may_take=alert_desk.may_take,
    may_close=alert_desk.may_close,
    unrouted=sms_intake.oldest_unrouted,
    routing_overdue=sms_intake.ROUTING_OVERDUE,
    overdue_follow_ups=overdue_follow_ups,
    notes_to_write=notes_to_write,
    plans_to_review=plans_to_review,
)


@blueprint.get("/")
@requires(Permission.SIGNED_IN)
def home() -> ResponseReturnValue:
    """Who you are and your next shift, and the board: what is happening on the line now."""
    actor = person()
    svc = services()
    now = svc.clock.now()
    with svc.db.transaction() as session:
        shift = on_call_now.next_shift(session, actor.staff_id or 0, now)
        board = line_now.board(session, actor, now, svc.messages, RULES)
        line_now.log_shown(session, visit(), board)
    return render_template(
        "now.html",
        shift=shift,
        board=board,
        now=now,
        refresh_seconds=REFRESH_SECONDS,
        reload_seconds=RELOAD_SECONDS,
    )


@blueprint.get("/now/board")
@requires(Permission.SIGNED_IN)
def now_board() -> ResponseReturnValue:
    """The board's sections alone, for the page to swap in (the same reads as the page)."""
    actor = person()
    svc = services()
    now = svc.clock.now()
    with svc.db.transaction() as session:
        board = line_now.board(session, actor, now, svc.messages, RULES)
        line_now.log_shown(session, visit(), board)
    return render_template("now_board.html", board=board, refresh_seconds=REFRESH_SECONDS)


menu_item("Now", "console.home", Permission.SIGNED_IN, order=0)


@blueprint.app_template_filter("now_clock")
def now_clock(instant: dt.datetime) -> str:
    """The time of day to the second, in the service's zone: "03:12:09"."""
    return f"{instant.astimezone(services().settings.zone):%H:%M:%S}"


@blueprint.app_template_filter("now_age")
def now_age(seconds: int | None) -> str:
    """How long something has waited, as people say it: "45 s", "3 min 20 s", "2 h 5 min"."""
    if seconds is None:
        return ""
    minutes, secs = divmod(max(0, int(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s" if minutes < 10 else f"{minutes} min"
    return f"{secs} s"
