"""/api/v1/participants: create, list (by phone in any format), get, update (a correction, with
its reason) and close, and place and lift a legal hold."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from crisisline import legal_holds, participant_corrections
from crisisline import participants as participant_service
from crisisline.api import access
from crisisline.api.common import actor, protected_blueprint
from crisisline.api.schemas import (
    LegalHoldReasonSchema,
    LegalHoldSchema,
    ParticipantCloseSchema,
    ParticipantQuerySchema,
    ParticipantSchema,
    ParticipantUpdateSchema,
    ShownParticipant,
)
from crisisline.data_protection_models import LegalHold
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
def create_participant(data: dict[str, Any]) -> ShownParticipant:
    """Add a participant."""
    svc = services()
    refuse_the_line(data.get("phones", []), svc.settings.crisis_line_number, "phones")
    with svc.db.transaction() as session:
        participant = participant_service.create(
            session,
            participant_service.NewParticipant(**data),
            actor=actor(),
            now=svc.clock.now(),
            zone=svc.settings.zone,
        )
        # A new record: nobody's caseload yet, so no reason is asked; the creation is logged.
        access.created(session, participant.id)
        return ShownParticipant(participant, None)


@blueprint.route("", methods=["GET"])
@blueprint.arguments(ParticipantQuerySchema, location="query")
@blueprint.response(200, ParticipantSchema(many=True))
@blueprint.paginate()
@requires(Permission.PARTICIPANTS_READ)
def list_participants(
    filters: dict[str, Any], pagination_parameters: Any
) -> list[ShownParticipant]:
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
        holds = legal_holds.current_for(session, [row.id for row in rows])
    pagination_parameters.item_count = total
    return [ShownParticipant(row, holds.get(row.id)) for row in rows]


@blueprint.route("/<id:participant_id>", methods=["GET"])
@blueprint.response(200, ParticipantSchema)
@requires(Permission.PARTICIPANTS_READ)
def get_participant(participant_id: int) -> ShownParticipant:
    """One participant, with the legal hold in place on him (null if none)."""
    with services().db.transaction() as session:
        participant = participant_service.get(session, participant_id)
        _opened(session, participant_id, Permission.PARTICIPANTS_READ, Action.READ)
        return _shown(session, participant)


@blueprint.route("/<id:participant_id>", methods=["PATCH"])
@blueprint.arguments(ParticipantUpdateSchema)
@blueprint.response(200, ParticipantSchema)
@requires(Permission.PARTICIPANTS_WRITE)
def update_participant(changes: dict[str, Any], participant_id: int) -> ShownParticipant:
    """Change any of a participant's fields; `phones` replaces the whole list. What the fields
    were is kept as a correction with `reason` (recorded as `not given` without one). Closing
    him sets `ended_service_on` (today unless given); making him active clears it."""
    svc = services()
    given = changes.pop("reason", None)
    reason = (
        participant_corrections.checked_reason(given)
        if given is not None
        else participant_corrections.NOT_GIVEN
    )
    refuse_the_line(changes.get("phones", []), svc.settings.crisis_line_number, "phones")
    with svc.db.transaction() as session:
        participant_service.get(session, participant_id)
        _opened(session, participant_id, Permission.PARTICIPANTS_WRITE, Action.CHANGE)
        participant = participant_service.update(
            session,
            participant_id,
            changes,
            actor=actor(),
            now=svc.clock.now(),
            zone=svc.settings.zone,
            reason=reason,
        )
        return _shown(session, participant)


@blueprint.route("/<id:participant_id>/close", methods=["POST"])
@blueprint.arguments(ParticipantCloseSchema, required=False)
@blueprint.response(200, ParticipantSchema)
@requires(Permission.PARTICIPANTS_WRITE)
def close_participant(data: dict[str, Any], participant_id: int) -> ShownParticipant:
    """Close a participant (status closed; their record and contacts are kept), his end of
    service `ended_service_on` if given, else today (the service's local day). No body is
    needed."""
    svc = services()
    with svc.db.transaction() as session:
        participant_service.get(session, participant_id)
        _opened(session, participant_id, Permission.PARTICIPANTS_WRITE, Action.CHANGE)
        participant = participant_service.close(
            session,
            participant_id,
            actor=actor(),
            now=svc.clock.now(),
            zone=svc.settings.zone,
            ended_on=data.get("ended_service_on"),
        )
        return _shown(session, participant)


@blueprint.route("/<id:participant_id>/legal-hold", methods=["POST"])
@blueprint.arguments(LegalHoldReasonSchema)
@blueprint.response(201, LegalHoldSchema)
@requires(Permission.LEGAL_HOLDS_WRITE)
def place_legal_hold(data: dict[str, Any], participant_id: int) -> LegalHold:
    """Place a legal hold on a participant: retention removes nothing of his until it is
    lifted. 409 if one is already in place."""
    svc = services()
    with svc.db.transaction() as session:
        participant_service.get(session, participant_id)
        _opened(session, participant_id, Permission.LEGAL_HOLDS_WRITE, Action.CHANGE)
        return legal_holds.place(
            session, participant_id, data["reason"], actor=actor(), now=svc.clock.now()
        )


@blueprint.route("/<id:participant_id>/legal-hold/lift", methods=["POST"])
@blueprint.arguments(LegalHoldReasonSchema)
@blueprint.response(200, LegalHoldSchema)
@requires(Permission.LEGAL_HOLDS_WRITE)
def lift_legal_hold(data: dict[str, Any], participant_id: int) -> LegalHold:
    """Lift the legal hold in place on a participant. 409 if none is in place."""
    svc = services()
    with svc.db.transaction() as session:
        participant_service.get(session, participant_id)
        _opened(session, participant_id, Permission.LEGAL_HOLDS_WRITE, Action.CHANGE)
        return legal_holds.lift(
            session, participant_id, data["reason"], actor=actor(), now=svc.clock.now()
        )


def _shown(session: Session, participant: Participant) -> ShownParticipant:
    return ShownParticipant(participant, legal_holds.current(session, participant.id))


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
