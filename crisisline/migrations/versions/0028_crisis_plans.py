"""participants' crisis plans (every version) and the texted links to them

Revision ID: 0028_crisis_plans
Revises: 0027_backfill_end_of_service
Create Date: 2026-12-06 05:25:00.000000

A crisis plan per participant, kept by his officer or the clinical lead, each change a new
version; and the one text a worker gets on taking his call or text, with a link to the plan that
works once, for that worker and that contact.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0028_crisis_plans'
down_revision: str | None = '0027_backfill_end_of_service'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'crisis_plans',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('participant_id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('written_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('author', sa.String(length=120), nullable=False),
        sa.Column('author_staff_id', sa.Integer(), nullable=True),
        sa.Column('change_reason', sa.String(length=500), nullable=True),
        sa.Column('warning_signs', sa.Text(), nullable=False),
        sa.Column('triggers', sa.Text(), nullable=True),
        sa.Column('what_helps', sa.Text(), nullable=True),
        sa.Column('what_does_not_help', sa.Text(), nullable=True),
        sa.Column('contacts', sa.JSON(), nullable=False),
        sa.Column('risk_to_self', sa.Text(), nullable=True),
        sa.Column('risk_to_others', sa.Text(), nullable=True),
        sa.Column('if_risk_rises', sa.Text(), nullable=True),
        sa.Column('practical_notes', sa.Text(), nullable=True),
        sa.Column('agreed_on', sa.Date(), nullable=False),
        sa.Column('review_on', sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(['author_staff_id'], ['staff.id']),
        sa.ForeignKeyConstraint(['participant_id'], ['participants.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('participant_id', 'version'),
    )
    op.create_index('ix_crisis_plans_review_on', 'crisis_plans', ['review_on'])
    op.create_table(
        'crisis_plan_links',
        sa.Column('contact_id', sa.Integer(), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=False),
        sa.Column('participant_id', sa.Integer(), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('delivery_id', sa.Integer(), nullable=True),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id']),
        sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id']),
        sa.ForeignKeyConstraint(['participant_id'], ['participants.id']),
        sa.ForeignKeyConstraint(['staff_id'], ['staff.id']),
        sa.PrimaryKeyConstraint('contact_id', 'staff_id'),
    )
    op.create_index(
        'ix_crisis_plan_links_staff_sent', 'crisis_plan_links', ['staff_id', 'sent_at']
    )


def downgrade() -> None:
    op.drop_index('ix_crisis_plan_links_staff_sent', table_name='crisis_plan_links')
    op.drop_table('crisis_plan_links')
    op.drop_index('ix_crisis_plans_review_on', table_name='crisis_plans')
    op.drop_table('crisis_plans')
