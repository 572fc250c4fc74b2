"""/api/v1/access-log: who read or changed which participant's record, when, from where, why.

Read only: the log has no route that changes or removes an entry. Reading it is itself logged
(one entry per participant on the page; `export` for CSV), since it tells whose records a
person has looked at.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Final

from flask import Response, request
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from crisisline import record_access
from crisisline.api import access
from crisisline.api.common import RecordId, protected_blueprint
from crisisline.api.rota_schemas import Instant
from crisisline.gate import requires
from crisisline.models import RecordAccess
from crisisline.permissions import Permission
from crisisline.record_access import Action, LogQuery
from crisisline.services import services

CSV_TYPE: Final = "text/csv"

blueprint = protected_blueprint(
    "access_log",
    __name__,
    "/api/v1/access-log",
    "The record access log (UK DPA 2018 s.62): every read and change of a participant's "
    "record. Read only; clinical lead and administrator.",
)


class AccessEntrySchema(Schema):
    """One read or change of a participant's record."""

    id = fields.Integer()
    at = fields.DateTime()
    actor = fields.String(metadata={"description": "staff:ID or integration:NAME (or cli)"})
    staff_id = fields.Integer(allow_none=True)
    token_id = fields.Integer(allow_none=True)
    action = fields.String(metadata={"description": "read, change, play, export or refused"})
    record_type = fields.String()
    record_id = fields.Integer(allow_none=True)
    participant_id = fields.Integer(allow_none=True)
    reason = fields.String(
        allow_none=True,
        metadata={"description": "The break-glass reason the reader gave, where one was needed."},
    )
    address = fields.String(allow_none=True)
    user_agent = fields.String(allow_none=True)
    web_session_id = fields.String(allow_none=True)


class AccessLogQuerySchema(Schema):
    """Filters: a participant (reference or id), an actor or staff member, [since, until),
    an action; `format=csv` (or `Accept: text/csv`) exports every matching entry."""

    participant = fields.String(
        validate=validate.Length(min=1, max=40),
        metadata={"description": "A participant's reference (any case)."},
    )
    participant_id = RecordId()
    actor = fields.String(validate=validate.Length(min=1, max=120))
    staff_id = RecordId()
    since = Instant()
    until = Instant()
    action = fields.Enum(Action, by_value=True)
    format = fields.String(validate=validate.OneOf(["json", "csv"]))

    @validates_schema
    def _window(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "since" in data and "until" in data and data["until"] <= data["since"]:
            raise ValidationError("must be after since", "until")


@blueprint.route("", methods=["GET"])
@blueprint.arguments(AccessLogQuerySchema, location="query")
@blueprint.response(200, AccessEntrySchema(many=True))
@blueprint.alt_response(
    200,
    description="The matching entries as CSV (every one, not a page), with `format=csv` or "
    "`Accept: text/csv`.",
    content_type=CSV_TYPE,
    schema={"type": "string"},
    success=True,
)
@blueprint.paginate()
@requires(Permission.AUDIT_READ)
def list_access_log(filters: dict[str, Any], pagination_parameters: Any) -> Any:
    """Entries, newest first; filter by `participant` (reference) or `participant_id`, `actor`,
    `staff_id`, `since`/`until` and `action`. CSV with `format=csv` or `Accept: text/csv`."""
    query = LogQuery(
        participant_id=filters.get("participant_id"),
        participant_reference=filters.get("participant"),
        actor=filters.get("actor"),
        staff_id=filters.get("staff_id"),
        since=filters.get("since"),
        until=filters.get("until"),
        action=filters.get("action"),
    )
    export = _wants_csv(filters)
    with services().db.transaction() as session:
        rows, total = record_access.find(
            session,
            query,
            offset=0 if export else pagination_parameters.first_item,
            limit=None if export else pagination_parameters.page_size,
        )
        access.log_read(session, rows, query, export=export)
        pagination_parameters.item_count = total
        if export:
            return _csv(rows)
        return rows


def _wants_csv(filters: dict[str, Any]) -> bool:
    if "format" in filters:
        return bool(filters["format"] == "csv")
    best = request.accept_mimetypes.best_match(["application/json", CSV_TYPE])
    return best == CSV_TYPE


def _csv(rows: list[RecordAccess]) -> Response:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(record_access.CSV_COLUMNS)
    writer.writerows(record_access.csv_row(entry) for entry in rows)
    return Response(
        text.getvalue(),
        mimetype=CSV_TYPE,
        headers={"Content-Disposition": 'attachment; filename="access-log.csv"'},
    )
