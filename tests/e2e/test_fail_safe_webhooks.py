"""Twilio's Fallback URLs: a caller or texter always gets a way to help, even with no database."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from crisisline.app import create_app
from crisisline.clock import FakeClock
from crisisline.telephony import FakeTelephony
from tests.support.app import START, make_settings, services_of, signed_post
from wording.callers import CrisisMessagesError, load

CALL = {
    "CallSid": "CA" + "a" * 32,
    "AccountSid": "AC" + "1" * 32,
    "From": "+447700900201",
    "To": "+447700900000",
    "CallStatus": "ringing",
    "Direction": "inbound",
    "ErrorCode": "11205",
    "ErrorUrl": "https://crisis.example.org/webhooks/voice",
}


def _verbs(body: bytes) -> list[tuple[str, str]]:
    root = ET.fromstring(body)  # noqa: S314 (our own TwiML, parsed in a test)
    return [(child.tag, (child.text or "").strip()) for child in root]


@pytest.fixture
def broken_app(tmp_path: Path) -> Flask:
    """The app with a database that cannot be opened."""
    url = f"sqlite:///{tmp_path}/missing/dir/crisisline.db"
    settings = make_settings(tmp_path, url, FALLBACK_NUMBER="07700 900999")
    return create_app(settings=settings, clock=FakeClock(START), telephony=FakeTelephony())


def test_voice_fallback_without_fallback_number_says_the_crisis_numbers_then_hangs_up(
    app: Flask, client: FlaskClient
) -> None:
    response = signed_post(client, "/webhooks/voice/fallback", CALL)
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    verbs = _verbs(response.data)
    assert [tag for tag, _ in verbs] == ["Say", "Pause", "Say", "Hangup"]
    spoken = verbs[0][1]
    for words in ("9 9 9", "NHS 1 1 1", "option 2", "1 1 6, 1 2 3", "SHOUT", "8 5 2 5 8"):
        assert words in spoken
    say = ET.fromstring(response.data).find("Say")  # noqa: S314
    assert say is not None
    assert say.attrib == {"language": "en-GB", "voice": "Polly.Amy"}


def test_voice_fallback_dials_the_fallback_number_and_falls_through_to_the_numbers(
    broken_app: Flask,
) -> None:
    response = signed_post(broken_app.test_client(), "/webhooks/voice/fallback", CALL)
    assert response.status_code == 200
    root = ET.fromstring(response.data)  # noqa: S314
    assert [child.tag for child in root] == ["Say", "Dial", "Say", "Pause", "Say", "Hangup"]
    dial = root.find("Dial")
    assert dial is not None
    assert dial.text == "+447700900999"
    assert dial.attrib["callerId"] == "+447700900000"
    assert "action" not in dial.attrib  # falls through to the spoken numbers
    services_of(broken_app).db.dispose()


def test_sms_fallback_replies_with_the_crisis_numbers_in_gsm7(client: FlaskClient) -> None:
    form = {
        "MessageSid": "SM" + "b" * 32,
        "From": "+447700900201",
        "To": "+447700900000",
        "Body": "are you there",
    }
    response = signed_post(client, "/webhooks/sms/fallback", form)
    assert response.status_code == 200
    ((tag, text),) = _verbs(response.data)
    assert tag == "Message"
    for words in ("999", "111", "116 123", "SHOUT to 85258"):
        assert words in text


@pytest.mark.parametrize("path", ["/webhooks/voice/fallback", "/webhooks/sms/fallback"])
def test_fallback_urls_refuse_unsigned_requests(client: FlaskClient, path: str) -> None:
    assert client.post(path, data=CALL).status_code == 403


def test_shipped_messages_never_tell_people_to_text_samaritans() -> None:
    messages = load()
    for text in (messages.fallback_spoken, messages.fallback_sms):
        lowered = text.lower()
        assert "text samaritans" not in lowered
        assert "samaritans" in lowered


def test_a_messages_file_with_a_non_gsm7_text_stops_start_up(tmp_path: Path) -> None:
    bad = tmp_path / "crisis_line.toml"
    shipped = load()
    bad.write_text(
        '[voice]\nlanguage = "en-GB"\nvoice = "Polly.Amy"\ngreeting = "Hello"\n'
        'fallback = "Call 999"\nconnecting_fallback = "Hold"\nvoicemail_prompt = "Speak"\n'
        'voicemail_thanks = "Thanks"\nscreening = "Call from {caller}"\nscreening_missed = "Bye"\n'
        f"[calls]\nring_timeout_seconds = {shipped.ring_timeout_seconds}\n"
        "max_wait_seconds = 90\nvoicemail_max_seconds = 120\n"
        '[sms]\nfallback = "Call 999 \\u2014 now"\n'
    )
    with pytest.raises(CrisisMessagesError, match="GSM-7"):
        load(bad)


def test_a_messages_file_missing_a_text_names_it(tmp_path: Path) -> None:
    bad = tmp_path / "crisis_line.toml"
    bad.write_text('[voice]\nlanguage = "en-GB"\nvoice = "Polly.Amy"\n')
    with pytest.raises(CrisisMessagesError, match=r"\[voice\] greeting"):
        load(bad)
