"""note prompts: an index on whom they were sent to, and when the contact ended

Revision ID: 0022_note_prompts_by_staff
Revises: 0021_notes_and_handover
Create Date: 2026-12-06 02:10:00.000000

The Now board shows each worker the notes he still has to write: his prompts of the last week
whose contact has no note yet (crisisline.contact_notes.notes_to_write). The board asks it every
few seconds for every open console, so it is a range scan of one worker's recent prompts, not
of every prompt ever sent.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op


revision: str = '0022_note_prompts_by_staff'
down_revision: str | None = '0021_notes_and_handover'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('note_prompts', schema=None) as batch_op:
        batch_op.create_index('ix_note_prompts_staff_ended', ['staff_id', 'ended_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('note_prompts', schema=None) as batch_op:
        batch_op.drop_index('ix_note_prompts_staff_ended')
