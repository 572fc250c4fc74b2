"""Notices to staff about the rota: shift reminders, changed shifts and gap warnings.

- Before each on-call shift starts (one hour by default) its staff get a reminder.
- When an override changes anyone's future on-call time, they are told what changed.
- Every morning the duty managers hear about gaps in the next 14 days, and at once when a
  change opens a gap in the next 48 hours.

Each notice is a `StaffNotice` row keyed by what it is about, so it is sent exactly once
however often the jobs run. Rota changes run inside the change's own transaction and only
record pending notices; the scheduler sends them within seconds (it knows the line's number,
and a failure here must never refuse the change itself).
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from collections.abc import Iterable, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

import wording.staff
from crisisline import outbox, rota_service
from crisisline.db import Database
from crisisline.escalation_models import StaffNotice
from crisisline.models import Staff
from crisisline.rota_models import RotaOverride, RotaRecord
from crisisline.staff import duty_managers
from rotas import OnCallShift, Override, Rota, gaps_between, shifts_between

log = logging.getLogger(__name__)

REMINDER = "shift_reminder"
CHANGED = "shift_changed"
GAPS_DAILY = "gap_warning_daily"
GAP_NEW = "gap_warning_new"

DEFAULT_REMINDER_LEAD = dt.timedelta(hours=1)
GAP_LOOKAHEAD = dt.timedelta(days=14)
URGENT_GAP_WINDOW = dt.timedelta(hours=48)
CHANGE_HORIZON = dt.timedelta(days=90)  # as far ahead as the rota questions answer
DAILY_GAP_HOUR = 8  # local time of the daily gap warning, before the 09:00 handoffs

Interval = tuple[dt.datetime, dt.datetime]


def when_text(instant: dt.datetime, zone: ZoneInfo) -> str:
    """A local time as staff read it; in the hour that happens twice, with its zone (BST/GMT)."""
    local = instant.astimezone(zone)
    other = local.replace(fold=1 - local.fold)
    repeated = other.utcoffset() != local.utcoffset()
    marker = f" {local:%Z}" if repeated else ""
    return f"{local:%H:%M}{marker} {local:%a} {local.day} {local:%b}"


def _span(interval: Interval, zone: ZoneInfo) -> str:
    return f"{when_text(interval[0], zone)} to {when_text(interval[1], zone)}"


def reminder_text(rota_name: str, start: dt.datetime, zone: ZoneInfo) -> str:
    """To someone whose on-call time on a rota starts soon."""
    return (
        f"{wording.staff.SERVICE}: reminder, you are on call for {wording.staff.plain(rota_name)} "
        f"from {when_text(start, zone)}."
    )


def daily_gaps_text(count: int, rota_name: str, first: Interval, zone: ZoneInfo) -> str:
    """The daily warning to duty managers: how many gaps in the next 14 days, and the first."""
    gaps, them = ("1 gap", "it") if count == 1 else (f"{count} gaps", "them")
    return (
        f"{wording.staff.SERVICE}: {gaps} in the on-call rota in the next 14 days. First: "
        f"{wording.staff.plain(rota_name)} {_span(first, zone)}. Please fill {them}."
    )


def rota_changed_text(
    rota_name: str, gained: Sequence[Interval], lost: Sequence[Interval], zone: ZoneInfo
) -> str:
    """To someone whose future on-call time a rota change moved: what they gained and lost."""
    parts = []
    if gained:
        parts.append("you are now on call " + _spans(gained, zone))
    if lost:
        parts.append("you are no longer on call " + _spans(lost, zone))
    return (
        f"{wording.staff.SERVICE}: rota {wording.staff.plain(rota_name)} changed: "
        + "; ".join(parts)
        + "."
    )


def new_gap_text(rota_name: str, opened: Sequence[Interval], why: str, zone: ZoneInfo) -> str:
    """To the duty managers at once: a change opened a gap in the next 48 hours."""
    return (
        f"URGENT {wording.staff.SERVICE}: nobody is on call for {wording.staff.plain(rota_name)} "
        f"{_spans(opened, zone)} {why}. Please fill the gap."
    )


def _record(
    session: Session,
    *,
    kind: str,
    key: str,
    staff_id: int | None,
    body: str | None,
    now: dt.datetime,
    sent: bool,
) -> bool:
    """Write the notice unless it exists; False if it was already recorded."""
    exists = session.scalars(
        select(StaffNotice.id).where(StaffNotice.kind == kind, StaffNotice.key == key)
    ).first()
    if exists is not None:
        return False
    session.add(
        StaffNotice(
            kind=kind,
            key=key,
            staff_id=staff_id,
            body=body,
            created_at=now,
            sent_at=now if sent else None,
        )
    )
    session.flush()
    return True


def _send(session: Session, person: Staff, body: str, *, from_: str, now: dt.datetime) -> None:
    outbox.enqueue_sms(
        session, to=person.phone, from_=from_, body=body, purpose="rota_notice", now=now
    )


def _reachable(person: Staff | None) -> bool:
    return person is not None and person.active and bool(person.phone)


# ---- reminders before a shift ---------------------------------------------------------------


def send_shift_reminders(
    db: Database,
    now: dt.datetime,
    *,
    from_: str,
    lead: dt.timedelta = DEFAULT_REMINDER_LEAD,
) -> int:
    """Remind everyone whose on-call time starts within `lead` of `now`, once per shift."""
    sent = 0
    with db.transaction() as session:
        records, _ = rota_service.list_rotas(session)
        for record in records:
            zone = ZoneInfo(record.timezone)
            found = rota_service.shifts(session, record.id, now, now + lead).shifts
            # The first period is the one already running at `now`: nobody is reminded of a
            # shift they are on. Each later period reminds only those not on call just before
            # it (someone carried on by an added override is not starting anything).
            for before, period in itertools.pairwise(found):
                for staff_id in sorted(set(period.staff_ids) - set(before.staff_ids)):
                    person = session.get(Staff, staff_id)
                    if not _reachable(person):
                        continue
                    assert person is not None
                    body = reminder_text(record.name, period.start, zone)
                    key = f"{record.id}:{period.start.astimezone(dt.UTC).isoformat()}:{staff_id}"
                    if _record(
                        session,
                        kind=REMINDER,
                        key=key,
                        staff_id=staff_id,
                        body=body,
                        now=now,
                        sent=True,
                    ):
                        _send(session, person, body, from_=from_, now=now)
                        sent += 1
    return sent


# ---- gap warnings ----------------------------------------------------------------------------


def send_daily_gap_warning(db: Database, now: dt.datetime, *, from_: str, zone: ZoneInfo) -> int:
    """Once a day from DAILY_GAP_HOUR local time: tell the duty managers about gaps ahead."""
    local = now.astimezone(zone)
    if local.hour < DAILY_GAP_HOUR:
        return 0
    with db.transaction() as session:
        found = rota_service.gaps(session, now, now + GAP_LOOKAHEAD)
        body = None
        if found:
            first = min(found, key=lambda g: g.gap.start)
            span = (first.gap.start, first.gap.end)
            body = daily_gaps_text(len(found), first.rota.name, span, zone)
        # One row marks the day done, gaps or not: no gaps means no message (no daily nag).
        if not _record(
            session,
            kind=GAPS_DAILY,
            key=local.date().isoformat(),
            staff_id=None,
            body=body,
            now=now,
            sent=True,
        ):
            return 0
        if body is None:
            return 0
        managers = duty_managers(session)
        if not managers:
            log.error("rota gaps ahead and no active duty manager to tell")
        for manager in managers:
            _send(session, manager, body, from_=from_, now=now)
        return len(managers)


# ---- rota changes ----------------------------------------------------------------------------


def override_added(session: Session, row: RotaOverride, *, actor: str, now: dt.datetime) -> None:
    """Record notices for everyone an override just entered moves (in its transaction)."""
    _changed(session, row, added=True, actor=actor, now=now)


def override_removed(session: Session, row: RotaOverride, *, actor: str, now: dt.datetime) -> None:
    """Record notices for everyone an override just deleted moves (in its transaction)."""
    _changed(session, row, added=False, actor=actor, now=now)


def _changed(
    session: Session, row: RotaOverride, *, added: bool, actor: str, now: dt.datetime
) -> None:
    try:
        # A savepoint: if working out the notices fails, the change itself still stands.
        with session.begin_nested():
            _record_change_notices(session, row, added=added, actor=actor, now=now)
    except Exception:
        log.exception("rota %s: could not work out who an override change moves", row.rota_id)


def _record_change_notices(
    session: Session, row: RotaOverride, *, added: bool, actor: str, now: dt.datetime
) -> None:
    changed = rota_service.to_override(row)
    start, end = max(changed.start, now), min(changed.end, now + CHANGE_HORIZON)
    if end <= start:
        return  # all in the past: nobody's future changed
    record = rota_service.get(session, row.rota_id)
    rota = rota_service.to_rota(record)
    current = rota_service.overrides_meeting(session, record.id, start, end)
    others = [o for o in current if o.id != changed.id]
    with_it = sorted([*others, changed], key=lambda o: o.id)
    before, after = (others, with_it) if added else (with_it, others)
    what = "entered" if added else "removed"
    _record_moves(
        session,
        name=record.name,
        zone=ZoneInfo(record.timezone),
        before=(rota, before),
        after=(rota, after),
        start=start,
        end=end,
        tag=f"override:{changed.id}:{what}",
        why=f"after a change by {wording.staff.plain(actor)[:40]}",
        now=now,
    )


def rota_edited(
    session: Session, record: RotaRecord, old: Rota, *, actor: str, now: dt.datetime
) -> None:
    """Record notices for everyone an edit of the rota itself (members, times) moves."""
    try:
        with session.begin_nested():
            new = rota_service.to_rota(record)
            end = now + CHANGE_HORIZON
            overrides = rota_service.overrides_meeting(session, record.id, now, end)
            _record_moves(
                session,
                name=record.name,
                zone=ZoneInfo(record.timezone),
                before=(old, overrides),
                after=(new, overrides),
                start=now,
                end=end,
                tag=f"rota:{record.id}:edited:{now.isoformat()}",
                why=f"after a change by {wording.staff.plain(actor)[:40]}",
                now=now,
            )
    except Exception:
        log.exception("rota %s: could not work out who an edit moves", record.id)


def _record_moves(
    session: Session,
    *,
    name: str,
    zone: ZoneInfo,
    before: tuple[Rota, Sequence[Override]],
    after: tuple[Rota, Sequence[Override]],
    start: dt.datetime,
    end: dt.datetime,
    tag: str,
    why: str,
    now: dt.datetime,
) -> None:
    """Tell each person whose future shifts differ; warn the duty managers of new gaps < 48 h."""
    old = _on_call_intervals(shifts_between(before[0], before[1], start, end))
    new = _on_call_intervals(shifts_between(after[0], after[1], start, end))
    for staff_id in sorted(set(old) | set(new)):
        gained = _minus(new.get(staff_id, []), old.get(staff_id, []))
        lost = _minus(old.get(staff_id, []), new.get(staff_id, []))
        person = session.get(Staff, staff_id)
        if not (gained or lost) or not _reachable(person):
            continue
        body = rota_changed_text(name, gained, lost, zone)
        _record(
            session,
            kind=CHANGED,
            key=f"{tag}:{staff_id}",
            staff_id=staff_id,
            body=body,
            now=now,
            sent=False,
        )

    urgent_end = min(end, now + URGENT_GAP_WINDOW)
    if urgent_end <= start:
        return
    everyone = {
        *before[0].members,
        *after[0].members,
        *_override_staff([*before[1], *after[1]]),
    }
    people = rota_service.staff_by_id(session, everyone)

    def usable(staff_id: int) -> bool:
        return _reachable(people.get(staff_id))

    gaps_before = [(g.start, g.end) for g in gaps_between([before], start, urgent_end, usable)]
    gaps_after = [(g.start, g.end) for g in gaps_between([after], start, urgent_end, usable)]
    opened = _minus(_merge(gaps_after), _merge(gaps_before))
    if not opened:
        return
    body = new_gap_text(name, opened, why, zone)
    managers = duty_managers(session)
    if not managers:
        log.error("rota %s: a change opened a gap and no duty manager is active", name)
    for manager in managers:
        _record(
            session,
            kind=GAP_NEW,
            key=f"{tag}:{manager.id}",
            staff_id=manager.id,
            body=body,
            now=now,
            sent=False,
        )


def send_pending_notices(db: Database, now: dt.datetime, *, from_: str) -> int:
    """Send the notices rota changes recorded; each exactly once."""
    sent = 0
    with db.transaction() as session:
        pending = session.scalars(
            select(StaffNotice)
            .where(StaffNotice.sent_at.is_(None))
            .order_by(StaffNotice.id)
            .limit(100)
        ).all()
        for notice in pending:
            notice.sent_at = now
            person = session.get(Staff, notice.staff_id) if notice.staff_id else None
            if notice.body is None or person is None or not _reachable(person):
                continue
            _send(session, person, notice.body, from_=from_, now=now)
            sent += 1
    return sent


# ---- interval arithmetic ---------------------------------------------------------------------


def _override_staff(overrides: Iterable[Override]) -> set[int]:
    return {o.staff_id for o in overrides if o.staff_id is not None}


def _on_call_intervals(periods: Iterable[OnCallShift]) -> dict[int, list[Interval]]:
    by_staff: dict[int, list[Interval]] = {}
    for period in periods:
        for staff_id in period.staff_ids:
            by_staff.setdefault(staff_id, []).append((period.start, period.end))
    return {staff_id: _merge(spans) for staff_id, spans in by_staff.items()}


def _merge(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _minus(these: Sequence[Interval], those: Sequence[Interval]) -> list[Interval]:
    """The parts of `these` not covered by `those` (both merged and sorted)."""
    left: list[Interval] = []
    for start, end in these:
        cursor = start
        for other_start, other_end in those:
            if other_end <= cursor or other_start >= end:
                continue
            if other_start > cursor:
                left.append((cursor, other_start))
            cursor = max(cursor, other_end)
        if cursor < end:
            left.append((cursor, end))
    return left


def _spans(intervals: Sequence[Interval], zone: ZoneInfo) -> str:
    text = _span(intervals[0], zone)
    if len(intervals) > 1:
        text += f" and {len(intervals) - 1} more period{'s' if len(intervals) > 2 else ''}"
    return text


def staff_deactivated(session: Session, person: Staff, *, actor: str, now: dt.datetime) -> None:
    """Warn the duty managers at once if deactivating `person` opens a gap in the next 48 h."""
    try:
        with session.begin_nested():
            _record_deactivation_gaps(session, person, actor=actor, now=now)
    except Exception:
        log.exception("staff %s: could not work out the gaps a deactivation opens", person.id)


def _record_deactivation_gaps(
    session: Session, person: Staff, *, actor: str, now: dt.datetime
) -> None:
    end = now + URGENT_GAP_WINDOW
    records, _ = rota_service.list_rotas(session)
    for record in records:
        rota = rota_service.to_rota(record)
        overrides = rota_service.overrides_meeting(session, record.id, now, end)
        involved = {*rota.members, *_override_staff(overrides)}
        if person.id not in involved:
            continue
        people = rota_service.staff_by_id(session, involved)

        def usable_before(staff_id: int, people: dict[int, Staff] = people) -> bool:
            return staff_id == person.id or _reachable(people.get(staff_id))

        def usable_after(staff_id: int, people: dict[int, Staff] = people) -> bool:
            return staff_id != person.id and _reachable(people.get(staff_id))

        before = [
            (g.start, g.end) for g in gaps_between([(rota, overrides)], now, end, usable_before)
        ]
        after = [
            (g.start, g.end) for g in gaps_between([(rota, overrides)], now, end, usable_after)
        ]
        opened = _minus(_merge(after), _merge(before))
        if not opened:
            continue
        zone = ZoneInfo(record.timezone)
        why = f"after {wording.staff.plain(person.name)[:40]} was deactivated"
        body = new_gap_text(record.name, opened, why, zone)
        managers = [m for m in duty_managers(session) if m.id != person.id]
        if not managers:
            log.error(
                "rota %s: a deactivation opened a gap and no duty manager is active", record.id
            )
        for manager in managers:
            _record(
                session,
                kind=GAP_NEW,
                key=f"deactivated:{person.id}:{record.id}:{now.isoformat()}:{manager.id}",
                staff_id=manager.id,
                body=body,
                now=now,
                sent=False,
            )
