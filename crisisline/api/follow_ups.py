"""/api/v1/follow-ups: what notes ask responsible officers to do, and marking it done.

An officer's token reads those asked of him and those of his caseload; a duty manager's, the
clinical lead's and an integration holding the scope read all. One follow-up outside the
reader's reach is answered 404, as one that does not exist (and the attempt is logged).
"""

from __future__ import annotations

from typing import Any

from flask_smorest import abort
from marshmallow import Schema, fields, validate
from sqlalchemy.orm import Session

from crisisline import follow_ups, record_access
from crisisline.api import access
from crisisline.api.common import RecordId, protected_blueprint
from crisisline.gate import requires
from crisisline.note_models import FollowUpStatus
from crisisline.permissions import Permission
from crisisline.services import services

blueprint = protected_blueprint(
    "follow_ups",
    __name__,
    "/api/v1",
    "Follow-ups: what a note asks the participant's responsible officer to do.",
)

ORDERS = ("newest", "oldest")


class FollowUpSchema(Schema):
    """A follow-up: whom it is about, who asked what and when, and what was done."""

    id = fields.Integer()
    contact_id = fields.Integer(metadata={"description": "The contact whose note asked."})
    contact = fields.String(metadata={"description": "Link to the contact."})
    contact_started_at = fields.DateTime()
    participant_id = fields.Integer(allow_none=True)
    participant_reference = fields.String(allow_none=True)
    officer_staff_id = fields.Integer(
        allow_none=True,
        metadata={"description": "The officer asked; null: the participant had none (unassigned)."},
    )
    officer = fields.String(allow_none=True, metadata={"description": "The officer's name."})
    unassigned = fields.Boolean()
    asked_at = fields.DateTime()
    asked_by = fields.String(metadata={"description": "Who wrote the note that asked."})
    what = fields.String(metadata={"description": "What the note asks the officer to do."})
    status = fields.Enum(FollowUpStatus, by_value=True)
    due_at = fields.DateTime(
        metadata={"description": "When an open one becomes overdue: two working days on."}
    )
    overdue = fields.Boolean()
    done_at = fields.DateTime(allow_none=True)
    done_by = fields.String(allow_none=True)
    what_done = fields.String(allow_none=True)


class FollowUpQuerySchema(Schema):
    """Filters for listing follow-ups."""

    status = fields.Enum(FollowUpStatus, by_value=True)
    overdue = fields.Boolean(
        metadata={"description": "true: open more than two working days; false: the others."}
    )
    participant_id = RecordId()
    order = fields.String(
        validate=validate.OneOf(ORDERS),
        metadata={"description": "newest (asked) first, the default, or oldest first."},
    )


class DoneSchema(Schema):
    """What was done, on one line."""

    what_done = fields.String(
        required=True,
        metadata={"description": f"One line, at most {follow_ups.WHAT_DONE_MAX} characters."},
    )


def _dump(row: follow_ups.FollowUpRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "contact_id": row.contact_id,
        "contact": f"/api/v1/contacts/{row.contact_id}",
        "contact_started_at": row.contact_started_at,
        "participant_id": row.participant_id,
        "participant_reference": row.reference,
        "officer_staff_id": row.officer_staff_id,
        "officer": row.officer,
        "unassigned": row.unassigned,
        "asked_at": row.asked_at,
        "asked_by": row.asked_by,
        "what": row.what,
        "status": row.status,
        "due_at": row.due_at,
        "overdue": row.overdue,
        "done_at": row.done_at,
        "done_by": row.done_by,
        "what_done": row.done_what,
    }


@blueprint.route("/follow-ups", methods=["GET"])
@blueprint.arguments(FollowUpQuerySchema, location="query")
@blueprint.response(200, FollowUpSchema(many=True))
@blueprint.paginate()
@requires(Permission.FOLLOW_UPS_READ)
def list_follow_ups(filters: dict[str, Any], pagination_parameters: Any) -> list[dict[str, Any]]:
    """Follow-ups you may read, newest asked first; filter by status, overdue and participant."""
    svc = services()
    visit = access.visit()
    with svc.db.transaction() as session:
        rows, total = follow_ups.find(
            session,
            visit.actor,
            follow_ups.Query(
                status=filters.get("status"),
                overdue=filters.get("overdue"),
                participant_id=filters.get("participant_id"),
                oldest_first=filters.get("order") == "oldest",
                offset=pagination_parameters.first_item,
                limit=pagination_parameters.page_size,
            ),
            now=visit.at,
            zone=svc.settings.zone,
        )
        access.listed(
            session,
            Permission.FOLLOW_UPS_READ,
            record_type=follow_ups.RECORD_TYPE,
            participant_ids=[row.participant_id for row in rows],
            named=(filters["participant_id"],) if "participant_id" in filters else (),
        )
        pagination_parameters.item_count = total
        return [_dump(row) for row in rows]


@blueprint.route("/follow-ups/<id:follow_up_id>", methods=["GET"])
@blueprint.response(200, FollowUpSchema)
@requires(Permission.FOLLOW_UPS_READ)
def get_follow_up(follow_up_id: int) -> dict[str, Any]:
    """One follow-up."""
    svc = services()
    visit = access.visit()
    with svc.db.transaction() as session:
        try:
            row = follow_ups.get(session, visit, follow_up_id, zone=svc.settings.zone)
        except record_access.Refused:
            raise _not_found(session, follow_up_id) from None
        return _dump(row)


@blueprint.route("/follow-ups/<id:follow_up_id>/done", methods=["POST"])
@blueprint.arguments(DoneSchema)
@blueprint.response(200, FollowUpSchema)
@requires(Permission.FOLLOW_UPS_WRITE)
def mark_follow_up_done(data: dict[str, Any], follow_up_id: int) -> dict[str, Any]:
    """Mark the follow-up done with one line of what was done (409 if it is done or withdrawn)."""
    svc = services()
    visit = access.visit()
    with svc.db.transaction() as session:
        try:
            row = follow_ups.mark_done(
                session,
                visit.actor,
                follow_up_id,
                data["what_done"],
                visit.at,
                origin=visit.origin,
                reason=visit.reason,
                zone=svc.settings.zone,
            )
        except record_access.Refused:
            raise _not_found(session, follow_up_id) from None
        except follow_ups.NotYours as error:
            abort(403, message=error.message)
        return _dump(row)


def _not_found(session: Session, follow_up_id: int) -> access.RecordRefused:
    return access.RecordRefused(
        access.visit(),
        f"There is no follow-up with id {follow_up_id}.",
        follow_ups.RECORD_TYPE,
        follow_up_id,
        follow_ups.participant_of(session, follow_up_id),
    )
