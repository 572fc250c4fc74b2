"""The audit log: every change to a record says who made it and when."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from crisisline.models import AuditEntry


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    record_type: str,
    record_id: int | None,
    at: dt.datetime,
    changes: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit entry to `session` (committed with the change it describes)."""
    entry = AuditEntry(
        at=at,
        actor=actor,
        action=action,
        record_type=record_type,
        record_id=record_id,
        changes=changes or {},
    )
    session.add(entry)
    return entry
