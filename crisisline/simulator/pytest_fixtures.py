"""Pytest fixtures for the Twilio simulator; load with `pytest_plugins` or import in a conftest."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import pytest

from crisisline.simulator.simulator import Delivery, Simulator
from crisisline.simulator.transport import WebhookTransport

# Fixed, obviously fake credentials for tests.
TEST_ACCOUNT_SID = "AC" + "5" * 32
TEST_AUTH_TOKEN = "simulator-test-auth-token"  # noqa: S105 - a fake secret for tests


class SimulatorFactory(Protocol):
    """Builds a Simulator that posts through `transport`; checked for leftovers at teardown."""

    def __call__(
        self,
        transport: WebhookTransport,
        *,
        account_sid: str = TEST_ACCOUNT_SID,
        auth_token: str = TEST_AUTH_TOKEN,
        delivery: Delivery = "manual",
    ) -> Simulator: ...


@pytest.fixture
def simulator() -> Iterator[SimulatorFactory]:
    """A factory for simulators; at teardown each must have nothing unexpected left over."""
    created: list[Simulator] = []

    def make(
        transport: WebhookTransport,
        *,
        account_sid: str = TEST_ACCOUNT_SID,
        auth_token: str = TEST_AUTH_TOKEN,
        delivery: Delivery = "manual",
    ) -> Simulator:
        sim = Simulator(
            account_sid=account_sid, auth_token=auth_token, transport=transport, delivery=delivery
        )
        created.append(sim)
        return sim

    yield make
    # Pending work is not run here: the service under test may already be torn down.
    for sim in created:
        sim.assert_no_unexpected()
