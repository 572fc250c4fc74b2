"""/api/v1/rotas: rotas, their overrides, who is on call, shifts, gaps and calendar feed URLs."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from crisisline import calendar_feeds, staffing
from crisisline import rota_service as service
from crisisline.api.common import actor, protected_blueprint
from crisisline.api.rota_schemas import (
    CalendarTokenSchema,
    GapSchema,
    GapsQuerySchema,
    OnCallQuerySchema,
    OnCallSchema,
    OverrideQuerySchema,
    OverrideSchema,
    RotaSchema,
    RotaUpdateSchema,
    ShiftSchema,
    WindowQuerySchema,
)
from crisisline.gate import requires
from crisisline.models import Staff
from crisisline.permissions import Permission
from crisisline.rota_models import CalendarFeedKind, RotaOverride, RotaRecord
from crisisline.services import services

# Prefixed with /api/v1 rather than /api/v1/rotas so that the staff calendar-token route
# (/api/v1/staff/{id}/calendar-token) lives with the other rota-feed routes.
blueprint = protected_blueprint(
    "rotas",
    __name__,
    "/api/v1",
    "On-call rotas: who is on call at any instant, overrides, shifts, gaps, calendar feeds.",
)


@blueprint.route("/rotas", methods=["POST"])
@blueprint.arguments(RotaSchema)
@blueprint.response(201, RotaSchema)
@requires(Permission.ROTAS_WRITE)
def create_rota(data: dict[str, Any]) -> RotaRecord:
    """Add a rota. Members must be active staff; 422 names the field at fault."""
    svc = services()
    new = service.NewRota(
        name=data["name"],
        timezone=data.get("timezone") or svc.settings.timezone,
        members=data["members"],
        shift_length=data["shift_length"],
        first_handoff=data["first_handoff"],
        coverage=data.get("coverage"),
    )
    with svc.db.transaction() as session:
        return service.create(session, new, actor=actor(), now=svc.clock.now())


@blueprint.route("/rotas", methods=["GET"])
@blueprint.response(200, RotaSchema(many=True))
@blueprint.paginate()
@requires(Permission.ROTAS_READ)
def list_rotas(pagination_parameters: Any) -> list[RotaRecord]:
    """List rotas by name. 10 a page; Link and X-Pagination lead to the rest."""
    with services().db.transaction() as session:
        rows, total = service.list_rotas(
            session,
            offset=pagination_parameters.first_item,
            limit=pagination_parameters.page_size,
        )
    pagination_parameters.item_count = total
    return rows


@blueprint.route("/rotas/<rota:rota>", methods=["GET"])
@blueprint.response(200, RotaSchema)
@requires(Permission.ROTAS_READ)
def get_rota(rota: int | str) -> RotaRecord:
    """One rota, by id or name."""
    with services().db.transaction() as session:
        return service.find(session, rota)


@blueprint.route("/rotas/<rota:rota>", methods=["PATCH"])
@blueprint.arguments(RotaUpdateSchema)
@blueprint.response(200, RotaSchema)
@requires(Permission.ROTAS_WRITE)
def update_rota(changes: dict[str, Any], rota: int | str) -> RotaRecord:
    """Change any of a rota's fields; the result must still be a valid rota. With
    `effective_from` (a handoff still to come) the change applies from that handoff on."""
    svc = services()
    if "timezone" in changes and changes["timezone"] is None:
        changes["timezone"] = svc.settings.timezone
    effective_from: dt.datetime | None = changes.pop("effective_from", None)
    with svc.db.transaction() as session:
        rota_id = service.find(session, rota).id
        return staffing.update_rota(
            session,
            rota_id,
            changes,
            actor=actor(),
            now=svc.clock.now(),
            effective_from=effective_from,
        )


@blueprint.route("/rotas/<rota:rota>", methods=["DELETE"])
@blueprint.response(204)
@requires(Permission.ROTAS_WRITE)
def delete_rota(rota: int | str) -> None:
    """Delete a rota, its overrides and its calendar feed."""
    svc = services()
    with svc.db.transaction() as session:
        rota_id = service.find(session, rota).id
        staffing.delete_rota(session, rota_id, actor=actor(), now=svc.clock.now())


@blueprint.route("/rotas/<rota:rota>/overrides", methods=["POST"])
@blueprint.arguments(OverrideSchema)
@blueprint.response(201, OverrideSchema)
@requires(Permission.ROTAS_WRITE)
def create_override(data: dict[str, Any], rota: int | str) -> RotaOverride:
    """Put someone (or, with staff_id null, nobody) on call for [start, end)."""
    svc = services()
    new = service.NewOverride(
        staff_id=data["staff_id"],
        start=data["starts_at"],
        end=data["ends_at"],
        mode=data["mode"],
        reason=data["reason"],
    )
    with svc.db.transaction() as session:
        rota_id = service.find(session, rota).id
        return staffing.add_override(session, rota_id, new, actor=actor(), now=svc.clock.now())


@blueprint.route("/rotas/<rota:rota>/overrides", methods=["GET"])
@blueprint.arguments(OverrideQuerySchema, location="query")
@blueprint.response(200, OverrideSchema(many=True))
@blueprint.paginate()
@requires(Permission.ROTAS_READ)
def list_overrides(
    filters: dict[str, Any], rota: int | str, pagination_parameters: Any
) -> list[RotaOverride]:
    """A rota's overrides by start; `from` and `to` keep those meeting [from, to)."""
    with services().db.transaction() as session:
        rows, total = service.list_overrides(
            session,
            service.find(session, rota).id,
            start=filters.get("from_"),
            end=filters.get("to"),
            offset=pagination_parameters.first_item,
            limit=pagination_parameters.page_size,
        )
    pagination_parameters.item_count = total
    return rows


@blueprint.route("/rotas/<rota:rota>/overrides/<id:override_id>", methods=["DELETE"])
@blueprint.response(204)
@requires(Permission.ROTAS_WRITE)
def delete_override(rota: int | str, override_id: int) -> None:
    """Remove an override."""
    svc = services()
    with svc.db.transaction() as session:
        rota_id = service.find(session, rota).id
        staffing.delete_override(session, rota_id, override_id, actor=actor(), now=svc.clock.now())


@blueprint.route("/rotas/<rota:rota>/on-call", methods=["GET"])
@blueprint.arguments(OnCallQuerySchema, location="query")
@blueprint.response(200, OnCallSchema)
@requires(Permission.ROTAS_READ)
def on_call(query: dict[str, Any], rota: int | str) -> dict[str, Any]:
    """Who is on call at `at` (default now): staff (primary first), since, until and why."""
    svc = services()
    at: dt.datetime = query.get("at") or svc.clock.now()
    with svc.db.transaction() as session:
        answer = service.on_call(session, service.find(session, rota).id, at)
        zone = ZoneInfo(answer.rota.timezone)
        return {
            "rota_id": answer.rota.id,
            "rota": answer.rota.name,
            "at": at,
            "staff": [_person(person) for person in answer.staff],
            "shift_start": answer.shift.start,
            "shift_end": answer.shift.end,
            "source": answer.shift.source,
            "scheduled_staff_id": answer.shift.scheduled_staff_id,
            "override_ids": list(answer.shift.override_ids),
            "timezone": answer.rota.timezone,
            "shift_start_local": answer.shift.start.astimezone(zone).isoformat(),
            "shift_end_local": answer.shift.end.astimezone(zone).isoformat(),
        }


@blueprint.route("/rotas/<rota:rota>/shifts", methods=["GET"])
@blueprint.arguments(WindowQuerySchema, location="query")
@blueprint.response(200, ShiftSchema(many=True))
@requires(Permission.ROTAS_READ)
def list_shifts(query: dict[str, Any], rota: int | str) -> list[dict[str, Any]]:
    """The periods tiling [from, to) (at most 90 days) with who is on call, overrides applied."""
    with services().db.transaction() as session:
        found = service.shifts(session, service.find(session, rota).id, query["from_"], query["to"])
        zone = ZoneInfo(found.rota.timezone)
        return [
            {
                "start": shift.start,
                "end": shift.end,
                "start_local": shift.start.astimezone(zone).isoformat(),
                "end_local": shift.end.astimezone(zone).isoformat(),
                "staff": [_person(found.staff[i]) for i in shift.staff_ids],
                "source": shift.source,
                "scheduled_staff_id": shift.scheduled_staff_id,
                "override_ids": list(shift.override_ids),
            }
            for shift in found.shifts
        ]


@blueprint.route("/rotas/gaps", methods=["GET"])
@blueprint.arguments(GapsQuerySchema, location="query")
@blueprint.response(200, GapSchema(many=True))
@requires(Permission.ROTAS_READ)
def list_gaps(query: dict[str, Any]) -> list[dict[str, Any]]:
    """Periods in [from, to) (at most 90 days), in every rota, with nobody usable on call."""
    with services().db.transaction() as session:
        found = service.gaps(session, query["from_"], query["to"])
        answer = []
        for item in found:
            zone = ZoneInfo(item.rota.timezone)
            answer.append(
                {
                    "rota_id": item.rota.id,
                    "rota": item.rota.name,
                    "start": item.gap.start,
                    "end": item.gap.end,
                    "start_local": item.gap.start.astimezone(zone).isoformat(),
                    "end_local": item.gap.end.astimezone(zone).isoformat(),
                    "reason": item.gap.reason,
                    "staff": [_person(person) for person in item.staff],
                    "override_ids": list(item.gap.override_ids),
                }
            )
        return answer


@blueprint.route("/rotas/<rota:rota>/calendar-token", methods=["POST"])
@blueprint.response(201, CalendarTokenSchema)
@requires(Permission.ROTAS_WRITE)
def create_rota_calendar_token(rota: int | str) -> dict[str, str]:
    """A new calendar subscription URL for the rota, shown once; any earlier URL stops working."""
    with services().db.transaction() as session:
        rota_id = service.find(session, rota).id
    return _calendar_token(CalendarFeedKind.ROTA, rota_id)


@blueprint.route("/staff/<id:staff_id>/calendar-token", methods=["POST"])
@blueprint.response(201, CalendarTokenSchema)
@requires(Permission.STAFF_WRITE)
def create_staff_calendar_token(staff_id: int) -> dict[str, str]:
    """A new calendar URL of one person's shifts, shown once; any earlier URL stops working."""
    return _calendar_token(CalendarFeedKind.STAFF, staff_id)


def _calendar_token(kind: CalendarFeedKind, target_id: int) -> dict[str, str]:
    svc = services()
    with svc.db.transaction() as session:
        token = calendar_feeds.create_token(
            session, kind, target_id, actor=actor(), now=svc.clock.now()
        )
    url = svc.url(calendar_feeds.feed_path(kind, token))
    return {"url": url, "webcal_url": "webcal://" + url.split("://", 1)[1]}


def _person(person: Staff) -> dict[str, Any]:
    return {"id": person.id, "name": person.name, "phone": person.phone, "active": person.active}
