"""Risk alerts and escalations: lists with filters, an alert with its evidence, and the
actions (acknowledge, resolve; taking and closing an escalation posts to
`crisisline.console.escalation_actions`).

Each page opening one alert or escalation goes through `open_participant_record` (404 and the
refusal logged outside the grant, a break-glass reason outside one's own, the read logged);
each list is narrowed to what the grant reaches (`crisisline.caseloads`) and logged, one entry
per participant shown. Acknowledging and resolving follow the API's rules
(`crisisline.alerts`): the alert's escalation stops, and a resolution needs a note.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Final
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from crisisline import alert_desk, record_access
from crisisline import alerts as alert_service
from crisisline.alert_models import AlertStatus, RiskAlert
from crisisline.console.common import (
    ReasonWanted,
    blueprint,
    menu_item,
    open_participant_record,
    person,
    visit,
)
from crisisline.errors import NotFound
from crisisline.gate import requires
from crisisline.models import Staff
from crisisline.permissions import Actor, Permission
from crisisline.record_access import Action
from crisisline.services import services

NOTE_MAX: Final = 2000

menu_item("Alerts", "console.alerts", Permission.ALERTS_READ, order=30)
menu_item("Escalations", "console.escalations", Permission.ESCALATIONS_READ, order=35)


@blueprint.app_template_filter("alert_pair")
def alert_pair(value: str) -> tuple[str, str]:
    """A stored word and how a select shows it: ("acknowledged", "Acknowledged")."""
    return value, value.replace("_", " ").capitalize()


@blueprint.app_template_filter("alert_officer")
def alert_officer(officer: Staff) -> tuple[str, str]:
    """An officer as a choice of a list's officer filter: (id, name)."""
    return str(officer.id), officer.name if officer.active else f"{officer.name} (inactive)"


@blueprint.app_template_filter("alert_rule")
def alert_rule(rule: str) -> str:
    """A rule's name as people read it: "phrases.self_harm" as "words: self harm"."""
    kind, _, name = rule.rpartition(".")
    words = name.replace("_", " ")
    return f"words: {words}" if kind == "phrases" else words


# ---------------------------------------------------------------------------------------------
# Lists


@blueprint.get("/alerts")
@requires(Permission.ALERTS_READ)
def alerts() -> ResponseReturnValue:
    """Risk alerts the person may read, filtered, newest or most severe first, a page at a time."""
    return _list(
        "alert_list.html",
        Permission.ALERTS_READ,
        "alert",
        alert_desk.alert_page,
        statuses=alert_desk.ALERT_STATUSES,
        severities=alert_desk.ALERT_SEVERITIES,
        orders=alert_desk.ORDERS,
    )


@blueprint.get("/escalations")
@requires(Permission.ESCALATIONS_READ)
def escalations() -> ResponseReturnValue:
    """Escalations the person may read, filtered, newest first, a page at a time."""
    return _list(
        "escalation_list.html",
        Permission.ESCALATIONS_READ,
        "escalation",
        alert_desk.escalation_page,
        statuses=alert_desk.ESCALATION_STATUSES,
    )


def _list(
    template: str,
    permission: Permission,
    record_type: str,
    find: Callable[[Session, Actor, alert_desk.Filters, dt.datetime, ZoneInfo], alert_desk.Page],
    *,
    statuses: tuple[str, ...],
    **choices: object,
) -> ResponseReturnValue:
    # A list page: its filters read (422 beside the field when they cannot be), one page found
    # within the person's grant and logged, the same form shown above it either way.
    filters, errors = alert_desk.read_filters(
        request.args, statuses=statuses, severities="severities" in choices
    )
    svc = services()
    with svc.db.transaction() as session:
        page = None
        if not errors:
            try:
                page = find(session, person(), filters, svc.clock.now(), svc.settings.zone)
            except alert_desk.UnknownReference as error:
                errors = {error.field or "participant": error.message}
        if page is not None:
            _listed(session, permission, record_type, page)
        body = render_template(
            template,
            filters=filters,
            errors=errors,
            page=page,
            officers=alert_desk.officers(session),
            statuses=statuses,
            **choices,
        )
    return body, 422 if errors else 200


def _listed(
    session: Session, permission: Permission, record_type: str, page: alert_desk.Page
) -> None:
    """Log the list: one entry per participant shown; a list narrowed to one participant is
    reading his record (break-glass outside one's own)."""
    named = [page.participant_id] if page.participant_id is not None else []
    try:
        record_access.list_read(
            session,
            visit(),
            permission,
            record_type=record_type,
            participant_ids=[row.record.participant_id for row in page.rows],
            named=named,
        )
    except record_access.ReasonRequired as error:
        raise ReasonWanted(named[0], error.message) from None


# ---------------------------------------------------------------------------------------------
# One alert, and acting on it


@blueprint.get("/alerts/<int:alert_id>")
@requires(Permission.ALERTS_READ)
def alert(alert_id: int) -> ResponseReturnValue:
    """The alert: what fired and why, its evidence, whom it is about and its escalation."""
    svc = services()
    with svc.db.transaction() as session:
        return _alert_page(session, alert_id)


def _alert_page(
    session: Session,
    alert_id: int,
    *,
    errors: dict[str, str] | None = None,
    note: str = "",
    status: int = 200,
) -> ResponseReturnValue:
    participant_id = _participant_of(session, alert_id)
    open_participant_record(
        session,
        Permission.ALERTS_READ,
        participant_id=participant_id,
        record_type="alert",
        record_id=alert_id,
    )
    view = alert_desk.alert_view(session, person(), alert_id, services().clock.now())
    page = render_template("alert_page.html", view=view, errors=errors or {}, note=note)
    return page, status


@blueprint.post("/alerts/<int:alert_id>/acknowledge")
@requires(Permission.ALERTS_WRITE)
def alert_acknowledge(alert_id: int) -> ResponseReturnValue:
    """Record that the person has seen the alert; its escalation stops (nobody else is asked)."""
    svc = services()
    with svc.db.transaction() as session:
        _opened_to_change(session, alert_id)
        before = alert_service.get(session, alert_id)
        if before.status == AlertStatus.RESOLVED:
            message = _already_resolved(session, before)
        elif before.status == AlertStatus.ACKNOWLEDGED:
            who = alert_desk.person_named(session, before.acknowledged_by) or "a colleague"
            message = f"Nothing changed: {who} has already acknowledged it."
        else:
            alert_service.acknowledge(
                session, alert_id, actor=person().name, now=svc.clock.now(), reach=svc.reach
            )
            message = "You acknowledged it. Its escalation has stopped: nobody else is asked."
    flash(message)
    return redirect(url_for("console.alert", alert_id=alert_id), code=303)


@blueprint.post("/alerts/<int:alert_id>/resolve")
@requires(Permission.ALERTS_WRITE)
def alert_resolve(alert_id: int) -> ResponseReturnValue:
    """Close the alert with a note of what was done (required); its escalation is closed."""
    svc = services()
    typed = request.form.get("note", "")
    note = " ".join(typed.split())
    problem = None
    if not note:
        problem = "Write what was done: a resolution needs a note."
    elif len(note) > NOTE_MAX:
        problem = f"A note has at most {NOTE_MAX} characters (this one has {len(note)})."
    with svc.db.transaction() as session:
        if problem is not None:
            # Nothing changes: the page again (opened as a read: refused outside the grant),
            # with the message beside the note.
            return _alert_page(
                session, alert_id, errors={"note": problem}, note=typed[:NOTE_MAX], status=422
            )
        _opened_to_change(session, alert_id)
        before = alert_service.get(session, alert_id)
        if before.status == AlertStatus.RESOLVED:
            message = _already_resolved(session, before)
        else:
            alert_service.resolve(
                session,
                alert_id,
                note=note,
                actor=person().name,
                now=svc.clock.now(),
                reach=svc.reach,
            )
            message = "Resolved with your note. Its escalation is closed: nothing more is sent."
    flash(message)
    return redirect(url_for("console.alert", alert_id=alert_id), code=303)


def _participant_of(session: Session, alert_id: int) -> int:
    try:
        return alert_desk.alert_participant(session, alert_id)
    except NotFound:
        abort(404)  # as a record outside the grant is answered: "nothing at this address"


def _opened_to_change(session: Session, alert_id: int) -> None:
    open_participant_record(
        session,
        Permission.ALERTS_WRITE,
        participant_id=_participant_of(session, alert_id),
        record_type="alert",
        record_id=alert_id,
        action=Action.CHANGE,
    )


def _already_resolved(session: Session, resolved: RiskAlert) -> str:
    # A second click, or a colleague first: answered as the reply codes answer, not a 409.
    who = alert_desk.person_named(session, resolved.resolved_by) or "a colleague"
    return f"Nothing changed: {who} has already resolved it."


# ---------------------------------------------------------------------------------------------
# One escalation


@blueprint.get("/escalations/<int:escalation_id>")
@requires(Permission.ESCALATIONS_READ)
def escalation(escalation_id: int) -> ResponseReturnValue:
    """The escalation: its policy and step, who was told and when, who took or closed it."""
    svc = services()
    with svc.db.transaction() as session:
        try:
            view = alert_desk.escalation_view(session, person(), escalation_id)
        except NotFound:
            abort(404)
        open_participant_record(
            session,
            Permission.ESCALATIONS_READ,
            participant_id=view.record.participant_id,
            record_type="escalation",
            record_id=escalation_id,
        )
        return render_template("escalation_page.html", view=view, now=svc.clock.now())
