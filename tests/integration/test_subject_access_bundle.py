"""The subject access bundle, opened as the participant would open it: a zip (parsed with zipfile)
holding index.html (parsed with html.parser), data.json and the voicemails' audio. It holds each
kind of his record, nothing of another man's, no staff or third-party numbers, and each export
is logged."""

from __future__ import annotations

import io
import json
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from crisisline import subject_access
from crisisline.clock import FakeClock
from crisisline.data_protection_models import SubjectAccessRequest
from crisisline.models import AuditEntry, RecordAccess
from crisisline.telephony import FakeTelephony
from tests.support.app import services_of
from tests.support.subject_access import (
    ADMIN,
    AUDIO,
    KIERAN,
    KIERAN_SECOND,
    LIONEL_AUDIO,
    LIONEL_MARKS,
    LIONEL_RECORDING,
    LOST_RECORDING,
    OFFICER,
    STAFF_NAMES,
    THIRD_PARTY,
    WORKER,
    Record,
    seed,
)


class _Text(HTMLParser):
    """The words of an HTML page (what a reader sees), and its links."""

    def __init__(self) -> None:
        super().__init__()
        self.words: list[str] = []
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_data(self, data: str) -> None:
        self.words.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("a", "audio") and (found.get("href") or found.get("src")):
            self.links.append(str(found.get("href") or found.get("src")))
        if found.get("id"):
            self.ids.add(str(found["id"]))

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.words).split())


def _forms(number: str) -> list[str]:
    """A UK number as people write it: E.164, +44 7700 900123, 07700 900123, 07700900123."""
    national = "0" + number[3:]
    return [number, f"+44 {number[3:7]} {number[7:]}", f"{national[:5]} {national[5:]}", national]


@pytest.fixture
def record(app: Flask, telephony: FakeTelephony) -> Record:
    return seed(app, telephony)


def _request(app: Flask, clock: FakeClock, man: int) -> int:
    with services_of(app).db.transaction() as session:
        request = subject_access.log_request(
            session,
            reference="R3001" if man else "",
            received_on=clock.now().date(),
            detail="By letter",
            actor="cli",
            now=clock.now(),
            today=clock.now().date(),
        )
        return request.id


def _export(app: Flask, clock: FakeClock, request_id: int) -> subject_access.Export:
    svc = services_of(app)
    return subject_access.export(
        svc.db,
        svc.telephony,
        request_id,
        actor="cli",
        now=clock.now(),
        zone=svc.settings.zone,
        region=svc.settings.default_region,
        line_number=svc.settings.crisis_line_number,
        staff_names=svc.settings.sar_staff_names,
    )


def _open(content: bytes) -> tuple[dict[str, bytes], dict[str, Any], _Text]:
    with zipfile.ZipFile(io.BytesIO(content)) as bundle:
        files = {name: bundle.read(name) for name in bundle.namelist()}
    data = json.loads(files["data.json"])
    page = _Text()
    page.feed(files["index.html"].decode("utf-8"))
    return files, data, page


def test_the_bundle_holds_each_kind_of_his_record_in_both_files(
    app: Flask, clock: FakeClock, record: Record
) -> None:
    done = _export(app, clock, _request(app, clock, record.kieran))
    files, data, page = _open(done.content)

    assert data["format"] == subject_access.FORMAT
    assert data["participant"]["reference"] == "R3001"
    assert data["participant"]["name"] == "Kieran Ashdown"
    contacts = {row["id"]: row for row in data["contacts"]}
    assert set(contacts) == {
        record.call,
        record.text_in,
        record.text_out,
        record.voicemail,
        record.lost_voicemail,
        record.removed_text,
    }
    # In time order, each with its time, channel, direction, outcome and handler by role.
    assert [row["id"] for row in data["contacts"]] == sorted(
        contacts, key=lambda i: contacts[i]["started_at"]
    )
    call = contacts[record.call]
    assert (call["channel"], call["direction"], call["outcome"]) == ("voice", "inbound", "answered")
    assert call["handled_by"] == "a member of staff (on-call worker)"
    assert call["started_at"] == "2026-10-01T22:15:00Z"
    # His text and the reply.
    assert contacts[record.text_in]["text"].startswith("cant sleep")
    assert contacts[record.text_out]["text"].startswith("Hi, it's the line.")
    assert contacts[record.text_out]["direction"] == "outbound"
    # The text the retention schedule removed reads as its marker.
    assert contacts[record.removed_text]["text"] == subject_access.REMOVED
    assert contacts[record.removed_text]["text_removed"] is True
    # The voicemail's audio, fetched through the telephony port, is in the zip.
    assert contacts[record.voicemail]["voicemail"] == {
        "file": f"audio/{record.voicemail}.mp3",
        "held": True,
        "missing": False,
    }
    assert files[f"audio/{record.voicemail}.mp3"] == AUDIO
    # The note with both versions: what was believed when.
    (note,) = data["notes"]
    assert note["contact_id"] == record.call
    assert [v["version"] for v in note["versions"]] == [1, 2]
    assert "day centre" not in note["versions"][0]["what_happened"]
    assert note["versions"][1]["correction_reason"].startswith("It was the probation hostel")
    assert note["versions"][0]["written_by"] == "a member of staff (on-call worker)"
    # Numbers in a note are redacted as in texts; markup in it is text, never run.
    assert (
        note["versions"][1]["factors"] == "Rang his officer on [redacted] <script>alert(1)</script>"
    )
    assert b"<script>" not in files["index.html"]
    assert "Rang his officer on [redacted] <script>alert(1)</script>" in page.text
    (alert,) = data["alerts"]
    assert (alert["id"], alert["severity"]) == (record.alert, "warning")
    assert alert["acknowledged_by"] == "a member of staff (responsible officer)"
    (correction,) = data["corrections"]
    assert correction["changes"] == {"name": {"before": "Kieran Ashdon", "after": "Kieran Ashdown"}}
    assert correction["by"] == "a member of staff (administrator)"
    (hold,) = data["legal_holds"]
    assert hold["reason"] == "Coroner's inquiry about the hostel."
    # The disclosure part: roles and organisations, never names.
    who = [entry["who"] for entry in data["disclosures"]]
    assert "a member of staff (responsible officer)" in who
    assert "probation-case-system (a connected organisation's system)" in who

    text = page.text
    for words in (
        "Kieran Ashdown",
        "R3001",
        "cant sleep",
        "Hi, it's the line.",
        "He rang after a row about the hostel",
        "He rang after a row at the probation hostel",
        "It was the probation hostel, not the day centre.",
        "night calls",
        "3 calls between midnight and 6 a.m.",
        "His name was misspelt at intake.",
        "Kieran Ashdon",
        "Coroner's inquiry about the hostel.",
        "probation-case-system",
        subject_access.REMOVED,
        "Thursday 1 October 2026, 23:15",  # 22:15 UTC in British Summer Time
        "on-call worker",
    ):
        assert words in text, words
    assert f"audio/{record.voicemail}.mp3" in page.links
    assert {f"contact-{record.call}", f"alert-{record.alert}"} <= page.ids


@pytest.mark.hazard("H280")
def test_no_other_participants_data_is_in_any_file(
    app: Flask, clock: FakeClock, record: Record, telephony: FakeTelephony
) -> None:
    done = _export(app, clock, _request(app, clock, record.kieran))
    files, _data, _page = _open(done.content)

    assert LIONEL_RECORDING not in telephony.fetched_recordings
    for name, content in files.items():
        assert LIONEL_AUDIO not in content, name
        lowered = content.lower()
        for mark in LIONEL_MARKS:
            assert mark.lower().encode() not in lowered, (name, mark)


@pytest.mark.hazard("H281")
def test_no_staff_or_third_party_number_is_in_any_file(
    app: Flask, clock: FakeClock, record: Record
) -> None:
    done = _export(app, clock, _request(app, clock, record.kieran))
    files, data, _page = _open(done.content)

    for number in (WORKER, OFFICER, ADMIN, THIRD_PARTY):
        for form in _forms(number):
            for name, content in files.items():
                assert form.encode() not in content, (name, form)
    contacts = {row["id"]: row for row in data["contacts"]}
    # His own numbers stay, in the contacts and in his words; the line reads as the line.
    assert contacts[record.call]["from"] == KIERAN
    assert contacts[record.call]["to"] == subject_access.THE_LINE
    assert contacts[record.text_in]["from"] == KIERAN_SECOND
    assert contacts[record.text_in]["text"] == (
        "cant sleep. my sister on [redacted] says hi, or text me on 07700 900403"
    )
    assert contacts[record.text_out]["text"] == (
        "Hi, it's the line. Amara here. If it gets worse ring [redacted] or Samaritans on 116 123."
    )
    for name in STAFF_NAMES:
        assert all(name.encode() not in content for content in files.values())


def test_staff_names_appear_only_when_the_setting_allows(
    tmp_path: Path, database_url: str, clock: FakeClock, telephony: FakeTelephony
) -> None:
    from crisisline.app import create_app
    from tests.support.app import make_settings

    settings = make_settings(tmp_path, database_url, SAR_STAFF_NAMES="on")
    named = create_app({"TESTING": True}, settings=settings, clock=clock, telephony=telephony)
    try:
        record = seed(named, telephony)
        done = _export(named, clock, _request(named, clock, record.kieran))
        _files, data, page = _open(done.content)
        contacts = {row["id"]: row for row in data["contacts"]}
        assert contacts[record.call]["handled_by"] == "Amara Quayle (on-call worker)"
        assert "Amara Quayle (on-call worker)" in page.text
        # Names, never numbers.
        assert contacts[record.text_out]["text"].count("[redacted]") == 1
    finally:
        services_of(named).db.dispose()


@pytest.mark.hazard("H283")
def test_a_recording_that_cannot_be_fetched_is_listed_missing_in_both_files(
    app: Flask, clock: FakeClock, record: Record, telephony: FakeTelephony
) -> None:
    done = _export(app, clock, _request(app, clock, record.kieran))
    files, data, page = _open(done.content)

    assert LOST_RECORDING in telephony.fetched_recordings
    assert done.missing == [record.lost_voicemail]
    assert not done.complete
    assert data["complete"] is False
    assert data["voicemails_missing"] == [record.lost_voicemail]
    lost = next(row for row in data["contacts"] if row["id"] == record.lost_voicemail)
    assert lost["voicemail"] == {"file": None, "held": True, "missing": True}
    assert f"audio/{record.lost_voicemail}.mp3" not in files
    assert "Some voicemail recordings could not be copied into this bundle." in page.text
    assert "Voicemail recording missing:" in page.text


@pytest.mark.hazard("H284")
def test_the_export_is_logged_in_the_audit_log_the_access_log_and_on_the_request(
    app: Flask, clock: FakeClock, record: Record
) -> None:
    request_id = _request(app, clock, record.kieran)
    _export(app, clock, request_id)
    _export(app, clock, request_id)

    with services_of(app).db.transaction() as session:
        request = session.get(SubjectAccessRequest, request_id)
        assert request is not None
        assert (request.exports, request.last_exported_at) == (2, clock.now())
        exported = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "sar.exported")
        ).all()
        assert [(e.record_type, e.record_id, e.actor) for e in exported] == [
            ("subject_access_request", request_id, "cli")
        ] * 2
        assert exported[0].changes["voicemails_missing"] == [record.lost_voicemail]
        logged = session.scalars(select(RecordAccess).where(RecordAccess.action == "export")).all()
        assert [
            (e.record_type, e.record_id, e.participant_id, e.reason, e.actor) for e in logged
        ] == [
            (
                "participant",
                record.kieran,
                record.kieran,
                f"subject access request {request_id}",
                "cli",
            )
        ] * 2


@pytest.mark.hazard("H283")
@pytest.mark.hazard("H285")
def test_the_cli_writes_the_zip_and_exits_non_zero_when_a_recording_is_missing(
    app: Flask, runner: FlaskCliRunner, record: Record, tmp_path: Path, telephony: FakeTelephony
) -> None:
    logged = runner.invoke(args=["sar", "log", "R3001", "--received", "2026-11-20"])
    assert logged.exit_code == 0, logged.output
    output = tmp_path / "kieran.zip"

    incomplete = runner.invoke(args=["sar", "export", "R3001", "--output", str(output)])

    assert incomplete.exit_code == 3
    assert "could not be fetched" in incomplete.output
    _files, data, _page = _open(output.read_bytes())
    assert data["voicemails_missing"] == [record.lost_voicemail]

    # Never over an existing file.
    again = runner.invoke(args=["sar", "export", "R3001", "--output", str(output)])
    assert again.exit_code == 1
    assert "never overwritten" in again.output

    # With every recording to hand, the export is complete and exits 0.
    telephony.recordings[LOST_RECORDING] = b"ID3second"
    complete = runner.invoke(
        args=["sar", "export", "R3001", "--output", str(tmp_path / "second.zip")]
    )
    assert complete.exit_code == 0, complete.output
    files, data, _page = _open((tmp_path / "second.zip").read_bytes())
    assert data["complete"] is True
    assert files[f"audio/{record.lost_voicemail}.mp3"] == b"ID3second"


def test_the_cli_export_needs_a_request_of_his(
    runner: FlaskCliRunner, record: Record, tmp_path: Path
) -> None:
    output = tmp_path / "x.zip"
    none = runner.invoke(args=["sar", "export", "R3001", "--output", str(output)])
    assert none.exit_code == 1
    assert "no open subject access request" in none.output
    assert not output.exists()
    unknown = runner.invoke(args=["sar", "export", "R9999", "--output", str(output)])
    assert unknown.exit_code == 1
    assert "No participant has the reference 'R9999'" in unknown.output
    runner.invoke(args=["sar", "log", "R3002", "--received", "2026-11-20"])
    other = runner.invoke(
        args=["sar", "export", "R3001", "--request", "1", "--output", str(output)]
    )
    assert other.exit_code == 1
    assert "Request 1 is not R3001's" in other.output
    assert not output.exists()


@pytest.mark.hazard("H283")
def test_recordings_past_the_exports_time_budget_are_listed_missing_not_fetched() -> None:
    telephony = FakeTelephony()
    telephony.recordings["https://api.twilio.com/r/1"] = b"ID3one"
    recordings = [subject_access.Recording(1, "https://api.twilio.com/r/1")]

    audio, missing = subject_access.fetch_audio(telephony, recordings, budget_seconds=0)

    assert (audio, missing) == ({}, [1])
    assert telephony.fetched_recordings == []
    assert subject_access.fetch_audio(telephony, recordings) == ({1: b"ID3one"}, [])
