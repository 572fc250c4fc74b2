"""JSON shapes of the API's resources; the OpenAPI document is generated from these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marshmallow import Schema, fields, validate

from crisisline import record_schemas
from crisisline.api.common import PhoneNumber, RecordId
from crisisline.data_protection_models import LegalHold
from crisisline.models import Channel, DeliveryStatus, Participant, ParticipantStatus, StaffRole
from crisisline.services import services


class ServiceRegion:
    """Phone numbers read in the service's DEFAULT_REGION, as each request finds it."""

    @property
    def region(self) -> str:
        """The service's DEFAULT_REGION."""
        return services().settings.default_region


# The checks are crisisline.record_schemas' (the CSV imports and the console apply the same).
class StaffSchema(ServiceRegion, record_schemas.StaffSchema):
    """A member of staff."""


class StaffUpdateSchema(ServiceRegion, record_schemas.StaffUpdateSchema):
    """Fields to change on a member of staff; any subset."""


class StaffQuerySchema(Schema):
    """Filters for listing staff."""

    role = fields.Enum(StaffRole, by_value=True)
    active = fields.Boolean()


class LegalHoldStateSchema(Schema):
    """A legal hold in place on a participant: retention removes nothing of his meanwhile."""

    reason = fields.String(dump_only=True)
    set_at = fields.DateTime(dump_only=True)
    set_by = fields.String(dump_only=True, metadata={"description": "staff:12, cli"})


class LegalHoldSchema(LegalHoldStateSchema):
    """A legal hold, lifted or not."""

    id = fields.Integer(dump_only=True)
    participant_id = fields.Integer(dump_only=True)
    lifted_at = fields.DateTime(dump_only=True)
    lifted_by = fields.String(dump_only=True)
    lift_reason = fields.String(dump_only=True)


class LegalHoldReasonSchema(Schema):
    """Why a legal hold is placed or lifted."""

    reason = fields.String(required=True, validate=validate.Length(min=3, max=500))


class ParticipantCloseSchema(Schema):
    """Closing a participant: the day he left, if not today."""

    ended_service_on = fields.Date(
        metadata={"description": "The local day he left; not after today nor before he was added."}
    )


@dataclass(frozen=True)
class ShownParticipant:
    """A participant as the API shows him: his row and the legal hold in place, if any."""

    participant: Participant
    legal_hold: LegalHold | None


class ParticipantSchema(ServiceRegion, record_schemas.ParticipantSchema):
    """A participant of the Resettle service."""

    legal_hold = fields.Nested(
        LegalHoldStateSchema,
        dump_only=True,
        allow_none=True,
        metadata={"description": "The legal hold in place on him, or null."},
    )

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        """Read a ShownParticipant's fields from its participant, the hold from itself."""
        if isinstance(obj, ShownParticipant):
            if attr == "legal_hold":
                return obj.legal_hold
            obj = obj.participant
        return super().get_attribute(obj, attr, default)


class ParticipantUpdateSchema(ServiceRegion, record_schemas.ParticipantUpdateSchema):
    """Fields to change on a participant; any subset."""


class ParticipantQuerySchema(Schema):
    """Filters for listing participants."""

    reference = fields.String(
        validate=validate.Length(min=1, max=40),
        metadata={"description": "The participant's reference, exactly (any case)."},
    )
    name = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Part of the name, any case: `name=smi` finds Smith."},
    )
    phone = PhoneNumber(metadata={"description": "Any common form; matches any of their numbers."})
    status = fields.Enum(ParticipantStatus, by_value=True)
    responsible_officer_id = RecordId()


class DeliverySchema(Schema):
    """An SMS or call the service sent or will send (the outbox)."""

    id = fields.Integer(dump_only=True)
    purpose = fields.String(dump_only=True)
    channel = fields.Enum(Channel, by_value=True, dump_only=True)
    to = fields.String(attribute="to_number", dump_only=True)
    from_ = fields.String(attribute="from_number", data_key="from", dump_only=True)
    body = fields.String(dump_only=True)
    segments = fields.Integer(dump_only=True)
    status = fields.Enum(DeliveryStatus, by_value=True, dump_only=True)
    provider_status = fields.String(dump_only=True, allow_none=True)
    provider_sid = fields.String(dump_only=True, allow_none=True)
    priority = fields.Integer(dump_only=True)  # 0 a participant's, 1 staff alerts, 2 the rest
    attempts = fields.Integer(dump_only=True)
    next_attempt_at = fields.DateTime(dump_only=True)
    failing_since = fields.DateTime(dump_only=True, allow_none=True)
    error_code = fields.Integer(dump_only=True, allow_none=True)
    error_message = fields.String(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    sent_at = fields.DateTime(dump_only=True, allow_none=True)
    finished_at = fields.DateTime(dump_only=True, allow_none=True)


class DeliveryQuerySchema(Schema):
    """Filters for listing deliveries."""

    to = PhoneNumber()
    purpose = fields.String()
    status = fields.Enum(DeliveryStatus, by_value=True)
