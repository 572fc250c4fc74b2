"""Participants' crisis plans: versions written by his officer or the clinical lead, the current
one, and the plans due for review or missing (see docs/crisis-plans.md)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from crisisline.crisis_plan_models import CrisisPlan


def current(session: Session, participant_id: int) -> CrisisPlan | None:
    """The participant's current plan (its highest version), or None if he has none."""
    return session.scalars(
        select(CrisisPlan)
        .where(CrisisPlan.participant_id == participant_id)
        .order_by(CrisisPlan.version.desc())
        .limit(1)
    ).first()
