"""Voicemail links: signed, expiring, fetched from Twilio with the account's credentials only,
audited, never a 500, and never in a log line."""

from __future__ import annotations

import base64
import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import responses
from flask import Flask
from sqlalchemy import select

from crisisline import contacts, voicemail_links
from crisisline.app import create_app
from crisisline.clock import FakeClock
from crisisline.escalation_models import EscalationRecord
from crisisline.logs import RedactingFilter, redact_text
from crisisline.models import AuditEntry, Channel, Direction, RecordAccess
from crisisline.settings import Settings
from crisisline.telephony.twilio_rest import recording_media_url
from tests.support.app import make_settings, services_of

ACCOUNT = "AC" + "1" * 32
RECORDING = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/RE" + "a" * 32
AUDIO = b"ID3\x03\x00fake mp3 frames \xff\xfb"


@pytest.fixture
def live_settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings of a live line (TELEPHONY=twilio), where recordings can be fetched."""
    return make_settings(tmp_path, database_url, TELEPHONY="twilio")


@pytest.fixture
def live_app(live_settings: Settings, clock: FakeClock) -> Iterator[Flask]:
    application = create_app({"TESTING": True}, settings=live_settings, clock=clock)
    yield application
    services_of(application).db.dispose()


@pytest.fixture
def twilio_media() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def _voicemail(app: Flask, recording_url: str | None = RECORDING) -> int:
    services = services_of(app)
    with services.db.transaction() as session:
        contact, _ = contacts.record(
            session,
            channel=Channel.VOICE,
            direction=Direction.INBOUND,
            from_number="+447700900301",
            to_number="+447700900000",
            twilio_sid="CA" + "b" * 32,
            started_at=services.clock.now(),
            participant_id=None,
            outcome="voicemail",
        )
        contact.recording_url = recording_url
        return contact.id


def _path(app: Flask, contact_id: int) -> str:
    services = services_of(app)
    link = voicemail_links.url(services.settings, contact_id, services.clock.now())
    assert link.startswith("https://crisis.example.org/voicemail/")
    return link.removeprefix("https://crisis.example.org")


def test_a_link_plays_the_message_fetched_from_twilio_with_the_accounts_credentials(
    live_app: Flask, twilio_media: responses.RequestsMock
) -> None:
    twilio_media.get(RECORDING + ".mp3", body=AUDIO, content_type="audio/mpeg")
    contact_id = _voicemail(live_app)

    answer = live_app.test_client().get(_path(live_app, contact_id))

    assert answer.status_code == 200
    assert answer.data == AUDIO
    assert answer.mimetype == "audio/mpeg"
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    (sent,) = twilio_media.calls
    token = services_of(live_app).settings.twilio_auth_token
    expected = "Basic " + base64.b64encode(f"{ACCOUNT}:{token}".encode()).decode()
    assert sent.request.headers["Authorization"] == expected


def test_each_play_is_written_to_the_audit_log(
    live_app: Flask, twilio_media: responses.RequestsMock
) -> None:
    twilio_media.get(RECORDING + ".mp3", body=AUDIO, content_type="audio/mpeg")
    contact_id = _voicemail(live_app)
    client = live_app.test_client()
    client.get(_path(live_app, contact_id))
    client.get(_path(live_app, contact_id))

    with services_of(live_app).db.transaction() as session:
        plays = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "voicemail.played")
        ).all()
        assert [(p.record_type, p.record_id) for p in plays] == [("contact", contact_id)] * 2


@pytest.mark.hazard("H180")
def test_each_play_is_in_the_record_access_log_naming_the_escalation_that_carried_the_link(
    live_app: Flask, twilio_media: responses.RequestsMock
) -> None:
    """The link is the same for everyone the missed-call escalation texted, so the entry
    names that escalation (its deliveries say to whom) and where the link was opened from."""
    twilio_media.get(RECORDING + ".mp3", body=AUDIO, content_type="audio/mpeg")
    contact_id = _voicemail(live_app)
    services = services_of(live_app)
    with services.db.transaction() as session:
        escalation = EscalationRecord(
            policy_name="missed_call",
            policy={"steps": [], "repeat": 0},
            subject_type="missed_call",
            subject_id=contact_id,
            participant_id=None,
            summary="Missed call, voicemail left",
            status="open",
            step_index=0,
            loop=0,
            version=1,
            opened_at=services.clock.now(),
            updated_at=services.clock.now(),
        )
        session.add(escalation)
        session.flush()
        escalation_id = escalation.id
    client = live_app.test_client()
    client.get(_path(live_app, contact_id), headers={"User-Agent": "PhoneBrowser/1.0"})
    client.head(_path(live_app, contact_id))  # a link checker: nothing played, nothing logged

    with services.db.transaction() as session:
        (entry,) = session.scalars(select(RecordAccess)).all()
        assert (entry.actor, entry.action, entry.record_type, entry.record_id) == (
            f"voicemail-link:escalation:{escalation_id}",
            "play",
            "voicemail",
            contact_id,
        )
        assert (entry.address, entry.user_agent, entry.at) == (
            "127.0.0.1",
            "PhoneBrowser/1.0",
            services.clock.now(),
        )


def test_a_link_expires_after_voicemail_link_hours_and_says_how_else_to_hear_it(
    live_app: Flask, clock: FakeClock, twilio_media: responses.RequestsMock
) -> None:
    twilio_media.get(RECORDING + ".mp3", body=AUDIO, content_type="audio/mpeg")
    contact_id = _voicemail(live_app)
    path = _path(live_app, contact_id)
    client = live_app.test_client()

    clock.advance(dt.timedelta(hours=72) - dt.timedelta(seconds=1))
    assert client.get(path).status_code == 200
    clock.advance(dt.timedelta(seconds=1))
    expired = client.get(path)

    assert expired.status_code == 410
    assert "expired" in expired.text
    assert "call the crisis line from your registered phone" in expired.text
    assert len(twilio_media.calls) == 1


def test_a_changed_or_made_up_token_is_not_found_and_nothing_is_fetched(
    live_app: Flask, twilio_media: responses.RequestsMock
) -> None:
    contact_id = _voicemail(live_app)
    path = _path(live_app, contact_id)
    client = live_app.test_client()
    forged = voicemail_links.token(
        "another-key", contact_id, dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    )

    for wrong in (
        path[:-1] + ("A" if path[-1] != "A" else "B"),
        "/voicemail/" + forged,
        "/voicemail/x",
    ):
        answer = client.get(wrong)
        assert answer.status_code == 404, wrong
        assert answer.text.strip() == "Not found."
    assert len(twilio_media.calls) == 0


def test_a_token_for_a_contact_without_a_recording_is_not_found(
    live_app: Flask, twilio_media: responses.RequestsMock
) -> None:
    contact_id = _voicemail(live_app, recording_url=None)
    assert live_app.test_client().get(_path(live_app, contact_id)).status_code == 404
    assert live_app.test_client().get(_path(live_app, contact_id + 1000)).status_code == 404
    assert len(twilio_media.calls) == 0


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 404},
        {"status": 500},
        {"body": requests.ConnectTimeout("timed out")},
        {"body": requests.ConnectionError("refused")},
    ],
    ids=["twilio-404", "twilio-500", "timeout", "refused"],
)
def test_when_twilio_cannot_give_the_recording_the_link_says_how_else_to_hear_it(
    live_app: Flask, twilio_media: responses.RequestsMock, failure: dict[str, object]
) -> None:
    twilio_media.get(RECORDING + ".mp3", **failure)
    contact_id = _voicemail(live_app)

    answer = live_app.test_client().get(_path(live_app, contact_id))

    assert answer.status_code == 503
    assert "call the crisis line from your registered phone" in answer.text


def test_the_credentials_are_never_sent_to_a_recording_url_off_twilios_api_host(
    live_app: Flask, twilio_media: responses.RequestsMock
) -> None:
    elsewhere = "https://recordings.example.net/2010-04-01/Accounts/AC1/Recordings/RE1"
    twilio_media.get(elsewhere + ".mp3", body=AUDIO)
    contact_id = _voicemail(live_app, recording_url=elsewhere)

    answer = live_app.test_client().get(_path(live_app, contact_id))

    assert answer.status_code == 503
    assert len(twilio_media.calls) == 0


def test_media_urls_are_only_built_for_recordings_on_the_api_host(live_settings: Settings) -> None:
    api = live_settings.twilio_api_base_url
    assert recording_media_url(api, RECORDING) == RECORDING + ".mp3"
    assert recording_media_url(api, RECORDING + ".json") == RECORDING + ".mp3"
    assert recording_media_url(api, "http://api.twilio.com/x/Recordings/RE1") is None
    assert recording_media_url(api, RECORDING + "?redirect=evil") is None
    assert recording_media_url(api, "https://api.twilio.com/x/Calls/CA1") is None


def test_with_console_telephony_the_link_says_how_else_to_hear_it(
    app: Flask, twilio_media: responses.RequestsMock
) -> None:
    contact_id = _voicemail(app)
    answer = app.test_client().get(_path(app, contact_id))
    assert answer.status_code == 503
    assert "call the crisis line from your registered phone" in answer.text
    assert len(twilio_media.calls) == 0


def test_a_link_never_reaches_a_log_line() -> None:
    line = '127.0.0.1 - - "GET /voicemail/WzEsMTc2NF0.abc-_DEF HTTP/1.1" 200'
    assert redact_text(line) == '127.0.0.1 - - "GET /voicemail/[redacted] HTTP/1.1" 200'
    record = logging.LogRecord(
        "t", logging.INFO, "f", 1, "opened %s", ("/voicemail/abc.def",), None
    )
    RedactingFilter().filter(record)
    assert record.getMessage() == "opened /voicemail/[redacted]"


def test_voicemail_link_hours_is_checked_at_start_up(tmp_path: Path, database_url: str) -> None:
    assert (
        make_settings(tmp_path, database_url, VOICEMAIL_LINK_HOURS="24").voicemail_link_hours == 24
    )
    with pytest.raises(Exception, match="VOICEMAIL_LINK_HOURS must be a whole number"):
        make_settings(tmp_path, database_url, VOICEMAIL_LINK_HOURS="0")


def test_a_head_request_fetches_and_audits_nothing(
    live_app: Flask, twilio_media: responses.RequestsMock
) -> None:
    twilio_media.get(RECORDING + ".mp3", body=AUDIO, content_type="audio/mpeg")
    contact_id = _voicemail(live_app)

    answer = live_app.test_client().head(_path(live_app, contact_id))

    assert answer.status_code == 200
    assert len(twilio_media.calls) == 0
    with services_of(live_app).db.transaction() as session:
        assert (
            session.scalars(select(AuditEntry).where(AuditEntry.action == "voicemail.played")).all()
            == []
        )


def test_links_never_hold_more_than_two_web_threads_at_once(
    live_app: Flask, twilio_media: responses.RequestsMock
) -> None:
    twilio_media.get(RECORDING + ".mp3", body=AUDIO, content_type="audio/mpeg")
    contact_id = _voicemail(live_app)
    held = [voicemail_links._fetching.acquire(blocking=False) for _ in range(2)]
    assert held == [True, True]  # two links are playing in this process
    try:
        busy = live_app.test_client().get(_path(live_app, contact_id))
    finally:
        for _ in held:
            voicemail_links._fetching.release()

    assert busy.status_code == 503
    assert "call the crisis line from your registered phone" in busy.text
    assert len(twilio_media.calls) == 0
    assert live_app.test_client().get(_path(live_app, contact_id)).status_code == 200


def test_a_download_that_runs_past_its_deadline_is_abandoned(
    live_app: Flask, twilio_media: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    twilio_media.get(RECORDING + ".mp3", body=AUDIO * 100_000, content_type="audio/mpeg")
    monkeypatch.setattr(voicemail_links, "FETCH_DEADLINE_SECONDS", -1.0)
    contact_id = _voicemail(live_app)

    answer = live_app.test_client().get(_path(live_app, contact_id))

    assert answer.status_code == 503
