"""sign-in sessions, the clinical lead role, owned API tokens and the record access log

Revision ID: 0018_sign_in_roles_access_log
Revises: 0017_staff_accounts
Create Date: 2026-12-04 23:50:00.000000

- `staff_roles.role` may be `clinical_lead` (the CHECK constraint is replaced).
- `web_sessions`: console sign-in sessions, found by the SHA-256 of the cookie's id.
- `api_tokens` gains an owner: `staff_id` (a person's token) or `scopes` (an integration's),
  `expires_at`, `created_by` and `legacy`. Every token that exists already becomes a legacy
  integration with every scope: it keeps working, and /healthz warns until it is replaced.
- `record_access_log`: every read or change of a participant's record. Append-only: on
  PostgreSQL a trigger refuses UPDATE and DELETE on it (and TRUNCATE), whoever asks.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0018_sign_in_roles_access_log'
down_revision: str | None = '0017_staff_accounts'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_ROLES = ('on_call', 'duty_manager', 'responsible_officer', 'admin')
_NEW_ROLES = ('on_call', 'duty_manager', 'responsible_officer', 'clinical_lead', 'admin')


def _role_type(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name='staff_role', native_enum=False, create_constraint=True, length=40)


def _roles(values: tuple[str, ...]) -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_constraint(op.f('ck_staff_roles_staff_role'), 'staff_roles', type_='check')
        listed = ', '.join(f"'{value}'" for value in values)
        op.create_check_constraint('staff_role', 'staff_roles', sa.text(f'role IN ({listed})'))
    else:
        # SQLite cannot alter a constraint: batch mode copies the table with the new type's CHECK.
        with op.batch_alter_table('staff_roles', recreate='always') as batch_op:
            batch_op.alter_column(
                'role',
                existing_type=_role_type(_OLD_ROLES if values == _NEW_ROLES else _NEW_ROLES),
                type_=_role_type(values),
                existing_nullable=False,
            )


_APPEND_ONLY = """
CREATE FUNCTION record_access_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'record_access_log is append-only: % is refused', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER record_access_log_append_only
    BEFORE UPDATE OR DELETE ON record_access_log
    FOR EACH ROW EXECUTE FUNCTION record_access_log_append_only();
CREATE TRIGGER record_access_log_no_truncate
    BEFORE TRUNCATE ON record_access_log
    FOR EACH STATEMENT EXECUTE FUNCTION record_access_log_append_only();
"""


def upgrade() -> None:
    _roles(_NEW_ROLES)
    op.create_table(
        'web_sessions',
        sa.Column('id_hash', sa.String(length=64), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=False),
        sa.Column('credentials_version', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('second_factor_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('ended_reason', sa.String(length=40), nullable=True),
        sa.Column('address', sa.String(length=64), nullable=True),
        sa.Column('user_agent', sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_web_sessions_staff_id_staff')),
        sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_web_sessions')),
    )
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_sessions_staff_id'), ['staff_id'], unique=False)

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('staff_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('scopes', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column('legacy', sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column('created_by', sa.String(length=120), nullable=True))
        batch_op.create_index(batch_op.f('ix_api_tokens_staff_id'), ['staff_id'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_api_tokens_staff_id_staff'), 'staff', ['staff_id'], ['id']
        )
    # Tokens made before owners existed: integrations that may do everything, as they could.
    op.execute(sa.text('UPDATE api_tokens SET legacy = true'))
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.alter_column('legacy', server_default=None)

    op.create_table(
        'record_access_log',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(length=120), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=True),
        sa.Column('token_id', sa.Integer(), nullable=True),
        sa.Column('action', sa.String(length=20), nullable=False),
        sa.Column('record_type', sa.String(length=40), nullable=False),
        sa.Column('record_id', sa.Integer(), nullable=True),
        sa.Column('participant_id', sa.Integer(), nullable=True),
        sa.Column('address', sa.String(length=64), nullable=True),
        sa.Column('user_agent', sa.String(length=255), nullable=True),
        sa.Column('reason', sa.String(length=500), nullable=True),
        sa.Column('web_session_id', sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_record_access_log')),
    )
    with op.batch_alter_table('record_access_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_record_access_log_at'), ['at'], unique=False)
        batch_op.create_index('ix_record_access_participant_at', ['participant_id', 'at'], unique=False)
        batch_op.create_index('ix_record_access_actor_at', ['actor', 'at'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(sa.text(_APPEND_ONLY))


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(sa.text('DROP TRIGGER record_access_log_no_truncate ON record_access_log'))
        op.execute(sa.text('DROP TRIGGER record_access_log_append_only ON record_access_log'))
        op.execute(sa.text('DROP FUNCTION record_access_log_append_only()'))
    op.drop_table('record_access_log')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_api_tokens_staff_id_staff'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_api_tokens_staff_id'))
        batch_op.drop_column('created_by')
        batch_op.drop_column('legacy')
        batch_op.drop_column('expires_at')
        batch_op.drop_column('scopes')
        batch_op.drop_column('staff_id')
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_sessions_staff_id'))
    op.drop_table('web_sessions')
    op.execute(sa.text("DELETE FROM staff_roles WHERE role = 'clinical_lead'"))
    _roles(_OLD_ROLES)
