"""`crisisline handover`: the handover for a period, printed."""

from __future__ import annotations

import click
from flask.cli import with_appcontext


@click.command("handover")
@click.option("--since", "since", default=None, help="Start of the period, local time (17:00).")
@with_appcontext
def handover_command(since: str | None) -> None:
    """Print the handover for a period (default: since the last morning handover)."""
    raise click.ClickException("the handover is not built yet")
