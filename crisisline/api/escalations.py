"""/api/v1/escalation-policies and /api/v1/escalations: the chains and who has taken what."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields
from sqlalchemy.orm import Session

from crisisline import escalation_engine as engine
from crisisline import escalation_policies
from crisisline.api import access
from crisisline.api.common import RecordId, actor, operator, protected_blueprint
from crisisline.escalation_models import EscalationRecord
from crisisline.gate import requires
from crisisline.permissions import Permission
from crisisline.record_access import Action
from crisisline.services import services
from escalation import ByOperator, EscalationPolicy, Reach, policy_to_json

policies_blueprint = protected_blueprint(
    "escalation_policies",
    __name__,
    "/api/v1/escalation-policies",
    "Escalation policies: ordered steps, waits and repeats.",
)
blueprint = protected_blueprint(
    "escalations", __name__, "/api/v1/escalations", "Open and past escalations."
)


class TargetSchema(Schema):
    """A step target: exactly one of rota_id, rota (a rota's name) or staff_id."""

    rota_id = RecordId()
    rota = fields.String()
    staff_id = RecordId()


class StepSchema(Schema):
    """One step of a policy."""

    targets = fields.List(fields.Nested(TargetSchema), required=True)
    channels = fields.List(fields.String(), required=True)
    wait_seconds = fields.Integer(required=True)


class PolicySchema(Schema):
    """An escalation policy."""

    name = fields.String(dump_only=True)
    source = fields.String(
        dump_only=True, metadata={"description": "default (config/) or custom (stored)"}
    )
    steps = fields.List(fields.Nested(StepSchema), required=True)
    repeat = fields.Integer(load_default=0)


class EscalationEventSchema(Schema):
    """Something that happened to an escalation."""

    at = fields.DateTime()
    kind = fields.String()
    detail = fields.Dict()


class EscalationSchema(Schema):
    """An escalation and where it stands."""

    id = fields.Integer()
    policy_name = fields.String(data_key="policy")
    subject_type = fields.String()
    subject_id = fields.Integer(allow_none=True)
    participant_id = fields.Integer(allow_none=True)
    summary = fields.String()
    status = fields.String()
    step_index = fields.Integer(data_key="step")
    loop = fields.Integer()
    next_due_at = fields.DateTime(allow_none=True)
    acknowledged_by = fields.String(allow_none=True)
    acknowledged_at = fields.DateTime(allow_none=True)
    closed_by = fields.String(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    exhausted_at = fields.DateTime(allow_none=True)
    opened_at = fields.DateTime()
    events = fields.List(fields.Nested(EscalationEventSchema), dump_only=True)


class EscalationQuerySchema(Schema):
    """Filters for listing escalations."""

    status = fields.String()
    participant_id = RecordId()


class OutcomeSchema(Schema):
    """What an acknowledge or close did."""

    changed = fields.Boolean()
    message = fields.String()
    escalation = fields.Nested(EscalationSchema)


def _policy_json(policy: EscalationPolicy, source: str) -> dict[str, Any]:
    return {"name": policy.name, "source": source, **policy_to_json(policy)}


@policies_blueprint.route("", methods=["GET"])
@policies_blueprint.response(200, PolicySchema(many=True))
@requires(Permission.POLICIES_READ)
def list_policies() -> list[dict[str, Any]]:
    """Every policy: the shipped defaults and any stored replacements."""
    with services().db.transaction() as session:
        return [_policy_json(p, source) for p, source in escalation_policies.list_policies(session)]


@policies_blueprint.route("/<name>", methods=["GET"])
@policies_blueprint.response(200, PolicySchema)
@requires(Permission.POLICIES_READ)
def get_policy(name: str) -> dict[str, Any]:
    """One policy."""
    with services().db.transaction() as session:
        policy, source = escalation_policies.get_policy(session, name)
        return _policy_json(policy, source)


@policies_blueprint.route("/<name>", methods=["PUT"])
@policies_blueprint.arguments(PolicySchema)
@policies_blueprint.response(200, PolicySchema)
@requires(Permission.POLICIES_WRITE)
def put_policy(document: dict[str, Any], name: str) -> dict[str, Any]:
    """Create or replace a policy; running escalations keep the policy they opened with."""
    svc = services()
    with svc.db.transaction() as session:
        policy = escalation_policies.put_policy(
            session, name, document, actor=actor(), now=svc.clock.now()
        )
        return _policy_json(policy, "custom")


@blueprint.route("", methods=["GET"])
@blueprint.arguments(EscalationQuerySchema, location="query")
@blueprint.response(200, EscalationSchema(many=True))
@blueprint.paginate()
@requires(Permission.ESCALATIONS_READ)
def list_escalations(filters: dict[str, Any], pagination_parameters: Any) -> list[EscalationRecord]:
    """Escalations, newest first; filter by status (open, acknowledged, closed, exhausted)."""
    with services().db.transaction() as session:
        rows, total = engine.find(
            session,
            status=filters.get("status"),
            participant_id=filters.get("participant_id"),
            visible=access.visible(Permission.ESCALATIONS_READ),
            offset=pagination_parameters.first_item,
            limit=pagination_parameters.page_size,
        )
        access.listed(
            session,
            Permission.ESCALATIONS_READ,
            record_type="escalation",
            participant_ids=[row.participant_id for row in rows],
            named=(filters["participant_id"],) if "participant_id" in filters else (),
        )
    pagination_parameters.item_count = total
    return rows


@blueprint.route("/<id:escalation_id>", methods=["GET"])
@blueprint.response(200, EscalationSchema)
@requires(Permission.ESCALATIONS_READ)
def get_escalation(escalation_id: int) -> dict[str, Any]:
    """One escalation with its events."""
    with services().db.transaction() as session:
        record, _ = engine.load(session, escalation_id)
        _opened(session, record, Permission.ESCALATIONS_READ, Action.READ)
        return _with_events(session, record)


@blueprint.route("/<id:escalation_id>/acknowledge", methods=["POST"])
@blueprint.response(200, OutcomeSchema)
@requires(Permission.ESCALATIONS_WRITE)
def acknowledge_escalation(escalation_id: int) -> dict[str, Any]:
    """Take the escalation: it stops everywhere and everyone notified is told who took it."""
    svc = services()
    with svc.db.transaction() as session:
        _opened(session, engine.load(session, escalation_id)[0], Permission.ESCALATIONS_WRITE)
        outcome = engine.acknowledge_escalation(
            session, escalation_id, ByOperator(operator()), svc.clock.now(), _reach()
        )
        record, _ = engine.load(session, escalation_id)
        return {
            "changed": outcome.changed,
            "message": outcome.reply,
            "escalation": _with_events(session, record),
        }


@blueprint.route("/<id:escalation_id>/close", methods=["POST"])
@blueprint.response(200, OutcomeSchema)
@requires(Permission.ESCALATIONS_WRITE)
def close_escalation(escalation_id: int) -> dict[str, Any]:
    """Close the escalation: nothing fires again."""
    svc = services()
    with svc.db.transaction() as session:
        _opened(session, engine.load(session, escalation_id)[0], Permission.ESCALATIONS_WRITE)
        outcome = engine.close_escalation(
            session, escalation_id, ByOperator(operator()), svc.clock.now(), _reach()
        )
        record, _ = engine.load(session, escalation_id)
        return {
            "changed": outcome.changed,
            "message": outcome.reply,
            "escalation": _with_events(session, record),
        }


def _opened(
    session: Session,
    record: EscalationRecord,
    permission: Permission,
    action: Action = Action.CHANGE,
) -> None:
    # An escalation about a participant (a missed call, a text, a risk alert) is his record;
    # one about nobody (a rota gap, a flood of unknown numbers) is not logged.
    access.opened(
        session,
        permission,
        record_type="escalation",
        record_id=record.id,
        participant_id=record.participant_id,
        not_found=f"There is no escalation with id {record.id}.",
        action=action,
    )


def _reach() -> Reach:
    return services().reach


def _with_events(session: Any, record: EscalationRecord) -> dict[str, Any]:
    dumped: dict[str, Any] = {
        column: getattr(record, column)
        for column in (
            "id",
            "policy_name",
            "subject_type",
            "subject_id",
            "participant_id",
            "summary",
            "status",
            "step_index",
            "loop",
            "next_due_at",
            "acknowledged_by",
            "acknowledged_at",
            "closed_by",
            "closed_at",
            "exhausted_at",
            "opened_at",
        )
    }
    dumped["events"] = [
        {"at": e.at, "kind": e.kind, "detail": e.detail} for e in engine.events(session, record.id)
    ]
    return dumped
