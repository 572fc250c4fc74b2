"""A seeded history across years for the retention run's tests, and what the run must change.

`seed_history` writes, straight into the tables, three participants' and an unknown caller's
records from 2019 to now: texts with words and pictures, calls with voicemails, notes with
their follow-ups, risk alerts, access log entries, deliveries and emails, sign-in sessions,
a correction and the audit of his record. As it writes each row it works out, from the test
schedule below and in plain Python (not with crisisline.retention), whether the run at START
must change or remove that row: `History.expected` holds those rows' keys by table. A
participant under an open legal hold has rows past their time that must stay untouched.

`dump` reads every row of every table, for comparing a database before and after.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import select
from sqlalchemy.orm import Session

from crisisline.account_models import WebSession
from crisisline.alert_models import AlertEvidence, AlertSeverity, RiskAlert
from crisisline.conversation_models import SmsConversation
from crisisline.data_protection_models import LegalHold, ParticipantCorrection
from crisisline.db import Base, Database
from crisisline.email_models import Email, EmailStatus
from crisisline.escalation_models import EscalationRecord
from crisisline.models import (
    AuditEntry,
    Channel,
    Contact,
    ContactOutcome,
    Delivery,
    DeliveryStatus,
    Direction,
    Participant,
    ParticipantPhone,
    RecordAccess,
    RiskLevel,
    Staff,
)
from crisisline.note_models import ContactNote, FollowUp, RiskNow
from crisisline.retention_schedule import RetentionSchedule, parse
from tests.support.app import START

LINE = "+447700900000"
WORKER_PHONE = "+447700900401"
UNKNOWN_CALLER = "+447700900421"

# Shorter than the shipped defaults, so that a few years of history cross every rule.
TEST_SCHEDULE_TOML = """
[message_bodies]
keep = { years = 2 }
from = "record"
[voicemail_recordings]
keep = { days = 90 }
from = "record"
[call_metadata]
keep = { years = 2 }
from = "record"
[notes]
keep = { years = 3 }
from = "end_of_service"
[alerts]
keep = { years = 3 }
from = "end_of_service"
[access_log]
keep = { years = 3 }
from = "end_of_service"
[deliveries]
keep = { years = 1 }
from = "record"
[sessions]
keep = { days = 90 }
from = "record"
[participant_details]
keep = { years = 3 }
from = "end_of_service"
"""


def schedule_for_tests() -> RetentionSchedule:
    """The schedule the seeded history is planned against."""
    return parse(TEST_SCHEDULE_TOML)


# The oracle: at START, with the schedule above.
TWO_YEARS_AGO = START - relativedelta(years=2)
NINETY_DAYS_AGO = START - dt.timedelta(days=90)
ONE_YEAR_AGO = START - relativedelta(years=1)
ENDED_BY = dt.date(2023, 11, 26)  # three years before START's local date
THREE_YEARS_AGO = START - relativedelta(years=3)


def at(year: int, month: int, day: int, hour: int = 12) -> dt.datetime:
    """A UTC instant."""
    return dt.datetime(year, month, day, hour, tzinfo=dt.UTC)


@dataclass
class History:
    """What was seeded: the people's ids and the rows the run must change, by table."""

    worker_id: int = 0
    left_long_ago: int = 0  # ended 2021: everything of his is past under "end of service"
    left_lately: int = 0  # ended 2025: only the "record" rules reach him
    still_here: int = 0  # never ended
    held: int = 0  # ended 2020, under an open legal hold: nothing of his may change
    expected: dict[str, set[Any]] = field(default_factory=lambda: defaultdict(set))
    # Contacts whose recording the run must ask the provider to delete.
    recordings: set[int] = field(default_factory=set)
    held_rows: dict[str, set[Any]] = field(default_factory=lambda: defaultdict(set))


def seed_history(db: Database) -> History:
    """Write the history; what the run must change is in the returned History."""
    h = History()
    with db.transaction() as s:
        worker = Staff(
            name="Wenna Tregothnan",
            phone=WORKER_PHONE,
            created_at=at(2018, 1, 1),
            updated_at=at(2018, 1, 1),
        )
        s.add(worker)
        s.flush()
        h.worker_id = worker.id
        people = [
            ("RS-2001", "Dorian Feltwell", "+447700900411", dt.date(2021, 3, 1)),
            ("RS-2002", "Cedric Marlow", "+447700900412", dt.date(2025, 6, 1)),
            ("RS-2003", "Oswin Pettigrew", "+447700900413", None),
            ("RS-2004", "Lucan Bramwell", "+447700900414", dt.date(2020, 1, 10)),
        ]
        ids = []
        for reference, name, phone, ended in people:
            person = Participant(
                reference=reference,
                name=name,
                risk_level=RiskLevel.HIGH,
                ended_service_on=ended,
                created_at=at(2018, 6, 1),
                updated_at=at(2018, 6, 1),
            )
            person.phone_rows.append(ParticipantPhone(number=phone, position=0))
            s.add(person)
            s.flush()
            ids.append(person.id)
            _participant_records(s, h, person, phone, ended, worker.id)
        h.left_long_ago, h.left_lately, h.still_here, h.held = ids
        s.add(
            LegalHold(
                participant_id=h.held,
                reason="Court order: keep everything",
                set_at=at(2024, 1, 1),
                set_by="staff:1",
            )
        )
        # A lifted hold stops nothing.
        s.add(
            LegalHold(
                participant_id=h.left_long_ago,
                reason="Inquest",
                set_at=at(2022, 1, 1),
                set_by="staff:1",
                lifted_at=at(2023, 1, 1),
                lifted_by="staff:1",
                lift_reason="Inquest closed",
            )
        )
        _unknown_caller(s, h, worker.id)
        _staff_side(s, h, worker.id)
    return h


def _mark(h: History, table: str, key: Any, changed: bool, held: bool) -> None:
    if changed and not held:
        h.expected[table].add(key)
    elif changed:
        h.held_rows[table].add(key)


def _participant_records(
    s: Session, h: History, person: Participant, phone: str, ended: dt.date | None, worker: int
) -> None:
    held = person.reference == "RS-2004"
    person_past = ended is not None and ended <= ENDED_BY
    for year in (2019, 2021, 2023, 2025, 2026):
        started = at(year, 9 if year == 2026 else 3, 14, 1)
        text = Contact(
            channel=Channel.SMS,
            direction=Direction.INBOUND,
            from_number=phone,
            to_number=LINE,
            started_at=started,
            created_at=started,
            participant_id=person.id,
            body=f"I can't sleep again, {year}",
            media_urls=["https://api.twilio.com/m/ME1"],
            outcome=ContactOutcome.RELAYED,
        )
        call = Contact(
            channel=Channel.VOICE,
            direction=Direction.INBOUND,
            from_number=phone,
            to_number=LINE,
            started_at=started + dt.timedelta(hours=1),
            created_at=started,
            participant_id=person.id,
            outcome=ContactOutcome.VOICEMAIL,
            call_status="completed",
            recording_url=f"https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE{year}{person.id}",
            wait_seconds=40,
            ended_at=started + dt.timedelta(hours=1, minutes=3),
        )
        s.add_all([text, call])
        s.flush()
        # Bodies and numbers: two years from the contact.
        _mark(h, "contacts", text.id, started < TWO_YEARS_AGO, held)
        _mark(h, "contacts", call.id, started < TWO_YEARS_AGO, held)
        if call.started_at < NINETY_DAYS_AGO and not held:
            h.recordings.add(call.id)
        elif call.started_at < NINETY_DAYS_AGO:
            h.held_rows["recording"].add(call.id)
        note = ContactNote(
            contact_id=call.id,
            version=1,
            participant_id=person.id,
            author_staff_id=worker,
            author=f"staff:{worker}",
            written_at=started + dt.timedelta(hours=2),
            what_happened="He talked about his brother and the hostel.",
            risk_now=RiskNow.MEDIUM,
            factors="Drinking again",
            follow_up_wanted=True,
            follow_up_what="Ring him Monday",
        )
        s.add(note)
        s.flush()
        follow = FollowUp(
            contact_id=call.id,
            participant_id=person.id,
            note_id=note.id,
            asked_at=note.written_at,
            asked_by=f"staff:{worker}",
            what="Ring him Monday",
            done_what="Rang, he is fine",
        )
        alert = RiskAlert(
            participant_id=person.id,
            rule="night_voicemail",
            severity=AlertSeverity.WARNING,
            reason="Voicemail at night",
            raised_at=started,
            last_seen_at=started,
            routed_to="officer",
            resolution_note="Spoke to him, settled",
        )
        read = RecordAccess(
            at=started + dt.timedelta(days=1),
            actor=f"staff:{worker}",
            staff_id=worker,
            action="read",
            record_type="participant",
            record_id=person.id,
            participant_id=person.id,
        )
        s.add_all([follow, alert, read])
        s.flush()
        s.add(AlertEvidence(alert_id=alert.id, contact_id=call.id, added_at=started))
        chase = EscalationRecord(
            policy_name="risk-alert",
            policy={},
            subject_type="risk_alert",
            subject_id=alert.id,
            participant_id=person.id,
            summary=f"Risk alert {alert.id} (warning): {person.reference} Voicemail at night",
            status="closed",
            step_index=0,
            loop=0,
            version=1,
            opened_at=started,
            updated_at=started,
            closed_at=started,
            closed_by=f"staff:{worker}",
        )
        s.add(chase)
        s.flush()
        # The alert's rule and his details' both reach it: changed once.
        _mark(h, "escalations", chase.id, person_past, held)
        _mark(h, "contact_notes", note.id, person_past, held)
        _mark(h, "follow_ups", follow.id, person_past, held)
        _mark(h, "risk_alerts", alert.id, person_past, held)
        _mark(h, "record_access_log", read.id, person_past, held)
        # The relay of his text to the worker: one year from its creation.
        relay = Delivery(
            purpose="sms_relay",
            channel=Channel.SMS,
            to_number=WORKER_PHONE,
            from_number=LINE,
            body=f"RS text: I can't sleep again, {year}",
            status=DeliveryStatus.DELIVERED,
            next_attempt_at=started,
            created_at=started,
            updated_at=started,
        )
        # The line's acknowledgement to him.
        reply = Delivery(
            purpose="sms_reply",
            channel=Channel.SMS,
            to_number=phone,
            from_number=LINE,
            body="Thanks for your text. Someone will reply soon.",
            status=DeliveryStatus.DELIVERED,
            next_attempt_at=started,
            created_at=started,
            updated_at=started,
        )
        s.add_all([relay, reply])
        s.flush()
        text.delivery_id = relay.id
        _mark(h, "deliveries", relay.id, started < ONE_YEAR_AGO, held)
        _mark(h, "deliveries", reply.id, started < ONE_YEAR_AGO, held)
    conversation = SmsConversation(
        phone=phone,
        participant_id=person.id,
        status="closed",
        opened_at=at(2022, 5, 1),
        last_message_at=at(2022, 5, 1),
        closed_at=at(2022, 5, 2),
    )
    s.add(conversation)
    s.flush()
    _mark(h, "sms_conversations", conversation.id, True, held)
    s.add(
        ParticipantCorrection(
            participant_id=person.id,
            at=at(2019, 1, 1),
            actor="staff:1",
            reason="Spelling of his name",
            changes={"name": ["Dorien", person.name]},
        )
    )
    s.add(
        AuditEntry(
            at=at(2018, 6, 1),
            actor="staff:1",
            action="create",
            record_type="participant",
            record_id=person.id,
            changes={"name": person.name, "phones": [phone]},
        )
    )
    s.flush()
    correction = s.scalars(
        select(ParticipantCorrection.id).where(ParticipantCorrection.participant_id == person.id)
    ).one()
    audit = s.scalars(
        select(AuditEntry.id).where(
            AuditEntry.record_type == "participant", AuditEntry.record_id == person.id
        )
    ).one()
    _mark(h, "participants", person.id, person_past, held)
    _mark(h, "participant_phones", person.phone_rows[0].id, person_past, held)
    _mark(h, "participant_corrections", correction, person_past, held)
    _mark(h, "audit_log", audit, person_past, held)


def _unknown_caller(s: Session, h: History, worker: int) -> None:
    """A caller with no record: a missed call in 2023 returned ten minutes later, and one last
    month. Counted from their own times."""
    for started in (at(2023, 1, 10, 3), at(2026, 10, 20, 3)):
        missed = Contact(
            channel=Channel.VOICE,
            direction=Direction.INBOUND,
            from_number=UNKNOWN_CALLER,
            to_number=LINE,
            started_at=started,
            created_at=started,
            outcome=ContactOutcome.MISSED,
            call_status="completed",
            wait_seconds=90,
            ended_at=started + dt.timedelta(minutes=2),
        )
        back = Contact(
            channel=Channel.VOICE,
            direction=Direction.OUTBOUND,
            from_number=LINE,
            to_number=UNKNOWN_CALLER,
            started_at=started + dt.timedelta(minutes=10),
            created_at=started,
            outcome=ContactOutcome.CALL_BACK,
            handled_by_staff_id=worker,
            call_status="completed",
        )
        s.add_all([missed, back])
        s.flush()
        escalation = EscalationRecord(
            policy_name="crisis-missed-call",
            policy={},
            subject_type="missed_call",
            subject_id=missed.id,
            participant_id=None,
            summary=f"Missed call from {UNKNOWN_CALLER} at 03:00",
            status="closed",
            step_index=0,
            loop=0,
            version=1,
            opened_at=started,
            updated_at=started,
            closed_at=started + dt.timedelta(minutes=10),
            closed_by=f"staff:{worker}",
        )
        note = ContactNote(
            contact_id=back.id,
            version=1,
            participant_id=None,
            author_staff_id=worker,
            author=f"staff:{worker}",
            written_at=started + dt.timedelta(minutes=30),
            what_happened="His sister, worried about him.",
            risk_now=RiskNow.LOW,
        )
        s.add_all([escalation, note])
        s.flush()
        past = started < TWO_YEARS_AGO
        _mark(h, "contacts", missed.id, past, False)
        _mark(h, "contacts", back.id, past, False)
        _mark(h, "escalations", escalation.id, past, False)
        # No participant: three years from the note's own time.
        _mark(h, "contact_notes", note.id, note.written_at < THREE_YEARS_AGO, False)


def _staff_side(s: Session, h: History, worker: int) -> None:
    """Sign-in sessions, the handover email, and a delivery the dispatcher still holds."""
    for ended in (at(2026, 1, 5), at(2026, 11, 20)):
        key = f"{ended:%Y%m%d}".ljust(64, "0")
        s.add(
            WebSession(
                id_hash=key,
                staff_id=worker,
                credentials_version=1,
                created_at=ended,
                last_seen_at=ended,
                expires_at=ended + dt.timedelta(hours=12),
                ended_at=ended,
                ended_reason="signed_out",
                address="192.0.2.10",
                user_agent="Firefox",
            )
        )
        _mark(h, "web_sessions", key, ended < NINETY_DAYS_AGO, False)
    for created in (at(2025, 2, 1), at(2026, 11, 1)):
        email = Email(
            purpose="handover",
            to_address="wenna@example.org",
            subject="Handover",
            text_body="RS-2001 D. Feltwell: voicemail at night",
            html_body="<p>RS-2001</p>",
            message_id=f"<{created:%Y%m%d}@crisis.example.org>",
            status=EmailStatus.SENT,
            next_attempt_at=created,
            created_at=created,
            updated_at=created,
        )
        s.add(email)
        s.flush()
        _mark(h, "emails", email.id, created < ONE_YEAR_AGO, False)
    stuck = Delivery(
        purpose="sms_reply",
        channel=Channel.SMS,
        to_number="+447700900412",
        from_number=LINE,
        body="Queued for a long time",
        status=DeliveryStatus.QUEUED,
        next_attempt_at=at(2024, 1, 1),
        created_at=at(2024, 1, 1),
        updated_at=at(2024, 1, 1),
    )
    s.add(stuck)


def dump(db: Database) -> dict[str, dict[Any, tuple[Any, ...]]]:
    """Every row of every table, by primary key."""
    tables: dict[str, dict[Any, tuple[Any, ...]]] = {}
    with db.transaction() as s:
        for table in Base.metadata.sorted_tables:
            keys = [c.name for c in table.primary_key.columns]
            rows: dict[Any, tuple[Any, ...]] = {}
            for row in s.execute(select(table)).mappings():
                key = tuple(row[k] for k in keys)
                rows[key[0] if len(key) == 1 else key] = tuple(
                    repr(row[c.name]) for c in table.columns
                )
            tables[table.name] = rows
    return tables


def changed_rows(
    before: dict[str, dict[Any, tuple[Any, ...]]], after: dict[str, dict[Any, tuple[Any, ...]]]
) -> dict[str, set[Any]]:
    """The keys of the rows changed or removed, by table (rows added are not counted)."""
    changed: dict[str, set[Any]] = {}
    for name, rows in before.items():
        keys = {k for k, v in rows.items() if after[name].get(k) != v}
        if keys:
            changed[name] = keys
    return changed
