"""Follow-ups: what notes ask responsible officers to do, until the officer marks it done.

A note asking the officer to follow up opens the contact's one follow-up
(`crisisline.contact_notes.add_version`); this module lists them, says which are overdue, and
marks one done with a line of what was done.

Who sees which: a responsible officer sees those asked of him (`officer_staff_id`, kept when the
participant later moves to another officer) and those of his caseload's participants; duty
managers, the clinical lead and integrations holding the scope see all, including those asked
for a participant who has no officer (shown as unassigned). Only the officer it was asked of,
or someone whose grant reaches every participant (a duty manager, the clinical lead), may mark
it done, once: a second attempt is a conflict and never overwrites what the first one wrote.

Overdue: still open more than two working days after it was asked. Working days are those of
England and Wales (no weekends, no bank holidays, from the `holidays` library), counted in the
service's zone; time asked on a day off starts counting at the start of the next working day.
So a follow-up asked on Thursday 24 December 2026 at 10:00 is overdue from Wednesday 30
December at 10:00 (Christmas, the weekend and Boxing Day observed on the 28th do not count).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final
from zoneinfo import ZoneInfo

import holidays
from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from crisisline import audit, caseloads, record_access
from crisisline.errors import Conflict, DomainError, InvalidInput, NotFound
from crisisline.models import Contact, Participant, Staff
from crisisline.note_models import FollowUp, FollowUpStatus
from crisisline.permissions import Actor, Extent, Permission
from crisisline.record_access import Action, Origin, Visit
from rotas.wallclock import local_to_utc

log = logging.getLogger(__name__)

RECORD_TYPE: Final = "follow_up"
# A follow-up still open this many working days after it was asked is shown to the duty manager.
WORKING_DAYS_ALLOWED: Final = 2
WHAT_DONE_MAX: Final = 500
PAGE_SIZE: Final = 25
DEFAULT_ZONE: Final = ZoneInfo("Europe/London")
_LABEL: Final = re.compile(r"^staff:(\d+)$")
NO_ORIGIN: Final = Origin()

_RowsSelect = Select[FollowUp, str | None, str | None, str | None, dt.datetime]


class NotYours(DomainError):
    """The follow-up is visible to the person but was asked of another officer."""


# ---- working days -------------------------------------------------------------------------


@functools.cache
def _bank_holidays(year: int) -> frozenset[dt.date]:
    # One frozen set per year: the library's own object fills itself in as it is asked, which
    # is not safe to share between a web server's threads.
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year).keys())


def is_working_day(day: dt.date) -> bool:
    """Whether `day` is a working day in England and Wales (Monday to Friday, no bank holiday)."""
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


def _next_working_day(day: dt.date) -> dt.date:
    day += dt.timedelta(days=1)
    while not is_working_day(day):
        day += dt.timedelta(days=1)
    return day


def _previous_working_day(day: dt.date) -> dt.date:
    day -= dt.timedelta(days=1)
    while not is_working_day(day):
        day -= dt.timedelta(days=1)
    return day


def due_at(asked_at: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """When a follow-up asked at `asked_at` becomes overdue: two working days later, local time
    of day kept (asked on a day off: from the start of the next working day)."""
    local = asked_at.astimezone(zone).replace(tzinfo=None)
    day, time = local.date(), local.time()
    if not is_working_day(day):
        day, time = _next_working_day(day), dt.time()
    for _ in range(WORKING_DAYS_ALLOWED):
        day = _next_working_day(day)
    # Working days are never the Sundays the clocks change on, but the zone is configurable.
    return local_to_utc(dt.datetime.combine(day, time), zone)


def overdue_before(now: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The instant such that a follow-up asked before it and still open is overdue at `now`
    (`due_at(asked) < now` exactly when `asked < overdue_before(now)`): what a query compares."""
    local = now.astimezone(zone).replace(tzinfo=None)
    day = local.date()
    if is_working_day(day):
        for _ in range(WORKING_DAYS_ALLOWED):
            day = _previous_working_day(day)
        if local.time() == dt.time():
            # Asked in the days off before `day` counts from its first instant, which is not
            # yet more than two working days ago: the cut-off goes back to the days off.
            day = _previous_working_day(day) + dt.timedelta(days=1)
        return local_to_utc(dt.datetime.combine(day, local.time()), zone)
    # On a day off the count stands still at the end of the last working day.
    day = _previous_working_day(day)
    for _ in range(WORKING_DAYS_ALLOWED):
        day = _previous_working_day(day)
    return local_to_utc(dt.datetime.combine(day + dt.timedelta(days=1), dt.time()), zone)


# ---- rows ready to show ---------------------------------------------------------------------


@dataclass(frozen=True)
class FollowUpRow:
    """A follow-up as every list shows it: whom it is about, who asked, who must do it."""

    id: int
    contact_id: int
    contact_started_at: dt.datetime
    participant_id: int | None
    reference: str | None  # None: an unknown caller
    participant_name: str | None
    officer_staff_id: int | None  # None: the participant had no officer when it was asked
    officer: str | None  # the officer's name
    asked_at: dt.datetime
    asked_by: str  # a name where the note's author is a member of staff
    what: str
    status: FollowUpStatus
    due_at: dt.datetime
    overdue: bool
    done_at: dt.datetime | None
    done_by: str | None
    done_what: str | None

    @property
    def unassigned(self) -> bool:
        """Nobody is asked by name: the duty managers must see it is done."""
        return self.officer_staff_id is None


@dataclass(frozen=True)
class Query:
    """What a list asks for: a status, overdue or not, one participant, an order, a page."""

    status: FollowUpStatus | None = None
    overdue: bool | None = None
    participant_id: int | None = None
    oldest_first: bool = False
    offset: int = 0
    limit: int = PAGE_SIZE


def _rows_select() -> _RowsSelect:
    officer = aliased(Staff)
    return (
        select(FollowUp, Participant.reference, Participant.name, officer.name, Contact.started_at)
        .join(Contact, Contact.id == FollowUp.contact_id)
        .outerjoin(Participant, Participant.id == FollowUp.participant_id)
        .outerjoin(officer, officer.id == FollowUp.officer_staff_id)
    )


def _rows(
    session: Session,
    statement: _RowsSelect,
    now: dt.datetime | None,
    zone: ZoneInfo,
) -> list[FollowUpRow]:
    found = session.execute(statement).all()
    names = _names(session, [row[0].asked_by for row in found] + [row[0].done_by for row in found])
    rows = []
    for follow_up, reference, name, officer, started_at in found:
        due = due_at(follow_up.asked_at, zone)
        rows.append(
            FollowUpRow(
                id=follow_up.id,
                contact_id=follow_up.contact_id,
                contact_started_at=started_at,
                participant_id=follow_up.participant_id,
                reference=reference,
                participant_name=name,
                officer_staff_id=follow_up.officer_staff_id,
                officer=officer,
                asked_at=follow_up.asked_at,
                asked_by=names.get(follow_up.asked_by, follow_up.asked_by),
                what=follow_up.what,
                status=follow_up.status,
                due_at=due,
                overdue=(follow_up.status == FollowUpStatus.OPEN and now is not None and due < now),
                done_at=follow_up.done_at,
                done_by=names.get(follow_up.done_by or "", follow_up.done_by),
                done_what=follow_up.done_what,
            )
        )
    return rows


def _names(session: Session, labels: Iterable[str | None]) -> dict[str, str]:
    # Notes written through the API or the console name their author `staff:12`: show the name.
    ids = {int(m.group(1)) for label in labels if label and (m := _LABEL.match(label))}
    if not ids:
        return {}
    found = session.execute(select(Staff.id, Staff.name).where(Staff.id.in_(ids)))
    return {f"staff:{staff_id}": name for staff_id, name in found}


# ---- who reaches which ----------------------------------------------------------------------


def _reach(actor: Actor, permission: Permission, now: dt.datetime) -> ColumnElement[bool] | None:
    """The follow-ups `actor` reaches with `permission` (None: every one)."""
    extent = actor.extent(permission)
    if extent is Extent.ALL:
        return None
    if extent is None or actor.staff_id is None:
        return false()
    caseload = caseloads.participant_filter(actor, permission, now)
    conditions: list[ColumnElement[bool]] = [FollowUp.officer_staff_id == actor.staff_id]
    if caseload is not None:
        conditions.append(FollowUp.participant_id.in_(select(Participant.id).where(caseload)))
    return or_(*conditions)


def _is_overdue(cutoff: dt.datetime) -> ColumnElement[bool]:
    return and_(FollowUp.status == FollowUpStatus.OPEN, FollowUp.asked_at < cutoff)


def find(
    session: Session, actor: Actor, query: Query, *, now: dt.datetime, zone: ZoneInfo
) -> tuple[list[FollowUpRow], int]:
    """A page of the follow-ups `actor` may read, newest (or oldest) asked first; and how many
    match in all."""
    where: list[ColumnElement[bool]] = []
    reach = _reach(actor, Permission.FOLLOW_UPS_READ, now)
    if reach is not None:
        where.append(reach)
    if query.status is not None:
        where.append(FollowUp.status == query.status)
    if query.overdue is not None:
        overdue = _is_overdue(overdue_before(now, zone))
        where.append(overdue if query.overdue else ~overdue)
    if query.participant_id is not None:
        where.append(FollowUp.participant_id == query.participant_id)
    total = session.scalar(select(func.count(FollowUp.id)).where(*where)) or 0
    order = (
        (FollowUp.asked_at.asc(), FollowUp.id.asc())
        if query.oldest_first
        else (FollowUp.asked_at.desc(), FollowUp.id.desc())
    )
    statement = (
        _rows_select().where(*where).order_by(*order).offset(query.offset).limit(query.limit)
    )
    return _rows(session, statement, now, zone), int(total)


def overdue_now(
    session: Session, now: dt.datetime, zone: ZoneInfo, *, limit: int = 5
) -> tuple[list[FollowUpRow], int]:
    """Every overdue follow-up (for the duty manager): the oldest `limit`, and how many."""
    cutoff = overdue_before(now, zone)
    total = session.scalar(select(func.count(FollowUp.id)).where(_is_overdue(cutoff))) or 0
    statement = (
        _rows_select()
        .where(_is_overdue(cutoff))
        .order_by(FollowUp.asked_at, FollowUp.id)
        .limit(limit)
    )
    return _rows(session, statement, now, zone), int(total)


def asked_between(
    session: Session,
    start: dt.datetime,
    end: dt.datetime,
    *,
    now: dt.datetime | None = None,
    zone: ZoneInfo = DEFAULT_ZONE,
) -> list[FollowUpRow]:
    """Follow-ups asked in [start, end), whatever they are now, oldest first (the handover)."""
    statement = (
        _rows_select()
        .where(FollowUp.asked_at >= start, FollowUp.asked_at < end)
        .order_by(FollowUp.asked_at, FollowUp.id)
    )
    return _rows(session, statement, now, zone)


def open_follow_ups(
    session: Session, *, now: dt.datetime | None = None, zone: ZoneInfo = DEFAULT_ZONE
) -> list[FollowUpRow]:
    """Every follow-up still open, oldest first (the handover); `overdue` is set given `now`."""
    statement = (
        _rows_select()
        .where(FollowUp.status == FollowUpStatus.OPEN)
        .order_by(FollowUp.asked_at, FollowUp.id)
    )
    return _rows(session, statement, now, zone)


# ---- one follow-up --------------------------------------------------------------------------


def _one(
    session: Session, follow_up_id: int, now: dt.datetime | None, zone: ZoneInfo
) -> FollowUpRow:
    rows = _rows(session, _rows_select().where(FollowUp.id == follow_up_id), now, zone)
    if not rows:
        raise NotFound(f"There is no follow-up with id {follow_up_id}.")
    return rows[0]


def participant_of(session: Session, follow_up_id: int) -> int | None:
    """The participant a follow-up is about (None: an unknown caller); NotFound if none."""
    row = session.execute(
        select(FollowUp.participant_id).where(FollowUp.id == follow_up_id)
    ).first()
    if row is None:
        raise NotFound(f"There is no follow-up with id {follow_up_id}.")
    return row[0]


def _opened(
    session: Session, visit: Visit, row: FollowUpRow, permission: Permission, action: Action
) -> None:
    """Check that the visit reaches the follow-up and log it (Refused, ReasonRequired)."""
    actor = visit.actor
    asked_of_him = (
        actor.staff_id is not None
        and row.officer_staff_id == actor.staff_id
        and actor.extent(permission) is not None
    )
    if asked_of_him:
        # His own work, even after the participant moved to another officer's caseload.
        record_access.record(
            session,
            actor,
            action=action,
            record_type=RECORD_TYPE,
            record_id=row.id,
            participant_id=row.participant_id,
            at=visit.at,
            origin=visit.origin,
        )
        return
    record_access.open_record(
        session,
        visit,
        permission,
        record_type=RECORD_TYPE,
        record_id=row.id,
        participant_id=row.participant_id,
        action=action,
    )


def get(
    session: Session, visit: Visit, follow_up_id: int, *, zone: ZoneInfo = DEFAULT_ZONE
) -> FollowUpRow:
    """One follow-up, its reading logged: NotFound if none; record_access.Refused outside the
    reader's reach; record_access.ReasonRequired when a reason must be given first."""
    row = _one(session, follow_up_id, visit.at, zone)
    _opened(session, visit, row, Permission.FOLLOW_UPS_READ, Action.READ)
    return row


def may_mark_done(actor: Actor, row: FollowUpRow) -> bool:
    """Whether `actor` may mark this follow-up done (it is open, and asked of him or he may act
    on every participant's)."""
    if row.status != FollowUpStatus.OPEN:
        return False
    extent = actor.extent(Permission.FOLLOW_UPS_WRITE)
    if extent is Extent.ALL:
        return True
    return (
        extent is not None and actor.staff_id is not None and row.officer_staff_id == actor.staff_id
    )


def checked_what_done(text: str | None) -> str:
    """What was done, trimmed: one line, required, at most WHAT_DONE_MAX characters
    (InvalidInput naming `what_done`)."""
    what = (text or "").strip()
    if not what:
        raise InvalidInput("Write one line of what you did.", "what_done")
    if any(unicodedata.category(character) == "Cc" for character in what):
        raise InvalidInput("Write what you did on one line, as plain text.", "what_done")
    if len(what) > WHAT_DONE_MAX:
        raise InvalidInput(
            f"Write at most {WHAT_DONE_MAX} characters (this has {len(what)}).", "what_done"
        )
    return what


def mark_done(
    session: Session,
    actor: Actor,
    follow_up_id: int,
    what_done: str | None,
    now: dt.datetime,
    *,
    origin: Origin = NO_ORIGIN,
    reason: str | None = None,
    zone: ZoneInfo = DEFAULT_ZONE,
) -> FollowUpRow:
    """Mark the follow-up done with one line of what was done; audit and access logged.

    Raises NotFound (no such follow-up), record_access.Refused (outside the actor's reach),
    record_access.ReasonRequired (a duty manager outside his own, without a reason),
    NotYours (asked of another officer), InvalidInput naming `what_done`, and Conflict when it
    is already done or withdrawn (nothing is overwritten).
    """
    visit = Visit(actor=actor, at=now, origin=origin, reason=reason)
    row = _one(session, follow_up_id, now, zone)
    _opened(session, visit, row, Permission.FOLLOW_UPS_WRITE, Action.CHANGE)
    if actor.extent(Permission.FOLLOW_UPS_WRITE) is not Extent.ALL and (
        actor.staff_id is None or row.officer_staff_id != actor.staff_id
    ):
        if row.unassigned:
            raise NotYours(
                "This follow-up was asked when he had no responsible officer: a duty manager "
                "or the clinical lead marks it done."
            )
        raise NotYours(
            f"This follow-up was asked of {row.officer}: only they or a duty manager can mark "
            "it done."
        )
    what = checked_what_done(what_done)
    _refuse_closed(row, zone)
    # One conditional update decides between two people marking it at once: the second finds
    # it no longer open and is told, and what the first wrote stands.
    changed = session.execute(
        update(FollowUp)
        .where(FollowUp.id == follow_up_id, FollowUp.status == FollowUpStatus.OPEN)
        .values(
            status=FollowUpStatus.DONE,
            done_at=now,
            done_by_staff_id=actor.staff_id,
            done_by=actor.label[:120],
            done_what=what,
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if changed != 1:
        session.expire_all()
        _refuse_closed(_one(session, follow_up_id, now, zone), zone)
        raise Conflict("Someone else changed this follow-up at the same moment: look again.")
    audit.record(
        session,
        actor=actor.label,
        action="follow_up.done",
        record_type=RECORD_TYPE,
        record_id=follow_up_id,
        at=now,
        changes={"status": [FollowUpStatus.OPEN.value, FollowUpStatus.DONE.value]},
    )
    session.expire_all()
    log.info("follow-up %s marked done by %s", follow_up_id, actor.label)
    return _one(session, follow_up_id, now, zone)


def _refuse_closed(row: FollowUpRow, zone: ZoneInfo) -> None:
    if row.status == FollowUpStatus.DONE:
        when = f" on {row.done_at.astimezone(zone):%d %b %Y at %H:%M}" if row.done_at else ""
        raise Conflict(
            f"Nothing changed: {row.done_by or 'a colleague'} already marked it done{when}. "
            f"What was done: {row.done_what or 'not said'}"
        )
    if row.status == FollowUpStatus.WITHDRAWN:
        raise Conflict(
            "This follow-up was withdrawn by a later version of the note: nothing is asked now."
        )


__all__ = [
    "DEFAULT_ZONE",
    "PAGE_SIZE",
    "RECORD_TYPE",
    "WHAT_DONE_MAX",
    "WORKING_DAYS_ALLOWED",
    "FollowUpRow",
    "NotYours",
    "Query",
    "asked_between",
    "checked_what_done",
    "due_at",
    "find",
    "get",
    "is_working_day",
    "mark_done",
    "may_mark_done",
    "open_follow_ups",
    "overdue_before",
    "overdue_now",
    "participant_of",
]
