"""The retention run on a seeded history across years (tests/support/retention.py): exactly the
records past their time are removed or anonymised, held participants' records stay as they
were, the service report counts the same, every change has its record, and a run that dies
half-way keeps the record of what it did."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from crisisline import retention, service_report
from crisisline.clock import FakeClock
from crisisline.data_protection_models import (
    LegalHold,
    RecordingDeletion,
    RetentionAction,
    RetentionRun,
)
from crisisline.db import Database
from crisisline.models import Contact, Delivery, Participant
from crisisline.note_models import ContactNote
from crisisline.reports import Period
from crisisline.retention_schedule import Kind
from crisisline.risk_rules import NightHours
from tests.support.app import START, services_of
from tests.support.retention import (
    UNKNOWN_CALLER,
    WORKER_PHONE,
    changed_rows,
    dump,
    schedule_for_tests,
    seed_history,
)

# The record type each table's rows are recorded as.
RECORD_TYPES = {
    "contacts": "contact",
    "flood_contacts": "flood_contact",
    "sms_conversations": "sms_conversation",
    "escalations": "escalation",
    "contact_notes": "contact_note",
    "follow_ups": "follow_up",
    "risk_alerts": "risk_alert",
    "record_access_log": "record_access",
    "deliveries": "delivery",
    "emails": "email",
    "web_sessions": "web_session",
    "participants": "participant",
    "participant_phones": "participant_phone",
    "participant_corrections": "participant_correction",
    "audit_log": "audit_entry",
}


def _run(app: Flask, clock: FakeClock | FailingClock, **kwargs: Any) -> retention.Outcome:
    svc = services_of(app)
    outcome = retention.run(
        svc.db,
        kwargs.pop("schedule", schedule_for_tests()),
        clock=clock.now,
        zone=svc.settings.zone,
        secret_key=svc.settings.secret_key,
        actor="cli",
        **kwargs,
    )
    assert outcome is not None
    return outcome


def _report_csv(db: Database, app: Flask) -> str:
    zone = services_of(app).settings.zone
    period = Period.local_days(dt.date(2019, 1, 1), dt.date(2026, 11, 26), zone)
    with db.transaction() as session:
        report = service_report.build(session, period, night=NightHours(dt.time(22), dt.time(7)))
    return service_report.figures_csv(report)


@pytest.mark.hazard("H260")
@pytest.mark.hazard("H261")
def test_exactly_the_records_past_their_time_are_removed_or_anonymised(
    app: Flask, clock: FakeClock
) -> None:
    db = services_of(app).db
    history = seed_history(db)
    before = dump(db)

    outcome = _run(app, clock)

    assert outcome.status == "finished"
    changed = changed_rows(before, dump(db))
    expected = {table: keys for table, keys in history.expected.items() if keys}
    assert changed == expected
    with db.transaction() as s:
        asked = set(s.scalars(select(RecordingDeletion.contact_id)))
    assert asked == history.recordings


def test_what_each_rule_leaves_in_place_of_the_words_and_numbers(
    app: Flask, clock: FakeClock
) -> None:
    db = services_of(app).db
    history = seed_history(db)
    _run(app, clock)
    with db.transaction() as s:
        old_text = s.scalars(
            select(Contact)
            .where(Contact.participant_id == history.still_here, Contact.channel == "sms")
            .order_by(Contact.started_at)
        ).first()
        assert old_text is not None
        assert (old_text.body, old_text.media_urls) == (retention.REMOVED, [])
        assert (old_text.from_number, old_text.to_number) == (None, None)
        # The recording stays referenced until the provider confirms its deletion.
        old_call = s.scalars(
            select(Contact)
            .where(Contact.participant_id == history.still_here, Contact.channel == "voice")
            .order_by(Contact.started_at)
        ).first()
        assert old_call is not None and old_call.recording_url is not None
        deletion = s.get(RecordingDeletion, old_call.id)
        assert deletion is not None
        assert (deletion.recording_url, deletion.attempts) == (old_call.recording_url, 0)
        assert deletion.next_attempt_at == START
        # An unknown caller's missed call and its call back share one fingerprint, never
        # the number.
        unknown = s.scalars(
            select(Contact).where(Contact.participant_id.is_(None)).order_by(Contact.id)
        ).all()
        old_missed, old_back, new_missed, new_back = unknown
        assert old_missed.from_number == old_back.to_number
        assert old_missed.from_number is not None and old_missed.from_number.startswith("removed-")
        assert UNKNOWN_CALLER not in (old_missed.from_number, old_back.to_number)
        assert (new_missed.from_number, new_back.to_number) == (UNKNOWN_CALLER, UNKNOWN_CALLER)
        gone = s.get(Participant, history.left_long_ago)
        assert gone is not None
        assert (gone.name, gone.reference, gone.phones) == (
            retention.REMOVED_NAME,
            f"removed-{history.left_long_ago}",
            [],
        )
        assert gone.anonymised_at == START
        note = s.scalars(
            select(ContactNote).where(ContactNote.participant_id == history.left_long_ago)
        ).first()
        assert note is not None
        assert (note.what_happened, note.factors, note.follow_up_what) == (
            retention.REMOVED,
            retention.REMOVED,
            retention.REMOVED,
        )
        assert note.risk_now == "medium"  # what was judged stays; the words go
        replies = s.scalars(
            select(Delivery).where(Delivery.body == retention.REMOVED).order_by(Delivery.id)
        ).all()
        # To the worker: his number stays; to a participant: it goes.
        assert {d.to_number for d in replies} == {WORKER_PHONE, ""}


@pytest.mark.hazard("H262")
def test_a_held_participant_is_untouched_and_counted(app: Flask, clock: FakeClock) -> None:
    db = services_of(app).db
    history = seed_history(db)
    before = dump(db)

    outcome = _run(app, clock)

    after = dump(db)
    for table, keys in history.held_rows.items():
        if table == "recording":
            continue
        for key in keys:
            assert after[table][key] == before[table][key], (table, key)
    with db.transaction() as s:
        asked = set(s.scalars(select(RecordingDeletion.contact_id)))
        touched = s.scalar(
            select(func.count())
            .select_from(RetentionAction)
            .where(RetentionAction.participant_id == history.held)
        )
    assert not asked & history.held_rows["recording"]
    assert touched == 0
    assert outcome.held == 1


@pytest.mark.hazard("H268")
def test_the_service_report_counts_the_same_before_and_after(app: Flask, clock: FakeClock) -> None:
    db = services_of(app).db
    seed_history(db)
    before = _report_csv(db, app)
    assert "," in before

    _run(app, clock)

    assert _report_csv(db, app) == before


@pytest.mark.hazard("H263")
def test_every_change_has_its_retention_action(app: Flask, clock: FakeClock) -> None:
    db = services_of(app).db
    history = seed_history(db)
    before = dump(db)

    outcome = _run(app, clock, batch_size=7)

    changed = changed_rows(before, dump(db))
    with db.transaction() as s:
        actions = s.scalars(
            select(RetentionAction).where(RetentionAction.run_id == outcome.run_id)
        ).all()
        run = s.get(RetentionRun, outcome.run_id)
        assert run is not None
        assert (run.status, run.actor, run.held) == ("finished", "cli", 1)
        assert run.finished_at is not None
        assert run.schedule == schedule_for_tests().as_dict()
        assert run.counts == outcome.counts
    recorded: dict[str, set[Any]] = {}
    for action in actions:
        if action.action != retention.DELETION_REQUESTED:
            recorded.setdefault(action.record_type, set()).add(action.record_id)
    for table, keys in changed.items():
        if table == "web_sessions":  # a session's key is a secret: recorded without it
            assert sum(a.record_type == "web_session" for a in actions) == len(keys)
            continue
        assert keys <= recorded[RECORD_TYPES[table]], table
    deletions = {a.record_id for a in actions if a.action == retention.DELETION_REQUESTED}
    assert deletions == history.recordings
    assert sum(outcome.counts.values()) == len(actions)


def test_a_second_run_changes_nothing_more(app: Flask, clock: FakeClock) -> None:
    db = services_of(app).db
    seed_history(db)
    _run(app, clock)
    before = dump(db)

    again = _run(app, clock)

    assert changed_rows(before, dump(db)) == {}
    assert sum(again.counts.values()) == 0


@pytest.mark.hazard("H264")
def test_the_dry_run_changes_nothing_at_all(app: Flask, clock: FakeClock) -> None:
    db = services_of(app).db
    history = seed_history(db)
    before = dump(db)

    found = retention.dry_run(db, schedule_for_tests(), clock.now(), services_of(app).settings.zone)

    assert dump(db) == before
    assert found.count(Kind.PARTICIPANT_DETAILS) > 0
    assert found.held == 1
    expected_contacts = len(history.expected["contacts"])
    texts = found.targets[Kind.CALL_METADATA]
    assert sum(t.record_type == "contact" for t in texts) == expected_contacts


class FailingClock:
    """The fake clock, failing once on its `fail_on`-th reading (a run dying mid-way: the
    database gone, the process killed between two batches)."""

    def __init__(self, clock: FakeClock, fail_on: int) -> None:
        self.clock, self.fail_on, self.readings = clock, fail_on, 0

    def now(self) -> dt.datetime:
        self.readings += 1
        if self.readings == self.fail_on:
            raise RuntimeError("the disk is full: I can't sleep again")
        return self.clock.now()


@pytest.mark.hazard("H265")
def test_a_run_that_dies_half_way_is_failed_and_keeps_what_it_recorded(
    app: Flask, clock: FakeClock
) -> None:
    db = services_of(app).db
    seed_history(db)
    failing = FailingClock(clock, fail_on=4)  # the start, two batches, then the third

    outcome = _run(app, failing, batch_size=3)

    assert (outcome.status, outcome.error) == ("failed", "RuntimeError")
    with db.transaction() as s:
        run = s.get(RetentionRun, outcome.run_id)
        assert run is not None
        assert (run.status, run.error) == ("failed", "RuntimeError")
        assert run.finished_at is not None
        removed_bodies = s.scalar(
            select(func.count()).select_from(Contact).where(Contact.body == retention.REMOVED)
        )
        recorded = s.scalar(select(func.count()).select_from(RetentionAction))
    # Two batches were done and recorded, with the run's counts; nothing of the third.
    assert removed_bodies == recorded == run.counts[Kind.MESSAGE_BODIES.value] == 6
    assert sum(run.counts.values()) == 6


@pytest.mark.hazard("H262")
def test_a_hold_set_after_the_plan_still_stops_the_batch(app: Flask, clock: FakeClock) -> None:
    db = services_of(app).db
    history = seed_history(db)
    svc = services_of(app)
    with db.transaction() as s:
        found = retention.plan(s, schedule_for_tests(), clock.now(), svc.settings.zone)
    targets = [t for t in found.targets[Kind.NOTES] if t.participant_id == history.left_long_ago]
    assert targets
    with db.transaction() as s:
        s.add(
            LegalHold(
                participant_id=history.left_long_ago,
                reason="New claim",
                set_at=clock.now(),
                set_by="staff:1",
            )
        )
    with db.transaction() as s:
        done = retention.apply_batch(
            s, Kind.NOTES, targets, retention.BatchContext(1, clock.now(), "k")
        )
    assert done == []
