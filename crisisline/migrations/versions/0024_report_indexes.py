"""escalations and text conversations: an index on when each began

Revision ID: 0024_report_indexes
Revises: 0023_handover_indexes
Create Date: 2026-12-06 02:15:00.000000

A service report reads the records of its period: the alerts raised in it (whatever their
status now), the escalations and the text conversations opened in it. No index began with the
last two's times, so each read scanned its whole table, and a year's report grew with every
year of history before it (bench/reports.py). With these, each is a range scan of the period's
rows. The contacts of a period (ix_contacts_started_at) and the alerts
(ix_risk_alerts_raised_at, 0023) already have theirs.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op


revision: str = '0024_report_indexes'
down_revision: str | None = '0023_handover_indexes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_escalations_opened_at', 'escalations', ['opened_at'], unique=False)
    op.create_index(
        'ix_sms_conversations_opened_at', 'sms_conversations', ['opened_at'], unique=False
    )


def downgrade() -> None:
    op.drop_index('ix_sms_conversations_opened_at', table_name='sms_conversations')
    op.drop_index('ix_escalations_opened_at', table_name='escalations')
