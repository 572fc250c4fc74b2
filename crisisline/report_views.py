"""The reports page's reading of the service report: the period people asked for, every figure
under its measure's group and against its target, the same figures week by week and by weekday
and hour (for the charts), and the contacts behind one figure (the drill-down), logged.

Each measure module's facts are read once per request and grouped here in as many ways as the
page needs: the figures of a week or of an hour are the module's own `figures` over that
week's or hour's facts, so a chart can never disagree with the table beside it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from crisisline import charts, record_access, service_report
from crisisline.errors import InvalidInput, NotFound
from crisisline.models import Contact, StaffRole
from crisisline.permissions import Actor, Permission
from crisisline.record_access import Visit
from crisisline.reports import (
    BREAKDOWNS,
    MEASURES,
    WEEKDAYS,
    Breakdown,
    Context,
    Fact,
    Figure,
    MeasureDef,
    MeasureModule,
    Period,
    Report,
    Targets,
    grouped,
)
from crisisline.risk_rules import NightHours
from crisisline.service_report import ContactRow

# ---- the period and breakdown asked for ---------------------------------------------------

PRESETS: Final = {
    "yesterday": "Yesterday",
    "last_7_days": "Last 7 days",
    "this_month": "This month",
    "last_month": "Last month",
}
DEFAULT_PRESET: Final = "last_7_days"
BREAKDOWN_NAMES: Final[dict[Breakdown, str]] = {
    "day_night": "Day and night",
    "weekday": "Weekday",
    "hour": "Hour of the day",
    "weekday_hour": "Weekday and hour",
    "rota": "Rota",
    "staff": "Staff member",
}
# A year and a leap day: the longest period a person waits for on the page.
MAX_DAYS: Final = 366
EARLIEST: Final = dt.date(2000, 1, 1)
LATEST: Final = dt.date(2199, 12, 31)
# Supervision only: who handled what is for those who manage the people who handle it.
STAFF_BREAKDOWN_ROLES: Final = frozenset({StaffRole.DUTY_MANAGER, StaffRole.CLINICAL_LEAD})
STAFF_BREAKDOWN_REFUSED: Final = (
    "The breakdown by staff member is for duty managers and the clinical lead only."
)


@dataclass(frozen=True)
class Asked:
    """A report's local days [first, last] and the breakdown asked for (None: none)."""

    first: dt.date
    last: dt.date
    preset: str | None = None
    breakdown: Breakdown | None = None

    def period(self, zone: ZoneInfo) -> Period:
        """The days as a period of real time in the service's zone."""
        return Period.local_days(self.first, self.last, zone)

    @property
    def query(self) -> dict[str, str]:
        """The days (and breakdown) as a link's query holds them."""
        found = {"from": self.first.isoformat(), "to": self.last.isoformat()}
        if self.breakdown is not None:
            found["breakdown"] = self.breakdown
        return found


def preset_days(preset: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """The local days a preset covers, seen from `today` (KeyError for an unknown one)."""
    if preset == "yesterday":
        day = today - dt.timedelta(days=1)
        return day, day
    if preset == "last_7_days":
        # Whole days, as the API and `crisisline report` default to: today is not over yet.
        return today - dt.timedelta(days=7), today - dt.timedelta(days=1)
    if preset == "this_month":
        return today.replace(day=1), today
    if preset == "last_month":
        last = today.replace(day=1) - dt.timedelta(days=1)
        return last.replace(day=1), last
    raise KeyError(preset)


def read_asked(args: Mapping[str, str], today: dt.date) -> tuple[Asked | None, dict[str, str]]:
    """The period and breakdown a request asks for (`preset`, or `from` and `to` as local
    dates, default the last 7 days; `breakdown`), or the message for each field that cannot be
    read."""
    errors: dict[str, str] = {}
    breakdown = _breakdown(args.get("breakdown", ""), errors)
    typed_from = args.get("from", "").strip()
    typed_to = args.get("to", "").strip()
    preset = args.get("preset", "").strip()
    if not typed_from and not typed_to:
        preset = preset or DEFAULT_PRESET
        if preset not in PRESETS:
            errors["preset"] = "Choose one of: " + ", ".join(PRESETS.values()).lower() + "."
            return None, errors
        first, last = preset_days(preset, today)
        return (None, errors) if errors else (Asked(first, last, preset, breakdown), errors)
    first_day = _date(typed_from, "from", errors) if typed_from else None
    last_day = _date(typed_to, "to", errors) if typed_to else today
    if not typed_from and "to" not in errors:
        errors["from"] = "Give the first day of the period."
    if errors or first_day is None or last_day is None:
        return None, errors
    if last_day < first_day:
        errors["to"] = "Must be on or after the first day."
    elif (last_day - first_day).days + 1 > MAX_DAYS:
        errors["to"] = f"A report covers at most {MAX_DAYS} days."
    return (None, errors) if errors else (Asked(first_day, last_day, None, breakdown), errors)


def _date(text: str, name: str, errors: dict[str, str]) -> dt.date | None:
    shown = text[:40]
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        errors[name] = f"'{shown}' is not a date: write it as YYYY-MM-DD."
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        errors[name] = f"'{shown}' is not a date: write it as YYYY-MM-DD."
        return None
    if not EARLIEST <= day <= LATEST:
        errors[name] = f"Give a date from {EARLIEST.year} to {LATEST.year}."
        return None
    return day


def _breakdown(text: str, errors: dict[str, str]) -> Breakdown | None:
    text = text.strip()
    if not text:
        return None
    for breakdown in BREAKDOWNS:
        if breakdown == text:
            return breakdown
    errors["breakdown"] = "Choose one of the breakdowns listed."
    return None


def may_break_down_by_staff(actor: Actor) -> bool:
    """Whether `actor` may see figures per staff member: a person holding the duty manager or
    clinical lead role (never an integration, whatever its scopes)."""
    return actor.kind == "person" and bool(actor.roles & STAFF_BREAKDOWN_ROLES)


def check_breakdown(actor: Actor, asked: Asked) -> None:
    """InvalidInput naming `breakdown` when the staff breakdown is asked by someone who may
    not see it."""
    if asked.breakdown == "staff" and not may_break_down_by_staff(actor):
        raise InvalidInput(STAFF_BREAKDOWN_REFUSED, "breakdown")


# ---- what the page shows --------------------------------------------------------------------

# The figures the charts draw (defined by the call and text measures).
ANSWER_RATE: Final = "calls.answer_rate"
ANSWER_MEDIAN: Final = "calls.time_to_answer_median"
ANSWER_P90: Final = "calls.time_to_answer_p90"
CALL_BACK_MEDIAN: Final = "callbacks.time_median"
CALL_BACK_P90: Final = "callbacks.time_p90"
CHARTS: Final = {
    "answer-rate": "Answer rate by week",
    "time-to-answer": "Time to answer by week",
    "time-to-call-back": "Time to call-back by week",
    "contacts-by-hour": "Contacts by weekday and hour",
}
HOURS: Final = [f"{hour:02d}" for hour in range(24)]
# The most contacts a drill-down page lists (its CSV lists them all): a year of a busy line's
# calls is too long a page to load on a phone.
PAGE_ROWS: Final = 1000
# A contact for the heat map: a call offered, or a text conversation (one however many texts).
CONTACT_KEYS: Final = ("calls.offered", "texts.conversations")


@dataclass(frozen=True)
class Options:
    """What every reading of the report needs besides the period: the service's zone, its
    night (risk rules), targets and handover time, and the measure modules to ask."""

    zone: ZoneInfo
    night: NightHours
    targets: Targets
    handover_time: dt.time = dt.time(8, 30)
    modules: Sequence[MeasureModule] = service_report.MODULES

    def context(self, asked: Asked) -> Context:
        """The measures' context over the days asked."""
        return Context(asked.period(self.zone), self.night, self.targets, self.handover_time)


@dataclass(frozen=True)
class Line:
    """One measure as the page shows it: its figure (None: no module measured it), and where
    it has a target, the target and whether it was met (None: nothing to measure)."""

    measure: MeasureDef
    figure: Figure | None
    target: float | None = None
    met: bool | None = None


@dataclass(frozen=True)
class Week:
    """A week of the period (Monday to Sunday, cut to the period) and its figures by key."""

    first: dt.date
    last: dt.date
    figures: dict[str, Figure]

    def value(self, key: str) -> float | None:
        """The week's value of the measure `key` (None: nothing to measure)."""
        found = self.figures.get(key)
        return found.value if found is not None else None


@dataclass(frozen=True)
class ReportPage:
    """Everything the reports page shows for one period."""

    asked: Asked
    report: Report
    sections: list[tuple[str, list[Line]]]
    headline: list[Line]
    groups: list[tuple[str, list[tuple[str, list[Line]]]]]
    weeks: list[Week]
    # Calls offered and text conversations by (weekday, hour), Monday 0.
    heat: dict[tuple[int, int], int] = field(default_factory=dict)

    @property
    def contacts(self) -> int:
        """Every contact the heat map counts."""
        return sum(self.heat.values())


def met(
    measure: MeasureDef, value: float | None, targets: Targets
) -> tuple[float | None, bool | None]:
    """The measure's target (if it has one) and whether `value` meets it (None: no value)."""
    if measure.target is None:
        return None, None
    target = float(getattr(targets, measure.target))
    if value is None:
        return target, None
    return target, value <= target if measure.better == "lower" else value >= target


def lines(figures: Sequence[Figure], targets: Targets) -> list[tuple[str, list[Line]]]:
    """Every defined measure under its group (in the order they were defined), with its figure."""
    by_key = {figure.key: figure for figure in figures}
    sections: dict[str, list[Line]] = {}
    for measure in MEASURES.values():
        figure = by_key.get(measure.key)
        target, is_met = met(measure, figure.value if figure else None, targets)
        sections.setdefault(measure.group, []).append(Line(measure, figure, target, is_met))
    return list(sections.items())


Measured = list[tuple[MeasureModule, Sequence[Fact]]]


def _measured(session: Session, context: Context, modules: Sequence[MeasureModule]) -> Measured:
    return [(module, module.facts(session, context)) for module in modules]


def _figures(measured: Measured, context: Context) -> list[Figure]:
    return [figure for module, facts in measured for figure in module.figures(facts, context)]


def _by_group(
    session: Session, measured: Measured, context: Context, breakdown: Breakdown
) -> dict[str, list[Figure]]:
    names: dict[int, str] = {}
    if breakdown == "staff":
        names = service_report.staff_names(
            session, {f.staff_id for _, facts in measured for f in facts if f.staff_id is not None}
        )
    groups: dict[str, list[Figure]] = {}
    for module, facts in measured:
        for label, group in grouped(facts, breakdown, context, names).items():
            groups.setdefault(label, []).extend(module.figures(group, context))
    return groups


def _weeks(measured: Measured, context: Context, asked: Asked) -> list[Week]:
    first_monday = asked.first - dt.timedelta(days=asked.first.weekday())
    # One pass over the facts: each into its local week (a year is 53 weeks, not 53 scans).
    buckets: list[list[list[Fact]]] = []
    count = (asked.last - first_monday).days // 7 + 1
    for _, facts in measured:
        by_week: list[list[Fact]] = [[] for _ in range(count)]
        for fact in facts:
            index = (fact.at.astimezone(context.zone).date() - first_monday).days // 7
            if 0 <= index < count:
                by_week[index].append(fact)
        buckets.append(by_week)
    weeks: list[Week] = []
    for index in range(count):
        monday = first_monday + dt.timedelta(days=7 * index)
        first = max(monday, asked.first)
        last = min(monday + dt.timedelta(days=6), asked.last)
        period = Period.local_days(first, last, context.zone)
        week = Context(period, context.night, context.targets, context.handover_time)
        figures = [
            figure
            for (module, _), by_week in zip(measured, buckets, strict=True)
            for figure in module.figures([f for f in by_week[index] if period.contains(f.at)], week)
        ]
        weeks.append(Week(first, last, {figure.key: figure for figure in figures}))
    return weeks


def _heat(measured: Measured, context: Context) -> dict[tuple[int, int], int]:
    heat: dict[tuple[int, int], int] = {}
    for module, facts in measured:
        for label, group in grouped(facts, "weekday_hour", context, {}).items():
            day, hour = label.split(" ")
            cell = (WEEKDAYS.index(day), int(hour))
            for figure in module.figures(group, context):
                if figure.key in CONTACT_KEYS and figure.value:
                    heat[cell] = heat.get(cell, 0) + int(figure.value)
    return heat


def report_page(
    session: Session,
    asked: Asked,
    options: Options,
) -> ReportPage:
    """The period's figures by group and against their targets, by the breakdown asked, by
    week and by weekday and hour: each module's facts read once."""
    context = options.context(asked)
    measured = _measured(session, context, options.modules)
    figures = _figures(measured, context)
    groups = _by_group(session, measured, context, asked.breakdown) if asked.breakdown else {}
    report = Report(context.period, figures, asked.breakdown, groups)
    sections = lines(figures, options.targets)
    return ReportPage(
        asked=asked,
        report=report,
        sections=sections,
        headline=[line for _, found in sections for line in found if line.target is not None],
        groups=[(label, lines(found, options.targets)) for label, found in groups.items()],
        weeks=_weeks(measured, context, asked),
        heat=_heat(measured, context),
    )


def weeks(session: Session, asked: Asked, options: Options) -> list[Week]:
    """The period's figures week by week (Monday to Sunday, cut to the period), for a chart."""
    context = options.context(asked)
    return _weeks(_measured(session, context, options.modules), context, asked)


def heat(session: Session, asked: Asked, options: Options) -> dict[tuple[int, int], int]:
    """Calls offered and text conversations by (weekday, hour), Monday 0, for the heat map."""
    context = options.context(asked)
    return _heat(_measured(session, context, options.modules), context)


def week_label(week: Week) -> str:
    """A week as a chart's label: "30 Nov" (its first day in the period)."""
    return f"{week.first.day} {week.first:%b}"


def chart(session: Session, name: str, asked: Asked, options: Options) -> bytes:
    """The chart `name` (one of CHARTS; KeyError otherwise) over the days asked, as SVG."""
    title = CHARTS[name]
    if name == "contacts-by-hour":
        found = heat(session, asked, options)
        return charts.punch_card(
            title=title,
            columns=HOURS,
            rows=[
                (day, [found.get((index, hour), 0) for hour in range(24)])
                for index, day in enumerate(WEEKDAYS)
            ],
        )
    shown = weeks(session, asked, options)
    labels = [week_label(week) for week in shown]

    def values(key: str, scale: float = 1) -> list[float | None]:
        found = [week.value(key) for week in shown]
        return [round(v / scale, 1) if v is not None else None for v in found]

    if name == "answer-rate":
        return charts.lines(
            title=title,
            labels=labels,
            series=[
                ("Answered by a person", [week.value(ANSWER_RATE) for week in shown]),
                ("Target", [options.targets.answer_rate for _ in shown]),
            ],
            y_title="% of calls offered",
            percent=True,
        )
    if name == "time-to-answer":
        return charts.bars(
            title=title,
            labels=labels,
            series=[("Median", values(ANSWER_MEDIAN)), ("90th percentile", values(ANSWER_P90))],
            y_title="Seconds",
        )
    return charts.bars(
        title=title,
        labels=labels,
        series=[
            ("Median", values(CALL_BACK_MEDIAN, 60)),
            ("90th percentile", values(CALL_BACK_P90, 60)),
        ],
        y_title="Minutes",
    )


def report(
    session: Session,
    asked: Asked,
    options: Options,
) -> Report:
    """The period's figures (and by the breakdown asked), for the CSV."""
    context = options.context(asked)
    measured = _measured(session, context, options.modules)
    groups = _by_group(session, measured, context, asked.breakdown) if asked.breakdown else {}
    return Report(context.period, _figures(measured, context), asked.breakdown, groups)


# ---- the contacts behind a figure -----------------------------------------------------------


@dataclass(frozen=True)
class DrillDown:
    """The contacts one figure counts, as the drill-down lists them."""

    asked: Asked
    measure: MeasureDef
    group: str | None
    figure: Figure | None
    rows: list[ContactRow]
    # Each contact's participant (None: an unknown caller), for the link to his page.
    participants: dict[int, int | None]
    # How many contacts the figure counts (more than `rows` when the list was cut short).
    total: int = 0

    @property
    def participant_ids(self) -> list[int]:
        """The participants listed, each once."""
        return [p for p in dict.fromkeys(self.participants.values()) if p is not None]


def measure_asked(key: str) -> MeasureDef:
    """The measure called `key` (NotFound naming `measure` when none is)."""
    found = MEASURES.get(key.strip())
    if found is None:
        raise NotFound("No such measure.", "measure")
    return found


def drill_down(
    session: Session,
    asked: Asked,
    measure: MeasureDef,
    group: str | None,
    options: Options,
    *,
    limit: int | None = None,
) -> DrillDown:
    """The contacts the figure of `measure` counts over the period (over `group` of the
    breakdown asked when given): exactly its contact_ids, the first `limit` of them (by id,
    the order they were recorded in) when given."""
    if group and asked.breakdown is None:
        raise InvalidInput("Give the breakdown the group belongs to.", "breakdown")
    found = report(session, asked, options)
    figures = found.groups.get(group, []) if group else found.figures
    figure = next((f for f in figures if f.key == measure.key), None)
    every = figure.contact_ids if figure is not None else ()
    contact_ids = every[:limit] if limit is not None else every
    return DrillDown(
        asked,
        measure,
        group or None,
        figure,
        service_report.contact_rows(session, contact_ids),
        participants_of(session, contact_ids),
        len(every),
    )


def participants_of(session: Session, contact_ids: Iterable[int]) -> dict[int, int | None]:
    """Each contact's participant, by contact id."""
    wanted = sorted(set(contact_ids))
    found: dict[int, int | None] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = session.execute(
            select(Contact.id, Contact.participant_id).where(Contact.id.in_(chunk))
        )
        found.update((contact_id, participant_id) for contact_id, participant_id in rows)
    return found


def log_read(session: Session, visit: Visit, drill: DrillDown) -> None:
    """Log the drill-down as a list read: one entry per participant it names."""
    record_access.list_read(
        session,
        visit,
        Permission.REPORTS_READ,
        record_type="report_contacts",
        participant_ids=drill.participant_ids,
    )
