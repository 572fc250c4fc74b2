"""Voicemail recordings deleted at (simulated) Twilio through the real Twilio adapter over HTTP:
a deletion the provider fails is retried and the reference kept until it succeeds, "not found"
counts as done, a hanging provider holds the job no longer than the request timeout, and bad
credentials keep the recording waiting, shown on /healthz."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import insert

from crisisline import contacts, recording_deletion
from crisisline.clock import FakeClock
from crisisline.data_protection_models import RecordingDeletion
from crisisline.jobs import Jobs
from crisisline.models import Channel, Contact, Direction
from crisisline.simulator import Recording, Simulator
from tests.support.app import beat_as_leader, json_of, services_of
from tests.support.call_line import (
    BACKUP,
    BASE,
    DANIEL,
    LINE,
    MANAGER,
    PRIMARY,
    Line,
    start_call_line,
)
from tests.support.simulated_twilio import simulated_twilio

ACCOUNT_SID = "AC" + "6" * 32
LINK = re.compile(re.escape(BASE) + r"/voicemail/[A-Za-z0-9._-]+")


def _asked_to_delete(app: Flask, contact_id: int) -> None:
    """The row the retention run writes for a voicemail past its time, inserted directly."""
    svc = services_of(app)
    with svc.db.transaction() as session:
        url = session.get_one(Contact, contact_id).recording_url
        assert url is not None
        session.execute(
            insert(RecordingDeletion).values(
                contact_id=contact_id,
                recording_url=url,
                requested_at=svc.clock.now(),
                next_attempt_at=svc.clock.now(),
                attempts=0,
            )
        )


def _deletion(app: Flask, contact_id: int) -> RecordingDeletion:
    with services_of(app).db.transaction() as session:
        return session.get_one(RecordingDeletion, contact_id)


def _reference(app: Flask, contact_id: int) -> str | None:
    with services_of(app).db.transaction() as session:
        return session.get_one(Contact, contact_id).recording_url


def _run(app: Flask) -> recording_deletion.DeletionReport:
    return Jobs(services_of(app)).delete_recordings()


def _voicemail_held_by(app: Flask, sim: Simulator, words: str = "Call me back") -> int:
    """A recording the simulated Twilio holds, and the contact that refers to it."""
    sid = sim.new_sid("RE")
    call_sid = sim.new_sid("CA")
    url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}"
    sim.add_recording(Recording(sid, call_sid, url, 4, words))
    svc = services_of(app)
    with svc.db.transaction() as session:
        contact, _ = contacts.record(
            session,
            channel=Channel.VOICE,
            direction=Direction.INBOUND,
            from_number="+447700900301",
            to_number=LINE,
            twilio_sid=call_sid,
            started_at=svc.clock.now() - dt.timedelta(days=200),
            participant_id=None,
            outcome="voicemail",
        )
        contact.recording_url = url
        return contact.id


def _sid(app: Flask, contact_id: int) -> str:
    return _deletion(app, contact_id).recording_url.rsplit("/", 1)[1]


@pytest.fixture
def line(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[Line]:
    yield from start_call_line(tmp_path, database_url, clock)


@pytest.fixture
def twilio(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> Iterator[tuple[Flask, Simulator]]:
    with simulated_twilio(
        tmp_path, database_url, clock, ACCOUNT_SID, TWILIO_REQUEST_TIMEOUT="0.5"
    ) as (app, sim):
        yield app, sim


@pytest.mark.hazard("H271")
@pytest.mark.hazard("H273")
def test_a_deletion_the_provider_fails_is_retried_and_the_reference_kept_until_it_succeeds(
    line: Line,
) -> None:
    """From the caller's message to its deletion: the voicemail is left on a real (simulated)
    call and plays through the texted link; the retention run asks for its deletion; Twilio
    fails twice; all that time the service keeps the reference and the message still plays;
    the third attempt deletes it at Twilio, and only then is the reference gone."""
    for phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(phone).will_not_answer()
    line.sim.phone(DANIEL).call(LINE, message="Ring me at my sister's tonight")
    line.sim.run_pending()
    line.deliver()
    text = line.sim.phone(PRIMARY).expect_sms("Missed call from R1001")
    found = LINK.search(text.body)
    assert found is not None, text.body
    link = found.group(0).removeprefix(BASE)
    for phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(phone).ignore_unexpected()  # the risk alerts' own texts
    contact_id = line.contact().id
    (held,) = line.sim.recordings
    _asked_to_delete(line.app, contact_id)

    line.sim.fail_next_deletions(2, status=500)
    for attempt, wait in ((1, 1), (2, 2)):
        assert _run(line.app).retrying == 1
        waiting = _deletion(line.app, contact_id)
        assert (waiting.attempts, waiting.last_error) == (attempt, "TransientTelephonyError 20500")
        assert waiting.deleted_at is None
        assert _reference(line.app, contact_id) == held.url
        assert line.sim.recordings == [held]
        played = line.app.test_client().get(link)
        assert played.status_code == 200
        assert played.data.endswith(b"Ring me at my sister's tonight")
        line.clock.advance(dt.timedelta(minutes=wait))

    assert _run(line.app).deleted == 1
    assert line.sim.deleted_recordings == [held.sid]
    assert line.sim.recordings == []
    assert _reference(line.app, contact_id) is None
    assert _deletion(line.app, contact_id).deleted_at == line.clock.now()
    # At Twilio it is gone (media 404); the service's link says it was deleted.
    gone = line.app.test_client().get(link)
    assert gone.status_code == 410
    assert "deleted under the retention schedule" in gone.get_data(as_text=True)


def test_a_recording_twilio_no_longer_has_counts_as_deleted(
    twilio: tuple[Flask, Simulator],
) -> None:
    app, sim = twilio
    contact_id = _voicemail_held_by(app, sim)
    _asked_to_delete(app, contact_id)
    sim.delete_recording(_sid(app, contact_id))  # deleted in Twilio's console, say

    assert _run(app).deleted == 1
    assert _reference(app, contact_id) is None
    assert _deletion(app, contact_id).attempts == 1


@pytest.mark.hazard("H277")
def test_a_hanging_provider_holds_the_job_no_longer_than_the_request_timeout(
    twilio: tuple[Flask, Simulator], clock: FakeClock
) -> None:
    app, sim = twilio
    first = _voicemail_held_by(app, sim, "first")
    second = _voicemail_held_by(app, sim, "second")
    for contact_id in (first, second):
        _asked_to_delete(app, contact_id)
    sim.hang_next_deletions(1, seconds=20)

    started = time.monotonic()
    report = _run(app)
    took = time.monotonic() - started

    assert took < 3  # TWILIO_REQUEST_TIMEOUT is 0.5 s here
    assert report.retrying == 1 and report.deleted == 0
    assert _deletion(app, first).last_error == "TransientTelephonyError"
    assert _deletion(app, second).attempts == 0  # the pass ended: the provider is not answering
    assert _reference(app, first) is not None

    # The held request goes on at Twilio after the client gave up (it may have deleted the
    # recording after all): the retry finds it gone or deletes it, and either way is done.
    sim.clear_faults()
    deadline = time.monotonic() + 5
    while not sim.deleted_recordings and time.monotonic() < deadline:
        time.sleep(0.02)
    clock.advance(dt.timedelta(minutes=1))
    assert _run(app).deleted == 2
    assert _reference(app, first) is None and _reference(app, second) is None
    assert len(sim.deleted_recordings) == 2


@pytest.mark.hazard("H271")
def test_bad_credentials_keep_the_recording_waiting_and_healthz_says_so(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    with simulated_twilio(
        tmp_path, database_url, clock, ACCOUNT_SID, TWILIO_AUTH_TOKEN="a-token-twilio-refuses"
    ) as (app, sim):
        contact_id = _voicemail_held_by(app, sim)
        _asked_to_delete(app, contact_id)
        for _ in range(3):
            assert _run(app).refused == 1
            clock.advance(recording_deletion.BACKOFF_CAP)
        waiting = _deletion(app, contact_id)
        assert (waiting.attempts, waiting.last_error) == (3, "PermanentTelephonyError 20003")
        assert _reference(app, contact_id) is not None
        assert len(sim.recordings) == 1
        beat_as_leader(app)
        body = json_of(app.test_client().get("/healthz"))
        assert body["recordings"]["state"] == "failing"
        assert body["recordings"]["failing"] == 1


def test_the_simulator_answers_a_second_delete_of_the_same_recording_404(
    twilio: tuple[Flask, Simulator],
) -> None:
    """As Twilio does; the adapter takes that 404 (20404) as done."""
    app, sim = twilio
    contact_id = _voicemail_held_by(app, sim)
    url = _reference(app, contact_id)
    assert url is not None
    telephony = services_of(app).telephony
    telephony.delete_recording(url)
    telephony.delete_recording(url)
    assert len(sim.deleted_recordings) == 1
