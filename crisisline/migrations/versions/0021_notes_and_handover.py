"""notes, follow-ups, note prompts, emails and handovers; contacts by start and end time

Revision ID: 0021_notes_and_handover
Revises: 0020_console_indexes
Create Date: 2026-12-06 01:10:21.264758

The worker's note on a contact (versioned, never edited in place), the officer's follow-ups,
the texts prompting a note, the outbox of emails and the record of each day's handover.
The handover lists every contact started in a period, and the note prompts look for handled
contacts that ended lately: both are range scans, on `started_at` and `ended_at`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0021_notes_and_handover'
down_revision: str | None = '0020_console_indexes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('emails',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=40), nullable=False),
    sa.Column('reference', sa.String(length=80), nullable=True),
    sa.Column('to_address', sa.String(length=254), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('text_body', sa.Text(), nullable=False),
    sa.Column('html_body', sa.Text(), nullable=True),
    sa.Column('message_id', sa.String(length=200), nullable=False),
    sa.Column('status', sa.Enum('queued', 'sending', 'sent', 'failed', name='email_status', native_enum=False, create_constraint=True, length=40), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claim_token', sa.String(length=40), nullable=True),
    sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error_message', sa.String(length=300), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_emails')),
    sa.UniqueConstraint('message_id', name=op.f('uq_emails_message_id'))
    )
    with op.batch_alter_table('emails', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_emails_reference'), ['reference'], unique=False)
        batch_op.create_index('ix_emails_status_next', ['status', 'next_attempt_at'], unique=False)

    op.create_table('handover_sends',
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('period_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('period_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('queued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('emails', sa.Integer(), nullable=False),
    sa.Column('texts', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('local_date', name=op.f('pk_handover_sends'))
    )
    op.create_table('contact_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=True),
    sa.Column('author_staff_id', sa.Integer(), nullable=True),
    sa.Column('author', sa.String(length=120), nullable=False),
    sa.Column('written_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('what_happened', sa.Text(), nullable=False),
    sa.Column('risk_now', sa.Enum('none', 'low', 'medium', 'high', 'immediate', name='note_risk_now', native_enum=False, create_constraint=True, length=40), nullable=False),
    sa.Column('factors', sa.Text(), nullable=True),
    sa.Column('actions', sa.JSON(), nullable=False),
    sa.Column('other_action', sa.String(length=200), nullable=True),
    sa.Column('follow_up_wanted', sa.Boolean(), nullable=False),
    sa.Column('follow_up_what', sa.Text(), nullable=True),
    sa.Column('debrief_wanted', sa.Boolean(), nullable=False),
    sa.Column('correction_reason', sa.String(length=500), nullable=True),
    sa.Column('alert_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['risk_alerts.id'], name=op.f('fk_contact_notes_alert_id_risk_alerts')),
    sa.ForeignKeyConstraint(['author_staff_id'], ['staff.id'], name=op.f('fk_contact_notes_author_staff_id_staff')),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_contact_notes_contact_id_contacts')),
    sa.ForeignKeyConstraint(['participant_id'], ['participants.id'], name=op.f('fk_contact_notes_participant_id_participants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_notes')),
    sa.UniqueConstraint('contact_id', 'version', name=op.f('uq_contact_notes_contact_id'))
    )
    with op.batch_alter_table('contact_notes', schema=None) as batch_op:
        batch_op.create_index('ix_contact_notes_participant_written', ['participant_id', 'written_at'], unique=False)
        batch_op.create_index('ix_contact_notes_written', ['written_at'], unique=False)

    op.create_table('note_prompts',
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('prompted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('prompt_delivery_id', sa.Integer(), nullable=True),
    sa.Column('reminder_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reminded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reminder_delivery_id', sa.Integer(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_note_prompts_contact_id_contacts')),
    sa.ForeignKeyConstraint(['prompt_delivery_id'], ['deliveries.id'], name=op.f('fk_note_prompts_prompt_delivery_id_deliveries')),
    sa.ForeignKeyConstraint(['reminder_delivery_id'], ['deliveries.id'], name=op.f('fk_note_prompts_reminder_delivery_id_deliveries')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_note_prompts_staff_id_staff')),
    sa.PrimaryKeyConstraint('contact_id', name=op.f('pk_note_prompts'))
    )
    with op.batch_alter_table('note_prompts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_note_prompts_reminder_due_at'), ['reminder_due_at'], unique=False)

    op.create_table('follow_ups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=True),
    sa.Column('note_id', sa.Integer(), nullable=False),
    sa.Column('officer_staff_id', sa.Integer(), nullable=True),
    sa.Column('asked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('asked_by', sa.String(length=120), nullable=False),
    sa.Column('what', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('open', 'done', 'withdrawn', name='follow_up_status', native_enum=False, create_constraint=True, length=40), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('done_by_staff_id', sa.Integer(), nullable=True),
    sa.Column('done_by', sa.String(length=120), nullable=True),
    sa.Column('done_what', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_follow_ups_contact_id_contacts')),
    sa.ForeignKeyConstraint(['done_by_staff_id'], ['staff.id'], name=op.f('fk_follow_ups_done_by_staff_id_staff')),
    sa.ForeignKeyConstraint(['note_id'], ['contact_notes.id'], name=op.f('fk_follow_ups_note_id_contact_notes')),
    sa.ForeignKeyConstraint(['officer_staff_id'], ['staff.id'], name=op.f('fk_follow_ups_officer_staff_id_staff')),
    sa.ForeignKeyConstraint(['participant_id'], ['participants.id'], name=op.f('fk_follow_ups_participant_id_participants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_follow_ups')),
    sa.UniqueConstraint('contact_id', name=op.f('uq_follow_ups_contact_id'))
    )
    with op.batch_alter_table('follow_ups', schema=None) as batch_op:
        batch_op.create_index('ix_follow_ups_officer_status', ['officer_staff_id', 'status'], unique=False)
        batch_op.create_index('ix_follow_ups_status_asked', ['status', 'asked_at'], unique=False)

    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index('ix_contacts_started_at', ['started_at'], unique=False)
        batch_op.create_index('ix_contacts_ended_at', ['ended_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index('ix_contacts_ended_at')
        batch_op.drop_index('ix_contacts_started_at')
    with op.batch_alter_table('follow_ups', schema=None) as batch_op:
        batch_op.drop_index('ix_follow_ups_status_asked')
        batch_op.drop_index('ix_follow_ups_officer_status')

    op.drop_table('follow_ups')
    with op.batch_alter_table('note_prompts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_note_prompts_reminder_due_at'))

    op.drop_table('note_prompts')
    with op.batch_alter_table('contact_notes', schema=None) as batch_op:
        batch_op.drop_index('ix_contact_notes_written')
        batch_op.drop_index('ix_contact_notes_participant_written')

    op.drop_table('contact_notes')
    op.drop_table('handover_sends')
    with op.batch_alter_table('emails', schema=None) as batch_op:
        batch_op.drop_index('ix_emails_status_next')
        batch_op.drop_index(batch_op.f('ix_emails_reference'))

    op.drop_table('emails')
