"""Console accounts as an administrator sees them: each member of staff's account status, and
disabling an account (its sessions end with it). Inviting is crisisline.staffing's.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from sqlalchemy.orm import Session

from crisisline import accounts, staff, staffing
from crisisline.account_models import StaffAccount
from crisisline.errors import InvalidInput
from crisisline.models import Staff

# Enough for every member of staff of one service on one page.
_MOST_STAFF = 1000


class AccountStatus(enum.StrEnum):
    """Where a member of staff's console account stands."""

    NONE = "none"  # never invited
    INVITED = "invited"  # invited, not yet set up (the link may have expired)
    ACTIVE = "active"  # password and second factor set: can sign in
    LOCKED = "locked"  # too many failed sign-ins, for a while
    DISABLED = "disabled"  # switched off until invited again


@dataclass(frozen=True)
class StaffAccountRow:
    """A member of staff and the state of their console account."""

    staff_id: int
    name: str
    roles: list[str]
    active: bool
    status: AccountStatus
    # Set while an invitation waits to be used, or has run out unused.
    invitation_expires_at: dt.datetime | None


# The page's coarser words for accounts.AccountState (`crisisline accounts list` gives the finer).
_STATUS = {
    accounts.AccountState.NONE: AccountStatus.NONE,
    accounts.AccountState.INVITED: AccountStatus.INVITED,
    accounts.AccountState.INVITATION_EXPIRED: AccountStatus.INVITED,
    accounts.AccountState.ENROLMENT_UNFINISHED: AccountStatus.INVITED,
    accounts.AccountState.ACTIVE: AccountStatus.ACTIVE,
    accounts.AccountState.LOCKED: AccountStatus.LOCKED,
    accounts.AccountState.DISABLED: AccountStatus.DISABLED,
}


def status_of(account: StaffAccount | None, *, now: dt.datetime) -> AccountStatus:
    """The status an administrator sees for `account` (None: never invited)."""
    status = _STATUS[accounts.account_state(account, now=now)]
    if status is AccountStatus.INVITED and account and accounts.is_locked(account, now=now):
        # Wrong passwords lock an account not yet set up too; the page says so.
        return AccountStatus.LOCKED
    return status


def staff_accounts(session: Session, *, now: dt.datetime) -> list[StaffAccountRow]:
    """Every member of staff by name, with their account's status."""
    people, _total = staff.list_staff(session, limit=_MOST_STAFF)
    by_staff = accounts.by_staff(session)
    return [_row(person, by_staff.get(person.id), now=now) for person in people]


def disable(session: Session, staff_id: int, *, actor: str, now: dt.datetime) -> Staff:
    """Disable `staff_id`'s account and end their sessions now; refuses one's own account.

    NotFound if there is no such member of staff or they have no account.
    """
    if actor == f"staff:{staff_id}":
        # The last administrator locking themselves out would leave nobody to invite anyone.
        raise InvalidInput(
            "You cannot disable your own account: ask another administrator.", field="staff_id"
        )
    person = staff.get(session, staff_id)
    # The same as `crisisline accounts disable`: sessions end and API tokens are revoked too.
    staffing.disable_console_access(session, staff_id, actor=actor, now=now)
    return person


def _row(person: Staff, account: StaffAccount | None, *, now: dt.datetime) -> StaffAccountRow:
    waiting = (
        account is not None
        and account.invitation_used_at is None
        and account.invitation_token_hash is not None
    )
    return StaffAccountRow(
        staff_id=person.id,
        name=person.name,
        roles=[role.value for role in person.roles],
        active=person.active,
        status=status_of(account, now=now),
        invitation_expires_at=account.invitation_expires_at if waiting and account else None,
    )
