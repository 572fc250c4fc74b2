"""People and integrations with API tokens of their own, for tests of who may do what: a member
of staff with the given roles and a personal token (acting with those roles), or a named
integration token with explicit scopes, each issued through the service."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flask import Flask

from crisisline import staff
from crisisline.models import StaffRole
from crisisline.permissions import Permission
from tests.support.app import services_of
from tests.support.tokens import bearer, issue_token


@dataclass(frozen=True)
class Person:
    """A member of staff and the bearer headers of their personal token."""

    staff_id: int
    headers: dict[str, str]


def person(app: Flask, name: str, phone: str, roles: Iterable[StaffRole]) -> Person:
    """Add a member of staff with `roles` and issue them a personal API token."""
    svc = services_of(app)
    with svc.db.transaction() as session:
        member = staff.create(
            session,
            staff.NewStaff(name, phone, None, list(roles)),
            actor="tests",
            now=svc.clock.now(),
        )
        staff_id = member.id
    return Person(staff_id, bearer(issue_token(app, f"{name}'s token", staff_id=staff_id)))


def integration(app: Flask, name: str, scopes: Iterable[Permission]) -> dict[str, str]:
    """Issue an integration token called `name` holding `scopes`; its bearer headers."""
    return bearer(issue_token(app, name, scopes=[scope.value for scope in scopes]))
