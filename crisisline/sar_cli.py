"""`crisisline sar ...`: subject access requests and the export of a participant's record.

Everything here acts as `cli` (the command line runs on the server, as whoever may run it
there) and is written to the audit log; an export is also written to the record access log.
A bad argument or a refused change prints what to do and exits 1; an export that had to leave
a voicemail out writes the bundle, says which, and exits 3.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import Final

import click
from flask.cli import AppGroup

from crisisline import subject_access
from crisisline.errors import DomainError
from crisisline.services import services

CLI_ACTOR: Final = "cli"
INCOMPLETE_EXIT: Final = 3


@click.group("sar", cls=AppGroup)
def sar_group() -> None:
    """Subject access requests: log them, see their deadlines, export the bundle."""


def _fail(error: DomainError) -> None:
    where = f" ({error.field})" if error.field else ""
    click.echo(f"{error.message}{where}", err=True)
    sys.exit(1)


def _today() -> dt.date:
    svc = services()
    return svc.clock.now().astimezone(svc.settings.zone).date()


def _line(row: subject_access.RequestView) -> str:
    request = row.request
    flag = (
        f"  [{row.deadline.words}]"
        if row.open and (row.deadline.overdue or row.deadline.soon)
        else f"  {row.deadline.words}"
        if row.open
        else ""
    )
    extended = " (extended)" if request.extended_to else ""
    return (
        f"{request.id}\t{row.reference}\t{request.status.value}\treceived "
        f"{request.received_on.isoformat()}\tdue {row.deadline.due.isoformat()}{extended}\t"
        f"exports {request.exports}{flag}"
    )


@sar_group.command("log")
@click.argument("reference")
@click.option(
    "--received",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The day the request was received, YYYY-MM-DD.",
)
@click.option("--detail", help="How it was received and what it asks for.")
def sar_log(reference: str, received: dt.datetime, detail: str | None) -> None:
    """Log a subject access request from the participant REFERENCE."""
    svc = services()
    try:
        with svc.db.transaction() as session:
            request = subject_access.log_request(
                session,
                reference=reference,
                received_on=received.date(),
                detail=detail,
                actor=CLI_ACTOR,
                now=svc.clock.now(),
                today=_today(),
            )
            request_id, due = request.id, request.due_on
    except DomainError as error:
        _fail(error)
        return
    click.echo(f"Logged request {request_id} for {reference.strip()}: due {due.isoformat()}.")


@sar_group.command("list")
@click.option("--all", "everything", is_flag=True, help="Completed and withdrawn ones too.")
def sar_list(everything: bool) -> None:
    """List requests, soonest deadline first, with overdue and due-within-7-days flagged."""
    svc = services()
    with svc.db.transaction() as session:
        rows = subject_access.requests(session, _today(), only_open=not everything)
        lines = [_line(row) for row in rows]
    if not lines:
        click.echo("No open requests." if not everything else "No requests.")
        return
    for line in lines:
        click.echo(line)


@sar_group.command("export")
@click.argument("reference")
@click.option(
    "--request", "request_id", type=int, help="The request it answers (default: his open one)."
)
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the zip (never overwritten).",
)
def sar_export(reference: str, request_id: int | None, output: Path) -> None:
    """Export the participant REFERENCE's whole record as a zip for his request."""
    svc = services()
    if output.exists():
        click.echo(
            f"{output} exists already: it is never overwritten. Choose a new name.", err=True
        )
        sys.exit(1)
    if output.suffix.lower() != ".zip":
        click.echo("--output must be a file name ending in .zip.", err=True)
        sys.exit(1)
    try:
        with svc.db.transaction() as session:
            chosen = subject_access.request_for(session, reference, request_id)
        done = subject_access.export(
            svc.db,
            svc.telephony,
            chosen,
            actor=CLI_ACTOR,
            now=svc.clock.now(),
            zone=svc.settings.zone,
            region=svc.settings.default_region,
            line_number=svc.settings.crisis_line_number,
            staff_names=svc.settings.sar_staff_names,
        )
    except DomainError as error:
        _fail(error)
        return
    # Created exclusively (never over a file that appeared meanwhile), readable by its owner only.
    try:
        descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        click.echo(f"{output} exists already: it is never overwritten.", err=True)
        sys.exit(1)
    with os.fdopen(descriptor, "wb") as file:
        file.write(done.content)
    click.echo(f"Wrote {output} for request {done.request_id} ({len(done.content)} bytes).")
    if not done.complete:
        listed = ", ".join(str(contact_id) for contact_id in done.missing)
        click.echo(
            f"WARNING: {len(done.missing)} voicemail recording(s) could not be fetched and are "
            f"missing from the bundle (contacts {listed}); both files say so. Export again later.",
            err=True,
        )
        sys.exit(INCOMPLETE_EXIT)


@sar_group.command("extend")
@click.argument("request_id", type=int)
@click.option("--months", required=True, type=click.IntRange(1, 2), help="1 or 2 further months.")
@click.option("--reason", required=True, help="Why (a complex request).")
def sar_extend(request_id: int, months: int, reason: str) -> None:
    """Extend request REQUEST_ID by 1 or 2 further months, with the reason."""
    svc = services()
    try:
        with svc.db.transaction() as session:
            request = subject_access.extend(
                session,
                request_id,
                months=months,
                reason=reason,
                actor=CLI_ACTOR,
                now=svc.clock.now(),
            )
            due = subject_access.deadline_of(request)
    except DomainError as error:
        _fail(error)
        return
    click.echo(f"Request {request_id} is now due {due.isoformat()}.")


@sar_group.command("complete")
@click.argument("request_id", type=int)
def sar_complete(request_id: int) -> None:
    """Mark request REQUEST_ID answered: the bundle was handed over."""
    svc = services()
    try:
        with svc.db.transaction() as session:
            subject_access.complete(session, request_id, actor=CLI_ACTOR, now=svc.clock.now())
    except DomainError as error:
        _fail(error)
        return
    click.echo(f"Request {request_id} is complete.")


@sar_group.command("withdraw")
@click.argument("request_id", type=int)
@click.option("--reason", required=True, help="Why (as he said it, or how he withdrew it).")
def sar_withdraw(request_id: int, reason: str) -> None:
    """Close request REQUEST_ID: the participant withdrew it."""
    svc = services()
    try:
        with svc.db.transaction() as session:
            subject_access.withdraw(
                session, request_id, reason=reason, actor=CLI_ACTOR, now=svc.clock.now()
            )
    except DomainError as error:
        _fail(error)
        return
    click.echo(f"Request {request_id} is withdrawn.")
