"""/api/v1/contacts and /api/v1/participants/{id}/contacts: every call and text, in and out."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validates_schema

from crisisline import contact_history
from crisisline.api import access
from crisisline.api.common import RecordId, protected_blueprint
from crisisline.api.rota_schemas import Instant
from crisisline.gate import requires
from crisisline.models import Channel, Contact, Direction
from crisisline.permissions import Permission
from crisisline.services import services

blueprint = protected_blueprint(
    "contacts", __name__, "/api/v1", "Contacts: every call and text, in and out, with who sent it."
)


class ContactSchema(Schema):
    """One call or text, in or out."""

    id = fields.Integer(dump_only=True)
    channel = fields.Enum(Channel, by_value=True, dump_only=True)
    direction = fields.Enum(Direction, by_value=True, dump_only=True)
    from_ = fields.String(attribute="from_number", data_key="from", dump_only=True, allow_none=True)
    to = fields.String(attribute="to_number", dump_only=True, allow_none=True)
    started_at = fields.DateTime(dump_only=True)
    answered_at = fields.DateTime(dump_only=True, allow_none=True)
    ended_at = fields.DateTime(dump_only=True, allow_none=True)
    duration_seconds = fields.Integer(dump_only=True, allow_none=True)
    wait_seconds = fields.Integer(dump_only=True, allow_none=True)
    call_status = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "Calls: Twilio's final CallStatus (completed, busy, failed, "
            "no-answer, canceled); for a staff call-back, how its Dial ended."
        },
    )
    outcome = fields.String(dump_only=True, allow_none=True)
    participant_id = fields.Integer(dump_only=True, allow_none=True)
    handled_by_staff_id = fields.Integer(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The member of staff who sent it (texts) or took it (calls)."},
    )
    body = fields.String(dump_only=True, allow_none=True)
    media_urls = fields.List(fields.String(), dump_only=True)
    recording_url = fields.String(dump_only=True, allow_none=True)
    conversation_id = fields.Integer(dump_only=True, allow_none=True)
    delivery_id = fields.Integer(
        dump_only=True,
        allow_none=True,
        metadata={"description": "For a text the service sent: its delivery in the outbox."},
    )
    twilio_sid = fields.String(dump_only=True, allow_none=True)


class ContactQuerySchema(Schema):
    """Filters for listing contacts: a time window [from, to), channel, direction, outcome."""

    from_ = Instant(data_key="from")
    to = Instant()
    channel = fields.Enum(Channel, by_value=True)
    direction = fields.Enum(Direction, by_value=True)
    outcome = fields.String()
    participant_id = RecordId()

    @validates_schema
    def _window(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "from_" in data and "to" in data and data["to"] <= data["from_"]:
            raise ValidationError("must be after from", "to")


@blueprint.route("/contacts", methods=["GET"])
@blueprint.arguments(ContactQuerySchema, location="query")
@blueprint.response(200, ContactSchema(many=True))
@blueprint.paginate()
@requires(Permission.CONTACTS_READ)
def list_contacts(filters: dict[str, Any], pagination_parameters: Any) -> list[Contact]:
    """Contacts started in [from, to), newest first; filter by channel, direction and outcome."""
    with services().db.transaction() as session:
        rows, total = contact_history.find(
            session,
            start=filters.get("from_"),
            end=filters.get("to"),
            channel=filters.get("channel"),
            direction=filters.get("direction"),
            outcome=filters.get("outcome"),
            participant_id=filters.get("participant_id"),
            visible=access.visible(Permission.CONTACTS_READ),
            offset=pagination_parameters.first_item,
            limit=pagination_parameters.page_size,
        )
        access.listed(
            session,
            Permission.CONTACTS_READ,
            record_type="contacts",
            participant_ids=[row.participant_id for row in rows],
            named=(filters["participant_id"],) if "participant_id" in filters else (),
        )
    pagination_parameters.item_count = total
    return rows


@blueprint.route("/participants/<id:participant_id>/contacts", methods=["GET"])
@blueprint.response(200, ContactSchema(many=True))
@blueprint.paginate()
@requires(Permission.CONTACTS_READ)
def participant_contacts(participant_id: int, pagination_parameters: Any) -> list[Contact]:
    """A participant's whole timeline: calls and texts, in and out, newest first."""
    with services().db.transaction() as session:
        rows, total = contact_history.timeline(
            session,
            participant_id,
            offset=pagination_parameters.first_item,
            limit=pagination_parameters.page_size,
        )
        access.opened(
            session,
            Permission.CONTACTS_READ,
            record_type="contacts",
            record_id=None,
            participant_id=participant_id,
            not_found=f"There is no participant with id {participant_id}.",
        )
    pagination_parameters.item_count = total
    return rows
