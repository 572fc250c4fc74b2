"""Playing a voicemail writes nothing to disk and tells browsers and proxies to keep nothing; a
recording deleted under the retention schedule plays as a clear page saying so (410), through
the texted link and the console alike, never a 500."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import insert

from crisisline import contacts, participants, voicemail_links
from crisisline.clock import FakeClock
from crisisline.data_protection_models import RecordingDeletion
from crisisline.jobs import Jobs
from crisisline.models import Channel, Contact, Direction, RiskLevel, StaffRole
from crisisline.telephony import FakeTelephony
from tests.support.app import services_of
from tests.support.console import Browser, Person, enrolled

RECORDING = "https://api.twilio.com/2010-04-01/Accounts/AC" + "1" * 32 + "/Recordings/RE" + "e" * 32
AUDIO = b"ID3\x03\x00fake mp3 frames \xff\xfb"


def _participant_with_voicemail(app: Flask, officer: Person) -> tuple[int, int]:
    svc = services_of(app)
    now = svc.clock.now()
    with svc.db.transaction() as session:
        participant_id = participants.create(
            session,
            participants.NewParticipant(
                reference="R2001",
                name="Owen Pritchard",
                phones=["+447700900601"],
                responsible_officer_id=officer.staff_id,
                risk_level=RiskLevel.MEDIUM,
            ),
            actor="t",
            now=now,
        ).id
        contact, _ = contacts.record(
            session,
            channel=Channel.VOICE,
            direction=Direction.INBOUND,
            from_number="+447700900601",
            to_number="+447700900000",
            twilio_sid="CA" + "d" * 32,
            started_at=now - dt.timedelta(hours=2),
            participant_id=participant_id,
            outcome="voicemail",
        )
        contact.recording_url = RECORDING
        return participant_id, contact.id


@pytest.fixture
def officer(app: Flask, clock: FakeClock) -> Person:
    return enrolled(
        app, "Gwen Harris", "+447700900121", [StaffRole.RESPONSIBLE_OFFICER], now=clock.now()
    )


def _signed_in(app: Flask, clock: FakeClock, who: Person) -> Browser:
    browser = Browser(app)
    assert browser.sign_in(who, clock).status_code == 303
    return browser


def _link(app: Flask, contact_id: int) -> str:
    svc = services_of(app)
    url = voicemail_links.url(svc.settings, contact_id, svc.clock.now())
    return url.removeprefix(svc.settings.public_base_url)


def _files(*roots: Path) -> set[Path]:
    found: set[Path] = set()
    for root in roots:
        for folder, _, names in os.walk(root):
            found.update(Path(folder) / name for name in names)
    return found


@pytest.fixture
def own_tmp(tmp_path: Path) -> Iterator[Path]:
    """A temporary directory of the test's own, made the process's: any temporary file a play
    wrote (tempfile, or a library through it) would land there."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    before = tempfile.tempdir
    tempfile.tempdir = str(folder)
    try:
        yield folder
    finally:
        tempfile.tempdir = before


@pytest.mark.hazard("H274")
def test_a_play_through_the_link_or_the_console_writes_no_file_and_says_no_store(
    app: Flask,
    clock: FakeClock,
    telephony: FakeTelephony,
    officer: Person,
    own_tmp: Path,
    tmp_path: Path,
) -> None:
    participant_id, contact_id = _participant_with_voicemail(app, officer)
    telephony.recordings[RECORDING] = AUDIO
    gwen = _signed_in(app, clock, officer)
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    before = _files(instance, own_tmp, tmp_path)

    by_link = app.test_client().get(_link(app, contact_id))
    in_console = gwen.client.get(
        f"/participants/{participant_id}/voicemails/{contact_id}",
        base_url="https://crisis.example.org",
    )

    for played in (by_link, in_console):
        assert played.status_code == 200
        assert played.data == AUDIO
        assert played.headers["Cache-Control"] == "no-store"
        assert "ETag" not in played.headers
        assert "Last-Modified" not in played.headers
    assert telephony.fetched_recordings == [RECORDING, RECORDING]
    # The audio went from the provider to the answer through memory only. (The database
    # file's journal may change size, but no file is added anywhere: no cache, no temp file.)
    assert _files(instance, own_tmp, tmp_path) == before
    assert list(own_tmp.iterdir()) == []


def _deleted_by_the_job(app: Flask, contact_id: int) -> None:
    svc = services_of(app)
    with svc.db.transaction() as session:
        session.execute(
            insert(RecordingDeletion).values(
                contact_id=contact_id,
                recording_url=RECORDING,
                requested_at=svc.clock.now(),
                next_attempt_at=svc.clock.now(),
                attempts=0,
            )
        )
    assert Jobs(svc).delete_recordings().deleted == 1
    with svc.db.transaction() as session:
        assert session.get_one(Contact, contact_id).recording_url is None


@pytest.mark.hazard("H278")
def test_a_deleted_recording_plays_as_a_page_saying_it_was_deleted_through_the_link(
    app: Flask, clock: FakeClock, telephony: FakeTelephony, officer: Person
) -> None:
    _, contact_id = _participant_with_voicemail(app, officer)
    telephony.recordings[RECORDING] = AUDIO
    link = _link(app, contact_id)
    _deleted_by_the_job(app, contact_id)

    answer = app.test_client().get(link)

    assert answer.status_code == 410
    assert "deleted under the retention schedule" in answer.get_data(as_text=True)
    assert answer.headers["Cache-Control"] == "no-store"
    assert telephony.fetched_recordings == []


@pytest.mark.hazard("H278")
def test_a_deleted_recording_plays_as_a_page_saying_it_was_deleted_in_the_console(
    app: Flask, clock: FakeClock, telephony: FakeTelephony, officer: Person
) -> None:
    participant_id, contact_id = _participant_with_voicemail(app, officer)
    _deleted_by_the_job(app, contact_id)
    gwen = _signed_in(app, clock, officer)

    answer = gwen.get(f"/participants/{participant_id}/voicemails/{contact_id}")

    assert answer.status_code == 410
    assert "deleted under the retention schedule" in answer.get_data(as_text=True)
    assert telephony.fetched_recordings == []


def test_a_call_that_never_left_a_message_is_still_not_found(
    app: Flask, clock: FakeClock, officer: Person
) -> None:
    """The deleted page is only for a recording that was deleted, not for any call."""
    participant_id, contact_id = _participant_with_voicemail(app, officer)
    with services_of(app).db.transaction() as session:
        session.get_one(Contact, contact_id).recording_url = None
    gwen = _signed_in(app, clock, officer)
    assert gwen.get(f"/participants/{participant_id}/voicemails/{contact_id}").status_code == 404
    assert app.test_client().get(_link(app, contact_id)).status_code == 404


@pytest.mark.hazard("H278")
def test_a_deletion_still_waiting_at_the_provider_leaves_the_message_playable(
    app: Flask, clock: FakeClock, telephony: FakeTelephony, officer: Person
) -> None:
    """Asked for but not confirmed: the recording still exists, and still plays."""
    participant_id, contact_id = _participant_with_voicemail(app, officer)
    telephony.recordings[RECORDING] = AUDIO
    svc = services_of(app)
    with svc.db.transaction() as session:
        session.execute(
            insert(RecordingDeletion).values(
                contact_id=contact_id,
                recording_url=RECORDING,
                requested_at=clock.now(),
                next_attempt_at=clock.now() + dt.timedelta(hours=1),
                attempts=0,
            )
        )
    gwen = _signed_in(app, clock, officer)
    played = gwen.client.get(
        f"/participants/{participant_id}/voicemails/{contact_id}",
        base_url="https://crisis.example.org",
    )
    assert played.status_code == 200
    assert played.data == AUDIO
