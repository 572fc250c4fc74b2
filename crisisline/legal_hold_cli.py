"""`crisisline legal-hold ...`: set, lift and list legal holds on participants."""

from __future__ import annotations

import click
from flask.cli import AppGroup


@click.group("legal-hold", cls=AppGroup)
def legal_hold_group() -> None:
    """Legal holds: while one is in place, retention leaves the participant's records alone."""
