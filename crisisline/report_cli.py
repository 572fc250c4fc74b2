"""`crisisline report`: the service report for a period, as text or CSV.

`crisisline report --from 2026-11-01 --to 2026-11-30` prints every figure of November (local
days, both included, as the console and the API read them), aligned, each against its target;
`--breakdown day_night` adds the same figures for each group; `--csv` prints the CSV the API
and the console give. Without dates, the seven whole days before today. Figures name no
participant, so printing them is not logged in the record access log.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

import click
from flask.cli import with_appcontext

from crisisline import service_report
from crisisline.reports import BREAKDOWNS, MEASURES, Breakdown, Figure, Period, Report, Targets
from crisisline.services import services

DEFAULT_DAYS: Final = 7
MAX_DAYS: Final = 366
FIRST_DATE: Final = dt.date(2000, 1, 1)
LAST_DATE: Final = dt.date(2999, 12, 31)


def _date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date: write it as 2026-11-01", param_hint=option
        ) from None
    if not FIRST_DATE <= day <= LAST_DATE:
        raise click.BadParameter(
            f"{value} is outside {FIRST_DATE} to {LAST_DATE}", param_hint=option
        )
    return day


def days_asked(
    first: dt.date | None, last: dt.date | None, today: dt.date
) -> tuple[dt.date, dt.date]:
    """Both days given; one and the seven days from or to it; or the seven days before today.
    A backwards period or one past MAX_DAYS is a click error naming --to."""
    span = dt.timedelta(days=DEFAULT_DAYS - 1)
    if first is None and last is None:
        last = today - dt.timedelta(days=1)
    if first is None:
        assert last is not None
        first = max(last - span, FIRST_DATE)
    if last is None:
        last = min(first + span, LAST_DATE)
    if last < first:
        raise click.BadParameter(f"{last} is before --from ({first})", param_hint="--to")
    if (last - first).days + 1 > MAX_DAYS:
        raise click.BadParameter(f"a report covers at most {MAX_DAYS} days", param_hint="--to")
    return first, last


@click.command("report")
@click.option("--from", "from_", default=None, help="First local day (2026-11-01).")
@click.option("--to", "to", default=None, help="Last local day, included (2026-11-30).")
@click.option(
    "--breakdown",
    type=click.Choice(BREAKDOWNS),
    default=None,
    help="The same figures for each group (staff: for supervision, not to be shared).",
)
@click.option("--csv", "as_csv", is_flag=True, help="CSV instead of text.")
@with_appcontext
def report_command(from_: str | None, to: str | None, breakdown: str | None, as_csv: bool) -> None:
    """Print the service report for a period (default: the seven days before today)."""
    svc = services()
    zone = svc.settings.zone
    today = svc.clock.now().astimezone(zone).date()
    first, last = days_asked(_date(from_, "--from"), _date(to, "--to"), today)
    period = Period.local_days(first, last, zone)
    targets = service_report.targets_from(svc.settings)
    chosen: Breakdown | None = next((b for b in BREAKDOWNS if b == breakdown), None)
    with svc.db.transaction() as session:
        report = service_report.build(
            session,
            period,
            night=svc.risk_rules.night,
            targets=targets,
            breakdown=chosen,
            handover_time=svc.settings.handover_time,
        )
    if as_csv:
        click.echo(service_report.figures_csv(report, targets), nl=False)
        return
    click.echo(text(report, targets, first, last), nl=False)


# ---- the text --------------------------------------------------------------------------------


def shown(figure: Figure) -> str:
    """A figure's value as a person reads it: 93.1%, 42 s, 3.5 h, 17, or "none"."""
    value = figure.value
    if value is None:
        return "none"
    measure = MEASURES.get(figure.key)
    unit = measure.unit if measure else "count"
    if unit == "share":
        return f"{value * 100:.1f}%"
    if unit == "seconds":
        return f"{value:.0f} s"
    if unit == "hours":
        return f"{value:.1f} h"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def _target(figure: Figure, targets: Targets) -> str:
    measure = MEASURES.get(figure.key)
    if measure is None or measure.target is None:
        return ""
    target = float(getattr(targets, measure.target))
    sign = "at least" if measure.better == "higher" else "at most"
    goal = f"{target * 100:g}%" if measure.unit == "share" else f"{target:g}"
    if figure.value is None or measure.better is None:
        return f"target {sign} {goal}"
    met = figure.value >= target if measure.better == "higher" else figure.value <= target
    return f"target {sign} {goal}: {'met' if met else 'NOT MET'}"


def _lines(figures: list[Figure], targets: Targets, indent: str) -> list[str]:
    rows = []
    for figure in figures:
        measure = MEASURES.get(figure.key)
        label = measure.label if measure else figure.key
        share = ""
        if figure.numerator is not None and figure.denominator is not None:
            share = f"({figure.numerator} of {figure.denominator})"
        rows.append((label, shown(figure), share, _target(figure, targets)))
    if not rows:
        return [f"{indent}No figures."]
    width = [max(len(row[i]) for row in rows) for i in range(3)]
    return [
        f"{indent}{label:<{width[0]}}  {value:>{width[1]}}  {share:<{width[2]}}  {goal}".rstrip()
        for label, value, share, goal in rows
    ]


def text(report: Report, targets: Targets, first: dt.date, last: dt.date) -> str:
    """The report as aligned plain text, its figures under their headings."""
    zone = report.period.zone.key
    out = [f"Service report, {first:%a %-d %b %Y} to {last:%a %-d %b %Y} ({zone})"]
    out += _by_heading(report.figures, targets, "")
    for group, figures in report.groups.items():
        out += ["", f"{report.breakdown}: {group}"]
        out += _by_heading(figures, targets, "  ")
    return "\n".join(out) + "\n"


def _by_heading(figures: list[Figure], targets: Targets, indent: str) -> list[str]:
    headings: dict[str, list[Figure]] = {}
    for figure in figures:
        measure = MEASURES.get(figure.key)
        headings.setdefault(measure.group if measure else "Other", []).append(figure)
    if not headings:
        return ["", f"{indent}No figures."]
    out: list[str] = []
    for heading, under in headings.items():
        out += ["", f"{indent}{heading}"]
        out += _lines(under, targets, indent + "  ")
    return out
