"""The outbox of emails: written in the transaction that decides to send, then sent to the SMTP
server by the scheduler (`dispatch_due`), retried on transient failures, never lost.

Each email's Message-ID is fixed when it is written, so a message sent again after a crash
between the server's acceptance and the row's update is the same message to the mail system.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.orm import Session

from crisisline.db import save
from crisisline.email_models import Email, EmailStatus

DEFAULT_MAX_ATTEMPTS = 8


def _domain(sender: str) -> str:
    return sender.rpartition("@")[2].strip(" >") or "localhost"


def enqueue(
    session: Session,
    *,
    to: str,
    subject: str,
    text: str,
    html: str | None,
    purpose: str,
    now: dt.datetime,
    sender: str,
    reference: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> Email:
    """Write one email to `to` into the outbox, due now."""
    email = Email(
        purpose=purpose,
        reference=reference,
        to_address=to.strip(),
        subject=subject[:300],
        text_body=text,
        html_body=html,
        message_id=f"<{uuid.uuid4().hex}@{_domain(sender)}>",
        status=EmailStatus.QUEUED,
        attempts=0,
        max_attempts=max_attempts,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    save(session, email)
    return email
