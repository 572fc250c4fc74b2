"""JSON shapes of the API's resources; the OpenAPI document is generated from these."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from crisisline.api.common import PhoneNumber, RecordId
from crisisline.models import Channel, DeliveryStatus, ParticipantStatus, RiskLevel, StaffRole


class StaffSchema(Schema):
    """A member of staff."""

    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    phone = PhoneNumber(
        required=True, metadata={"description": "Any common form; stored and returned as E.164."}
    )
    email = fields.Email(load_default=None, allow_none=True, validate=validate.Length(max=254))
    roles = fields.List(
        fields.Enum(StaffRole, by_value=True),
        load_default=list,
        metadata={"description": "Any of on_call, duty_manager, responsible_officer, admin."},
    )
    active = fields.Boolean(load_default=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class StaffUpdateSchema(StaffSchema):
    """Fields to change on a member of staff; any subset."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(partial=True, **kwargs)


class StaffQuerySchema(Schema):
    """Filters for listing staff."""

    role = fields.Enum(StaffRole, by_value=True)
    active = fields.Boolean()


class ParticipantSchema(Schema):
    """A participant of the Resettle service."""

    id = fields.Integer(dump_only=True)
    reference = fields.String(
        required=True,
        validate=[
            validate.Length(min=1, max=40),
            validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9/_\-]*$", error="use letters, digits, / _ -"),
        ],
    )
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    phones = fields.List(
        PhoneNumber(),
        required=True,
        validate=validate.Length(min=1, max=10),
        metadata={"description": "One or more numbers; each belongs to this participant only."},
    )
    responsible_officer_id = RecordId(load_default=None, allow_none=True)
    risk_level = fields.Enum(RiskLevel, by_value=True, required=True)
    status = fields.Enum(ParticipantStatus, by_value=True, load_default=ParticipantStatus.ACTIVE)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class ParticipantUpdateSchema(ParticipantSchema):
    """Fields to change on a participant; any subset."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(partial=True, **kwargs)


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
