"""Tables of the record's life under data protection law: legal holds, retention runs and what
each removed, recordings waiting to be deleted at the provider, subject access requests, and the
corrections of a participant's details.

- A **legal hold** stops every retention rule for one participant while it is in place. It is
  set and lifted (each with a reason) by the clinical lead or the administrator; a lifted hold is
  kept, so the record shows when data was held and why.
- A **retention run** (crisisline.retention) records every record it removed or anonymised, by
  which rule: nothing is removed without a row here. A dry run writes nothing at all.
- A **recording deletion** is asked of the provider by the retention run; the contact keeps its
  recording reference until the provider confirms the deletion (crisisline.recording_deletion).
- A **subject access request** is tracked from receipt to its one-calendar-month deadline
  (extendable by two months for a complex request), and each export of it is logged.
- A **participant correction** keeps what the details were before, who changed them and why.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crisisline.db import Base, text_enum


class LegalHold(Base):
    """A hold on one participant's records: no retention rule touches them while it is open."""

    __tablename__ = "legal_holds"
    __table_args__ = (Index("ix_legal_holds_participant_lifted", "participant_id", "lifted_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    reason: Mapped[str] = mapped_column(String(500))
    set_at: Mapped[dt.datetime]
    set_by: Mapped[str] = mapped_column(String(120))  # the actor's label (staff:12, cli)
    lifted_at: Mapped[dt.datetime | None]
    lifted_by: Mapped[str | None] = mapped_column(String(120))
    lift_reason: Mapped[str | None] = mapped_column(String(500))


class RetentionRun(Base):
    """One run of the retention schedule (the daily job, or `crisisline retention run`)."""

    __tablename__ = "retention_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The local day a scheduled run is for: unique, so the daily run happens once whichever
    # scheduler gets there first. None for a run asked for from the command line.
    scheduled_for: Mapped[dt.date | None] = mapped_column(Date, unique=True)
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    actor: Mapped[str] = mapped_column(String(120))  # "scheduler" or "cli"
    # The schedule as it was read for this run (kind → keep and from), for the audit.
    schedule: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Per rule: how many records it removed or anonymised (crisisline.retention fills it).
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Participants left untouched because of a legal hold.
    held: Mapped[int] = mapped_column(default=0)
    # "running", "finished" or "failed" (the error's type only, never its text).
    status: Mapped[str] = mapped_column(String(20), default="running")
    error: Mapped[str | None] = mapped_column(String(200))


class RetentionAction(Base):
    """One record one retention run removed or anonymised, and by which rule."""

    __tablename__ = "retention_actions"
    __table_args__ = (
        Index("ix_retention_actions_run", "run_id"),
        Index("ix_retention_actions_record", "record_type", "record_id"),
        Index("ix_retention_actions_participant", "participant_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("retention_runs.id"))
    rule: Mapped[str] = mapped_column(String(40))  # the kind in config/retention.toml
    # "removed" (the row is gone), "anonymised" (identifying fields replaced by a marker),
    # "deletion_requested" (a recording the provider has been asked to delete)
    action: Mapped[str] = mapped_column(String(30))
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int | None]
    participant_id: Mapped[int | None]
    at: Mapped[dt.datetime]


class RecordingDeletion(Base):
    """A voicemail recording the provider has been asked to delete, until it confirms.

    The contact's `recording_url` is cleared only when the provider confirms (or says the
    recording is already gone); until then this row is retried with back-off.
    """

    __tablename__ = "recording_deletions"
    __table_args__ = (Index("ix_recording_deletions_due", "deleted_at", "next_attempt_at"),)

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), primary_key=True)
    recording_url: Mapped[str] = mapped_column(String(500))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("retention_runs.id"))
    requested_at: Mapped[dt.datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime]
    claimed_until: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(200))
    deleted_at: Mapped[dt.datetime | None]


class SubjectAccessStatus(enum.StrEnum):
    """Where a subject access request is."""

    OPEN = "open"
    COMPLETED = "completed"  # the bundle was given to the participant
    WITHDRAWN = "withdrawn"


class SubjectAccessRequest(Base):
    """A participant's request for a copy of his data, tracked to its deadline."""

    __tablename__ = "subject_access_requests"
    __table_args__ = (Index("ix_subject_access_status_due", "status", "due_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    received_on: Mapped[dt.date] = mapped_column(Date)
    # One calendar month from receipt; extended_to when extended by up to two more months.
    due_on: Mapped[dt.date] = mapped_column(Date)
    extended_to: Mapped[dt.date | None] = mapped_column(Date)
    extension_reason: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[SubjectAccessStatus] = mapped_column(
        text_enum(SubjectAccessStatus, "subject_access_status"), default=SubjectAccessStatus.OPEN
    )
    logged_by: Mapped[str] = mapped_column(String(120))
    logged_at: Mapped[dt.datetime]
    detail: Mapped[str | None] = mapped_column(Text)  # how it was received, what it asks for
    exports: Mapped[int] = mapped_column(default=0)
    last_exported_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(120))


class ParticipantCorrection(Base):
    """One correction of a participant's details: what they were, what they became, and why."""

    __tablename__ = "participant_corrections"
    __table_args__ = (Index("ix_participant_corrections_participant", "participant_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    at: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(String(500))
    # field → [before, after], as crisisline.participants.describe gives them
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


__all__ = [
    "LegalHold",
    "ParticipantCorrection",
    "RecordingDeletion",
    "RetentionAction",
    "RetentionRun",
    "SubjectAccessRequest",
    "SubjectAccessStatus",
]
