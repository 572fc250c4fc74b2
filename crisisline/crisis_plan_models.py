"""Tables of participants' crisis plans: every version of each man's plan, and the texted links
that put it in the hands of the worker who takes his call or text.

- A **crisis plan** is written and kept by his responsible officer or the clinical lead, in short
  sections. It is never changed in place: each change is a new version (who, when, why), and the
  current plan is the highest version. A plan past its review date is flagged.
- A **plan link** is the one text a worker gets when they take a call (press 1) or a text
  conversation (reply with its code): a signed link to a one-screen view of the plan, usable once
  by that worker for that contact, for a few hours, after signing in. The row's primary key
  (contact, worker) is what makes it go once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crisisline.db import Base


class CrisisPlan(Base):
    """One version of one participant's crisis plan."""

    __tablename__ = "crisis_plans"
    __table_args__ = (
        # Two people saving a version at once: one of them gets the clash, nothing is lost.
        UniqueConstraint("participant_id", "version"),
        # Plans due for review (the officers' flags, the handover).
        Index("ix_crisis_plans_review_on", "review_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    version: Mapped[int]
    written_at: Mapped[dt.datetime]
    author: Mapped[str] = mapped_column(String(120))  # the actor's label (staff:12, cli)
    author_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    # Why this version was written (required from version 2 on).
    change_reason: Mapped[str | None] = mapped_column(String(500))
    # What a crisis looks like for him: the warning signs.
    warning_signs: Mapped[str] = mapped_column(Text)
    # What tends to set one off.
    triggers: Mapped[str | None] = mapped_column(Text)
    # What helps, and what does not (in his words where possible).
    what_helps: Mapped[str | None] = mapped_column(Text)
    what_does_not_help: Mapped[str | None] = mapped_column(Text)
    # People and services he agrees may be contacted: [{"name", "relationship", "phone"}].
    contacts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Risk to himself and to others, and what to do if it rises.
    risk_to_self: Mapped[str | None] = mapped_column(Text)
    risk_to_others: Mapped[str | None] = mapped_column(Text)
    if_risk_rises: Mapped[str | None] = mapped_column(Text)
    # Approved premises, curfew, licence conditions that matter at night.
    practical_notes: Mapped[str | None] = mapped_column(Text)
    # The day it was agreed with him, and the day it is to be reviewed by.
    agreed_on: Mapped[dt.date] = mapped_column(Date)
    review_on: Mapped[dt.date] = mapped_column(Date)


class CrisisPlanLink(Base):
    """The texted link to a participant's crisis plan, for one worker and one contact."""

    __tablename__ = "crisis_plan_links"
    __table_args__ = (Index("ix_crisis_plan_links_staff_sent", "staff_id", "sent_at"),)

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    sent_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"))
    # When the worker first opened it (signed in): the link works once.
    used_at: Mapped[dt.datetime | None]


__all__ = ["CrisisPlan", "CrisisPlanLink"]
