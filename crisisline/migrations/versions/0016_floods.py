"""floods: texts and calls from unknown numbers gathered into one escalation; calls by time

Revision ID: 0016_floods
Revises: 0015_priority
Create Date: 2026-12-04 18:30:00.000000

A flood of texts or calls from unknown numbers is gathered into one escalation instead of one
each (crisisline.floods): `floods` holds each flood and its escalation, `flood_contacts` the
contacts it gathered. `calls.started_at` is indexed: whether a staff phone is already ringing
or on a call is read from the calls of the last hours.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op



revision: str = '0016_floods'
down_revision: str | None = '0015_priority'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'floods',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('open_marker', sa.Integer(), nullable=True),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_gathered_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('escalation_id', sa.Integer(), nullable=True),
        sa.Column('texts', sa.Integer(), nullable=False),
        sa.Column('calls', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['escalation_id'], ['escalations.id'], name=op.f('fk_floods_escalation_id_escalations')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_floods')),
        sa.UniqueConstraint('open_marker', name=op.f('uq_floods_open_marker')),
    )
    op.create_table(
        'flood_contacts',
        sa.Column('contact_id', sa.Integer(), nullable=False),
        sa.Column('flood_id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=10), nullable=False),
        sa.Column('from_number', sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_flood_contacts_contact_id_contacts')),
        sa.ForeignKeyConstraint(['flood_id'], ['floods.id'], name=op.f('fk_flood_contacts_flood_id_floods')),
        sa.PrimaryKeyConstraint('contact_id', name=op.f('pk_flood_contacts')),
    )
    with op.batch_alter_table('flood_contacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_flood_contacts_flood_id'), ['flood_id'], unique=False)
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calls_started_at'), ['started_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calls_started_at'))
    with op.batch_alter_table('flood_contacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_flood_contacts_flood_id'))
    op.drop_table('flood_contacts')
    op.drop_table('floods')
