"""The live crisis-call chain with a moving clock: loops, the maximum wait, who may accept."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask

from crisisline import calls, staff
from crisisline.clock import FakeClock
from crisisline.services import Services
from tests.support.app import services_of
from tests.support.three_rotas import BACKUP, MANAGER, PRIMARY, add_three_rotas

CALL_SID = "CA" + "1" * 32


@pytest.fixture
def svc(app: Flask, clock: FakeClock) -> Services:
    """Primary, backup and duty-manager rotas with one person each; shipped policies."""
    services = services_of(app)
    add_three_rotas(services, clock)
    return services


def _receive(svc: Services) -> calls.CallPlan:
    with svc.db.transaction() as session:
        return calls.receive_call(
            session,
            calls.IncomingCall(
                call_sid=CALL_SID,
                from_raw="+447700900201",
                to_raw="+447700900000",
                now=svc.clock.now(),
                region="GB",
            ),
            svc.messages,
        )


def _dial_finished(svc: Services) -> calls.CallPlan:
    with svc.db.transaction() as session:
        return calls.dial_finished(session, CALL_SID, svc.clock.now(), svc.messages)


def _ringing(plan: calls.CallPlan) -> list[str]:
    assert plan.ring is not None
    return [r.phone for r in plan.ring.recipients]


def test_the_chain_follows_the_shipped_policy_until_the_maximum_wait_then_falls_back(
    svc: Services, clock: FakeClock
) -> None:
    assert svc.messages.max_wait_seconds == 90
    plan = _receive(svc)
    assert _ringing(plan) == [PRIMARY]
    assert plan.ring is not None and plan.ring.timeout == 20
    seen = [_ringing(plan)]
    for _ in range(3):
        clock.advance(dt.timedelta(seconds=20))
        plan = _dial_finished(svc)
        seen.append(_ringing(plan))
    # crisis-call: primary, backup, then the duty manager with the primary; then it loops.
    assert seen == [[PRIMARY], [BACKUP], [MANAGER, PRIMARY], [PRIMARY]]
    clock.advance(dt.timedelta(seconds=20))  # 80 s waited: only 10 s left
    plan = _dial_finished(svc)
    assert plan.ring is not None and plan.ring.timeout == 10
    clock.advance(dt.timedelta(seconds=10))
    assert _dial_finished(svc).action == "fallback"


def test_only_a_phone_that_was_rung_can_accept_and_only_once(
    svc: Services, clock: FakeClock
) -> None:
    plan = _receive(svc)
    with svc.db.transaction() as session:
        staff_ids = {s.phone: s.id for s in staff.list_staff(session)[0]}
        assert calls.accept(session, plan.call_id, staff_ids[BACKUP], clock.now()) == "not_rung"
        assert calls.accept(session, plan.call_id, staff_ids[PRIMARY], clock.now()) == "accepted"
        # Only once: the same press again is still this person's; nobody else can take it.
        assert calls.accept(session, plan.call_id, staff_ids[PRIMARY], clock.now()) == "accepted"
    clock.advance(dt.timedelta(seconds=5))
    assert _dial_finished(svc).action == "done"


def test_a_repeated_incoming_webhook_answers_as_the_call_stands(
    svc: Services, clock: FakeClock
) -> None:
    first = _receive(svc)
    clock.advance(dt.timedelta(seconds=20))
    second_step = _dial_finished(svc)
    repeated = _receive(svc)
    assert repeated.call_id == first.call_id
    assert _ringing(repeated) == _ringing(second_step) == [BACKUP]
