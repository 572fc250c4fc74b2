"""The webhook spool (crisisline.spool): a call or text the database could not take is answered
with the fail-safe, kept on disk, and recorded later exactly as its webhook would have.

H120-H123. A webhook answered while the database was down used to leave nothing behind: no
contact, no escalation, nobody told. Here an app whose database cannot be reached (a file that
cannot be opened, a PostgreSQL port nobody listens on) shares its spool with the app on the
real database, which drains it: each kept request is recorded once (also when its first
write had committed, or it is drained twice), keeps the time it came in, reaches staff (a text
is routed, a call opens the missed-call escalation), and a request that cannot be recorded
stays in the spool, logged without its number or body, with /healthz degraded meanwhile.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from crisisline import staffing
from crisisline.alert_models import RiskAlert
from crisisline.app import create_app
from crisisline.call_models import LiveCall
from crisisline.clock import FakeClock
from crisisline.escalation_models import EscalationRecord
from crisisline.jobs import Jobs
from crisisline.models import Contact, Delivery
from crisisline.services import Services
from crisisline.spool import DrainReport, Entry, Spool, drain
from crisisline.telephony import FakeTelephony, sign
from tests.support.app import (
    START,
    TEST_AUTH_TOKEN,
    beat_as_leader,
    json_of,
    make_settings,
    services_of,
    signed_post,
)
from tests.support.call_intake import CALLER, LINE, intake_services
from tests.support.routing import PRIMARY

BODY = "are you there, need to talk"
BASE = "https://crisis.example.org"


@pytest.fixture
def svc(app: Flask, clock: FakeClock) -> Services:
    return intake_services(app, clock)


def _text_form(n: int, sender: str = CALLER, body: str = BODY) -> dict[str, str]:
    return {
        "MessageSid": f"SM{n:032x}",
        "AccountSid": "AC" + "1" * 32,
        "From": sender,
        "To": LINE,
        "Body": body,
        "NumMedia": "0",
    }


def _call_form(n: int, caller: str = CALLER) -> dict[str, str]:
    return {
        "CallSid": f"CA{n:032x}",
        "AccountSid": "AC" + "1" * 32,
        "From": caller,
        "To": LINE,
        "CallStatus": "ringing",
        "Direction": "inbound",
    }


@pytest.fixture
def down(svc: Services, tmp_path: Path) -> Iterator[Flask]:
    """The same line with its database out of reach, keeping what it cannot record in `svc`'s
    spool (as a web process does while PostgreSQL restarts)."""
    if svc.db.engine.dialect.name == "sqlite":
        url = f"sqlite:///{tmp_path}/gone/crisisline.db"
    else:
        url = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"  # nobody listens on port 1
    settings = make_settings(
        tmp_path / "down",
        url,
        SPOOL_DIR=str(svc.settings.spool_path),
        DATABASE_RETRY_SECONDS="1",
    )
    app = create_app(settings=settings, clock=svc.clock, telephony=FakeTelephony())
    # Its own drainer would only find the database still down; the tests drain from `svc`.
    services_of(app).db.closed.set()
    yield app
    services_of(app).db.dispose()


def _contacts(svc: Services, sid: str) -> list[Contact]:
    with svc.db.transaction() as session:
        return list(session.scalars(select(Contact).where(Contact.twilio_sid == sid)))


def _escalations(svc: Services, subject_type: str) -> list[EscalationRecord]:
    with svc.db.transaction() as session:
        return list(
            session.scalars(
                select(EscalationRecord).where(EscalationRecord.subject_type == subject_type)
            )
        )


def test_a_kept_request_is_whole_on_disk_and_read_back_exactly(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    entry = Entry(
        path="/webhooks/voice/voicemail",
        query="a=1&b=%20",
        params=(("Body", "né\x00 ünïcode 🙂"), ("MediaUrl0", "x"), ("MediaUrl0", "y")),
        signature="c2lnbmF0dXJl",
        received_at=dt.datetime(2026, 11, 26, 13, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))),
    )
    name = spool.keep(entry)
    assert spool.names() == [name]
    assert [n for n in os.listdir(spool.directory) if not n.startswith(".drain")] == [name]
    assert os.stat(spool.directory / name).st_mode & 0o777 == 0o600  # numbers and bodies
    again = spool.read(name)
    assert again == Entry(**{**entry.__dict__, "name": name})
    assert again.received_at == START  # 13:00 at +01:00 is noon UTC
    assert again.form() == {"Body": "né\x00 ünïcode 🙂", "MediaUrl0": "x"}
    spool.remove(name)
    spool.remove(name)  # removed by another drain meanwhile: no error
    assert spool.waiting() == 0


def test_entries_are_drained_oldest_first_and_a_half_written_one_is_never_read(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path / "spool")
    for minutes in (5, 1, 3):
        spool.keep(Entry("/webhooks/sms", "", (), None, START + dt.timedelta(minutes=minutes)))
    # What a crash between writing and renaming leaves behind.
    (spool.directory / ".incoming-20261126T120000000000-x.json").write_text('{"pa')
    seen: list[dt.datetime] = []
    report = drain(spool, lambda entry: seen.append(entry.received_at))
    assert seen == [START + dt.timedelta(minutes=m) for m in (1, 3, 5)]
    assert report == DrainReport(recorded=3, failed=0, waiting=0)


def test_a_text_the_database_cannot_take_gets_the_crisis_numbers_and_reaches_staff_later(
    svc: Services, down: Flask, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    form = _text_form(1)
    response = signed_post(down.test_client(), "/webhooks/sms", form)
    assert response.status_code == 200
    assert svc.messages.fallback_sms in response.get_data(as_text=True)
    assert svc.spool.waiting() == 1
    assert _contacts(svc, form["MessageSid"]) == []
    clock.advance(dt.timedelta(minutes=3))  # the database is back three minutes later

    assert svc.spool_drainer.drain() == DrainReport(recorded=1, failed=0, waiting=0)

    (contact,) = _contacts(svc, form["MessageSid"])
    assert contact.started_at == START  # when it came in, not when it was recorded
    assert contact.body == BODY
    assert contact.participant_id is not None  # on the participant's record
    assert Jobs(svc).route_texts() == 1  # routed as any other text: relayed to on-call
    with svc.db.transaction() as session:
        relayed = session.scalars(select(Delivery.to_number)).all()
    assert PRIMARY in relayed and CALLER in relayed  # the relay and the acknowledgement
    assert CALLER not in caplog.text and BODY not in caplog.text


def test_a_call_answered_with_the_fail_safe_becomes_a_missed_call_staff_call_back(
    svc: Services, down: Flask, clock: FakeClock
) -> None:
    form = _call_form(1)
    response = signed_post(down.test_client(), "/webhooks/voice", form)
    assert response.status_code == 200
    assert svc.messages.fallback_spoken in response.get_data(as_text=True)
    assert svc.spool.waiting() == 1
    clock.advance(dt.timedelta(minutes=2))

    assert svc.spool_drainer.drain().recorded == 1
    assert svc.spool_drainer.drain() == DrainReport(0, 0, 0)

    (contact,) = _contacts(svc, form["CallSid"])
    assert contact.outcome == "missed"
    assert contact.started_at == START
    assert contact.participant_id is not None
    (missed,) = _escalations(svc, "missed_call")
    assert missed.subject_id == contact.id and missed.status == "open"
    assert missed.summary.startswith("Missed call from")
    with svc.db.transaction() as session:
        live = session.scalar(select(LiveCall).where(LiveCall.call_sid == form["CallSid"]))
        assert live is not None and live.missed_escalation_id == missed.id
        rules = session.scalars(select(RiskAlert.rule)).all()
        told = session.scalars(select(Delivery.to_number)).all()
    assert rules.count("unanswered") == 1  # a crisis call nobody answered
    assert PRIMARY in told  # the missed-call escalation reaches on-call


def test_a_spooled_request_whose_first_write_had_committed_is_not_doubled(
    svc: Services, app: Flask, client: FlaskClient
) -> None:
    text, call = _text_form(2), _call_form(2)
    assert signed_post(client, "/webhooks/sms", text).status_code == 200
    assert signed_post(client, "/webhooks/voice", call).status_code == 200  # rings on-call
    for path, form in (("/webhooks/sms", text), ("/webhooks/voice", call)):
        # As if the connection had died after COMMIT: recorded, yet kept in the spool too.
        svc.spool.keep(
            Entry(path, "", tuple(form.items()), sign(TEST_AUTH_TOKEN, BASE + path, form), START)
        )

    assert svc.spool_drainer.drain() == DrainReport(recorded=2, failed=0, waiting=0)

    assert len(_contacts(svc, text["MessageSid"])) == 1
    (contact,) = _contacts(svc, call["CallSid"])
    assert contact.outcome == "ringing"  # still ringing on-call: its own callbacks go on
    assert _escalations(svc, "missed_call") == []


def test_a_voicemail_left_while_the_database_was_down_is_kept_and_chased(
    svc: Services, app: Flask, client: FlaskClient, down: Flask
) -> None:
    call = _call_form(3)
    with svc.db.transaction() as session:  # nobody on call: the caller is offered a voicemail
        from crisisline.models import Staff

        for person in session.scalars(select(Staff)):
            staffing.deactivate_staff(session, person.id, actor="t", now=svc.clock.now())
    assert b"<Record" in signed_post(client, "/webhooks/voice", call).data
    recording = {
        "CallSid": call["CallSid"],
        "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
        "RecordingDuration": "31",
    }
    response = signed_post(down.test_client(), "/webhooks/voice/voicemail", recording)
    assert response.status_code == 200
    assert svc.spool.waiting() == 1

    assert svc.spool_drainer.drain().recorded == 1

    (contact,) = _contacts(svc, call["CallSid"])
    assert contact.recording_url == recording["RecordingUrl"]
    assert contact.outcome == "voicemail"
    (missed,) = _escalations(svc, "missed_call")
    assert "voicemail left" in missed.summary


def test_a_request_that_cannot_be_recorded_stays_in_the_spool_logged_without_its_numbers(
    svc: Services, app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    # A voicemail for a call that is on no record, and a text whose signature is not Twilio's.
    voicemail = {"CallSid": "CA" + "e" * 32, "RecordingUrl": "https://x/RE1", "From": CALLER}
    path = "/webhooks/voice/voicemail"
    svc.spool.keep(
        Entry(
            path, "", tuple(voicemail.items()), sign(TEST_AUTH_TOKEN, BASE + path, voicemail), START
        )
    )
    forged = _text_form(9, body="forged " + BODY)
    svc.spool.keep(
        Entry(
            "/webhooks/sms", "", tuple(forged.items()), sign("not-ours", BASE + "/x", forged), START
        )
    )
    caplog.set_level(logging.INFO)

    for _ in range(2):  # tried again on every pass, never dropped
        assert svc.spool_drainer.drain() == DrainReport(recorded=0, failed=2, waiting=2)

    assert _contacts(svc, forged["MessageSid"]) == []
    assert "spooled /webhooks/voice/voicemail could not be recorded yet (NotFound)" in caplog.text
    assert "spooled /webhooks/sms could not be recorded yet (Unverified)" in caplog.text
    assert CALLER not in caplog.text and BODY not in caplog.text
    assert CALLER[1:] not in caplog.text


def test_healthz_is_degraded_while_calls_or_texts_wait_in_the_spool(
    svc: Services, app: Flask, client: FlaskClient, down: Flask
) -> None:
    beat_as_leader(app)
    signed_post(down.test_client(), "/webhooks/sms", _text_form(4))
    waiting = json_of(client.get("/healthz"))
    assert waiting["status"] == "degraded"
    assert waiting["spool"] == {"waiting": 1}
    assert any("wait to be recorded" in w for w in waiting["warnings"])
    # With its database down too, the web process still says how many wait.
    down_health = down.test_client().get("/healthz")
    assert down_health.status_code == 503
    assert json_of(down_health)["spool"] == {"waiting": 1}

    svc.spool_drainer.drain()

    cleared = json_of(client.get("/healthz"))
    assert cleared["spool"] == {"waiting": 0}
    assert not any("wait to be recorded" in w for w in cleared["warnings"])


def test_the_scheduler_and_the_cli_drain_the_spool(svc: Services, app: Flask, down: Flask) -> None:
    signed_post(down.test_client(), "/webhooks/sms", _text_form(5))
    signed_post(down.test_client(), "/webhooks/sms", _text_form(6))
    jobs = {job.name: job for job in Jobs(svc).scheduler_jobs("test")}
    job = jobs["drain-spool"]
    assert job.every_process  # each process drains the spool on its own disk
    svc.spool.keep(
        Entry("/webhooks/nowhere", "", (), None, START)  # never recordable: stays
    )
    job.run()
    assert len(_contacts(svc, _text_form(5)["MessageSid"])) == 1
    assert len(_contacts(svc, _text_form(6)["MessageSid"])) == 1
    result = app.test_cli_runner().invoke(args=["spool", "drain"])
    assert result.exit_code == 1  # one still waits
    assert "0 recorded, 1 failed, 1 waiting" in result.output
    status = app.test_cli_runner().invoke(args=["spool", "status"])
    assert status.output.startswith("1 waiting")


def test_a_spool_file_holds_the_signed_request_as_received(svc: Services, down: Flask) -> None:
    form = _text_form(7)
    signed_post(down.test_client(), "/webhooks/sms", form)
    (name,) = svc.spool.names()
    kept = json.loads((svc.spool.directory / name).read_text())
    assert kept["path"] == "/webhooks/sms"
    assert kept["params"] == [list(pair) for pair in form.items()]
    assert kept["signature"] == sign(TEST_AUTH_TOKEN, BASE + "/webhooks/sms", form)
    assert kept["received_at"] == START.isoformat()


def test_a_text_that_can_be_neither_recorded_nor_spooled_still_gets_the_crisis_numbers(
    svc: Services, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a-file").write_text("")
    settings = make_settings(
        tmp_path / "nowhere",
        f"sqlite:///{tmp_path}/gone/crisisline.db",
        SPOOL_DIR=str(tmp_path / "a-file" / "spool"),  # under a file: cannot be created
    )
    app = create_app(settings=settings, clock=svc.clock, telephony=FakeTelephony())
    try:
        response = signed_post(app.test_client(), "/webhooks/sms", _text_form(8))
        health = app.test_client().get("/healthz")
    finally:
        services_of(app).db.dispose()
    assert response.status_code == 200
    assert svc.messages.fallback_sms in response.get_data(as_text=True)
    assert "could not be recorded nor kept in the spool" in caplog.text
    assert json_of(health)["spool"] == {"waiting": None}  # cannot be read: said, not a 500
    assert CALLER not in caplog.text
