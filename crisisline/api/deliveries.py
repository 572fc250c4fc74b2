"""/api/v1/deliveries: every SMS and call in the outbox, with its status."""

from __future__ import annotations

from typing import Any

from crisisline import outbox, record_access
from crisisline.api import access
from crisisline.api.common import protected_blueprint
from crisisline.api.schemas import DeliveryQuerySchema, DeliverySchema
from crisisline.errors import NotFound
from crisisline.gate import requires
from crisisline.models import Delivery
from crisisline.permissions import Permission
from crisisline.services import services

blueprint = protected_blueprint(
    "deliveries", __name__, "/api/v1/deliveries", "The outbox: SMS and calls the service sends."
)


@blueprint.route("", methods=["GET"])
@blueprint.arguments(DeliveryQuerySchema, location="query")
@blueprint.response(200, DeliverySchema(many=True))
@blueprint.paginate()
@requires(Permission.DELIVERIES_READ)
def list_deliveries(filters: dict[str, Any], pagination_parameters: Any) -> list[Delivery]:
    """Deliveries, newest first; filter by `to` (any format), `purpose` and `status`."""
    with services().db.transaction() as session:
        rows, total = outbox.find(
            session,
            to=filters.get("to"),
            purpose=filters.get("purpose"),
            statuses=[filters["status"]] if "status" in filters else [],
            offset=pagination_parameters.first_item,
            limit=pagination_parameters.page_size,
        )
        # A relayed text or an escalation's message carries a participant's words.
        about = record_access.delivery_participants(session, rows)
        access.listed(
            session,
            Permission.DELIVERIES_READ,
            record_type="delivery",
            participant_ids=list(about.values()),
        )
    pagination_parameters.item_count = total
    return rows


@blueprint.route("/<id:delivery_id>", methods=["GET"])
@blueprint.response(200, DeliverySchema)
@requires(Permission.DELIVERIES_READ)
def get_delivery(delivery_id: int) -> Delivery:
    """One delivery."""
    with services().db.transaction() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None:
            raise NotFound(f"There is no delivery with id {delivery_id}.")
        access.opened(
            session,
            Permission.DELIVERIES_READ,
            record_type="delivery",
            record_id=delivery_id,
            participant_id=record_access.delivery_participants(session, [delivery])[delivery_id],
            not_found=f"There is no delivery with id {delivery_id}.",
        )
        return delivery
