"""POST /webhooks/sms as Twilio sends it: signed, parsed forgivingly, never a 500."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from crisisline.app import create_app
from crisisline.clock import FakeClock
from crisisline.jobs import Jobs
from crisisline.models import Contact, Delivery, Direction
from crisisline.telephony import FakeTelephony
from tests.support.app import json_of, make_settings, services_of, signed_post

DANIEL = "+447700900501"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


def _form(sid: str = "SM" + "a" * 32, body: str = "hello", **extra: str) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "AccountSid": "AC" + "1" * 32,
        "From": DANIEL,
        "To": "+447700900000",
        "Body": body,
        "NumMedia": "0",
        **extra,
    }


def _contacts(app: Flask) -> list[Contact]:
    """The texts received, in order (the service's own replies left out)."""
    with services_of(app).db.transaction() as session:
        return list(
            session.scalars(
                select(Contact).where(Contact.direction == Direction.INBOUND).order_by(Contact.id)
            )
        )


def test_a_forged_or_unsigned_text_is_403_and_records_nothing(
    app: Flask, client: FlaskClient
) -> None:
    assert client.post("/webhooks/sms", data=_form()).status_code == 403
    forged = signed_post(client, "/webhooks/sms", _form(), token="not-the-auth-token")
    assert forged.status_code == 403
    assert _contacts(app) == []


def test_a_text_without_message_sid_or_sender_is_422_naming_the_field(
    app: Flask, client: FlaskClient
) -> None:
    no_sid = {k: v for k, v in _form().items() if k != "MessageSid"}
    response = signed_post(client, "/webhooks/sms", no_sid)
    assert response.status_code == 422
    assert json_of(response)["field"] == "MessageSid"
    no_from = {k: v for k, v in _form().items() if k != "From"}
    assert json_of(signed_post(client, "/webhooks/sms", no_from))["field"] == "From"
    bad_media = signed_post(client, "/webhooks/sms", _form(NumMedia="lots"))
    assert bad_media.status_code == 422
    assert _contacts(app) == []


def test_a_text_is_answered_with_empty_twiml_and_recorded_with_its_media(
    app: Flask, client: FlaskClient
) -> None:
    form = _form(
        body="",
        NumMedia="2",
        MediaUrl0="https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
        MediaUrl1="https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2",
    )
    response = signed_post(client, "/webhooks/sms", form)
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert response.get_data(as_text=True) == EMPTY_TWIML
    (contact,) = _contacts(app)
    assert contact.media_urls == [form["MediaUrl0"], form["MediaUrl1"]]
    assert contact.from_number == DANIEL


def test_huge_and_strange_bodies_are_cut_to_twilios_limit_and_cleaned_never_a_500(
    app: Flask, client: FlaskClient
) -> None:
    huge = signed_post(client, "/webhooks/sms", _form("SM" + "1" * 32, "x" * 20000))
    strange = signed_post(
        client, "/webhooks/sms", _form("SM" + "2" * 32, "nul\x00 bell\x07 line\nend \U0001f600")
    )
    assert (huge.status_code, strange.status_code) == (200, 200)
    first, second = _contacts(app)
    assert first.body == "x" * 1600
    assert second.body == "nul bell line\nend \U0001f600"


def test_an_unknown_sender_that_cannot_be_texted_back_is_recorded_and_pages_nobody(
    app: Flask, client: FlaskClient
) -> None:
    response = signed_post(client, "/webhooks/sms", _form(From="VODAFONE"))
    assert response.get_data(as_text=True) == EMPTY_TWIML
    assert Jobs(services_of(app)).route_texts() == 1
    (contact,) = _contacts(app)
    assert contact.outcome == "unreplyable_sender"
    with services_of(app).db.transaction() as session:
        assert session.scalars(select(Delivery)).all() == []


def test_when_the_database_is_down_the_texter_gets_the_crisis_numbers_and_logs_stay_clean(
    tmp_path: Path,
    clock: FakeClock,
    telephony: FakeTelephony,
    caplog: pytest.LogCaptureFixture,
) -> None:
    missing = tmp_path / "no-such-directory" / "crisisline.db"
    settings = make_settings(tmp_path, f"sqlite:///{missing}")
    app = create_app({"TESTING": True}, settings=settings, clock=clock, telephony=telephony)
    caplog.set_level(logging.INFO)
    response = signed_post(app.test_client(), "/webhooks/sms", _form(body="my secret words"))
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "<Message>" in text and "call 999" in text and "116 123" in text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "could not be recorded" in logged
    assert "my secret words" not in logged and DANIEL not in logged
    services_of(app).db.dispose()
