"""rota revisions: earlier definitions of a rota, each with the instant it stopped applying

Revision ID: 0019_rota_revisions
Revises: 0018_sign_in_roles_access_log
Create Date: 2026-12-05 22:30:00.000000

- `rota_revisions`: a membership or shift-length change made from a chosen handoff keeps the
  definition it replaces here, with `ends_at` the handoff, so every shift before it stays as
  it was. The `rotas` row holds the definition in force after the last revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0019_rota_revisions'
down_revision: str | None = '0018_sign_in_roles_access_log'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'rota_revisions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('rota_id', sa.Integer(), nullable=False),
        sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('timezone', sa.String(length=64), nullable=False),
        sa.Column('shift_length', sa.String(length=40), nullable=False),
        sa.Column('first_handoff', sa.String(length=32), nullable=False),
        sa.Column('members', sa.JSON(), nullable=False),
        sa.Column('coverage', sa.JSON(), nullable=True),
        sa.Column('created_by', sa.String(length=120), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['rota_id'], ['rotas.id'], name=op.f('fk_rota_revisions_rota_id_rotas'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rota_revisions')),
    )
    with op.batch_alter_table('rota_revisions', schema=None) as batch_op:
        batch_op.create_index('ix_rota_revisions_rota_ends', ['rota_id', 'ends_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('rota_revisions', schema=None) as batch_op:
        batch_op.drop_index('ix_rota_revisions_rota_ends')
    op.drop_table('rota_revisions')
