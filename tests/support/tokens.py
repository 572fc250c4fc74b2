"""API tokens for tests, issued through the service as `crisisline tokens create` issues them."""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask

from crisisline import tokens
from tests.support.app import services_of


def issue_token(
    app: Flask,
    name: str = "tests",
    *,
    staff_id: int | None = None,
    scopes: Iterable[str] | None = None,
) -> str:
    """A new token's plaintext: a person's (`staff_id`), or an integration's holding `scopes`
    (every scope when neither is given)."""
    if staff_id is None and scopes is None:
        scopes = tokens.scope_names()
    services = services_of(app)
    with services.db.transaction() as session:
        plaintext, _ = tokens.create(
            session,
            name,
            actor="tests",
            now=services.clock.now(),
            staff_id=staff_id,
            scopes=None if scopes is None else list(scopes),
        )
    return plaintext


def bearer(plaintext: str) -> dict[str, str]:
    """Headers that send `plaintext` as the request's bearer token."""
    return {"Authorization": f"Bearer {plaintext}"}
