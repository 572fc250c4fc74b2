"""`crisisline report`: the service report for a period, as text or CSV."""

from __future__ import annotations

import click
from flask.cli import with_appcontext


@click.command("report")
@click.option("--from", "from_", default=None, help="First local day (2026-11-01).")
@click.option("--to", "to", default=None, help="Last local day, included (2026-11-30).")
@click.option("--csv", "as_csv", is_flag=True, help="CSV instead of text.")
@with_appcontext
def report_command(from_: str | None, to: str | None, as_csv: bool) -> None:
    """Print the service report for a period."""
    raise click.ClickException("the report is not built yet")
