"""staff_accounts and their recovery codes: console accounts for staff

Revision ID: 0017_staff_accounts
Revises: 0016_floods
Create Date: 2026-12-04 23:00:00.000000

A member of staff may be given a console account (crisisline.accounts): `staff_accounts` holds
one per staff row (argon2id password hash, TOTP secret and last used step, the invitation's
SHA-256 hash and times, failed sign-ins and lockout, a credentials version raised by every
re-invitation); `staff_account_recovery_codes` the SHA-256 hashes of its one-time recovery
codes. Nothing is added to existing rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0017_staff_accounts'
down_revision: str | None = '0016_floods'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'staff_accounts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=False),
        sa.Column('password_hash', sa.String(length=255), nullable=True),
        sa.Column('password_set_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('totp_secret', sa.String(length=64), nullable=True),
        sa.Column('totp_confirmed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('totp_last_step', sa.BigInteger(), nullable=True),
        sa.Column('invitation_token_hash', sa.String(length=64), nullable=True),
        sa.Column('invited_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('invitation_expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('invitation_used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('failed_sign_ins', sa.Integer(), nullable=False),
        sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('credentials_version', sa.Integer(), nullable=False),
        sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_staff_accounts_staff_id_staff')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_accounts')),
        sa.UniqueConstraint('invitation_token_hash', name=op.f('uq_staff_accounts_invitation_token_hash')),
        sa.UniqueConstraint('staff_id', name=op.f('uq_staff_accounts_staff_id')),
    )
    op.create_table(
        'staff_account_recovery_codes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['staff_accounts.id'], name=op.f('fk_staff_account_recovery_codes_account_id_staff_accounts'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_account_recovery_codes')),
    )
    with op.batch_alter_table('staff_account_recovery_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_account_recovery_codes_account_id'), ['account_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('staff_account_recovery_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_account_recovery_codes_account_id'))
    op.drop_table('staff_account_recovery_codes')
    op.drop_table('staff_accounts')
