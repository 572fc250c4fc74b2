"""Benchmark: the handover of the last 24 hours, with a small and a large history before them.

    .venv/bin/python bench/handover.py [--database-url URL] [--repeat N] [--write FILE]
        [--contacts N] [--explain] [--drop-index NAME]

Runs on SQLite in temporary files, and on PostgreSQL too when BENCH_DATABASE_URL or
TEST_DATABASE_URL is set (in throwaway schemas, dropped afterwards; nothing else is touched).
Each engine gets two databases, migrated as `crisisline db upgrade` does, holding the SAME last
24 hours: the demo staff and rotas, 10,000 participants, a few hundred contacts of every kind
(calls answered, missed, voicemails, call-backs, text conversations taken and not, lone texts)
with their notes (some corrected, some asking a follow-up or a debrief), follow-ups still open
from the days before, risk alerts, escalations reaching a second step, running out or found
overdue, failed deliveries and a failed email. They differ only in the history before the
period: the small one has 3,000 older contacts, the large one 1,000,000, each with
proportionate older notes (one per handled call), follow-ups, risk alerts, escalations with
their events (four or five each), deliveries and emails.

What is timed: `GET /handover?from=&to=` for the last 24 hours through the Flask test client
of the real app, signed in as a duty manager with a real console session, and
`crisisline.handover.build` on its own; the two sizes take turns request by request (see
bench/console_pages.py, whose machinery this reuses). The ratio is the large median over the
small one: the bar is 1.5. `--explain` (PostgreSQL) prints the large database's statements
with their EXPLAIN ANALYZE plans, the slowest first; `--drop-index` runs without an index, to
show what it is worth. Seeding is not timed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import logging
import random
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Executable, func, select, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import database_urls, machine, migrated_database, write_block
from bench.console_pages import (
    CONTACT_COLUMNS,
    LINE,
    NOW,
    Case,
    Contacts,
    Line,
    Schema,
    _app,
    _copy,
    _execute,
    _ms,
    _participants,
    _people,
    _record,
    _sign_in,
    _version,
    explain,
    measure,
    statement_counts,
)
from crisisline import contact_notes, gate, handover
from crisisline.alert_models import AlertSeverity, AlertStatus, RiskAlert
from crisisline.clock import FakeClock
from crisisline.conversation_models import SmsConversation
from crisisline.db import Base
from crisisline.email_models import Email, EmailStatus
from crisisline.escalation_models import EscalationEvent, EscalationRecord
from crisisline.models import (
    Channel,
    Contact,
    ContactOutcome,
    Delivery,
    DeliveryStatus,
    Direction,
    Participant,
)
from crisisline.note_models import ContactNote, NoteAction, RiskNow
from crisisline.services import Services

START_MARK = "<!-- bench:handover:start -->"
END_MARK = "<!-- bench:handover:end -->"
PARTICIPANTS = 10_000
SMALL, LARGE = 3_000, 1_000_000  # contacts before the period
PERIOD = dt.timedelta(hours=24)
START, END = NOW - PERIOD, NOW
ZONE = ZoneInfo("Europe/London")
YEARS = 2  # how far back the history goes
# The history's other tables, per older contact (a handled call has its note besides).
ALERTS_PER, ESCALATIONS_PER, DELIVERIES_PER, EMAILS_PER = 1 / 30, 1 / 40, 1 / 4, 1 / 200
PRESENT = 300  # contacts in the period (both databases)
BAR = 1.5
POLICY = {"steps": [{}, {}, {}], "repeat": 0}


def _query(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%MZ")


PATH = f"/handover?from={_query(START)}&to={_query(END)}"
CASES = (
    Case("page", "handover page: GET /handover?from=&to= (24 hours)", path=lambda line: PATH),
    Case(
        "build",
        "handover.build on its own (24 hours)",
        query=lambda s, line: handover.build(s, START, END, now=NOW, zone=ZONE),
    ),
)


# ---- the history before the period -------------------------------------------------------


def _rows(services: Services, query: Executable) -> list[Any]:
    with services.db.engine.connect() as conn:
        return list(conn.execute(query).all())


def _history(
    services: Services,
    total: int,
    ids: list[int],
    phones: dict[int, str],
    workers: list[int],
) -> None:
    """`total` contacts over the two years before the period (none of them ending in it), and
    the rows that history leaves in the other tables the handover reads."""
    first = START - dt.timedelta(days=365 * YEARS)
    # Two hours before the start: the longest call (half an hour and a wait) has ended and its
    # note been written before the period, so nothing of the history belongs to it.
    last = START - dt.timedelta(hours=2)
    made = Contacts(11, phones, workers)
    rng = random.Random(12)
    weights = list(
        itertools.accumulate(60.0 if n < 20 else rng.paretovariate(1.5) for n in range(len(ids)))
    )

    def contact_rows() -> Iterator[tuple[Any, ...]]:
        for pid in rng.choices(ids, cum_weights=weights, k=total):
            yield made.row(None if rng.random() < 0.05 else pid, made.at(first, last))

    _copy(services, "contacts", CONTACT_COLUMNS, contact_rows())
    handled = _rows(
        services,
        select(Contact.id, Contact.participant_id, Contact.handled_by_staff_id, Contact.ended_at)
        .where(Contact.channel == Channel.VOICE, Contact.handled_by_staff_id.is_not(None))
        .order_by(Contact.id),
    )
    # A note on each handled call, written as it ended; one in ten corrected, one in eight
    # asking a follow-up, one in forty a debrief.
    note_columns = (
        "contact_id, version, participant_id, author_staff_id, author, written_at, "
        "what_happened, risk_now, factors, actions, follow_up_wanted, follow_up_what, "
        "debrief_wanted, correction_reason"
    )

    def note_rows() -> Iterator[tuple[Any, ...]]:
        for n, (cid, pid, staff_id, ended) in enumerate(handled):
            versions = 2 if n % 10 == 0 else 1
            for version in range(1, versions + 1):
                follow = n % 8 == 0
                yield (
                    cid,
                    version,
                    pid,
                    staff_id,
                    f"staff:{staff_id}",
                    ended + dt.timedelta(minutes=version),
                    "Talked it through; calmer by the end and agreed to ring back if needed.",
                    ("none", "low", "low", "medium")[n % 4],
                    None,
                    [NoteAction.SAFETY_PLAN.value],
                    follow,
                    "Ring him in the morning about his appointment" if follow else None,
                    n % 40 == 0,
                    "Added the safety plan" if version == 2 else None,
                )

    _copy(services, "contact_notes", note_columns, note_rows())
    officer_of: dict[int, int | None] = dict(
        _rows(services, select(Participant.id, Participant.responsible_officer_id))
    )
    asked = _rows(
        services,
        select(
            ContactNote.id,
            ContactNote.contact_id,
            ContactNote.participant_id,
            ContactNote.author,
            ContactNote.written_at,
        )
        .where(ContactNote.follow_up_wanted, ContactNote.version == 1)
        .order_by(ContactNote.id),
    )

    def follow_up_rows() -> Iterator[tuple[Any, ...]]:
        for n, (note_id, cid, pid, author, written) in enumerate(asked):
            withdrawn = n % 20 == 0
            done_at = written + dt.timedelta(hours=rng.randrange(2, 48))
            officer = officer_of.get(pid) if pid is not None else None
            yield (
                cid,
                pid,
                note_id,
                officer,
                written,
                author,
                "Ring him in the morning about his appointment",
                "withdrawn" if withdrawn else "done",
                None if withdrawn else done_at,
                None if withdrawn else officer,
                None if withdrawn or officer is None else f"staff:{officer}",
                None if withdrawn else "Rang him; he is going.",
            )

    _copy(
        services,
        "follow_ups",
        "contact_id, participant_id, note_id, officer_staff_id, asked_at, asked_by, what, "
        "status, done_at, done_by_staff_id, done_by, done_what",
        follow_up_rows(),
    )
    span = (last - first).total_seconds()

    def instant() -> dt.datetime:
        return first + dt.timedelta(seconds=rng.random() * span)

    escalations = max(int(total * ESCALATIONS_PER), 1)

    def escalation_rows() -> Iterator[tuple[Any, ...]]:
        for n in range(escalations):
            opened = instant()
            closed = opened + dt.timedelta(minutes=rng.randrange(2, 90))
            ran_out = n % 20 == 0
            by = f"staff:{rng.choice(workers)}"
            yield (
                "crisis-call",
                POLICY,
                "missed_call" if n % 3 else "risk_alert",
                rng.choice(ids),
                "Past escalation",
                "closed",
                2 if ran_out else n % 2,
                0,
                None,
                3,
                None if ran_out else by,
                None if ran_out else closed,
                by,
                closed,
                closed if ran_out else None,
                opened,
                closed,
            )

    _copy(
        services,
        "escalations",
        "policy_name, policy, subject_type, participant_id, summary, status, step_index, loop, "
        "next_due_at, version, acknowledged_by, acknowledged_at, closed_by, closed_at, "
        "exhausted_at, opened_at, updated_at",
        escalation_rows(),
    )
    past = _rows(
        services,
        select(
            EscalationRecord.id,
            EscalationRecord.step_index,
            EscalationRecord.opened_at,
            EscalationRecord.closed_at,
            EscalationRecord.exhausted_at,
        )
        .where(EscalationRecord.summary == "Past escalation")
        .order_by(EscalationRecord.id),
    )

    def event_rows() -> Iterator[tuple[Any, ...]]:
        for eid, step, opened, closed, ran_out in past:
            yield (eid, opened, "opened", {"policy": "crisis-call"})
            for s in range(step + 1):
                at = opened + dt.timedelta(minutes=s)
                yield (eid, at, "notified", {"step": s, "loop": 0, "staff_id": workers[s]})
            if ran_out is not None:
                yield (eid, ran_out, "exhausted", {})
            else:
                yield (eid, closed - dt.timedelta(minutes=1), "acknowledged", {"by": "staff"})
            yield (eid, closed, "closed", {"by": "staff"})
            if eid % 97 == 0:
                yield (eid, opened + dt.timedelta(minutes=3), "overdue", {"late_seconds": 70})

    _copy(services, "escalation_events", "escalation_id, at, kind, detail", event_rows())

    def alert_rows() -> Iterator[tuple[Any, ...]]:
        for _ in range(max(int(total * ALERTS_PER), 1)):
            pid = rng.choice(ids)
            raised = instant()
            seen = raised + dt.timedelta(minutes=rng.randrange(5, 300))
            officer = officer_of.get(pid)
            by = f"staff:{officer}" if officer else "staff:1"
            yield (
                pid,
                "phrases.self_harm",
                AlertSeverity.URGENT.value,
                "a text with words about self-harm",
                AlertStatus.RESOLVED.value,
                raised,
                raised,
                1,
                officer,
                "officer" if officer else "duty_manager",
                by,
                seen,
                by,
                seen,
                "Spoke to him the next morning; safe.",
            )

    _copy(
        services,
        "risk_alerts",
        "participant_id, rule, severity, reason, status, raised_at, last_seen_at, count, "
        "recipient_staff_id, routed_to, acknowledged_by, acknowledged_at, resolved_by, "
        "resolved_at, resolution_note",
        alert_rows(),
    )
    numbers = sorted(phones.values())

    def delivery_rows() -> Iterator[tuple[Any, ...]]:
        for n in range(int(total * DELIVERIES_PER)):
            created = instant()
            finished = created + dt.timedelta(seconds=rng.randrange(2, 600))
            failed = n % 50 == 0
            status = (
                (DeliveryStatus.FAILED if n % 100 == 0 else DeliveryStatus.UNDELIVERED)
                if failed
                else DeliveryStatus.DELIVERED
            )
            yield (
                ("relay", "escalation", "note_prompt", "shift_reminder")[n % 4],
                2,
                Channel.SMS.value,
                rng.choice(numbers),
                LINE,
                "Crisis line: please ring the line back when you can.",
                1,
                status.value,
                1,
                5,
                created,
                -1,
                created,
                finished,
                None if failed else created,
                finished,
            )

    _copy(
        services,
        "deliveries",
        "purpose, priority, channel, to_number, from_number, body, segments, status, attempts, "
        "max_attempts, next_attempt_at, callback_sequence, created_at, updated_at, sent_at, "
        "finished_at",
        delivery_rows(),
    )

    def email_rows() -> Iterator[tuple[Any, ...]]:
        for n in range(max(int(total * EMAILS_PER), 1)):
            created = instant()
            failed = n % 30 == 0
            updated = created + dt.timedelta(minutes=rng.randrange(1, 120))
            yield (
                "handover",
                f"handover:{created.date().isoformat()}",
                "duty.manager@example.org",
                "Crisis line handover",
                "The handover (bench)",
                f"<bench-{n}@example.org>",
                (EmailStatus.FAILED if failed else EmailStatus.SENT).value,
                8 if failed else 1,
                8,
                created,
                created,
                updated,
                None if failed else updated,
            )

    _copy(
        services,
        "emails",
        "purpose, reference, to_address, subject, text_body, message_id, status, attempts, "
        "max_attempts, next_attempt_at, created_at, updated_at, sent_at",
        email_rows(),
    )


# ---- the period (the same in both databases) ---------------------------------------------


def _contact(session: Session, names: list[str], row: tuple[Any, ...]) -> Contact:
    contact = Contact(**dict(zip(names, row, strict=True)))
    session.add(contact)
    return contact


def _present(
    services: Services, ids: list[int], phones: dict[int, str], workers: list[int]
) -> None:
    """The last 24 hours (and the follow-ups still open from the week before), written through
    the notes core and the models, from a fixed seed: the same in both databases."""
    rng = random.Random(21)
    made = Contacts(22, phones, workers)
    names = [name.strip() for name in CONTACT_COLUMNS.split(",")]
    people = [pid for pid in ids if pid in phones][:80]
    with services.db.transaction() as session:
        # Follow-ups still open, asked in the week before: handled calls with a note asking one.
        for n in range(6):
            at = START - dt.timedelta(days=1 + n, hours=3)
            contact = _contact(session, names, made.row(people[n], at))
            contact.channel, contact.direction = Channel.VOICE, Direction.INBOUND
            contact.outcome, contact.handled_by_staff_id = ContactOutcome.ANSWERED, workers[0]
            contact.answered_at, contact.ended_at = at, at + dt.timedelta(minutes=20)
            contact.body = None
            session.flush()
            _note(session, contact.id, workers[0], at + dt.timedelta(minutes=30), n, follow=True)
        # The period's contacts: the mix of kinds, a texter's texts in one conversation.
        rows = sorted(
            (
                made.row(
                    None if rng.random() < 0.05 else rng.choice(people),
                    made.at(START + dt.timedelta(minutes=1), END - dt.timedelta(minutes=5)),
                )
                for _ in range(PRESENT)
            ),
            key=lambda row: row[4],
        )
        conversations: dict[str, SmsConversation] = {}
        found = []
        for row in rows:
            contact = _contact(session, names, row)
            found.append(contact)
            inbound_text = (
                contact.channel == Channel.SMS
                and contact.direction == Direction.INBOUND
                and contact.from_number is not None
                and contact.participant_id is not None
            )
            if not inbound_text:
                continue
            assert contact.from_number is not None
            conversation = conversations.get(contact.from_number)
            if conversation is None:
                taken = len(conversations) % 3 != 2
                conversation = SmsConversation(
                    phone=contact.from_number,
                    participant_id=contact.participant_id,
                    status="closed",
                    handled_by_staff_id=rng.choice(workers) if taken else None,
                    opened_at=contact.started_at,
                    last_message_at=contact.started_at,
                    closed_at=contact.started_at + dt.timedelta(hours=2),
                    closed_by="bench",
                    close_reason="idle",
                )
                session.add(conversation)
                session.flush()
                conversations[contact.from_number] = conversation
                if taken:
                    reply = _contact(
                        session,
                        names,
                        made.row(contact.participant_id, contact.started_at),
                    )
                    reply.channel, reply.direction = Channel.SMS, Direction.OUTBOUND
                    reply.outcome = ContactOutcome.SENT
                    reply.from_number, reply.to_number = LINE, contact.from_number
                    reply.handled_by_staff_id = conversation.handled_by_staff_id
                    reply.started_at = contact.started_at + dt.timedelta(
                        seconds=rng.randrange(60, 900)
                    )
                    reply.conversation_id = conversation.id
            contact.conversation_id = conversation.id
            conversation.last_message_at = contact.started_at
        session.flush()
        # Notes on four handled contacts in five, written within the hour; some corrected.
        for n, contact in enumerate(found):
            handled = contact_notes.handled_contact(session, contact.id)
            if handled is None or n % 5 == 4:
                continue
            # Within the hour, and before the period ends (it ends now).
            written = min(
                contact.started_at + dt.timedelta(minutes=40), END - dt.timedelta(minutes=8)
            )
            _note(session, contact.id, handled.handler_staff_id, written, n, follow=n % 6 == 0)
            if n % 7 == 0:
                _note(session, contact.id, handled.handler_staff_id, written, n, corrected=True)
        _alerts_and_escalations(session, rng, people, workers)
        _failures(session)


def _note(
    session: Session,
    contact_id: int,
    author: int,
    at: dt.datetime,
    n: int,
    *,
    follow: bool = False,
    corrected: bool = False,
) -> None:
    handled = contact_notes.handled_contact(session, contact_id)
    assert handled is not None
    contact_notes.add_version(
        session,
        handled,
        contact_notes.NoteInput(
            what_happened="Talked it through; calmer by the end.",
            risk_now=(RiskNow.LOW, RiskNow.MEDIUM, RiskNow.NONE)[n % 3],
            factors="Sleeping badly" if n % 2 else None,
            actions=(NoteAction.SAFETY_PLAN, NoteAction.SIGNPOSTED)[: 1 + n % 2],
            follow_up_wanted=follow,
            follow_up_what="Ring him about his appointment" if follow else None,
            debrief_wanted=n % 11 == 0,
            correction_reason="Added what he said about sleep" if corrected else None,
        ),
        author=f"staff:{author}",
        author_staff_id=author,
        now=at + dt.timedelta(minutes=5 if corrected else 0),
    )


def _alerts_and_escalations(
    session: Session, rng: random.Random, people: list[int], workers: list[int]
) -> None:
    for n in range(8):
        raised = START + dt.timedelta(hours=2 + 2.5 * n)
        status = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED)[n % 3]
        session.add(
            RiskAlert(
                participant_id=people[n],
                rule="phrases.self_harm",
                severity=AlertSeverity.URGENT,
                reason="a text with words about self-harm",
                status=status,
                raised_at=raised,
                last_seen_at=raised,
                routed_to="officer",
            )
        )
    for n in range(6):
        opened = START + dt.timedelta(hours=1 + 3.5 * n)
        ran_out = n == 4
        record = EscalationRecord(
            policy_name="crisis-call",
            policy=POLICY,
            subject_type="missed_call",
            subject_id=None,
            participant_id=people[10 + n],
            summary="Missed call (bench)",
            status="exhausted" if ran_out else ("open" if n == 5 else "closed"),
            step_index=2 if ran_out else n % 2,
            loop=0,
            next_due_at=None,
            version=3,
            opened_at=opened,
            updated_at=opened,
            exhausted_at=opened + dt.timedelta(minutes=12) if ran_out else None,
        )
        session.add(record)
        session.flush()
        steps = 3 if ran_out else 1 + n % 2
        events: list[tuple[str, dt.datetime, dict[str, Any]]] = [
            ("opened", opened, {"policy": "crisis-call"})
        ]
        events += [
            ("notified", opened + dt.timedelta(minutes=4 * s), {"step": s, "loop": 0})
            for s in range(steps)
        ]
        if n == 3:
            events.append(("overdue", opened + dt.timedelta(minutes=7), {"late_seconds": 95}))
        for kind, at, detail in events:
            session.add(EscalationEvent(escalation_id=record.id, at=at, kind=kind, detail=detail))


def _failures(session: Session) -> None:
    for n, status in enumerate(
        (DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED, DeliveryStatus.DELIVERED)
    ):
        finished = START + dt.timedelta(hours=5 + n)
        session.add(
            Delivery(
                purpose="escalation",
                channel=Channel.SMS,
                to_number="+447700900131",
                from_number=LINE,
                body="Crisis line: please ring the line back when you can.",
                status=status,
                next_attempt_at=finished,
                created_at=finished,
                updated_at=finished,
                finished_at=finished,
            )
        )
    failed_at = START + dt.timedelta(hours=1)
    session.add(
        Email(
            purpose="handover",
            reference=f"handover:{START.date().isoformat()}",
            to_address="duty.manager@example.org",
            subject="Crisis line handover",
            text_body="The handover (bench)",
            html_body=None,
            message_id="<bench-present@example.org>",
            status=EmailStatus.FAILED,
            attempts=8,
            max_attempts=8,
            next_attempt_at=failed_at,
            created_at=START,
            updated_at=failed_at,
        )
    )


def _analyze(services: Services) -> None:
    if services.db.engine.dialect.name != "postgresql":
        _execute(services, "ANALYZE")
        return
    raw = services.db.engine.raw_connection()
    try:
        raw.rollback()
        driver = raw.driver_connection
        assert driver is not None
        driver.autocommit = True
        driver.execute("VACUUM ANALYZE")
        driver.autocommit = False
    finally:
        raw.close()


def seed(services: Services, older: int, participants: int = PARTICIPANTS) -> Line:
    """The line: `older` contacts (and what they left) before the period, then the period."""
    manager, officers, workers = _people(services)
    ids, phones = _participants(services, officers, participants)
    _history(services, older, ids, phones, workers)
    _present(services, ids, phones, workers)
    _analyze(services)
    line = Line(cookie="", manager_id=manager, worker_id=workers[0], light=ids[0], heavy=ids[1])
    _sign_in(services, line)
    return line


# ---- running it ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    """What one database holds before the period, and in it."""

    older: int  # contacts before the period
    rows: int  # rows before the period in the other tables the handover reads
    period: int  # contacts in the period


_OTHERS = (
    "contact_notes",
    "follow_ups",
    "risk_alerts",
    "escalations",
    "escalation_events",
    "deliveries",
    "emails",
)


def _sizes(services: Services) -> Sizes:
    with services.db.engine.connect() as conn:

        def count(sql: str, **params: Any) -> int:
            return int(conn.execute(text(sql), params).scalar_one())

        older = count("select count(*) from contacts where started_at < :start", start=START)
        period = count(
            "select count(*) from contacts where started_at >= :start and started_at < :end",
            start=START,
            end=END,
        )
        rows = sum(
            int(
                conn.execute(
                    select(func.count()).select_from(Base.metadata.tables[table])
                ).scalar_one()
            )
            for table in _OTHERS
        )
    return Sizes(older=older, rows=rows, period=period)


@contextmanager
def seeded(
    url: str | None, name: str, older: int, participants: int = PARTICIPANTS
) -> Iterator[tuple[Schema, Sizes]]:
    """A migrated throwaway schema seeded with `older` contacts before the period, and an app
    signed in on it."""
    with migrated_database(url, f"bench_handover_{name}") as (_engine, database_url):
        clock = FakeClock(NOW)
        app = _app(database_url, clock)
        services: Services = app.extensions["crisisline"]
        try:
            started = time.perf_counter()
            line = seed(services, older, participants)
            sizes = _sizes(services)
            print(
                f"  seeded {name}: {sizes.older:,} older contacts and {sizes.rows:,} other rows, "
                f"{sizes.period} contacts in the period, in {time.perf_counter() - started:.0f} s"
            )
            client = app.test_client()
            client.set_cookie(gate.SESSION_COOKIE, line.cookie, domain="localhost")
            schema = Schema(name, sizes.older, app, clock, client, line)
            _record(schema)
            yield schema, sizes
        finally:
            services.db.dispose()


@dataclass(frozen=True)
class Run:
    """One engine's results."""

    version: str
    small: Sizes
    large: Sizes
    samples: dict[str, dict[str, list[float]]]
    counts: dict[str, tuple[int, int]]
    shown: tuple[int, int]  # contacts lines the handover showed (small, large): the same
    dropped: tuple[str, ...]
    participants: int

    def median_ms(self, key: str, size: str) -> float:
        return statistics.median(self.samples[key][size]) * 1000

    def ratio(self, key: str) -> float:
        return self.median_ms(key, "large") / self.median_ms(key, "small")


def _shown(schema: Schema) -> int:
    with schema.services.db.sessions() as session:
        built = handover.build(session, START, END, now=NOW, zone=ZONE)
        session.rollback()
    return sum(len(group.contacts) for group in built.participants)


def run(
    url: str | None,
    *,
    older: int = LARGE,
    small_older: int = SMALL,
    repeat: int = 100,
    show_plans: bool = False,
    participants: int = PARTICIPANTS,
    drop_index: Sequence[str] = (),
) -> Run:
    """Seed both schemas (None: SQLite files), time both cases in both; the results."""
    logging.getLogger("crisisline").setLevel(logging.WARNING)
    with ExitStack() as stack:
        small, small_sizes = stack.enter_context(seeded(url, "small", small_older, participants))
        large, large_sizes = stack.enter_context(seeded(url, "large", older, participants))
        schemas = [small, large]
        for schema in schemas:  # to show what an index is worth: the run without it
            for name in drop_index:
                _execute(schema.services, f"drop index {name}")
        counts_small = statement_counts(small, CASES)
        counts_large = statement_counts(large, CASES)
        samples = measure(schemas, CASES, repeat)
        if show_plans and large.services.db.engine.dialect.name == "postgresql":
            print(explain(large, CASES))
        return Run(
            version=_version(large),
            small=small_sizes,
            large=large_sizes,
            samples=samples,
            counts={key: (counts_small[key], counts_large[key]) for key in counts_small},
            shown=(_shown(small), _shown(large)),
            dropped=tuple(drop_index),
            participants=participants,
        )


def _table(result: Run) -> list[str]:
    lines = [
        f"| case | {result.small.older:,} older contacts: median (p95) | "
        f"{result.large.older:,} older contacts: median (p95) | ratio | statements |",
        "|---|---|---|---|---|",
    ]
    for case in CASES:
        small_ms = _ms(result.samples[case.key]["small"])
        large_ms = _ms(result.samples[case.key]["large"])
        ratio = result.ratio(case.key)
        verdict = f"{ratio:.2f}" if ratio <= BAR else f"**{ratio:.2f}** (over {BAR})"
        small_n, large_n = result.counts[case.key]
        lines.append(
            f"| {case.label} | {small_ms[0]:.2f} ms ({small_ms[1]:.2f} ms) "
            f"| {large_ms[0]:.2f} ms ({large_ms[1]:.2f} ms) | {verdict} | {small_n} / {large_n} |"
        )
    return lines


def markdown(runs: Sequence[Run], repeat: int) -> str:
    """The results block for docs/performance.md."""
    first = runs[0]
    out = [
        f"Measured {dt.date.today():%d %B %Y} on {machine()}; {first.participants:,} "
        "participants; "
        f"the same {first.small.period} contacts in the 24 hours measured "
        f"({first.shown[0]} lines in the handover) in both databases; {repeat} requests per "
        "case and size, the two sizes taking turns request by request, in five rounds; times "
        "are per request, the page through the Flask test client signed in as a duty manager. "
        "Statements: how many one request ran, small / large.",
    ]
    for result in runs:
        out += [
            "",
            f"**{result.version}**: {result.small.older:,} older contacts and "
            f"{result.small.rows:,} rows in the other tables it reads, against "
            f"{result.large.older:,} and {result.large.rows:,}"
            + (f"; without {', '.join(result.dropped)}" if result.dropped else ""),
            "",
            *_table(result),
        ]
    return "\n".join(out) + "\n"


def main() -> None:
    """Run the benchmark on each configured engine and print (or write) the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", action="append", help="sqlite, or a database URL to run on (repeat)"
    )
    parser.add_argument("--repeat", type=int, default=100, help="requests per case and size")
    parser.add_argument(
        "--contacts", type=int, default=LARGE, help="contacts before the period in the large one"
    )
    parser.add_argument("--explain", action="store_true", help="print each statement's plan")
    parser.add_argument(
        "--drop-index", action="append", default=[], help="run without this index (repeat)"
    )
    parser.add_argument("--write", type=Path, help="replace the results block in this file")
    args = parser.parse_args()
    runs = [
        run(
            url,
            older=args.contacts,
            repeat=args.repeat,
            show_plans=args.explain,
            drop_index=args.drop_index,
        )
        for url in database_urls(args.database_url)
    ]
    block = markdown(runs, args.repeat)
    print(block)
    if args.write:
        write_block(args.write, START_MARK, END_MARK, block)
        print(f"Wrote the results to {args.write}.")


if __name__ == "__main__":
    main()
