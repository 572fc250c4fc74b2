"""Measures of calls: offered, answered live by a person on the rota, how fast, abandoned, sent
to the fallback, voicemails; and missed calls and voicemails called back, and how soon.

Defines its measures in `crisisline.reports.MEASURES` at import; `facts` reads the period's
calls, `figures` computes from them (pure).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from crisisline.reports import Context, Fact, Figure


def facts(session: Session, context: Context) -> Sequence[Fact]:
    """The period's calls (and what became of them)."""
    return []


def figures(facts: Sequence[Fact], context: Context) -> list[Figure]:
    """The call and call-back figures over `facts`."""
    return []
