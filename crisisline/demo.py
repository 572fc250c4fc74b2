"""Demo data: invented people on Ofcom's drama numbers, so a local run has something to show."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from crisisline import participants, rota_service, staff
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
class DemoResult:
    """How many demo records this run added."""

    staff_added: int
    participants_added: int
    rotas_added: int = 0


def seed(session: Session, *, now: dt.datetime) -> DemoResult:
    """Add whatever part of the demo data set is missing; running it twice adds nothing."""
    staff_added = 0
    for new in DEMO_STAFF:
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
    return DemoResult(staff_added, participants_added, rotas_added)
