"""The access log as the API meets it: who is reading, from where, and the reason they give.

The rules (who reaches which participant, when a reason is needed, what an entry holds) are in
`crisisline.record_access`; this module only reads them off the request. A person whose grant
reaches a participant only with a reason sends it with every request, in the `X-Access-Reason`
header (a personal token has no sign-in session to remember it by); without it the answer is
a 403 that names the header. A single record outside the grant answers 404, as a record that
does not exist does, so that a refusal does not tell the asker the record is there; the
attempt is logged (action `refused`) in a transaction of its own.
"""

from __future__ import annotations

from typing import Final

from flask import Flask, g, request
from flask.typing import ResponseReturnValue
from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from crisisline import caseloads, record_access
from crisisline.gate import current_actor
from crisisline.models import RecordAccess
from crisisline.permissions import Permission
from crisisline.record_access import Action, Origin, Visit
from crisisline.services import services

REASON_HEADER: Final = "X-Access-Reason"


class RecordRefused(Exception):
    """A single record outside the asker's grant: answered as not found, and logged."""

    def __init__(
        self,
        visit: Visit,
        not_found: str,
        record_type: str,
        record_id: int | None,
        participant_id: int | None,
    ) -> None:
        super().__init__(not_found)
        self.visit = visit
        self.not_found = not_found
        self.record_type = record_type
        self.record_id = record_id
        self.participant_id = participant_id


def install(app: Flask) -> None:
    """Answer a missing reason with a 403 naming the header, and a refusal as a 404."""
    app.register_error_handler(record_access.ReasonRequired, _reason_required)
    app.register_error_handler(RecordRefused, _record_refused)


def visit() -> Visit:
    """This request as the access log sees it (InvalidInput naming the header if the reason
    given is too short, too long or not one line of text)."""
    if "access_visit" not in g:
        actor = current_actor()
        if actor is None:  # the gate refuses every API request without one before its view
            raise RuntimeError("the access log needs a signed-in actor")
        raw = request.headers.get(REASON_HEADER)
        g.access_visit = Visit(
            actor=actor,
            at=services().clock.now(),
            # The address the app sees: the client's, or the proxy's in front of it
            # (docs/data-protection.md says which).
            origin=Origin(address=request.remote_addr, user_agent=request.user_agent.string),
            reason=record_access.checked_reason(_utf8(raw), REASON_HEADER),
        )
    found: Visit = g.access_visit
    return found


def _utf8(raw: str | None) -> str | None:
    # HTTP header values arrive as Latin-1; a client that sends a reason in UTF-8 (accents,
    # an apostrophe from a phone keyboard) gets it back as it typed it.
    if raw is None:
        return None
    try:
        return raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return raw


def visible(permission: Permission) -> ColumnElement[bool] | None:
    """The participants a list may show this request's actor (None: every one)."""
    current = visit()
    return caseloads.participant_filter(current.actor, permission, current.at)


def opened(
    session: Session,
    permission: Permission,
    *,
    record_type: str,
    record_id: int | None,
    participant_id: int | None,
    not_found: str,
    action: Action = Action.READ,
) -> None:
    """Check and log opening one record; outside the grant it is answered as `not_found`."""
    current = visit()
    try:
        record_access.open_record(
            session,
            current,
            permission,
            record_type=record_type,
            record_id=record_id,
            participant_id=participant_id,
            action=action,
        )
    except record_access.Refused:
        raise RecordRefused(current, not_found, record_type, record_id, participant_id) from None


def created(session: Session, participant_id: int) -> None:
    """Log the creation of a participant's record (no reason: it is nobody's record yet)."""
    current = visit()
    record_access.record(
        session,
        current.actor,
        action=Action.CHANGE,
        record_type="participant",
        record_id=participant_id,
        participant_id=participant_id,
        at=current.at,
        origin=current.origin,
        reason=current.reason,
    )


def listed(
    session: Session,
    permission: Permission,
    *,
    record_type: str,
    participant_ids: list[int | None],
    named: tuple[int, ...] = (),
    action: Action = Action.READ,
) -> None:
    """Log a list (one entry per participant); `named`: the participants it was narrowed to."""
    record_access.list_read(
        session,
        visit(),
        permission,
        record_type=record_type,
        participant_ids=participant_ids,
        named=named,
        action=action,
    )


def log_read(
    session: Session,
    entries: list[RecordAccess],
    query: record_access.LogQuery,
    *,
    export: bool,
) -> None:
    """Log this request's reading of the access log itself."""
    current = visit()
    record_access.log_read(session, current, entries, query, at=current.at, export=export)


def _reason_required(error: record_access.ReasonRequired) -> ResponseReturnValue:
    message = (
        f"{error.message} Send it in the {REASON_HEADER} header: "
        f"{record_access.REASON_MIN} to {record_access.REASON_MAX} characters of plain text."
    )
    return {"code": 403, "status": "Forbidden", "message": message, "header": REASON_HEADER}, 403


def _record_refused(error: RecordRefused) -> ResponseReturnValue:
    # The view's transaction has been rolled back; the attempt is kept in one of its own.
    with services().db.transaction() as session:
        record_access.refusal(
            session,
            error.visit,
            record_type=error.record_type,
            record_id=error.record_id,
            participant_id=error.participant_id,
        )
    # The very answer a record that does not exist gets (crisisline.api.common).
    return {"code": 404, "message": error.not_found}, 404
