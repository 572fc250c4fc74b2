"""`crisisline legal-hold ...`: set, lift and list legal holds on participants.

The server's operator runs these (the audit log and the record access log name them `cli`).
Setting and lifting a hold is a change of the participant's record; listing the holds reads
each held participant's record: both are logged in the record access log.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Final

import click
from flask.cli import AppGroup
from sqlalchemy.orm import Session

from crisisline import legal_holds, participants, record_access
from crisisline.data_protection_models import LegalHold
from crisisline.errors import DomainError, NotFound
from crisisline.models import Participant
from crisisline.record_access import Action
from crisisline.services import services

CLI_ACTOR: Final = "cli"


@click.group("legal-hold", cls=AppGroup)
def legal_hold_group() -> None:
    """Legal holds: while one is in place, retention leaves the participant's records alone."""


@legal_hold_group.command("set")
@click.argument("reference")
@click.option("--reason", required=True, help="Why his records must be held (3-500 characters).")
def set_hold(reference: str, reason: str) -> None:
    """Place a legal hold on the participant with REFERENCE."""
    hold = _change(reference, reason, legal_holds.place)
    click.echo(f"A legal hold is in place on {reference} since {hold.set_at:%Y-%m-%d %H:%M} UTC.")


@legal_hold_group.command("lift")
@click.argument("reference")
@click.option("--reason", required=True, help="Why the hold is lifted (3-500 characters).")
def lift_hold(reference: str, reason: str) -> None:
    """Lift the legal hold on the participant with REFERENCE."""
    _change(reference, reason, legal_holds.lift)
    click.echo(f"The legal hold on {reference} is lifted.")


@legal_hold_group.command("list")
def list_holds() -> None:
    """List the legal holds in place, by participant reference."""
    svc = services()
    now = svc.clock.now()
    with svc.db.transaction() as session:
        held = legal_holds.in_place(session)
        for hold, participant in held:
            record_access.record(
                session,
                CLI_ACTOR,
                action=Action.READ,
                record_type="legal_hold",
                record_id=hold.id,
                participant_id=participant.id,
                at=now,
            )
        lines = [
            f"{participant.reference}\tsince {hold.set_at:%Y-%m-%d %H:%M} UTC\t"
            f"by {hold.set_by}\t{hold.reason}"
            for hold, participant in held
        ]
    if not lines:
        click.echo("No legal holds are in place.")
        return
    for line in lines:
        click.echo(line)


Change = Callable[..., LegalHold]


def _change(reference: str, reason: str, change: Change) -> LegalHold:
    svc = services()
    now = svc.clock.now()
    try:
        with svc.db.transaction() as session:
            participant = _participant(session, reference)
            record_access.record(
                session,
                CLI_ACTOR,
                action=Action.CHANGE,
                record_type="participant",
                record_id=participant.id,
                participant_id=participant.id,
                at=now,
            )
            hold: LegalHold = change(session, participant.id, reason, actor=CLI_ACTOR, now=now)
    except DomainError as error:
        click.echo(f"{error.field}: {error.message}" if error.field else error.message, err=True)
        sys.exit(1)
    return hold


def _participant(session: Session, reference: str) -> Participant:
    found, _ = participants.list_participants(session, reference=reference, limit=1)
    if not found:
        raise NotFound(f"There is no participant with reference {reference}.", "REFERENCE")
    return found[0]
