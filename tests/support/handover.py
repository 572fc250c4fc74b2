"""A night on the line, built by hand for the handover's tests: people, rotas, contacts around
the edges of the period, notes, alerts, follow-ups, escalations and failures.

The period is Saturday 5 December 2026 08:30 to Sunday 6 December 08:30, Europe/London (GMT:
local time is UTC), across midnight. Every message body and every note's text carries a
marker (BODY-/NOTE-) so that a test can assert none reaches an email or a text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from crisisline import contact_notes, contacts, participants, rota_service, staff
from crisisline.alert_models import AlertSeverity, AlertStatus, RiskAlert
from crisisline.conversation_models import SmsConversation
from crisisline.email_models import Email, EmailStatus
from crisisline.escalation_models import EscalationEvent, EscalationRecord
from crisisline.models import (
    Channel,
    Contact,
    ContactOutcome,
    Delivery,
    DeliveryStatus,
    Direction,
    ProviderOutage,
    RiskLevel,
    StaffRole,
)
from crisisline.note_models import NoteAction, RiskNow
from tests.support.team import add_weekly_rota

UTC = dt.UTC
START = dt.datetime(2026, 12, 5, 8, 30, tzinfo=UTC)
END = dt.datetime(2026, 12, 6, 8, 30, tzinfo=UTC)
NOW = dt.datetime(2026, 12, 6, 8, 30, tzinfo=UTC)
SETUP = dt.datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

AMIRA, TOM, PRIYA = "+447700900101", "+447700900102", "+447700900103"
OLU, CARA, DANA, SAM = "+447700900104", "+447700900105", "+447700900106", "+447700900107"
DANIEL, MARCUS, LEON = "+447700900201", "+447700900202", "+447700900203"
UNKNOWN_VOICEMAIL, UNKNOWN_TEXT = "+447700900555", "+447700900556"

EMAIL_PRIYA = "priya.natarajan@example.org"
EMAIL_CARA = "cara.lind@example.org"
EMAIL_SAM = "sam.otieno@example.org"


@dataclass
class Night:
    """The ids of what was built, by name."""

    staff: dict[str, int]
    participants: dict[str, int]
    contacts: dict[str, int]
    alerts: dict[str, int]
    escalations: dict[str, int]
    bodies: list[str]
    note_texts: list[str]


def add_people(session: Session, now: dt.datetime = SETUP) -> dict[str, int]:
    """The staff: two on-call workers, two duty managers (one with an email), an officer, a
    clinical lead with an email, an administrator, and an inactive duty manager with one."""
    people = [
        ("amira", "Amira Okafor", AMIRA, None, [StaffRole.ON_CALL]),
        ("tom", "Tom Hughes", TOM, None, [StaffRole.ON_CALL]),
        ("priya", "Priya Natarajan", PRIYA, EMAIL_PRIYA, [StaffRole.DUTY_MANAGER]),
        ("olu", "Olu Bello", OLU, None, [StaffRole.RESPONSIBLE_OFFICER]),
        ("cara", "Cara Lind", CARA, EMAIL_CARA, [StaffRole.CLINICAL_LEAD]),
        ("dana", "Dana Moss", DANA, None, [StaffRole.DUTY_MANAGER]),
        ("sam", "Sam Otieno", SAM, EMAIL_SAM, [StaffRole.ADMIN]),
    ]
    ids = {}
    for key, name, phone, email, roles in people:
        ids[key] = staff.create(
            session, staff.NewStaff(name, phone, email, roles), actor="t", now=now
        ).id
    return ids


def _contact(session: Session, at: dt.datetime, **fields: Any) -> Contact:
    contact, _ = contacts.record(session, twilio_sid=None, started_at=at, **fields)
    return contact


def _call(
    session: Session,
    at: dt.datetime,
    number: str | None,
    participant_id: int | None,
    outcome: ContactOutcome,
    handled_by: int | None = None,
) -> Contact:
    contact = _contact(
        session,
        at,
        channel=Channel.VOICE,
        direction=Direction.INBOUND,
        from_number=number,
        to_number="+447700900000",
        participant_id=participant_id,
        outcome=outcome,
        handled_by_staff_id=handled_by,
    )
    contact.ended_at = at + dt.timedelta(minutes=10)
    return contact


def _text_in(
    session: Session,
    at: dt.datetime,
    number: str,
    participant_id: int | None,
    body: str,
    outcome: ContactOutcome = ContactOutcome.RELAYED,
    conversation_id: int | None = None,
) -> Contact:
    contact = _contact(
        session,
        at,
        channel=Channel.SMS,
        direction=Direction.INBOUND,
        from_number=number,
        to_number="+447700900000",
        participant_id=participant_id,
        body=body,
        outcome=outcome,
    )
    contact.conversation_id = conversation_id
    session.flush()
    return contact


def note(
    session: Session,
    contact_id: int,
    author_id: int,
    at: dt.datetime,
    text: str,
    *,
    risk: RiskNow = RiskNow.LOW,
    follow_up: str | None = None,
    debrief: bool = False,
    reason: str | None = None,
) -> None:
    """A version of the contact's note, written through the notes core."""
    handled = contact_notes.handled_contact(session, contact_id)
    assert handled is not None, contact_id
    contact_notes.add_version(
        session,
        handled,
        contact_notes.NoteInput(
            what_happened=text,
            risk_now=risk,
            factors=f"{text} factors",
            actions=(NoteAction.SAFETY_PLAN, NoteAction.SIGNPOSTED),
            follow_up_wanted=follow_up is not None,
            follow_up_what=follow_up,
            debrief_wanted=debrief,
            correction_reason=reason,
        ),
        author=f"staff:{author_id}",
        author_staff_id=author_id,
        now=at,
    )


def _escalation(
    session: Session,
    participant_id: int | None,
    opened: dt.datetime,
    *,
    subject_type: str = "missed_call",
    summary: str = "Missed call from Daniel, R1001",
    status: str = "open",
    exhausted_at: dt.datetime | None = None,
) -> EscalationRecord:
    record = EscalationRecord(
        policy_name="crisis-call",
        policy={"steps": [{}, {}, {}], "repeat": 0},
        subject_type=subject_type,
        subject_id=None,
        participant_id=participant_id,
        summary=summary,
        status=status,
        step_index=0,
        loop=0,
        next_due_at=opened,
        version=1,
        opened_at=opened,
        updated_at=opened,
        exhausted_at=exhausted_at,
    )
    session.add(record)
    session.flush()
    return record


def _event(session: Session, escalation_id: int, at: dt.datetime, kind: str, **detail: Any) -> None:
    session.add(EscalationEvent(escalation_id=escalation_id, at=at, kind=kind, detail=detail))


def _delivery(session: Session, purpose: str, finished: dt.datetime, body: str) -> None:
    session.add(
        Delivery(
            purpose=purpose,
            channel=Channel.SMS,
            to_number=AMIRA,
            from_number="+447700900000",
            body=body,
            status=DeliveryStatus.FAILED,
            next_attempt_at=finished,
            created_at=finished,
            updated_at=finished,
            finished_at=finished,
        )
    )


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    """An instant in December 2026 (GMT: local is UTC)."""
    return dt.datetime(2026, 12, day, hour, minute, second, tzinfo=UTC)


def build_night(session: Session) -> Night:
    """Everything of the night, in one transaction."""
    ids = add_people(session)
    rota_ids = {
        "primary": add_weekly_rota(session, "primary", ids["amira"], now=SETUP),
        "backup": add_weekly_rota(session, "backup", ids["tom"], now=SETUP),
    }
    # A gap ahead (within 72 hours of NOW): nobody on primary on Monday morning.
    rota_service.add_override(
        session,
        rota_ids["primary"],
        rota_service.NewOverride(
            staff_id=None, start=at(7, 10), end=at(7, 12), mode="replace", reason="training"
        ),
        actor="t",
        now=SETUP,
    )
    people = {}
    for key, reference, name, phone in (
        ("daniel", "R1001", "Daniel Price", DANIEL),
        ("marcus", "R1002", "Marcus Reid", MARCUS),
        ("leon", "R1003", "Leon Shaw", LEON),
    ):
        people[key] = participants.create(
            session,
            participants.NewParticipant(reference, name, [phone], ids["olu"], RiskLevel.HIGH),
            actor="t",
            now=SETUP,
        ).id
    found: dict[str, int] = {}
    bodies: list[str] = []
    notes: list[str] = []

    # An old follow-up, still open: asked on 1 December about Marcus.
    old = _call(session, at(1, 20), MARCUS, people["marcus"], ContactOutcome.ANSWERED, ids["tom"])
    found["old_call"] = old.id
    note(session, old.id, ids["tom"], at(1, 21), "NOTE-old", follow_up="see him Monday")
    notes.append("NOTE-old")

    # Just before the period: not in it.
    before = _call(
        session, at(5, 8, 29, 59), LEON, people["leon"], ContactOutcome.ANSWERED, ids["amira"]
    )
    found["before"] = before.id
    # At the start: Marcus's missed call, called back by Tom at 09:10.
    found["missed"] = _call(session, START, MARCUS, people["marcus"], ContactOutcome.MISSED).id
    back = _contact(
        session,
        at(5, 9, 10),
        channel=Channel.VOICE,
        direction=Direction.OUTBOUND,
        from_number="+447700900000",
        to_number=MARCUS,
        participant_id=people["marcus"],
        outcome=ContactOutcome.CALL_BACK,
        handled_by_staff_id=ids["tom"],
    )
    back.ended_at = at(5, 9, 20)
    found["call_back"] = back.id
    # Daniel's call at 22:10, answered by Amira: a note, then a correction.
    answered = _call(
        session, at(5, 22, 10), DANIEL, people["daniel"], ContactOutcome.ANSWERED, ids["amira"]
    )
    found["answered"] = answered.id
    note(
        session,
        answered.id,
        ids["amira"],
        at(5, 22, 30),
        "NOTE-first",
        risk=RiskNow.HIGH,
        follow_up="NOTE-follow ring him at nine",
        debrief=True,
    )
    note(
        session,
        answered.id,
        ids["amira"],
        at(5, 22, 45),
        "NOTE-second",
        risk=RiskNow.MEDIUM,
        follow_up="NOTE-follow ring him at ten",
        debrief=True,
        reason="risk overstated",
    )
    notes += ["NOTE-first", "NOTE-second", "NOTE-follow"]
    # Daniel's text conversation across midnight, taken by Amira, who replied at 23:58.
    conversation = SmsConversation(
        phone=DANIEL,
        participant_id=people["daniel"],
        status="closed",
        handled_by_staff_id=ids["amira"],
        opened_at=at(5, 23, 50),
        last_message_at=at(6, 0, 20),
        closed_at=at(6, 1, 0),
    )
    session.add(conversation)
    session.flush()
    for minute_at, body in (
        (at(5, 23, 50), "BODY-text-one"),
        (at(5, 23, 55), "BODY-text-two"),
        (at(6, 0, 20), "BODY-text-three"),
    ):
        contact = _text_in(
            session, minute_at, DANIEL, people["daniel"], body, conversation_id=conversation.id
        )
        found.setdefault("conversation", contact.id)
        bodies.append(body)
    reply = _contact(
        session,
        at(5, 23, 58),
        channel=Channel.SMS,
        direction=Direction.OUTBOUND,
        from_number="+447700900000",
        to_number=DANIEL,
        participant_id=people["daniel"],
        body="BODY-staff-reply",
        outcome=ContactOutcome.SENT,
        handled_by_staff_id=ids["amira"],
    )
    reply.conversation_id = conversation.id
    bodies.append("BODY-staff-reply")
    # Amira's command from her own phone: staff's side, not a contact of the period.
    _text_in(session, at(6, 1, 0), AMIRA, None, "BODY-1c", ContactOutcome.STAFF_COMMAND)
    bodies.append("BODY-1c")
    # An unknown caller's voicemail at 02:00, never called back; an unknown texter at 03:00.
    voicemail = _call(session, at(6, 2), UNKNOWN_VOICEMAIL, None, ContactOutcome.VOICEMAIL)
    found["voicemail"] = voicemail.id
    found["lone_text"] = _text_in(
        session, at(6, 3), UNKNOWN_TEXT, None, "BODY-lone", ContactOutcome.GATHERED
    ).id
    bodies.append("BODY-lone")
    # At the end: the next period's.
    found["at_end"] = _call(
        session, END, MARCUS, people["marcus"], ContactOutcome.ANSWERED, ids["amira"]
    ).id

    # Risk alerts: one raised in the period (acknowledged since), one before it.
    alerts = {}
    for key, raised, status in (
        ("in_period", at(5, 22, 15), AlertStatus.ACKNOWLEDGED),
        ("before", at(5, 8, 0), AlertStatus.OPEN),
    ):
        alert = RiskAlert(
            participant_id=people["daniel"],
            rule="phrases.self_harm",
            severity=AlertSeverity.URGENT,
            reason="a text with words about self-harm",
            status=status,
            raised_at=raised,
            last_seen_at=raised,
            routed_to="officer",
        )
        session.add(alert)
        session.flush()
        alerts[key] = alert.id

    # Escalations: one reaching its second step at 23:05, one that stayed on its first, one
    # that ran out at 03:30, one that reached its second step before the period.
    escalations = {}
    second = _escalation(session, people["daniel"], at(5, 23, 0))
    _event(session, second.id, at(5, 23, 0), "notified", step=0, loop=0, staff_id=ids["amira"])
    _event(session, second.id, at(5, 23, 5), "notified", step=1, loop=0, staff_id=ids["tom"])
    escalations["second_step"] = second.id
    first_only = _escalation(session, people["marcus"], at(6, 1, 0))
    _event(session, first_only.id, at(6, 1, 0), "notified", step=0, loop=0)
    escalations["first_only"] = first_only.id
    ran_out = _escalation(
        session,
        None,
        at(6, 3, 0),
        summary=f"Missed call from {UNKNOWN_VOICEMAIL}",
        status="exhausted",
        exhausted_at=at(6, 3, 30),
    )
    escalations["ran_out"] = ran_out.id
    earlier = _escalation(session, people["leon"], at(5, 7, 50))
    _event(session, earlier.id, at(5, 7, 55), "notified", step=1, loop=0)
    escalations["earlier"] = earlier.id
    # The audit found one overdue at 05:30.
    _event(session, first_only.id, at(6, 5, 30), "overdue", version=1, late_seconds=180)

    # Failures: two escalation texts failed in the period (one before), an outage, an email.
    _delivery(session, "escalation", at(6, 3, 0), "BODY-failed-one")
    _delivery(session, "escalation", at(6, 3, 5), "BODY-failed-two")
    _delivery(session, "shift_reminder", at(5, 8, 0), "BODY-failed-before")
    bodies += ["BODY-failed-one", "BODY-failed-two"]
    session.add(
        ProviderOutage(
            started_at=at(6, 4, 0), noticed_at=at(6, 4, 2), ended_at=at(6, 4, 20), delayed=3
        )
    )
    session.add(
        Email(
            purpose="handover",
            reference="handover:2026-12-05",
            to_address=EMAIL_PRIYA,
            subject="Crisis line handover",
            text_body="x",
            html_body=None,
            message_id="<failed@example.org>",
            status=EmailStatus.FAILED,
            attempts=8,
            max_attempts=8,
            next_attempt_at=at(6, 5, 0),
            created_at=at(5, 8, 30),
            updated_at=at(6, 5, 0),
        )
    )
    session.flush()
    return Night(
        staff=ids,
        participants=people,
        contacts=found,
        alerts=alerts,
        escalations=escalations,
        bodies=bodies,
        note_texts=notes,
    )
