"""A crisis plan for a participant, written straight into its table (the plan pages are another
module's): words distinctive enough that a test can look for any of them in a text."""

from __future__ import annotations

import datetime as dt

from crisisline.crisis_plan_models import CrisisPlan
from crisisline.db import Database

# Every section's words: none of them may ever appear in a text.
PLAN_WORDS = {
    "warning_signs": "Paces the landing and stops answering the hostel staff",
    "triggers": "Letters from the parole board",
    "what_helps": "Talking about football, slowly",
    "what_does_not_help": "Being told to calm down",
    "risk_to_self": "Cut himself in 2023 after a recall",
    "risk_to_others": "Threatened a neighbour when drunk",
    "if_risk_rises": "Call 999 and tell the duty manager",
    "practical_notes": "Curfew 21:00 at Elm House approved premises",
}
PLAN_CONTACT = {"name": "Joan Tillman", "relationship": "sister", "phone": "+447700900555"}


def add_plan(db: Database, participant_id: int, now: dt.datetime) -> int:
    """Version 1 of the participant's plan, agreed today; its id."""
    with db.transaction() as session:
        plan = CrisisPlan(
            participant_id=participant_id,
            version=1,
            written_at=now,
            author="test",
            contacts=[PLAN_CONTACT],
            agreed_on=now.date(),
            review_on=now.date() + dt.timedelta(days=90),
            **PLAN_WORDS,
        )
        session.add(plan)
        session.flush()
        return plan.id


def mentions_the_plan(text: str) -> list[str]:
    """The plan's words (or its contact's) found in `text`."""
    words = [*PLAN_WORDS.values(), PLAN_CONTACT["name"], "7700900555", "900555"]
    return [word for word in words if word.lower() in text.lower()]
