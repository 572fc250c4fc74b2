"""scheduler leader role in heartbeats; staff notices (shift reminders, changes, gap warnings)

Revision ID: 0008_leader
Revises: 0007_sms
Create Date: 2026-11-27 00:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008_leader'
down_revision: str | None = '0007_sms'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('scheduler_heartbeats', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('role', sa.String(length=20), server_default='leader', nullable=False)
        )

    op.create_table('staff_notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_staff_notices_staff_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_notices')),
    sa.UniqueConstraint('kind', 'key', name=op.f('uq_staff_notices_kind'))
    )
    with op.batch_alter_table('staff_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_notices_sent_at'), ['sent_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_staff_notices_staff_id'), ['staff_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('staff_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_notices_staff_id'))
        batch_op.drop_index(batch_op.f('ix_staff_notices_sent_at'))

    op.drop_table('staff_notices')
    with op.batch_alter_table('scheduler_heartbeats', schema=None) as batch_op:
        batch_op.drop_column('role')
