"""participants closed before the end-of-service date existed get one

Revision ID: 0027_backfill_end_of_service
Revises: 0026_scheduler_wake_status
Create Date: 2026-12-06 05:20:00.000000

The retention schedule counts several kinds of record from a participant's end of service
(`ended_service_on`, set when he is closed from migration 0025 on). A participant closed before
that has no date, and under an "end_of_service" rule nothing of his would ever be past its time:
kept for ever. Each gets the day his record was last changed (`updated_at`, in UTC): the closest
the record can say to when he was closed, and never earlier than it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0027_backfill_end_of_service'
down_revision: str | None = '0026_scheduler_wake_status'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    day = (
        "CAST(updated_at AT TIME ZONE 'UTC' AS DATE)"
        if op.get_bind().dialect.name == 'postgresql'
        else "date(updated_at)"
    )
    op.execute(
        sa.text(
            f"UPDATE participants SET ended_service_on = {day} "
            "WHERE status = 'closed' AND ended_service_on IS NULL"
        )
    )


def downgrade() -> None:
    # The dates cannot be told from those set when closing: they stay.
    pass
