"""contacts: the call's final status as Twilio reported it

Revision ID: 0014_call_status
Revises: 0013_unrouted
Create Date: 2026-11-27 12:15:00.000000

A call's status callback completes its contact with the duration and, now, Twilio's final
CallStatus (completed, busy, failed, no-answer, canceled): whether the caller's call really
connected is on the record, not only what the service concluded about it (the outcome).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0014_call_status'
down_revision: str | None = '0013_unrouted'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('call_status', sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_column('call_status')
