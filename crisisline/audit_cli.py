"""`crisisline audit show`: read the record access log from the command line.

"Who has seen R1042's record this week": `crisisline audit show --participant R1042 --since 7d`.
Reading the log is itself logged, as `cli` (the CLI runs on the server, as whoever may run it
there). There is no command that changes or removes an entry.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import sys
from typing import Final

import click
from flask.cli import AppGroup

from crisisline import record_access
from crisisline.errors import DomainError
from crisisline.record_access import Action, LogQuery
from crisisline.services import services

CLI_ACTOR: Final = "cli"
_AGO: Final = re.compile(r"^(\d{1,5})([dhm])$")
_UNITS: Final = {"d": "days", "h": "hours", "m": "minutes"}


def parse_since(text: str, now: dt.datetime) -> dt.datetime:
    """`7d`, `12h`, `30m` before `now`, or an ISO 8601 date or time (UTC unless it says)."""
    ago = _AGO.match(text.strip())
    if ago:
        return now - dt.timedelta(**{_UNITS[ago.group(2)]: int(ago.group(1))})
    try:
        at = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither a span (7d, 12h, 30m) nor a date (2026-11-01)."
        ) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


@click.group("audit", cls=AppGroup)
def audit_group() -> None:
    """The record access log: who read or changed which participant's record."""


@audit_group.command("show")
@click.option("--participant", "reference", help="A participant's reference, e.g. R1042.")
@click.option("--staff", "staff_id", type=int, help="A staff member's id.")
@click.option("--actor", help="An actor as logged: staff:12, integration:NAME, cli.")
@click.option("--since", default="30d", show_default=True, help="7d, 12h, 30m or a date.")
@click.option("--until", help="A date or time (UTC unless it says); default: now.")
@click.option("--action", type=click.Choice([a.value for a in Action]))
@click.option("--csv", "as_csv", is_flag=True, help="Write CSV (every column) to stdout.")
def audit_show(
    reference: str | None,
    staff_id: int | None,
    actor: str | None,
    since: str,
    until: str | None,
    action: str | None,
    as_csv: bool,
) -> None:
    """List access log entries, newest first."""
    svc = services()
    now = svc.clock.now()
    query = LogQuery(
        participant_reference=reference,
        staff_id=staff_id,
        actor=actor,
        since=parse_since(since, now),
        until=parse_since(until, now) if until else None,
        action=Action(action) if action else None,
    )
    try:
        with svc.db.transaction() as session:
            rows, _total = record_access.find(session, query, limit=None)
            record_access.log_read(session, CLI_ACTOR, rows, query, at=now, export=as_csv)
            lines = [record_access.csv_row(entry) for entry in rows]
    except DomainError as error:
        click.echo(error.message, err=True)
        sys.exit(1)
    if as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(record_access.CSV_COLUMNS)
        writer.writerows(lines)
        return
    if not lines:
        click.echo("No entries.")
        return
    for line in lines:
        row = dict(zip(record_access.CSV_COLUMNS, line, strict=True))
        what = f"{row['record_type']} {row['record_id']}".strip()
        why = f"\treason: {row['reason']}" if row["reason"] else ""
        click.echo(
            f"{row['at']}\t{row['actor']}\t{row['action']}\t{what}\t"
            f"participant {row['participant_id'] or '-'}\tfrom {row['address'] or '-'}{why}"
        )
