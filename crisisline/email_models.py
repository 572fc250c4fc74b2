"""Tables of email: the outbox of emails the service sends (the morning handover), and the
record of each day's handover so that it goes once.

An email is a row written in the transaction that decides to send it, then dispatched to the
SMTP server by the scheduler with retries (crisisline.email_outbox); its Message-ID is fixed at
enqueue time, so a resend after a crash mid-send is recognisable as the same message.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Date, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crisisline.db import Base, text_enum


class EmailStatus(enum.StrEnum):
    """Where an email is in the outbox."""

    QUEUED = "queued"  # waiting to be sent (or to be tried again)
    SENDING = "sending"  # claimed by a dispatcher
    SENT = "sent"  # the SMTP server accepted it
    FAILED = "failed"  # refused for good, or out of attempts


class Email(Base):
    """One email to one address, in the outbox."""

    __tablename__ = "emails"
    __table_args__ = (
        Index("ix_emails_status_next", "status", "next_attempt_at"),
        # The emails that failed in a period (the handover).
        Index("ix_emails_status_updated", "status", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(40))
    # What it is about, e.g. "handover:2026-12-06": for finding it again, never for sending.
    reference: Mapped[str | None] = mapped_column(String(80), index=True)
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[EmailStatus] = mapped_column(
        text_enum(EmailStatus, "email_status"), default=EmailStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=8)
    next_attempt_at: Mapped[dt.datetime]
    claim_token: Mapped[str | None] = mapped_column(String(40))
    claimed_until: Mapped[dt.datetime | None]
    error_message: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    sent_at: Mapped[dt.datetime | None]


class HandoverSend(Base):
    """One day's morning handover: written once, by whichever scheduler gets there first."""

    __tablename__ = "handover_sends"

    local_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    period_start: Mapped[dt.datetime]
    period_end: Mapped[dt.datetime]
    queued_at: Mapped[dt.datetime]
    emails: Mapped[int] = mapped_column(default=0)
    texts: Mapped[int] = mapped_column(default=0)


__all__ = ["Email", "EmailStatus", "HandoverSend"]
