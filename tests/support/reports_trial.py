"""A measure module for tests of the reports' pages (`Trial`): it reads the period's inbound
calls and texts from the real contacts table and counts them simply enough to work out by hand,
giving a figure of every unit (a count, shares against a target each way, a time, hours with
parts) and the keys the charts draw. `trial_measures(app)` defines its measures and points the
app's `REPORT_MODULES` at it, and takes the measures away again afterwards."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from crisisline import reports
from crisisline.models import Channel, Contact, ContactOutcome, Direction
from crisisline.reports import Context, Fact, Figure, ids, percentile, share


@dataclass(frozen=True)
class TrialFact(Fact):
    """A contact as the trial measures count it."""

    contact_id: int = 0
    call: bool = True
    answered: bool = False
    wait: int | None = None


class Trial:
    """Counts the period's inbound calls and texts: enough figures to show every kind of line."""

    def facts(self, session: Session, context: Context) -> Sequence[Fact]:
        rows = session.scalars(
            select(Contact).where(
                Contact.direction == Direction.INBOUND,
                Contact.started_at >= context.period.start,
                Contact.started_at < context.period.end,
            )
        )
        return [
            TrialFact(
                at=row.started_at,
                staff_id=row.handled_by_staff_id,
                rota="primary",
                contact_id=row.id,
                call=row.channel == Channel.VOICE,
                answered=row.outcome == ContactOutcome.ANSWERED,
                wait=row.wait_seconds,
            )
            for row in rows
        ]

    def figures(self, facts: Sequence[Fact], context: Context) -> list[Figure]:
        found = [f for f in facts if isinstance(f, TrialFact)]
        calls = [f for f in found if f.call]
        texts = [f for f in found if not f.call]
        answered = [f for f in calls if f.answered]
        no_wait = [f for f in calls if f.wait is None]
        waits = [float(f.wait) for f in calls if f.wait is not None]
        answer_waits = [float(f.wait) for f in answered if f.wait is not None]
        every = ids(f.contact_id for f in calls)
        return [
            Figure("trial.calls", len(calls), contact_ids=every),
            Figure(
                "trial.answered_share",
                share(len(answered), len(calls)),
                len(answered),
                len(calls),
                ids(f.contact_id for f in answered),
            ),
            Figure(
                "trial.no_wait_share",
                share(len(no_wait), len(calls)),
                len(no_wait),
                len(calls),
                ids(f.contact_id for f in no_wait),
            ),
            Figure("trial.wait_median", percentile(waits, 0.5), contact_ids=every),
            Figure("trial.gap_hours", 1.5 if calls else 0.0, parts=(("primary", 1.5),)),
            # The keys the charts draw (the real call and text measures define them).
            Figure("calls.offered", len(calls), contact_ids=every),
            Figure(
                "calls.answer_rate", share(len(answered), len(calls)), len(answered), len(calls)
            ),
            Figure("calls.time_to_answer_median", percentile(answer_waits, 0.5)),
            Figure("calls.time_to_answer_p90", percentile(answer_waits, 0.9)),
            Figure("texts.conversations", len(texts), contact_ids=ids(f.contact_id for f in texts)),
        ]


@contextmanager
def trial_measures(app: Flask) -> Iterator[None]:
    """The trial measures defined and the app's reports reading them (and only them)."""
    defined = [
        reports.define("trial.calls", "Trial calls", "count", "Trial calls"),
        reports.define(
            "trial.answered_share",
            "Trial answered",
            "share",
            "Trial calls",
            target="answer_rate",
            better="higher",
        ),
        reports.define(
            "trial.no_wait_share",
            "Trial without a wait",
            "share",
            "Trial calls",
            target="abandoned_after_30s",
            better="lower",
        ),
        reports.define("trial.wait_median", "Trial median wait", "seconds", "Trial calls"),
        reports.define("trial.gap_hours", "Trial gap hours", "hours", "Trial rota"),
    ]
    app.config["REPORT_MODULES"] = (Trial(),)
    try:
        yield
    finally:
        for measure in defined:
            reports.MEASURES.pop(measure.key)
