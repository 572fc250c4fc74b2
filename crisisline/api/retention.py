"""/api/v1/retention: the retention runs and what each removed, for the data protection
officer's tools (retention:read).

`GET /api/v1/retention/runs` lists the runs, newest first; `GET /api/v1/retention/runs/{id}`
gives one with its counts by rule, record type and action; `.../runs/{id}/actions` lists what
it removed or anonymised, a page at a time (`rule` filters to one rule). They give record and
participant ids, never a record's words or numbers.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from crisisline import retention
from crisisline.api.common import protected_blueprint
from crisisline.data_protection_models import RetentionRun
from crisisline.errors import NotFound
from crisisline.gate import requires
from crisisline.permissions import Permission
from crisisline.retention_schedule import Kind
from crisisline.services import services

blueprint = protected_blueprint(
    "retention",
    __name__,
    "/api/v1/retention",
    "The retention runs: what each removed or anonymised, and under which rule.",
)

RULES = [kind.value for kind in Kind]


class RetentionRunSchema(Schema):
    """One run of the retention schedule."""

    id = fields.Integer()
    scheduled_for = fields.Date(
        allow_none=True,
        metadata={"description": "The local day of a daily run; null for one run by hand."},
    )
    started_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    actor = fields.String(metadata={"description": "scheduler or cli"})
    status = fields.String(metadata={"description": "running, finished or failed"})
    error = fields.String(allow_none=True, metadata={"description": "The error's type only."})
    counts = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "Records changed, by rule."},
    )
    held = fields.Integer(
        metadata={"description": "Participants under a legal hold left untouched."}
    )
    schedule = fields.Dict(metadata={"description": "The schedule as this run read it."})
    actions = fields.String(metadata={"description": "Link to what it removed."})


class RetentionCountSchema(Schema):
    """How many records one rule changed one way."""

    rule = fields.String()
    record_type = fields.String()
    action = fields.String(metadata={"description": "anonymised, removed or deletion_requested"})
    count = fields.Integer()


class RetentionRunDetailSchema(RetentionRunSchema):
    """One run, with its counts by rule, record type and action."""

    by_rule = fields.List(fields.Nested(RetentionCountSchema))


class RetentionActionSchema(Schema):
    """One record a run removed or anonymised."""

    id = fields.Integer()
    rule = fields.String()
    action = fields.String()
    record_type = fields.String()
    record_id = fields.Integer(
        allow_none=True, metadata={"description": "null for a sign-in session (its key is secret)."}
    )
    participant_id = fields.Integer(allow_none=True)
    at = fields.DateTime()


class ActionQuerySchema(Schema):
    """Which of the run's actions."""

    rule = fields.String(validate=validate.OneOf(RULES))


def _run(row: RetentionRun) -> dict[str, Any]:
    return {
        "id": row.id,
        "scheduled_for": row.scheduled_for,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "actor": row.actor,
        "status": row.status,
        "error": row.error,
        "counts": row.counts,
        "held": row.held,
        "schedule": row.schedule,
        "actions": f"/api/v1/retention/runs/{row.id}/actions",
    }


@blueprint.route("/runs", methods=["GET"])
@blueprint.response(200, RetentionRunSchema(many=True))
@blueprint.paginate()
@requires(Permission.RETENTION_READ)
def list_runs(pagination_parameters: Any) -> list[dict[str, Any]]:
    """The retention runs, newest first."""
    with services().db.transaction() as session:
        pagination_parameters.item_count = retention.count_runs(session)
        rows = retention.recent_runs(
            session, pagination_parameters.page_size, pagination_parameters.first_item
        )
        return [_run(row) for row in rows]


def _get(run_id: int) -> RetentionRun:
    with services().db.transaction() as session:
        row = retention.get_run(session, run_id)
    if row is None:
        raise NotFound(f"There is no retention run with id {run_id}.")
    return row


@blueprint.route("/runs/<id:run_id>", methods=["GET"])
@blueprint.response(200, RetentionRunDetailSchema)
@requires(Permission.RETENTION_READ)
def get_run(run_id: int) -> dict[str, Any]:
    """One run, with how many records each rule changed, by record type and action."""
    row = _get(run_id)
    with services().db.transaction() as session:
        counts = retention.action_counts(session, run_id)
    return _run(row) | {
        "by_rule": [
            {"rule": rule, "record_type": record_type, "action": action, "count": n}
            for (rule, record_type, action), n in sorted(counts.items())
        ]
    }


@blueprint.route("/runs/<id:run_id>/actions", methods=["GET"])
@blueprint.arguments(ActionQuerySchema, location="query")
@blueprint.response(200, RetentionActionSchema(many=True))
@blueprint.paginate()
@requires(Permission.RETENTION_READ)
def list_actions(query: dict[str, Any], run_id: int, pagination_parameters: Any) -> list[Any]:
    """What one run removed or anonymised, in the order it did it; `rule` for one rule."""
    _get(run_id)
    rule = query.get("rule")
    with services().db.transaction() as session:
        pagination_parameters.item_count = retention.count_actions(session, run_id, rule=rule)
        return list(
            retention.actions_of(
                session,
                run_id,
                rule=rule,
                limit=pagination_parameters.page_size,
                offset=pagination_parameters.first_item,
            )
        )
