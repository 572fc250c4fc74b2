"""`crisisline retention ...`: run the retention schedule (or see what it would do), and list
what earlier runs removed.

- `retention run --dry-run` prints, rule by rule, how many records a run would change and a
  few of their ids, and writes nothing at all (not even a run row);
- `retention run` runs it now (actor "cli"), as the daily scheduler job does;
- `--as-of YYYY-MM-DD` plans as if at that local date's RETENTION_TIME: any date for a dry run,
  never a later day than today for a real one (nothing is removed before its time);
- `retention runs` lists the latest runs; `retention show RUN_ID` what one removed, by rule.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

import click
from flask.cli import AppGroup, with_appcontext

from crisisline import retention
from crisisline.retention_schedule import Kind
from crisisline.services import services

CLI_ACTOR: Final = "cli"
# Record ids shown per rule by `retention show` (the console pages through them all).
SHOWN_IDS: Final = 50


@click.group("retention", cls=AppGroup)
def retention_group() -> None:
    """The retention schedule (config/retention.toml): runs and what they removed."""


def _as_of(value: str | None, *, dry_run: bool) -> dt.datetime | None:
    svc = services()
    if value is None:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("give a date as YYYY-MM-DD", param_hint="--as-of") from None
    zone = svc.settings.zone
    today = svc.clock.now().astimezone(zone).date()
    if not dry_run and day > today:
        raise click.BadParameter(
            f"a real run cannot be made as of a later day than today ({today.isoformat()}): "
            "that would remove records before their time; use --dry-run to look ahead",
            param_hint="--as-of",
        )
    moment = retention.as_of_date(day, svc.settings.retention_time, zone)
    if not dry_run and moment > svc.clock.now():
        return svc.clock.now()  # today, before the run time: as of now, never later
    return moment


@retention_group.command("run")
@click.option("--dry-run", is_flag=True, help="Show what would be removed; change nothing.")
@click.option("--as-of", "as_of", default=None, help="Plan as of this local date (YYYY-MM-DD).")
@with_appcontext
def run_command(dry_run: bool, as_of: str | None) -> None:
    """Remove or anonymise every record past its time (or, with --dry-run, list them)."""
    svc = services()
    moment = _as_of(as_of, dry_run=dry_run)
    zone = svc.settings.zone
    if dry_run:
        found = retention.dry_run(svc.db, svc.retention, moment or svc.clock.now(), zone)
        click.echo(
            f"Dry run as of {found.as_of.astimezone(zone):%Y-%m-%d %H:%M %Z}: nothing is changed."
        )
        for kind in Kind:
            sample = found.sample(kind)
            tail = f" (e.g. {', '.join(sample)})" if sample else ""
            click.echo(f"  {kind.value}: {found.count(kind)} would go{tail}")
        click.echo(f"  held: {found.held} participant(s) under a legal hold left untouched")
        return
    try:
        outcome = retention.run(
            svc.db,
            svc.retention,
            clock=svc.clock.now,
            zone=zone,
            secret_key=svc.settings.secret_key,
            actor=CLI_ACTOR,
            as_of=moment,
        )
    except retention.RunInProgress as busy:
        raise click.ClickException(
            f"retention run {busy.run_id} is still going: wait for it to end "
            "(`crisisline retention runs`)"
        ) from None
    assert outcome is not None  # a run asked for by hand has no day to clash on
    click.echo(f"Run {outcome.run_id}: {outcome.status}")
    for kind in Kind:
        click.echo(f"  {kind.value}: {outcome.counts.get(kind.value, 0)}")
    click.echo(f"  held: {outcome.held} participant(s) under a legal hold left untouched")
    if outcome.status != "finished":
        raise click.ClickException(
            f"run {outcome.run_id} failed ({outcome.error}); what it did before is recorded "
            f"(`crisisline retention show {outcome.run_id}`)"
        )


@retention_group.command("runs")
@click.option("--limit", default=30, show_default=True, type=click.IntRange(1, 1000))
@with_appcontext
def runs_command(limit: int) -> None:
    """List the latest runs, newest first."""
    svc = services()
    zone = svc.settings.zone
    with svc.db.transaction() as session:
        rows = retention.recent_runs(session, limit)
    if not rows:
        click.echo("No retention runs yet.")
        return
    for row in rows:
        total = sum(int(n) for n in row.counts.values())
        when = row.started_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        error = f" ({row.error})" if row.error else ""
        click.echo(
            f"{row.id}\t{when}\t{row.actor}\t{row.status}{error}\t{total} changed\t{row.held} held"
        )


@retention_group.command("show")
@click.argument("run_id", type=int)
@with_appcontext
def show_command(run_id: int) -> None:
    """What one run removed or anonymised, by rule."""
    svc = services()
    zone = svc.settings.zone
    with svc.db.transaction() as session:
        row = retention.get_run(session, run_id)
        if row is None:
            raise click.BadParameter(f"there is no retention run {run_id}", param_hint="RUN_ID")
        counts = retention.action_counts(session, run_id)
        actions = retention.actions_of(session, run_id, limit=10_000_000)
    started = row.started_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    click.echo(f"Run {row.id}: {row.status}, started {started} by {row.actor}, {row.held} held")
    if row.error:
        click.echo(f"  error: {row.error}")
    for (rule, record_type, action), n in sorted(counts.items()):
        click.echo(f"  {rule}: {n} {record_type} {action}")
        ids = [
            str(a.record_id)
            for a in actions
            if a.rule == rule and a.record_type == record_type and a.record_id is not None
        ]
        if ids:
            more = f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else ""
            click.echo("    " + ", ".join(ids[:SHOWN_IDS]) + more)
