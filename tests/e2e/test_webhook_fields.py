"""Webhook fields are checked against the columns they go into: bad input is answered 422
naming the field, or recorded with the value cleaned and cut; never the fail-safe path. H124.

Signed webhooks used to take any field up to 200 characters, but `contacts.twilio_sid` holds
64: a 192-character MessageSid or a NUL in From failed in the database, took the fallback
path and was logged as if the database were down. Now a SID (which identifies the contact) is
a Twilio SID or 422; a field that describes the contact (who, what was said, the recording) is
cleaned of control characters and cut to its column, and the contact is recorded: an unknown
caller is still a caller.
"""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from crisisline.call_models import LiveCall
from crisisline.clock import FakeClock
from crisisline.models import Contact
from crisisline.services import Services
from tests.support.app import json_of, signed_post
from tests.support.call_intake import CALLER, LINE, intake_services

SMS_SID = "SM" + "ab" * 16
CALL_SID = "CA" + "cd" * 16
# Logged when a webhook could not record (the database path), never for bad input.
FAIL_SAFE_LOGS = ("could not be recorded", "answering with the fail-safe", "kept in the spool")


@pytest.fixture
def svc(app: Flask, clock: FakeClock) -> Services:
    return intake_services(app, clock)


def _text(**fields: str) -> dict[str, str]:
    form = {"MessageSid": SMS_SID, "From": CALLER, "To": LINE, "Body": "hello", "NumMedia": "0"}
    form.update(fields)
    return {key: value for key, value in form.items() if value != "-"}


def _call(**fields: str) -> dict[str, str]:
    form = {"CallSid": CALL_SID, "From": CALLER, "To": LINE, "CallStatus": "ringing"}
    form.update(fields)
    return form


def _contact(svc: Services, sid: str) -> Contact | None:
    with svc.db.transaction() as session:
        return session.scalar(select(Contact).where(Contact.twilio_sid == sid))


def _no_fail_safe(svc: Services, caplog: pytest.LogCaptureFixture) -> None:
    assert not [line for line in FAIL_SAFE_LOGS if line in caplog.text]
    assert svc.spool.waiting() == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"MessageSid": "SM" + "a" * 190}, "MessageSid"),  # 192 characters
        ({"MessageSid": "SM1"}, "MessageSid"),
        ({"MessageSid": "SM" + "g" * 32}, "MessageSid"),  # not hex
        ({"MessageSid": "sm" + "a" * 32}, "MessageSid"),
        ({"MessageSid": "SM" + "a" * 31 + "\x00"}, "MessageSid"),
        ({"MessageSid": "-", "SmsSid": "SM" + "a" * 40}, "SmsSid"),
        ({"NumMedia": "9" * 30}, "NumMedia"),
        ({"NumMedia": "-1"}, "NumMedia"),
        ({"From": "-"}, "From"),
    ],
)
def test_a_text_with_a_malformed_sid_or_count_is_422_naming_the_field(
    svc: Services,
    client: FlaskClient,
    caplog: pytest.LogCaptureFixture,
    fields: dict[str, str],
    field: str,
) -> None:
    response = signed_post(client, "/webhooks/sms", _text(**fields))
    assert response.status_code == 422
    assert json_of(response)["field"] == field
    assert field in json_of(response)["message"]
    with svc.db.transaction() as session:
        assert session.scalars(select(Contact)).all() == []
    _no_fail_safe(svc, caplog)


@pytest.mark.parametrize(
    ("sender", "stored"),
    [
        (CALLER + "\x00", CALLER),  # a NUL: cleaned, and still the participant's number
        ("\x00\x07" + "garbage!" * 40, "garbage!" * 2 + "garb"),  # cut to the column
        ("\x00", None),  # nothing left: an unknown sender
        ("Resettle\x1b[31m", "Resettle[31m"),
    ],
)
def test_a_text_from_a_sender_with_a_nul_or_garbage_is_recorded_cleaned_and_cut(
    svc: Services,
    client: FlaskClient,
    caplog: pytest.LogCaptureFixture,
    sender: str,
    stored: str | None,
) -> None:
    response = signed_post(client, "/webhooks/sms", _text(From=sender, To=LINE + "\x00"))
    assert response.status_code == 200
    contact = _contact(svc, SMS_SID)
    assert contact is not None
    assert contact.from_number == stored
    assert contact.to_number == LINE
    assert (contact.participant_id is not None) == (stored == CALLER)
    _no_fail_safe(svc, caplog)


def test_a_huge_body_and_media_links_are_cut_to_what_is_stored(
    svc: Services, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    body = "help\x00 " + "x" * 100_000
    link = "https://api.twilio.com/Media/" + "m" * 2_000
    form = _text(Body=body, NumMedia="2", MediaUrl0=link, MediaUrl1="\x00\x01")
    response = signed_post(client, "/webhooks/sms", form)
    assert response.status_code == 200
    contact = _contact(svc, SMS_SID)
    assert contact is not None and contact.body is not None
    assert len(contact.body) == 1600  # clean_body's limit: what is relayed and stored
    assert contact.body.startswith("help x")
    assert contact.media_urls == [link[:500]]  # an empty link is no link
    _no_fail_safe(svc, caplog)


@pytest.mark.parametrize(
    "call_sid",
    ["CA" + "a" * 190, "CA123", "CA" + "z" * 32, "", "CA" + "a" * 32 + "\x00"],
)
def test_a_call_with_a_malformed_call_sid_is_422_naming_it_not_the_fail_safe(
    svc: Services, client: FlaskClient, caplog: pytest.LogCaptureFixture, call_sid: str
) -> None:
    for path in ("/webhooks/voice", "/webhooks/voice/voicemail", "/webhooks/voice/dial"):
        response = signed_post(client, path, _call(CallSid=call_sid))
        assert response.status_code == 422, path
        assert json_of(response)["field"] == "CallSid"
    status = signed_post(
        client, "/webhooks/voice/status", _call(CallSid=call_sid, CallStatus="completed")
    )
    assert status.status_code == 422
    assert json_of(status)["field"] == "CallSid"
    with svc.db.transaction() as session:
        assert session.scalars(select(Contact)).all() == []
    _no_fail_safe(svc, caplog)


@pytest.mark.parametrize(
    "caller",
    ["\x00" + CALLER, "anonymous\x00", "9" * 5_000, "\x00", "☎" * 199],
)
def test_a_call_from_a_caller_with_a_nul_or_garbage_rings_on_call_and_is_recorded(
    svc: Services, client: FlaskClient, caplog: pytest.LogCaptureFixture, caller: str
) -> None:
    response = signed_post(client, "/webhooks/voice", _call(From=caller, To="\x00" + LINE))
    assert response.status_code == 200
    assert b"<Number" in response.data  # rung like any other caller
    contact = _contact(svc, CALL_SID)
    assert contact is not None
    assert contact.from_number in (CALLER, None)
    assert contact.to_number == LINE
    _no_fail_safe(svc, caplog)


def test_a_voicemail_with_a_long_link_or_odd_length_is_kept_cut_to_its_column(
    svc: Services, app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    assert signed_post(client, "/webhooks/voice", _call()).status_code == 200
    link = "https://api.twilio.com/Recordings/RE1\x00" + "r" * 2_000
    form = _call(RecordingUrl=link, RecordingDuration="9" * 40)
    response = signed_post(client, "/webhooks/voice/voicemail", form)
    assert response.status_code == 200
    assert svc.messages.voicemail_thanks in response.get_data(as_text=True)
    contact = _contact(svc, CALL_SID)
    assert contact is not None and contact.recording_url is not None
    assert contact.recording_url == link.replace("\x00", "")[:500]
    assert contact.outcome == "voicemail"
    with svc.db.transaction() as session:
        live = session.scalar(select(LiveCall).where(LiveCall.call_sid == CALL_SID))
        assert live is not None and live.detail["voicemail_seconds"] is None
    _no_fail_safe(svc, caplog)


def test_a_status_callback_with_an_odd_duration_or_status_still_ends_the_call(
    svc: Services, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    assert signed_post(client, "/webhooks/voice", _call()).status_code == 200
    too_long = _call(CallStatus="c" * 300)
    response = signed_post(client, "/webhooks/voice/status", too_long)
    assert response.status_code == 422
    assert json_of(response)["field"] == "CallStatus"
    odd = _call(CallStatus="completed", CallDuration="1" * 40)
    assert signed_post(client, "/webhooks/voice/status", odd).status_code == 204
    contact = _contact(svc, CALL_SID)
    assert contact is not None
    assert contact.ended_at is not None and contact.duration_seconds is None
    assert contact.outcome == "abandoned"
    _no_fail_safe(svc, caplog)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"MessageSid": "SM" + "a" * 100}, "MessageSid"),  # longer than deliveries.provider_sid
        ({"SequenceNumber": "9" * 11}, "SequenceNumber"),  # more than an INTEGER holds
        ({"ErrorCode": "3" * 12}, "ErrorCode"),
    ],
)
def test_a_delivery_status_with_a_field_its_column_cannot_hold_is_422_naming_it(
    svc: Services, client: FlaskClient, fields: dict[str, str], field: str
) -> None:
    form = {"MessageSid": SMS_SID, "MessageStatus": "delivered", **fields}
    response = signed_post(client, "/webhooks/deliveries/1/status", form)
    assert response.status_code == 422
    assert json_of(response)["field"] == field
