"""/api/v1/reports: the service's measures over a period, and the contacts behind a figure.

A period is read as local days in the service's TIMEZONE, `from` and `to` both included
(2026-11-01 to 2026-11-30 is November, whatever the clocks did in it), as `crisisline report`
reads it, so that the two give the same figures. Without either,
the seven whole local days before today; with one, the seven days from or to it. At most 366
days; a period backwards or longer is a 422 naming `to`.

The per-staff breakdown is for supervision: only a person holding the duty manager's or the
clinical lead's role may ask for it (with a personal token); an integration, or anyone else,
gets a 403 that says why. Figures name no participant, so reading them is not logged; the
contacts behind a figure name theirs, so reading them is logged as a list read of those
participants (`export` for the CSV).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from flask import Response
from flask_smorest import abort
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from crisisline import service_report
from crisisline.api import access
from crisisline.api.common import protected_blueprint
from crisisline.gate import current_actor, requires
from crisisline.models import StaffRole
from crisisline.permissions import Permission
from crisisline.record_access import Action
from crisisline.reports import (
    BREAKDOWNS,
    MEASURES,
    WEEKDAYS,
    Breakdown,
    Figure,
    Period,
    Report,
    Targets,
)
from crisisline.services import services

CSV_TYPE: Final = "text/csv"
DEFAULT_DAYS: Final = 7
MAX_DAYS: Final = 366
# Dates outside these years are a mistake, and near year 1 or 9999 they overflow in the zone.
FIRST_DATE: Final = dt.date(2000, 1, 1)
LAST_DATE: Final = dt.date(2999, 12, 31)
# Who may see the per-staff breakdown (supervision): the roles, not a permission, decide.
SUPERVISORS: Final = frozenset({StaffRole.DUTY_MANAGER, StaffRole.CLINICAL_LEAD})
STAFF_REFUSED: Final = (
    "The per-staff breakdown is for supervision: only a duty manager or the clinical lead "
    "may ask for it, with their own personal token. {who} Ask for another breakdown "
    "(day_night, weekday, hour, weekday_hour, rota) or none."
)

blueprint = protected_blueprint(
    "reports",
    __name__,
    "/api/v1",
    "Reports: how well the line answers, each figure with the contacts behind it.",
)

_DATE = validate.Range(min=FIRST_DATE, max=LAST_DATE, error="must be a date from {min} to {max}")


class ReportQuerySchema(Schema):
    """The period (local days, both included) and an optional breakdown."""

    from_ = fields.Date(
        data_key="from",
        validate=_DATE,
        metadata={"description": "First local day (2026-11-01). Default: `to` less 6 days."},
    )
    to = fields.Date(
        validate=_DATE,
        metadata={
            "description": "Last local day, included (2026-11-30). Default: `from` plus 6 days, "
            "or yesterday when neither is given."
        },
    )
    breakdown = fields.String(
        validate=validate.OneOf(BREAKDOWNS),
        metadata={
            "description": "The same figures over each group: day_night (the night of the risk "
            "rules), weekday, hour, weekday_hour, rota, or staff (duty managers and the "
            "clinical lead only)."
        },
    )

    @validates_schema
    def _period(self, data: dict[str, Any], **kwargs: Any) -> None:
        first, last = data.get("from_"), data.get("to")
        if first is not None and last is not None:
            if last < first:
                raise ValidationError("must be on or after from", "to")
            if (last - first).days + 1 > MAX_DAYS:
                raise ValidationError(f"a report covers at most {MAX_DAYS} days", "to")


class ContactsQuerySchema(ReportQuerySchema):
    """A figure (its measure, and a group of the breakdown) over the period."""

    measure = fields.String(
        required=True,
        validate=validate.Length(min=1, max=80),
        metadata={"description": "The measure's key, as the report gives it: calls.abandoned."},
    )
    group = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={
            "description": "A group of `breakdown` (night, Tue, 03, Tue 03, a rota's name, a "
            "staff member's name): the contacts the figure counts in that group alone."
        },
    )

    @validates_schema
    def _figure(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "measure" in data and data["measure"] not in MEASURES:
            known = ", ".join(sorted(MEASURES)) or "none yet"
            raise ValidationError(f"is not a measure; the measures are: {known}", "measure")
        if "group" in data:
            if "breakdown" not in data:
                raise ValidationError("needs a breakdown to be a group of", "group")
            allowed = _fixed_groups(data["breakdown"])
            if allowed is not None and data["group"] not in allowed:
                raise ValidationError(
                    f"is not a group of the {data['breakdown']} breakdown", "group"
                )


def _fixed_groups(breakdown: str) -> set[str] | None:
    """The only group labels a breakdown by local time can have (None: any name)."""
    hours = [f"{hour:02d}" for hour in range(24)]
    if breakdown == "day_night":
        return {"day", "night"}
    if breakdown == "weekday":
        return set(WEEKDAYS)
    if breakdown == "hour":
        return set(hours)
    if breakdown == "weekday_hour":
        return {f"{day} {hour}" for day in WEEKDAYS for hour in hours}
    return None


class PeriodSchema(Schema):
    """The period the figures are over."""

    from_ = fields.Date(data_key="from", metadata={"description": "First local day."})
    to = fields.Date(metadata={"description": "Last local day, included."})
    days = fields.Integer()
    start = fields.DateTime(metadata={"description": "The start of `from`, as an instant."})
    end = fields.DateTime(metadata={"description": "The end of `to` (excluded), as an instant."})
    zone = fields.String()


class PartSchema(Schema):
    """A part of a figure (alerts by rule and severity, gap hours by rota)."""

    label = fields.String()
    value = fields.Float()


class FigureSchema(Schema):
    """One measure's value over the period (or over one group of the breakdown)."""

    key = fields.String()
    label = fields.String()
    unit = fields.String(metadata={"description": "count, share (0 to 1), seconds or hours"})
    group = fields.String(metadata={"description": "The heading it is shown under."})
    value = fields.Float(
        allow_none=True, metadata={"description": "null: nothing to measure (never 0)."}
    )
    numerator = fields.Integer(allow_none=True)
    denominator = fields.Integer(allow_none=True)
    target = fields.Float(allow_none=True, metadata={"description": "Share or seconds."})
    better = fields.String(allow_none=True, metadata={"description": "higher or lower"})
    met = fields.Boolean(
        allow_none=True,
        metadata={
            "description": "Whether the value meets its target; null: no target, or "
            "nothing to measure."
        },
    )
    contacts = fields.Integer(metadata={"description": "How many contacts it counts."})
    parts = fields.List(fields.Nested(PartSchema))


class GroupSchema(Schema):
    """The figures over one group of the breakdown."""

    group = fields.String()
    figures = fields.List(fields.Nested(FigureSchema))


class ReportSchema(Schema):
    """Every figure over the period, and over each group of the breakdown when asked."""

    period = fields.Nested(PeriodSchema)
    breakdown = fields.String(allow_none=True)
    figures = fields.List(fields.Nested(FigureSchema))
    groups = fields.List(fields.Nested(GroupSchema))
    contacts = fields.String(
        metadata={"description": "The drill-down: add measure=KEY (and group=) to this URL."}
    )


class ContactRowSchema(Schema):
    """A contact a figure counts: never its words or a phone number."""

    contact_id = fields.Integer()
    started_at = fields.DateTime()
    channel = fields.String()
    direction = fields.String()
    outcome = fields.String(allow_none=True)
    wait_seconds = fields.Integer(allow_none=True)
    duration_seconds = fields.Integer(allow_none=True)
    participant = fields.String(
        attribute="reference",
        allow_none=True,
        metadata={"description": "The participant's reference; null: an unknown caller."},
    )
    handled_by = fields.String(allow_none=True)
    contact = fields.Method("_link", metadata={"description": "The contact, in the API."})

    def _link(self, row: service_report.ContactRow) -> str:
        return f"/api/v1/contacts/{row.contact_id}"


_CSV_RESPONSE: Final[dict[str, Any]] = {"type": "string"}


@blueprint.route("/reports", methods=["GET"])
@blueprint.arguments(ReportQuerySchema, location="query")
@blueprint.response(200, ReportSchema)
@requires(Permission.REPORTS_READ)
def get_report(query: dict[str, Any]) -> dict[str, Any]:
    """Every measure over the period (default: the seven days before today), against its
    target, and over each group of `breakdown` when asked."""
    period = _period(query)
    report, targets = _report(period, query.get("breakdown"))
    return _json(report, targets, query)


@blueprint.route("/reports.csv", methods=["GET"])
@blueprint.arguments(ReportQuerySchema, location="query")
@blueprint.response(
    200,
    _CSV_RESPONSE,
    content_type=CSV_TYPE,
    description="One row per figure (and per group of the breakdown): period_start, "
    "period_end, group, measure, label, unit, value, numerator, denominator, target, contacts.",
)
@requires(Permission.REPORTS_READ)
def get_report_csv(query: dict[str, Any]) -> Response:
    """The report as CSV: the same figures as GET /api/v1/reports."""
    period = _period(query)
    report, targets = _report(period, query.get("breakdown"))
    name = f"report-{query_days(period)}.csv"
    return _csv(service_report.figures_csv(report, targets), name)


@blueprint.route("/reports/contacts", methods=["GET"])
@blueprint.arguments(ContactsQuerySchema, location="query")
@blueprint.response(200, ContactRowSchema(many=True))
@blueprint.paginate()
@requires(Permission.REPORTS_READ)
def get_report_contacts(
    query: dict[str, Any], pagination_parameters: Any
) -> list[service_report.ContactRow]:
    """The contacts a figure counts (`measure`, and `group` of `breakdown`), in the order they
    were recorded; participants by reference. Logged as a read of each participant listed."""
    ids = _drill_down(query)
    first = pagination_parameters.first_item
    page = ids[first : first + pagination_parameters.page_size]
    svc = services()
    with svc.db.transaction() as session:
        rows = sorted(service_report.contact_rows(session, page), key=lambda r: r.contact_id)
        access.listed(
            session,
            Permission.REPORTS_READ,
            record_type="contacts",
            participant_ids=service_report.participants_of(session, page),
        )
    pagination_parameters.item_count = len(ids)
    return rows


@blueprint.route("/reports/contacts.csv", methods=["GET"])
@blueprint.arguments(ContactsQuerySchema, location="query")
@blueprint.response(
    200,
    _CSV_RESPONSE,
    content_type=CSV_TYPE,
    description="Every contact the figure counts (not a page): contact_id, started_at, "
    "channel, direction, outcome, wait_seconds, duration_seconds, participant, handled_by.",
)
@requires(Permission.REPORTS_READ)
def get_report_contacts_csv(query: dict[str, Any]) -> Response:
    """The contacts a figure counts, every one, as CSV. Logged as an export of each
    participant in it."""
    ids = _drill_down(query)
    svc = services()
    with svc.db.transaction() as session:
        rows = service_report.contact_rows(session, ids)
        access.listed(
            session,
            Permission.REPORTS_READ,
            record_type="contacts",
            participant_ids=service_report.participants_of(session, ids),
            action=Action.EXPORT,
        )
    return _csv(service_report.contacts_csv(rows), f"{query['measure']}.csv")


# ---- what the views share --------------------------------------------------------------------


def period_days(
    first: dt.date | None, last: dt.date | None, today: dt.date
) -> tuple[dt.date, dt.date]:
    """The local days asked for: both given, one and the seven days from or to it, or the
    seven days before `today`."""
    span = dt.timedelta(days=DEFAULT_DAYS - 1)
    if first is None and last is None:
        last = today - dt.timedelta(days=1)
    if first is None:
        assert last is not None
        first = max(last - span, FIRST_DATE)
    if last is None:
        last = min(first + span, LAST_DATE)
    return first, last


def query_days(period: Period) -> str:
    """The period's local days as a file name's part: 2026-11-01_2026-11-30."""
    first = period.start.astimezone(period.zone).date()
    last = (period.end.astimezone(period.zone) - dt.timedelta(seconds=1)).date()
    return f"{first}_{last}"


def _period(query: dict[str, Any]) -> Period:
    svc = services()
    zone = svc.settings.zone
    today = svc.clock.now().astimezone(zone).date()
    first, last = period_days(query.get("from_"), query.get("to"), today)
    return Period.local_days(first, last, zone)


def _report(period: Period, breakdown: str | None) -> tuple[Report, Targets]:
    if breakdown == "staff":
        _may_see_staff()
    svc = services()
    targets = service_report.targets_from(svc.settings)
    chosen: Breakdown | None = _breakdown(breakdown)
    with svc.db.transaction() as session:
        report = service_report.build(
            session,
            period,
            night=svc.risk_rules.night,
            targets=targets,
            breakdown=chosen,
            handover_time=svc.settings.handover_time,
        )
    return report, targets


def _breakdown(name: str | None) -> Breakdown | None:
    for known in BREAKDOWNS:
        if known == name:
            return known
    return None


def _may_see_staff() -> None:
    actor = current_actor()
    if actor is not None and actor.kind == "person" and actor.roles & SUPERVISORS:
        return
    if actor is not None and actor.kind == "integration":
        who = "This is an integration's token."
    else:
        who = "Your roles do not include either."
    abort(403, message=STAFF_REFUSED.format(who=who))


def _drill_down(query: dict[str, Any]) -> list[int]:
    """The contacts the asked figure counts, ascending (none: the figure has none)."""
    period = _period(query)
    report, _ = _report(period, query.get("breakdown"))
    figures = report.figures
    if "group" in query:
        figures = report.groups.get(query["group"], [])
    for figure in figures:
        if figure.key == query["measure"]:
            return sorted(figure.contact_ids)
    return []


def _met(figure: Figure, targets: Targets) -> tuple[float | None, str | None, bool | None]:
    measure = MEASURES.get(figure.key)
    if measure is None or measure.target is None:
        return None, measure.better if measure else None, None
    target = float(getattr(targets, measure.target))
    if figure.value is None or measure.better is None:
        return target, measure.better, None
    met = figure.value >= target if measure.better == "higher" else figure.value <= target
    return target, measure.better, met


def _figure(figure: Figure, targets: Targets) -> dict[str, Any]:
    measure = MEASURES.get(figure.key)
    target, better, met = _met(figure, targets)
    return {
        "key": figure.key,
        "label": measure.label if measure else figure.key,
        "unit": measure.unit if measure else "count",
        "group": measure.group if measure else "",
        "value": figure.value,
        "numerator": figure.numerator,
        "denominator": figure.denominator,
        "target": target,
        "better": better,
        "met": met,
        "contacts": len(figure.contact_ids),
        "parts": [{"label": label, "value": value} for label, value in figure.parts],
    }


def _json(report: Report, targets: Targets, query: dict[str, Any]) -> dict[str, Any]:
    period = report.period
    first, last = query_days(period).split("_")
    return {
        "period": {
            "from_": dt.date.fromisoformat(first),
            "to": dt.date.fromisoformat(last),
            "days": (dt.date.fromisoformat(last) - dt.date.fromisoformat(first)).days + 1,
            "start": period.start,
            "end": period.end,
            "zone": period.zone.key,
        },
        "breakdown": report.breakdown,
        "figures": [_figure(figure, targets) for figure in report.figures],
        "groups": [
            {"group": label, "figures": [_figure(figure, targets) for figure in figures]}
            for label, figures in report.groups.items()
        ],
        "contacts": f"/api/v1/reports/contacts?from={first}&to={last}",
    }


def _csv(text: str, name: str) -> Response:
    return Response(
        text,
        mimetype=CSV_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
