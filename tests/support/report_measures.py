"""A small measure module for the tests of the report's API and CLI, and the contacts it reads.

The service's measures (`crisisline.call_measures`, `crisisline.care_measures`) have tests of
their own, on hand-built data with every edge case. The API and the CLI are tested here with a
measure module of their own that keeps the arithmetic obvious: inbound calls offered in the
period, and the share a person answered, each naming the contacts it counts. It reads the
real database through the same protocol (`facts`, `figures`) and is put in place of the
service's modules for the test (`installed`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from crisisline import service_report, staff
from crisisline.models import Channel, Contact, ContactOutcome, Direction, RiskLevel, StaffRole
from crisisline.participants import NewParticipant
from crisisline.participants import create as create_participant
from crisisline.reports import MEASURES, Context, Fact, Figure, MeasureDef, ids, share

OFFERED = "tests.offered"
ANSWERED_SHARE = "tests.answered_share"


@dataclass(frozen=True)
class CallFact(Fact):
    """An inbound call, and whether a person answered it."""

    contact_id: int = 0
    answered: bool = False


class InboundCalls:
    """Inbound calls offered in the period, and the share answered by a person."""

    def facts(self, session: Session, context: Context) -> Sequence[Fact]:
        rows = session.execute(
            select(Contact.id, Contact.started_at, Contact.outcome, Contact.handled_by_staff_id)
            .where(
                Contact.channel == Channel.VOICE,
                Contact.direction == Direction.INBOUND,
                Contact.started_at >= context.period.start,
                Contact.started_at < context.period.end,
            )
            .order_by(Contact.id)
        ).all()
        return [
            CallFact(
                at=started.replace(tzinfo=dt.UTC) if started.tzinfo is None else started,
                staff_id=staff_id,
                contact_id=contact_id,
                answered=outcome == ContactOutcome.ANSWERED,
            )
            for contact_id, started, outcome, staff_id in rows
        ]

    def figures(self, facts: Sequence[Fact], context: Context) -> list[Figure]:
        calls = [fact for fact in facts if isinstance(fact, CallFact)]
        answered = [fact for fact in calls if fact.answered]
        return [
            Figure(OFFERED, float(len(calls)), contact_ids=ids(f.contact_id for f in calls)),
            Figure(
                ANSWERED_SHARE,
                share(len(answered), len(calls)),
                numerator=len(answered),
                denominator=len(calls),
                contact_ids=ids(f.contact_id for f in answered),
            ),
        ]


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The test's measure module in place of the service's, its measures defined for the test."""
    monkeypatch.setitem(
        MEASURES, OFFERED, MeasureDef(OFFERED, "Calls offered (test)", "count", "Calls")
    )
    monkeypatch.setitem(
        MEASURES,
        ANSWERED_SHARE,
        MeasureDef(ANSWERED_SHARE, "Answered (test)", "share", "Calls", "answer_rate", "higher"),
    )
    monkeypatch.setattr(service_report, "MODULES", (InboundCalls(),))
    yield


@dataclass(frozen=True)
class Calls:
    """What `seed_calls` wrote: contact ids by name, the participants and the worker."""

    contacts: dict[str, int]
    participants: dict[str, int]
    worker: int


def _call(
    session: Session,
    at: dt.datetime,
    outcome: str,
    participant_id: int | None,
    staff_id: int | None = None,
    channel: Channel = Channel.VOICE,
) -> int:
    contact = Contact(
        channel=channel,
        direction=Direction.INBOUND,
        from_number=None,
        to_number="+447700900000",
        started_at=at,
        answered_at=at + dt.timedelta(seconds=20) if outcome == ContactOutcome.ANSWERED else None,
        ended_at=at + dt.timedelta(minutes=5),
        wait_seconds=20,
        duration_seconds=280 if outcome == ContactOutcome.ANSWERED else None,
        outcome=outcome,
        participant_id=participant_id,
        handled_by_staff_id=staff_id,
        body="I can't stop thinking about it" if channel is Channel.SMS else None,
        media_urls=[],
        created_at=at,
    )
    session.add(contact)
    session.flush()
    return contact.id


def london(day: int, hour: int, minute: int = 0, month: int = 11) -> dt.datetime:
    """A local time in November 2026 (GMT: London is on UTC), as a UTC instant."""
    return dt.datetime(2026, month, day, hour, minute, tzinfo=dt.UTC)


def seed_calls(session: Session, now: dt.datetime) -> Calls:
    """Ten inbound calls in the week of Monday 2 to Sunday 8 November 2026 (GMT: local time is
    UTC): six answered by Amira (two of them in the night, 00:00 to 06:00), four missed (one in
    the night, one from an unknown number); a text in the week (not a call); a call a minute
    before the week and one at the first instant after it."""
    worker = staff.create(
        session,
        staff.NewStaff("Amira Okafor", "+447700900101", None, [StaffRole.ON_CALL]),
        actor="tests",
        now=now,
    ).id
    people = {}
    for reference, name, phone in (
        ("R1001", "Daniel Price", "+447700900201"),
        ("R1002", "Marcus Reid", "+447700900202"),
    ):
        people[reference] = create_participant(
            session,
            NewParticipant(
                reference=reference,
                name=name,
                phones=[phone],
                responsible_officer_id=None,
                risk_level=RiskLevel.MEDIUM,
            ),
            actor="tests",
            now=now,
        ).id
    daniel, marcus = people["R1001"], people["R1002"]
    answered, missed = ContactOutcome.ANSWERED, ContactOutcome.MISSED
    made = {
        "before": _call(session, london(1, 23, 59), answered, daniel, worker),
        "mon_night": _call(session, london(2, 2, 15), answered, daniel, worker),
        "mon_day": _call(session, london(2, 10, 0), missed, marcus),
        "tue_day": _call(session, london(3, 11, 30), answered, marcus, worker),
        "wed_night": _call(session, london(4, 4, 10), missed, daniel),
        "thu_day": _call(session, london(5, 14, 0), answered, daniel, worker),
        "fri_day": _call(session, london(6, 9, 5), answered, marcus, worker),
        "fri_unknown": _call(session, london(6, 9, 45), missed, None),
        "sat_night": _call(session, london(7, 3, 40), answered, daniel, worker),
        "sun_day": _call(session, london(8, 12, 0), missed, marcus),
        "sun_late": _call(session, london(8, 23, 59), answered, marcus, worker),
        "text": _call(session, london(4, 12, 0), "relayed", daniel, channel=Channel.SMS),
        "after": _call(session, london(9, 0, 0), answered, daniel, worker),
    }
    return Calls(made, people, worker)
