"""`crisisline tokens` and `crisisline accounts`: who may use the API and the console.

The server's operator runs these (the audit log names them `cli`). Tokens are issued to a person
or to an integration with scopes and printed once; console accounts are given by a texted
invitation and taken away by disabling them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import click
from flask.cli import AppGroup

from crisisline import accounts, staff, staffing, tokens
from crisisline.errors import DomainError
from crisisline.services import services

CLI_ACTOR = "cli"


@click.group("tokens", cls=AppGroup)
def tokens_group() -> None:
    """API tokens: each belongs to a person or to an integration with scopes."""


@tokens_group.command("create")
@click.argument("name")
@click.option(
    "--staff",
    "staff_id",
    type=click.IntRange(min=0),
    metavar="STAFF_ID",
    help="Issue the token to this member of staff: it acts with their roles, while they are "
    "active.",
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    metavar="SCOPE",
    help="Issue the token to an integration called NAME holding SCOPE (repeat for more), "
    "e.g. --scope contacts:read --scope rotas:write.",
)
@click.option(
    "--all-scopes",
    is_flag=True,
    help="An integration holding every scope, token administration included (warned: prefer "
    "naming the scopes it needs).",
)
@click.option(
    "--expires",
    metavar="90d|DATE",
    help="Stop working after this many days (90d) or at the end of this date (2027-03-31, "
    "service time). Default: never.",
)
def tokens_create(
    name: str,
    staff_id: int | None,
    scopes: tuple[str, ...],
    all_scopes: bool,
    expires: str | None,
) -> None:
    """Issue an API token called NAME and print it once (only its hash is kept)."""
    owners = sum((staff_id is not None, bool(scopes), all_scopes))
    if owners != 1:
        raise click.UsageError(
            "Say whose the token is: --staff STAFF_ID (a person), or --scope SCOPE ... or "
            f"--all-scopes (an integration). Scopes: {', '.join(tokens.scope_names())}."
        )
    if all_scopes:
        click.echo(
            "Warning: this token may do everything, issuing tokens and reading every "
            "participant's contacts included. Prefer --scope with only what it needs.",
            err=True,
        )
        scopes = tuple(tokens.scope_names())
    svc = services()
    now = svc.clock.now()
    try:
        expires_at = (
            tokens.parse_expiry(expires, now=now, zone=svc.settings.zone) if expires else None
        )
        with svc.db.transaction() as session:
            plaintext, token = tokens.create(
                session,
                name,
                actor=CLI_ACTOR,
                now=now,
                staff_id=staff_id,
                scopes=list(scopes) if staff_id is None else None,
                expires_at=expires_at,
            )
            listed = tokens.listing(session, token, now=now)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(plaintext)
    holder = (
        f"{listed.staff_name} (staff {listed.staff_id}), acting with their roles"
        if listed.staff_id is not None
        else f"the integration {listed.name!r} with {', '.join(listed.scopes or [])}"
    )
    until = f"until {_local(listed.expires_at, svc.settings.zone)}" if listed.expires_at else ""
    click.echo(
        f"Token {listed.id} issued to {holder}{' ' + until if until else ''}. It is shown "
        "only this once; store it now.",
        err=True,
    )


@tokens_group.command("list")
def tokens_list() -> None:
    """List API tokens: owner, scopes, created, last used, expiry, revoked, legacy."""
    svc = services()
    zone = svc.settings.zone
    with svc.db.transaction() as session:
        rows, _ = tokens.list_tokens(session, now=svc.clock.now())
    if not rows:
        click.echo("No API tokens.")
        return
    for row in rows:
        owner = f"{row.owner} ({row.staff_name})" if row.staff_name else row.owner
        flags = "  LEGACY: made before tokens had owners; re-issue it" if row.legacy else ""
        click.echo(f"{row.id}  {row.name}  {owner}  {row.state}{flags}")
        held = ", ".join(row.scopes) if row.scopes is not None else "the person's roles"
        click.echo(f"    may: {held}")
        click.echo(
            f"    created {_local(row.created_at, zone)} by {row.created_by or '-'}; "
            f"last used {_local(row.last_used_at, zone)}; "
            f"expires {_local(row.expires_at, zone)}; revoked {_local(row.revoked_at, zone)}"
        )


@tokens_group.command("revoke")
@click.argument("reference", metavar="ID|NAME")
def tokens_revoke(reference: str) -> None:
    """Revoke an API token at once, by its id or its name (a leaked or retired token)."""
    svc = services()
    try:
        with svc.db.transaction() as session:
            token = tokens.find(session, reference)
            revoked = tokens.revoke(session, token, actor=CLI_ACTOR, now=svc.clock.now())
            token_id, name = token.id, token.name
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    if not revoked:
        raise click.ClickException(f"Token {token_id} ({name!r}) was revoked already.")
    click.echo(f"Revoked token {token_id} ({name!r}): it is refused from now on.")


@click.group("accounts", cls=AppGroup)
def accounts_group() -> None:
    """Console accounts: invite staff, list them, disable them."""


@accounts_group.command("invite")
@click.argument("staff_id", type=click.IntRange(min=0))
def accounts_invite(staff_id: int) -> None:
    """Text STAFF_ID a one-time link (72 hours) to set a password and a second factor.

    Inviting again (forgotten password, lost phone) ends the old credentials at once.
    """
    svc = services()
    settings = svc.settings
    try:
        with svc.db.transaction() as session:
            delivery = staffing.invite_to_console(
                session,
                staff_id,
                actor=CLI_ACTOR,
                now=svc.clock.now(),
                public_base_url=settings.public_base_url,
                from_=settings.crisis_line_number,
            )
            name = staff.get(session, staff_id).name
            delivery_id = delivery.id
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    # The link is a credential: it goes only to the person's registered phone, never here.
    click.echo(
        f"Invitation texted to {name}'s registered phone (delivery {delivery_id}; follow it "
        f"with GET /api/v1/deliveries/{delivery_id}). The link works once, for "
        f"{int(accounts.INVITATION_LIFETIME.total_seconds() // 3600)} hours."
    )
    if settings.telephony == "console":
        click.echo(
            "TELEPHONY=console: nothing leaves this machine; the running service (make run) "
            "prints the text, link included, when its scheduler sends it."
        )


@accounts_group.command("list")
def accounts_list() -> None:
    """List staff with their roles, console account state and latest sign-in."""
    svc = services()
    zone = svc.settings.zone
    with svc.db.transaction() as session:
        rows = accounts.summaries(session, now=svc.clock.now())
    if not rows:
        click.echo("No staff yet. Add them with POST /api/v1/staff or `crisisline import staff`.")
        return
    _table(
        ("Staff", "Name", "Roles", "Account", "Last sign-in"),
        [
            (
                str(row.staff_id),
                row.name,
                ", ".join(row.roles) or "-",
                str(row.state),
                _local(row.last_signed_in_at, zone),
            )
            for row in rows
        ],
    )


@accounts_group.command("disable")
@click.argument("staff_id", type=click.IntRange(min=0))
def accounts_disable(staff_id: int) -> None:
    """Disable STAFF_ID's console account, end their sessions and revoke their API tokens."""
    svc = services()
    try:
        with svc.db.transaction() as session:
            ended = staffing.disable_console_access(
                session, staff_id, actor=CLI_ACTOR, now=svc.clock.now()
            )
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(
        f"Disabled the console account of staff {staff_id}: {ended.sessions_ended} sign-in "
        f"session(s) ended, {ended.tokens_revoked} API token(s) revoked. Invite them again "
        "(`crisisline accounts invite`) to give access back."
    )


def _local(at: dt.datetime | None, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if at is not None else "-"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, ["-" * width for width in widths], *rows]:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        click.echo("  ".join(cells).rstrip())
