"""The escalation engine on a real database: steps fire on time, once, and stop when taken."""

from __future__ import annotations

import datetime as dt
import re
import threading

import pytest
from flask import Flask
from sqlalchemy import select

from crisisline import escalation_engine as engine
from crisisline import rota_service
from crisisline.clock import FakeClock
from crisisline.escalation_models import EscalationRecord
from crisisline.models import Delivery, DeliveryStatus
from escalation import ByOperator
from tests.support.engine_line import BACKUP, MANAGER, PRIMARY, Line, staffed_line
from tests.support.staff_texts import MISSED, TEXT_SUMMARY, documented_example

WAIT = dt.timedelta(seconds=300)


@pytest.fixture
def line(app: Flask, clock: FakeClock) -> Line:
    """Three staff on three weekly rotas called primary, backup and duty-manager
    (tests/support/engine_line.py)."""
    return staffed_line(app, clock)


def _open(line: Line, summary: str = "Missed call from R1001 D. Price at 03:12") -> int:
    with line.svc.db.transaction() as session:
        record = engine.open_escalation(
            session,
            policy_name="test-chain",
            subject_type="missed_call",
            subject_id=None,
            participant_id=None,
            summary=summary,
            now=line.clock.now(),
            reach=line.svc.reach,
        )
        return record.id


def _texts(line: Line) -> list[tuple[str, str]]:
    with line.svc.db.transaction() as session:
        rows = session.scalars(select(Delivery).order_by(Delivery.id)).all()
        return [(d.to_number, d.body) for d in rows]


def _record(line: Line, escalation_id: int) -> EscalationRecord:
    with line.svc.db.transaction() as session:
        return session.get_one(EscalationRecord, escalation_id)


def test_each_step_fires_when_the_last_ones_wait_runs_out_and_exhaustion_is_an_incident(
    line: Line,
) -> None:
    escalation_id = _open(line)
    assert _texts(line) == [
        (
            PRIMARY,
            "Resettle crisis line: Missed call from R1001 D. Price at 03:12. "
            "Reply 1a to take this, 1c to close.",
        )
    ]
    line.clock.advance(WAIT - dt.timedelta(seconds=1))
    assert line.svc.sweep_escalations() == 0
    line.clock.advance(dt.timedelta(seconds=1))
    assert line.svc.sweep_escalations() == 1
    assert _texts(line)[-1][0] == BACKUP
    line.clock.advance(WAIT)
    line.svc.sweep_escalations()
    assert _texts(line)[-1][0] == MANAGER
    line.clock.advance(WAIT)
    line.svc.sweep_escalations()
    record = _record(line, escalation_id)
    assert record.status == "exhausted"
    to, body = _texts(line)[-1]
    assert to == MANAGER
    assert body.startswith("URGENT")
    line.clock.advance(WAIT)
    assert line.svc.sweep_escalations() == 0
    assert len(_texts(line)) == 4


def test_a_reply_code_from_the_notified_phone_takes_it_and_the_others_are_told(
    line: Line,
) -> None:
    escalation_id = _open(line)
    line.clock.advance(WAIT)
    line.svc.sweep_escalations()  # backup notified too
    with line.svc.db.transaction() as session:
        outcome = engine.act_by_phone(session, BACKUP, " 1A ", line.clock.now(), line.svc.reach)
    assert outcome is not None and outcome.changed
    assert "you have taken 1" in outcome.reply
    record = _record(line, escalation_id)
    assert record.status == "acknowledged"
    assert record.acknowledged_by == "Tom Hughes"
    assert record.acknowledged_by_staff_id == line.ids[BACKUP]
    to, body = _texts(line)[-1]
    assert to == PRIMARY
    assert "taken by Tom Hughes" in body
    line.clock.advance(WAIT * 10)
    assert line.svc.sweep_escalations() == 0


def test_a_code_only_counts_from_the_phone_it_was_sent_to(line: Line) -> None:
    escalation_id = _open(line)
    with line.svc.db.transaction() as session:
        outcome = engine.act_by_phone(session, BACKUP, "1a", line.clock.now(), line.svc.reach)
    assert outcome is not None and not outcome.changed
    assert "no open alert 1 for this phone" in outcome.reply
    assert _record(line, escalation_id).status == "open"


def test_text_that_is_not_a_code_is_left_for_the_conversation(line: Line) -> None:
    _open(line)
    with line.svc.db.transaction() as session:
        assert (
            engine.act_by_phone(session, PRIMARY, "On my way", line.clock.now(), line.svc.reach)
            is None
        )


def test_a_closed_code_rests_for_a_day_before_the_same_phone_is_given_it_again(
    line: Line,
) -> None:
    escalation_id = _open(line)
    with line.svc.db.transaction() as session:
        closed = engine.act_by_phone(session, PRIMARY, "1c", line.clock.now(), line.svc.reach)
    assert closed is not None and closed.changed
    assert _record(line, escalation_id).status == "closed"
    second = _open(line, "Text from R1002 L. Carter")
    with line.svc.db.transaction() as session:
        # An old thread answered with "1 ..." must not reach the new holder of 1.
        assert engine.code_for_phone(session, second, PRIMARY) == 2
        again = engine.act_by_phone(session, PRIMARY, "1a", line.clock.now(), line.svc.reach)
    assert again is not None and not again.changed
    line.clock.advance(engine.CODE_REST + dt.timedelta(seconds=1))
    third = _open(line, "Text from R1003 M. Bell")
    with line.svc.db.transaction() as session:
        assert engine.code_for_phone(session, third, PRIMARY) == 1


def test_a_step_whose_rota_has_nobody_is_skipped_at_once(line: Line) -> None:
    with line.svc.db.transaction() as session:
        rota_service.add_override(
            session,
            line.ids["backup"],
            rota_service.NewOverride(
                staff_id=None,
                start=line.clock.now(),
                end=line.clock.now() + dt.timedelta(days=1),
                mode="replace",
                reason="Tom is ill",
            ),
            actor="t",
            now=line.clock.now(),
        )
    escalation_id = _open(line)
    line.clock.advance(WAIT)
    line.svc.sweep_escalations()
    assert _texts(line)[-1][0] == MANAGER  # not the backup's wait: straight on
    with line.svc.db.transaction() as session:
        kinds = [e.kind for e in engine.events(session, escalation_id)]
    assert "step_skipped" in kinds
    assert "gap" in kinds


def test_an_operator_acknowledges_through_the_engine_and_late_acks_are_kept(line: Line) -> None:
    escalation_id = _open(line)
    for _ in range(3):
        line.clock.advance(WAIT)
        line.svc.sweep_escalations()
    assert _record(line, escalation_id).status == "exhausted"
    with line.svc.db.transaction() as session:
        outcome = engine.acknowledge_escalation(
            session, escalation_id, ByOperator("token:dashboard"), line.clock.now(), line.svc.reach
        )
        kinds = [e.kind for e in engine.events(session, escalation_id)]
    assert outcome.changed
    assert "late_acknowledgement" in kinds
    assert _record(line, escalation_id).acknowledged_by == "token:dashboard"


def test_two_sweeps_running_at_once_notify_each_person_exactly_once(line: Line) -> None:
    opened = [_open(line, f"Missed call {n}") for n in range(20)]
    line.clock.advance(WAIT)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            barrier.wait()
            line.svc.sweep_escalations()
        except BaseException as error:  # a failure in a thread must fail the test
            errors.append(error)

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # Texts to one phone in a burst are bundled: count the codes, not the texts.
    to_backup = " ".join(body for to, body in _texts(line) if to == BACKUP)
    codes = re.findall(r"\b(\d+)a\b", to_backup)
    assert sorted(codes, key=int) == [str(n) for n in range(1, len(opened) + 1)]


def test_the_auditor_reports_an_overdue_escalation_once_to_the_duty_manager(line: Line) -> None:
    escalation_id = _open(line)
    line.clock.advance(WAIT + dt.timedelta(seconds=61))  # the scheduler has not swept
    assert line.svc.audit_escalations() == [escalation_id]
    assert line.svc.audit_escalations() == []
    to, body = _texts(line)[-1]
    assert to == MANAGER
    assert "overdue" in body


def test_an_edited_policy_does_not_reshape_a_running_escalation(line: Line) -> None:
    escalation_id = _open(line)
    with line.svc.db.transaction() as session:
        engine.put_policy(
            session,
            "test-chain",
            {
                "steps": [
                    {"targets": [{"rota": "duty-manager"}], "channels": ["sms"], "wait_seconds": 60}
                ]
            },
            actor="t",
            now=line.clock.now(),
        )
    line.clock.advance(WAIT)
    line.svc.sweep_escalations()
    assert _texts(line)[-1][0] == BACKUP
    assert _record(line, escalation_id).policy_name == "test-chain"


def test_a_burst_for_one_person_is_one_text_now_and_one_held_bundle_listing_every_code(
    line: Line,
) -> None:
    for n in range(5):
        _open(line, f"Missed call {n}")
    with line.svc.db.transaction() as session:
        rows = session.scalars(select(Delivery).order_by(Delivery.id)).all()
    assert [(d.to_number, d.purpose) for d in rows] == [
        (PRIMARY, "escalation"),
        (PRIMARY, "escalation_bundle"),
    ]
    first, bundle = rows
    assert "Reply 1a to take this" in first.body
    assert re.findall(r"\b(\d+)a\b", bundle.body) == ["2", "3", "4", "5"]
    assert bundle.next_attempt_at == line.clock.now() + engine.BUNDLE_WINDOW

    assert line.svc.dispatch_outbox().sent == 1  # the bundle waits out the window
    line.clock.advance(engine.BUNDLE_WINDOW)
    assert line.svc.dispatch_outbox().sent == 1
    # Any code in the bundle works from that phone.
    with line.svc.db.transaction() as session:
        outcome = engine.act_by_phone(session, PRIMARY, "4a", line.clock.now(), line.svc.reach)
    assert outcome is not None and outcome.changed


def test_a_bundle_already_claimed_for_sending_is_never_changed_the_next_code_starts_another(
    line: Line,
) -> None:
    _open(line, "Missed call 0")
    _open(line, "Missed call 1")
    with line.svc.db.transaction() as session:
        bundle = session.scalars(
            select(Delivery).where(Delivery.purpose == "escalation_bundle")
        ).one()
        bundle.status = DeliveryStatus.SENDING  # a dispatcher holds it
    _open(line, "Missed call 2")
    with line.svc.db.transaction() as session:
        bundles = session.scalars(
            select(Delivery).where(Delivery.purpose == "escalation_bundle").order_by(Delivery.id)
        ).all()
    assert [re.findall(r"\b(\d+)a\b", b.body) for b in bundles] == [["2"], ["3"]]
    assert bundles[1].next_attempt_at == bundles[0].next_attempt_at  # not held any longer


def test_a_text_after_the_window_goes_at_once(line: Line) -> None:
    _open(line, "Missed call 0")
    line.clock.advance(engine.BUNDLE_WINDOW)
    _open(line, "Missed call 1")
    assert [to for to, _ in _texts(line)] == [PRIMARY, PRIMARY]
    assert "Reply 2a to take this" in _texts(line)[-1][1]


def test_a_sweep_asks_each_rota_once_however_many_escalations_fall_due(line: Line) -> None:
    from sqlalchemy import event

    for n in range(5):
        _open(line, f"Missed call {n}")
    line.clock.advance(WAIT)
    statements: list[str] = []

    def remember(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(line.svc.db.engine, "before_cursor_execute", remember)
    try:
        assert line.svc.sweep_escalations() == 5
    finally:
        event.remove(line.svc.db.engine, "before_cursor_execute", remember)
    override_lookups = [s for s in statements if "FROM rota_overrides" in s]
    assert len(override_lookups) == 1
    with line.svc.db.transaction() as session:
        steps = session.scalars(select(EscalationRecord.step_index)).all()
        notified_backup = [
            e
            for record_id in session.scalars(select(EscalationRecord.id))
            for e in engine.events(session, record_id)
            if e.kind == "notified" and e.detail["staff_id"] == line.ids[BACKUP]
        ]
    assert steps == [1] * 5
    assert len(notified_backup) == 5


def test_a_bare_a_after_one_text_listing_two_codes_is_refused_with_the_list(line: Line) -> None:
    first = _open(line, "Missed call from R1001 D. Price at 03:12")
    # The first goes out at once; the next two, within the bundling window, are merged into
    # one held text, so codes 2 and 3 were texted at the same moment: "a" cannot say which.
    second = _open(line, "Missed call from R1002 L. Carter at 03:13")
    third = _open(line, "Missed call from R1003 M. Bell at 03:13")
    line.clock.advance(dt.timedelta(seconds=31))  # the held bundle goes out
    with line.svc.db.transaction() as session:
        outcome = engine.act_by_phone(session, PRIMARY, "a", line.clock.now(), line.svc.reach)
    assert outcome is not None and not outcome.changed
    assert "NOT DONE" in outcome.reply and "2 (" in outcome.reply and "3 (" in outcome.reply
    assert {_record(line, e).status for e in (first, second, third)} == {"open"}
    with line.svc.db.transaction() as session:
        taken = engine.act_by_phone(session, PRIMARY, "3a", line.clock.now(), line.svc.reach)
    assert taken is not None and taken.changed


def test_taking_it_when_nobody_else_was_alerted_says_nothing_about_others(line: Line) -> None:
    _open(line)
    with line.svc.db.transaction() as session:
        outcome = engine.act_by_phone(session, PRIMARY, "1a", line.clock.now(), line.svc.reach)

    assert outcome is not None and outcome.changed
    # Nobody but the taker had been alerted: "the others have been told" would be false.
    assert outcome.reply == "Resettle crisis line: you have taken 1."
    assert outcome.others_told == 0
    assert [to for to, _ in _texts(line)] == [PRIMARY]


def test_taking_it_after_others_were_alerted_says_they_have_been_told(line: Line) -> None:
    _open(line)
    line.clock.advance(WAIT)
    line.svc.sweep_escalations()  # backup alerted too
    with line.svc.db.transaction() as session:
        outcome = engine.act_by_phone(session, BACKUP, "1a", line.clock.now(), line.svc.reach)

    assert outcome is not None and outcome.changed
    assert outcome.reply == (
        "Resettle crisis line: you have taken 1. The other person alerted has been told."
    )
    assert outcome.others_told == 1
    to, body = _texts(line)[-1]
    assert to == PRIMARY and "was taken by Tom Hughes" in body


def test_a_held_bundle_reads_exactly_as_the_staff_texts_page_shows_it(line: Line) -> None:
    _open(line, "Missed call from R1009 K. Shah at 03:10")  # code 1, texted at once
    _open(line, MISSED)  # code 2 and code 3 within the window: held and merged
    _open(line, TEXT_SUMMARY)

    to, body = _texts(line)[-1]
    assert to == PRIMARY
    assert body == documented_example("Bundle")
