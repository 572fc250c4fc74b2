"""/api/v1/participants: create, list (by phone in any format), get, update and close."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from crisisline import participants as participant_service
from crisisline.api import access
from crisisline.api.common import actor, protected_blueprint
from crisisline.api.schemas import (
    ParticipantQuerySchema,
    ParticipantSchema,
    ParticipantUpdateSchema,
)
from crisisline.gate import requires
from crisisline.models import Participant
from crisisline.permissions import Permission
from crisisline.phones import refuse_the_line
from crisisline.record_access import Action
from crisisline.services import services

blueprint = protected_blueprint(
    "participants", __name__, "/api/v1/participants", "Participants and their phone numbers."
)


@blueprint.route("", methods=["POST"])
@blueprint.arguments(ParticipantSchema)
@blueprint.response(201, ParticipantSchema)
@requires(Permission.PARTICIPANTS_WRITE)
def create_participant(data: dict[str, Any]) -> Participant:
    """Add a participant."""
    svc = services()
    refuse_the_line(data.get("phones", []), svc.settings.crisis_line_number, "phones")
    with svc.db.transaction() as session:
        participant = participant_service.create(
            session,
            participant_service.NewParticipant(**data),
            actor=actor(),
            now=svc.clock.now(),
        )
        # A new record: nobody's caseload yet, so no reason is asked; the creation is logged.
        access.created(session, participant.id)
        return participant


@blueprint.route("", methods=["GET"])
@blueprint.arguments(ParticipantQuerySchema, location="query")
@blueprint.response(200, ParticipantSchema(many=True))
@blueprint.paginate()
@requires(Permission.PARTICIPANTS_READ)
def list_participants(filters: dict[str, Any], pagination_parameters: Any) -> list[Participant]:
    """List participants by reference; filter by `reference`, part of `name`, `phone` (any
    form), `status` or `responsible_officer_id`. Any other parameter is refused (422)."""
    svc = services()
    with svc.db.transaction() as session:
        rows, total = participant_service.list_participants(
            session,
            reference=filters.get("reference"),
            name=filters.get("name"),
            phone=filters.get("phone"),
            status=filters.get("status"),
            responsible_officer_id=filters.get("responsible_officer_id"),
            visible=access.visible(Permission.PARTICIPANTS_READ),
            offset=pagination_parameters.first_item,
            limit=pagination_parameters.page_size,
        )
        # A list found by reference or number names the man it finds: reading his record.
        identified = "reference" in filters or "phone" in filters
        access.listed(
            session,
            Permission.PARTICIPANTS_READ,
            record_type="participant",
            participant_ids=[row.id for row in rows],
            named=tuple(row.id for row in rows) if identified else (),
        )
    pagination_parameters.item_count = total
    return rows


@blueprint.route("/<id:participant_id>", methods=["GET"])
@blueprint.response(200, ParticipantSchema)
@requires(Permission.PARTICIPANTS_READ)
def get_participant(participant_id: int) -> Participant:
    """One participant."""
    with services().db.transaction() as session:
        participant = participant_service.get(session, participant_id)
        _opened(session, participant_id, Permission.PARTICIPANTS_READ, Action.READ)
        return participant


@blueprint.route("/<id:participant_id>", methods=["PATCH"])
@blueprint.arguments(ParticipantUpdateSchema)
@blueprint.response(200, ParticipantSchema)
@requires(Permission.PARTICIPANTS_WRITE)
def update_participant(changes: dict[str, Any], participant_id: int) -> Participant:
    """Change any of a participant's fields; `phones` replaces the whole list."""
    svc = services()
    refuse_the_line(changes.get("phones", []), svc.settings.crisis_line_number, "phones")
    with svc.db.transaction() as session:
        participant_service.get(session, participant_id)
        _opened(session, participant_id, Permission.PARTICIPANTS_WRITE, Action.CHANGE)
        return participant_service.update(
            session, participant_id, changes, actor=actor(), now=svc.clock.now()
        )


@blueprint.route("/<id:participant_id>/close", methods=["POST"])
@blueprint.response(200, ParticipantSchema)
@requires(Permission.PARTICIPANTS_WRITE)
def close_participant(participant_id: int) -> Participant:
    """Close a participant (status closed; their record and contacts are kept)."""
    svc = services()
    with svc.db.transaction() as session:
        participant_service.get(session, participant_id)
        _opened(session, participant_id, Permission.PARTICIPANTS_WRITE, Action.CHANGE)
        return participant_service.close(
            session, participant_id, actor=actor(), now=svc.clock.now()
        )


def _opened(session: Session, participant_id: int, permission: Permission, action: Action) -> None:
    access.opened(
        session,
        permission,
        record_type="participant",
        record_id=participant_id,
        participant_id=participant_id,
        not_found=f"There is no participant with id {participant_id}.",
        action=action,
    )
