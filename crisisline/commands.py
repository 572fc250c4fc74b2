"""The service's own commands (database, tokens, accounts, demo data, imports, rotas, spool,
emails, scheduler), registered on every app by the composition root; crisisline.cli is the
`crisisline` program."""

from __future__ import annotations

import datetime as dt
import sys
from typing import TextIO

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from crisisline import demo, email_outbox, imports, routing_cache
from crisisline.audit_cli import audit_group
from crisisline.credentials_cli import accounts_group, tokens_group
from crisisline.handover_cli import handover_command
from crisisline.jobs import SWEEP_SECONDS, Jobs, scheduler_name
from crisisline.legal_hold_cli import legal_hold_group
from crisisline.mail import mask_address
from crisisline.report_cli import report_command
from crisisline.retention_cli import retention_group
from crisisline.rota_cli import rota_group
from crisisline.sar_cli import sar_group
from crisisline.services import services

CLI_ACTOR = "cli"


def register_commands(app: Flask) -> None:
    """Add the service's commands to `app.cli`."""
    for command in (
        db_group,
        tokens_group,
        accounts_group,
        demo_command,
        import_group,
        scheduler_command,
        rota_group,
        routing_changed_command,
        spool_group,
        audit_group,
        handover_command,
        emails_group,
        report_command,
        retention_group,
        sar_group,
        legal_hold_group,
    ):
        app.cli.add_command(command)


@click.command("scheduler")
@with_appcontext
def scheduler_command() -> None:
    """Run the scheduler process: outbox dispatch and heartbeat (Procfile `scheduler:`)."""
    svc = services()
    name = scheduler_name()
    click.echo(f"Scheduler {name} starting: sweeping every {SWEEP_SECONDS:g} s.")
    Jobs(svc).start_scheduler(name, background=False).start()


@click.group("db", cls=AppGroup)
def db_group() -> None:
    """Database schema commands."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    # Imported here: Alembic (and Mako under it) is a fifth of a second of start-up that every
    # other command, the scheduler restarting after a crash among them, does without.
    from crisisline import migrate

    migrate.upgrade(services().settings.database_url)
    click.echo("Database is up to date.")


@click.command("demo")
@with_appcontext
def demo_command() -> None:
    """Add the demo data set (invented staff and participants on Ofcom drama numbers)."""
    svc = services()
    with svc.db.transaction() as session:
        result = demo.seed(session, now=svc.clock.now())
    if result.staff_added or result.participants_added or result.rotas_added:
        click.echo(
            f"Seeded demo data: {result.staff_added} staff, "
            f"{result.participants_added} participants and {result.rotas_added} rotas "
            "(Ofcom drama numbers, invented names)."
        )
    else:
        click.echo("Demo data already present; nothing added.")
    if result.administrator_sign_in is not None:
        _show_sign_in(result.administrator_sign_in, svc.settings.public_base_url)


def _show_sign_in(details: demo.DemoSignIn, public_base_url: str) -> None:
    # Printed once, by the run that made the account: only its hashes and the TOTP secret are
    # kept. A newcomer who loses them re-invites the administrator (console telephony prints
    # the texted link).
    secret = details.totp_secret
    code_command = f".venv/bin/python -c \"import pyotp; print(pyotp.TOTP('{secret}').now())\""
    click.echo(
        f"\nThe demo administrator, {details.name}, can sign in to the console now.\n"
        "These details are shown only this once:\n"
        f"  sign in at    {public_base_url}/login\n"
        f"  as            {details.email} (or the phone number {details.phone})\n"
        f"  password      {details.password}\n"
        f"  TOTP secret   {secret} (add it to an authenticator app)\n"
        f"  TOTP code     {code_command}\n"
        "                prints the current six-digit code, if you have no app at hand\n"
        f"  otpauth URI   {details.totp_uri}\n"
        f"Lost them? `crisisline accounts invite {details.staff_id}` sends a new invitation "
        "(with TELEPHONY=console the running service prints its link)."
    )


@click.command("routing-changed")
@with_appcontext
def routing_changed_command() -> None:
    """Tell every process that routing data changed outside the service (SQL by hand)."""
    svc = services()
    with svc.db.transaction() as session:
        routing_cache.changed(session)
    click.echo(
        "Routing version replaced: every process asks the database afresh for policies, "
        "rotas and staff phones."
    )


@click.group("spool", cls=AppGroup)
def spool_group() -> None:
    """Calls and texts kept on disk while the database could not take them."""


@spool_group.command("status")
def spool_status() -> None:
    """How many calls and texts wait in the spool to be recorded."""
    svc = services()
    click.echo(f"{svc.spool.waiting()} waiting in {svc.spool.directory}")


@spool_group.command("drain")
def spool_drain() -> None:
    """Record every call and text waiting in the spool now (the scheduler does this every few
    seconds); exits 1 if any is still waiting."""
    report = services().spool_drainer.drain()
    click.echo(f"{report.recorded} recorded, {report.failed} failed, {report.waiting} waiting")
    if report.waiting:
        sys.exit(1)


@click.group("emails", cls=AppGroup)
def emails_group() -> None:
    """The email outbox: emails that failed, and sending one again."""


@emails_group.command("failed")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 366))
def emails_failed(days: int) -> None:
    """List the emails that failed for good in the last DAYS days (recipients masked)."""
    svc = services()
    now = svc.clock.now()
    with svc.db.transaction() as session:
        # The end is exclusive: a second past now takes in an email failed this instant.
        end = now + dt.timedelta(seconds=1)
        failed = email_outbox.failed_between(session, now - dt.timedelta(days=days), end)
        for email in failed:
            when = email.updated_at.astimezone(svc.settings.zone).strftime("%Y-%m-%d %H:%M")
            click.echo(
                f"{email.id}\t{when}\t{email.purpose}\t{email.reference or '-'}\t"
                f"{mask_address(email.to_address)}\t{email.attempts} attempt(s)\t"
                f"{email.error_message or ''}"
            )
    click.echo(f"{len(failed)} failed in the last {days} day(s)")


@emails_group.command("retry")
@click.argument("email_id", type=int)
def emails_retry(email_id: int) -> None:
    """Put failed email EMAIL_ID back in the outbox, due now (the same Message-ID)."""
    svc = services()
    with svc.db.transaction() as session:
        email = email_outbox.requeue(session, email_id, svc.clock.now())
    if email is None:
        raise click.ClickException(f"there is no failed email {email_id}")
    click.echo(f"email {email_id} is queued again; the scheduler sends it within seconds")


@click.group("import", cls=AppGroup)
def import_group() -> None:
    """Import staff or participants from CSV; a file with any bad row imports nothing."""


@import_group.command("staff")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
def import_staff(file: TextIO) -> None:
    """Import staff from FILE (columns: name, phone, email, roles, active)."""
    _run_import(imports.import_staff, file, "staff")


@import_group.command("participants")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
def import_participants(file: TextIO) -> None:
    """Import participants from FILE.

    Columns: reference, name, phones, responsible_officer_email, risk_level, status.
    """
    _run_import(imports.import_participants, file, "participants")


def _run_import(importer: imports.Importer, file: TextIO, what: str) -> None:
    svc = services()
    try:
        with svc.db.transaction() as session:
            report = importer(
                session,
                file,
                actor=CLI_ACTOR,
                now=svc.clock.now(),
                line_number=svc.settings.crisis_line_number,
                region=svc.settings.default_region,
            )
    except imports.ImportRejected as rejected:
        for line, reason in rejected.errors:
            click.echo(f"line {line}: {reason}", err=True)
        click.echo(f"Nothing imported: {len(rejected.errors)} bad row(s).", err=True)
        sys.exit(1)
    click.echo(f"Imported {report.imported} {what}.")
