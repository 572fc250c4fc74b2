"""API tokens: random bearer secrets shown once; only their SHA-256 hash is kept."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from crisisline import audit
from crisisline.models import ApiToken, Staff
from crisisline.permissions import SCOPES, Actor, Permission

TOKEN_PREFIX = "crl_"  # noqa: S105  (a label that makes leaked tokens easy to spot)


def hash_token(plaintext: str) -> str:
    """The stored form of a token (tokens are long random strings, so a plain hash suffices)."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def create(session: Session, name: str, *, actor: str, now: dt.datetime) -> tuple[str, ApiToken]:
    """Make a new token called `name`; returns the plaintext (never stored) and its row."""
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    # Until tokens are issued to a person or with scopes, `tokens create` makes what it always
    # made: a token that may do everything, flagged as legacy.
    token = ApiToken(
        name=name, token_hash=hash_token(plaintext), created_at=now, legacy=True, created_by=actor
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
        changes={"name": name},
    )
    return plaintext, token


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


def list_tokens(session: Session) -> list[ApiToken]:
    """Every token, oldest first (names and dates only: the secrets are not kept)."""
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke(session: Session, name: str, *, actor: str, now: dt.datetime) -> int:
    """Revoke every live token called `name`; returns how many were revoked."""
    revoked = 0
    for token in session.scalars(
        select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
    ):
        token.revoked_at = now
        revoked += 1
        audit.record(
            session,
            actor=actor,
            action="revoke",
            record_type="api_token",
            record_id=token.id,
            at=now,
            changes={"name": name},
        )
    return revoked
