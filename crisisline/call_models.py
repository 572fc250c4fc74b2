"""The state of a crisis call while it is live: which step is ringing and who accepted it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from crisisline.db import Base


class LiveCall(Base):
    """One call to the crisis number, from the first webhook to its final status callback."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), unique=True)
    # "crisis": a participant (or anyone) calling for help; "staff": a staff member calling
    # the line from their registered phone, to call someone back through it.
    kind: Mapped[str] = mapped_column(String(20))
    step_index: Mapped[int] = mapped_column(default=-1)
    loop: Mapped[int] = mapped_column(default=0)
    ringing: Mapped[list[int]] = mapped_column(JSON, default=list)
    # Set by the screening keypress, never by Twilio's DialCallStatus: a voicemail that picks
    # up reports "completed" too.
    accepted_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    accepted_at: Mapped[dt.datetime | None]
    fallback_at: Mapped[dt.datetime | None]
    missed_escalation_id: Mapped[int | None] = mapped_column(ForeignKey("escalations.id"))
    # Indexed: which staff phones are busy is read from the calls of the last hours.
    started_at: Mapped[dt.datetime] = mapped_column(index=True)
    updated_at: Mapped[dt.datetime]
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
