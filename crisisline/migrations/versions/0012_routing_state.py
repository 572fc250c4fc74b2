"""routing state: the version that keeps each process's cached routing answers exact

Revision ID: 0012_routing
Revises: 0011
Create Date: 2026-11-27 02:40:00.000000

No row is written: a database without one caches nothing, and the first change to a policy,
rota, override or staff record writes it (crisisline.routing_cache).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0012_routing'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('routing_state',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routing_state'))
    )


def downgrade() -> None:
    op.drop_table('routing_state')
