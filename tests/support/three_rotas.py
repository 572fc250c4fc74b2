"""Primary, backup and duty-manager rotas of one person each, on the shipped policies
(tests/integration/test_calls_chain.py and test_call_order.py)."""

from __future__ import annotations

import datetime as dt

from crisisline import rota_service, staff
from crisisline.clock import FakeClock
from crisisline.models import StaffRole
from crisisline.services import Services

PRIMARY, BACKUP, MANAGER = "+447700900101", "+447700900102", "+447700900103"


def add_three_rotas(services: Services, clock: FakeClock) -> None:
    """Primary, backup and duty-manager rotas of one person each (Amira, Tom and Priya)."""
    with services.db.transaction() as session:
        for rota_name, name, phone, role in (
            ("primary", "Amira Okafor", PRIMARY, StaffRole.ON_CALL),
            ("backup", "Tom Hughes", BACKUP, StaffRole.ON_CALL),
            ("duty-manager", "Priya Natarajan", MANAGER, StaffRole.DUTY_MANAGER),
        ):
            person = staff.create(
                session, staff.NewStaff(name, phone, None, [role]), actor="t", now=clock.now()
            )
            rota_service.create(
                session,
                rota_service.NewRota(
                    name=rota_name,
                    timezone="Europe/London",
                    members=[person.id],
                    shift_length="P7D",
                    first_handoff=dt.datetime(2026, 11, 2, 9, 0),
                ),
                actor="t",
                now=clock.now(),
            )
