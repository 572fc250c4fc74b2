"""Changes to who staffs the line that people must hear about: rota edits, overrides, staff
edits and deactivation.

Each records the change through the records modules (`rota_service`, `staff`) and then, in the
same transaction, records the notices it calls for (`rota_notices`: whoever it moves, and the
duty managers when it opens a gap). The API calls these, never the records functions they wrap,
so no change can forget its notices and no records module has to reach up into the flows.
Refusing to delete or rename a rota the escalation policies name is here too: it joins rotas
to the policy store, which itself builds on the rota records.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

import wording
from crisisline import (
    accounts,
    escalation_policies,
    outbox,
    rota_notices,
    rota_service,
    staff,
    tokens,
    web_sessions,
)
from crisisline.errors import Conflict
from crisisline.models import Delivery, Staff
from crisisline.rota_models import RotaOverride, RotaRecord
from escalation import RotaNameTarget, RotaTarget


def update_rota(
    session: Session,
    rota_id: int,
    changes: dict[str, Any],
    *,
    actor: str,
    now: dt.datetime,
    effective_from: dt.datetime | None = None,
) -> RotaRecord:
    """Apply `changes` (any of the rota's fields), check the result is a valid rota, and tell
    whoever the edit moves. With `effective_from` (a handoff still to come) the change applies
    from that handoff on and every turn before it stays exactly as it was."""
    record = rota_service.get(session, rota_id)
    old = rota_service.to_rota(record)
    if effective_from is None:
        new = rota_service.revise(session, record, changes)
    else:
        new = rota_service.revise_from(session, record, changes, effective_from, now=now)
    if new.name != record.name:
        # Policies name rotas by name: a rename would leave their steps reaching nobody.
        _refuse_if_a_policy_names(session, record, by_id=False)
    rota_service.save_revision(session, record, new, actor=actor, now=now)
    rota_notices.rota_edited(session, record, old, actor=actor, now=now)
    return record


def delete_rota(session: Session, rota_id: int, *, actor: str, now: dt.datetime) -> None:
    """Delete a rota no escalation policy names (see rota_service.delete_rota)."""
    _refuse_if_a_policy_names(session, rota_service.get(session, rota_id))
    rota_service.delete_rota(session, rota_id, actor=actor, now=now)


def add_override(
    session: Session,
    rota_id: int,
    new: rota_service.NewOverride,
    *,
    actor: str,
    now: dt.datetime,
) -> RotaOverride:
    """Enter an override on a rota and tell everyone it moves."""
    row = rota_service.add_override(session, rota_id, new, actor=actor, now=now)
    rota_notices.override_added(session, row, actor=actor, now=now)
    return row


def delete_override(
    session: Session, rota_id: int, override_id: int, *, actor: str, now: dt.datetime
) -> None:
    """Remove an override and tell everyone its removal moves."""
    row = rota_service.delete_override(session, rota_id, override_id, actor=actor, now=now)
    rota_notices.override_removed(session, row, actor=actor, now=now)


def update_staff(
    session: Session,
    staff_id: int,
    changes: dict[str, Any],
    *,
    actor: str,
    now: dt.datetime,
    line_number: str | None = None,
) -> Staff:
    """Change a member of staff (see staff.update); switching them off warns as deactivating."""
    was_active = staff.get(session, staff_id).active
    person = staff.update(session, staff_id, changes, actor=actor, now=now, line_number=line_number)
    if was_active and changes.get("active") is False:
        _deactivated(session, person, actor=actor, now=now)
    return person


def deactivate_staff(session: Session, staff_id: int, *, actor: str, now: dt.datetime) -> Staff:
    """Mark a member of staff inactive (see staff.deactivate) and warn of the gaps it opens."""
    was_active = staff.get(session, staff_id).active
    person = staff.deactivate(session, staff_id, actor=actor, now=now)
    if was_active:
        _deactivated(session, person, actor=actor, now=now)
    return person


def _deactivated(session: Session, person: Staff, *, actor: str, now: dt.datetime) -> None:
    # A leaver's console sessions end now, not at their idle limit.
    web_sessions.end_all_for_staff(session, person.id, now=now, reason="deactivated")
    # A leaver on a rota leaves a hole: the duty managers hear at once, not at 08:00 tomorrow.
    rota_notices.staff_deactivated(session, person, actor=actor, now=now)


def _refuse_if_a_policy_names(session: Session, record: RotaRecord, *, by_id: bool = True) -> None:
    # A policy step naming a rota that no longer exists reaches nobody, silently, at 3 a.m.
    # The place to find that out is here, when someone tries to delete it.
    for policy, _ in escalation_policies.list_policies(session):
        for step in policy.steps:
            for target in step.targets:
                named = (
                    by_id and isinstance(target, RotaTarget) and target.rota_id == record.id
                ) or (
                    isinstance(target, RotaNameTarget)
                    and target.rota.casefold() == record.name.casefold()
                )
                if named:
                    raise Conflict(
                        f"Rota {record.name!r} is used by the escalation policy "
                        f"{policy.name!r}; change the policy first.",
                        "rota",
                    )


INVITATION_PURPOSE = "console_invitation"
INVITATION_PATH = "/invitation/"


def invite_to_console(
    session: Session,
    staff_id: int,
    *,
    actor: str,
    now: dt.datetime,
    public_base_url: str,
    from_: str,
) -> Delivery:
    """Invite a member of staff to the console: text their registered phone a one-time link.

    A re-invitation (forgotten password, lost phone) ends the old credentials and every session
    signed in with them at once.
    """
    token = accounts.invite(session, staff_id, actor=actor, now=now)
    person = staff.get(session, staff_id)
    web_sessions.end_all_for_staff(session, staff_id, now=now, reason="reinvited")
    hours = int(accounts.INVITATION_LIFETIME.total_seconds() // 3600)
    return outbox.enqueue_sms(
        session,
        to=person.phone,
        from_=from_,
        body=wording.staff.console_invitation_text(
            person.name.split()[0], invitation_link(public_base_url, token), hours=hours
        ),
        purpose=INVITATION_PURPOSE,
        now=now,
    )


@dataclass(frozen=True)
class AccessEnded:
    """What disabling a console account ended besides the account itself."""

    sessions_ended: int
    tokens_revoked: int


def disable_console_access(
    session: Session, staff_id: int, *, actor: str, now: dt.datetime
) -> AccessEnded:
    """Disable a member of staff's console account, end their sessions and revoke their API
    tokens: nothing of theirs signs in until an administrator invites them again."""
    accounts.disable(session, staff_id, actor=actor, now=now)
    return AccessEnded(
        sessions_ended=web_sessions.end_all_for_staff(
            session, staff_id, now=now, reason="disabled"
        ),
        tokens_revoked=tokens.revoke_for_staff(session, staff_id, actor=actor, now=now),
    )


def invitation_link(public_base_url: str, token: str) -> str:
    """The console page an invitation's token opens."""
    return f"{public_base_url.rstrip('/')}{INVITATION_PATH}{token}"
