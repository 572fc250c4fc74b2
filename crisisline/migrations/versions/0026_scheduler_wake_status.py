"""scheduler heartbeats: the state of each scheduler's wake-up listener

Revision ID: 0026_scheduler_wake_status
Revises: 0025_data_protection
Create Date: 2026-12-06 05:00:00.000000

On PostgreSQL the scheduler listens for wake-ups (LISTEN/NOTIFY, crisisline.wakeups) on a
connection of its own. Its heartbeat now says whether that connection is listening and how
often it has dropped, so that /healthz can show a scheduler falling back to its sweeps.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0026_scheduler_wake_status'
down_revision: str | None = '0025_data_protection'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('scheduler_heartbeats', schema=None) as batch_op:
        batch_op.add_column(sa.Column('wake_listening', sa.Boolean(), nullable=True))
        batch_op.add_column(
            sa.Column('wake_reconnects', sa.Integer(), server_default='0', nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('scheduler_heartbeats', schema=None) as batch_op:
        batch_op.drop_column('wake_reconnects')
        batch_op.drop_column('wake_listening')
