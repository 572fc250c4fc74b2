"""`crisisline handover`: the handover for a period, printed.

`crisisline handover --since 17:00` prints everything since the last 17:00 local (yesterday's
if it is not 17:00 yet) until now; `--until` ends it earlier; with neither, the period of the
last morning handover. It prints the email's plain text: participants by reference and
initials, no message body, no note's text, no phone number, and the console link for the
detail. Reading it is logged in the record access log as `cli`, one entry per participant.
"""

from __future__ import annotations

from typing import Final

import click
from flask.cli import with_appcontext

from crisisline import handover, handover_delivery
from crisisline.errors import DomainError
from crisisline.services import services

CLI_ACTOR: Final = "cli"


@click.command("handover")
@click.option(
    "--since",
    "since",
    default=None,
    help="Start, local time: 17:00 (the last one), 'yesterday 17:00', 2026-12-05T17:00.",
)
@click.option("--until", "until", default=None, help="End, written the same way; default: now.")
@with_appcontext
def handover_command(since: str | None, until: str | None) -> None:
    """Print the handover for a period (default: the last morning handover's)."""
    svc = services()
    now = svc.clock.now()
    zone = svc.settings.zone
    try:
        period = handover.period_asked(
            since, until, now, svc.settings.handover_time, zone, fields=("--since", "--until")
        )
        with svc.db.transaction() as session:
            shown = handover.build(session, period.start, period.end, now=now, zone=zone)
            handover.log_read_by(session, CLI_ACTOR, shown, now)
    except DomainError as error:
        field = error.field
        raise click.UsageError(f"{field}: {error.message}" if field else error.message) from None
    click.echo(
        handover.plain_text(shown, link=handover_delivery.link(svc.settings, period)), nl=False
    )
