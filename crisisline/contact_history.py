"""Reading contacts back: a participant's whole timeline, and contacts filtered across everyone."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from crisisline import participants
from crisisline.models import Channel, Contact, Direction, Participant


def _page(
    session: Session, query: Select[Contact], offset: int, limit: int
) -> tuple[list[Contact], int]:
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Contact.started_at.desc(), Contact.id.desc()).offset(offset).limit(limit)
    ).all()
    return list(rows), total


def timeline(
    session: Session, participant_id: int, *, offset: int = 0, limit: int = 50
) -> tuple[list[Contact], int]:
    """A participant's calls and texts, in and out, newest first (NotFound if no participant)."""
    participants.get(session, participant_id)
    query = select(Contact).where(Contact.participant_id == participant_id)
    return _page(session, query, offset, limit)


def find(
    session: Session,
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    channel: Channel | None = None,
    direction: Direction | None = None,
    outcome: str | None = None,
    participant_id: int | None = None,
    visible: ColumnElement[bool] | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Contact], int]:
    """Contacts started in [start, end), newest first, filtered; and how many match.

    `visible`, a condition on Participant, keeps the contacts of the participants a reader's
    grant reaches (crisisline.caseloads); an unknown caller's contacts then drop out."""
    query = select(Contact)
    if visible is not None:
        query = query.where(Contact.participant_id.in_(select(Participant.id).where(visible)))
    if start is not None:
        query = query.where(Contact.started_at >= start)
    if end is not None:
        query = query.where(Contact.started_at < end)
    if channel is not None:
        query = query.where(Contact.channel == channel)
    if direction is not None:
        query = query.where(Contact.direction == direction)
    if outcome is not None:
        query = query.where(Contact.outcome == outcome)
    if participant_id is not None:
        query = query.where(Contact.participant_id == participant_id)
    return _page(session, query, offset, limit)
