"""deliveries: priority, subject and failing_since; provider_outages

Revision ID: 0015_priority
Revises: 0014_call_status
Create Date: 2026-12-04 18:30:00.000000

The dispatcher claims the most urgent deliveries first (`priority`, set from the purpose when a
delivery is written), retries a crisis delivery while what it is about is still open
(`subject_type`, `subject_id`), and notices a provider outage from deliveries that keep failing
(`failing_since`, `provider_outages`), so that /healthz says so and the duty managers are told.
Existing rows get priority 2 (everything else); rows still queued are re-ranked by purpose.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0015_priority'
down_revision: str | None = '0014_call_status'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As crisisline.delivery_kinds had it when this was written; a migration never imports the app.
_FIRST = ('sms_relay', 'sms_acknowledgement', 'sms_fallback', 'sms_staff_reply')
_SECOND = (
    'escalation',
    'escalation_bundle',
    'escalation_incident',
    'escalation_overdue',
    'sms_staff_notice',
    'provider_recovered',
)


def upgrade() -> None:
    op.create_table(
        'provider_outages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('noticed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('delayed', sa.Integer(), nullable=False),
        sa.Column('reported_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_provider_outages')),
    )
    with op.batch_alter_table('provider_outages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_provider_outages_ended_at'), ['ended_at'], unique=False)
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('priority', sa.Integer(), server_default='2', nullable=False))
        batch_op.add_column(sa.Column('subject_type', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('subject_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('failing_since', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            'ix_deliveries_due_by_priority', ['status', 'priority', 'next_attempt_at'], unique=False
        )
    deliveries = sa.table(
        'deliveries', sa.column('purpose', sa.String), sa.column('priority', sa.Integer)
    )
    op.execute(deliveries.update().where(deliveries.c.purpose.in_(_FIRST)).values(priority=0))
    op.execute(deliveries.update().where(deliveries.c.purpose.in_(_SECOND)).values(priority=1))
    # The default was only for the rows already there: every delivery is written with one.
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.alter_column('priority', server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_due_by_priority')
        batch_op.drop_column('failing_since')
        batch_op.drop_column('subject_id')
        batch_op.drop_column('subject_type')
        batch_op.drop_column('priority')
    with op.batch_alter_table('provider_outages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_provider_outages_ended_at'))
    op.drop_table('provider_outages')
