"""Console sign-in sessions, kept in the database so that any one can be ended at once.

The browser holds a random id in a cookie; the table keeps its SHA-256. A session begins
half-open when the password is right and is signed in when the second factor is; it lasts at
most `absolute` from its start and `idle` from its last request, and it ends at sign-out, when
the staff member is deactivated or their account disabled, and when the account is re-invited
(its credentials version moves on).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Final

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crisisline.account_models import StaffAccount, WebSession
from crisisline.models import Staff
from crisisline.permissions import Actor

# A request records when a session was last used at most this often: writing it on every request
# made each page a write transaction. An idle session may end up to this much early.
_TOUCH_EVERY: Final = dt.timedelta(seconds=30)

# A half-open session (password given, code not yet) lasts this long.
SECOND_FACTOR_WINDOW: Final = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Limits:
    """How long a session may last in all, and without a request."""

    absolute: dt.timedelta = dt.timedelta(hours=12)
    idle: dt.timedelta = dt.timedelta(minutes=30)


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def begin(
    session: Session,
    account: StaffAccount,
    *,
    now: dt.datetime,
    limits: Limits,
    address: str | None,
    user_agent: str | None,
    half_open_for: dt.timedelta = SECOND_FACTOR_WINDOW,
) -> str:
    """Open a half-open session for `account` after its password; returns the cookie's id.

    It lasts `half_open_for` (at most `limits.absolute`) unless the second factor completes it;
    enrolment after an invitation, which takes longer than typing a code, asks for more.
    """
    session_id = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            id_hash=_hash(session_id),
            staff_id=account.staff_id,
            credentials_version=account.credentials_version,
            created_at=now,
            last_seen_at=now,
            expires_at=now + min(limits.absolute, half_open_for),
            address=(address or "")[:64] or None,
            user_agent=(user_agent or "")[:255] or None,
        )
    )
    return session_id


def find(session: Session, session_id: str) -> WebSession | None:
    """The session row a cookie names, live or not, or None."""
    return session.get(WebSession, _hash(session_id))


def complete_second_factor(row: WebSession, *, now: dt.datetime, limits: Limits) -> None:
    """The code was right: the half-open session is now signed in, for at most `absolute`."""
    row.second_factor_at = now
    row.last_seen_at = now
    row.expires_at = row.created_at + limits.absolute


def live(
    session: Session, row: WebSession, *, now: dt.datetime, limits: Limits
) -> tuple[StaffAccount, Staff] | None:
    """The account and staff member of a live session, or None (ending it if it has lapsed)."""
    if row.ended_at is not None:
        return None
    reason = None
    account = session.scalars(
        select(StaffAccount).where(StaffAccount.staff_id == row.staff_id)
    ).first()
    staff = session.get(Staff, row.staff_id)
    if now >= row.expires_at:
        reason = "expired"
    elif now - row.last_seen_at >= limits.idle:
        reason = "idle"
    elif staff is None or not staff.active:
        reason = "deactivated"
    elif account is None or account.disabled_at is not None:
        reason = "disabled"
    elif account.credentials_version != row.credentials_version:
        reason = "reinvited"
    if reason is not None or account is None or staff is None:
        end(row, now=now, reason=reason or "ended")
        return None
    return account, staff


def identify(
    session: Session, session_id: str, *, now: dt.datetime, limits: Limits
) -> Actor | None:
    """The person a signed-in session acts for (touching it), or None."""
    row = find(session, session_id)
    if row is None or row.second_factor_at is None:
        return None
    found = live(session, row, now=now, limits=limits)
    if found is None:
        return None
    _account, staff = found
    if now - row.last_seen_at >= _TOUCH_EVERY:
        row.last_seen_at = now
    return Actor(
        kind="person",
        name=staff.name,
        staff_id=staff.id,
        roles=frozenset(staff.roles),
        web_session_id=row.id_hash,
    )


def end(row: WebSession, *, now: dt.datetime, reason: str) -> None:
    """End a session (sign-out, lapse or revocation); an ended session is never live again."""
    if row.ended_at is None:
        row.ended_at = now
        row.ended_reason = reason


def end_all_for_staff(session: Session, staff_id: int, *, now: dt.datetime, reason: str) -> int:
    """End every live session of a staff member (deactivation, re-invitation); returns how many."""
    result = session.execute(
        update(WebSession)
        .where(WebSession.staff_id == staff_id, WebSession.ended_at.is_(None))
        .values(ended_at=now, ended_reason=reason)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def last_signed_in(session: Session) -> dict[int, dt.datetime]:
    """Each staff member's latest completed sign-in (password and second factor), by staff id."""
    rows = session.execute(
        select(WebSession.staff_id, func.max(WebSession.second_factor_at))
        .where(WebSession.second_factor_at.is_not(None))
        .group_by(WebSession.staff_id)
    )
    return {staff_id: at for staff_id, at in rows if at is not None}
