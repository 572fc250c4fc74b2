"""Signing in to the console, and setting up a sign-in from an invitation.

The steps a person takes, each one call: the password (`check_password` opens a half-open
session), then the six-digit code or a recovery code (`check_second_factor` completes it);
`sign_out` ends it. From an invitation: `start_enrolment` spends the one-time link and opens a
half-open enrolment session (its id goes in a cookie scoped to the invitation pages, so no
secret travels in a URL after the first page), `choose_password`, then `confirm_code`, which
turns the second factor on, makes the ten recovery codes and ends the enrolment session.

A person signs in with their registered phone number (written any way phonenumbers reads it)
or their email: every member of staff has a phone and not all have an email. A failed
password gets one answer whatever went wrong (no such person, no account, wrong password,
locked, disabled, not yet enrolled), so the sign-in page tells nobody whether an account exists.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from dataclasses import dataclass
from typing import Final

from sqlalchemy.orm import Session

from crisisline import accounts, audit, phones, staff, web_sessions
from crisisline.account_models import StaffAccount, WebSession
from crisisline.errors import InvalidInput
from crisisline.models import Staff
from crisisline.record_access import Origin

log = logging.getLogger(__name__)

# How long someone has to set a password and enrol their phone once they open an invitation.
ENROLMENT_WINDOW: Final = dt.timedelta(minutes=30)
_ENROLMENT_LIMITS: Final = web_sessions.Limits(absolute=ENROLMENT_WINDOW, idle=ENROLMENT_WINDOW)

FAILED_SIGN_IN: Final = (
    "The phone number or email and the password do not match an account that can sign in. "
    f"After {accounts.MAX_FAILED_SIGN_INS} failed sign-ins in a row an account is locked for "
    f"{int(accounts.LOCKOUT.total_seconds() // 60)} minutes: check both and try again, or wait."
)
WRONG_CODE: Final = (
    "That code is not right or has been used already. Type the code your app shows now, "
    "or one of your recovery codes."
)
LOCKED: Final = (
    f"Too many failed sign-ins: this account is locked for "
    f"{int(accounts.LOCKOUT.total_seconds() // 60)} minutes. Try again after that."
)
START_AGAIN: Final = "Your sign-in was not finished in time. Start again with your password."


class SecondFactor(enum.Enum):
    """How a code typed after the password went."""

    SIGNED_IN = "signed_in"
    WRONG = "wrong"  # try again
    LOCKED = "locked"  # too many failures: the half-open session has ended
    START_AGAIN = "start_again"  # no half-open session (lapsed, ended, never begun)


class EnrolmentStep(enum.Enum):
    """What an enrolling person does next."""

    PASSWORD = "password"  # noqa: S105 (the name of a step, not a password)
    CODE = "code"


@dataclass(frozen=True)
class Enrolment:
    """An enrolment in progress: whose, the step it is at, and (at the code step) the secret."""

    name: str
    step: EnrolmentStep
    totp: accounts.TotpEnrolment | None


# ---------------------------------------------------------------------------------------------
# Signing in


def check_password(
    session: Session,
    identifier: str,
    password: str,
    *,
    now: dt.datetime,
    limits: web_sessions.Limits,
    origin: Origin,
    region: str,
) -> str | None:
    """Open a half-open session if `password` is right for an account that may sign in now.

    Returns the session's id (for the cookie), or None for every kind of failure alike; a
    failure against an account counts towards its lockout.
    """
    person = _find_staff(session, identifier, region)
    account = accounts.get_for_staff(session, person.id) if person is not None else None
    if person is None or account is None:
        # As slow as a real check, so the time taken does not tell whether the account exists.
        accounts.verify_password(StaffAccount(), password, now=now)
        log.info("sign-in refused: no account for that name")
        return None
    locked = accounts.is_locked(account, now=now)
    right = accounts.verify_password(account, password, now=now)
    may_sign_in = (
        person.active
        and account.disabled_at is None
        and account.totp_confirmed_at is not None
        and not locked
    )
    if not (right and may_sign_in):
        accounts.record_failed_sign_in(session, account, now=now)
        log.info("sign-in refused for staff:%s at the password", person.id)
        return None
    return web_sessions.begin(
        session,
        account,
        now=now,
        limits=limits,
        address=origin.address,
        user_agent=origin.user_agent,
    )


def awaiting_second_factor(
    session: Session, session_id: str, *, now: dt.datetime, limits: web_sessions.Limits
) -> bool:
    """True if `session_id` names a live session waiting for its code."""
    return _half_open_for_sign_in(session, session_id, now=now, limits=limits) is not None


def check_second_factor(
    session: Session,
    session_id: str,
    code: str,
    *,
    recovery: bool,
    now: dt.datetime,
    limits: web_sessions.Limits,
) -> SecondFactor:
    """Complete the half-open session `session_id` if `code` (TOTP, or a recovery code) is right."""
    found = _half_open_for_sign_in(session, session_id, now=now, limits=limits)
    if found is None:
        return SecondFactor.START_AGAIN
    row, account = found
    if accounts.is_locked(account, now=now):
        web_sessions.end(row, now=now, reason="locked")
        return SecondFactor.LOCKED
    if recovery:
        right = accounts.use_recovery_code(session, account, code, now=now)
    else:
        right = accounts.verify_totp(account, code, now=now)
    if not right:
        log.info("sign-in refused for staff:%s at the second factor", account.staff_id)
        if accounts.record_failed_sign_in(session, account, now=now):
            web_sessions.end(row, now=now, reason="locked")
            return SecondFactor.LOCKED
        return SecondFactor.WRONG
    web_sessions.complete_second_factor(row, now=now, limits=limits)
    accounts.record_signed_in(account, now=now)
    audit.record(
        session,
        actor=f"staff:{account.staff_id}",
        action="sign_in",
        record_type="staff_account",
        record_id=account.id,
        at=now,
        changes={"second_factor": "recovery_code" if recovery else "totp"},
    )
    return SecondFactor.SIGNED_IN


def sign_out(session: Session, session_id: str, *, now: dt.datetime) -> None:
    """End the session `session_id` (signed in or half-open); nothing if there is none."""
    row = web_sessions.find(session, session_id)
    if row is None or row.ended_at is not None:
        return
    web_sessions.end(row, now=now, reason="signed_out")
    if row.second_factor_at is not None:
        audit.record(
            session,
            actor=f"staff:{row.staff_id}",
            action="sign_out",
            record_type="staff",
            record_id=row.staff_id,
            at=now,
        )


def _find_staff(session: Session, identifier: str, region: str) -> Staff | None:
    identifier = identifier.strip()
    if "@" in identifier:
        return staff.find_by_email(session, identifier)
    try:
        number = phones.normalise(identifier, region)
    except phones.InvalidPhoneNumber:
        return None
    return staff.active_by_phone(session, number)


def _half_open_for_sign_in(
    session: Session, session_id: str, *, now: dt.datetime, limits: web_sessions.Limits
) -> tuple[WebSession, StaffAccount] | None:
    row = web_sessions.find(session, session_id)
    if row is None or row.second_factor_at is not None:
        return None
    found = web_sessions.live(session, row, now=now, limits=limits)
    if found is None:
        return None
    account, _person = found
    if account.totp_confirmed_at is None:
        # An enrolment's session: it never stands in for a sign-in.
        return None
    return row, account


# ---------------------------------------------------------------------------------------------
# Enrolment from an invitation


def start_enrolment(session: Session, token: str, *, now: dt.datetime, origin: Origin) -> str:
    """Spend the invitation `token` and open an enrolment session; returns its id.

    accounts.InvitationInvalid (with a message for the person) if the link cannot be used.
    """
    account = accounts.redeem_invitation(session, token, now=now)
    return web_sessions.begin(
        session,
        account,
        now=now,
        limits=_ENROLMENT_LIMITS,
        address=origin.address,
        user_agent=origin.user_agent,
        half_open_for=ENROLMENT_WINDOW,
    )


def enrolment(session: Session, session_id: str, *, now: dt.datetime) -> Enrolment | None:
    """The enrolment `session_id` names and its next step, or None if there is none (any more)."""
    found = _enrolling(session, session_id, now=now)
    if found is None:
        return None
    _row, account, person = found
    if account.password_hash is None:
        return Enrolment(name=person.name, step=EnrolmentStep.PASSWORD, totp=None)
    return Enrolment(
        name=person.name,
        step=EnrolmentStep.CODE,
        totp=accounts.pending_totp_enrolment(session, account),
    )


def choose_password(
    session: Session, session_id: str, password: str, repeated: str, *, now: dt.datetime
) -> bool:
    """Set the enrolling account's password and start its second factor; False if no enrolment.

    InvalidInput naming the field if the two differ or the policy refuses the password.
    """
    found = _enrolling(session, session_id, now=now)
    if found is None:
        return False
    _row, account, _person = found
    if account.password_hash is not None:
        return True  # set already (a form sent twice): the code step is next either way
    if password != repeated:
        raise InvalidInput("The two passwords are not the same.", field="confirm_password")
    accounts.set_password(session, account, password, now=now)
    accounts.start_totp_enrolment(session, account, now=now)
    return True


def confirm_code(
    session: Session, session_id: str, code: str, *, now: dt.datetime
) -> list[str] | None:
    """Turn the second factor on if `code` is right; returns the ten recovery codes, shown once.

    None if the code is wrong (nothing changes). The enrolment session ends with success: the
    person signs in afresh, with the password and a code.
    """
    found = _enrolling(session, session_id, now=now)
    if found is None:
        return None
    row, account, _person = found
    if account.password_hash is None or not accounts.confirm_totp(session, account, code, now=now):
        return None
    codes = accounts.new_recovery_codes(session, account, now=now)
    web_sessions.end(row, now=now, reason="enrolled")
    return codes


def _enrolling(
    session: Session, session_id: str, *, now: dt.datetime
) -> tuple[WebSession, StaffAccount, Staff] | None:
    row = web_sessions.find(session, session_id)
    if row is None or row.second_factor_at is not None:
        return None
    found = web_sessions.live(session, row, now=now, limits=_ENROLMENT_LIMITS)
    if found is None:
        return None
    account, person = found
    if account.totp_confirmed_at is not None or account.invitation_used_at is None:
        # A sign-in's half-open session, or an account enrolled already: nothing to set up.
        return None
    return row, account, person
