"""/api/v1/alerts: risk alerts with their evidence; acknowledge and resolve them."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate
from sqlalchemy.orm import Session

from crisisline import alerts as alert_service
from crisisline.alert_models import AlertSeverity, AlertStatus, RiskAlert
from crisisline.api import access
from crisisline.api.common import RecordId, actor, protected_blueprint
from crisisline.api.rota_schemas import Instant
from crisisline.gate import requires
from crisisline.permissions import Permission
from crisisline.record_access import Action
from crisisline.services import services

blueprint = protected_blueprint(
    "alerts",
    __name__,
    "/api/v1/alerts",
    "Risk alerts raised by the risk rules (config/risk_rules.toml) and who saw them.",
)


class EvidenceSchema(Schema):
    """A contact that made the alert fire."""

    contact_id = fields.Integer()
    channel = fields.String()
    started_at = fields.DateTime()
    outcome = fields.String(allow_none=True)
    body = fields.String(
        allow_none=True, metadata={"description": "The text, or a voicemail's transcript."}
    )
    participant_contacts = fields.String(
        metadata={"description": "The participant's contacts, where this one is listed."}
    )


class AlertSchema(Schema):
    """A risk alert: what fired, why, for whom, who saw it, and the contacts behind it."""

    id = fields.Integer()
    participant_id = fields.Integer()
    rule = fields.String()
    severity = fields.Enum(AlertSeverity, by_value=True)
    reason = fields.String()
    status = fields.Enum(AlertStatus, by_value=True)
    raised_at = fields.DateTime()
    last_seen_at = fields.DateTime()
    count = fields.Integer(metadata={"description": "How often the rule fired into this alert."})
    recipient_staff_id = fields.Integer(
        allow_none=True,
        metadata={"description": "The responsible officer it went to; null: the duty manager."},
    )
    routed_to = fields.String(metadata={"description": "officer or duty_manager"})
    acknowledged_by = fields.String(allow_none=True)
    acknowledged_at = fields.DateTime(allow_none=True)
    resolved_by = fields.String(allow_none=True)
    resolved_at = fields.DateTime(allow_none=True)
    resolution_note = fields.String(allow_none=True)
    escalation_id = fields.Integer(allow_none=True)
    escalation = fields.String(allow_none=True, metadata={"description": "Link to it."})
    evidence = fields.List(fields.Nested(EvidenceSchema))


class AlertQuerySchema(Schema):
    """Filters for listing alerts; `from` and `to` bound the time raised, [from, to)."""

    status = fields.Enum(AlertStatus, by_value=True)
    participant_id = RecordId()
    severity = fields.Enum(AlertSeverity, by_value=True)
    from_ = Instant(data_key="from")
    to = Instant()


class ResolutionSchema(Schema):
    """What was done about the alert."""

    note = fields.String(required=True, validate=validate.Length(min=1, max=2000))


def _dump(session: Session, alert: RiskAlert) -> dict[str, Any]:
    columns = (
        "id",
        "participant_id",
        "rule",
        "severity",
        "reason",
        "status",
        "raised_at",
        "last_seen_at",
        "count",
        "recipient_staff_id",
        "routed_to",
        "acknowledged_by",
        "acknowledged_at",
        "resolved_by",
        "resolved_at",
        "resolution_note",
        "escalation_id",
    )
    dumped: dict[str, Any] = {column: getattr(alert, column) for column in columns}
    dumped["escalation"] = (
        f"/api/v1/escalations/{alert.escalation_id}" if alert.escalation_id else None
    )
    dumped["evidence"] = [
        {
            "contact_id": contact.id,
            "channel": contact.channel.value,
            "started_at": contact.started_at,
            "outcome": contact.outcome,
            "body": contact.body,
            "participant_contacts": f"/api/v1/participants/{alert.participant_id}/contacts",
        }
        for contact in alert_service.evidence(session, alert.id)
    ]
    return dumped


@blueprint.route("", methods=["GET"])
@blueprint.arguments(AlertQuerySchema, location="query")
@blueprint.response(200, AlertSchema(many=True))
@blueprint.paginate()
@requires(Permission.ALERTS_READ)
def list_alerts(filters: dict[str, Any], pagination_parameters: Any) -> list[dict[str, Any]]:
    """Alerts, newest first; filter by status, participant, severity and time raised."""
    with services().db.transaction() as session:
        rows, total = alert_service.find(
            session,
            status=filters.get("status"),
            participant_id=filters.get("participant_id"),
            severity=filters.get("severity"),
            raised_from=filters.get("from_"),
            raised_to=filters.get("to"),
            visible=access.visible(Permission.ALERTS_READ),
            offset=pagination_parameters.first_item,
            limit=pagination_parameters.page_size,
        )
        access.listed(
            session,
            Permission.ALERTS_READ,
            record_type="risk_alert",
            participant_ids=[alert.participant_id for alert in rows],
            named=(filters["participant_id"],) if "participant_id" in filters else (),
        )
        pagination_parameters.item_count = total
        return [_dump(session, alert) for alert in rows]


@blueprint.route("/<id:alert_id>", methods=["GET"])
@blueprint.response(200, AlertSchema)
@requires(Permission.ALERTS_READ)
def get_alert(alert_id: int) -> dict[str, Any]:
    """One alert with its evidence contacts."""
    with services().db.transaction() as session:
        alert = alert_service.get(session, alert_id)
        _opened(session, alert, Permission.ALERTS_READ, Action.READ)
        return _dump(session, alert)


@blueprint.route("/<id:alert_id>/acknowledge", methods=["POST"])
@blueprint.response(200, AlertSchema)
@requires(Permission.ALERTS_WRITE)
def acknowledge_alert(alert_id: int) -> dict[str, Any]:
    """Record that you have seen the alert; its escalation stops."""
    svc = services()
    with svc.db.transaction() as session:
        _opened(session, alert_service.get(session, alert_id), Permission.ALERTS_WRITE)
        alert = alert_service.acknowledge(
            session, alert_id, actor=actor(), now=svc.clock.now(), reach=svc.reach
        )
        return _dump(session, alert)


@blueprint.route("/<id:alert_id>/resolve", methods=["POST"])
@blueprint.arguments(ResolutionSchema)
@blueprint.response(200, AlertSchema)
@requires(Permission.ALERTS_WRITE)
def resolve_alert(data: dict[str, Any], alert_id: int) -> dict[str, Any]:
    """Close the alert with a note of what was done."""
    svc = services()
    with svc.db.transaction() as session:
        _opened(session, alert_service.get(session, alert_id), Permission.ALERTS_WRITE)
        alert = alert_service.resolve(
            session,
            alert_id,
            note=data["note"],
            actor=actor(),
            now=svc.clock.now(),
            reach=svc.reach,
        )
        return _dump(session, alert)


def _opened(
    session: Session, alert: RiskAlert, permission: Permission, action: Action = Action.CHANGE
) -> None:
    access.opened(
        session,
        permission,
        record_type="risk_alert",
        record_id=alert.id,
        participant_id=alert.participant_id,
        not_found=f"There is no risk alert with id {alert.id}.",
        action=action,
    )
