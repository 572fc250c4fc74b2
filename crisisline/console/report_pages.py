"""The reports page: the service's measures over a period, against their targets, with charts,
breakdowns, the contacts behind each figure, and CSV downloads.

Each view reads the period (`crisisline.report_views.read_asked`: a preset, or local dates;
a day it cannot read is answered 422 with the message beside the field), calls one flow of
`crisisline.report_views` and renders. The measure modules are `service_report.MODULES` unless
the app's config names others (`REPORT_MODULES`: tests pass a module of their own in).
The drill-down and its CSV list participants by reference: each is logged as a list read of
those participants' records.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from flask import Response, abort, current_app, render_template, request
from flask.typing import ResponseReturnValue

from crisisline import report_views, service_report
from crisisline.console.common import blueprint, menu_item, person, visit
from crisisline.console.participant_pages import CHART_POLICY
from crisisline.errors import InvalidInput, NotFound
from crisisline.gate import requires
from crisisline.permissions import Permission
from crisisline.report_views import Asked, ReportPage, Week
from crisisline.reports import WEEKDAYS, MeasureDef, MeasureModule
from crisisline.services import services

menu_item("Reports", "console.reports", Permission.REPORTS_READ, order=50)


View = TypeVar("View", bound=Callable[..., Any])


def _chart_policy(view: View) -> View:
    """The chart's own content security policy (the participant chart's: pygal's SVG carries
    its own <style>), read by flask-talisman from `talisman_view_options`."""
    setattr(view, "talisman_view_options", {"content_security_policy": CHART_POLICY})  # noqa: B010
    return view


def _modules() -> Sequence[MeasureModule]:
    modules: Sequence[MeasureModule] = current_app.config.get(
        "REPORT_MODULES", service_report.MODULES
    )
    return modules


def _asked() -> tuple[Asked | None, dict[str, str], int]:
    """The period and breakdown asked, or the messages by field and the status to answer."""
    svc = services()
    today = svc.clock.now().astimezone(svc.settings.zone).date()
    asked, errors = report_views.read_asked(request.args, today)
    if asked is not None:
        try:
            report_views.check_breakdown(person(), asked)
        except InvalidInput as error:
            return None, {error.field or "breakdown": error.message}, 403
    return asked, errors, 422 if errors else 200


def _options() -> report_views.Options:
    svc = services()
    return report_views.Options(
        zone=svc.settings.zone,
        night=svc.risk_rules.night,
        targets=service_report.targets_from(svc.settings),
        handover_time=svc.settings.handover_time,
        modules=_modules(),
    )


@blueprint.get("/reports")
@requires(Permission.REPORTS_READ)
def reports() -> ResponseReturnValue:
    """The period's figures against their targets, by group, by the breakdown asked, with
    charts of the weeks and of the hours."""
    asked, errors, status = _asked()
    shown: ReportPage | None = None
    if asked is not None:
        svc = services()
        with svc.db.transaction() as session:
            shown = report_views.report_page(session, asked, _options())
    page = render_template(
        "report_page.html",
        shown=shown,
        typed={name: request.args.get(name, "") for name in ("from", "to", "breakdown")},
        errors=errors,
        presets=report_views.PRESETS,
        breakdowns=_breakdowns(),
        charts=report_views.CHARTS,
        weekdays=WEEKDAYS,
        hours=report_views.HOURS,
    )
    return page, status


def _breakdowns() -> dict[str, str]:
    """The breakdowns this person may choose."""
    offered: dict[str, str] = dict(report_views.BREAKDOWN_NAMES.items())
    if not report_views.may_break_down_by_staff(person()):
        offered.pop("staff")
    return offered


@blueprint.get("/reports/contacts")
@requires(Permission.REPORTS_READ)
def report_contacts() -> ResponseReturnValue:
    """The contacts one figure counts (never their words or numbers), logged as a read of
    each participant listed."""
    measure = _measure()
    asked, errors, status = _asked()
    drill = None
    if asked is not None:
        svc = services()
        with svc.db.transaction() as session:
            try:
                drill = report_views.drill_down(
                    session,
                    asked,
                    measure,
                    request.args.get("group", "").strip() or None,
                    _options(),
                    limit=report_views.PAGE_ROWS,
                )
            except InvalidInput as error:
                errors, status = {error.field or "group": error.message}, 422
            else:
                report_views.log_read(session, visit(), drill)
    page = render_template(
        "report_contacts.html",
        drill=drill,
        measure=measure,
        errors=errors,
        group=request.args.get("group", ""),
    )
    return page, status


def _measure() -> MeasureDef:
    try:
        return report_views.measure_asked(request.args.get("measure", ""))
    except NotFound:
        abort(404)


@blueprint.get("/reports.csv")
@requires(Permission.REPORTS_READ)
def report_csv() -> ResponseReturnValue:
    """Every figure over the period (and each group of the breakdown asked) as CSV."""
    asked, errors, status = _asked()
    if asked is None:
        return _refused(errors, status)
    svc = services()
    with svc.db.transaction() as session:
        found = report_views.report(session, asked, _options())
    body = service_report.figures_csv(found, service_report.targets_from(svc.settings))
    name = f"service-report-{asked.first}-to-{asked.last}"
    if asked.breakdown:
        name += f"-by-{asked.breakdown.replace('_', '-')}"
    return _csv(body, name)


@blueprint.get("/reports/contacts.csv")
@requires(Permission.REPORTS_READ)
def report_contacts_csv() -> ResponseReturnValue:
    """The contacts one figure counts as CSV, logged as the page is."""
    measure = _measure()
    asked, errors, status = _asked()
    if asked is None:
        return _refused(errors, status)
    group = request.args.get("group", "").strip() or None
    svc = services()
    with svc.db.transaction() as session:
        try:
            drill = report_views.drill_down(
                session,
                asked,
                measure,
                group,
                _options(),
            )
        except InvalidInput as error:
            return _refused({error.field or "group": error.message}, 422)
        report_views.log_read(session, visit(), drill)
    key = measure.key.replace(".", "-").replace("_", "-")
    name = f"report-contacts-{key}-{asked.first}-to-{asked.last}"
    return _csv(service_report.contacts_csv(drill.rows), name)


def _csv(body: str, name: str) -> Response:
    response = Response(body, mimetype="text/csv")
    # Only letters, digits and dashes reach the header: the measure's key and ISO dates.
    safe = "".join(c for c in name if c.isalnum() or c == "-")
    response.headers["Content-Disposition"] = f'attachment; filename="{safe}.csv"'
    return response


def _refused(errors: dict[str, str], status: int) -> Response:
    lines = [f"{field}: {message}" for field, message in errors.items()]
    return Response("\n".join(lines) + "\n", status=status, mimetype="text/plain")


@blueprint.get("/reports/charts/<name>.svg")
@_chart_policy
@requires(Permission.REPORTS_READ)
def report_chart(name: str) -> ResponseReturnValue:
    """One of the page's charts over the period, as SVG."""
    if name not in report_views.CHARTS:
        abort(404)
    asked, errors, status = _asked()
    if asked is None:
        return _refused(errors, status)
    svc = services()
    with svc.db.transaction() as session:
        svg = report_views.chart(session, name, Asked(asked.first, asked.last), _options())
    return Response(svg, mimetype="image/svg+xml")


# ---------------------------------------------------------------------------------------------
# Words and numbers on these pages


@blueprint.app_template_filter("report_week")
def week_label(week: Week) -> str:
    """A week as a chart's label: "30 Nov" (its first day in the period)."""
    return report_views.week_label(week)


@blueprint.app_template_filter("report_day")
def report_day(day: dt.date) -> str:
    """A day as people read it: "Sun 29 Nov 2026"."""
    return f"{day:%a} {day.day} {day:%b %Y}"


@blueprint.app_template_filter("report_value")
def report_value(value: float | None, unit: str) -> str:
    """A figure's value in its unit: "12", "92.3%", "1 min 05 s", "3.5 h"; "none" when
    there was nothing to measure (never 0)."""
    if value is None:
        return "none"
    if unit == "share":
        return f"{value * 100:.1f}%"
    if unit == "seconds":
        return duration(value)
    if unit == "hours":
        return f"{value:.1f} h"
    return f"{value:g}" if value != int(value) else str(int(value))


@blueprint.app_template_filter("report_target")
def report_target(measure: MeasureDef, target: float) -> str:
    """A target in words: "at least 95%", "at most 5%"."""
    words = "at most" if measure.better == "lower" else "at least"
    return f"{words} {report_value(target, measure.unit)}"


def duration(seconds: float) -> str:
    """A time in words: "45 s", "2 min 05 s", "3 h 20 min"."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min {rest:02d} s"
    hours, rest = divmod(whole, 3600)
    return f"{hours} h {rest // 60:02d} min"
