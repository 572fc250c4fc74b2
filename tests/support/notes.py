"""Contacts that take notes, and the people who may (or may not) read and write them, on the
alerts_service team (tests/support/risk_alerts.py): a call from R2001 that Amira Okafor took,
a text conversation of his that Tom Hughes took, a missed call nobody took, an unknown caller's
call Amira took; a clinical lead and an administrator besides the officers and the duty manager.
Shared by tests/integration/test_contact_notes.py, test_api_notes.py and test_console_notes.py."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import select

from crisisline import contact_notes, contacts, staff
from crisisline.alerts import Alerting
from crisisline.clock import FakeClock
from crisisline.contact_notes import NoteInput, Saved
from crisisline.conversation_models import SmsConversation
from crisisline.models import (
    Channel,
    ContactOutcome,
    Direction,
    RecordAccess,
    StaffRole,
)
from crisisline.note_models import ContactNote, RiskNow
from crisisline.permissions import Actor
from crisisline.record_access import Visit
from tests.support.console import Browser, Person, enrol
from tests.support.risk_alerts import (
    BACKUP,
    LINE,
    MANAGER,
    OFFICER,
    OFFICER_B,
    PARTICIPANT,
    PRIMARY,
    Service,
    alerts_service,
)

LEAD, ADMIN = "+447700900301", "+447700900302"
UNKNOWN_CALLER = "+447700900777"
NOON = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
CALL_AT = dt.datetime(2026, 11, 26, 1, 10, tzinfo=dt.UTC)
TEXTS_AT = dt.datetime(2026, 11, 26, 3, 0, tzinfo=dt.UTC)
NAMES = {
    PRIMARY: "Amira Okafor",
    BACKUP: "Tom Hughes",
    MANAGER: "Priya Natarajan",
    OFFICER: "Nadia Whitlock",
    OFFICER_B: "Owen Barraclough",
    LEAD: "Ruth Abernethy",
    ADMIN: "Colin Marsh",
}
ROLES = {
    PRIMARY: StaffRole.ON_CALL,
    BACKUP: StaffRole.ON_CALL,
    MANAGER: StaffRole.DUTY_MANAGER,
    OFFICER: StaffRole.RESPONSIBLE_OFFICER,
    OFFICER_B: StaffRole.RESPONSIBLE_OFFICER,
    LEAD: StaffRole.CLINICAL_LEAD,
    ADMIN: StaffRole.ADMIN,
}


@dataclass
class Line:
    """The team, the app, and the contacts' ids."""

    service: Service
    app: Flask
    clock: FakeClock
    call: int  # R2001's call, answered by Amira Okafor
    missed: int  # R2001's call nobody answered
    opening: int  # the first text of R2001's conversation, taken by Tom Hughes
    reply: int  # Tom's reply in it
    later_text: int  # R2001's second text in it
    unknown_call: int  # an unknown caller's call, answered by Amira Okafor

    def id(self, phone: str) -> int:
        return self.service.ids[phone]

    def actor(self, phone: str) -> Actor:
        return Actor(
            kind="person",
            name=NAMES[phone],
            staff_id=self.id(phone),
            roles=frozenset({ROLES[phone]}),
        )

    def visit(self, phone: str, reason: str | None = None) -> Visit:
        return Visit(actor=self.actor(phone), at=self.clock.now(), reason=reason)

    def alerting(self) -> Alerting:
        svc = self.service.svc
        return Alerting(svc.reach, svc.risk_rules, svc.settings.zone)

    def write(
        self,
        phone: str,
        contact_id: int,
        what: str = "He rang after a row with his brother; talked it through.",
        risk: RiskNow = RiskNow.LOW,
        *,
        reason: str | None = None,
        **fields: object,
    ) -> Saved:
        """Write a version of the note as `phone`'s person, through the flow."""
        note = NoteInput(what_happened=what, risk_now=risk, **fields)  # type: ignore[arg-type]
        with self.service.svc.db.transaction() as session:
            saved = contact_notes.write_note(
                session, self.visit(phone, reason), contact_id, note, alerting=self.alerting()
            )
            session.flush()
            session.expunge(saved.note)
            return saved

    def versions(self, contact_id: int) -> list[ContactNote]:
        with self.service.svc.db.transaction() as session:
            rows = contact_notes.versions(session, contact_id)
            for row in rows:
                session.expunge(row)
            return rows

    def log(self, phone: str) -> list[tuple[str, str, int | None, int | None, str | None]]:
        """(action, record type, record id, participant id, reason) of one person's entries."""
        with self.service.svc.db.transaction() as session:
            rows = session.scalars(
                select(RecordAccess)
                .where(RecordAccess.staff_id == self.id(phone))
                .order_by(RecordAccess.id)
            ).all()
            return [
                (r.action, r.record_type, r.record_id, r.participant_id, r.reason) for r in rows
            ]

    def sign_in(self, phone: str) -> Browser:
        secret, codes = enrol(self.service.svc.db, self.id(phone), self.clock.now())
        browser = Browser(self.app)
        browser.sign_in(
            Person(self.id(phone), NAMES[phone], phone, None, secret, codes), self.clock
        )
        return browser


def open_line(app: Flask, clock: FakeClock) -> Line:
    """The alerts_service team and its participants, a clinical lead and an administrator, and
    the night's contacts; the clock at noon on 26 November 2026."""
    service = alerts_service(app, clock)
    db = service.svc.db
    now = clock.now()
    with db.transaction() as session:
        for phone in (LEAD, ADMIN):
            service.ids[phone] = staff.create(
                session,
                staff.NewStaff(NAMES[phone], phone, None, [ROLES[phone]]),
                actor="t",
                now=now,
            ).id
        man = service.ids[PARTICIPANT]

        def call(at: dt.datetime, outcome: str, by: int | None, who: str = PARTICIPANT) -> int:
            contact, _ = contacts.record(
                session,
                channel=Channel.VOICE,
                direction=Direction.INBOUND,
                from_number=who,
                to_number=LINE,
                twilio_sid=None,
                started_at=at,
                participant_id=man if who == PARTICIPANT else None,
                outcome=outcome,
                handled_by_staff_id=by,
            )
            contact.ended_at = at + dt.timedelta(minutes=12)
            return contact.id

        answered = call(CALL_AT, ContactOutcome.ANSWERED, service.ids[PRIMARY])
        missed = call(CALL_AT - dt.timedelta(hours=1), ContactOutcome.MISSED, None)
        unknown = call(
            CALL_AT + dt.timedelta(hours=1),
            ContactOutcome.ANSWERED,
            service.ids[PRIMARY],
            UNKNOWN_CALLER,
        )
        conversation = SmsConversation(
            phone=PARTICIPANT,
            participant_id=man,
            status="closed",
            handled_by_staff_id=service.ids[BACKUP],
            opened_at=TEXTS_AT,
            last_message_at=TEXTS_AT + dt.timedelta(minutes=20),
            closed_at=TEXTS_AT + dt.timedelta(minutes=40),
        )
        session.add(conversation)
        session.flush()
        ids = []
        for minutes, direction, body, by in (
            (0, Direction.INBOUND, "cant sleep, head is loud", None),
            (5, Direction.OUTBOUND, "Hi, it's Tom from the line. I'm here.", service.ids[BACKUP]),
            (20, Direction.INBOUND, "ok thanks", None),
        ):
            text, _ = contacts.record(
                session,
                channel=Channel.SMS,
                direction=direction,
                from_number=PARTICIPANT if direction == Direction.INBOUND else LINE,
                to_number=LINE if direction == Direction.INBOUND else PARTICIPANT,
                twilio_sid=None,
                started_at=TEXTS_AT + dt.timedelta(minutes=minutes),
                participant_id=man,
                body=body,
                outcome=ContactOutcome.RELAYED
                if direction == Direction.INBOUND
                else ContactOutcome.SENT,
                handled_by_staff_id=by,
            )
            text.conversation_id = conversation.id
            ids.append(text.id)
    clock.advance(NOON - clock.now())
    return Line(service, app, clock, answered, missed, ids[0], ids[1], ids[2], unknown)
