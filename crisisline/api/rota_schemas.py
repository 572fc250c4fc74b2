"""JSON shapes of rotas, overrides and the on-call, shifts and gaps answers."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from flask import request
from marshmallow import Schema, ValidationError, fields, validate

from crisisline import rota_service
from crisisline.api.common import RecordId
from crisisline.errors import NotFound
from crisisline.services import services
from rotas import (
    CoverageWindow,
    RepeatedLocalTime,
    RotaValidationError,
    SkippedLocalTime,
    typed_local_to_utc,
)

# A "+" in a query string arrives as a space unless it was encoded, so
# `?at=2026-03-29T01:30:00+01:00` typed into curl reads "...01:30:00 01:00".
_DECODED_PLUS = re.compile(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$")


def service_zone() -> ZoneInfo:
    """The service's TIMEZONE: local times are read in it where no rota is named."""
    return services().settings.zone


def rota_zone() -> ZoneInfo:
    """The time zone of the rota the request's path names (by id or name), else the service's."""
    reference = (request.view_args or {}).get("rota")
    if reference is not None:
        with services().db.transaction() as session:
            try:
                return ZoneInfo(rota_service.find(session, reference).timezone)
            except NotFound:
                pass  # the view answers 404 for the rota; the time is read as if none were named
    return service_zone()


class Instant(fields.AwareDateTime):
    """An ISO 8601 date and time, returned in UTC. With an offset (or Z) it is that instant;
    without one it is wall-clock time in the zone `zone()` gives, if that reading is one
    instant: a time the clocks skip, or one they repeat, is refused (an offset settles it)."""

    def __init__(self, zone: Callable[[], ZoneInfo] = service_zone, **kwargs: Any) -> None:
        kwargs.setdefault(
            "metadata",
            {
                "description": "ISO 8601 date and time: with an offset (2026-12-05T08:00Z, "
                "2026-12-05T08:00+01:00), or without one as local wall-clock time "
                "(2026-12-05T08:00) in the service's TIMEZONE. A local time the clocks skip "
                "is refused; one they repeat needs an offset.",
                "example": "2026-12-05T08:00",
            },
        )
        super().__init__(**kwargs)
        self._zone = zone

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.datetime:
        if isinstance(value, str):
            value = _DECODED_PLUS.sub(r"\1+\2", value.strip())
        # DateTime's own parsing accepts a time with or without an offset; the zone decides.
        instant: dt.datetime = fields.DateTime._deserialize(self, value, attr, data, **kwargs)
        if instant.tzinfo is None:
            return _typed_local(instant, self._zone())
        try:
            return instant.astimezone(dt.UTC)
        except OverflowError:
            # 0001-01-01T01:00+13:00 is before year 1 in UTC: name the field, not "out of range".
            raise ValidationError("must be between years 1 and 9999 in UTC") from None


def _typed_local(local: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    try:
        return typed_local_to_utc(local, zone)
    except SkippedLocalTime:
        raise ValidationError(
            f"{local.isoformat()} never happens in {zone.key}: the clocks go forward over it. "
            "Give a time before or after the skipped hour, or an offset."
        ) from None
    except RepeatedLocalTime as twice:
        first, second = (instant.astimezone(zone).isoformat() for instant in twice.instants)
        raise ValidationError(
            f"{local.isoformat()} happens twice in {zone.key} (the clocks go back): add the "
            f"offset to say which, {first} or {second}."
        ) from None
    except OverflowError:
        raise ValidationError("must be between years 1 and 9999 in UTC") from None


def rota_instant(**kwargs: Any) -> Instant:
    """An Instant whose local times are in the time zone of the rota the path names."""
    kwargs.setdefault(
        "metadata",
        {
            "description": "ISO 8601 date and time: with an offset (2026-12-05T08:00Z), or "
            "without one as local wall-clock time (2026-12-05T08:00) in the rota's time zone. "
            "A local time the clocks skip is refused; one they repeat needs an offset.",
            "example": "2026-12-05T08:00",
        },
    )
    return Instant(zone=rota_zone, **kwargs)


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
    """Fields to change on a rota; any subset. With `effective_from` (one of the rota's
    handoffs still to come) a change of members, shift length or coverage applies from that
    handoff on, and every turn before it stays exactly as it was; without it the change
    applies to the whole rota at once."""

    effective_from = rota_instant(
        load_only=True,
        metadata={
            "description": "A handoff still to come, from which the change applies; earlier "
            "turns keep the rota as it was. From it the rotation carries on with whoever is "
            "due then (if still a member), in the new order. Absent: the whole rota changes.",
            "example": "2026-10-26T09:00",
        },
    )

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
    start = rota_instant(required=True, attribute="starts_at", data_key="start")
    end = rota_instant(required=True, attribute="ends_at", data_key="end")
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

    from_ = rota_instant(data_key="from")
    to = rota_instant()


class OnCallQuerySchema(Schema):
    """The instant asked about; now if absent."""

    at = rota_instant()


class WindowQuerySchema(Schema):
    """A window of at most 90 days; local times in the rota's time zone."""

    from_ = rota_instant(data_key="from", required=True)
    to = rota_instant(required=True)


class GapsQuerySchema(Schema):
    """A window of at most 90 days; local times in the service's TIMEZONE (no rota is named)."""

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
