"""`crisisline retention ...`: run the retention schedule (or see what it would do), and list
what earlier runs removed."""

from __future__ import annotations

import click
from flask.cli import AppGroup


@click.group("retention", cls=AppGroup)
def retention_group() -> None:
    """The retention schedule (config/retention.toml): runs and what they removed."""
