"""the record's life: legal holds, retention runs, recording deletions, subject access requests,
participant corrections, and a participant's end of service

Revision ID: 0025_data_protection
Revises: 0024_report_indexes
Create Date: 2026-12-06 04:40:00.000000

The retention schedule (config/retention.toml) removes what is past its time and records every
removal (retention_runs, retention_actions); a legal hold stops it for one participant. A
voicemail's deletion at the provider is retried until confirmed (recording_deletions). A
participant gets the day he left the service (ended_service_on), counted from by the schedule,
and anonymised_at once his identifying details are removed. Subject access requests are tracked
to their deadline, and corrections of a participant's details keep the earlier values.

On PostgreSQL the record access log stays append-only, except that the retention run may delete
entries past their time: the trigger lets a DELETE through only in a transaction that has set
`crisisline.retention` to `on` (SET LOCAL, crisisline.retention). UPDATE and TRUNCATE are still
refused, whoever asks.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0025_data_protection'
down_revision: str | None = '0024_report_indexes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_RETENTION_MAY_DELETE = """
CREATE OR REPLACE FUNCTION record_access_log_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('crisisline.retention', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'record_access_log is append-only: % is refused', TG_OP;
END;
$$ LANGUAGE plpgsql;
"""

_APPEND_ONLY = """
CREATE OR REPLACE FUNCTION record_access_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'record_access_log is append-only: % is refused', TG_OP;
END;
$$ LANGUAGE plpgsql;
"""


def upgrade() -> None:
    with op.batch_alter_table('participants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ended_service_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('anonymised_at', sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        'legal_holds',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('participant_id', sa.Integer(), nullable=False),
        sa.Column('reason', sa.String(length=500), nullable=False),
        sa.Column('set_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('set_by', sa.String(length=120), nullable=False),
        sa.Column('lifted_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('lifted_by', sa.String(length=120), nullable=True),
        sa.Column('lift_reason', sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(['participant_id'], ['participants.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(
        'ix_legal_holds_participant_lifted', 'legal_holds', ['participant_id', 'lifted_at']
    )

    op.create_table(
        'retention_runs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('scheduled_for', sa.Date(), nullable=True),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('actor', sa.String(length=120), nullable=False),
        sa.Column('schedule', sa.JSON(), nullable=False),
        sa.Column('counts', sa.JSON(), nullable=False),
        sa.Column('held', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('error', sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('scheduled_for'),
    )

    op.create_table(
        'retention_actions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('run_id', sa.Integer(), nullable=False),
        sa.Column('rule', sa.String(length=40), nullable=False),
        sa.Column('action', sa.String(length=30), nullable=False),
        sa.Column('record_type', sa.String(length=40), nullable=False),
        sa.Column('record_id', sa.Integer(), nullable=True),
        sa.Column('participant_id', sa.Integer(), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['run_id'], ['retention_runs.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_retention_actions_run', 'retention_actions', ['run_id'])
    op.create_index(
        'ix_retention_actions_record', 'retention_actions', ['record_type', 'record_id']
    )
    op.create_index('ix_retention_actions_participant', 'retention_actions', ['participant_id'])

    op.create_table(
        'recording_deletions',
        sa.Column('contact_id', sa.Integer(), nullable=False),
        sa.Column('recording_url', sa.String(length=500), nullable=False),
        sa.Column('run_id', sa.Integer(), nullable=True),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.String(length=200), nullable=True),
        sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id']),
        sa.ForeignKeyConstraint(['run_id'], ['retention_runs.id']),
        sa.PrimaryKeyConstraint('contact_id'),
    )
    op.create_index(
        'ix_recording_deletions_due', 'recording_deletions', ['deleted_at', 'next_attempt_at']
    )

    op.create_table(
        'subject_access_requests',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('participant_id', sa.Integer(), nullable=False),
        sa.Column('received_on', sa.Date(), nullable=False),
        sa.Column('due_on', sa.Date(), nullable=False),
        sa.Column('extended_to', sa.Date(), nullable=True),
        sa.Column('extension_reason', sa.String(length=500), nullable=True),
        sa.Column(
            'status',
            sa.Enum(
                'open',
                'completed',
                'withdrawn',
                name='subject_access_status',
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column('logged_by', sa.String(length=120), nullable=False),
        sa.Column('logged_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('detail', sa.Text(), nullable=True),
        sa.Column('exports', sa.Integer(), nullable=False),
        sa.Column('last_exported_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('closed_by', sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(['participant_id'], ['participants.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(
        'ix_subject_access_status_due', 'subject_access_requests', ['status', 'due_on']
    )

    op.create_table(
        'participant_corrections',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('participant_id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(length=120), nullable=False),
        sa.Column('reason', sa.String(length=500), nullable=False),
        sa.Column('changes', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['participant_id'], ['participants.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(
        'ix_participant_corrections_participant',
        'participant_corrections',
        ['participant_id', 'at'],
    )

    if op.get_bind().dialect.name == 'postgresql':
        op.execute(sa.text(_RETENTION_MAY_DELETE))


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(sa.text(_APPEND_ONLY))
    op.drop_index('ix_participant_corrections_participant', table_name='participant_corrections')
    op.drop_table('participant_corrections')
    op.drop_index('ix_subject_access_status_due', table_name='subject_access_requests')
    op.drop_table('subject_access_requests')
    op.drop_index('ix_recording_deletions_due', table_name='recording_deletions')
    op.drop_table('recording_deletions')
    op.drop_index('ix_retention_actions_participant', table_name='retention_actions')
    op.drop_index('ix_retention_actions_record', table_name='retention_actions')
    op.drop_index('ix_retention_actions_run', table_name='retention_actions')
    op.drop_table('retention_actions')
    op.drop_table('retention_runs')
    op.drop_index('ix_legal_holds_participant_lifted', table_name='legal_holds')
    op.drop_table('legal_holds')
    with op.batch_alter_table('participants', schema=None) as batch_op:
        batch_op.drop_column('anonymised_at')
        batch_op.drop_column('ended_service_on')
