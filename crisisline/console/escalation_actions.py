"""Taking and closing an escalation from the console (the Now board, the escalation and
participant pages all post here): the rules are `crisisline.alert_desk`'s, the same as the
reply codes'."""

from __future__ import annotations

from flask import flash, redirect, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from crisisline import alert_desk, escalation_engine
from crisisline.console.common import blueprint, open_participant_record, person, safe_next
from crisisline.gate import requires
from crisisline.permissions import Extent, Permission
from crisisline.record_access import Action
from crisisline.services import services


@blueprint.post("/escalations/<int:escalation_id>/take")
@requires(Permission.SIGNED_IN)  # who may is alert_desk's rule: asked, or a duty manager
def escalation_take(escalation_id: int) -> ResponseReturnValue:
    """Take the escalation: it stops everywhere and the others asked are told who took it."""
    svc = services()
    with svc.db.transaction() as session:
        _log_change(session, escalation_id)
        acted = alert_desk.take(session, person(), escalation_id, svc.clock.now(), svc.reach)
    flash(acted.message)
    return redirect(_back(), code=303)


@blueprint.post("/escalations/<int:escalation_id>/close")
@requires(Permission.SIGNED_IN)
def escalation_close(escalation_id: int) -> ResponseReturnValue:
    """Close the escalation: nothing fires again."""
    svc = services()
    with svc.db.transaction() as session:
        _log_change(session, escalation_id)
        acted = alert_desk.close(session, person(), escalation_id, svc.clock.now(), svc.reach)
    flash(acted.message)
    return redirect(_back(), code=303)


def _log_change(session: Session, escalation_id: int) -> None:
    record, _ = escalation_engine.load(session, escalation_id)
    actor = person()
    # A duty manager acts under escalations:write; a worker asked to take it reaches the
    # participant through the escalation itself (caseloads counts him as handled).
    permission = (
        Permission.ESCALATIONS_WRITE
        if actor.extent(Permission.ESCALATIONS_WRITE) is Extent.ALL
        else Permission.PARTICIPANTS_READ
    )
    if alert_desk.responder(session, actor, record) is None:
        return  # alert_desk refuses it; nothing of the record is shown or changed
    open_participant_record(
        session,
        permission,
        participant_id=record.participant_id,
        record_type="escalation",
        record_id=record.id,
        action=Action.CHANGE,
    )


def _back() -> str:
    return safe_next(request.form.get("next")) or "/"
