"""The pure parts of console accounts: password policy, argon2id hashes, TOTP codes, QR code."""

from __future__ import annotations

import datetime as dt

import pyotp
import pytest
from argon2 import PasswordHasher

from crisisline import accounts
from crisisline.account_models import StaffAccount

T0 = dt.datetime(2026, 11, 26, 12, 0, 15, tzinfo=dt.UTC)  # mid-way through a 30-second step
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def code_at(when: dt.datetime, steps: int = 0) -> str:
    return pyotp.TOTP(SECRET).at(when + dt.timedelta(seconds=30 * steps))


def enrolled() -> StaffAccount:
    return StaffAccount(staff_id=1, totp_secret=SECRET, totp_confirmed_at=T0)


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short1!", "Use at least 12 characters."),
        ("elevenchars", "Use at least 12 characters."),
        ("aaaaaaaaaaaaaaaa", "Use more than one character, repeated."),
        ("password1234", "most common"),
        ("123456789123", "most common"),  # listed as it stands
        ("Password123456!", "most common"),  # a listed password with digits added
        ("QWERTYASDFGH", "most common"),  # case makes no difference
    ],
)
def test_the_password_policy_refuses_with_a_reason(password: str, reason: str) -> None:
    refused = accounts.check_password_policy(password)
    assert refused is not None
    assert reason in refused


@pytest.mark.parametrize(
    "password", ["correct horse battery staple", "tea at Ludlow 4 tuesday", "x" * 11 + "y"]
)
def test_the_password_policy_accepts_long_uncommon_passwords(password: str) -> None:
    assert accounts.check_password_policy(password) is None


def test_a_password_is_kept_as_an_argon2id_hash_and_verified() -> None:
    account = StaffAccount(staff_id=1)
    account.password_hash = PasswordHasher().hash("tea at Ludlow 4 tuesday")
    assert account.password_hash.startswith("$argon2id$")
    assert accounts.verify_password(account, "tea at Ludlow 4 tuesday", now=T0)
    assert not accounts.verify_password(account, "tea at Ludlow 4 Tuesday", now=T0)


def test_a_hash_with_old_parameters_is_remade_on_the_next_right_password() -> None:
    account = StaffAccount(staff_id=1)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    account.password_hash = weak.hash("tea at Ludlow 4 tuesday")
    old = account.password_hash
    assert not accounts.verify_password(account, "wrong password here", now=T0)
    assert account.password_hash == old
    assert accounts.verify_password(account, "tea at Ludlow 4 tuesday", now=T0)
    assert account.password_hash != old
    assert not PasswordHasher().check_needs_rehash(account.password_hash)


def test_an_account_without_a_password_verifies_nothing() -> None:
    assert not accounts.verify_password(StaffAccount(staff_id=1), "", now=T0)
    assert not accounts.verify_password(StaffAccount(staff_id=1), "anything at all", now=T0)


@pytest.mark.parametrize("steps", [-1, 0, 1])
def test_a_totp_code_one_step_either_side_is_accepted(steps: int) -> None:
    assert accounts.verify_totp(enrolled(), code_at(T0, steps), now=T0)


@pytest.mark.parametrize("steps", [-2, 2, -10])
def test_a_totp_code_two_steps_away_is_refused(steps: int) -> None:
    account = enrolled()
    assert not accounts.verify_totp(account, code_at(T0, steps), now=T0)
    assert account.totp_last_step is None


def test_a_totp_code_is_taken_once() -> None:
    account = enrolled()
    code = code_at(T0)
    assert accounts.verify_totp(account, code, now=T0)
    assert not accounts.verify_totp(account, code, now=T0)
    # ...nor a minute later, while it would still be within the window of one step either side
    assert not accounts.verify_totp(account, code, now=T0 + dt.timedelta(seconds=20))
    # An earlier step's code, still in the window, is refused once a later one has been used.
    assert not accounts.verify_totp(account, code_at(T0, -1), now=T0)
    # The next step's code is fine.
    later = T0 + dt.timedelta(seconds=30)
    assert accounts.verify_totp(account, code_at(later), now=later)


def test_a_totp_code_must_be_six_digits_and_enrolment_confirmed() -> None:
    account = enrolled()
    assert not accounts.verify_totp(account, "", now=T0)
    assert not accounts.verify_totp(account, "12345", now=T0)
    assert not accounts.verify_totp(account, "abcdef", now=T0)
    assert accounts.verify_totp(account, " " + code_at(T0)[:3] + " " + code_at(T0)[3:], now=T0)
    pending = StaffAccount(staff_id=1, totp_secret=SECRET)
    assert not accounts.verify_totp(pending, code_at(T0), now=T0)


def test_the_otpauth_uri_is_drawn_as_an_svg_qr_code() -> None:
    svg = accounts.totp_qr_svg(
        pyotp.TOTP(SECRET).provisioning_uri(name="a@example.org", issuer_name="Line")
    )
    assert svg.startswith("<svg")
    assert svg.rstrip().endswith("</svg>")
