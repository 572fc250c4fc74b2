"""/api/v1/staff: create, list, get, update and deactivate staff."""

from __future__ import annotations

from typing import Any

from crisisline import staff as staff_service
from crisisline import staffing
from crisisline.api.common import actor, protected_blueprint
from crisisline.api.schemas import (
    DeliverySchema,
    StaffQuerySchema,
    StaffSchema,
    StaffUpdateSchema,
)
from crisisline.gate import requires
from crisisline.models import Delivery, Staff
from crisisline.permissions import Permission
from crisisline.phones import refuse_the_line
from crisisline.services import services

blueprint = protected_blueprint(
    "staff", __name__, "/api/v1/staff", "Staff: on-call workers, duty managers, officers, admins."
)


@blueprint.route("", methods=["POST"])
@blueprint.arguments(StaffSchema)
@blueprint.response(201, StaffSchema)
@requires(Permission.STAFF_WRITE)
def create_staff(data: dict[str, Any]) -> Staff:
    """Add a member of staff."""
    svc = services()
    _refuse_the_crisis_line(data.get("phone"))
    with svc.db.transaction() as session:
        return staff_service.create(
            session, staff_service.NewStaff(**data), actor=actor(), now=svc.clock.now()
        )


@blueprint.route("", methods=["GET"])
@blueprint.arguments(StaffQuerySchema, location="query")
@blueprint.response(200, StaffSchema(many=True))
@blueprint.paginate()
@requires(Permission.STAFF_READ)
def list_staff(filters: dict[str, Any], pagination_parameters: Any) -> list[Staff]:
    """List staff by name; filter by role and active. 10 a page; Link leads to the rest."""
    svc = services()
    with svc.db.transaction() as session:
        rows, total = staff_service.list_staff(
            session,
            role=filters.get("role"),
            active=filters.get("active"),
            offset=pagination_parameters.first_item,
            limit=pagination_parameters.page_size,
        )
    pagination_parameters.item_count = total
    return rows


@blueprint.route("/<id:staff_id>", methods=["GET"])
@blueprint.response(200, StaffSchema)
@requires(Permission.STAFF_READ)
def get_staff(staff_id: int) -> Staff:
    """One member of staff."""
    with services().db.transaction() as session:
        return staff_service.get(session, staff_id)


@blueprint.route("/<id:staff_id>", methods=["PATCH"])
@blueprint.arguments(StaffUpdateSchema)
@blueprint.response(200, StaffSchema)
@requires(Permission.STAFF_WRITE)
def update_staff(changes: dict[str, Any], staff_id: int) -> Staff:
    """Change any of a member of staff's fields."""
    svc = services()
    _refuse_the_crisis_line(changes.get("phone"))
    with svc.db.transaction() as session:
        return staffing.update_staff(
            session,
            staff_id,
            changes,
            actor=actor(),
            now=svc.clock.now(),
            line_number=svc.settings.crisis_line_number,
        )


def _refuse_the_crisis_line(phone: str | None) -> None:
    # Every notification to such a "worker" would be the line texting or calling itself.
    refuse_the_line([phone], services().settings.crisis_line_number, "phone")


@blueprint.route("/<id:staff_id>/test-message", methods=["POST"])
@blueprint.response(202, DeliverySchema)
@requires(Permission.STAFF_WRITE)
def send_test_message(staff_id: int) -> Delivery:
    """Queue a short test SMS to a staff phone; follow it at /api/v1/deliveries/{id}."""
    svc = services()
    with svc.db.transaction() as session:
        return staff_service.send_test_message(
            session,
            staff_id,
            from_=svc.settings.crisis_line_number,
            actor=actor(),
            now=svc.clock.now(),
        )


@blueprint.route("/<id:staff_id>/deactivate", methods=["POST"])
@blueprint.response(200, StaffSchema)
@requires(Permission.STAFF_WRITE)
def deactivate_staff(staff_id: int) -> Staff:
    """Mark a member of staff inactive (records are kept, never deleted)."""
    svc = services()
    with svc.db.transaction() as session:
        return staffing.deactivate_staff(session, staff_id, actor=actor(), now=svc.clock.now())
