"""Contacts are recorded once per Twilio SID, however many times Twilio delivers the webhook."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from crisisline import contacts
from crisisline.models import Channel, Contact, Direction
from tests.support.app import services_of


def test_a_repeated_sid_returns_the_first_record_and_adds_nothing(app: Flask) -> None:
    svc = services_of(app)
    kwargs = {
        "channel": Channel.VOICE,
        "direction": Direction.INBOUND,
        "from_number": "+447700900201",
        "to_number": "+447700900000",
        "twilio_sid": "CA" + "c" * 32,
        "started_at": svc.clock.now(),
        "participant_id": None,
    }
    with svc.db.transaction() as session:
        first, created = contacts.record(session, **kwargs)  # type: ignore[arg-type]
        again, created_again = contacts.record(session, **kwargs)  # type: ignore[arg-type]
        assert created and not created_again
        assert again.id == first.id
    with svc.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 1


def test_contacts_without_a_sid_are_each_recorded(app: Flask) -> None:
    svc = services_of(app)
    with svc.db.transaction() as session:
        for _ in range(2):
            contacts.record(
                session,
                channel=Channel.SMS,
                direction=Direction.OUTBOUND,
                from_number="+447700900000",
                to_number="+447700900201",
                twilio_sid=None,
                started_at=svc.clock.now(),
                participant_id=None,
                body="Reply from staff",
            )
    with svc.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 2
