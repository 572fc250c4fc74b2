"""The routing cache: answers reused while routing is unchanged, never after it changes.

Every call and text asks which policy applies, who is on call and whether the caller is staff;
crisisline.routing_cache keeps those answers per process under a version that every change
to a policy, rota, override or staff record replaces. A stale answer here rings someone who
has left, or misses the person who is really on call, so each way routing can change is
checked: an override, a deactivation, a phone change, a policy edit, a bulk delete, a handover,
a hand-made SQL change followed by `crisisline routing-changed`, and two databases in one
process.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import delete, event, func, select, text
from sqlalchemy.orm import Session

from crisisline import (
    calls,
    contacts,
    escalation_policies,
    rota_service,
    routing_cache,
    staff,
    staffing,
)
from crisisline.app import create_app
from crisisline.clock import FakeClock
from crisisline.models import Channel, Contact, Direction, Staff, StaffRole
from crisisline.rota_models import RotaOverride
from crisisline.services import Services
from crisisline.telephony import FakeTelephony
from escalation import RotaNameTarget
from tests.support.app import make_settings, services_of
from tests.support.routing import BACKUP, PRIMARY, STANDBY, seed, staff_id, standby_covers

CALLER = "+447700900201"


@pytest.fixture
def svc(app: Flask, clock: FakeClock) -> Services:
    """A primary rota of one person, a backup rota, and a standby who is on no rota."""
    return seed(services_of(app), clock)


@contextmanager
def counting(svc: Services) -> Iterator[list[str]]:
    """The SQL statements run inside the block."""
    seen: list[str] = []

    def note(*args: object) -> None:
        if not str(args[2]).startswith("BEGIN"):  # SQLite's BEGIN IMMEDIATE is a statement
            seen.append(str(args[2]))

    event.listen(svc.db.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(svc.db.engine, "before_cursor_execute", note)


def _ringing(svc: Services, n: int) -> list[str]:
    """Receive a new call, answer which phones ring first, and end it: a phone still ringing
    for one call is left out of the next (calls.busy_staff), which is not what these tests
    are about."""
    phones = _plan(svc, n)
    with svc.db.transaction() as session:
        calls.call_ended(
            session,
            _sid(n),
            status="completed",
            duration_seconds=5,
            now=svc.clock.now(),
            reach=svc.reach,
            zone=svc.settings.zone,
        )
    return phones


def _sid(n: int) -> str:
    return "CA" + f"{n:032d}"


def _plan(svc: Services, n: int) -> list[str]:
    """Receive a new call and answer which phones ring first (the call is left ringing)."""
    with svc.db.transaction() as session:
        plan = calls.receive_call(
            session,
            calls.IncomingCall(
                call_sid=_sid(n),
                from_raw=CALLER,
                to_raw="+447700900000",
                now=svc.clock.now(),
                region="GB",
            ),
            svc.messages,
        )
    assert plan.ring is not None, plan
    return [r.phone for r in plan.ring.recipients]


def test_a_repeated_question_is_answered_from_memory_without_asking_the_rota(
    svc: Services,
) -> None:
    assert _ringing(svc, 1) == [PRIMARY]
    with counting(svc) as statements:
        assert _plan(svc, 2) == [PRIMARY]
    rota_reads = [s for s in statements if "rota" in s.lower() or "escalation_policies" in s]
    assert rota_reads == []
    # The version read, the caller, the phones busy with other calls (calls.busy_staff), the
    # contact and the live call: nothing else.
    assert len(statements) == 5, statements
    assert sum("FROM calls" in s and "JOIN contacts" in s for s in statements) == 1


def test_an_override_entered_after_an_answer_was_cached_is_rung_at_once(
    svc: Services, clock: FakeClock
) -> None:
    assert _ringing(svc, 1) == [PRIMARY]
    standby_covers(svc, clock, from_minutes=-5)
    assert _ringing(svc, 2) == [STANDBY]


def test_a_deactivated_member_of_staff_is_never_rung_from_a_cached_answer(
    svc: Services, clock: FakeClock
) -> None:
    assert _ringing(svc, 1) == [PRIMARY]
    with svc.db.transaction() as session:
        staffing.deactivate_staff(session, staff_id(svc, PRIMARY), actor="t", now=clock.now())
    # The primary step reaches nobody now, so the backup rings at once.
    assert _ringing(svc, 2) == [BACKUP]


def test_a_changed_staff_phone_is_rung_at_its_new_number(svc: Services, clock: FakeClock) -> None:
    assert _ringing(svc, 1) == [PRIMARY]
    with svc.db.transaction() as session:
        staffing.update_staff(
            session,
            staff_id(svc, PRIMARY),
            {"phone": "+447700900109"},
            actor="t",
            now=clock.now(),
        )
    assert _ringing(svc, 2) == ["+447700900109"]


def test_an_edited_policy_applies_to_the_next_call(svc: Services, clock: FakeClock) -> None:
    assert _ringing(svc, 1) == [PRIMARY]
    with svc.db.transaction() as session:
        escalation_policies.put_policy(
            session,
            "crisis-call",
            {
                "steps": [
                    {"targets": [{"rota": "backup"}], "channels": ["voice"], "wait_seconds": 60}
                ],
                "repeat": 1,
            },
            actor="t",
            now=clock.now(),
        )
    assert _ringing(svc, 2) == [BACKUP]


def test_a_bulk_delete_of_overrides_writes_a_new_version(svc: Services, clock: FakeClock) -> None:
    with svc.db.transaction() as session:
        before = routing_cache.version(session)
    with svc.db.transaction() as session:
        session.execute(delete(RotaOverride).where(RotaOverride.rota_id == -1))
    with svc.db.transaction() as session:
        after = routing_cache.version(session)
    assert before is not None and after is not None and before != after


def test_a_cached_answer_ends_at_the_handover(svc: Services, clock: FakeClock) -> None:
    # The standby takes over in ten minutes, entered before anything is cached.
    standby_covers(svc, clock, from_minutes=10)
    assert _ringing(svc, 1) == [PRIMARY]
    clock.advance(dt.timedelta(minutes=10))
    assert _ringing(svc, 2) == [STANDBY]


def test_a_change_made_by_hand_in_sql_needs_routing_changed(
    svc: Services, app: Flask, clock: FakeClock
) -> None:
    assert _ringing(svc, 1) == [PRIMARY]
    primary = staff_id(svc, PRIMARY)
    with svc.db.transaction() as session:
        session.execute(
            text("UPDATE staff SET phone = '+447700900108' WHERE id = :id"), {"id": primary}
        )
    # The cache cannot see SQL written by hand: the command documented for it clears it.
    result = app.test_cli_runner().invoke(args=["routing-changed"])
    assert result.exit_code == 0, result.output
    assert _ringing(svc, 2) == ["+447700900108"]


def test_without_a_version_row_nothing_is_cached(svc: Services) -> None:
    with svc.db.transaction() as session:
        session.execute(text("DELETE FROM routing_state"))
    assert _ringing(svc, 1) == [PRIMARY]
    with counting(svc) as statements:
        assert _plan(svc, 2) == [PRIMARY]
    assert any("rota_members" in s for s in statements)


def test_two_databases_in_one_process_never_share_answers(
    svc: Services, tmp_path: Path, clock: FakeClock
) -> None:
    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    from crisisline.migrate import upgrade

    upgrade(other_url)
    other_app = create_app(
        {"TESTING": True},
        settings=make_settings(tmp_path, other_url),
        clock=clock,
        telephony=FakeTelephony(),
    )
    other = services_of(other_app)
    try:
        with other.db.transaction() as session:
            # The other line's primary is the standby's number; the backup is the same.
            staff.create(
                session,
                staff.NewStaff("Lee Carter", STANDBY, None, [StaffRole.ON_CALL]),
                actor="t",
                now=clock.now(),
            )
        _seed_primary_only(other, clock)
        assert _ringing(svc, 1) == [PRIMARY]
        # Give both databases the same version: the URL still keeps their answers apart.
        with svc.db.transaction() as session:
            same = routing_cache.version(session)
        assert same is not None
        with other.db.transaction() as session:
            session.execute(text("UPDATE routing_state SET version = :v"), {"v": same[1]})
        assert _ringing(other, 1) == [STANDBY]
        assert _ringing(svc, 2) == [PRIMARY]
    finally:
        other.db.dispose()


def _seed_primary_only(services: Services, clock: FakeClock) -> None:
    with services.db.transaction() as session:
        person = session.scalar(select(Staff).where(Staff.phone == STANDBY))
        assert person is not None
        rota_service.create(
            session,
            rota_service.NewRota(
                name="primary",
                timezone="Europe/London",
                members=[person.id],
                shift_length="P7D",
                first_handoff=dt.datetime(2026, 11, 2, 9, 0),
            ),
            actor="t",
            now=clock.now(),
        )


def test_a_staff_phone_is_known_as_staff_until_it_is_deactivated(
    svc: Services, clock: FakeClock
) -> None:
    with svc.db.transaction() as session:
        assert staff.active_by_phone(session, BACKUP) is not None
        assert staff.active_by_phone(session, CALLER) is None
    with svc.db.transaction() as session:
        staffing.deactivate_staff(session, staff_id(svc, BACKUP), actor="t", now=clock.now())
    with svc.db.transaction() as session:
        assert staff.active_by_phone(session, BACKUP) is None


def test_a_resolver_in_the_same_transaction_sees_its_own_routing_change(
    svc: Services, clock: FakeClock
) -> None:
    target = RotaNameTarget("primary")
    with svc.db.transaction() as session:
        resolve = escalation_policies.resolver(session, clock.now())
        assert [r.phone for r in resolve(target)] == [PRIMARY]
    with svc.db.transaction() as session:
        staffing.deactivate_staff(session, staff_id(svc, PRIMARY), actor="t", now=clock.now())
        # Not yet committed: this transaction must still see its own change.
        assert list(escalation_policies.resolver(session, clock.now())(target)) == []


def test_a_routing_change_rolled_back_with_its_savepoint_is_not_used_afterwards(
    svc: Services, clock: FakeClock
) -> None:
    """An import row (a savepoint) that changed a phone and then failed: the rest of the
    transaction must route as if it never happened."""
    target = RotaNameTarget("primary")
    primary = staff_id(svc, PRIMARY)
    with svc.db.transaction() as session:
        savepoint = session.begin_nested()
        staffing.update_staff(
            session, primary, {"phone": "+447700900107"}, actor="t", now=clock.now()
        )
        assert [r.phone for r in escalation_policies.resolver(session, clock.now())(target)] == [
            "+447700900107"
        ]
        savepoint.rollback()
        assert [r.phone for r in escalation_policies.resolver(session, clock.now())(target)] == [
            PRIMARY
        ]


def test_a_webhook_retried_while_the_first_is_still_writing_records_one_contact(
    svc: Services,
) -> None:
    """Two deliveries of the same CallSid at once: one contact, and neither fails."""
    sid = "CA" + "9" * 32
    first_inserted = threading.Event()
    results: list[bool] = []
    errors: list[BaseException] = []

    def record(session: Session) -> bool:
        _, created = contacts.record(
            session,
            channel=Channel.VOICE,
            direction=Direction.INBOUND,
            from_number=CALLER,
            to_number="+447700900000",
            twilio_sid=sid,
            started_at=svc.clock.now(),
            participant_id=None,
        )
        return created

    def second() -> None:
        try:
            first_inserted.wait(5)
            with svc.db.transaction() as session:
                results.append(record(session))
        except BaseException as error:  # reported below
            errors.append(error)

    thread = threading.Thread(target=second)
    thread.start()
    with svc.db.transaction() as session:
        results.append(record(session))
        first_inserted.set()
        # Hold the transaction open a moment, so the retry meets the uncommitted row.
        thread.join(0.5)
    thread.join(10)
    assert errors == []
    assert sorted(results) == [False, True]
    with svc.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 1
