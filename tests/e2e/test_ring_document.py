"""The TwiML that rings staff is built once per kind of ring and kept (webhooks.voice): each
call's document must still be exactly the one built for that call alone, carry that call's
own id in every screening URL, and be built afresh when the kept form cannot be trusted."""

from __future__ import annotations

import urllib.parse
import xml.etree.ElementTree as ET

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from twilio.twiml.voice_response import VoiceResponse

from crisisline.call_models import LiveCall
from crisisline.calls import Ring
from crisisline.clock import FakeClock
from crisisline.services import Services
from escalation import Recipient
from tests.support.app import services_of, signed_post
from tests.support.call_intake import add_participant, call, sid_of
from tests.support.routing import seed
from webhooks import voice

BASE = "https://crisis.example.org"
LINE = "+447700900000"
ONE = Ring((Recipient(7, "+447700900101"),), timeout=20)
THREE = Ring(
    (Recipient(7, "+447700900101"), Recipient(8, "+447700900102"), Recipient(9, "+447700900103")),
    timeout=15,
    step=2,
    loop=1,
)


def _built_alone(call_id: int, ring: Ring, greeting: str | None, svc: Services) -> str:
    """The document for this call alone, written out verb by verb with the twilio library."""
    response = VoiceResponse()
    if greeting is not None:
        response.say(greeting, voice=svc.messages.voice, language=svc.messages.language)
    dial = response.dial(
        action=f"{BASE}/webhooks/voice/dial?step={ring.step}&loop={ring.loop}",
        method="POST",
        timeout=ring.timeout,
        caller_id=LINE,
        answer_on_bridge=True,
    )
    for recipient in ring.recipients:
        url = f"{BASE}/webhooks/voice/screen?call={call_id}&staff={recipient.staff_id}"
        dial.number(recipient.phone, url=url, method="POST")
    return str(response)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("ring", [ONE, THREE], ids=["one phone", "three phones"])
@pytest.mark.parametrize("greeting", [None, "You have reached the crisis line."])
def test_each_call_gets_the_document_built_for_it_alone(
    app: Flask, ring: Ring, greeting: str | None
) -> None:
    svc = services_of(app)
    voice._ring_parts.cache_clear()
    # The same kind of ring for calls with ids of every length: the first builds and keeps it.
    for call_id in (1, 42, 907, 123456789):
        response = voice._ring_response(call_id, ring, svc, greeting)
        assert response.status_code == 200
        assert response.mimetype == "text/xml"
        assert response.get_data(as_text=True) == _built_alone(call_id, ring, greeting, svc)
    kept = voice._ring_parts.cache_info()
    assert (kept.misses, kept.hits) == (1, 3)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_ring_of_other_phones_step_or_wording_is_not_served_from_another(app: Flask) -> None:
    svc = services_of(app)
    voice._ring_parts.cache_clear()
    variants = [
        ONE,
        THREE,
        Ring(ONE.recipients, timeout=21),
        Ring(ONE.recipients, timeout=20, step=1),
        Ring(ONE.recipients, timeout=20, loop=1),
        Ring((Recipient(7, "+447700900109"),), timeout=20),  # the same person, another phone
        Ring((Recipient(8, "+447700900101"),), timeout=20),  # another person, the same phone
    ]
    for ring in variants:
        for greeting in (None, "Hello.", "Hello again."):
            body = voice._ring_response(5, ring, svc, greeting).get_data(as_text=True)
            assert body == _built_alone(5, ring, greeting, svc)
    assert voice._ring_parts.cache_info().misses == len(variants) * 3


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_wording_containing_the_mark_is_built_for_the_call_alone(app: Flask) -> None:
    svc = services_of(app)
    greeting = f"Say {voice._CALL_ID_MARK} to the caller."
    for call_id in (3, 4):
        body = voice._ring_response(call_id, THREE, svc, greeting).get_data(as_text=True)
        assert body == _built_alone(call_id, THREE, greeting, svc)
        assert voice._CALL_ID_MARK in body  # the wording is left as written
    assert voice._ring_parts(THREE, greeting, "Polly.Amy", "en-GB", BASE, LINE) is None


def test_calls_in_a_row_each_screen_as_their_own_call(app: Flask, clock: FakeClock) -> None:
    """Through the real webhook on both engines: every Number's screening URL names the live
    call recorded for that CallSid, so the staff member accepts the call they were rung for."""
    svc = seed(services_of(app), clock)
    add_participant(svc, "R901", "Owen Tarrant", "+447700900201")
    client: FlaskClient = app.test_client()
    seen = set()
    for n in range(1, 6):
        response = call(client, n)
        numbers = list(ET.fromstring(response.data).iter("Number"))  # noqa: S314 (our TwiML)
        assert numbers, response.data
        with svc.db.transaction() as session:
            call_id = session.scalar(select(LiveCall.id).where(LiveCall.call_sid == sid_of(n)))
        assert call_id is not None
        for number in numbers:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(number.attrib["url"]).query)
            assert query["call"] == [str(call_id)]
        seen.add(call_id)
        # The screening webhook finds that call from the URL it was given.
        url = urllib.parse.urlsplit(numbers[0].attrib["url"])
        form = {"CallSid": "CA" + f"{900 + n:032d}", "To": numbers[0].text or ""}
        screen = signed_post(client, f"{url.path}?{url.query}", form)
        assert b"Owen" in screen.data and b"R901" in screen.data, screen.data
    assert len(seen) == 5
