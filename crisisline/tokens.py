"""API tokens: random bearer secrets shown once, each belonging to someone; only the hash is kept.

A token belongs to a person (`staff_id`: it acts with that person's roles, and stops when they
are deactivated) or to a named integration (`scopes`: the permissions it holds, each a grantable
`Permission` such as `contacts:read`). It may expire. Tokens made before tokens had owners are
`legacy`: integrations with every scope, named in /healthz until an administrator issues a
replacement and revokes them. Nobody can issue a token through the API that may do more than
they may themselves; the server's operator (the CLI) may issue any.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crisisline import audit
from crisisline.errors import Conflict, InvalidInput, NotFound
from crisisline.models import ApiToken, Staff
from crisisline.permissions import SCOPES, Actor, Permission, grants

TOKEN_PREFIX = "crl_"  # noqa: S105  (a label that makes leaked tokens easy to spot)
MAX_NAME_LENGTH: Final = 100
_DAYS: Final = re.compile(r"^(\d{1,5})d$")


def hash_token(plaintext: str) -> str:
    """The stored form of a token (tokens are long random strings, so a plain hash suffices)."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def scope_names() -> list[str]:
    """Every scope an integration token may hold, sorted."""
    return sorted(scope.value for scope in SCOPES)


def parse_scopes(values: Iterable[str]) -> frozenset[Permission]:
    """The scopes `values` name; InvalidInput naming any that is not a scope."""
    known = {scope.value: scope for scope in SCOPES}
    wanted = [value.strip() for value in values]
    unknown = [value for value in wanted if value not in known]
    if unknown:
        listed = ", ".join(repr(value) for value in unknown)
        raise InvalidInput(
            f"Unknown scope {listed}: the scopes are {', '.join(scope_names())}.", field="scopes"
        )
    return frozenset(known[value] for value in wanted)


def parse_expiry(text: str, *, now: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """When a token given `--expires TEXT` stops: `90d` is 90 days from now; a date
    (2027-03-31) is the end of that day in `zone`. InvalidInput for anything else."""
    text = text.strip()
    days = _DAYS.match(text)
    if days is not None:
        return now + dt.timedelta(days=int(days.group(1)))
    try:
        last_day = dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{text!r} is not an expiry: give a number of days (90d) or a date (2027-03-31).",
            field="expires",
        ) from None
    if last_day >= dt.date.max:
        raise InvalidInput("Give a date before 9999-12-31.", field="expires")
    midnight = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    return midnight.astimezone(dt.UTC)


def create(
    session: Session,
    name: str,
    *,
    actor: str,
    now: dt.datetime,
    staff_id: int | None = None,
    scopes: Iterable[str] | None = None,
    expires_at: dt.datetime | None = None,
    issuer: Actor | None = None,
) -> tuple[str, ApiToken]:
    """Issue a token called `name` to a person (`staff_id`) or to an integration (`scopes`);
    returns the plaintext (never stored) and its row.

    `issuer` is the API caller, who may not issue a token holding a permission they lack;
    None (the CLI: the server's operator) may issue any. InvalidInput names what is wrong.
    """
    name = _checked_name(name)
    if (staff_id is None) == (scopes is None):
        raise InvalidInput(
            "A token belongs to a person or to an integration: give a staff id, or scopes "
            "(not both).",
            field="staff_id",
        )
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("The expiry must be in the future.", field="expires_at")
    held: frozenset[Permission]
    stored_scopes: list[str] | None = None
    if staff_id is not None:
        person = session.get(Staff, staff_id)
        if person is None:
            raise InvalidInput(f"There is no member of staff with id {staff_id}.", field="staff_id")
        if not person.active:
            raise InvalidInput(
                f"{person.name} is not active: a token of theirs would not work.", field="staff_id"
            )
        held = frozenset(grants(frozenset(person.roles)))
    else:
        held = parse_scopes(scopes or [])
        if not held:
            raise InvalidInput(
                f"Give at least one scope: {', '.join(scope_names())}.", field="scopes"
            )
        stored_scopes = sorted(scope.value for scope in held)
    if issuer is not None:
        _refuse_more_than(issuer, held, field="staff_id" if staff_id is not None else "scopes")
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        token_hash=hash_token(plaintext),
        created_at=now,
        staff_id=staff_id,
        scopes=stored_scopes,
        expires_at=expires_at,
        legacy=False,
        created_by=actor,
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        record_type="api_token",
        record_id=token.id,
        at=now,
        changes={
            "name": name,
            "staff_id": staff_id,
            "scopes": stored_scopes,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return plaintext, token


def _checked_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(
            f"A token's name is 1 to {MAX_NAME_LENGTH} characters (say what uses it).",
            field="name",
        )
    if name.isascii() and name.isdigit():
        # `tokens revoke 12` reads 12 as a token's id: a name of digits alone would be ambiguous.
        raise InvalidInput("A token's name must not be digits alone.", field="name")
    return name


def _refuse_more_than(issuer: Actor, held: frozenset[Permission], *, field: str) -> None:
    # Issuing a token is handing its holder your powers at most: without this, an administrator
    # (who may not read contacts) could issue a `contacts:read` token and read them. Every
    # holder of tokens:admin holds its grants over all participants, so extents need no check.
    beyond = sorted(permission.value for permission in held if not issuer.may(permission))
    if beyond:
        raise InvalidInput(
            "A token may not do more than whoever issues it: you do not hold "
            f"{', '.join(beyond)}. Ask someone who does, or the server's operator "
            "(`crisisline tokens create`).",
            field=field,
        )


def authenticate(session: Session, plaintext: str, *, now: dt.datetime) -> ApiToken | None:
    """The live token matching `plaintext`, or None; records when it was last used."""
    token = session.scalars(
        select(ApiToken).where(ApiToken.token_hash == hash_token(plaintext))
    ).first()
    if token is None or token.revoked_at is not None:
        return None
    if token.expires_at is not None and now >= token.expires_at:
        return None
    # To the minute: writing it on every request made each API read a write transaction (most
    # of an API read's time, and on SQLite the one writer's lock, which the webhooks need).
    if token.last_used_at is None or now - token.last_used_at >= dt.timedelta(minutes=1):
        token.last_used_at = now
    return token


def identify(session: Session, plaintext: str, *, now: dt.datetime) -> Actor | None:
    """Whom a live token acts for: its person (with their roles, while active) or its
    integration (with its scopes; a legacy token has every scope); None if it acts for no one."""
    token = authenticate(session, plaintext, now=now)
    if token is None:
        return None
    if token.staff_id is not None:
        staff = session.get(Staff, token.staff_id)
        if staff is None or not staff.active:
            return None
        return Actor(
            kind="person",
            name=staff.name,
            staff_id=staff.id,
            roles=frozenset(staff.roles),
            token_id=token.id,
        )
    scopes = SCOPES if token.legacy else frozenset(Permission(s) for s in token.scopes or [])
    return Actor(kind="integration", name=token.name, scopes=scopes, token_id=token.id)


@dataclass(frozen=True)
class TokenListing:
    """A token as an administrator sees it: whose it is, what it may do, and its state."""

    id: int
    name: str
    owner: str  # staff:12 or integration:NAME, as the audit log names its actions
    staff_id: int | None
    staff_name: str | None
    # An integration's scopes (a legacy token's are every scope); None for a person's token,
    # which holds its person's roles.
    scopes: list[str] | None
    legacy: bool
    created_at: dt.datetime
    created_by: str | None
    last_used_at: dt.datetime | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    state: str  # live, expired, revoked, or owner inactive


def listing(session: Session, token: ApiToken, *, now: dt.datetime) -> TokenListing:
    """How `token` is listed at `now`."""
    person = session.get(Staff, token.staff_id) if token.staff_id is not None else None
    if token.revoked_at is not None:
        state = "revoked"
    elif token.expires_at is not None and now >= token.expires_at:
        state = "expired"
    elif token.staff_id is not None and (person is None or not person.active):
        state = "owner inactive"
    else:
        state = "live"
    scopes = scope_names() if token.legacy else token.scopes
    return TokenListing(
        id=token.id,
        name=token.name,
        owner=f"staff:{token.staff_id}"
        if token.staff_id is not None
        else f"integration:{token.name}",
        staff_id=token.staff_id,
        staff_name=person.name if person is not None else None,
        scopes=None if token.staff_id is not None else list(scopes or []),
        legacy=token.legacy,
        created_at=token.created_at,
        created_by=token.created_by,
        last_used_at=token.last_used_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        state=state,
    )


def list_tokens(
    session: Session, *, now: dt.datetime, offset: int = 0, limit: int | None = None
) -> tuple[list[TokenListing], int]:
    """A page of tokens, oldest first, and how many there are (the secrets are not kept)."""
    total = session.scalar(select(func.count()).select_from(ApiToken)) or 0
    query = select(ApiToken).order_by(ApiToken.id).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    rows = [listing(session, token, now=now) for token in session.scalars(query)]
    return rows, total


def get(session: Session, token_id: int) -> ApiToken:
    """The token with id `token_id`, or NotFound."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"There is no API token with id {token_id}.")
    return token


def find(session: Session, reference: str) -> ApiToken:
    """The token `reference` names: its id (digits alone), else the one live token so called.

    NotFound if none; Conflict if several live tokens share the name (revoke by id instead).
    """
    reference = reference.strip()
    if reference.isascii() and reference.isdigit():
        token = session.get(ApiToken, int(reference))
        if token is not None:
            return token
    named = list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.name == reference, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.id)
        )
    )
    if not named:
        raise NotFound(f"No live API token has the id or name {reference!r}.")
    if len(named) > 1:
        ids = ", ".join(str(token.id) for token in named)
        raise Conflict(
            f"{len(named)} live tokens are called {reference!r} (ids {ids}): revoke one by id.",
            "name",
        )
    return named[0]


def revoke(session: Session, token: ApiToken, *, actor: str, now: dt.datetime) -> bool:
    """Revoke `token` at once; False if it was revoked already (nothing changes)."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = now
    audit.record(
        session,
        actor=actor,
        action="revoke",
        record_type="api_token",
        record_id=token.id,
        at=now,
        changes={"name": token.name},
    )
    return True


def revoke_for_staff(session: Session, staff_id: int, *, actor: str, now: dt.datetime) -> int:
    """Revoke every live token of member of staff `staff_id`; returns how many."""
    live = list(
        session.scalars(
            select(ApiToken).where(ApiToken.staff_id == staff_id, ApiToken.revoked_at.is_(None))
        )
    )
    return sum(revoke(session, token, actor=actor, now=now) for token in live)


def live_legacy_count(session: Session, *, now: dt.datetime) -> int:
    """How many legacy tokens (made before tokens had owners) still work."""
    return (
        session.scalar(
            select(func.count())
            .select_from(ApiToken)
            .where(
                ApiToken.legacy.is_(True),
                ApiToken.revoked_at.is_(None),
                (ApiToken.expires_at.is_(None)) | (ApiToken.expires_at > now),
            )
        )
        or 0
    )
