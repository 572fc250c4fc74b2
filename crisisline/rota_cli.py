"""`crisisline rota`: who is on call now (or at a given time), and a rota's coming shifts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import click
from flask.cli import AppGroup

from crisisline import rota_service as service
from crisisline.errors import DomainError
from crisisline.models import Staff
from crisisline.services import services
from rotas import OnCallShift, RepeatedLocalTime, SkippedLocalTime, typed_local_to_utc

_LOCAL_FORMAT = "%a %d %b %Y %H:%M %Z"


@click.group("rota", cls=AppGroup)
def rota_group() -> None:
    """On-call rotas: who is on call, and the coming shifts."""


@rota_group.command("who")
@click.option(
    "--at",
    "at_text",
    metavar="ISO8601",
    help="The instant to ask about (default now); without an offset it is local service time.",
)
def who(at_text: str | None) -> None:
    """Who is on call in every rota, now or --at a given time (local times)."""
    svc = services()
    zone = ZoneInfo(svc.settings.timezone)
    at = _parse_instant(at_text, zone) if at_text else svc.clock.now()
    with svc.db.transaction() as session:
        records, _ = service.list_rotas(session)
        if not records:
            click.echo("No rotas yet. Create one with POST /api/v1/rotas.")
            return
        click.echo(f"On call at {_local(at, zone)}:")
        rows: list[tuple[str, str, str, str]] = []
        try:
            for record in records:
                answer = service.on_call(session, record.id, at)
                rota_zone = ZoneInfo(record.timezone)
                rows.append(
                    (
                        record.name,
                        _who(answer.staff, answer.shift),
                        f"{_local(answer.shift.start, rota_zone)} to "
                        f"{_local(answer.shift.end, rota_zone)}",
                        answer.shift.source,
                    )
                )
        except DomainError as exc:
            raise click.ClickException(exc.message) from None
    _table(("Rota", "On call", "Since / until", "Source"), rows)


@rota_group.command("show")
@click.argument("name")
@click.option(
    "--days",
    type=click.IntRange(1, service.MAX_QUERY_WINDOW.days),
    default=7,
    show_default=True,
    help="How many days ahead to list.",
)
def show(name: str, days: int) -> None:
    """The next shifts of rota NAME as a table in the rota's local time."""
    svc = services()
    now = svc.clock.now()
    with svc.db.transaction() as session:
        try:
            record = service.find_by_name(session, name)
            found = service.shifts(session, record.id, now, now + dt.timedelta(days=days))
        except DomainError as exc:
            raise click.ClickException(exc.message) from None
        zone = ZoneInfo(record.timezone)
        click.echo(
            f"Rota {record.name}: {record.shift_length} shifts, {record.timezone}, "
            f"next {days} day(s)"
        )
        rows = [
            (
                _local(shift.start, zone),
                _local(shift.end, zone),
                _who([found.staff[i] for i in shift.staff_ids], shift),
                shift.source,
            )
            for shift in found.shifts
        ]
    _table(("From", "To", "On call", "Source"), rows)


def _parse_instant(text: str, zone: ZoneInfo) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an ISO 8601 date and time such as 2026-03-29T01:30", param_hint="--at"
        ) from None
    if parsed.tzinfo is None:
        # A time without an offset is the service's local time, read as the API reads one: a
        # time the clocks skip or repeat has no single meaning, so it is refused, not guessed.
        try:
            return typed_local_to_utc(parsed, zone)
        except SkippedLocalTime as error:
            raise click.BadParameter(
                f"{error}: the clocks go forward over it. Give a time before or after the "
                "skipped hour, or an offset.",
                param_hint="--at",
            ) from None
        except RepeatedLocalTime as error:
            first, second = error.instants
            raise click.BadParameter(
                f"{error} (the clocks go back): add the offset to say which, "
                f"{first.astimezone(zone).isoformat()} or {second.astimezone(zone).isoformat()}.",
                param_hint="--at",
            ) from None
    return parsed.astimezone(dt.UTC)


def _local(instant: dt.datetime, zone: ZoneInfo) -> str:
    return instant.astimezone(zone).strftime(_LOCAL_FORMAT)


def _who(people: list[Staff], shift: OnCallShift) -> str:
    if not people:
        if shift.source == "outside_coverage":
            return "nobody (outside coverage)"
        if shift.source == "not_started":
            return "NOBODY (rota not started)"
        return "NOBODY (gap)"
    return ", ".join(
        f"{person.name} {person.phone}" + ("" if person.active else " (INACTIVE)")
        for person in people
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, ["-" * width for width in widths], *rows]:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        click.echo("  ".join(cells).rstrip())
