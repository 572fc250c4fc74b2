"""contacts: an index on who handled them, and when

Revision ID: 0020_console_indexes
Revises: 0019_rota_revisions
Create Date: 2026-12-05 22:45:00.000000

Whether a participant is a person's own (crisisline.caseloads) asks which participants an
on-call worker handled lately: contacts by `handled_by_staff_id` in the last few days. Every
console read of a participant's record asks it (the duty manager's too, to decide whether a
break-glass reason is needed), and an on-call worker's lists are narrowed by it. Without this
index PostgreSQL read the whole contacts table for it (about 120 ms with 1,000,000 contacts,
bench/console_pages.py); with it, a range scan of the worker's recent contacts. The
participant's id is the last column so that the scan answers from the index alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op


revision: str = '0020_console_indexes'
down_revision: str | None = '0019_rota_revisions'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        'ix_contacts_handled_by_started',
        'contacts',
        ['handled_by_staff_id', 'started_at', 'participant_id'],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index('ix_contacts_handled_by_started', table_name='contacts')
