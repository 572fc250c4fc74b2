"""Console accounts in the database: invitations, re-invitation, recovery codes and lockout."""

from __future__ import annotations

import datetime as dt

import pyotp
import pytest
from flask import Flask
from sqlalchemy import select

from crisisline import accounts, staff
from crisisline.account_models import RecoveryCode, StaffAccount
from crisisline.db import Database
from crisisline.errors import InvalidInput
from crisisline.models import AuditEntry, StaffRole
from tests.support.app import START, services_of

PASSWORD = "tea at Ludlow 4 tuesday"


def add_worker(db: Database, phone: str = "+447700900101", *, active: bool = True) -> int:
    with db.transaction() as session:
        person = staff.create(
            session,
            staff.NewStaff("Amira Okafor", phone, None, [StaffRole.ON_CALL], active=active),
            actor="test",
            now=START,
        )
        return person.id


def enrol(db: Database, staff_id: int, now: dt.datetime) -> tuple[str, list[str]]:
    """Invite, redeem, set the password and confirm TOTP; the secret and recovery codes."""
    with db.transaction() as session:
        token = accounts.invite(session, staff_id, actor="admin", now=now)
        account = accounts.redeem_invitation(session, token, now=now)
        accounts.set_password(session, account, PASSWORD, now=now)
        enrolment = accounts.start_totp_enrolment(session, account, now=now)
        assert accounts.confirm_totp(
            session, account, pyotp.TOTP(enrolment.secret).at(now), now=now
        )
        codes = accounts.new_recovery_codes(session, account, now=now)
        return enrolment.secret, codes


def account_of(db: Database, staff_id: int) -> StaffAccount:
    with db.transaction() as session:
        account = accounts.get_for_staff(session, staff_id)
        assert account is not None
        session.expunge(account)
        return account


def test_an_invitation_keeps_only_its_hash_and_works_once(app: Flask) -> None:
    db = services_of(app).db
    staff_id = add_worker(db)
    with db.transaction() as session:
        token = accounts.invite(session, staff_id, actor="admin", now=START)
    stored = account_of(db, staff_id)
    assert stored.invitation_token_hash == accounts.hash_secret(token)
    assert token not in repr(vars(stored))
    assert stored.invitation_expires_at == START + dt.timedelta(hours=72)
    with db.transaction() as session:
        account = accounts.redeem_invitation(session, token, now=START + dt.timedelta(hours=1))
        assert account.staff_id == staff_id
    with db.transaction() as session, pytest.raises(accounts.InvitationInvalid, match="used"):
        accounts.redeem_invitation(session, token, now=START + dt.timedelta(hours=2))
    with db.transaction() as session, pytest.raises(accounts.InvitationInvalid, match="not valid"):
        accounts.redeem_invitation(session, "not-a-token", now=START)
    with db.transaction() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.record_type == "staff_account")
        ).all()
        assert [entry.action for entry in entries] == ["invite", "redeem_invitation"]
        assert all(token not in str(entry.changes) for entry in entries)


def test_an_invitation_expires_after_72_hours(app: Flask) -> None:
    db = services_of(app).db
    staff_id = add_worker(db)
    with db.transaction() as session:
        token = accounts.invite(session, staff_id, actor="admin", now=START)
    with db.transaction() as session, pytest.raises(accounts.InvitationInvalid, match="expired"):
        accounts.redeem_invitation(session, token, now=START + dt.timedelta(hours=72))
    with db.transaction() as session:
        accounts.redeem_invitation(
            session, token, now=START + dt.timedelta(hours=72) - dt.timedelta(seconds=1)
        )


def test_an_inactive_member_of_staff_is_not_invited(app: Flask) -> None:
    db = services_of(app).db
    staff_id = add_worker(db, active=False)
    with db.transaction() as session, pytest.raises(InvalidInput, match="not active"):
        accounts.invite(session, staff_id, actor="admin", now=START)


def test_a_password_is_stored_as_argon2id_and_the_policy_is_enforced(app: Flask) -> None:
    db = services_of(app).db
    staff_id = add_worker(db)
    with db.transaction() as session:
        token = accounts.invite(session, staff_id, actor="admin", now=START)
        account = accounts.redeem_invitation(session, token, now=START)
        with pytest.raises(InvalidInput, match="at least 12"):
            accounts.set_password(session, account, "short", now=START)
        accounts.set_password(session, account, PASSWORD, now=START)
    stored = account_of(db, staff_id)
    assert stored.password_hash is not None
    assert stored.password_hash.startswith("$argon2id$")
    assert accounts.verify_password(stored, PASSWORD, now=START)
    assert not accounts.verify_password(stored, PASSWORD.upper(), now=START)


def test_reinvitation_ends_the_old_password_second_factor_and_codes(app: Flask) -> None:
    db = services_of(app).db
    staff_id = add_worker(db)
    secret, codes = enrol(db, staff_id, START)
    later = START + dt.timedelta(days=3)
    with db.transaction() as session:
        first = accounts.get_for_staff(session, staff_id)
        assert first is not None
        version = first.credentials_version
        old_token_hash = first.invitation_token_hash
        accounts.invite(session, staff_id, actor="admin", now=later)
    stored = account_of(db, staff_id)
    assert stored.credentials_version == version + 1
    assert stored.invitation_token_hash != old_token_hash
    assert not accounts.verify_password(stored, PASSWORD, now=later)
    assert not accounts.verify_totp(stored, pyotp.TOTP(secret).at(later), now=later)
    with db.transaction() as session:
        account = accounts.get_for_staff(session, staff_id)
        assert account is not None
        assert not accounts.use_recovery_code(session, account, codes[0], now=later)
        assert session.scalars(select(RecoveryCode)).all() == []


def test_reinvitation_makes_the_earlier_link_useless(app: Flask) -> None:
    db = services_of(app).db
    staff_id = add_worker(db)
    with db.transaction() as session:
        first = accounts.invite(session, staff_id, actor="admin", now=START)
        second = accounts.invite(session, staff_id, actor="admin", now=START)
    with db.transaction() as session, pytest.raises(accounts.InvitationInvalid):
        accounts.redeem_invitation(session, first, now=START)
    with db.transaction() as session:
        accounts.redeem_invitation(session, second, now=START)


def test_a_totp_step_once_used_is_refused_after_a_commit(app: Flask) -> None:
    db = services_of(app).db
    staff_id = add_worker(db)
    secret, _ = enrol(db, staff_id, START)
    later = START + dt.timedelta(minutes=5)
    code = pyotp.TOTP(secret).at(later)
    with db.transaction() as session:
        account = accounts.get_for_staff(session, staff_id)
        assert account is not None
        assert accounts.verify_totp(account, code, now=later)
    with db.transaction() as session:
        account = accounts.get_for_staff(session, staff_id)
        assert account is not None
        assert not accounts.verify_totp(account, code, now=later)


def test_recovery_codes_are_ten_stored_hashed_and_each_used_once(app: Flask) -> None:
    db = services_of(app).db
    staff_id = add_worker(db)
    _, codes = enrol(db, staff_id, START)
    assert len(codes) == len(set(codes)) == 10
    with db.transaction() as session:
        hashes = set(session.scalars(select(RecoveryCode.code_hash)))
        assert hashes == {accounts.hash_secret(code.replace("-", "")) for code in codes}
    with db.transaction() as session:
        account = accounts.get_for_staff(session, staff_id)
        assert account is not None
        assert accounts.use_recovery_code(session, account, codes[3].upper(), now=START)
    with db.transaction() as session:
        account = accounts.get_for_staff(session, staff_id)
        assert account is not None
        assert not accounts.use_recovery_code(session, account, codes[3], now=START)
        assert not accounts.use_recovery_code(session, account, "aaaa-bbbb-cccc-dddd", now=START)
        assert accounts.use_recovery_code(session, account, codes[4], now=START)
        # New codes replace the old ones.
        fresh = accounts.new_recovery_codes(session, account, now=START)
    with db.transaction() as session:
        account = accounts.get_for_staff(session, staff_id)
        assert account is not None
        assert not accounts.use_recovery_code(session, account, codes[5], now=START)
        assert accounts.use_recovery_code(session, account, fresh[0], now=START)


def test_ten_failed_sign_ins_lock_the_account_for_15_minutes(app: Flask) -> None:
    db = services_of(app).db
    staff_id = add_worker(db)
    enrol(db, staff_id, START)
    with db.transaction() as session:
        account = accounts.get_for_staff(session, staff_id)
        assert account is not None
        for _ in range(9):
            assert not accounts.record_failed_sign_in(session, account, now=START)
        assert not accounts.is_locked(account, now=START)
    with db.transaction() as session:
        account = accounts.get_for_staff(session, staff_id)
        assert account is not None
        assert accounts.record_failed_sign_in(session, account, now=START)
        # More guesses while locked do not lengthen the lock.
        assert accounts.record_failed_sign_in(
            session, account, now=START + dt.timedelta(minutes=14)
        )
    stored = account_of(db, staff_id)
    assert accounts.is_locked(
        stored, now=START + dt.timedelta(minutes=15) - dt.timedelta(seconds=1)
    )
    assert not accounts.is_locked(stored, now=START + dt.timedelta(minutes=15))
    with db.transaction() as session:
        locks = session.scalars(select(AuditEntry).where(AuditEntry.action == "lock")).all()
        assert len(locks) == 1
        account = accounts.get_for_staff(session, staff_id)
        assert account is not None
        # After the lock, the count starts again: one more failure does not lock it.
        after = START + dt.timedelta(minutes=15)
        assert not accounts.record_failed_sign_in(session, account, now=after)
        accounts.record_signed_in(account, now=after)
        assert account.failed_sign_ins == 0


def test_a_disabled_account_cannot_redeem_its_invitation(app: Flask) -> None:
    db = services_of(app).db
    staff_id = add_worker(db)
    with db.transaction() as session:
        token = accounts.invite(session, staff_id, actor="admin", now=START)
        account = accounts.disable(session, staff_id, actor="admin", now=START)
        assert account.disabled_at == START
        version = account.credentials_version
    with db.transaction() as session, pytest.raises(accounts.InvitationInvalid):
        accounts.redeem_invitation(session, token, now=START)
    assert account_of(db, staff_id).credentials_version == version
