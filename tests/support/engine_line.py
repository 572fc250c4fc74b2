"""The escalation engine's line on a real database: three staff on three weekly rotas and a
three-step policy (tests/integration/test_escalation_engine.py and the modules whose tests
open escalations on it)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import Flask

from crisisline import escalation_policies, rota_service, staff
from crisisline.clock import FakeClock
from crisisline.models import StaffRole
from crisisline.services import Services
from tests.support.app import services_of

PRIMARY, BACKUP, MANAGER = "+447700900101", "+447700900102", "+447700900103"


@dataclass
class Line:
    svc: Services
    clock: FakeClock
    ids: dict[str, int]


def staffed_line(app: Flask, clock: FakeClock) -> Line:
    """Three staff on three weekly rotas called primary, backup and duty-manager, and a policy
    "test-chain" that texts each rota in turn, five minutes apart, once."""
    svc = services_of(app)
    now = clock.now()
    ids: dict[str, int] = {}
    with svc.db.transaction() as session:
        for name, phone, roles in (
            ("Amira Okafor", PRIMARY, [StaffRole.ON_CALL]),
            ("Tom Hughes", BACKUP, [StaffRole.ON_CALL]),
            ("Priya Natarajan", MANAGER, [StaffRole.DUTY_MANAGER]),
        ):
            person = staff.create(
                session, staff.NewStaff(name, phone, None, roles), actor="t", now=now
            )
            ids[phone] = person.id
        for rota_name, phone in (
            ("primary", PRIMARY),
            ("backup", BACKUP),
            ("duty-manager", MANAGER),
        ):
            record = rota_service.create(
                session,
                rota_service.NewRota(
                    name=rota_name,
                    timezone="Europe/London",
                    members=[ids[phone]],
                    shift_length="P7D",
                    first_handoff=dt.datetime(2026, 11, 2, 9, 0),
                ),
                actor="t",
                now=now,
            )
            ids[rota_name] = record.id
        escalation_policies.put_policy(
            session,
            "test-chain",
            {
                "steps": [
                    {"targets": [{"rota": "primary"}], "channels": ["sms"], "wait_seconds": 300},
                    {"targets": [{"rota": "backup"}], "channels": ["sms"], "wait_seconds": 300},
                    {
                        "targets": [{"rota": "duty-manager"}],
                        "channels": ["sms"],
                        "wait_seconds": 300,
                    },
                ],
                "repeat": 0,
            },
            actor="t",
            now=now,
        )
    return Line(svc, clock, ids)
