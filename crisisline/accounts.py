"""Console accounts for staff: invitation, password, second factor, recovery codes and lockout.

A records module: it reads and changes `staff_accounts` (crisisline.account_models) and audits
every change; it texts nobody (sending the invitation link is the caller's, through the outbox)
and serves no page. Callers pass `now` (the project's clock convention).

- **Invitation.** `invite` makes a random token (256 bits) valid 72 hours and for one use; only
  its SHA-256 hash is kept. Inviting again replaces the password, the second factor, the
  recovery codes and any earlier invitation, and raises `credentials_version`, so that a
  forgotten password or a lost phone is dealt with by re-inviting and the old credentials stop
  working at once.
- **Password.** At least 12 characters and not a common password (`check_password_policy`),
  hashed with argon2id by argon2-cffi's `PasswordHasher` at its defaults (RFC 9106's
  low-memory profile); a hash made with older parameters is re-made at the next right password.
- **Common passwords.** The list is zxcvbn's (Dropbox's password-strength library, on PyPI as
  `zxcvbn`): the 30,000 most frequent passwords of its leaked-password corpus, shipped in the
  package, so no list file of ours goes stale unnoticed and nothing is fetched at run time. A
  password is refused if, lower-cased, it is on the list, or is a listed password with digits
  or punctuation added at the end ("password123456"), or is one character repeated.
- **Second factor.** TOTP (RFC 6238, 30-second steps, six digits) by pyotp; a code is taken
  from the current step or one either side, and a step once used (or any before it) is never
  taken again. The secret is shown as a QR code made by segno (`totp_qr_svg`).
- **Recovery codes.** Ten random codes of 79 bits, shown once, kept as SHA-256 hashes, each
  usable once; making new ones replaces the old.
- **Lockout.** Ten failed sign-ins in a row lock the account for 15 minutes.

Nothing secret is logged or audited: the audit entries say what changed, never a token, a
password, a secret or a code.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from functools import cache
from typing import Final

import pyotp
import segno
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from crisisline import audit, web_sessions
from crisisline.account_models import RecoveryCode, StaffAccount
from crisisline.errors import DomainError, InvalidInput, NotFound
from crisisline.models import Staff

INVITATION_LIFETIME: Final = dt.timedelta(hours=72)
MIN_PASSWORD_LENGTH: Final = 12
MAX_PASSWORD_LENGTH: Final = 1024  # argon2 takes any length; this bounds the work a request asks
TOTP_STEP_SECONDS: Final = 30
TOTP_DIGITS: Final = 6
TOTP_ISSUER: Final = "Resettle crisis line"
RECOVERY_CODES: Final = 10
MAX_FAILED_SIGN_INS: Final = 10
LOCKOUT: Final = dt.timedelta(minutes=15)

_HASHER: Final = PasswordHasher()  # argon2id, argon2-cffi's current recommended parameters
# Recovery codes: lower-case letters and digits with the look-alikes (0 o 1 l i) left out.
_RECOVERY_ALPHABET: Final = "23456789abcdefghjkmnpqrstuvwxyz"
_RECOVERY_LENGTH: Final = 16  # 16 characters of 31: 79 bits, printed as four groups of four
_TRAILING_DECORATION: Final = "0123456789!@#$%^&*()-_=+.,;:?~ "


class InvitationInvalid(DomainError):
    """An invitation link that cannot be used: unknown, used, expired or for a closed account."""


@dataclass(frozen=True)
class TotpEnrolment:
    """What the enrolment page shows: the secret (for typing in) and its otpauth URI."""

    secret: str
    uri: str


def hash_secret(plaintext: str) -> str:
    """The stored form of a long random secret (invitation token, recovery code)."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# Invitation


def get_for_staff(session: Session, staff_id: int) -> StaffAccount | None:
    """The account of member of staff `staff_id`, or None if they have never been invited."""
    return session.scalars(select(StaffAccount).where(StaffAccount.staff_id == staff_id)).first()


def invite(session: Session, staff_id: int, *, actor: str, now: dt.datetime) -> str:
    """Invite `staff_id` to the console; returns the one-time token (never stored) to text them.

    An account already there is reset: its password, second factor, recovery codes and any
    earlier invitation stop working, and its credentials version moves on so that sessions
    signed in with the old credentials end.
    """
    staff = session.get(Staff, staff_id)
    if staff is None:
        raise NotFound(f"There is no member of staff with id {staff_id}.")
    if not staff.active:
        raise InvalidInput(f"{staff.name} is not active: reactivate them before inviting them.")
    token = secrets.token_urlsafe(32)
    account = get_for_staff(session, staff_id)
    action = "reinvite"
    if account is None:
        action = "invite"
        account = StaffAccount(
            staff_id=staff_id,
            failed_sign_ins=0,
            credentials_version=1,
            created_at=now,
            updated_at=now,
        )
        session.add(account)
    else:
        account.credentials_version += 1
    account.password_hash = None
    account.password_set_at = None
    account.totp_secret = None
    account.totp_confirmed_at = None
    account.totp_last_step = None
    account.recovery_codes = []
    account.failed_sign_ins = 0
    account.locked_until = None
    account.disabled_at = None
    account.invitation_token_hash = hash_secret(token)
    account.invited_at = now
    account.invitation_expires_at = now + INVITATION_LIFETIME
    account.invitation_used_at = None
    account.updated_at = now
    session.flush()
    _audit(
        session,
        account,
        action,
        actor=actor,
        now=now,
        changes={
            "staff_id": staff_id,
            "expires_at": account.invitation_expires_at.isoformat(),
            "credentials_version": account.credentials_version,
        },
    )
    return token


def redeem_invitation(session: Session, token: str, *, now: dt.datetime) -> StaffAccount:
    """The account `token` invites, marking the invitation used; InvitationInvalid otherwise.

    The caller keeps the account in its own (server-side) session while the person sets a
    password and enrols: the link itself works once.
    """
    account = session.scalars(
        select(StaffAccount).where(StaffAccount.invitation_token_hash == hash_secret(token))
    ).first()
    message = "This invitation link is not valid. Ask an administrator to invite you again."
    if account is None:
        raise InvitationInvalid(message)
    if account.invitation_used_at is not None:
        raise InvitationInvalid(
            "This invitation link has been used already. Ask an administrator to invite you again."
        )
    expires_at = account.invitation_expires_at
    if expires_at is None or now >= expires_at:
        raise InvitationInvalid(
            "This invitation link has expired. Ask an administrator to invite you again."
        )
    if account.disabled_at is not None or not _staff_active(session, account):
        raise InvitationInvalid(message)
    account.invitation_used_at = now
    account.updated_at = now
    _audit(session, account, "redeem_invitation", actor=_actor(account), now=now)
    return account


# ---------------------------------------------------------------------------------------------
# Password


@cache
def _common_passwords() -> frozenset[str]:
    return frozenset(FREQUENCY_LISTS["passwords"])


def check_password_policy(password: str) -> str | None:
    """None if `password` may be used, otherwise the reason, in plain words."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Use at most {MAX_PASSWORD_LENGTH} characters."
    lowered = password.lower()
    if len(set(lowered)) == 1:
        return "Use more than one character, repeated."
    common = _common_passwords()
    stem = lowered.rstrip(_TRAILING_DECORATION)
    if lowered in common or stem in common:
        return "That password is one of the most common ones and easily guessed: choose another."
    return None


def set_password(
    session: Session, account: StaffAccount, password: str, *, now: dt.datetime
) -> None:
    """Set the account's password (argon2id); InvalidInput with the reason if the policy refuses."""
    reason = check_password_policy(password)
    if reason is not None:
        raise InvalidInput(reason, field="password")
    account.password_hash = _HASHER.hash(password)
    account.password_set_at = now
    account.updated_at = now
    _audit(session, account, "set_password", actor=_actor(account), now=now)


def verify_password(account: StaffAccount, password: str, *, now: dt.datetime) -> bool:
    """True if `password` is the account's; re-hashes it if argon2's parameters have moved on.

    It takes as long when the account has no password. Lockout and disabling are the caller's
    to check (`is_locked`, `disabled_at`).
    """
    if account.password_hash is None:
        _matches(_dummy_hash(), password)
        return False
    if not _matches(account.password_hash, password):
        return False
    if _HASHER.check_needs_rehash(account.password_hash):
        account.password_hash = _HASHER.hash(password)
        account.updated_at = now
    return True


@cache
def _dummy_hash() -> str:
    """Verified when an account has no password, so that a guess takes as long either way."""
    return _HASHER.hash("not a password anyone has")


def _matches(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


# ---------------------------------------------------------------------------------------------
# Second factor


def start_totp_enrolment(
    session: Session, account: StaffAccount, *, now: dt.datetime
) -> TotpEnrolment:
    """A new TOTP secret for the account, not in force until `confirm_totp` sees a right code."""
    secret = pyotp.random_base32()
    account.totp_secret = secret
    account.totp_confirmed_at = None
    account.totp_last_step = None
    account.updated_at = now
    _audit(session, account, "start_totp_enrolment", actor=_actor(account), now=now)
    return _enrolment(session, account, secret)


def pending_totp_enrolment(session: Session, account: StaffAccount) -> TotpEnrolment | None:
    """The secret being enrolled (shown again until confirmed), or None if there is none."""
    if account.totp_secret is None or account.totp_confirmed_at is not None:
        return None
    return _enrolment(session, account, account.totp_secret)


def _enrolment(session: Session, account: StaffAccount, secret: str) -> TotpEnrolment:
    staff = session.get(Staff, account.staff_id)
    label = (staff.email or staff.name) if staff is not None else f"staff {account.staff_id}"
    uri = _totp(secret).provisioning_uri(name=label, issuer_name=TOTP_ISSUER)
    return TotpEnrolment(secret=secret, uri=uri)


def totp_qr_svg(uri: str) -> str:
    """The otpauth URI as an SVG QR code, for the enrolment page to show inline."""
    return segno.make(uri, error="m").svg_inline(scale=4)


def confirm_totp(session: Session, account: StaffAccount, code: str, *, now: dt.datetime) -> bool:
    """Finish enrolment if `code` is right for the new secret; False (nothing changed) if not."""
    if account.totp_secret is None or not _take_totp_code(account, code, now):
        return False
    account.totp_confirmed_at = now
    _audit(session, account, "confirm_totp", actor=_actor(account), now=now)
    return True


def verify_totp(account: StaffAccount, code: str, *, now: dt.datetime) -> bool:
    """True if `code` is right for the enrolled secret and its step has not been used yet."""
    if account.totp_secret is None or account.totp_confirmed_at is None:
        return False
    return _take_totp_code(account, code, now)


def _take_totp_code(account: StaffAccount, code: str, now: dt.datetime) -> bool:
    """Accept `code` from the step of `now` or one either side, once; remember its step."""
    assert account.totp_secret is not None
    code = code.strip().replace(" ", "")
    if len(code) != TOTP_DIGITS or not code.isdigit():
        return False
    totp = _totp(account.totp_secret)
    current = int(now.timestamp()) // TOTP_STEP_SECONDS
    for step in (current - 1, current, current + 1):
        if account.totp_last_step is not None and step <= account.totp_last_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            account.totp_last_step = step
            account.updated_at = now
            return True
    return False


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP_SECONDS)


# ---------------------------------------------------------------------------------------------
# Recovery codes


def new_recovery_codes(session: Session, account: StaffAccount, *, now: dt.datetime) -> list[str]:
    """Ten new one-time recovery codes, replacing any earlier ones: shown once, kept hashed."""
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    account.recovery_codes = [
        RecoveryCode(code_hash=hash_secret(_normalise_code(code)), created_at=now) for code in codes
    ]
    account.updated_at = now
    session.flush()
    _audit(session, account, "new_recovery_codes", actor=_actor(account), now=now)
    return codes


def use_recovery_code(
    session: Session, account: StaffAccount, code: str, *, now: dt.datetime
) -> bool:
    """True (and the code spent) if `code` is one of the account's unused recovery codes."""
    wanted = hash_secret(_normalise_code(code))
    for row in account.recovery_codes:
        if row.used_at is None and hmac.compare_digest(row.code_hash, wanted):
            row.used_at = now
            account.updated_at = now
            left = sum(1 for other in account.recovery_codes if other.used_at is None)
            _audit(
                session,
                account,
                "use_recovery_code",
                actor=_actor(account),
                now=now,
                changes={"recovery_codes_left": left},
            )
            return True
    return False


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, _RECOVERY_LENGTH, 4))


def _normalise_code(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


# ---------------------------------------------------------------------------------------------
# Failed sign-ins, lockout, disabling


def is_locked(account: StaffAccount, *, now: dt.datetime) -> bool:
    """True while the account is locked after too many failed sign-ins."""
    return account.locked_until is not None and now < account.locked_until


def record_failed_sign_in(session: Session, account: StaffAccount, *, now: dt.datetime) -> bool:
    """Count a failed sign-in; the tenth in a row locks the account for 15 minutes.

    Returns True if the account is locked now. Failures while locked are not counted (the lock
    is not lengthened, so nobody can keep a colleague out by guessing).
    """
    if is_locked(account, now=now):
        return True
    account.failed_sign_ins += 1
    account.updated_at = now
    if account.failed_sign_ins < MAX_FAILED_SIGN_INS:
        return False
    account.failed_sign_ins = 0
    account.locked_until = now + LOCKOUT
    _audit(
        session,
        account,
        "lock",
        actor="system",
        now=now,
        changes={"locked_until": account.locked_until.isoformat()},
    )
    return True


def record_signed_in(account: StaffAccount, *, now: dt.datetime) -> None:
    """A sign-in succeeded: the failures before it no longer count."""
    account.failed_sign_ins = 0
    account.locked_until = None
    account.updated_at = now


def disable(session: Session, staff_id: int, *, actor: str, now: dt.datetime) -> StaffAccount:
    """Disable the account of `staff_id`: nothing it holds works until it is invited again."""
    account = get_for_staff(session, staff_id)
    if account is None:
        raise NotFound(f"Member of staff {staff_id} has no console account.")
    if account.disabled_at is None:
        account.disabled_at = now
        account.invitation_token_hash = None
        account.credentials_version += 1
        account.updated_at = now
        _audit(session, account, "disable", actor=actor, now=now)
    return account


# ---------------------------------------------------------------------------------------------
# Listing


class AccountState(enum.StrEnum):
    """Where a member of staff's console account stands, as `crisisline accounts list` says."""

    NONE = "no account"
    INVITED = "invited"
    INVITATION_EXPIRED = "invitation expired"
    # The link was followed but the password or second factor never finished: invite again.
    ENROLMENT_UNFINISHED = "enrolment unfinished"
    ACTIVE = "active"
    LOCKED = "locked"
    DISABLED = "disabled"
    STAFF_INACTIVE = "staff inactive"


@dataclass(frozen=True)
class AccountSummary:
    """One member of staff and their console account, for the administrator's list."""

    staff_id: int
    name: str
    roles: list[str]
    state: AccountState
    last_signed_in_at: dt.datetime | None


def state(staff: Staff, account: StaffAccount | None, *, now: dt.datetime) -> AccountState:
    """Where `staff`'s console account stands at `now`."""
    if not staff.active:
        return AccountState.STAFF_INACTIVE
    return account_state(account, now=now)


def account_state(account: StaffAccount | None, *, now: dt.datetime) -> AccountState:
    """Where a console account stands at `now`, whether or not its owner is still active."""
    if account is None:
        return AccountState.NONE
    if account.disabled_at is not None:
        return AccountState.DISABLED
    if account.password_hash is not None and account.totp_confirmed_at is not None:
        return AccountState.LOCKED if is_locked(account, now=now) else AccountState.ACTIVE
    if account.invitation_used_at is not None:
        return AccountState.ENROLMENT_UNFINISHED
    expires_at = account.invitation_expires_at
    if expires_at is None or now >= expires_at:
        return AccountState.INVITATION_EXPIRED
    return AccountState.INVITED


def summaries(session: Session, *, now: dt.datetime) -> list[AccountSummary]:
    """Every member of staff by name, with their account's state and latest sign-in."""
    accounts_by_staff = by_staff(session)
    signed_in = web_sessions.last_signed_in(session)
    return [
        AccountSummary(
            staff_id=person.id,
            name=person.name,
            roles=[role.value for role in person.roles],
            state=state(person, accounts_by_staff.get(person.id), now=now),
            last_signed_in_at=signed_in.get(person.id),
        )
        for person in session.scalars(select(Staff).order_by(Staff.name, Staff.id))
    ]


def by_staff(session: Session) -> dict[int, StaffAccount]:
    """Every console account, by its staff member's id (one query)."""
    return {account.staff_id: account for account in session.scalars(select(StaffAccount))}


def _staff_active(session: Session, account: StaffAccount) -> bool:
    staff = session.get(Staff, account.staff_id)
    return staff is not None and staff.active


def _actor(account: StaffAccount) -> str:
    return f"staff:{account.staff_id}"


def _audit(
    session: Session,
    account: StaffAccount,
    action: str,
    *,
    actor: str,
    now: dt.datetime,
    changes: dict[str, object] | None = None,
) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        record_type="staff_account",
        record_id=account.id,
        at=now,
        changes=dict(changes or {}),
    )
