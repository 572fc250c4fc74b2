"""`crisisline sar ...`: subject access requests and the export of a participant's record."""

from __future__ import annotations

import click
from flask.cli import AppGroup


@click.group("sar", cls=AppGroup)
def sar_group() -> None:
    """Subject access requests: log them, see their deadlines, export the bundle."""
