"""The `delete-recordings` job on both engines, with the fake telephony: it takes up the rows the
retention run writes, deletes each recording at the provider once, clears the contact's
reference only on confirmation (with an audit entry), retries failures with back-off for ever,
never lets two runners delete the same recording, never holds a pass past its deadline, and
/healthz shows what waits."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from flask import Flask
from sqlalchemy import insert, select

from crisisline import contacts, recording_deletion
from crisisline.clock import FakeClock
from crisisline.data_protection_models import RecordingDeletion
from crisisline.jobs import Jobs
from crisisline.models import AuditEntry, Channel, Contact, Direction
from crisisline.telephony import (
    FakeTelephony,
    PermanentTelephonyError,
    TransientTelephonyError,
)
from tests.support.app import beat_as_leader, json_of, services_of

ACCOUNT = "AC" + "1" * 32


def recording(n: int) -> str:
    return f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/RE{n:032x}"


def voicemail(app: Flask, n: int = 1, at: dt.datetime | None = None) -> int:
    """A voicemail left years ago: a contact holding a recording's URL."""
    svc = services_of(app)
    with svc.db.transaction() as session:
        contact, _ = contacts.record(
            session,
            channel=Channel.VOICE,
            direction=Direction.INBOUND,
            from_number="+447700900301",
            to_number="+447700900000",
            twilio_sid=f"CA{n:032x}",
            started_at=at or svc.clock.now() - dt.timedelta(days=400),
            participant_id=None,
            outcome="voicemail",
        )
        contact.recording_url = recording(n)
        return contact.id


def retention_asks(app: Flask, contact_id: int, *, due: dt.datetime | None = None) -> None:
    """What the retention run writes for a voicemail past its time (its contract): the row
    alone, inserted directly; the contact keeps its recording_url."""
    svc = services_of(app)
    now = svc.clock.now()
    with svc.db.transaction() as session:
        url = session.get_one(Contact, contact_id).recording_url
        session.execute(
            insert(RecordingDeletion).values(
                contact_id=contact_id,
                recording_url=url,
                run_id=None,
                requested_at=now,
                next_attempt_at=due or now,
                attempts=0,
            )
        )


def row(app: Flask, contact_id: int) -> RecordingDeletion:
    with services_of(app).db.transaction() as session:
        return session.get_one(RecordingDeletion, contact_id)


def reference(app: Flask, contact_id: int) -> str | None:
    with services_of(app).db.transaction() as session:
        return session.get_one(Contact, contact_id).recording_url


def deletion_audits(app: Flask) -> list[AuditEntry]:
    with services_of(app).db.transaction() as session:
        return list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "recording.deleted")
                .order_by(AuditEntry.id)
            )
        )


def run_job(app: Flask) -> recording_deletion.DeletionReport:
    """The scheduler's `delete-recordings` job, as the leader runs it."""
    return Jobs(services_of(app)).delete_recordings()


# ---- the job takes up what the retention run wrote -------------------------------------------


@pytest.mark.hazard("H270")
def test_the_job_deletes_the_recordings_the_retention_run_asked_for_and_clears_each_reference(
    app: Flask, telephony: FakeTelephony, clock: FakeClock
) -> None:
    first, second = voicemail(app, 1), voicemail(app, 2)
    kept = voicemail(app, 3)  # not past its time: no row
    for contact_id in (first, second):
        retention_asks(app, contact_id)

    report = run_job(app)

    assert report.deleted == 2
    assert telephony.deleted_recordings == [recording(1), recording(2)]
    for contact_id in (first, second):
        assert reference(app, contact_id) is None
        done = row(app, contact_id)
        assert done.deleted_at == clock.now()
        assert done.attempts == 1
        assert done.claimed_until is None
        assert done.last_error is None
    assert reference(app, kept) == recording(3)
    audits = deletion_audits(app)
    assert [(a.actor, a.record_type, a.record_id) for a in audits] == [
        ("scheduler", "contact", first),
        ("scheduler", "contact", second),
    ]
    assert audits[0].changes == {"recording": "recording ...0001", "attempts": 1}
    # Done is done: the next pass asks the provider nothing.
    assert run_job(app).deleted == 0
    assert telephony.deletion_attempts == [recording(1), recording(2)]


def test_a_row_not_yet_due_waits_for_its_time(
    app: Flask, telephony: FakeTelephony, clock: FakeClock
) -> None:
    contact_id = voicemail(app)
    retention_asks(app, contact_id, due=clock.now() + dt.timedelta(minutes=5))
    assert run_job(app).deleted == 0
    assert telephony.deletion_attempts == []
    clock.advance(dt.timedelta(minutes=5))
    assert run_job(app).deleted == 1


def test_asking_twice_for_the_same_recording_writes_one_row(app: Flask, clock: FakeClock) -> None:
    contact_id = voicemail(app)
    with services_of(app).db.transaction() as session:
        assert recording_deletion.request(session, contact_id, recording(1), clock.now())
        assert not recording_deletion.request(session, contact_id, recording(1), clock.now())
    assert row(app, contact_id).attempts == 0


@pytest.mark.hazard("H273")
def test_only_the_reference_that_was_deleted_is_cleared(
    app: Flask, telephony: FakeTelephony
) -> None:
    """A contact that holds another recording than the one deleted keeps it."""
    contact_id = voicemail(app)
    retention_asks(app, contact_id)
    with services_of(app).db.transaction() as session:
        session.get_one(Contact, contact_id).recording_url = recording(9)
    assert run_job(app).deleted == 1
    assert telephony.deleted_recordings == [recording(1)]
    assert reference(app, contact_id) == recording(9)


# ---- failures: retried with back-off, the reference kept, never dropped ----------------------


def test_back_off_starts_at_a_minute_and_doubles_to_at_most_six_hours() -> None:
    minutes = [recording_deletion.backoff(n).total_seconds() / 60 for n in range(1, 12)]
    assert minutes == [1, 2, 4, 8, 16, 32, 64, 128, 256, 360, 360]
    assert recording_deletion.backoff(10_000) == dt.timedelta(hours=6)


@pytest.mark.hazard("H271")
def test_a_transient_failure_keeps_the_reference_and_is_retried_after_the_back_off(
    app: Flask, telephony: FakeTelephony, clock: FakeClock
) -> None:
    contact_id = voicemail(app)
    retention_asks(app, contact_id)
    outage = TransientTelephonyError(
        "Twilio error 20500 (HTTP 500): " + recording(1), code=20500, http_status=500
    )
    telephony.fail_next_deletions(outage, times=3)
    for attempt, wait in ((1, 1), (2, 2), (3, 4)):
        assert run_job(app).retrying == 1
        waiting = row(app, contact_id)
        assert waiting.attempts == attempt
        assert waiting.next_attempt_at == clock.now() + dt.timedelta(minutes=wait)
        # The error's type and code only: its text carries the recording's URL.
        assert waiting.last_error == "TransientTelephonyError 20500"
        assert waiting.deleted_at is None
        assert reference(app, contact_id) == recording(1)
        # Not before its time.
        assert run_job(app).retrying == 0
        clock.advance(dt.timedelta(minutes=wait))
    assert deletion_audits(app) == []

    assert run_job(app).deleted == 1
    assert reference(app, contact_id) is None
    assert row(app, contact_id).attempts == 4
    assert row(app, contact_id).last_error is None


@pytest.mark.hazard("H271")
def test_a_refusal_such_as_bad_credentials_is_retried_for_ever_and_never_dropped(
    app: Flask, telephony: FakeTelephony, clock: FakeClock
) -> None:
    contact_id = voicemail(app)
    retention_asks(app, contact_id)
    refused = PermanentTelephonyError("Twilio error 20003 (HTTP 401)", code=20003, http_status=401)
    telephony.fail_next_deletions(refused, times=25)
    for _ in range(25):
        assert run_job(app).refused == 1
        clock.advance(recording_deletion.BACKOFF_CAP)
    waiting = row(app, contact_id)
    assert waiting.attempts == 25
    assert waiting.last_error == "PermanentTelephonyError 20003"
    assert waiting.deleted_at is None
    assert reference(app, contact_id) == recording(1)
    # Once the credentials are put right, the next pass deletes it.
    assert run_job(app).deleted == 1
    assert reference(app, contact_id) is None


def test_a_transient_failure_ends_the_pass_and_a_refusal_does_not(
    app: Flask, telephony: FakeTelephony
) -> None:
    ids = [voicemail(app, n) for n in (1, 2, 3)]
    for contact_id in ids:
        retention_asks(app, contact_id)
    telephony.fail_next_deletions(TransientTelephonyError("no reply from Twilio"))
    report = run_job(app)
    # The provider is not answering: the rows behind it wait for the next pass, uncounted.
    assert (report.retrying, report.deleted) == (1, 0)
    assert [row(app, i).attempts for i in ids] == [1, 0, 0]

    telephony.fail_next_deletions(PermanentTelephonyError("refused", code=21000), times=2)
    report = run_job(app)
    assert (report.refused, report.deleted) == (2, 0)
    assert [row(app, i).attempts for i in ids] == [1, 1, 1]


def test_an_unexpected_error_is_kept_and_retried_like_any_failure(
    app: Flask, telephony: FakeTelephony
) -> None:
    contact_id = voicemail(app)
    retention_asks(app, contact_id)
    telephony.fail_next_deletions(RuntimeError(recording(1)))  # type: ignore[arg-type]
    assert run_job(app).retrying == 1
    assert row(app, contact_id).last_error == "RuntimeError"
    assert reference(app, contact_id) == recording(1)


@pytest.mark.hazard("H276")
def test_the_jobs_log_lines_name_a_recording_by_the_end_of_its_sid_only(
    app: Flask, telephony: FakeTelephony, caplog: pytest.LogCaptureFixture
) -> None:
    ids = [voicemail(app, n) for n in (1, 2)]
    for contact_id in ids:
        retention_asks(app, contact_id)
    telephony.fail_next_deletions(PermanentTelephonyError(recording(1), code=21000))
    with caplog.at_level("INFO", logger="crisisline.recording_deletion"):
        run_job(app)
    assert "recording ...0001" in caplog.text
    assert "recording ...0002" in caplog.text
    assert "api.twilio.com" not in caplog.text
    assert ACCOUNT not in caplog.text


# ---- claims: two runners never delete the same recording --------------------------------------


@pytest.mark.hazard("H275")
def test_a_claimed_row_is_not_claimed_by_a_second_runner(app: Flask, clock: FakeClock) -> None:
    db = services_of(app).db
    contact_id = voicemail(app)
    retention_asks(app, contact_id)
    (claim,) = recording_deletion.claim_due(db, clock.now())
    assert recording_deletion.claim_due(db, clock.now()) == []
    clock.advance(dt.timedelta(minutes=1))
    assert recording_deletion.claim_due(db, clock.now()) == []
    assert recording_deletion.record_deleted(db, claim, clock.now())
    clock.advance(recording_deletion.LEASE * 2)
    assert recording_deletion.claim_due(db, clock.now()) == []


@pytest.mark.hazard("H270")
def test_a_runner_that_died_holding_a_row_leaves_it_to_be_deleted_after_the_lease(
    app: Flask, telephony: FakeTelephony, clock: FakeClock
) -> None:
    contact_id = voicemail(app)
    retention_asks(app, contact_id)
    recording_deletion.claim_due(services_of(app).db, clock.now())  # and then the runner died
    assert run_job(app).deleted == 0
    clock.advance(recording_deletion.LEASE + dt.timedelta(seconds=1))
    assert run_job(app).deleted == 1
    assert reference(app, contact_id) is None


@pytest.mark.hazard("H275")
def test_a_runner_whose_lease_ran_out_records_nothing_over_the_runner_that_took_the_row(
    app: Flask, telephony: FakeTelephony, clock: FakeClock
) -> None:
    db = services_of(app).db
    contact_id = voicemail(app)
    retention_asks(app, contact_id)
    (slow,) = recording_deletion.claim_due(db, clock.now())
    clock.advance(recording_deletion.LEASE + dt.timedelta(seconds=1))
    assert run_job(app).deleted == 1  # another runner took it over and finished
    assert not recording_deletion.record_deleted(db, slow, clock.now())
    assert not recording_deletion.record_failure(db, slow, RuntimeError(), clock.now())
    assert len(deletion_audits(app)) == 1
    assert row(app, contact_id).last_error is None


class _SlowFake(FakeTelephony):
    """A provider taking a little while per deletion, so runners overlap."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def delete_recording(self, recording_url: str) -> None:
        time.sleep(self.seconds)
        super().delete_recording(recording_url)


@pytest.mark.hazard("H275")
def test_two_runners_at_once_delete_each_recording_exactly_once(
    app: Flask, clock: FakeClock
) -> None:
    db = services_of(app).db
    ids = [voicemail(app, n) for n in range(1, 9)]
    for contact_id in ids:
        retention_asks(app, contact_id)
    slow = _SlowFake(0.02)
    reports: list[recording_deletion.DeletionReport] = []

    def runner() -> None:
        reports.append(recording_deletion.run(db, slow, clock.now))

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(slow.deletion_attempts) == [recording(n) for n in range(1, 9)]
    assert sum(report.deleted for report in reports) == 8
    assert len(deletion_audits(app)) == 8
    assert all(reference(app, contact_id) is None for contact_id in ids)


# ---- a hanging provider holds a pass no longer than its deadline ------------------------------


@pytest.mark.hazard("H277")
def test_a_pass_stops_claiming_at_its_deadline_and_the_rest_wait_for_the_next(
    app: Flask, clock: FakeClock
) -> None:
    db = services_of(app).db
    ids = [voicemail(app, n) for n in range(1, 6)]
    for contact_id in ids:
        retention_asks(app, contact_id)
    slow = _SlowFake(0.3)
    started = time.monotonic()
    report = recording_deletion.run(db, slow, clock.now, deadline_seconds=0.5)
    assert time.monotonic() - started < 1.5
    assert report.deleted == 2
    assert [reference(app, i) is None for i in ids] == [True, True, False, False, False]
    assert [row(app, i).claimed_until for i in ids[2:]] == [None, None, None]
    assert recording_deletion.run(db, slow, clock.now, deadline_seconds=5).deleted == 3


# ---- /healthz -----------------------------------------------------------------------------------


def test_healthz_shows_the_recordings_waiting_and_is_ok_while_they_are_on_time(
    app: Flask, clock: FakeClock, telephony: FakeTelephony
) -> None:
    beat_as_leader(app)
    contact_id = voicemail(app)
    retention_asks(app, contact_id)
    clock.advance(dt.timedelta(minutes=10))
    telephony.fail_next_deletions(TransientTelephonyError("no reply"))
    run_job(app)
    body = json_of(app.test_client().get("/healthz"))
    assert body["recordings"] == {
        "state": "ok",
        "waiting": 1,
        "oldest_waiting_seconds": 600.0,
        "failing": 1,
    }
    run_job(app)  # not yet due again
    clock.advance(dt.timedelta(minutes=1))
    beat_as_leader(app)
    run_job(app)
    body = json_of(app.test_client().get("/healthz"))
    assert body["recordings"] == {
        "state": "ok",
        "waiting": 0,
        "oldest_waiting_seconds": None,
        "failing": 0,
    }


@pytest.mark.hazard("H271")
def test_healthz_is_degraded_naming_the_credentials_when_twilio_refuses_deletions(
    app: Flask, clock: FakeClock, telephony: FakeTelephony
) -> None:
    beat_as_leader(app)
    contact_id = voicemail(app)
    retention_asks(app, contact_id)
    telephony.fail_next_deletions(PermanentTelephonyError("refused", code=20003, http_status=401))
    run_job(app)
    answer = app.test_client().get("/healthz")
    assert answer.status_code == 200
    body = json_of(answer)
    assert body["recordings"]["state"] == "failing"
    assert body["recordings"]["failing"] == 1
    assert any("TWILIO_AUTH_TOKEN" in warning for warning in body["warnings"])


@pytest.mark.hazard("H271")
def test_healthz_is_degraded_when_a_recording_has_waited_more_than_a_day(
    app: Flask, clock: FakeClock, telephony: FakeTelephony
) -> None:
    contact_id = voicemail(app)
    retention_asks(app, contact_id)
    for _ in range(6):
        telephony.fail_next_deletions(TransientTelephonyError("no reply"))
        run_job(app)
        clock.advance(recording_deletion.BACKOFF_CAP)
    beat_as_leader(app)
    body = json_of(app.test_client().get("/healthz"))
    assert body["status"] == "degraded"
    assert body["recordings"]["state"] == "failing"
    assert any("wait to be deleted at Twilio" in warning for warning in body["warnings"])
