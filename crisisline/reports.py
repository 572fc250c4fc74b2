"""Service reports: how well the line answers, measured from the contact record.

Every measure is defined once, here (`MEASURES`, its words in docs/reports.md), and computed in
two steps that keep the arithmetic testable by hand:

1. *facts*: each measure module reads the period's records once, into small frozen rows (a
   call offered, a conversation and its first human reply, an escalation, an alert, a stretch
   of rota with nobody on call, a handled contact and its note), each with the instant it
   belongs to (`Fact.at`), who handled it and on which rota;
2. *figures*: pure functions turn a list of facts into `Figure`s, each naming the contacts it
   counts (the drill-down). A breakdown (day and night, weekday and hour, rota, staff member)
   is the same figures over each group of the facts: one definition, whatever the grouping.

A period is a range of local time in the service's zone, [start, end): a day, a week, a month or
any range; a fact belongs to it by its own instant (a call by when it started), so a call that
started before the period is not in it even if it ended inside.

The measure modules (`crisisline/call_measures.py`: calls and call-backs;
`crisisline/care_measures.py`: texts and notes; `crisisline/cover_measures.py`: escalations,
alerts and the rota) sit above this one, each defining its measures at import;
`crisisline.service_report.MODULES` lists them and `compute` asks each in turn.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from crisisline.risk_rules import NightHours, local_to_utc

Unit = Literal["count", "share", "seconds", "hours"]
Better = Literal["higher", "lower"]
Breakdown = Literal["day_night", "weekday", "hour", "weekday_hour", "rota", "staff"]
BREAKDOWNS: Final[tuple[Breakdown, ...]] = (
    "day_night",
    "weekday",
    "hour",
    "weekday_hour",
    "rota",
    "staff",
)
WEEKDAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


# ---- periods ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A range of time [start, end) (UTC instants), read and shown in `zone`."""

    start: dt.datetime
    end: dt.datetime
    zone: ZoneInfo

    @classmethod
    def local_days(cls, first: dt.date, last: dt.date, zone: ZoneInfo) -> Period:
        """From the start of local day `first` to the end of local day `last` (a day across a
        clock change is 23 or 25 hours)."""
        start = local_to_utc(dt.datetime.combine(first, dt.time()), zone, earliest=True)
        end = local_to_utc(
            dt.datetime.combine(last + dt.timedelta(days=1), dt.time()), zone, earliest=True
        )
        return cls(start, end, zone)

    def contains(self, instant: dt.datetime) -> bool:
        """Whether `instant` falls in [start, end)."""
        return self.start <= instant < self.end

    @property
    def hours(self) -> float:
        """How long the period is, in hours of real time."""
        return (self.end - self.start).total_seconds() / 3600


# ---- targets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Targets:
    """The headline figures' targets (shares from 0 to 1, times in seconds)."""

    # NHS 111: 95% of calls answered within 60 seconds; under 5% abandoned after 30 seconds.
    answered_within_60s: float = 0.95
    abandoned_after_30s: float = 0.05
    # 988 Lifeline: 90% answered by its own network (here: by a person on the rota).
    answer_rate: float = 0.90
    # Shout: a reply to a text within 5 minutes.
    text_replied_within_5min: float = 0.90


# ---- measures, defined once ------------------------------------------------------------------


@dataclass(frozen=True)
class MeasureDef:
    """One measure: what it is called, in what unit, and what it is held against."""

    key: str
    label: str
    unit: Unit
    group: str  # the heading it is shown under: Calls, Call-backs, Texts, ...
    # Which Targets field it is held against, and whether higher or lower is better.
    target: str | None = None
    better: Better | None = None


MEASURES: dict[str, MeasureDef] = {}


def define(
    key: str,
    label: str,
    unit: Unit,
    group: str,
    *,
    target: str | None = None,
    better: Better | None = None,
) -> MeasureDef:
    """Add a measure to `MEASURES` (each measure module defines its own at import)."""
    if key in MEASURES:
        raise ValueError(f"measure {key!r} is defined twice")
    if target is not None and target not in Targets.__dataclass_fields__:
        raise ValueError(f"measure {key!r}: no target {target!r}")
    measure = MeasureDef(key, label, unit, group, target, better)
    MEASURES[key] = measure
    return measure


# ---- facts and figures -----------------------------------------------------------------------


@dataclass(frozen=True)
class Fact:
    """One thing a measure counts: the instant it belongs to, who handled it, on which rota."""

    at: dt.datetime
    staff_id: int | None = None
    rota: str | None = None


@dataclass(frozen=True)
class Figure:
    """A measure's value over some facts, and the contacts behind it (the drill-down).

    `value` is None when there is nothing to measure (a share of no calls, a median of no
    times): shown as "none", never as 0. A share keeps its numerator and denominator.
    """

    key: str
    value: float | None
    numerator: int | None = None
    denominator: int | None = None
    contact_ids: tuple[int, ...] = ()
    # A figure that splits further (alerts by rule and severity, gap hours by rota): label, value.
    parts: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Context:
    """What a measure module needs besides its facts."""

    period: Period
    night: NightHours
    targets: Targets = field(default_factory=Targets)
    # The morning handover's local time (HANDOVER_TIME): "a note by the handover" is by the
    # first handover after the contact ended.
    handover_time: dt.time = dt.time(8, 30)

    @property
    def zone(self) -> ZoneInfo:
        """The service's zone, in which the period and the breakdowns are read."""
        return self.period.zone


F = TypeVar("F", bound=Fact)


class MeasureModule(Protocol):
    """What `compute` asks of each measure module."""

    def facts(self, session: Session, context: Context) -> Sequence[Fact]:
        """The period's facts, read from the database."""

    def figures(self, facts: Sequence[Fact], context: Context) -> list[Figure]:
        """The module's figures over `facts` (pure: no database)."""


# ---- small arithmetic, shared by the measure modules ----------------------------------------


def share(numerator: int, denominator: int) -> float | None:
    """numerator / denominator, or None when there is nothing to divide."""
    return numerator / denominator if denominator else None


def percentile(values: Iterable[float], fraction: float) -> float | None:
    """The `fraction` percentile of `values` by the nearest-rank method (the median: 0.5), or
    None for no values: the smallest value with at least that fraction of values at or below
    it. Nearest rank is what a person checking by hand gets by sorting and counting."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(fraction * len(ordered)))
    return float(ordered[rank - 1])


def ids(contact_ids: Iterable[int | None]) -> tuple[int, ...]:
    """Contact ids, without None or repeats, in ascending order."""
    return tuple(sorted({i for i in contact_ids if i is not None}))


# ---- breakdowns -----------------------------------------------------------------------------


def group_key(
    fact: Fact, breakdown: Breakdown, context: Context, staff_names: dict[int, str]
) -> str:
    """The group a fact falls in for `breakdown` ("night", "Tue", "03", "Tue 03", a rota's
    name, a staff member's name; "nobody" / "no rota" where the fact has none)."""
    local = fact.at.astimezone(context.zone)
    if breakdown == "day_night":
        return "night" if context.night.contains(fact.at, context.zone) else "day"
    if breakdown == "weekday":
        return WEEKDAYS[local.weekday()]
    if breakdown == "hour":
        return f"{local.hour:02d}"
    if breakdown == "weekday_hour":
        return f"{WEEKDAYS[local.weekday()]} {local.hour:02d}"
    if breakdown == "rota":
        return fact.rota or "no rota"
    if fact.staff_id is None:
        return "nobody"
    return staff_names.get(fact.staff_id, f"staff {fact.staff_id}")


def grouped(
    facts: Sequence[F],
    breakdown: Breakdown,
    context: Context,
    staff_names: dict[int, str],
) -> dict[str, list[F]]:
    """`facts` by group, the groups in a natural order (weekdays Monday first, hours from 00)."""
    groups: dict[str, list[F]] = {}
    for fact in facts:
        groups.setdefault(group_key(fact, breakdown, context, staff_names), []).append(fact)
    return dict(sorted(groups.items(), key=lambda item: _order(item[0])))


def _order(label: str) -> tuple[int, str]:
    day = label[:3]
    if day in WEEKDAYS:
        return (WEEKDAYS.index(day), label)
    return (0, label)


# ---- the report -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """Every figure over the period, and, when asked, the same figures over each group."""

    period: Period
    figures: list[Figure]
    breakdown: Breakdown | None = None
    groups: dict[str, list[Figure]] = field(default_factory=dict)

    def figure(self, key: str) -> Figure:
        """The period's figure for the measure `key` (KeyError if no module measured it)."""
        for found in self.figures:
            if found.key == key:
                return found
        raise KeyError(key)


ModuleList = Sequence[MeasureModule]
StaffNames = Callable[[Session, set[int]], dict[int, str]]


def compute(
    session: Session,
    context: Context,
    modules: ModuleList,
    *,
    breakdown: Breakdown | None = None,
    staff_names: StaffNames | None = None,
) -> Report:
    """Every module's figures over the period, and over each group of `breakdown` if given."""
    figures: list[Figure] = []
    groups: dict[str, list[Figure]] = {}
    for module in modules:
        facts = module.facts(session, context)
        figures.extend(module.figures(facts, context))
        if breakdown is None:
            continue
        names: dict[int, str] = {}
        if breakdown == "staff" and staff_names is not None:
            names = staff_names(session, {f.staff_id for f in facts if f.staff_id is not None})
        for label, group in grouped(facts, breakdown, context, names).items():
            groups.setdefault(label, []).extend(module.figures(group, context))
    return Report(context.period, figures, breakdown, groups)
