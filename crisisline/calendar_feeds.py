"""iCalendar (RFC 5545) subscription feeds of on-call shifts, per rota and per member of staff:
their tokens and the calendars they show (crisisline.feeds serves them).

A feed URL carries an unguessable token (only its SHA-256 hash is stored) because calendar apps
cannot send an Authorization header. Each shift has a UID derived from the rota, the rotation
turn and the shift's start, so a calendar app that refreshes the feed updates the shifts it has
instead of adding copies.
"""

from __future__ import annotations

import datetime as dt
import secrets

from icalendar import Calendar, Event
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from crisisline import audit, tokens
from crisisline import rota_service as service
from crisisline import staff as staff_service
from crisisline.models import Staff
from crisisline.rota_models import CalendarFeedKind, CalendarFeedToken, RotaRecord
from rotas import OnCallShift, rotation_shift_at, shifts_between

FEED_PAST = dt.timedelta(days=7)
FEED_AHEAD = dt.timedelta(days=60)
TOKEN_PREFIX = "cal_"  # noqa: S105  (a label that makes leaked feed links easy to spot)
PRODID = "-//Resettle//Crisis line on-call rotas//EN"


def create_token(
    session: Session, kind: CalendarFeedKind, target_id: int, *, actor: str, now: dt.datetime
) -> str:
    """A new feed token for a rota or a member of staff; earlier tokens for it stop working."""
    if kind == CalendarFeedKind.ROTA:
        service.get(session, target_id)
    else:
        staff_service.get(session, target_id)
    # One live link per feed: making a new one is how a leaked link is withdrawn.
    session.execute(
        delete(CalendarFeedToken).where(
            CalendarFeedToken.kind == kind, CalendarFeedToken.target_id == target_id
        )
    )
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = CalendarFeedToken(
        kind=kind,
        target_id=target_id,
        token_hash=tokens.hash_token(plaintext),
        created_by=actor,
        created_at=now,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        record_type="calendar_feed_token",
        record_id=row.id,
        at=now,
        changes={"kind": kind.value, "target_id": target_id},
    )
    return plaintext


def feed_path(kind: CalendarFeedKind, token: str) -> str:
    """The path of the feed that `token` opens."""
    collection = "rotas" if kind == CalendarFeedKind.ROTA else "staff"
    return f"/calendar/{collection}/{token}.ics"


def find_token(
    session: Session, kind: CalendarFeedKind, plaintext: str, *, now: dt.datetime
) -> CalendarFeedToken | None:
    """The live token of this kind matching `plaintext`, or None; records its use."""
    row = session.scalars(
        select(CalendarFeedToken).where(
            CalendarFeedToken.token_hash == tokens.hash_token(plaintext),
            CalendarFeedToken.kind == kind,
        )
    ).first()
    if row is not None and row.kind == CalendarFeedKind.STAFF:
        person = session.get(Staff, row.target_id)
        if person is None or not person.active:
            return None  # a leaver's (or a lost phone's) link shows nothing
    if row is not None:
        row.last_used_at = now
    return row


def rota_calendar(session: Session, rota_id: int, *, now: dt.datetime, host: str) -> Calendar:
    """The rota's shifts with someone on call, a week back to two months ahead."""
    record = service.get(session, rota_id)
    calendar = _calendar(f"On call: {record.name}")
    shifts = _feed_shifts(session, record, now)
    people = service.staff_by_id(session, _named(shifts))
    for shift in shifts:
        # Only people who can be reached cover a shift: an inactive member's turn is a gap,
        # and the calendar must say so rather than look covered.
        names = " + ".join(
            people[i].name
            for i in shift.staff_ids
            if i in people and people[i].active and people[i].phone
        )
        event = _event(
            uid=f"rota-{record.id}-turn-{shift.rotation_index}-{_stamp(shift.start)}@{host}",
            shift=shift,
            summary=f"{record.name}: {names or 'GAP (nobody on call)'}",
            description=_description(record, shift, people),
            now=now,
        )
        calendar.add_component(event)
    return calendar


def staff_calendar(session: Session, staff_id: int, *, now: dt.datetime, host: str) -> Calendar:
    """One person's on-call shifts across every rota, a week back to two months ahead."""
    person = staff_service.get(session, staff_id)
    calendar = _calendar(f"On call: {person.name}")
    records, _ = service.list_rotas(session)
    for record in records:
        shifts = [s for s in _feed_shifts(session, record, now) if staff_id in s.staff_ids]
        people = service.staff_by_id(session, _named(shifts))
        for shift in shifts:
            others = [people[i].name for i in shift.staff_ids if i != staff_id and i in people]
            summary = f"On call: {record.name}" + (f" with {', '.join(others)}" if others else "")
            event = _event(
                uid=(
                    f"staff-{staff_id}-rota-{record.id}-turn-{shift.rotation_index}"
                    f"-{_stamp(shift.start)}@{host}"
                ),
                shift=shift,
                summary=summary,
                description=_description(record, shift, people),
                now=now,
            )
            calendar.add_component(event)
    return calendar


def _feed_shifts(session: Session, record: RotaRecord, now: dt.datetime) -> list[OnCallShift]:
    rota = service.to_rota(record)
    # Widened to whole rotation turns so that the first and last shifts are never cut short
    # by the window's edges (which would change their times on every refresh).
    start = rotation_shift_at(rota, now - FEED_PAST).start
    end = rotation_shift_at(rota, now + FEED_AHEAD).end
    overrides = service.overrides_meeting(session, record.id, start, end)
    return [s for s in shifts_between(rota, overrides, start, end) if s.staff_ids]


def _named(shifts: list[OnCallShift]) -> set[int]:
    ids = {staff_id for shift in shifts for staff_id in shift.staff_ids}
    ids.update(s.scheduled_staff_id for s in shifts if s.scheduled_staff_id is not None)
    return ids


def _calendar(name: str) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    # Ask subscribing apps to refresh hourly: a swap entered today should show up today.
    calendar.add("refresh-interval", dt.timedelta(hours=1), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT1H")
    return calendar


def _event(
    *, uid: str, shift: OnCallShift, summary: str, description: str, now: dt.datetime
) -> Event:
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", now)
    event.add("dtstart", shift.start)
    event.add("dtend", shift.end)
    event.add("summary", summary)
    event.add("description", description)
    event.add("transp", "OPAQUE")
    return event


def _description(record: RotaRecord, shift: OnCallShift, people: dict[int, Staff]) -> str:
    if shift.source == "override":
        scheduled = shift.scheduled_staff_id
        if scheduled is not None and scheduled not in shift.staff_ids:
            person = people.get(scheduled)
            covered = person.name if person is not None else f"staff {scheduled}"
            return f"Rota {record.name}, by override (covering for {covered})."
        return f"Rota {record.name}, by override."
    return f"Rota {record.name}, by rotation."


def _stamp(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
