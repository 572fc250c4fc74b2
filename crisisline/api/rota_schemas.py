"""JSON shapes of rotas, overrides and the on-call, shifts and gaps answers."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from crisisline.api.common import RecordId
from rotas import CoverageWindow, RotaValidationError

# A "+" in a query string arrives as a space unless it was encoded, so
# `?at=2026-03-29T01:30:00+01:00` typed into curl reads "...01:30:00 01:00".
_DECODED_PLUS = re.compile(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$")


class Instant(fields.AwareDateTime):
    """An ISO 8601 date and time with a UTC offset (or Z), returned in UTC."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "metadata", {"description": "ISO 8601 with an offset, e.g. 2026-03-29T01:30:00Z."}
        )
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.datetime:
        if isinstance(value, str):
            value = _DECODED_PLUS.sub(r"\1+\2", value.strip())
        instant: dt.datetime = super()._deserialize(value, attr, data, **kwargs)
        try:
            return instant.astimezone(dt.UTC)
        except OverflowError:
            # 0001-01-01T01:00+13:00 is before year 1 in UTC: name the field, not "out of range".
            raise ValidationError("must be between years 1 and 9999 in UTC") from None


class LocalDateTime(fields.Field[dt.datetime]):
    """A local wall-clock date and time without an offset, e.g. 2026-01-05T08:00."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        return value if isinstance(value, str) else str(value.isoformat())

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.datetime:
        if not isinstance(value, str):
            raise ValidationError("must be a local date and time such as 2026-01-05T08:00")
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValidationError(
                f"{value!r} is not a local date and time such as 2026-01-05T08:00"
            ) from None
        if parsed.tzinfo is not None:
            raise ValidationError(
                "must be local wall-clock time without a UTC offset (the rota's timezone applies)"
            )
        return parsed


class WeeklyWindow(fields.Field[CoverageWindow]):
    """A weekly coverage window: {"start": "Fri 17:00", "end": "Mon 09:00"}."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        start, _, end = str(value).partition("-")
        return {"start": start, "end": end}

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> CoverageWindow:
        if not isinstance(value, dict) or set(value) != {"start", "end"}:
            raise ValidationError('must be {"start": "Fri 17:00", "end": "Mon 09:00"}')
        try:
            return CoverageWindow.parse(str(value["start"]), str(value["end"]))
        except RotaValidationError as exc:
            raise ValidationError(exc.message) from None


class RotaSchema(Schema):
    """An on-call rota: members take turns, handing over in local wall-clock time."""

    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    timezone = fields.String(
        load_default=None,
        validate=validate.Length(max=64),
        metadata={"description": "IANA zone such as Europe/London; default the service's."},
    )
    members = fields.List(
        RecordId(strict=True),
        required=True,
        metadata={"description": "Staff ids in turn order; at least one, all active."},
    )
    shift_length = fields.String(
        required=True,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "ISO 8601 duration: PT12H, P1D, P7D, P1M."},
    )
    first_handoff = LocalDateTime(
        required=True,
        metadata={"description": "Local date and time of the first handoff, no offset."},
    )
    coverage = fields.List(
        WeeklyWindow(),
        load_default=None,
        allow_none=True,
        metadata={"description": "Weekly windows covered; null or absent: always covered."},
    )
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class RotaUpdateSchema(RotaSchema):
    """Fields to change on a rota; any subset."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(partial=True, **kwargs)


class OverrideSchema(Schema):
    """Someone (or nobody) on call for [start, end), instead of or beside the rotation."""

    id = fields.Integer(dump_only=True)
    rota_id = fields.Integer(dump_only=True)
    # Required even when null: leaving it out by mistake must not take everyone off call.
    staff_id = RecordId(
        required=True,
        allow_none=True,
        strict=True,
        metadata={"description": "Who is put on call; null means nobody (a gap)."},
    )
    start = Instant(required=True, attribute="starts_at", data_key="start")
    end = Instant(required=True, attribute="ends_at", data_key="end")
    mode = fields.String(
        load_default="replace",
        validate=validate.OneOf(["replace", "add"]),
        metadata={"description": "replace: instead of whoever is scheduled; add: beside them."},
    )
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    created_by = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class OverrideQuerySchema(Schema):
    """Only overrides meeting [from, to)."""

    from_ = Instant(data_key="from")
    to = Instant()


class OnCallQuerySchema(Schema):
    """The instant asked about; now if absent."""

    at = Instant()


class WindowQuerySchema(Schema):
    """A window of at most 90 days."""

    from_ = Instant(data_key="from", required=True)
    to = Instant(required=True)


class OnCallStaffSchema(Schema):
    """A member of staff who is on call."""

    id = fields.Integer()
    name = fields.String()
    phone = fields.String()
    active = fields.Boolean()


class OnCallSchema(Schema):
    """Who is on call at an instant, since when, until when, and why."""

    rota_id = fields.Integer()
    rota = fields.String()
    at = fields.DateTime()
    staff = fields.List(
        fields.Nested(OnCallStaffSchema), metadata={"description": "Primary first."}
    )
    shift_start = fields.DateTime()
    shift_end = fields.DateTime()
    source = fields.String(
        metadata={"description": "rotation, override, outside_coverage or not_started."}
    )
    scheduled_staff_id = fields.Integer(allow_none=True)
    override_ids = fields.List(fields.Integer())
    timezone = fields.String()
    shift_start_local = fields.String()
    shift_end_local = fields.String()


class ShiftSchema(Schema):
    """A period during which the same staff are on call for the same reason."""

    start = fields.DateTime()
    end = fields.DateTime()
    start_local = fields.String()
    end_local = fields.String()
    staff = fields.List(fields.Nested(OnCallStaffSchema))
    source = fields.String()
    scheduled_staff_id = fields.Integer(allow_none=True)
    override_ids = fields.List(fields.Integer())


class GapSchema(Schema):
    """A period inside a rota's coverage with nobody usable on call."""

    rota_id = fields.Integer()
    rota = fields.String()
    start = fields.DateTime()
    end = fields.DateTime()
    start_local = fields.String()
    end_local = fields.String()
    reason = fields.String(
        metadata={"description": "nobody_override, no_usable_staff or rota_not_started."}
    )
    staff = fields.List(fields.Nested(OnCallStaffSchema))
    override_ids = fields.List(fields.Integer())


class CalendarTokenSchema(Schema):
    """A calendar subscription URL, shown once."""

    url = fields.String()
    webcal_url = fields.String()
