"""Who may do what: the one table of roles and permissions, and the actor a request acts as.

Every web view and API operation declares one `Permission` (crisisline.gate checks it, in one
place). A person holds the permissions of all their roles; each grant has an `Extent`, how far
it reaches among participants: every one, the person's own caseload (the participants whose
responsible officer they are), or the participants whose contacts they are handling or handled
in the last seven days. An integration token holds the scopes it was issued with, each over
every participant. docs/permissions.md is this table in words; a test keeps the two equal.

A caseload and the contacts one handled are different people, so a person who is both an
officer and an on-call worker reaches the union of the two (crisisline.caseloads asks each
role); `Actor.extent`, the widest, answers only "held at all?" and "over every participant?".
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from crisisline.models import StaffRole


class Permission(enum.StrEnum):
    """What a route needs. The grantable ones double as an integration token's scopes."""

    # Not granted: a route so marked needs no sign-in (webhooks check Twilio's signature, feeds
    # and voicemail links their own secret, health checks nothing) or only a signed-in person.
    PUBLIC = "public"
    SIGNED_IN = "signed-in"

    PARTICIPANTS_READ = "participants:read"
    PARTICIPANTS_WRITE = "participants:write"
    CONTACTS_READ = "contacts:read"
    NOTES_WRITE = "notes:write"
    FOLLOW_UPS_READ = "follow-ups:read"
    FOLLOW_UPS_WRITE = "follow-ups:write"
    HANDOVER_READ = "handover:read"
    ALERTS_READ = "alerts:read"
    ALERTS_WRITE = "alerts:write"
    ESCALATIONS_READ = "escalations:read"
    ESCALATIONS_WRITE = "escalations:write"
    POLICIES_READ = "policies:read"
    POLICIES_WRITE = "policies:write"
    ROTAS_READ = "rotas:read"
    ROTAS_WRITE = "rotas:write"
    DELIVERIES_READ = "deliveries:read"
    STAFF_READ = "staff:read"
    STAFF_WRITE = "staff:write"
    ACCOUNTS_ADMIN = "accounts:admin"
    TOKENS_ADMIN = "tokens:admin"
    RISK_RULES_READ = "risk-rules:read"
    REPORTS_READ = "reports:read"
    AUDIT_READ = "audit:read"
    SETTINGS_READ = "settings:read"
    # Participants' crisis plans (docs/crisis-plans.md).
    CRISIS_PLANS_READ = "crisis-plans:read"
    CRISIS_PLANS_WRITE = "crisis-plans:write"
    # The record's life under data protection law (docs/data-protection.md).
    LEGAL_HOLDS_WRITE = "legal-holds:write"
    RETENTION_READ = "retention:read"
    SUBJECT_ACCESS_ADMIN = "subject-access:admin"


UNGRANTED: Final = frozenset({Permission.PUBLIC, Permission.SIGNED_IN})
SCOPES: Final = frozenset(Permission) - UNGRANTED


class Extent(enum.StrEnum):
    """How far a grant reaches among participants (wider first)."""

    ALL = "all"
    CASELOAD = "caseload"  # participants whose responsible officer the person is
    HANDLED = "handled"  # participants whose contacts the person is handling or handled lately
    OWN = "own"  # the person's own records only (their shifts): no participant at all


# ALL reaches everyone and OWN no one; CASELOAD and HANDLED are different people, ranked only so
# that `grants` names one (crisisline.caseloads reaches the union of each role's).
_WIDTH: Final = {Extent.ALL: 3, Extent.CASELOAD: 2, Extent.HANDLED: 1, Extent.OWN: 0}

# How recently a contact must have been handled for an on-call worker to read its participant.
HANDLED_WITHIN_DAYS: Final = 7

# Everything operational: the duty manager's, and the clinical lead's with two more. Notes on
# any contact (the worker who took it, the participant's officer and duty managers write them)
# and participants' records (kept by duty managers as well as the administrator) are operational.
_OPERATIONAL: Final[Mapping[Permission, Extent]] = {
    Permission.PARTICIPANTS_READ: Extent.ALL,
    Permission.PARTICIPANTS_WRITE: Extent.ALL,
    Permission.CONTACTS_READ: Extent.ALL,
    Permission.NOTES_WRITE: Extent.ALL,
    Permission.FOLLOW_UPS_READ: Extent.ALL,
    Permission.FOLLOW_UPS_WRITE: Extent.ALL,
    Permission.HANDOVER_READ: Extent.ALL,
    Permission.ALERTS_READ: Extent.ALL,
    Permission.ALERTS_WRITE: Extent.ALL,
    Permission.ESCALATIONS_READ: Extent.ALL,
    Permission.ESCALATIONS_WRITE: Extent.ALL,
    Permission.POLICIES_READ: Extent.ALL,
    Permission.POLICIES_WRITE: Extent.ALL,
    Permission.ROTAS_READ: Extent.ALL,
    Permission.ROTAS_WRITE: Extent.ALL,
    Permission.DELIVERIES_READ: Extent.ALL,
    Permission.STAFF_READ: Extent.ALL,
    Permission.REPORTS_READ: Extent.ALL,
    Permission.CRISIS_PLANS_READ: Extent.ALL,
}

# The table. A role not listed for a permission does not have it.
ROLE_GRANTS: Final[Mapping[StaffRole, Mapping[Permission, Extent]]] = {
    StaffRole.ON_CALL: {
        Permission.ROTAS_READ: Extent.OWN,
        Permission.PARTICIPANTS_READ: Extent.HANDLED,
        Permission.CONTACTS_READ: Extent.HANDLED,
        Permission.NOTES_WRITE: Extent.HANDLED,
        Permission.CRISIS_PLANS_READ: Extent.HANDLED,
    },
    StaffRole.RESPONSIBLE_OFFICER: {
        Permission.PARTICIPANTS_READ: Extent.CASELOAD,
        Permission.CONTACTS_READ: Extent.CASELOAD,
        Permission.NOTES_WRITE: Extent.CASELOAD,
        Permission.FOLLOW_UPS_READ: Extent.CASELOAD,
        Permission.FOLLOW_UPS_WRITE: Extent.CASELOAD,
        Permission.ALERTS_READ: Extent.CASELOAD,
        Permission.ALERTS_WRITE: Extent.CASELOAD,
        Permission.ESCALATIONS_READ: Extent.CASELOAD,
        Permission.CRISIS_PLANS_READ: Extent.CASELOAD,
        Permission.CRISIS_PLANS_WRITE: Extent.CASELOAD,
    },
    StaffRole.DUTY_MANAGER: dict(_OPERATIONAL),
    StaffRole.CLINICAL_LEAD: {
        **_OPERATIONAL,
        Permission.RISK_RULES_READ: Extent.ALL,
        Permission.AUDIT_READ: Extent.ALL,
        Permission.LEGAL_HOLDS_WRITE: Extent.ALL,
        Permission.RETENTION_READ: Extent.ALL,
        # The plan is the clinical team's: the clinical lead writes any, officers their own.
        Permission.CRISIS_PLANS_WRITE: Extent.ALL,
    },
    # No contact content (contacts, notes, alerts, escalations, deliveries) unless the person
    # also holds another role. Rotas are read to see whom a staff change leaves a gap for.
    StaffRole.ADMIN: {
        Permission.STAFF_READ: Extent.ALL,
        Permission.STAFF_WRITE: Extent.ALL,
        Permission.ACCOUNTS_ADMIN: Extent.ALL,
        Permission.TOKENS_ADMIN: Extent.ALL,
        Permission.PARTICIPANTS_READ: Extent.ALL,
        Permission.PARTICIPANTS_WRITE: Extent.ALL,
        Permission.ROTAS_READ: Extent.ALL,
        Permission.AUDIT_READ: Extent.ALL,
        Permission.SETTINGS_READ: Extent.ALL,
        Permission.LEGAL_HOLDS_WRITE: Extent.ALL,
        Permission.RETENTION_READ: Extent.ALL,
        # Subject access: the one place the administrator sees contact content, to export a
        # man's own record to him; every export is logged.
        Permission.SUBJECT_ACCESS_ADMIN: Extent.ALL,
    },
}


def grants(roles: frozenset[StaffRole]) -> dict[Permission, Extent]:
    """Every permission `roles` hold together, each at the widest extent any of them gives."""
    held: dict[Permission, Extent] = {}
    for role in roles:
        for permission, extent in ROLE_GRANTS.get(role, {}).items():
            if permission not in held or _WIDTH[extent] > _WIDTH[held[permission]]:
                held[permission] = extent
    return held


@dataclass(frozen=True)
class Actor:
    """Whom a request acts for: a signed-in person (with their roles) or an integration token."""

    kind: Literal["person", "integration"]
    name: str
    staff_id: int | None = None
    roles: frozenset[StaffRole] = frozenset()
    # An integration's scopes; a person's permissions come from their roles.
    scopes: frozenset[Permission] = frozenset()
    token_id: int | None = None
    web_session_id: str | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        """The actor as the audit and access logs name it: staff:12 or integration:NAME."""
        if self.kind == "person":
            return f"staff:{self.staff_id}"
        return f"integration:{self.name}"

    def extent(self, permission: Permission) -> Extent | None:
        """How far `permission` reaches for this actor, or None if it is not held."""
        if permission is Permission.PUBLIC:
            return Extent.ALL
        if permission is Permission.SIGNED_IN:
            return Extent.OWN if self.kind == "person" else None
        if self.kind == "integration":
            return Extent.ALL if permission in self.scopes else None
        return grants(self.roles).get(permission)

    def may(self, permission: Permission) -> bool:
        """Whether this actor holds `permission` at any extent."""
        return self.extent(permission) is not None
