"""The escalation engine on a real database: steps fire on time, once, and stop when taken."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import threading

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from crisisline import escalation_engine as engine
from crisisline import escalation_policies, rota_service, staffing
from crisisline.clock import FakeClock
from crisisline.escalation_models import EscalationRecord
from crisisline.jobs import Jobs
from crisisline.models import Delivery, DeliveryStatus
from crisisline.telephony import FakeTelephony, TransientTelephonyError
from escalation import ByOperator, OutgoingText
from tests.support.app import signed_post
from tests.support.engine_line import BACKUP, MANAGER, PRIMARY, Line, staffed_line
from tests.support.risk_alerts import Service, alerts_service
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
    assert Jobs(line.svc).sweep_escalations() == 0
    line.clock.advance(dt.timedelta(seconds=1))
    assert Jobs(line.svc).sweep_escalations() == 1
    assert _texts(line)[-1][0] == BACKUP
    line.clock.advance(WAIT)
    Jobs(line.svc).sweep_escalations()
    assert _texts(line)[-1][0] == MANAGER
    line.clock.advance(WAIT)
    Jobs(line.svc).sweep_escalations()
    record = _record(line, escalation_id)
    assert record.status == "exhausted"
    to, body = _texts(line)[-1]
    assert to == MANAGER
    assert body.startswith("URGENT")
    line.clock.advance(WAIT)
    assert Jobs(line.svc).sweep_escalations() == 0
    assert len(_texts(line)) == 4


def test_a_reply_code_from_the_notified_phone_takes_it_and_the_others_are_told(
    line: Line,
) -> None:
    escalation_id = _open(line)
    line.clock.advance(WAIT)
    Jobs(line.svc).sweep_escalations()  # backup notified too
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
    assert Jobs(line.svc).sweep_escalations() == 0


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
        staffing.add_override(
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
    Jobs(line.svc).sweep_escalations()
    assert _texts(line)[-1][0] == MANAGER  # not the backup's wait: straight on
    with line.svc.db.transaction() as session:
        kinds = [e.kind for e in engine.events(session, escalation_id)]
    assert "step_skipped" in kinds
    assert "gap" in kinds


def test_an_operator_acknowledges_through_the_engine_and_late_acks_are_kept(line: Line) -> None:
    escalation_id = _open(line)
    for _ in range(3):
        line.clock.advance(WAIT)
        Jobs(line.svc).sweep_escalations()
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
            Jobs(line.svc).sweep_escalations()
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
    assert Jobs(line.svc).audit_escalations() == [escalation_id]
    assert Jobs(line.svc).audit_escalations() == []
    to, body = _texts(line)[-1]
    assert to == MANAGER
    assert "overdue" in body


def test_an_edited_policy_does_not_reshape_a_running_escalation(line: Line) -> None:
    escalation_id = _open(line)
    with line.svc.db.transaction() as session:
        escalation_policies.put_policy(
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
    Jobs(line.svc).sweep_escalations()
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

    assert Jobs(line.svc).dispatch_outbox().sent == 1  # the bundle waits out the window
    line.clock.advance(engine.BUNDLE_WINDOW)
    assert Jobs(line.svc).dispatch_outbox().sent == 1
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
        assert Jobs(line.svc).sweep_escalations() == 5
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
    Jobs(line.svc).sweep_escalations()  # backup alerted too
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


# ---- bundles, voice keys and the auditor (safety reviews) -------------------------------------


def _sent_to(line: Line, phone: str) -> list[Delivery]:
    with line.svc.db.transaction() as session:
        return list(
            session.scalars(
                select(Delivery)
                .where(Delivery.to_number == phone, Delivery.sent_at.is_not(None))
                .order_by(Delivery.id)
            )
        )


@pytest.mark.hazard("H76")
def test_a_bare_a_takes_the_code_the_phone_has_seen_not_one_still_held_in_a_bundle(
    line: Line,
) -> None:
    """A held bundle marks its codes as texted at the moment it *will* go out.

    The phone has so far received only code 1; a bare "a" must mean code 1, never code 2,
    which is still waiting in the bundle and which the worker has not seen.
    """
    first = _open(line, "Missed call from R1001 D. Price at 03:12")
    Jobs(line.svc).dispatch_outbox()  # code 1 reaches the phone at once
    line.clock.advance(dt.timedelta(seconds=5))
    second = _open(line, "Missed call from R1002 L. Carter at 03:13")  # held to the window's end
    line.clock.advance(dt.timedelta(seconds=5))
    Jobs(line.svc).dispatch_outbox()  # the bundle is not due yet: the phone still knows only code 1
    assert [d.body for d in _sent_to(line, PRIMARY) if "2a" in d.body] == []
    with line.svc.db.transaction() as session:
        outcome = engine.act_by_phone(session, PRIMARY, "a", line.clock.now(), line.svc.reach)
    assert outcome is not None
    # The missed call the worker never heard of must still be chased.
    assert _record(line, second).status == "open"
    assert _record(line, first).status == "acknowledged"


@pytest.mark.hazard("H79")
def test_a_held_bundle_does_not_ask_staff_to_take_an_escalation_already_taken(
    line: Line,
) -> None:
    """A notification held in a bundle goes out after the escalation was acknowledged."""
    _open(line, "Missed call from R1001 D. Price at 03:12")
    Jobs(line.svc).dispatch_outbox()
    line.clock.advance(dt.timedelta(seconds=5))
    second = _open(line, "Missed call from R1002 L. Carter at 03:13")  # held in a bundle
    line.clock.advance(dt.timedelta(seconds=5))
    with line.svc.db.transaction() as session:
        engine.acknowledge_escalation(
            session, second, ByOperator("token:dashboard"), line.clock.now(), line.svc.reach
        )
    taken_at = line.clock.now()
    Jobs(line.svc).dispatch_outbox()  # "R1002 ... was taken by token:dashboard" goes at once
    line.clock.advance(engine.BUNDLE_WINDOW)
    Jobs(line.svc).dispatch_outbox()  # the held bundle's window ends
    stale = [
        d.body
        for d in _sent_to(line, PRIMARY)
        if d.sent_at is not None and d.sent_at > taken_at and "2a" in (d.body or "")
    ]
    assert stale == [], f"told to take 2 after it was taken: {stale}"


@pytest.mark.hazard("H77")
def test_a_deactivated_workers_phone_cannot_take_an_escalation_by_pressing_4(
    line: Line, client: FlaskClient
) -> None:
    """Deactivation frees the worker's codes (H52), but the voice keys ignore that.

    An escalation call already ringing on a lost phone (or one retried after deactivation)
    reads the participant's summary and lets whoever answers press 4: the chase stops.
    """
    escalation_id = _open(line, "Missed call from R1001 D. Price at 03:12")
    with line.svc.db.transaction() as session:
        staffing.deactivate_staff(session, line.ids[PRIMARY], actor="t", now=line.clock.now())
    base = f"/webhooks/escalations/{escalation_id}/call"
    form = {"CallSid": "CA" + "4" * 32, "To": PRIMARY, "From": "+447700900000"}
    heard = signed_post(client, base, form).get_data(as_text=True)
    pressed = signed_post(client, base + "/keypress", {**form, "Digits": "4"})
    assert pressed.status_code == 200
    assert _record(line, escalation_id).status == "open"
    assert "R1001" not in heard


@pytest.mark.hazard("H78")
def test_a_failure_chasing_unfinished_calls_does_not_silence_the_overdue_auditor(
    line: Line, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The auditor job first chases unfinished calls, in the same job, unguarded.

    If that raises (one bad call row, a bug), every 30-second pass fails before the overdue
    check: the safety net for a stalled scheduler goes silent for as long as the fault lasts.
    """
    import contextlib

    from crisisline import calls

    escalation_id = _open(line)
    line.clock.advance(dt.timedelta(seconds=300 + 61))  # overdue: the sweep has not run

    def broken(*args: object, **kwargs: object) -> list[int]:
        raise RuntimeError("one call row that cannot be chased")

    # Fault injection standing in for any error while chasing one unfinished call.
    monkeypatch.setattr(calls, "chase_unfinished", broken)
    for _ in range(3):  # three auditor passes; the job wrapper logs and carries on
        with contextlib.suppress(RuntimeError):
            Jobs(line.svc).audit_escalations()
    with line.svc.db.transaction() as session:
        kinds = [e.kind for e in engine.events(session, escalation_id)]
        told = session.scalars(
            select(Delivery).where(Delivery.purpose == "escalation_overdue")
        ).all()
    assert "overdue" in kinds
    assert told, "no duty manager was told the escalation is overdue"


# ---- one escalation that fails to advance (safety review) -------------------------------------


@pytest.fixture
def service(app: Flask, clock: FakeClock) -> Service:
    return alerts_service(app, clock)


@pytest.mark.hazard("H63")
def test_one_escalation_that_fails_to_advance_does_not_stall_the_ones_due_after_it(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = service.clock.now()
    with service.svc.db.transaction() as session:
        for subject_type in ("review_poison", "missed_call"):
            engine.open_escalation(
                session,
                policy_name="missed-call",
                subject_type=subject_type,
                subject_id=None,
                participant_id=None,
                summary=f"Missed call ({subject_type})",
                now=now,
                reach=service.svc.reach,
            )
            now += dt.timedelta(seconds=1)

    def broken(session: object, record: object, code: int) -> list[OutgoingText]:
        raise RuntimeError("a bug in one subject's texts")

    # Fault injection: any non-database error while advancing one row (a bug in a subject's
    # texts or hook, bad stored data) stands in for the realistic cause.
    monkeypatch.setitem(engine._notification_texts, "review_poison", broken)
    service.clock.advance(dt.timedelta(seconds=400))
    for _ in range(3):  # three scheduler passes; the job wrapper logs and carries on
        with contextlib.suppress(RuntimeError):
            Jobs(service.svc).sweep_escalations()
    with service.svc.db.transaction() as session:
        healthy = session.scalars(
            select(EscalationRecord).where(EscalationRecord.subject_type == "missed_call")
        ).one()
        # Its first step's wait (300 s) ran out 100 s ago: the backup must have been notified.
        assert healthy.step_index == 1, "a failing escalation ahead of it blocks every pass"


# ---- a worker's phone changes or they leave while codes are live (safety review) --------------


NEW_PHONE = "+447700900109"


@pytest.mark.hazard("H83")
def test_a_text_queued_for_a_workers_old_phone_is_not_sent_there_after_the_number_changes(
    line: Line, telephony: FakeTelephony
) -> None:
    """Twilio has a brief outage; the notification to the on-call worker waits to be retried.

    Meanwhile the manager records the worker's new number (the old phone was lost). H69 moved
    the worker's live codes to the new phone, but the queued Delivery keeps `to_number` = the
    old phone: the participant's details reach whoever holds the lost phone, and the worker's
    new phone is never told of the missed call it now holds the code for.
    """
    _open(line, "Missed call from R1001 D. Price at 03:12")
    telephony.fail_next(TransientTelephonyError("Twilio 503"))
    Jobs(line.svc).dispatch_outbox()  # the first try fails: the text is queued for a retry
    assert telephony.messages_to(PRIMARY) == []
    with line.svc.db.transaction() as session:
        staffing.update_staff(
            session, line.ids[PRIMARY], {"phone": NEW_PHONE}, actor="manager", now=line.clock.now()
        )
    line.clock.advance(dt.timedelta(minutes=1))
    Jobs(line.svc).dispatch_outbox()

    leaked = [m.body for m in telephony.messages_to(PRIMARY)]
    assert leaked == [], f"the lost phone got the participant's details: {leaked}"
    assert any("R1001" in m.body for m in telephony.messages_to(NEW_PHONE))


@pytest.mark.hazard("H84")
def test_a_text_queued_for_a_worker_is_not_sent_after_they_are_deactivated(
    line: Line, telephony: FakeTelephony
) -> None:
    """As above, but the worker is deactivated (a leaver, a phone reported stolen).

    H52 freed their codes, yet the queued notification still goes out to the leaver's phone.
    """
    _open(line, "Missed call from R1001 D. Price at 03:12")
    telephony.fail_next(TransientTelephonyError("Twilio 503"))
    Jobs(line.svc).dispatch_outbox()
    with line.svc.db.transaction() as session:
        staffing.deactivate_staff(session, line.ids[PRIMARY], actor="manager", now=line.clock.now())
    line.clock.advance(dt.timedelta(minutes=1))
    Jobs(line.svc).dispatch_outbox()

    leaked = [m.body for m in telephony.messages_to(PRIMARY)]
    assert leaked == [], f"a deactivated worker's phone got the participant's details: {leaked}"


@pytest.mark.hazard("H95")
def test_a_workers_new_phone_is_told_the_codes_it_now_holds(
    line: Line, telephony: FakeTelephony
) -> None:
    """The notification with code 1 reached the worker's old phone; the manager records a new
    number (the old one was lost). The code moves to the new phone, but nothing tells the new
    phone it exists: the worker cannot take the missed call, and does not know it is theirs."""
    _open(line, "Missed call from R1001 D. Price at 03:12")
    Jobs(line.svc).dispatch_outbox()
    assert any("R1001" in m.body for m in telephony.messages_to(PRIMARY))
    _change_phone_through_the_api_path(line)
    Jobs(line.svc).dispatch_outbox()
    told = [m.body for m in telephony.messages_to(NEW_PHONE)]
    assert len(told) == 1, told
    assert "1a Missed call from R1001 D. Price at 03:12" in told[0]
    assert "registered phone" in told[0]
    # And the code works from the new phone.
    with line.svc.db.transaction() as session:
        outcome = engine.act_by_phone(session, NEW_PHONE, "1a", line.clock.now(), line.svc.reach)
    assert outcome is not None and outcome.changed, outcome


@pytest.mark.hazard("H95")
def test_a_phone_change_with_no_open_codes_sends_nothing(
    line: Line, telephony: FakeTelephony
) -> None:
    _change_phone_through_the_api_path(line)
    Jobs(line.svc).dispatch_outbox()
    assert telephony.messages_to(NEW_PHONE) == []


def _change_phone_through_the_api_path(line: Line) -> None:
    """What PATCH /api/v1/staff/{id} does: the new phone, texted from the crisis line."""
    with line.svc.db.transaction() as session:
        staffing.update_staff(
            session,
            line.ids[PRIMARY],
            {"phone": NEW_PHONE},
            actor="manager",
            now=line.clock.now(),
            line_number=line.svc.settings.crisis_line_number,
        )
