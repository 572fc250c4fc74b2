"""Primary, backup and duty-manager rotas of one person each, on the shipped policies
(tests/integration/test_calls_chain.py and test_call_order.py)."""

from __future__ import annotations

from crisisline.clock import FakeClock
from crisisline.services import Services
from tests.support.team import BACKUP as BACKUP
from tests.support.team import MANAGER as MANAGER
from tests.support.team import PRIMARY as PRIMARY
from tests.support.team import add_team


def add_three_rotas(services: Services, clock: FakeClock) -> None:
    """Primary, backup and duty-manager rotas of one person each (Amira, Tom and Priya)."""
    with services.db.transaction() as session:
        add_team(session, now=clock.now())
