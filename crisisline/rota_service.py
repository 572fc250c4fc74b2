"""On-call rotas as stored: create and change them, enter overrides, ask who is on call.

The answers come from the pure functions in `rotas/`; this module turns rows into
`rotas.Rota` and `rotas.Override`, fetches only the overrides a question can depend on (an
indexed interval lookup), and audits every change. Edits, overrides and deletions reach it
through `crisisline.staffing`, which adds the notices they call for and the policy check.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, cast

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.orm import Session, lazyload

from crisisline import audit
from crisisline.errors import Conflict, InvalidInput, NotFound
from crisisline.models import Staff
from crisisline.rota_models import (
    CalendarFeedKind,
    CalendarFeedToken,
    RotaCoverageWindow,
    RotaMember,
    RotaOverride,
    RotaOverrideMode,
    RotaRecord,
    RotaRevisionRecord,
)
from rotas import (
    CoverageWindow,
    Gap,
    OnCallShift,
    Override,
    OverrideMode,
    Rota,
    RotaRevision,
    RotaValidationError,
    continued_from,
    gaps_between,
    handoffs_between,
    local_to_utc,
    on_call_at,
    rotation_shift_at,
    shifts_between,
)

# The longest period the shifts and gaps questions answer in one go: enough to plan a
# quarter ahead, small enough that one request cannot tie up a worker.
MAX_QUERY_WINDOW = dt.timedelta(days=90)
# Overrides cannot start before this (rotas.Override refuses earlier instants), so it is a
# safe floor for the lower bound of the interval lookup.
_EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
ROTA_FIELDS = ("name", "timezone", "members", "shift_length", "first_handoff", "coverage")


@dataclass(frozen=True)
class NewRota:
    """What is needed to add a rota (first_handoff is naive local wall-clock time)."""

    name: str
    timezone: str
    members: Sequence[int]
    shift_length: str
    first_handoff: dt.datetime
    coverage: Sequence[CoverageWindow] | None = None


@dataclass(frozen=True)
class NewOverride:
    """Who (None: nobody) is on call for [start, end), instead of or beside the rotation."""

    staff_id: int | None
    start: dt.datetime
    end: dt.datetime
    mode: str
    reason: str


@dataclass(frozen=True)
class OnCall:
    """Who is on call for one rota at one instant, with their staff records."""

    rota: RotaRecord
    shift: OnCallShift
    staff: list[Staff]


@dataclass(frozen=True)
class RotaShifts:
    """A rota's on-call periods over a window, and the staff they name."""

    rota: RotaRecord
    shifts: list[OnCallShift]
    staff: dict[int, Staff]


@dataclass(frozen=True)
class RotaGap:
    """A gap in one rota, with the rota's record and the (unusable) staff it names."""

    rota: RotaRecord
    gap: Gap
    staff: list[Staff]


@contextmanager
def _validated() -> Iterator[None]:
    # The rota logic names the field at fault; the API answers 422 naming it too.
    try:
        yield
    except RotaValidationError as exc:
        raise InvalidInput(str(exc), exc.field) from None


def to_rota(record: RotaRecord) -> Rota:
    """The rota logic's view of a stored rota, with the definitions it had before."""
    coverage = record.coverage
    with _validated():
        history = tuple(
            RotaRevision(
                Rota(
                    name=record.name,
                    timezone=row.timezone,
                    members=tuple(row.members),
                    shift_length=row.shift_length,
                    first_handoff=dt.datetime.fromisoformat(row.first_handoff),
                    coverage=None if row.windows is None else tuple(row.windows),
                ),
                row.ends_at,
            )
            for row in record.revision_rows
        )
        return Rota(
            name=record.name,
            timezone=record.timezone,
            members=tuple(record.members),
            shift_length=record.shift_length,
            first_handoff=record.first_handoff_local,
            coverage=None if coverage is None else tuple(coverage),
            history=history,
        )


def local_instant(local: dt.datetime, rota: Rota) -> dt.datetime:
    """The instant of a naive local wall-clock time in the rota's zone (the handoff rule: a
    time in the missing hour moves forward, a repeated one is its first occurrence)."""
    return local_to_utc(local, rota.zone)


def handoffs(rota: Rota, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """The rota's handoffs in [start, end)."""
    with _validated():
        return handoffs_between(rota, start, end)


def revise_from(
    session: Session,
    record: RotaRecord,
    changes: dict[str, Any],
    effective_from: dt.datetime,
    *,
    now: dt.datetime,
) -> Rota:
    """The rota `record` becomes with `changes` applying from the handoff `effective_from` on,
    every turn before it kept exactly as it is; checked like `revise`, and the handoff must be
    a future handoff of the rota."""
    current = to_rota(record)
    if "first_handoff" in changes:
        raise InvalidInput(
            "first_handoff: with effective_from the new turns start at that handoff; "
            "leave first_handoff out.",
            "first_handoff",
        )
    definition = revise(session, record, changes)
    if definition.name != current.name or definition.timezone != current.timezone:
        raise InvalidInput(
            "effective_from: a name or time zone change applies at once; make it on its own.",
            "effective_from",
        )
    effective_from = effective_from.astimezone(dt.UTC)
    if effective_from <= now:
        raise InvalidInput("effective_from: must be a handoff still to come.", "effective_from")
    at_handoff = handoffs(current, effective_from, effective_from + dt.timedelta(microseconds=1))
    if at_handoff != [effective_from]:
        raise InvalidInput(
            f"effective_from: {effective_from.isoformat()} is not one of the rota's handoffs.",
            "effective_from",
        )
    with _validated():
        return current.revised(continued_from(current, definition, effective_from), effective_from)


def to_override(row: RotaOverride) -> Override:
    """The rota logic's view of a stored override."""
    return Override(
        id=row.id,
        start=row.starts_at,
        end=row.ends_at,
        staff_id=row.staff_id,
        mode=row.mode.value,
        created_by=row.created_by,
        reason=row.reason,
    )


def describe(record: RotaRecord) -> dict[str, Any]:
    """The fields of a rota as the audit log keeps them."""
    coverage = record.coverage
    return {
        "name": record.name,
        "timezone": record.timezone,
        "members": record.members,
        "shift_length": record.shift_length,
        "first_handoff": record.first_handoff,
        "coverage": None if coverage is None else [str(window) for window in coverage],
    }


def create(session: Session, new: NewRota, *, actor: str, now: dt.datetime) -> RotaRecord:
    """Add a rota; members must be active staff and the name must be free."""
    with _validated():
        rota = Rota(
            name=new.name,
            timezone=new.timezone,
            members=tuple(new.members),
            shift_length=new.shift_length,
            first_handoff=new.first_handoff,
            coverage=None if new.coverage is None else tuple(new.coverage),
        )
    _check_active_staff(session, rota.members, "members")
    _refuse_name_taken(session, rota.name)
    record = RotaRecord(created_at=now, longest_override_seconds=0)
    _write(record, rota, now=now)
    session.add(record)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        record_type="rota",
        record_id=record.id,
        at=now,
        changes=describe(record),
    )
    return record


def get(session: Session, rota_id: int) -> RotaRecord:
    """The rota with `rota_id`, or NotFound."""
    record = session.get(RotaRecord, rota_id)
    if record is None:
        raise NotFound(f"There is no rota with id {rota_id}.")
    return record


def find(session: Session, reference: int | str) -> RotaRecord:
    """The rota a path names: by id if `reference` is a number, else by name."""
    if isinstance(reference, int):
        return get(session, reference)
    return find_by_name(session, reference)


def find_by_name(session: Session, name: str) -> RotaRecord:
    """The rota called `name` (exactly, else ignoring case), or NotFound."""
    record = session.scalars(select(RotaRecord).where(RotaRecord.name == name)).first()
    if record is None:
        matches = session.scalars(
            select(RotaRecord).where(func.lower(RotaRecord.name) == name.lower())
        ).all()
        if len(matches) == 1:
            return matches[0]
        raise NotFound(f"There is no rota called {name!r}.")
    return record


def list_rotas(
    session: Session, *, offset: int = 0, limit: int | None = None
) -> tuple[list[RotaRecord], int]:
    """A page of rotas ordered by name, and how many there are in all."""
    total = session.scalar(select(func.count()).select_from(RotaRecord)) or 0
    query = select(RotaRecord).order_by(RotaRecord.name, RotaRecord.id).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query).all()), total


def revise(session: Session, record: RotaRecord, changes: dict[str, Any]) -> Rota:
    """The rota `record` becomes with `changes` (any of the rota's fields), checked: a valid
    rota whose members are active staff and whose new name, if it has one, is free."""
    current = to_rota(record)
    merged: dict[str, Any] = {
        "name": current.name,
        "timezone": current.timezone,
        "members": current.members,
        "shift_length": current.shift_length,
        "first_handoff": current.first_handoff,
        "coverage": current.coverage,
    }
    for name in ROTA_FIELDS:
        if name in changes:
            value = changes[name]
            merged[name] = tuple(value) if name in ("members", "coverage") and value else value
    with _validated():
        rota = Rota(**merged)
    if "members" in changes:
        _check_active_staff(session, rota.members, "members")
    if rota.name != record.name:
        _refuse_name_taken(session, rota.name)
    return rota


def save_revision(
    session: Session, record: RotaRecord, rota: Rota, *, actor: str, now: dt.datetime
) -> RotaRecord:
    """Store `rota` (as `revise` made and checked it) as `record`'s new state, audited."""
    before = describe(record)
    # Old member and window rows go first: rewriting them in place could briefly hold the
    # same member twice, which the unique constraint (rightly) refuses mid-update.
    record.member_rows.clear()
    record.coverage_rows.clear()
    session.flush()
    _write(record, rota, now=now)
    kept = len(record.revision_rows)
    for revision in rota.history[kept:]:
        earlier = revision.definition
        record.revision_rows.append(
            RotaRevisionRecord(
                ends_at=revision.until,
                timezone=earlier.timezone,
                shift_length=earlier.shift_length,
                first_handoff=earlier.first_handoff.isoformat(),
                members=list(earlier.members),
                coverage=None
                if earlier.coverage is None
                else [
                    [w.start_day, w.start_time.isoformat(), w.end_day, w.end_time.isoformat()]
                    for w in earlier.coverage
                ],
                created_by=actor,
                created_at=now,
            )
        )
    session.flush()
    after = describe(record)
    audit.record(
        session,
        actor=actor,
        action="update",
        record_type="rota",
        record_id=record.id,
        at=now,
        changes={
            **{k: [before[k], after[k]] for k in after if before[k] != after[k]},
            **(
                {"effective_from": rota.history[-1].until.isoformat()}
                if len(rota.history) > kept
                else {}
            ),
        },
    )
    return record


def delete_rota(session: Session, rota_id: int, *, actor: str, now: dt.datetime) -> None:
    """Delete a rota with its overrides and calendar feeds; the audit log keeps what it was."""
    record = get(session, rota_id)
    described = describe(record)
    session.execute(
        delete(CalendarFeedToken).where(
            CalendarFeedToken.kind == CalendarFeedKind.ROTA, CalendarFeedToken.target_id == rota_id
        )
    )
    session.execute(delete(RotaOverride).where(RotaOverride.rota_id == rota_id))
    session.delete(record)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="delete",
        record_type="rota",
        record_id=rota_id,
        at=now,
        changes=described,
    )


def add_override(
    session: Session, rota_id: int, new: NewOverride, *, actor: str, now: dt.datetime
) -> RotaOverride:
    """Enter an override on a rota; the person it puts on call must be active staff."""
    get(session, rota_id)
    with _validated():
        # Built once only to validate (end after start, mode, staff with 'add').
        Override(
            id=0,
            start=new.start,
            end=new.end,
            staff_id=new.staff_id,
            mode=cast(OverrideMode, new.mode),  # Override itself checks it
            reason=new.reason,
        )
    if new.staff_id is not None:
        _check_active_staff(session, [new.staff_id], "staff_id")
    row = RotaOverride(
        rota_id=rota_id,
        staff_id=new.staff_id,
        starts_at=new.start,
        ends_at=new.end,
        mode=RotaOverrideMode(new.mode),
        reason=new.reason,
        created_by=actor,
        created_at=now,
    )
    session.add(row)
    # Raise the rota's bound on override length in the same transaction, atomically, so a
    # reader that sees this override also sees a bound long enough to find it.
    seconds = math.ceil((new.end - new.start).total_seconds())
    session.execute(
        update(RotaRecord)
        .where(RotaRecord.id == rota_id, RotaRecord.longest_override_seconds < seconds)
        .values(longest_override_seconds=seconds)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        record_type="rota_override",
        record_id=row.id,
        at=now,
        changes=_describe_override(row),
    )
    return row


def list_overrides(
    session: Session,
    rota_id: int,
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[RotaOverride], int]:
    """A page of a rota's overrides by start, optionally only those meeting [start, end)."""
    get(session, rota_id)
    query = select(RotaOverride).where(RotaOverride.rota_id == rota_id)
    if start is not None:
        query = query.where(RotaOverride.ends_at > start)
    if end is not None:
        query = query.where(RotaOverride.starts_at < end)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(RotaOverride.starts_at, RotaOverride.id).offset(offset).limit(limit)
    ).all()
    return list(rows), total


def delete_override(
    session: Session, rota_id: int, override_id: int, *, actor: str, now: dt.datetime
) -> RotaOverride:
    """Remove an override, and give back the row removed; the audit log keeps what it was."""
    row = session.get(RotaOverride, override_id)
    if row is None or row.rota_id != rota_id:
        raise NotFound(f"Rota {rota_id} has no override with id {override_id}.")
    described = _describe_override(row)
    session.delete(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="delete",
        record_type="rota_override",
        record_id=override_id,
        at=now,
        changes=described,
    )
    return row


def overrides_meeting(
    session: Session, rota_id: int, start: dt.datetime, end: dt.datetime
) -> list[Override]:
    """The rota's overrides that overlap [start, end), found by an index range scan."""
    while True:
        longest = _longest_override(session, rota_id)
        span = dt.timedelta(seconds=longest)
        lower = start - span if start - _EARLIEST > span else _EARLIEST
        rows = session.scalars(overlapping_overrides_query(rota_id, lower, start, end)).all()
        # A longer override committed between the two reads would be invisible to the
        # bound used; read the bound again and retry in that (rare) case.
        if _longest_override(session, rota_id) <= longest:
            return [to_override(row) for row in rows]


def overlapping_overrides_query(
    rota_id: int, lower: dt.datetime, start: dt.datetime, end: dt.datetime
) -> Select[RotaOverride]:
    """Overrides of the rota starting in [lower, end) and ending after start, by id."""
    return (
        select(RotaOverride)
        .where(
            RotaOverride.rota_id == rota_id,
            # The bounded range on starts_at is what the (rota_id, starts_at) index serves;
            # ends_at > start then drops the few in that range that finished earlier.
            RotaOverride.starts_at >= lower,
            RotaOverride.starts_at < end,
            RotaOverride.ends_at > start,
        )
        .order_by(RotaOverride.id)
    )


def on_call(session: Session, rota_id: int, at: dt.datetime) -> OnCall:
    """Who is on call for the rota at `at`, since when, until when and why."""
    record = get(session, rota_id)
    rota = to_rota(record)
    with _validated():
        turn = rotation_shift_at(rota, at)
        # The answer never spans a handoff, so only overrides meeting this turn matter.
        overrides = overrides_meeting(session, rota_id, turn.start, turn.end)
        shift = on_call_at(rota, overrides, at)
    people = staff_by_id(session, shift.staff_ids)
    return OnCall(rota=record, shift=shift, staff=[people[i] for i in shift.staff_ids])


def shifts(session: Session, rota_id: int, start: dt.datetime, end: dt.datetime) -> RotaShifts:
    """The rota's on-call periods tiling [start, end), overrides applied."""
    check_window(start, end)
    record = get(session, rota_id)
    rota = to_rota(record)
    with _validated():
        overrides = overrides_meeting(session, rota_id, start, end)
        periods = shifts_between(rota, overrides, start, end)
    ids = {staff_id for period in periods for staff_id in period.staff_ids}
    ids.update(p.scheduled_staff_id for p in periods if p.scheduled_staff_id is not None)
    return RotaShifts(rota=record, shifts=periods, staff=staff_by_id(session, ids))


def gaps(session: Session, start: dt.datetime, end: dt.datetime) -> list[RotaGap]:
    """Periods in [start, end), across all rotas, inside coverage with nobody usable on call."""
    check_window(start, end)
    records, _ = list_rotas(session)
    pairs: list[tuple[Rota, Sequence[Override]]] = []
    by_name: dict[str, RotaRecord] = {}
    with _validated():
        for record in records:
            pairs.append((to_rota(record), overrides_meeting(session, record.id, start, end)))
            by_name[record.name] = record
    ids = {staff_id for rota, overrides in pairs for staff_id in rota.members}
    ids.update(o.staff_id for _, overrides in pairs for o in overrides if o.staff_id is not None)
    people = staff_by_id(session, ids)

    def is_usable(staff_id: int) -> bool:
        # Someone who has left, or whose phone cannot be rung, cannot answer a crisis call.
        person = people.get(staff_id)
        return person is not None and person.active and bool(person.phone)

    with _validated():
        found = gaps_between(pairs, start, end, is_usable)
    return [
        RotaGap(
            rota=by_name[gap.rota_name],
            gap=gap,
            staff=[people[i] for i in gap.staff_ids if i in people],
        )
        for gap in found
    ]


def check_window(start: dt.datetime, end: dt.datetime) -> None:
    """Refuse a query window that is empty, backwards or longer than MAX_QUERY_WINDOW."""
    if end <= start:
        raise InvalidInput("to: must be after from.", "to")
    if end - start > MAX_QUERY_WINDOW:
        raise InvalidInput(
            f"to: the window may be at most {MAX_QUERY_WINDOW.days} days; ask in pieces.", "to"
        )


def staff_by_id(session: Session, ids: Sequence[int] | set[int]) -> dict[int, Staff]:
    """The staff records with these ids, by id."""
    if not ids:
        return {}
    # Roles are loaded only if asked for: on-call answers (every call) need names and phones.
    rows = session.scalars(
        select(Staff).where(Staff.id.in_(set(ids))).options(lazyload(Staff.role_rows))
    ).all()
    return {row.id: row for row in rows}


def _longest_override(session: Session, rota_id: int) -> int:
    return (
        session.scalar(select(RotaRecord.longest_override_seconds).where(RotaRecord.id == rota_id))
        or 0
    )


def _write(record: RotaRecord, rota: Rota, *, now: dt.datetime) -> None:
    record.name = rota.name
    record.timezone = rota.timezone
    record.shift_length = rota.shift_length
    record.first_handoff = rota.first_handoff.isoformat()
    record.updated_at = now
    record.member_rows = [
        RotaMember(position=i, staff_id=staff_id) for i, staff_id in enumerate(rota.members)
    ]
    record.coverage_rows = [
        RotaCoverageWindow(
            position=i,
            start_day=window.start_day,
            start_time=window.start_time,
            end_day=window.end_day,
            end_time=window.end_time,
        )
        for i, window in enumerate(rota.coverage or ())
    ]


def _check_active_staff(session: Session, ids: Sequence[int], field: str) -> None:
    people = staff_by_id(session, list(ids))
    for staff_id in ids:
        person = people.get(staff_id)
        if person is None:
            raise InvalidInput(f"{field}: there is no member of staff with id {staff_id}.", field)
        if not person.active:
            raise InvalidInput(
                f"{field}: {person.name} (staff {staff_id}) is inactive and cannot be on call.",
                field,
            )


# Paths name a rota by id or by name (/rotas/7, /rotas/primary): a name of digits alone would
# read as an id, and `gaps` is the path of the gaps list.
RESERVED_NAMES: Final = frozenset({"gaps"})


def _refuse_name_read_as_something_else(name: str) -> None:
    if name.isascii() and name.isdigit():
        raise InvalidInput(
            f"name: {name!r} is digits alone, which a path reads as a rota's id; "
            f"add a letter (e.g. 'rota {name}').",
            "name",
        )
    if name.strip().lower() in RESERVED_NAMES or "/" in name:
        raise InvalidInput(
            f"name: {name!r} cannot name a rota in a path (it is taken, or holds /); "
            "choose another.",
            "name",
        )


def _refuse_name_taken(session: Session, name: str) -> None:
    _refuse_name_read_as_something_else(name)
    holder = session.scalars(select(RotaRecord).where(RotaRecord.name == name)).first()
    if holder is not None:
        raise Conflict(f"There is already a rota called {name!r} (id {holder.id}).", "name")


def _describe_override(row: RotaOverride) -> dict[str, Any]:
    return {
        "rota_id": row.rota_id,
        "staff_id": row.staff_id,
        "start": row.starts_at.isoformat(),
        "end": row.ends_at.isoformat(),
        "mode": row.mode.value,
        "reason": row.reason,
    }
