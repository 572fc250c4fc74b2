"""People and integrations with API tokens of their own, for tests of who may do what: a member
of staff with the given roles and a personal token (acting with those roles), or a named
integration token with explicit scopes. Rows are written as the token records keep them: only
the hash of the secret."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from flask import Flask

from crisisline import staff, tokens
from crisisline.models import ApiToken, StaffRole
from crisisline.permissions import Permission
from tests.support.app import services_of


@dataclass(frozen=True)
class Person:
    """A member of staff and the bearer headers of their personal token."""

    staff_id: int
    headers: dict[str, str]


def _bearer(plaintext: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {plaintext}"}


def person(app: Flask, name: str, phone: str, roles: Iterable[StaffRole]) -> Person:
    """Add a member of staff with `roles` and issue them a personal API token."""
    svc = services_of(app)
    now = svc.clock.now()
    plaintext = tokens.TOKEN_PREFIX + secrets.token_urlsafe(32)
    with svc.db.transaction() as session:
        member = staff.create(
            session, staff.NewStaff(name, phone, None, list(roles)), actor="tests", now=now
        )
        session.add(
            ApiToken(
                name=f"{name}'s token",
                token_hash=tokens.hash_token(plaintext),
                created_at=now,
                staff_id=member.id,
                created_by="tests",
            )
        )
    return Person(member.id, _bearer(plaintext))


def integration(app: Flask, name: str, scopes: Iterable[Permission]) -> dict[str, str]:
    """Issue an integration token called `name` holding `scopes`; its bearer headers."""
    svc = services_of(app)
    plaintext = tokens.TOKEN_PREFIX + secrets.token_urlsafe(32)
    with svc.db.transaction() as session:
        session.add(
            ApiToken(
                name=name,
                token_hash=tokens.hash_token(plaintext),
                created_at=svc.clock.now(),
                scopes=[scope.value for scope in scopes],
                created_by="tests",
            )
        )
    return _bearer(plaintext)
