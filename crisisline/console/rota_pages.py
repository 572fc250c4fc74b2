"""Rotas: each rota's calendar, overrides in local time, safe membership and shift-length
changes with a preview, and each worker's own shifts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from crisisline import calendar_feeds, rota_changes, rota_service, staff, staffing
from crisisline.console.common import blueprint, menu_item, person
from crisisline.errors import InvalidInput, NotFound
from crisisline.gate import requires
from crisisline.models import Staff
from crisisline.permissions import Extent, Permission
from crisisline.rota_models import CalendarFeedKind, CalendarFeedToken, RotaOverride, RotaRecord
from crisisline.services import services
from rotas import OnCallShift, RepeatedLocalTime, Rota, SkippedLocalTime, typed_local_to_utc

WEEKS_SHOWN = 4
_EARLIEST_WEEK = dt.date(1901, 1, 7)
_LATEST_WEEK = dt.date(8999, 12, 1)

menu_item("Rotas", "console.rotas", Permission.ROTAS_READ, order=40)
menu_item("My shifts", "console.my_shifts", Permission.SIGNED_IN, order=45)


@blueprint.app_template_filter("rota_when")
def rota_when(instant: dt.datetime, zone: ZoneInfo) -> str:
    """An instant on the rota's clock: "Sun 25 Oct 01:30"; in the repeated hour, with BST/GMT."""
    local = instant.astimezone(zone)
    other = local.replace(fold=1 - local.fold)
    marker = f" {local:%Z}" if other.utcoffset() != local.utcoffset() else ""
    return f"{local:%a} {local.day} {local:%b %H:%M}{marker}"


@blueprint.app_template_filter("rota_day")
def rota_day(instant: dt.datetime, zone: ZoneInfo) -> str:
    """The local date of an instant: "Mon 26 Oct"."""
    local = instant.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b}"


# ---- the rotas and their calendars ------------------------------------------------------------


@blueprint.get("/rotas")
@requires(Permission.ROTAS_READ)
def rotas() -> ResponseReturnValue:
    """Every rota, with a link to its calendar."""
    with services().db.transaction() as session:
        records, _ = rota_service.list_rotas(session)
        people = rota_service.staff_by_id(session, {i for r in records for i in r.members})
        rows = [
            {
                "record": record,
                "members": [people[i].name for i in record.members if i in people],
            }
            for record in records
        ]
        return render_template("rota_list.html", rows=rows)


@dataclass
class CalendarRow:
    """One on-call period as the calendar shows it."""

    shift: OnCallShift
    names: list[str]
    gap: bool
    overrides: list[RotaOverride] = field(default_factory=list)
    now: bool = False


@blueprint.get("/rotas/<int:rota_id>")
@requires(Permission.ROTAS_READ)
def rota_calendar(rota_id: int) -> ResponseReturnValue:
    """Four weeks of the rota from the week asked for (this week by default), in local time."""
    svc = services()
    now = svc.clock.now()
    with svc.db.transaction() as session:
        record = rota_service.get(session, rota_id)
        rota = rota_service.to_rota(record)
        first = _week_asked(rota, now)
        start = rota_service.local_instant(first, rota)
        end = rota_service.local_instant(first + dt.timedelta(weeks=WEEKS_SHOWN), rota)
        found = rota_service.shifts(session, rota_id, start, end)
        override_rows = _overrides(session, found.shifts)
        weeks = []
        for week in range(WEEKS_SHOWN):
            monday = first + dt.timedelta(weeks=week)
            week_start = rota_service.local_instant(monday, rota)
            week_end = rota_service.local_instant(monday + dt.timedelta(weeks=1), rota)
            rows = [
                _row(shift, found.staff, override_rows, now)
                for shift in found.shifts
                if week_start <= shift.start < week_end and shift.source != "outside_coverage"
            ]
            weeks.append({"monday": monday, "rows": rows})
        # Every override meeting these weeks, even one a later override hides entirely.
        listed, _ = rota_service.list_overrides(session, rota_id, start=start, end=end, limit=500)
        may_write = person().extent(Permission.ROTAS_WRITE) is Extent.ALL
        makers = _makers(session, [*override_rows.values(), *listed])
        return render_template(
            "rota_calendar.html",
            record=record,
            zone=rota.zone,
            weeks=weeks,
            overrides=listed,
            people={**found.staff, **_people(session, listed)},
            may_write=may_write,
            makers=makers,
            previous_week=(first - dt.timedelta(weeks=1)).date().isoformat(),
            next_week=(first + dt.timedelta(weeks=1)).date().isoformat(),
            this_week=_monday(rota, now),
            shown_monday=first,
        )


def _monday(rota: Rota, at: dt.datetime) -> dt.datetime:
    local = at.astimezone(rota.zone).replace(tzinfo=None)
    return dt.datetime(local.year, local.month, local.day) - dt.timedelta(days=local.weekday())


def _week_asked(rota: Rota, now: dt.datetime) -> dt.datetime:
    text = request.args.get("week")
    if not text:
        return _monday(rota, now)
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput("week: give a date as YYYY-MM-DD, e.g. 2026-10-26.", "week") from None
    if not _EARLIEST_WEEK <= day <= _LATEST_WEEK:
        raise InvalidInput("week: that date is out of the range a rota answers for.", "week")
    monday = day - dt.timedelta(days=day.weekday())
    return dt.datetime(monday.year, monday.month, monday.day)


def _overrides(session: Session, shifts: list[OnCallShift]) -> dict[int, RotaOverride]:
    ids = {i for shift in shifts for i in shift.override_ids}
    if not ids:
        return {}
    rows = session.scalars(select(RotaOverride).where(RotaOverride.id.in_(ids))).all()
    return {row.id: row for row in rows}


def _makers(session: Session, overrides: list[RotaOverride]) -> dict[str, str]:
    """Who made each override, by name where the audit label names a member of staff."""
    ids = {
        int(o.created_by.split(":", 1)[1])
        for o in overrides
        if o.created_by.startswith("staff:") and o.created_by.split(":", 1)[1].isdigit()
    }
    return {f"staff:{i}": p.name for i, p in rota_service.staff_by_id(session, ids).items()}


def _people(session: Session, overrides: list[RotaOverride]) -> dict[int, Staff]:
    return rota_service.staff_by_id(
        session, {o.staff_id for o in overrides if o.staff_id is not None}
    )


def _usable(person_: Staff | None) -> bool:
    return person_ is not None and person_.active and bool(person_.phone)


def _row(
    shift: OnCallShift,
    people: dict[int, Staff],
    overrides: dict[int, RotaOverride],
    now: dt.datetime,
) -> CalendarRow:
    return CalendarRow(
        shift=shift,
        names=[people[i].name if i in people else f"staff {i}" for i in shift.staff_ids],
        gap=not any(_usable(people.get(i)) for i in shift.staff_ids),
        overrides=[overrides[i] for i in shift.override_ids if i in overrides],
        now=shift.start <= now < shift.end,
    )


# ---- overrides --------------------------------------------------------------------------------


@blueprint.get("/rotas/<int:rota_id>/overrides/new")
@requires(Permission.ROTAS_WRITE)
def rota_override_new(rota_id: int) -> ResponseReturnValue:
    """The form for an override, in the rota's local wall-clock time."""
    with services().db.transaction() as session:
        record = rota_service.get(session, rota_id)
        return _override_form(session, record, {}, {})


def _override_form(
    session: Session,
    record: RotaRecord,
    form: dict[str, str],
    errors: dict[str, str],
    *,
    ambiguous: dict[str, tuple[str, str]] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    active, _ = staff.list_staff(session, active=True, limit=500)
    return (
        render_template(
            "rota_override.html",
            record=record,
            active=active,
            form=form,
            errors=errors,
            ambiguous=ambiguous or {},
        ),
        status,
    )


@blueprint.post("/rotas/<int:rota_id>/overrides")
@requires(Permission.ROTAS_WRITE)
def rota_override_create(rota_id: int) -> ResponseReturnValue:
    """Enter an override from local times; the people it moves are texted."""
    svc = services()
    now = svc.clock.now()
    form = {key: request.form.get(key, "").strip() for key in _OVERRIDE_FIELDS}
    with svc.db.transaction() as session:
        record = rota_service.get(session, rota_id)
        zone = ZoneInfo(record.timezone)
        errors: dict[str, str] = {}
        ambiguous: dict[str, tuple[str, str]] = {}
        staff_id: int | None = None
        if form["person"] == "nobody":
            staff_id = None
        elif form["person"].isdigit():
            staff_id = int(form["person"])
        else:
            errors["person"] = "Choose who is on call, or nobody."
        start = _local_instant(form, "start", zone, errors, ambiguous)
        end = _local_instant(form, "end", zone, errors, ambiguous)
        if not form["reason"]:
            errors["reason"] = "Say why (the people moved and the duty managers read it)."
        elif len(form["reason"]) > 500:
            errors["reason"] = "At most 500 characters."
        if start is not None and end is not None and end <= start:
            errors["end"] = "The end must be after the start."
        if errors or start is None or end is None:
            return _override_form(session, record, form, errors, ambiguous=ambiguous, status=422)
        new = rota_service.NewOverride(
            staff_id=staff_id, start=start, end=end, mode="replace", reason=form["reason"]
        )
        try:
            with session.begin_nested():
                staffing.add_override(session, rota_id, new, actor=person().label, now=now)
        except InvalidInput as exc:
            field_name = {"staff_id": "person", "start": "start", "end": "end"}.get(
                exc.field or "", "person"
            )
            errors[field_name] = exc.message.split(": ", 1)[-1]
            return _override_form(session, record, form, errors, status=422)
        week = start.astimezone(zone).date().isoformat()
    flash("Override saved; the people it moves will be texted.")
    return redirect(url_for("console.rota_calendar", rota_id=rota_id, week=week), code=303)


_OVERRIDE_FIELDS = (
    "person",
    "start_date",
    "start_time",
    "start_which",
    "end_date",
    "end_time",
    "end_which",
    "reason",
)


def _local_instant(
    form: dict[str, str],
    name: str,
    zone: ZoneInfo,
    errors: dict[str, str],
    ambiguous: dict[str, tuple[str, str]],
) -> dt.datetime | None:
    """The instant a date and time typed on the rota's clock mean, or None with the error."""
    try:
        day = dt.date.fromisoformat(form[f"{name}_date"])
    except ValueError:
        errors[name] = "Give the date (YYYY-MM-DD)."
        return None
    try:
        at = dt.time.fromisoformat(form[f"{name}_time"])
    except ValueError:
        errors[name] = "Give the time (HH:MM, 24-hour clock)."
        return None
    if not 1901 <= day.year < 8999:
        errors[name] = "That date is out of range."
        return None
    local = dt.datetime.combine(day, at.replace(tzinfo=None))
    try:
        return typed_local_to_utc(local, zone)
    except SkippedLocalTime:
        errors[name] = (
            f"{local:%H:%M} on {local:%a} {local.day} {local:%b} does not exist in {zone.key}: "
            "the clocks go forward over it. Choose a time before or after that hour."
        )
    except RepeatedLocalTime as repeated:
        first, second = repeated.instants
        labels = (_which_label(first, zone, "first"), _which_label(second, zone, "second"))
        ambiguous[name] = labels
        choice = form.get(f"{name}_which")
        if choice == "first":
            return first
        if choice == "second":
            return second
        errors[name] = (
            f"{local:%H:%M} on {local:%a} {local.day} {local:%b} happens twice "
            "(the clocks go back): choose which one."
        )
    return None


def _which_label(instant: dt.datetime, zone: ZoneInfo, which: str) -> str:
    local = instant.astimezone(zone)
    return f"{which} {local:%H:%M} ({local:%Z})"


@blueprint.post("/rotas/<int:rota_id>/overrides/<int:override_id>/remove")
@requires(Permission.ROTAS_WRITE)
def rota_override_remove(rota_id: int, override_id: int) -> ResponseReturnValue:
    """Remove an override once confirmed; the people its removal moves are texted."""
    svc = services()
    with svc.db.transaction() as session:
        record = rota_service.get(session, rota_id)
        row = session.get(RotaOverride, override_id)
        if row is None or row.rota_id != rota_id:
            raise NotFound(f"Rota {rota_id} has no override with id {override_id}.")
        if request.form.get("confirm") != "yes":
            return render_template(
                "rota_override_remove.html",
                record=record,
                row=row,
                zone=ZoneInfo(record.timezone),
                people=_people(session, [row]),
            )
        week = row.starts_at.astimezone(ZoneInfo(record.timezone)).date().isoformat()
        staffing.delete_override(
            session, rota_id, override_id, actor=person().label, now=svc.clock.now()
        )
    flash("Override removed; the people it moves will be texted.")
    return redirect(url_for("console.rota_calendar", rota_id=rota_id, week=week), code=303)


# ---- membership and shift-length changes -----------------------------------------------------


@blueprint.get("/rotas/<int:rota_id>/change")
@requires(Permission.ROTAS_WRITE)
def rota_change(rota_id: int) -> ResponseReturnValue:
    """The form for a change of members or shift length, applied from a chosen handoff."""
    svc = services()
    now = svc.clock.now()
    with svc.db.transaction() as session:
        record = rota_service.get(session, rota_id)
        rota = rota_service.to_rota(record)
        default = rota_changes.default_handoff(rota, now)
        form: dict[str, Any] = {
            "members": list(record.members),
            "shift_length": record.shift_length,
            "handoff": default.isoformat() if default else "",
        }
        return _change_form(session, record, rota, form, {}, now=now)


def _change_form(
    session: Session,
    record: RotaRecord,
    rota: Rota,
    form: dict[str, Any],
    errors: dict[str, str],
    *,
    now: dt.datetime,
    preview: rota_changes.Preview | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    active, _ = staff.list_staff(session, active=True, limit=500)
    names = {p.id: p.name for p in active}
    names.update({i: p.name for i, p in rota_service.staff_by_id(session, form["members"]).items()})
    return (
        render_template(
            "rota_change.html",
            record=record,
            zone=rota.zone,
            form=form,
            errors=errors,
            names=names,
            addable=[p for p in active if p.id not in form["members"]],
            choices=rota_changes.handoff_choices(rota, now),
            default=rota_changes.default_handoff(rota, now),
            preview=preview,
        ),
        status,
    )


@blueprint.post("/rotas/<int:rota_id>/change")
@requires(Permission.ROTAS_WRITE)
def rota_change_submit(rota_id: int) -> ResponseReturnValue:
    """Preview the change (what moves over the next four weeks) or apply it."""
    svc = services()
    now = svc.clock.now()
    with svc.db.transaction() as session:
        record = rota_service.get(session, rota_id)
        rota = rota_service.to_rota(record)
        errors: dict[str, str] = {}
        members = _members_from_form(record, errors)
        shift_length = request.form.get("shift_length", "").strip()
        form: dict[str, Any] = {
            "members": members,
            "shift_length": shift_length,
            "handoff": request.form.get("handoff", ""),
        }
        handoff: dt.datetime | None = None
        try:
            handoff = dt.datetime.fromisoformat(form["handoff"])
            if handoff.tzinfo is None:
                raise ValueError
        except ValueError:
            errors["handoff"] = "Choose the handoff the change applies from."
        if not members and "members" not in errors:
            errors["members"] = "A rota needs at least one member."
        if errors or handoff is None:
            return _change_form(session, record, rota, form, errors, now=now, status=422)
        changes = {"members": members, "shift_length": shift_length}
        try:
            if request.form.get("action") == "apply":
                with session.begin_nested():
                    rota_changes.apply(
                        session, rota_id, changes, handoff, actor=person().label, now=now
                    )
            else:
                shown = rota_changes.preview(session, rota_id, changes, handoff, now=now)
                return _change_form(session, record, rota, form, {}, now=now, preview=shown)
        except InvalidInput as exc:
            field_name = exc.field if exc.field in ("members", "shift_length") else "handoff"
            errors[field_name] = exc.message.split(": ", 1)[-1]
            return _change_form(session, record, rota, form, errors, now=now, status=422)
    when = handoff.astimezone(rota.zone)
    flash(
        f"Change saved from the handoff at {when:%H:%M} on {when:%a} {when.day} {when:%b}; "
        "the people whose shifts move will be texted."
    )
    return redirect(url_for("console.rota_calendar", rota_id=rota_id), code=303)


def _members_from_form(record: RotaRecord, errors: dict[str, str]) -> list[int]:
    """The new turn order: kept members by the positions typed, then the one added."""
    placed: list[tuple[int, int, int]] = []
    for index, staff_id in enumerate(_ids(request.form.getlist("member"))):
        if request.form.get(f"remove_{staff_id}") == "yes":
            continue
        text = request.form.get(f"position_{staff_id}", "").strip()
        try:
            position = int(text) if text else index + 1
        except ValueError:
            errors["members"] = f"Positions are whole numbers ({text!r} is not)."
            position = index + 1
        placed.append((position, index, staff_id))
    members = [staff_id for _, _, staff_id in sorted(placed)]
    added = request.form.get("add", "").strip()
    if added:
        if not added.isdigit():
            errors["members"] = "Choose a member of staff to add."
        elif int(added) not in members:
            members.append(int(added))
    return members


def _ids(values: list[str]) -> list[int]:
    return [int(value) for value in values if value.isdigit()]


# ---- my shifts --------------------------------------------------------------------------------


@blueprint.get("/my-shifts")
@requires(Permission.SIGNED_IN)  # everyone's own shifts; nobody else's
def my_shifts() -> ResponseReturnValue:
    """The signed-in person's shifts for the next four weeks, and their calendar link."""
    return _my_shifts(None)


@blueprint.post("/my-shifts/calendar-link")
@requires(Permission.SIGNED_IN)  # one's own feed only
def my_shifts_calendar_link() -> ResponseReturnValue:
    """Issue the signed-in person a new personal calendar link (any earlier one stops)."""
    svc = services()
    me = person()
    if me.staff_id is None:  # pragma: no cover - the gate lets only people in
        raise InvalidInput("Only a member of staff has shifts.", "staff")
    with svc.db.transaction() as session:
        token = calendar_feeds.create_token(
            session, CalendarFeedKind.STAFF, me.staff_id, actor=me.label, now=svc.clock.now()
        )
    return _my_shifts(svc.url(calendar_feeds.feed_path(CalendarFeedKind.STAFF, token)))


def _my_shifts(new_link: str | None) -> ResponseReturnValue:
    svc = services()
    now = svc.clock.now()
    me = person()
    staff_id = me.staff_id
    with svc.db.transaction() as session:
        records, _ = rota_service.list_rotas(session)
        mine: list[dict[str, Any]] = []
        for record in records:
            rota = rota_service.to_rota(record)
            found = rota_service.shifts(session, record.id, now, now + dt.timedelta(weeks=4))
            for shift in found.shifts:
                if staff_id in shift.staff_ids:
                    mine.append({"record": record, "zone": rota.zone, "shift": shift})
        mine.sort(key=lambda row: (row["shift"].start, row["record"].name))
        link = session.scalars(
            select(CalendarFeedToken)
            .where(
                CalendarFeedToken.kind == CalendarFeedKind.STAFF,
                CalendarFeedToken.target_id == staff_id,
            )
            .order_by(CalendarFeedToken.id.desc())
        ).first()
        return render_template(
            "my_shifts.html",
            shifts=mine,
            link=link,
            new_link=new_link,
            webcal=("webcal://" + new_link.split("://", 1)[1]) if new_link else None,
            zone=svc.settings.zone,
        )
