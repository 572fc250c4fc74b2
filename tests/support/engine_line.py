"""The escalation engine's line on a real database: three staff on three weekly rotas and a
three-step policy (tests/integration/test_escalation_engine.py and the modules whose tests
open escalations on it)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from crisisline import escalation_policies
from crisisline.clock import FakeClock
from crisisline.services import Services
from tests.support.app import services_of
from tests.support.team import BACKUP as BACKUP
from tests.support.team import MANAGER as MANAGER
from tests.support.team import PRIMARY as PRIMARY
from tests.support.team import add_team, three_step_chain


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
    with svc.db.transaction() as session:
        ids = add_team(session, now=now)
        escalation_policies.put_policy(
            session, "test-chain", three_step_chain(), actor="t", now=now
        )
    return Line(svc, clock, ids)
