"""contacts: a partial index on the texts waiting to be routed

Revision ID: 0013_unrouted
Revises: 0012_routing
Create Date: 2026-11-27 06:05:00.000000

The scheduler's route-texts job asks every second which texts the SMS webhook took in and are
not yet routed (crisisline.sms_intake). The index holds only those rows, so the question costs
the same with a thousand contacts or ten million.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0013_unrouted'
down_revision: str | None = '0012_routing'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = sa.text("outcome IN ('unrouted', 'routing_failed')")


def upgrade() -> None:
    op.create_index(
        'ix_contacts_unrouted',
        'contacts',
        ['id'],
        unique=False,
        postgresql_where=WAITING,
        sqlite_where=WAITING,
    )


def downgrade() -> None:
    op.drop_index('ix_contacts_unrouted', table_name='contacts')
