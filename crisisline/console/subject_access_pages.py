"""Subject access requests, for the administrator (`subject-access:admin`): the open requests
with their deadlines in words, a form to log one, and a request's page with its actions:
export (the zip, streamed from memory), extend, complete and withdraw.

Every action is audited by `crisisline.subject_access`; opening a request's page is written to
the record access log (it shows whose request it is and what he asked), and an export is
logged there as `export`, naming the request. An export that had to leave a voicemail out says
so on the request's page (the last export's state, from the audit log) as well as in the bundle.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from crisisline import record_access, subject_access, voicemail_links
from crisisline.console.common import blueprint, menu_item, origin, person
from crisisline.errors import DomainError, InvalidInput, NotFound
from crisisline.gate import requires
from crisisline.models import AuditEntry, Staff
from crisisline.permissions import Permission
from crisisline.record_access import Action
from crisisline.services import services

menu_item(
    "Subject access", "console.subject_access_list", Permission.SUBJECT_ACCESS_ADMIN, order=80
)

# A page's export fetches recordings for at most this long in all (the web threads also answer
# callers); any left are listed as missing, and the command line export has no such limit.
EXPORT_BUDGET_SECONDS: Final = 120.0
_HEADERS: Final = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"}


def _today() -> dt.date:
    svc = services()
    return svc.clock.now().astimezone(svc.settings.zone).date()


@blueprint.get("/subject-access")
@requires(Permission.SUBJECT_ACCESS_ADMIN)
def subject_access_list() -> ResponseReturnValue:
    """Requests, soonest deadline first: open ones, or every one with `?all=1`."""
    everything = request.args.get("all", "") == "1"
    with services().db.transaction() as session:
        rows = subject_access.requests(session, _today(), only_open=not everything)
        return render_template("subject_access_list.html", rows=rows, everything=everything)


@blueprint.get("/subject-access/new")
@requires(Permission.SUBJECT_ACCESS_ADMIN)
def subject_access_new() -> ResponseReturnValue:
    """The form to log a request: whose (by reference), when it was received, what it asks."""
    return render_template(
        "subject_access_new.html",
        form={"participant": "", "received": _today().isoformat(), "detail": ""},
        errors={},
    )


@blueprint.post("/subject-access/new")
@requires(Permission.SUBJECT_ACCESS_ADMIN)
def subject_access_create() -> ResponseReturnValue:
    """Log the request (422 with the message beside the field when it cannot be)."""
    svc = services()
    form = {
        "participant": request.form.get("participant", "")[:40],
        "received": request.form.get("received", "")[:10],
        "detail": request.form.get("detail", "")[: subject_access.DETAIL_MAX + 100],
    }
    errors: dict[str, str] = {}
    received = None
    try:
        received = dt.date.fromisoformat(form["received"].strip())
    except ValueError:
        errors["received"] = "Give the day it was received, such as 2026-11-26."
    if not form["participant"].strip():
        errors["participant"] = "Give the participant's reference, such as R1042."
    if not errors and received is not None:
        try:
            with svc.db.transaction() as session:
                created = subject_access.log_request(
                    session,
                    reference=form["participant"],
                    received_on=received,
                    detail=form["detail"],
                    actor=person().label,
                    now=svc.clock.now(),
                    today=_today(),
                )
                request_id, due = created.id, created.due_on
        except DomainError as error:
            errors[error.field or "participant"] = error.message
    if errors:
        return render_template("subject_access_new.html", form=form, errors=errors), 422
    flash(f"Request logged. It is due on {_day(due)}.")
    return redirect(url_for("console.subject_access_page", request_id=request_id), code=303)


def _day(value: dt.date) -> str:
    return f"{value:%A} {value.day} {value:%B %Y}"


@blueprint.get("/subject-access/<int:request_id>")
@requires(Permission.SUBJECT_ACCESS_ADMIN)
def subject_access_page(request_id: int) -> ResponseReturnValue:
    """The request: whose, its deadline, what was done with it, and its actions."""
    return _page(request_id)


def _page(
    request_id: int,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    svc = services()
    now = svc.clock.now()
    with svc.db.transaction() as session:
        try:
            shown = subject_access.view(session, request_id, _today())
        except NotFound:
            abort(404)
        steps = subject_access.history(session, request_id)
        ids = [
            int(s.actor[6:])
            for s in steps
            if s.actor.startswith("staff:") and s.actor[6:].isdigit()
        ]
        names = {
            f"staff:{staff_id}": name
            for staff_id, name in session.execute(
                select(Staff.id, Staff.name).where(Staff.id.in_(ids))
            )
        }
        last_export = session.scalar(
            select(AuditEntry)
            .where(
                AuditEntry.record_type == subject_access.RECORD_TYPE,
                AuditEntry.record_id == request_id,
                AuditEntry.action == "sar.exported",
            )
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
            .limit(1)
        )
        missing = (
            list((last_export.changes or {}).get("voicemails_missing", [])) if last_export else []
        )
        record_access.record(
            session,
            person(),
            action=Action.READ,
            record_type=subject_access.RECORD_TYPE,
            record_id=request_id,
            participant_id=shown.request.participant_id,
            at=now,
            origin=origin(),
        )
        page = render_template(
            "subject_access_page.html",
            shown=shown,
            steps=steps,
            names=names,
            missing=missing,
            errors=errors or {},
            form=form or {},
            day=_day,
        )
    return page, status


@blueprint.post("/subject-access/<int:request_id>/export")
@requires(Permission.SUBJECT_ACCESS_ADMIN)
def subject_access_export(request_id: int) -> ResponseReturnValue:
    """The bundle as a zip download, built in memory; a voicemail that could not be fetched is
    listed as missing in the bundle and on the request's page."""
    svc = services()
    with voicemail_links.fetch_slot() as free:
        if not free:
            # The web threads also answer callers: recordings are fetched a few at a time.
            return render_template(
                "refused.html",
                message="Recordings are being fetched for others just now: try again in a minute.",
            ), 503
        try:
            done = subject_access.export(
                svc.db,
                svc.telephony,
                request_id,
                actor=person(),
                now=svc.clock.now(),
                zone=svc.settings.zone,
                region=svc.settings.default_region,
                line_number=svc.settings.crisis_line_number,
                staff_names=svc.settings.sar_staff_names,
                origin=origin(),
                budget_seconds=EXPORT_BUDGET_SECONDS,
            )
        except NotFound:
            abort(404)
        except DomainError as error:
            return _page(request_id, errors={"export": error.message}, status=409)
    if not done.complete:
        flash(
            f"The bundle was exported WITHOUT {len(done.missing)} voicemail recording(s): they "
            "could not be fetched in time. Both files list them as missing. Export again later, or "
            "with `crisisline sar export` on the server."
        )
    else:
        flash("The bundle was exported, complete.")
    response = Response(done.content, mimetype="application/zip", headers=_HEADERS)
    response.headers["Content-Disposition"] = f'attachment; filename="{done.filename}"'
    return response


@blueprint.post("/subject-access/<int:request_id>/extend")
@requires(Permission.SUBJECT_ACCESS_ADMIN)
def subject_access_extend(request_id: int) -> ResponseReturnValue:
    """Extend the deadline by 1 or 2 further months, with the reason."""
    svc = services()
    form = {
        "months": request.form.get("months", "")[:2],
        "reason": request.form.get("reason", "")[: subject_access.REASON_MAX + 100],
    }
    try:
        months = int(form["months"]) if form["months"].strip().isdigit() else 0
        with svc.db.transaction() as session:
            changed = subject_access.extend(
                session,
                request_id,
                months=months,
                reason=form["reason"],
                actor=person().label,
                now=svc.clock.now(),
            )
            due = subject_access.deadline_of(changed)
    except NotFound:
        abort(404)
    except InvalidInput as error:
        return _page(
            request_id, errors={error.field or "reason": error.message}, form=form, status=422
        )
    except DomainError as error:
        return _page(request_id, errors={"extend": error.message}, status=409)
    flash(f"Extended: it is now due on {_day(due)}.")
    return redirect(url_for("console.subject_access_page", request_id=request_id), code=303)


@blueprint.post("/subject-access/<int:request_id>/complete")
@requires(Permission.SUBJECT_ACCESS_ADMIN)
def subject_access_complete(request_id: int) -> ResponseReturnValue:
    """Mark the request answered (only once the bundle has been exported)."""
    svc = services()
    try:
        with svc.db.transaction() as session:
            subject_access.complete(session, request_id, actor=person().label, now=svc.clock.now())
    except NotFound:
        abort(404)
    except InvalidInput as error:
        return _page(request_id, errors={"complete": error.message}, status=422)
    except DomainError as error:
        return _page(request_id, errors={"complete": error.message}, status=409)
    flash("Marked complete: the bundle was handed over.")
    return redirect(url_for("console.subject_access_page", request_id=request_id), code=303)


@blueprint.post("/subject-access/<int:request_id>/withdraw")
@requires(Permission.SUBJECT_ACCESS_ADMIN)
def subject_access_withdraw(request_id: int) -> ResponseReturnValue:
    """Close the request: he withdrew it (the reason is required)."""
    svc = services()
    form = {"withdraw_reason": request.form.get("reason", "")[: subject_access.REASON_MAX + 100]}
    try:
        with svc.db.transaction() as session:
            subject_access.withdraw(
                session,
                request_id,
                reason=form["withdraw_reason"],
                actor=person().label,
                now=svc.clock.now(),
            )
    except NotFound:
        abort(404)
    except InvalidInput as error:
        message = error.message
        return _page(request_id, errors={"withdraw_reason": message}, form=form, status=422)
    except DomainError as error:
        return _page(request_id, errors={"withdraw": error.message}, status=409)
    flash("Withdrawn. The request is closed.")
    return redirect(url_for("console.subject_access_page", request_id=request_id), code=303)
