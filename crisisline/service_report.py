"""The service report as people ask for it: every measure over a period (and a breakdown), the
contacts behind a figure, and both as CSV, for the console, the API and `crisisline report`.

The measures themselves are `crisisline.call_measures`, `crisisline.care_measures` and
`crisisline.cover_measures` over the framework of `crisisline.reports`. CSV never holds a
message body, a note's words or a phone number: a participant is named by his reference.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from crisisline import call_measures, care_measures, cover_measures
from crisisline.models import Contact, Participant, Staff
from crisisline.reports import (
    MEASURES,
    Breakdown,
    Context,
    Figure,
    MeasureModule,
    Period,
    Report,
    Targets,
    compute,
)
from crisisline.risk_rules import NightHours
from crisisline.settings import Settings

MODULES: Final[tuple[MeasureModule, ...]] = (call_measures, care_measures, cover_measures)


def staff_names(session: Session, staff_ids: set[int]) -> dict[int, str]:
    """Staff members' names by id (for the per-staff breakdown)."""
    if not staff_ids:
        return {}
    return dict(session.execute(select(Staff.id, Staff.name).where(Staff.id.in_(staff_ids))).all())


def targets_from(settings: Settings) -> Targets:
    """The targets set for this service (TARGET_* settings, percentages)."""
    return Targets(
        answered_within_60s=settings.target_answered_within_60s / 100,
        abandoned_after_30s=settings.target_abandoned_after_30s / 100,
        answer_rate=settings.target_answer_rate / 100,
        text_replied_within_5min=settings.target_text_replied_within_5min / 100,
    )


def build(
    session: Session,
    period: Period,
    *,
    night: NightHours,
    targets: Targets | None = None,
    breakdown: Breakdown | None = None,
    handover_time: dt.time = dt.time(8, 30),
) -> Report:
    """Every measure over `period`, and over each group of `breakdown` when given."""
    context = Context(period, night, targets or Targets(), handover_time)
    return compute(session, context, MODULES, breakdown=breakdown, staff_names=staff_names)


# ---- the contacts behind a figure ------------------------------------------------------------


@dataclass(frozen=True)
class ContactRow:
    """One contact as a drill-down lists it: never its words or a phone number."""

    contact_id: int
    started_at: dt.datetime
    channel: str
    direction: str
    outcome: str | None
    wait_seconds: int | None
    duration_seconds: int | None
    reference: str | None  # None: an unknown caller or texter
    handled_by: str | None


def contact_rows(session: Session, contact_ids: Iterable[int]) -> list[ContactRow]:
    """The contacts `contact_ids`, oldest first."""
    wanted = sorted(set(contact_ids))
    rows: list[ContactRow] = []
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found = session.execute(
            select(Contact, Participant.reference, Staff.name)
            .outerjoin(Participant, Participant.id == Contact.participant_id)
            .outerjoin(Staff, Staff.id == Contact.handled_by_staff_id)
            .where(Contact.id.in_(chunk))
        ).all()
        rows.extend(
            ContactRow(
                contact_id=contact.id,
                started_at=contact.started_at,
                channel=contact.channel.value,
                direction=contact.direction.value,
                outcome=contact.outcome,
                wait_seconds=contact.wait_seconds,
                duration_seconds=contact.duration_seconds,
                reference=reference,
                handled_by=name,
            )
            for contact, reference, name in found
        )
    return sorted(rows, key=lambda row: (row.started_at, row.contact_id))


def participants_of(session: Session, contact_ids: Iterable[int]) -> list[int | None]:
    """The participants the contacts `contact_ids` are with (None: an unknown caller), for the
    access log of a drill-down that lists them."""
    wanted = sorted(set(contact_ids))
    found: list[int | None] = []
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.extend(
            session.scalars(select(Contact.participant_id).where(Contact.id.in_(chunk))).all()
        )
    return found


# ---- CSV ------------------------------------------------------------------------------------

FIGURE_COLUMNS: Final = (
    "period_start",
    "period_end",
    "group",
    "measure",
    "label",
    "unit",
    "value",
    "numerator",
    "denominator",
    "target",
    "contacts",
)
CONTACT_COLUMNS: Final = (
    "contact_id",
    "started_at",
    "channel",
    "direction",
    "outcome",
    "wait_seconds",
    "duration_seconds",
    "participant",
    "handled_by",
)


def _cell(value: object | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    # A cell a spreadsheet would run as a formula is written as text (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _figure_rows(report: Report, targets: Targets) -> Iterable[list[str]]:
    sets: list[tuple[str, Sequence[Figure]]] = [("all", report.figures)]
    sets.extend(report.groups.items())
    for group, figures in sets:
        for figure in figures:
            measure = MEASURES.get(figure.key)
            target = getattr(targets, measure.target) if measure and measure.target else None
            yield [
                _cell(report.period.start.isoformat()),
                _cell(report.period.end.isoformat()),
                _cell(group),
                _cell(figure.key),
                _cell(measure.label if measure else figure.key),
                _cell(measure.unit if measure else ""),
                _cell(figure.value),
                _cell(figure.numerator),
                _cell(figure.denominator),
                _cell(target),
                _cell(len(figure.contact_ids)),
            ]


def figures_csv(report: Report, targets: Targets | None = None) -> str:
    """The report as CSV: one row per figure (and per group of its breakdown)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(FIGURE_COLUMNS)
    writer.writerows(_figure_rows(report, targets or Targets()))
    return out.getvalue()


def contacts_csv(rows: Sequence[ContactRow]) -> str:
    """The contacts behind a figure as CSV (times in UTC, ISO 8601)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CONTACT_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                _cell(row.contact_id),
                _cell(row.started_at.isoformat()),
                _cell(row.channel),
                _cell(row.direction),
                _cell(row.outcome),
                _cell(row.wait_seconds),
                _cell(row.duration_seconds),
                _cell(row.reference),
                _cell(row.handled_by),
            ]
        )
    return out.getvalue()
