"""The record access log: every read and change of a participant's record, by whom and why.

Append-only for the application: this module adds entries and reads them, and nothing in the
service updates or deletes one (on PostgreSQL a trigger refuses it). UK DPA 2018 s.62 asks a
controller to log consultation and disclosure of personal data processed for law enforcement.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from crisisline.models import RecordAccess
from crisisline.permissions import Actor


@dataclass(frozen=True)
class Origin:
    """Where a request came from: its address and user agent (None outside a request)."""

    address: str | None = None
    user_agent: str | None = None


def record(
    session: Session,
    actor: Actor,
    *,
    action: str,
    record_type: str,
    record_id: int | None,
    participant_id: int | None,
    at: dt.datetime,
    origin: Origin = Origin(),
    reason: str | None = None,
) -> RecordAccess:
    """Add one entry to the log (committed with the read or change it describes)."""
    entry = RecordAccess(
        at=at,
        actor=actor.label,
        staff_id=actor.staff_id,
        token_id=actor.token_id,
        action=action,
        record_type=record_type,
        record_id=record_id,
        participant_id=participant_id,
        address=(origin.address or "")[:64] or None,
        user_agent=(origin.user_agent or "")[:255] or None,
        reason=reason,
        web_session_id=actor.web_session_id,
    )
    session.add(entry)
    return entry
