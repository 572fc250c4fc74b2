"""Staff for routing: a primary rota of one person, a backup rota, and a standby who is on no
rota (tests/integration/test_routing_cache.py and the call-intake tests beside it)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from crisisline import rota_service, staff, staffing
from crisisline.clock import FakeClock
from crisisline.models import Staff, StaffRole
from crisisline.services import Services
from tests.support.team import add_weekly_rota

PRIMARY, BACKUP, STANDBY = "+447700900101", "+447700900102", "+447700900104"


def seed(services: Services, clock: FakeClock) -> Services:
    """A primary rota of one person, a backup rota, and a standby who is on no rota."""
    with services.db.transaction() as session:
        for rota_name, name, phone in (
            ("primary", "Amira Okafor", PRIMARY),
            ("backup", "Tom Hughes", BACKUP),
        ):
            person = staff.create(
                session,
                staff.NewStaff(name, phone, None, [StaffRole.ON_CALL]),
                actor="t",
                now=clock.now(),
            )
            add_weekly_rota(session, rota_name, person.id, now=clock.now())
        staff.create(
            session,
            staff.NewStaff("Sam Osei", STANDBY, None, [StaffRole.ON_CALL]),
            actor="t",
            now=clock.now(),
        )
    return services


def staff_id(svc: Services, phone: str) -> int:
    with svc.db.transaction() as session:
        found = session.scalar(select(Staff.id).where(Staff.phone == phone))
        assert found is not None
        return found


def standby_covers(svc: Services, clock: FakeClock, *, from_minutes: int) -> None:
    """An override putting the standby on the primary rota from `from_minutes` for 2 hours."""
    standby = staff_id(svc, STANDBY)
    with svc.db.transaction() as session:
        rota = rota_service.find_by_name(session, "primary")
        staffing.add_override(
            session,
            rota.id,
            rota_service.NewOverride(
                staff_id=standby,
                start=clock.now() + dt.timedelta(minutes=from_minutes),
                end=clock.now() + dt.timedelta(hours=2),
                mode="replace",
                reason="cover",
            ),
            actor="t",
            now=clock.now(),
        )
