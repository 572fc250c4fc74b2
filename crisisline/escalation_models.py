"""Tables of the escalation engine: policies, open escalations, their reply codes and events.

The truth about an escalation is its row: step, loop, next due time and version. APScheduler
only wakes the sweep that reads these rows, so a restart or a crash loses nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from crisisline.db import Base


class EscalationPolicyRecord(Base):
    """A policy edited through the API; shipped defaults in config/ apply where none is stored."""

    __tablename__ = "escalation_policies"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime]
    updated_by: Mapped[str] = mapped_column(String(120))


class EscalationRecord(Base):
    """One escalation: who has been told, where in the chain it is, and who took it."""

    __tablename__ = "escalations"
    __table_args__ = (
        Index("ix_escalations_due", "status", "next_due_at"),
        # The escalations that ran out in a period (the handover).
        Index("ix_escalations_exhausted_at", "exhausted_at"),
        # The escalations opened in a report's period.
        Index("ix_escalations_opened_at", "opened_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_name: Mapped[str] = mapped_column(String(60))
    # The policy as it was when the escalation opened: editing a policy never reshapes a
    # running escalation.
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[int | None]
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id"), index=True)
    summary: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    step_index: Mapped[int]
    loop: Mapped[int]
    next_due_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column()
    acknowledged_by: Mapped[str | None] = mapped_column(String(120))
    acknowledged_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    acknowledged_at: Mapped[dt.datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(120))
    closed_at: Mapped[dt.datetime | None]
    exhausted_at: Mapped[dt.datetime | None]
    opened_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]

    # The ORM adds "AND version = <version read>" to every UPDATE of this row and raises
    # StaleDataError when another process changed it first: a decision lands once or not at
    # all. The state machine chooses the new version itself.
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}


class EscalationCode(Base):
    """The reply code one phone holds for one escalation (`3a` takes it, `3c` closes it)."""

    __tablename__ = "escalation_codes"
    __table_args__ = (
        # A phone never holds the same live code twice; closed escalations free theirs.
        Index(
            "uq_escalation_codes_live",
            "phone",
            "code",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalations.id"), index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    phone: Mapped[str] = mapped_column(String(20), index=True)
    code: Mapped[int]
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime]
    # When a text quoting this code last went to this phone: a bare "a" or "c" means the code
    # the person was texted last, not the escalation that reached them first.
    last_sent_at: Mapped[dt.datetime | None]
    # When the code stopped being live. A freed code is not handed to another escalation on
    # the same phone for a day: an old thread answered with "1 ..." must not reach whoever
    # holds code 1 now.
    freed_at: Mapped[dt.datetime | None]


class EscalationEvent(Base):
    """What happened to an escalation, in order: notified, skipped, taken, exhausted..."""

    __tablename__ = "escalation_events"
    # What happened to escalations in a period (the handover: second steps, overdue audits).
    __table_args__ = (Index("ix_escalation_events_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalations.id"), index=True)
    at: Mapped[dt.datetime]
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class StaffNotice(Base):
    """A notice to staff from a scheduled job or a rota change: each is sent exactly once.

    `kind` and `key` say what it is about (a reminder: rota, shift start and staff member), so
    the jobs can run as often as they like and still send each notice once. A notice written
    with `sent_at` empty is pending: a rota change records it in its own transaction and the
    scheduler turns it into a delivery within seconds.
    """

    __tablename__ = "staff_notices"
    __table_args__ = (UniqueConstraint("kind", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(200))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    sent_at: Mapped[dt.datetime | None] = mapped_column(index=True)
