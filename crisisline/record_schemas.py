"""The checks on a member of staff's and a participant's fields, as every way in applies them.

The API (crisisline.api.schemas), the CSV imports (crisisline.imports) and the console's forms
load what people send through these marshmallow schemas, so each refuses the same input with
the same words. A phone number is read in the region the schema was given (`region=`); the
API's subclasses take the service's DEFAULT_REGION for each request.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from marshmallow import Schema, ValidationError, fields, validate

from crisisline import phones
from crisisline.models import ParticipantStatus, RiskLevel, StaffRole

# Every record id is an INTEGER column: PostgreSQL's 32-bit int4 (see crisisline.api.common).
MAX_ID: Final = 2**31 - 1


class RecordSchema(Schema):
    """A schema whose phone numbers are read in `region` (the service's DEFAULT_REGION)."""

    def __init__(self, *, region: str = "GB", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._region = region

    @property
    def region(self) -> str:
        """Where a number written without +44 or 0044 is taken to be."""
        return self._region


class RecordId(fields.Integer):
    """A record id in a query or a body: 0 to MAX_ID (the document says so)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=validate.Range(min=0, max=MAX_ID), **kwargs)


class PhoneNumber(fields.String):
    """A phone number in any common form, loaded as E.164 in its schema's region."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return phones.normalise(text, self._region())
        except phones.InvalidPhoneNumber as exc:
            raise ValidationError(f"{text!r} {exc}") from exc

    def _region(self) -> str:
        owner: Any = self.parent
        while isinstance(owner, fields.Field):  # a number inside a list of numbers
            owner = owner.parent
        return owner.region if isinstance(owner, RecordSchema) else "GB"


class StaffSchema(RecordSchema):
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


class ParticipantSchema(RecordSchema):
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
    ended_service_on = fields.Date(
        dump_only=True,
        metadata={
            "description": "The local day he left the service (set when he is closed, cleared "
            "if he is made active again); the retention schedule counts from it."
        },
    )
    anonymised_at = fields.DateTime(
        dump_only=True,
        metadata={"description": "When retention removed his identifying details, if it has."},
    )
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class ParticipantUpdateSchema(ParticipantSchema):
    """Fields to change on a participant; any subset."""

    ended_service_on = fields.Date(
        allow_none=True,
        metadata={
            "description": "Only with status closed: the local day he left the service, not "
            "after today nor before he was added. Without it, closing him sets today."
        },
    )
    reason = fields.String(
        load_only=True,
        validate=validate.Length(min=3, max=500),
        metadata={
            "description": "Why the details are changed, kept with the values before (his "
            "earlier details). Without it the correction is recorded as `not given`."
        },
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(partial=True, **kwargs)


def flatten_messages(messages: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(field path, problem) pairs from marshmallow's nested error messages."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            # The location (json, query) is not a field; leave it out of the readable path.
            name = "" if key in ("json", "query", "form", "path") and not prefix else str(key)
            path = f"{prefix}.{name}" if prefix and name else (name or prefix)
            yield from flatten_messages(value, path)
    elif isinstance(messages, list):
        yield prefix or "input", " ".join(str(m) for m in messages)
    else:
        yield prefix or "input", str(messages)
