"""Demo data: invented people on Ofcom's drama numbers, so a local run has something to show.

It includes a demo administrator with a console account ready to sign in (a random password and
a confirmed TOTP secret), so that a newcomer can sign in at once after `make run`: the sign-in
details are returned, to be shown once, by the run that makes the account. Demo data only: a
real deployment invites its administrators (`crisisline accounts invite`).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session

from crisisline import accounts, participants, rota_service, staff
from crisisline.models import Participant, RiskLevel, Staff, StaffRole
from crisisline.rota_models import RotaRecord

ACTOR = "demo"

DEMO_STAFF = (
    staff.NewStaff(
        "Amira Okafor", "+447700900101", "amira.okafor@example.org", [StaffRole.ON_CALL]
    ),
    staff.NewStaff("Tom Hughes", "+447700900102", "tom.hughes@example.org", [StaffRole.ON_CALL]),
    staff.NewStaff(
        "Priya Natarajan",
        "+447700900103",
        "priya.natarajan@example.org",
        [StaffRole.ON_CALL, StaffRole.DUTY_MANAGER],
    ),
    staff.NewStaff(
        "Gareth Lloyd", "+447700900104", "gareth.lloyd@example.org", [StaffRole.RESPONSIBLE_OFFICER]
    ),
    staff.NewStaff(
        "Helen Marsh",
        "+447700900105",
        "helen.marsh@example.org",
        [StaffRole.ADMIN, StaffRole.RESPONSIBLE_OFFICER],
    ),
    staff.NewStaff(
        "Nadia Rahman", "+447700900106", "nadia.rahman@example.org", [StaffRole.CLINICAL_LEAD]
    ),
)

# The demo administrator: the one demo person with a console account made for them.
DEMO_ADMINISTRATOR_EMAIL = "owen.pritchard@example.org"
DEMO_ADMINISTRATOR = staff.NewStaff(
    "Owen Pritchard", "+447700900107", DEMO_ADMINISTRATOR_EMAIL, [StaffRole.ADMIN]
)

# (reference, name, phones, officer's email, risk level)
DEMO_PARTICIPANTS = (
    (
        "R1001",
        "Daniel Price",
        ["+447700900201", "+447700900202"],
        "gareth.lloyd@example.org",
        RiskLevel.HIGH,
    ),
    ("R1002", "Lee Carter", ["+447700900203"], "gareth.lloyd@example.org", RiskLevel.MEDIUM),
    ("R1003", "Marcus Bell", ["+447700900204"], "helen.marsh@example.org", RiskLevel.VERY_HIGH),
)


# (name, members by email, shift length, first handoff in local time): a 24-hour line with a
# primary and a backup 12-hour rota handing over at 08:00 and 20:00, and a weekly duty manager.
DEMO_ROTAS = (
    (
        "primary",
        ["amira.okafor@example.org", "tom.hughes@example.org"],
        "PT12H",
        dt.datetime(2026, 1, 5, 8, 0),
    ),
    (
        "backup",
        ["tom.hughes@example.org", "amira.okafor@example.org"],
        "PT12H",
        dt.datetime(2026, 1, 5, 8, 0),
    ),
    ("duty-manager", ["priya.natarajan@example.org"], "P7D", dt.datetime(2026, 1, 5, 9, 0)),
)


@dataclass(frozen=True)
class DemoSignIn:
    """How the demo administrator signs in: shown once, by the run that made the account."""

    staff_id: int
    name: str
    email: str
    phone: str
    password: str = field(repr=False)
    totp_secret: str = field(repr=False)
    totp_uri: str = field(repr=False)


@dataclass(frozen=True)
class DemoResult:
    """How many demo records this run added, and the administrator's sign-in if it made it."""

    staff_added: int
    participants_added: int
    rotas_added: int = 0
    administrator_sign_in: DemoSignIn | None = None


def seed(session: Session, *, now: dt.datetime) -> DemoResult:
    """Add whatever part of the demo data set is missing; running it twice adds nothing."""
    staff_added = 0
    for new in (*DEMO_STAFF, DEMO_ADMINISTRATOR):
        if session.scalars(select(Staff).where(Staff.phone == new.phone)).first() is None:
            staff.create(session, new, actor=ACTOR, now=now)
            staff_added += 1
    participants_added = 0
    for reference, name, numbers, officer_email, risk in DEMO_PARTICIPANTS:
        exists = session.scalars(
            select(Participant).where(Participant.reference == reference)
        ).first()
        if exists is not None:
            continue
        officer = staff.find_by_email(session, officer_email)
        participants.create(
            session,
            participants.NewParticipant(
                reference=reference,
                name=name,
                phones=numbers,
                responsible_officer_id=officer.id if officer else None,
                risk_level=risk,
            ),
            actor=ACTOR,
            now=now,
        )
        participants_added += 1
    rotas_added = 0
    for rota_name, emails, length, first in DEMO_ROTAS:
        if session.scalars(select(RotaRecord).where(RotaRecord.name == rota_name)).first():
            continue
        members = [m.id for m in (staff.find_by_email(session, e) for e in emails) if m]
        rota_service.create(
            session,
            rota_service.NewRota(
                name=rota_name,
                timezone="Europe/London",
                members=members,
                shift_length=length,
                first_handoff=first,
            ),
            actor=ACTOR,
            now=now,
        )
        rotas_added += 1
    return DemoResult(
        staff_added, participants_added, rotas_added, _administrator_sign_in(session, now=now)
    )


def _administrator_sign_in(session: Session, *, now: dt.datetime) -> DemoSignIn | None:
    """Give the demo administrator a console account ready to sign in, unless they have one."""
    administrator = staff.find_by_email(session, DEMO_ADMINISTRATOR_EMAIL)
    if administrator is None or accounts.get_for_staff(session, administrator.id) is not None:
        return None
    # The same steps as a real invitation, so the account is like any other and audited.
    token = accounts.invite(session, administrator.id, actor=ACTOR, now=now)
    account = accounts.redeem_invitation(session, token, now=now)
    password = "-".join(secrets.token_hex(3) for _ in range(3))  # 72 random bits
    accounts.set_password(session, account, password, now=now)
    enrolment = accounts.start_totp_enrolment(session, account, now=now)
    # Confirmed with the previous step's code: a code once used (and every earlier one) is never
    # taken again, so confirming with the current one would refuse the code the newcomer's
    # authenticator shows for the rest of this 30-second step.
    previous = pyotp.TOTP(enrolment.secret).at(
        now - dt.timedelta(seconds=accounts.TOTP_STEP_SECONDS)
    )
    if not accounts.confirm_totp(session, account, previous, now=now):
        raise RuntimeError("the demo administrator's second factor was not confirmed")
    return DemoSignIn(
        staff_id=administrator.id,
        name=administrator.name,
        email=DEMO_ADMINISTRATOR_EMAIL,
        phone=administrator.phone,
        password=password,
        totp_secret=enrolment.secret,
        totp_uri=enrolment.uri,
    )
