"""API tokens: random bearer secrets shown once; only their SHA-256 hash is kept."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from crisisline import audit
from crisisline.models import ApiToken

TOKEN_PREFIX = "crl_"  # noqa: S105  (a label that makes leaked tokens easy to spot)


def hash_token(plaintext: str) -> str:
    """The stored form of a token (tokens are long random strings, so a plain hash suffices)."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def create(session: Session, name: str, *, actor: str, now: dt.datetime) -> tuple[str, ApiToken]:
    """Make a new token called `name`; returns the plaintext (never stored) and its row."""
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name, token_hash=hash_token(plaintext), created_at=now)
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
    token.last_used_at = now
    return token


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
