"""Reading contacts back: a participant's whole timeline, and contacts filtered across everyone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, or_, select
from sqlalchemy.orm import QueryableAttribute, Session

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


def before_or_at(
    at_column: QueryableAttribute[dt.datetime],
    id_column: QueryableAttribute[int],
    at: dt.datetime,
    below_id: int | None,
) -> ColumnElement[bool]:
    """Rows older than (`at`, `below_id`) in newest-first order: started before `at`, or at `at`
    with an id below `below_id` (every id when None). Written so that an index on the time
    bounds the scan (`at_column <= at`) and the id only breaks ties."""
    if below_id is None:
        return at_column <= at
    return and_(at_column <= at, or_(at_column < at, id_column < below_id))


def newest_of(
    session: Session,
    participant_id: int,
    *,
    kinds: ColumnElement[bool] | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    older_than: tuple[dt.datetime, int | None] | None = None,
    limit: int,
) -> list[Contact]:
    """A participant's contacts newest first, at most `limit`: those matching `kinds` (a
    condition on Contact), started in [start, end) and older than `older_than` (see
    `before_or_at`). One range scan of ix_contacts_participant_started, never his whole
    history."""
    query = select(Contact).where(Contact.participant_id == participant_id)
    if kinds is not None:
        query = query.where(kinds)
    if start is not None:
        query = query.where(Contact.started_at >= start)
    if end is not None:
        query = query.where(Contact.started_at < end)
    if older_than is not None:
        query = query.where(before_or_at(Contact.started_at, Contact.id, *older_than))
    query = query.order_by(Contact.started_at.desc(), Contact.id.desc()).limit(limit)
    return list(session.scalars(query))


def counts_by_period(
    session: Session,
    participant_id: int,
    periods: Sequence[tuple[dt.datetime, int]],
    *,
    start: dt.datetime,
    condition: ColumnElement[bool] | None = None,
) -> dict[int, int]:
    """How many of a participant's contacts (matching `condition`) fall in each period, by the
    period's label: `periods` are consecutive [previous end, end) spans from `start`, each
    (end, label), in time order; several spans may share a label. One grouped query over an
    index range, whatever the length of his history."""
    if not periods:
        return {}
    label = case(
        *((Contact.started_at < end, literal(value)) for end, value in periods),
        else_=literal(-1),
    ).label("period")
    inner = select(label).where(
        Contact.participant_id == participant_id,
        Contact.started_at >= start,
        Contact.started_at < periods[-1][0],
    )
    if condition is not None:
        inner = inner.where(condition)
    # Grouped outside: PostgreSQL will not match a GROUP BY to a CASE whose bound values are
    # separate parameters.
    labelled = inner.subquery()
    query = select(labelled.c.period, func.count()).group_by(labelled.c.period)
    return {int(value): int(count) for value, count in session.execute(query).all()}
