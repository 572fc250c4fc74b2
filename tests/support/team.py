"""The on-call team most tests stand up: Amira Okafor on the primary rota, Tom Hughes on backup
and Priya Natarajan on duty-manager, each a weekly rota of one person, and the three-step chain
that texts them in that order."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from crisisline import rota_service, staff
from crisisline.models import StaffRole

PRIMARY, BACKUP, MANAGER = "+447700900101", "+447700900102", "+447700900103"
# Rota name, person, phone and role, in the order they are created.
TEAM = (
    ("primary", "Amira Okafor", PRIMARY, StaffRole.ON_CALL),
    ("backup", "Tom Hughes", BACKUP, StaffRole.ON_CALL),
    ("duty-manager", "Priya Natarajan", MANAGER, StaffRole.DUTY_MANAGER),
)
FIRST_HANDOFF = dt.datetime(2026, 11, 2, 9, 0)  # a Monday, Europe/London


def add_weekly_rota(
    session: Session,
    name: str,
    member_id: int,
    *,
    now: dt.datetime,
    first_handoff: dt.datetime = FIRST_HANDOFF,
) -> int:
    """A weekly rota of one person; its id."""
    return rota_service.create(
        session,
        rota_service.NewRota(
            name=name,
            timezone="Europe/London",
            members=[member_id],
            shift_length="P7D",
            first_handoff=first_handoff,
        ),
        actor="t",
        now=now,
    ).id


def add_team(
    session: Session, *, now: dt.datetime, first_handoff: dt.datetime = FIRST_HANDOFF
) -> dict[str, int]:
    """The three people, then their three rotas; ids by phone and by rota name."""
    ids: dict[str, int] = {}
    for _, name, phone, role in TEAM:
        ids[phone] = staff.create(
            session, staff.NewStaff(name, phone, None, [role]), actor="t", now=now
        ).id
    for rota_name, _, phone, _ in TEAM:
        ids[rota_name] = add_weekly_rota(
            session, rota_name, ids[phone], now=now, first_handoff=first_handoff
        )
    return ids


def three_step_chain(
    first_targets: Sequence[dict[str, str]] = ({"rota": "primary"},),
) -> dict[str, Any]:
    """A policy texting the first targets, then backup, then duty-manager, five minutes apart,
    once (no repeat)."""
    return {
        "steps": [
            {"targets": list(first_targets), "channels": ["sms"], "wait_seconds": 300},
            {"targets": [{"rota": "backup"}], "channels": ["sms"], "wait_seconds": 300},
            {"targets": [{"rota": "duty-manager"}], "channels": ["sms"], "wait_seconds": 300},
        ],
        "repeat": 0,
    }
