"""/api/v1/participants/{id}/crisis-plan: a participant's crisis plan (the current version and
every earlier one), and a new version for those who write plans, with the console form's checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_smorest import abort
from marshmallow import Schema, fields
from sqlalchemy.orm import Session

from crisisline import crisis_plans
from crisisline import participants as participant_service
from crisisline.api import access
from crisisline.api.common import protected_blueprint
from crisisline.api.schemas import ServiceRegion
from crisisline.crisis_plan_models import CrisisPlan
from crisisline.gate import requires
from crisisline.permissions import Permission
from crisisline.record_access import Action
from crisisline.services import services

blueprint = protected_blueprint(
    "crisis_plans",
    __name__,
    "/api/v1/participants",
    "Participants' crisis plans: the current version and every earlier one.",
)


class CrisisPlanInSchema(ServiceRegion, crisis_plans.PlanSchema):
    """A new version of the plan (the console's form applies the same checks)."""


class CrisisPlanVersionSchema(Schema):
    """One version of the plan, as written."""

    version = fields.Integer()
    current = fields.Boolean(metadata={"description": "True for the highest version."})
    written_at = fields.DateTime()
    author = fields.String(metadata={"description": "Who wrote it, by name where known."})
    change_reason = fields.String(allow_none=True)
    changed = fields.List(
        fields.String(), metadata={"description": "What this version changed from the one before."}
    )
    warning_signs = fields.String()
    triggers = fields.String(allow_none=True)
    what_helps = fields.String(allow_none=True)
    what_does_not_help = fields.String(allow_none=True)
    risk_to_self = fields.String(allow_none=True)
    risk_to_others = fields.String(allow_none=True)
    if_risk_rises = fields.String(allow_none=True)
    practical_notes = fields.String(allow_none=True)
    contacts = fields.List(fields.Nested(crisis_plans.PlanContactOutSchema))
    agreed_on = fields.Date()
    review_on = fields.Date()
    past_review = fields.Boolean(
        metadata={"description": "Whether its review date has gone by (the current one only)."}
    )


class CrisisPlanSchema(Schema):
    """A participant's crisis plan: the current version (null if he has none) and all of them."""

    participant_id = fields.Integer()
    current = fields.Nested(CrisisPlanVersionSchema, allow_none=True)
    versions = fields.List(
        fields.Nested(CrisisPlanVersionSchema), metadata={"description": "Newest first."}
    )


@dataclass(frozen=True)
class ShownPlan:
    """What the API answers about one participant's plan."""

    participant_id: int
    current: dict[str, Any] | None
    versions: list[dict[str, Any]]


@blueprint.route("/<id:participant_id>/crisis-plan", methods=["GET"])
@blueprint.response(200, CrisisPlanSchema)
@requires(Permission.CRISIS_PLANS_READ)
def get_crisis_plan(participant_id: int) -> ShownPlan:
    """His crisis plan: the current version (null if he has none) and every version, newest
    first, with who wrote each, when, why and what it changed."""
    with services().db.transaction() as session:
        participant_service.get(session, participant_id)
        _opened(session, participant_id, Permission.CRISIS_PLANS_READ, Action.READ)
        return _shown(session, participant_id)


@blueprint.route("/<id:participant_id>/crisis-plan", methods=["PUT"])
@blueprint.arguments(CrisisPlanInSchema)
@blueprint.response(200, CrisisPlanSchema)
@requires(Permission.CRISIS_PLANS_WRITE)
def put_crisis_plan(data: dict[str, Any], participant_id: int) -> ShownPlan:
    """Write a new version of his plan. `based_on` is the version it follows (0 for his first
    plan): 409 if another was saved meanwhile. 422 names the field at fault (e.g.
    `contacts[1].phone`); `change_reason` is required from version 2."""
    svc = services()
    now = svc.clock.now()
    with svc.db.transaction() as session:
        participant_service.get(session, participant_id)
        _opened(session, participant_id, Permission.CRISIS_PLANS_WRITE, Action.CHANGE)
        current_visit = access.visit()
        try:
            crisis_plans.write(
                session,
                participant_id,
                data,
                author=current_visit.actor.label,
                author_staff_id=current_visit.actor.staff_id,
                now=now,
                today=now.astimezone(svc.settings.zone).date(),
            )
        except crisis_plans.PlanInvalid as invalid:
            # Every field at fault, as the schema's own refusals name them.
            abort(422, messages={"json": {k: [v] for k, v in invalid.errors.items()}})
        return _shown(session, participant_id)


def _shown(session: Session, participant_id: int) -> ShownPlan:
    svc = services()
    today = svc.clock.now().astimezone(svc.settings.zone).date()
    rows = crisis_plans.versions(session, participant_id)
    names = crisis_plans.author_names(session, rows)
    shown = [
        _version(row, older, names, today, current=index == 0)
        for index, (row, older) in enumerate(zip(rows, [*rows[1:], None], strict=False))
    ]
    return ShownPlan(participant_id, shown[0] if shown else None, shown)


def _version(
    row: CrisisPlan,
    older: CrisisPlan | None,
    names: dict[int, str],
    today: Any,
    *,
    current: bool,
) -> dict[str, Any]:
    author = names.get(row.author_staff_id or -1, row.author)
    return {
        "version": row.version,
        "current": current,
        "written_at": row.written_at,
        "author": author,
        "change_reason": row.change_reason,
        "changed": crisis_plans.changed(older, row),
        **{name: getattr(row, name) for name in crisis_plans.SECTION_NAMES},
        "contacts": row.contacts,
        "agreed_on": row.agreed_on,
        "review_on": row.review_on,
        "past_review": current and crisis_plans.is_past_review(row, today),
    }


def _opened(session: Session, participant_id: int, permission: Permission, action: Action) -> None:
    access.opened(
        session,
        permission,
        record_type=crisis_plans.RECORD_TYPE,
        record_id=participant_id,
        participant_id=participant_id,
        not_found=f"There is no participant with id {participant_id}.",
        action=action,
    )
