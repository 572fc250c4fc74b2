"""Tables of crisis texts: the masked SMS conversations and the numbers that opted out (STOP).

A conversation is one participant number talking to the crisis line until a member of staff
closes it or it goes quiet. Every text in and out is still a `Contact` (linked here by
`contacts.conversation_id`); this row only holds what routing needs: the escalation that chases
it, who took it, and whether the participant has had the acknowledgement.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from crisisline.db import Base


class SmsConversation(Base):
    """One participant number's open (or past) text conversation with the crisis line."""

    __tablename__ = "sms_conversations"
    __table_args__ = (
        # One open conversation per number: two texts racing in never open two escalations.
        Index(
            "uq_sms_conversations_open_phone",
            "phone",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_sms_conversations_status_last", "status", "last_message_at"),
        # The conversations opened in a report's period.
        Index("ix_sms_conversations_opened_at", "opened_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The participant's number (E.164); unknown numbers (family, a new phone) are served too.
    phone: Mapped[str] = mapped_column(String(20), index=True)
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))  # open | closed
    escalation_id: Mapped[int | None] = mapped_column(ForeignKey("escalations.id"))
    handled_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    opened_at: Mapped[dt.datetime]
    last_message_at: Mapped[dt.datetime]
    last_staff_message_at: Mapped[dt.datetime | None]
    participant_acknowledged_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(120))
    close_reason: Mapped[str | None] = mapped_column(String(40))


class SmsOptOut(Base):
    """A number's SMS opt-out state: after STOP, Twilio refuses texts to it (error 21610)."""

    __tablename__ = "sms_opt_outs"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    opted_out: Mapped[bool]
    # The keyword that changed it (STOP, START...) or "error 21610" when a refused delivery
    # showed it first.
    reason: Mapped[str] = mapped_column(String(40))
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id"))
    opted_out_at: Mapped[dt.datetime | None]
    opted_in_at: Mapped[dt.datetime | None]
    changed_at: Mapped[dt.datetime]


__all__ = ["SmsConversation", "SmsOptOut"]
