"""db.save and contacts.record write a new row with one INSERT and attach the object without
reading it back: the object must then hold exactly the row, readable after the session closes
(an API answer is serialised after its transaction), on both engines."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from sqlalchemy import inspect

from crisisline import contacts, outbox
from crisisline.call_models import LiveCall
from crisisline.db import Base, save
from crisisline.models import Channel, Contact, Delivery, Direction
from tests.support.app import services_of


def _same_as_stored(app: Flask, obj: Base) -> None:
    """Every column of `obj` (read after its session closed) equals the stored row."""
    svc = services_of(app)
    model = type(obj)
    columns = [prop.key for prop in inspect(model).column_attrs]
    held = {key: getattr(obj, key) for key in columns}  # raises if anything was left unloaded
    with svc.db.transaction() as session:
        stored = session.get(model, held["id"])
        assert stored is not None
        assert {key: getattr(stored, key) for key in columns} == held


def test_a_delivery_written_by_save_is_whole_after_its_session_closes(app: Flask) -> None:
    svc = services_of(app)
    with svc.db.transaction() as session:
        delivery = outbox.enqueue_sms(
            session,
            to="+447700900101",
            from_="+447700900000",
            body="Resettle crisis line: test",
            purpose="test_message",
            now=svc.clock.now(),
        )
    assert isinstance(delivery, Delivery) and delivery.provider_sid is None
    _same_as_stored(app, delivery)


def test_a_live_call_written_by_save_takes_its_column_defaults(app: Flask) -> None:
    svc = services_of(app)
    now = svc.clock.now()
    with svc.db.transaction() as session:
        contact, _ = contacts.record(
            session,
            channel=Channel.VOICE,
            direction=Direction.INBOUND,
            from_number="+447700900201",
            to_number="+447700900000",
            twilio_sid="CA" + "5" * 32,
            started_at=now,
            participant_id=None,
        )
        live = LiveCall(
            call_sid="CA" + "5" * 32,
            contact_id=contact.id,
            kind="crisis",
            started_at=now,
            updated_at=now,
        )
        save(session, live)
    # Never set: the model's defaults (-1, 0, [] and {}) and NULLs, as a flush would give.
    assert (live.step_index, live.loop, live.ringing, live.detail) == (-1, 0, [], {})
    assert live.accepted_staff_id is None and live.fallback_at is None
    _same_as_stored(app, live)
    _same_as_stored(app, contact)


def test_a_contact_recorded_once_is_whole_after_its_session_closes(app: Flask) -> None:
    svc = services_of(app)
    with svc.db.transaction() as session:
        contact, created = contacts.record(
            session,
            channel=Channel.SMS,
            direction=Direction.INBOUND,
            from_number="+447700900201",
            to_number="+447700900000",
            twilio_sid="SM" + "6" * 32,
            started_at=svc.clock.now() - dt.timedelta(minutes=1),
            participant_id=None,
            body="are you there?",
            media_urls=["https://api.twilio.com/media/ME1"],
        )
    assert created
    assert isinstance(contact, Contact) and contact.answered_at is None
    _same_as_stored(app, contact)
