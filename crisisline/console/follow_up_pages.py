"""Console pages for follow-ups: the officer's list, marking one done, and those overdue.

The list (`/follow-ups`) shows the follow-ups the person reaches (`crisisline.follow_ups`:
an officer's own and his caseload's, a duty manager's all), a tab at a time: open (oldest
first, the default), overdue, done and withdrawn. Each open one the person may mark carries a
one-line "Done: what I did" form; a line that cannot be taken is shown again beside the field on
a page of that follow-up alone. The list is logged (one entry per participant shown); marking
one done is logged as a change of his record, with a break-glass reason outside one's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from crisisline import follow_ups, record_access
from crisisline.console.common import (
    ReasonWanted,
    RecordNotShown,
    blueprint,
    menu_item,
    person,
    safe_next,
    visit,
)
from crisisline.errors import Conflict, InvalidInput
from crisisline.gate import requires
from crisisline.note_models import FollowUpStatus
from crisisline.permissions import Permission
from crisisline.services import services

menu_item("Follow-ups", "console.follow_ups", Permission.FOLLOW_UPS_READ, order=38)


@dataclass(frozen=True)
class Tab:
    """One view of the list: its label, what it asks for, and what it says when empty."""

    label: str
    query: follow_ups.Query
    empty: str


TABS: Final = {
    "open": Tab(
        "Open",
        follow_ups.Query(status=FollowUpStatus.OPEN, oldest_first=True),
        "Nothing is waiting for you: no open follow-up.",
    ),
    "overdue": Tab(
        "Overdue",
        follow_ups.Query(overdue=True, oldest_first=True),
        "None is open more than two working days.",
    ),
    "done": Tab("Done", follow_ups.Query(status=FollowUpStatus.DONE), "None is done yet."),
    "withdrawn": Tab(
        "Withdrawn",
        follow_ups.Query(status=FollowUpStatus.WITHDRAWN),
        "None was withdrawn by a later version of a note.",
    ),
}
MAX_PAGE: Final = 100_000


@blueprint.get("/follow-ups", endpoint="follow_ups")
@requires(Permission.FOLLOW_UPS_READ)
def follow_ups_list() -> ResponseReturnValue:
    """The follow-ups the person may read, a tab at a time, with a "done" form on each open one."""
    status = request.args.get("status", "").strip() or "open"
    page_number = _page_number(request.args.get("page", ""))
    if status not in TABS or page_number is None:
        message = (
            "Choose one of the tabs: open, overdue, done or withdrawn."
            if status not in TABS
            else "A page is a whole number from 1."
        )
        body = render_template(
            "follow_up_list.html", tabs=TABS, tab="open", error=message, rows=None
        )
        return body, 422
    tab = TABS[status]
    svc = services()
    current = visit()
    with svc.db.transaction() as session:
        query = follow_ups.Query(
            status=tab.query.status,
            overdue=tab.query.overdue,
            oldest_first=tab.query.oldest_first,
            offset=(page_number - 1) * follow_ups.PAGE_SIZE,
            limit=follow_ups.PAGE_SIZE,
        )
        rows, total = follow_ups.find(
            session, current.actor, query, now=current.at, zone=svc.settings.zone
        )
        record_access.list_read(
            session,
            current,
            Permission.FOLLOW_UPS_READ,
            record_type=follow_ups.RECORD_TYPE,
            participant_ids=[row.participant_id for row in rows],
        )
    pages = max(1, -(-total // follow_ups.PAGE_SIZE))
    return render_template(
        "follow_up_list.html",
        tabs=TABS,
        tab=status,
        error=None,
        rows=rows,
        total=total,
        page=page_number,
        pages=pages,
        markable={row.id for row in rows if follow_ups.may_mark_done(current.actor, row)},
        here=request.full_path.rstrip("?"),
        errors={},
        contact_pages=_contact_pages(),
    )


def _page_number(text: str) -> int | None:
    text = text.strip() or "1"
    if not text.isascii() or not text.isdigit():
        return None
    number = int(text)
    return number if 1 <= number <= MAX_PAGE else None


@blueprint.post("/follow-ups/<int:follow_up_id>/done")
@requires(Permission.FOLLOW_UPS_WRITE)
def follow_up_done(follow_up_id: int) -> ResponseReturnValue:
    """Mark the follow-up done with one line of what was done (required, one line, 500 at most)."""
    svc = services()
    typed = request.form.get("what_done", "")
    target = safe_next(request.form.get("next")) or url_for("console.follow_ups")
    try:
        what = follow_ups.checked_what_done(typed)
    except InvalidInput as error:
        return _form_again(follow_up_id, error.message, typed, target)
    current = visit()
    try:
        with svc.db.transaction() as session:
            follow_ups.mark_done(
                session,
                current.actor,
                follow_up_id,
                what,
                current.at,
                origin=current.origin,
                zone=svc.settings.zone,
            )
    except Conflict as error:
        # A second click, or a colleague first, or withdrawn meanwhile: said, nothing changed.
        flash(error.message)
        return redirect(target, code=303)
    except follow_ups.NotYours as error:
        return render_template("refused.html", message=error.message), 403
    except record_access.Refused:
        raise _not_shown(follow_up_id) from None
    except record_access.ReasonRequired as error:
        raise _reason_wanted(follow_up_id, error.message) from None
    flash("Marked done, with what you did. It is no longer in the open follow-ups.")
    return redirect(target, code=303)


def _form_again(follow_up_id: int, message: str, typed: str, target: str) -> ResponseReturnValue:
    # Nothing changes: the follow-up alone (opened as a read, so refused outside the reach),
    # with the message beside the field and what was typed.
    svc = services()
    current = visit()
    try:
        with svc.db.transaction() as session:
            row = follow_ups.get(session, current, follow_up_id, zone=svc.settings.zone)
    except record_access.Refused:
        raise _not_shown(follow_up_id) from None
    except record_access.ReasonRequired as error:
        raise _reason_wanted(follow_up_id, error.message) from None
    page = render_template(
        "follow_up_done.html",
        row=row,
        markable={row.id} if follow_ups.may_mark_done(person(), row) else set(),
        errors={row.id: message},
        # What was typed, to correct rather than retype (bounded: the page echoes it).
        typed={row.id: typed[: 2 * follow_ups.WHAT_DONE_MAX]},
        here=target,
        contact_pages=_contact_pages(),
    )
    return page, 422


def _contact_pages() -> bool:
    # The contact's page belongs to the notes area: link to it once it is there.
    return "console.contact_page" in current_app.view_functions


def _participant(follow_up_id: int) -> int | None:
    with services().db.transaction() as session:
        return follow_ups.participant_of(session, follow_up_id)


def _not_shown(follow_up_id: int) -> RecordNotShown:
    return RecordNotShown(visit(), follow_ups.RECORD_TYPE, follow_up_id, _participant(follow_up_id))


def _reason_wanted(follow_up_id: int, message: str) -> ReasonWanted | RecordNotShown:
    participant_id = _participant(follow_up_id)
    if participant_id is None:  # a reason is asked only about a participant's record
        return _not_shown(follow_up_id)
    return ReasonWanted(participant_id, message)
