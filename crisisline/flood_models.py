"""Tables of floods: many texts or calls from unknown numbers at once, gathered together.

A flood is open from the first contact it gathers until a whole window passes with nothing
gathered (crisisline.floods). Its gathered contacts are listed in `flood_contacts`; each stays
a `Contact` of its own, on the record like any other.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from crisisline.db import Base


class Flood(Base):
    """One flood of contacts from unknown numbers, and the one escalation that gathers them."""

    __tablename__ = "floods"

    id: Mapped[int] = mapped_column(primary_key=True)
    # 1 while the flood is open, NULL once it has ended: unique, so two processes gathering
    # at the same moment never open two floods (NULLs never clash).
    open_marker: Mapped[int | None] = mapped_column(unique=True)
    started_at: Mapped[dt.datetime]
    last_gathered_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]
    escalation_id: Mapped[int | None] = mapped_column(ForeignKey("escalations.id"))
    texts: Mapped[int] = mapped_column(default=0)
    calls: Mapped[int] = mapped_column(default=0)


class FloodContact(Base):
    """A text or call gathered into a flood instead of being escalated on its own."""

    __tablename__ = "flood_contacts"

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), primary_key=True)
    flood_id: Mapped[int] = mapped_column(ForeignKey("floods.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))  # sms | voice
    # The sender's number (E.164), or None for a withheld caller: counted, never shown in logs.
    from_number: Mapped[str | None] = mapped_column(String(20))


__all__ = ["Flood", "FloodContact"]
