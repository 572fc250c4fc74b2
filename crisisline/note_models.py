"""Tables of what happened after a contact: the worker's notes, the officer's follow-ups, and
the texts that prompt a worker to write a note.

A note is never edited in place: a correction is a new version of the contact's note (the
highest version is the current one, the earlier ones stay readable with who wrote them and when).
A note that asks the responsible officer to follow up opens one follow-up per contact, which the
officer marks done with a line of what was done.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crisisline.db import Base, text_enum


class RiskNow(enum.StrEnum):
    """The risk now, as the worker who handled the contact judges it (lowest first)."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    IMMEDIATE = "immediate"


class NoteAction(enum.StrEnum):
    """An action the worker took during or after the contact."""

    ADVISED_999 = "advised_999"
    CALLED_EMERGENCY = "called_emergency"  # called 999, the police or an ambulance
    CONTACTED_OFFICER = "contacted_officer"
    SAFETY_PLAN = "safety_plan"
    REFERRED_CRISIS_TEAM = "referred_crisis_team"  # crisis or home treatment team
    SIGNPOSTED = "signposted"  # Samaritans, Shout or NHS 111
    OTHER = "other"


class FollowUpStatus(enum.StrEnum):
    """Where a follow-up is: waiting for the officer, done, or withdrawn by a later version."""

    OPEN = "open"
    DONE = "done"
    WITHDRAWN = "withdrawn"


class ContactNote(Base):
    """One version of the note on a contact that a person handled."""

    __tablename__ = "contact_notes"
    __table_args__ = (
        # Two people saving a version at once: one of them gets the clash, nothing is lost.
        UniqueConstraint("contact_id", "version"),
        Index("ix_contact_notes_participant_written", "participant_id", "written_at"),
        Index("ix_contact_notes_written", "written_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    version: Mapped[int]
    # The contact's participant when the note was written (None for an unknown caller).
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id"))
    author_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    author: Mapped[str] = mapped_column(String(120))  # the actor's label (staff:12, integration:x)
    written_at: Mapped[dt.datetime]
    what_happened: Mapped[str] = mapped_column(Text)
    risk_now: Mapped[RiskNow] = mapped_column(text_enum(RiskNow, "note_risk_now"))
    factors: Mapped[str | None] = mapped_column(Text)
    actions: Mapped[list[str]] = mapped_column(JSON, default=list)
    other_action: Mapped[str | None] = mapped_column(String(200))
    follow_up_wanted: Mapped[bool] = mapped_column(default=False)
    follow_up_what: Mapped[str | None] = mapped_column(Text)
    debrief_wanted: Mapped[bool] = mapped_column(default=False)
    # Why a later version was written (required from version 2 on).
    correction_reason: Mapped[str | None] = mapped_column(String(500))
    # The risk alert this version raised (risk high or immediate), if any.
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("risk_alerts.id"))


class FollowUp(Base):
    """A note's request that the participant's responsible officer follow up: one per contact."""

    __tablename__ = "follow_ups"
    __table_args__ = (
        Index("ix_follow_ups_status_asked", "status", "asked_at"),
        Index("ix_follow_ups_officer_status", "officer_staff_id", "status"),
        # The follow-ups asked in a period whatever their state now (the handover).
        Index("ix_follow_ups_asked_at", "asked_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), unique=True)
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id"))
    # The note version that asked (or last changed what is asked).
    note_id: Mapped[int] = mapped_column(ForeignKey("contact_notes.id"))
    # The participant's officer when it was asked: a later change of officer does not move it.
    officer_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    asked_at: Mapped[dt.datetime]
    asked_by: Mapped[str] = mapped_column(String(120))
    what: Mapped[str] = mapped_column(Text)
    status: Mapped[FollowUpStatus] = mapped_column(
        text_enum(FollowUpStatus, "follow_up_status"), default=FollowUpStatus.OPEN
    )
    done_at: Mapped[dt.datetime | None]
    done_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    done_by: Mapped[str | None] = mapped_column(String(120))
    done_what: Mapped[str | None] = mapped_column(Text)


class NotePrompt(Base):
    """The text asking the worker who handled a contact to write its note, and its reminder.

    One row per contact, written when the contact is found handled and ended: the primary key is
    what makes the prompt go once, whichever scheduler process finds it first.
    """

    __tablename__ = "note_prompts"
    # A worker's notes still to write (the Now board): his prompts of the last week.
    __table_args__ = (Index("ix_note_prompts_staff_ended", "staff_id", "ended_at"),)

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    ended_at: Mapped[dt.datetime]
    prompted_at: Mapped[dt.datetime]
    prompt_delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"))
    # When the reminder is due if there is still no note; cleared once it is sent or not needed.
    reminder_due_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    reminded_at: Mapped[dt.datetime | None]
    reminder_delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


__all__ = [
    "ContactNote",
    "FollowUp",
    "FollowUpStatus",
    "NoteAction",
    "NotePrompt",
    "RiskNow",
]
