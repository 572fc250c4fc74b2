"""Tables of console accounts: how a member of staff signs in (crisisline.accounts).

One account per `staff` row. Nothing secret is kept in a form that could be used as it stands,
but for the TOTP secret, which the server needs to compute codes: the password is an argon2id
hash, the invitation token and each recovery code a SHA-256 hash (both are long random strings).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crisisline.db import Base


class StaffAccount(Base):
    """A member of staff's console account: password, second factor, invitation and lockout."""

    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), unique=True)
    # argon2id in its PHC string form ($argon2id$v=19$m=...); None until the person sets one.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    password_set_at: Mapped[dt.datetime | None]
    # Base32 TOTP secret; None until enrolment starts. Enrolled once `totp_confirmed_at` is set.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_confirmed_at: Mapped[dt.datetime | None]
    # The last 30-second step whose code was accepted: no code of that step or before is taken
    # again, so a code seen over someone's shoulder cannot be replayed.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    # SHA-256 of the one-time invitation token (the token itself is only texted).
    invitation_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    invited_at: Mapped[dt.datetime | None]
    invitation_expires_at: Mapped[dt.datetime | None]
    invitation_used_at: Mapped[dt.datetime | None]
    failed_sign_ins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[dt.datetime | None]
    # Raised by every re-invitation: a sign-in session remembers the version it began with and
    # ends when the account's moves on.
    credentials_version: Mapped[int] = mapped_column(default=1)
    disabled_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    recovery_codes: Mapped[list[RecoveryCode]] = relationship(
        cascade="all, delete-orphan", order_by="RecoveryCode.id"
    )


class RecoveryCode(Base):
    """One of an account's ten one-time recovery codes, kept as a SHA-256 hash."""

    __tablename__ = "staff_account_recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("staff_accounts.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]


class WebSession(Base):
    """A sign-in to the console, kept in the database so that it can be ended at once.

    The browser holds only a random session id (a cookie); the row is found by its SHA-256
    hash, so a copy of the table cannot be used to sign in. A session is half-open after the
    password (`second_factor_at` unset) and signed in after the code; it ends at sign-out, at
    its absolute or idle limit, when the staff member is deactivated or when the account is
    re-invited (`credentials_version` no longer the account's).
    """

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    credentials_version: Mapped[int]
    created_at: Mapped[dt.datetime]
    second_factor_at: Mapped[dt.datetime | None]
    last_seen_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]
    ended_reason: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))


__all__ = ["RecoveryCode", "StaffAccount", "WebSession"]
