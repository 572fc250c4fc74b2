"""Benchmark: the console's pages with 1,000 and with 1,000,000 contacts stored.

    .venv/bin/python bench/console_pages.py [--database-url URL] [--repeat N] [--write FILE]
        [--contacts N] [--queries] [--explain]

Runs on SQLite in temporary files, and on PostgreSQL too when BENCH_DATABASE_URL or
TEST_DATABASE_URL is set (in throwaway schemas, dropped afterwards; nothing else is touched).
Each engine gets two databases, migrated as `crisisline db upgrade` does, holding the same
line: 10,000 participants (officers, phones, risk levels), the demo staff and rotas with more
officers and on-call workers and overrides, a few thousand past risk alerts and escalations,
and the same *present*: a dozen open alerts and escalations raised by the real risk rules, two
calls ringing, texts waiting to be routed, and two measured participants with the same last
twelve weeks (a light one, whose whole history that is, and a heavy one). They differ in the
contacts table alone: the small one has 1,000 contacts, the large one 1,000,000 (calls
answered, missed, abandoned, voicemails, call-backs, texts in and out, over two years, more at
night, a few participants with thousands each, the heavy participant with 5,000).

Each page is requested through the Flask test client of the real app (`create_app`, console
telephony, a fake clock moved on a second before each request), signed in as a duty manager
with a real console session: warm-up, then `--repeat` requests per page and size, the two
sizes taking turns request by request, in five rounds. The ratio is the large median over the
small one: the bar is 1.5. `--queries` also times the flows' queries on their own (always, for
the pages not built yet).

`--explain` (PostgreSQL) prints, for each page on the large database, the statements the
request ran with their EXPLAIN ANALYZE plans, the slowest first, to find what does not stay
flat. Seeding is not timed (about 40 s for 1,000,000 contacts by COPY on PostgreSQL).
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import io
import itertools
import json
import logging
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, insert, select, text
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import database_urls, machine, migrated_database, write_block
from crisisline import (
    accounts,
    alerts,
    caseloads,
    contact_history,
    contacts,
    demo,
    gate,
    rota_service,
    staff,
    web_sessions,
)
from crisisline.alert_models import AlertStatus
from crisisline.app import create_app
from crisisline.call_models import LiveCall
from crisisline.clock import FakeClock
from crisisline.db import Base
from crisisline.escalation_models import EscalationRecord
from crisisline.models import (
    UNROUTED_PREDICATE,
    Channel,
    Contact,
    ContactOutcome,
    Direction,
    Participant,
    ParticipantPhone,
    RecordAccess,
    StaffRole,
)
from crisisline.permissions import Actor, Permission
from crisisline.rota_models import RotaRecord
from crisisline.services import Services
from crisisline.settings import load_settings
from crisisline.telephony import ConsoleTelephony

START_MARK = "<!-- bench:console_pages:start -->"
END_MARK = "<!-- bench:console_pages:end -->"
# 02:30 in London on a winter night: the line's busy hours.
NOW = dt.datetime(2026, 11, 27, 2, 30, tzinfo=dt.UTC)
LINE = "+447700900000"
PARTICIPANTS = 10_000
SMALL, LARGE = 1_000, 1_000_000
HEAVY_HISTORY = 5_000  # the heavy participant's contacts in the large schema
RECENT = 90  # each measured participant's contacts in the last twelve weeks (both schemas)
TWELVE_WEEKS = dt.timedelta(weeks=12)
YEARS = 2  # how far back the contacts go
PAST_ALERTS, PAST_ESCALATIONS = 3_000, 2_000
OPEN_PAST_ALERTS = 40  # open warnings of the last fortnight, without escalations
RISKY_TEXTS = 12  # texts with risk words in the last hours, through the real risk rules
BAR = 1.5
STEP = dt.timedelta(seconds=1)  # the fixed clock moves on this much before each request
READ = Permission.PARTICIPANTS_READ
REASON = "Bench: reviewing the night's contacts for the duty handover"
HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
FIRST_NAMES = ("Daniel", "Lee", "Marcus", "Ryan", "Jamie", "Kieran", "Dean", "Wayne", "Craig")
LAST_NAMES = ("Price", "Carter", "Bell", "Hughes", "Walsh", "Doyle", "Reid", "Lowe", "Finch")
WORDS_IN = (
    "Can someone call me back please",
    "Rough night, can't sleep",
    "Thanks for earlier",
    "Is anyone there",
    "Got my appointment tomorrow, can you remind me of the time",
    "Feeling a bit better today",
)
WORDS_OUT = (
    "Thanks for your message. Someone will call you shortly.",
    "Hi, it's the crisis line returning your text. Are you OK to talk?",
    "Your appointment is at 10:30 at the usual office.",
)


# ---- the line as seeded --------------------------------------------------------------------


@dataclass
class Line:
    """What the seeding made that the pages need: who signs in, and whose pages are measured."""

    cookie: str
    manager_id: int
    worker_id: int
    light: int  # a participant whose whole history is his last twelve weeks
    heavy: int  # a participant with the same last twelve weeks and years before them
    contacts: int = 0
    participants: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Kind:
    """One kind of contact in the mix, and its share."""

    share: float
    channel: Channel
    direction: Direction
    outcome: str


MIX = (
    Kind(0.22, Channel.VOICE, Direction.INBOUND, ContactOutcome.ANSWERED),
    Kind(0.07, Channel.VOICE, Direction.INBOUND, ContactOutcome.MISSED),
    Kind(0.05, Channel.VOICE, Direction.INBOUND, ContactOutcome.VOICEMAIL),
    Kind(0.02, Channel.VOICE, Direction.INBOUND, ContactOutcome.ABANDONED),
    Kind(0.04, Channel.VOICE, Direction.OUTBOUND, ContactOutcome.CALL_BACK),
    Kind(0.35, Channel.SMS, Direction.INBOUND, ContactOutcome.RELAYED),
    Kind(0.25, Channel.SMS, Direction.OUTBOUND, ContactOutcome.SENT),
)
MIX_WEIGHTS = list(itertools.accumulate(kind.share for kind in MIX))
# More contacts at night (UTC hours; London is on UTC in winter, an hour ahead in summer).
HOUR_WEIGHTS = list(
    itertools.accumulate(3.0 if hour >= 21 or hour < 5 else 1.0 for hour in range(24))
)
CONTACT_COLUMNS = (
    "channel, direction, from_number, to_number, started_at, answered_at, ended_at, "
    "duration_seconds, wait_seconds, call_status, outcome, participant_id, "
    "handled_by_staff_id, body, media_urls, recording_url, created_at"
)


class Contacts:
    """Rows for the contacts table, made up deterministically from a seed."""

    def __init__(self, seed: int, phones: dict[int, str], workers: Sequence[int]) -> None:
        self.rng = random.Random(seed)
        self.phones = phones
        self.workers = list(workers)

    def at(self, first: dt.datetime, last: dt.datetime) -> dt.datetime:
        """An instant in [first, last), a night hour three times as likely as a day hour."""
        days = max((last - first).days, 1)
        for _ in range(20):
            day = first.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(
                days=self.rng.randrange(days + 1)
            )
            hour = bisect.bisect(HOUR_WEIGHTS, self.rng.random() * HOUR_WEIGHTS[-1])
            instant = day + dt.timedelta(hours=hour, seconds=self.rng.randrange(3600))
            if first <= instant < last:
                return instant
        return first + (last - first) * self.rng.random()

    def row(self, participant_id: int | None, started: dt.datetime) -> tuple[Any, ...]:
        """One contact row in CONTACT_COLUMNS order."""
        rng = self.rng
        kind = MIX[bisect.bisect(MIX_WEIGHTS, rng.random() * MIX_WEIGHTS[-1])]
        phone = self.phones.get(participant_id) if participant_id is not None else None
        inbound = kind.direction is Direction.INBOUND
        from_number, to_number = (phone, LINE) if inbound else (LINE, phone)
        answered = ended = duration = wait = status = staff_id = body = recording = None
        if kind.channel is Channel.VOICE:
            wait = rng.randrange(3, 90)
            status = "completed"
            if kind.outcome in (ContactOutcome.ANSWERED, ContactOutcome.CALL_BACK):
                duration = rng.randrange(30, 1800)
                answered = started + dt.timedelta(seconds=wait)
                ended = answered + dt.timedelta(seconds=duration)
                staff_id = rng.choice(self.workers)
            else:
                ended = started + dt.timedelta(seconds=wait + 30)
                if kind.outcome == ContactOutcome.VOICEMAIL:
                    duration = rng.randrange(10, 120)
                    recording = (
                        "https://api.twilio.com/2010-04-01/Accounts/AC"
                        + "0" * 32
                        + f"/Recordings/RE{rng.getrandbits(128):032x}"
                    )
                elif kind.outcome == ContactOutcome.ABANDONED:
                    status = "canceled"
        elif inbound:
            body = rng.choice(WORDS_IN)
        else:
            body = rng.choice(WORDS_OUT)
            staff_id = rng.choice(self.workers)
        return (
            kind.channel.value,
            kind.direction.value,
            from_number,
            to_number,
            started,
            answered,
            ended,
            duration,
            wait,
            status,
            kind.outcome,
            participant_id,
            staff_id,
            body,
            [],
            recording,
            started,
        )


def _copy(services: Services, table: str, columns: str, rows: Iterator[Sequence[Any]]) -> None:
    """Load rows into `table` and commit: COPY on PostgreSQL, inserts in batches on SQLite."""
    engine = services.db.engine
    if engine.dialect.name != "postgresql":
        names = [name.strip() for name in columns.split(",")]
        target = Base.metadata.tables[table]
        with engine.begin() as conn:
            while batch := [
                dict(zip(names, row, strict=True)) for row in itertools.islice(rows, 20_000)
            ]:
                conn.execute(insert(target), batch)
        return
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([json.dumps(v) if isinstance(v, dict | list) else v for v in row])
        raw.commit()
    finally:
        raw.close()


def _execute(services: Services, sql: str, **params: Any) -> None:
    with services.db.engine.begin() as conn:
        conn.execute(text(sql), params)


def _people(services: Services) -> tuple[int, list[int], list[int]]:
    """The demo staff and rotas, more officers and on-call workers, overrides for tonight and
    tomorrow (one leaving nobody on call); the duty manager's id, officers and workers."""
    with services.db.transaction() as session:
        demo.seed(session, now=NOW)
        for i in range(12):
            staff.create(
                session,
                staff.NewStaff(
                    f"Officer {FIRST_NAMES[i % 9]} {LAST_NAMES[(i * 4) % 9]}",
                    f"+447700900{110 + i}",
                    None,
                    [StaffRole.RESPONSIBLE_OFFICER],
                ),
                actor="bench",
                now=NOW,
            )
        for i in range(4):
            staff.create(
                session,
                staff.NewStaff(
                    f"Worker {FIRST_NAMES[(i + 3) % 9]} {LAST_NAMES[(i * 2 + 1) % 9]}",
                    f"+447700900{130 + i}",
                    None,
                    [StaffRole.ON_CALL],
                ),
                actor="bench",
                now=NOW,
            )
        rows = session.execute(
            text("select s.id, r.role from staff s join staff_roles r on r.staff_id = s.id")
        ).all()
        officers = sorted({sid for sid, role in rows if role == StaffRole.RESPONSIBLE_OFFICER})
        workers = sorted({sid for sid, role in rows if role == StaffRole.ON_CALL})
        manager = min(sid for sid, role in rows if role == StaffRole.DUTY_MANAGER)
        primary = session.scalars(select(RotaRecord).where(RotaRecord.name == "primary")).one()
        backup = session.scalars(select(RotaRecord).where(RotaRecord.name == "backup")).one()
        for rota, who, start_hours, hours, reason in (
            (primary, workers[2], 4, 8, "Cover for a training day"),
            (backup, None, 30, 6, "Nobody free: covered by the duty manager"),
            (primary, workers[3], 50, 12, "Swap"),
        ):
            rota_service.add_override(
                session,
                rota.id,
                rota_service.NewOverride(
                    staff_id=who,
                    start=NOW + dt.timedelta(hours=start_hours),
                    end=NOW + dt.timedelta(hours=start_hours + hours),
                    mode="replace",
                    reason=reason,
                ),
                actor="bench",
                now=NOW,
            )
    return manager, officers, workers


def _participants(
    services: Services, officers: list[int], count: int
) -> tuple[list[int], dict[int, str]]:
    """10,000 participants (the demo's and ours), 690 of them with a drama-range phone."""
    rng = random.Random(1)
    risks = ("low", "medium", "medium", "high", "very_high")

    def rows() -> Iterator[tuple[Any, ...]]:
        for i in range(count - len(demo.DEMO_PARTICIPANTS)):
            created = NOW - dt.timedelta(days=rng.randrange(30, 1500))
            yield (
                f"B{i:05d}",
                f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)} {i}",
                officers[i % len(officers)],
                rng.choice(risks),
                "closed" if i % 25 == 0 else "active",
                created,
                created,
            )

    _copy(
        services,
        "participants",
        "reference, name, responsible_officer_id, risk_level, status, created_at, updated_at",
        rows(),
    )
    with services.db.engine.connect() as conn:
        ids = list(conn.execute(text("select id from participants order by id")).scalars())
        phones: dict[int, str] = dict(
            conn.execute(select(ParticipantPhone.participant_id, ParticipantPhone.number)).all()
        )
    ours = [pid for pid in ids if pid not in phones]
    numbered = {pid: f"+447700900{300 + i}" for i, pid in enumerate(ours[:690])}
    _copy(
        services,
        "participant_phones",
        "participant_id, number, position",
        ((pid, number, 0) for pid, number in numbered.items()),
    )
    return ids, {**phones, **numbered}


def _present(
    services: Services, line: Line, others: list[int], phones: dict[int, str], workers: list[int]
) -> int:
    """What is happening now, the same in both schemas: the measured participants' last twelve
    weeks, risky texts through the real rules (open alerts and escalations), calls ringing,
    texts waiting to be routed. Returns how many contacts it wrote."""
    made = Contacts(2, phones, workers)
    for pid in (line.light, line.heavy):
        made.rng.seed(pid % 7 + 2)  # the same twelve weeks for both
        rows = sorted(
            (made.row(pid, made.at(NOW - TWELVE_WEEKS, NOW - dt.timedelta(hours=3))))
            for _ in range(RECENT)
        )
        rows.sort(key=lambda row: row[4])
        _copy(services, "contacts", CONTACT_COLUMNS, iter(rows))
    count = 2 * RECENT
    risky = [line.light, line.heavy, *others[: RISKY_TEXTS - 2]]
    with services.db.transaction() as session:
        for n, pid in enumerate(risky):
            at = NOW - dt.timedelta(minutes=15 + 25 * n)
            contact, _ = contacts.record(
                session,
                channel=Channel.SMS,
                direction=Direction.INBOUND,
                from_number=phones.get(pid),
                to_number=LINE,
                twilio_sid=None,
                started_at=at,
                participant_id=pid,
                body="I want to end it all tonight",
            )
            contact.outcome = ContactOutcome.RELAYED
            alerts.evaluate_contact(
                session,
                contact.id,
                at,
                services.reach,
                rules=services.risk_rules,
                zone=services.settings.zone,
            )
            count += 1
        for n, pid in enumerate(others[RISKY_TEXTS : RISKY_TEXTS + 2]):
            at = NOW - dt.timedelta(seconds=40 + 30 * n)
            contact, _ = contacts.record(
                session,
                channel=Channel.VOICE,
                direction=Direction.INBOUND,
                from_number=phones.get(pid),
                to_number=LINE,
                twilio_sid=f"CA{n:032x}",
                started_at=at,
                participant_id=pid,
                outcome=ContactOutcome.RINGING,
            )
            session.add(
                LiveCall(
                    call_sid=f"CA{n:032x}",
                    contact_id=contact.id,
                    kind="crisis",
                    step_index=0,
                    loop=0,
                    ringing=workers[:2],
                    started_at=at,
                    updated_at=at,
                    detail={},
                )
            )
            count += 1
        for n in range(3):
            contacts.record(
                session,
                channel=Channel.SMS,
                direction=Direction.INBOUND,
                from_number=f"+447700900{990 + n}",
                to_number=LINE,
                twilio_sid=f"SM{n:032x}",
                started_at=NOW - dt.timedelta(seconds=3 + n),
                participant_id=None,
                body="hello?",
                outcome=ContactOutcome.UNROUTED,
            )
            count += 1
    return count


def _past(services: Services, ids: list[int], officers: list[int], workers: list[int]) -> None:
    """Past alerts and escalations (the same in both schemas), modelled on the open ones the
    real rules raised: resolved or acknowledged, some with a closed escalation."""
    rng = random.Random(3)
    with services.db.engine.connect() as conn:
        template = conn.execute(
            select(
                EscalationRecord.policy_name, EscalationRecord.policy, EscalationRecord.subject_type
            )
            .order_by(EscalationRecord.id)
            .limit(1)
        ).one()
        rules = conn.execute(
            text("select distinct rule, severity, reason from risk_alerts order by rule")
        ).all()
        officer_of: dict[int, int | None] = dict(
            conn.execute(select(Participant.id, Participant.responsible_officer_id)).all()
        )
    policy_name, policy, subject_type = template
    first = NOW - dt.timedelta(days=365 * YEARS)
    span = (NOW - dt.timedelta(days=14) - first).total_seconds()
    escalated: list[tuple[int, dt.datetime]] = []

    def escalations() -> Iterator[tuple[Any, ...]]:
        for _ in range(PAST_ESCALATIONS):
            pid = rng.choice(ids)
            opened = first + dt.timedelta(seconds=rng.random() * span)
            closed = opened + dt.timedelta(minutes=rng.randrange(2, 240))
            by = f"staff:{rng.choice(workers)}"
            escalated.append((pid, opened))
            yield (
                policy_name,
                policy,
                subject_type,
                pid,
                "Risk alert (past)",
                "closed",
                0,
                0,
                None,
                3,
                by,
                closed,
                by,
                closed,
                opened,
                closed,
            )

    _copy(
        services,
        "escalations",
        "policy_name, policy, subject_type, participant_id, summary, status, step_index, loop, "
        "next_due_at, version, acknowledged_by, acknowledged_at, closed_by, closed_at, "
        "opened_at, updated_at",
        escalations(),
    )
    with services.db.engine.connect() as conn:
        escalation_ids = list(
            conn.execute(
                text("select id from escalations where summary = 'Risk alert (past)' order by id")
            ).scalars()
        )

    def risk_alerts() -> Iterator[tuple[Any, ...]]:
        for n in range(PAST_ALERTS):
            rule, severity, reason = rng.choice(rules)
            escalation: int | None = None
            if n < len(escalation_ids):
                pid, raised = escalated[n]
                escalation = escalation_ids[n]
            else:
                pid = rng.choice(ids)
                raised = first + dt.timedelta(seconds=rng.random() * span)
            if n >= PAST_ALERTS - OPEN_PAST_ALERTS:
                raised = NOW - dt.timedelta(minutes=rng.randrange(60, 14 * 24 * 60))
                status, escalation = AlertStatus.OPEN, None
                severity = "warning"
            elif n % 50 == 0:  # seen this month, not yet resolved
                raised = NOW - dt.timedelta(minutes=rng.randrange(24 * 60, 30 * 24 * 60))
                status = AlertStatus.ACKNOWLEDGED
            else:
                status = AlertStatus.RESOLVED
            officer = officer_of.get(pid)
            seen = raised + dt.timedelta(minutes=rng.randrange(5, 300))
            by = f"staff:{officer}" if officer else None
            yield (
                pid,
                rule,
                severity,
                reason,
                status.value,
                raised,
                raised,
                1,
                officer,
                "officer" if officer else "duty_manager",
                by if status is not AlertStatus.OPEN else None,
                officer if status is not AlertStatus.OPEN else None,
                seen if status is not AlertStatus.OPEN else None,
                by if status is AlertStatus.RESOLVED else None,
                seen if status is AlertStatus.RESOLVED else None,
                "Spoke to him the next morning; safe." if status is AlertStatus.RESOLVED else None,
                escalation,
            )

    _copy(
        services,
        "risk_alerts",
        "participant_id, rule, severity, reason, status, raised_at, last_seen_at, count, "
        "recipient_staff_id, routed_to, acknowledged_by, acknowledged_by_staff_id, "
        "acknowledged_at, resolved_by, resolved_at, resolution_note, escalation_id",
        risk_alerts(),
    )
    _execute(
        services,
        "update escalations set subject_id = (select a.id from risk_alerts a "
        "where a.escalation_id = escalations.id) where subject_id is null "
        "and exists (select 1 from risk_alerts a where a.escalation_id = escalations.id)",
    )
    with services.db.engine.connect() as conn:
        past = conn.execute(
            select(
                EscalationRecord.id,
                EscalationRecord.opened_at,
                EscalationRecord.closed_at,
                EscalationRecord.closed_by,
            ).where(EscalationRecord.summary == "Risk alert (past)")
        ).all()
    _copy(
        services,
        "escalation_events",
        "escalation_id, at, kind, detail",
        itertools.chain(
            ((row.id, row.opened_at, "opened", {"policy": policy_name}) for row in past),
            ((row.id, row.closed_at, "closed", {"by": row.closed_by}) for row in past),
        ),
    )


def _history(
    services: Services,
    line: Line,
    total: int,
    ids: list[int],
    phones: dict[int, str],
    workers: list[int],
) -> None:
    """The rest of the contacts: the heavy participant's older years (large schema only) and
    everyone else's, a few participants with thousands, a twentieth from unknown numbers."""
    made = Contacts(4, phones, workers)
    first = NOW - dt.timedelta(days=365 * YEARS)
    last = NOW - dt.timedelta(hours=1)
    heavy_older = HEAVY_HISTORY - RECENT if total >= 100 * HEAVY_HISTORY else 0
    rest = max(total - line.contacts - heavy_older, 0)
    others = [pid for pid in ids if pid not in (line.light, line.heavy)]
    rng = random.Random(5)
    weights = list(
        itertools.accumulate(60.0 if n < 20 else rng.paretovariate(1.5) for n in range(len(others)))
    )

    def rows() -> Iterator[tuple[Any, ...]]:
        for _ in range(heavy_older):
            yield made.row(line.heavy, made.at(first, NOW - TWELVE_WEEKS))
        chosen = rng.choices(others, cum_weights=weights, k=rest)
        for pid in chosen:
            who = None if rng.random() < 0.05 else pid
            yield made.row(who, made.at(first, last))

    _copy(services, "contacts", CONTACT_COLUMNS, rows())
    # Every past call left its row in `calls` and about one text in ten opened a conversation,
    # since closed: the tables the Now board and the access check read grow with history too.
    _execute(
        services,
        "insert into calls (call_sid, contact_id, kind, step_index, loop, ringing, "
        "accepted_staff_id, accepted_at, started_at, updated_at, detail) "
        "select 'CAB' || id, id, 'crisis', 0, 0, '[]', handled_by_staff_id, answered_at, "
        "started_at, coalesce(ended_at, started_at), '{}' from contacts "
        "where channel = 'voice' and direction = 'inbound' and outcome <> 'ringing'",
    )
    _execute(
        services,
        "insert into sms_conversations (phone, participant_id, status, handled_by_staff_id, "
        "opened_at, last_message_at, closed_at, closed_by, close_reason) "
        "select from_number, participant_id, 'closed', handled_by_staff_id, started_at, "
        "started_at, started_at, 'bench', 'idle' from contacts "
        "where channel = 'sms' and direction = 'inbound' and from_number is not null "
        "and outcome = 'relayed' and id % 10 = 0",
    )
    # Each past alert's evidence: the participant's last contact before it, when there is one.
    _execute(
        services,
        "insert into risk_alert_evidence (alert_id, contact_id, added_at) "
        "select alert_id, contact_id, raised_at from (select a.id as alert_id, a.raised_at, ("
        "  select c.id from contacts c where c.participant_id = a.participant_id "
        "  and c.started_at <= a.raised_at order by c.started_at desc limit 1) as contact_id "
        "  from risk_alerts a where not exists ("
        "  select 1 from risk_alert_evidence e where e.alert_id = a.id)) found "
        "where contact_id is not null",
    )
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


def _sign_in(services: Services, line: Line) -> None:
    """A console session for the duty manager, signed in through both steps, with a reason
    already given for the measured participants (outside a duty manager's own)."""
    with services.db.transaction() as session:
        token = accounts.invite(session, line.manager_id, actor="bench", now=NOW)
        account = accounts.redeem_invitation(session, token, now=NOW)
        limits = web_sessions.Limits(
            absolute=services.settings.session_absolute_limit,
            idle=services.settings.session_idle_limit,
        )
        cookie = web_sessions.begin(
            session, account, now=NOW, limits=limits, address=None, user_agent=None
        )
        row = web_sessions.find(session, cookie)
        assert row is not None
        web_sessions.complete_second_factor(row, now=NOW, limits=limits)
        for pid in (line.light, line.heavy):
            session.add(
                RecordAccess(
                    at=NOW,
                    actor=f"staff:{line.manager_id}",
                    staff_id=line.manager_id,
                    action="read",
                    record_type="participant",
                    record_id=pid,
                    participant_id=pid,
                    reason=REASON,
                    web_session_id=row.id_hash,
                )
            )
    line.cookie = cookie


def seed(services: Services, total: int, participants: int = PARTICIPANTS) -> Line:
    """The whole line, with `total` contacts."""
    manager, officers, workers = _people(services)
    ids, phones = _participants(services, officers, participants)
    ours = [pid for pid in ids if pid in phones and pid > 10]
    line = Line(
        cookie="",
        manager_id=manager,
        worker_id=workers[0],
        light=ours[10],
        heavy=ours[11],
        participants=ids,
    )
    others = [pid for pid in ours if pid not in (line.light, line.heavy)]
    line.contacts = _present(services, line, others, phones, workers)
    _past(services, ids, officers, workers)
    _history(services, line, total, ids, phones, workers)
    _sign_in(services, line)
    return line


# ---- what is timed -------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A page (a path) or, until the page exists, a query it will make (a function)."""

    key: str
    label: str
    path: Callable[[Line], str] | None = None
    query: Callable[[Session, Line], object] | None = None
    # The cases compared with each other in the large schema (heavy against light).
    pair: str | None = None


def _chart_rows(session: Session, pid: int) -> object:
    return session.execute(
        select(Contact.started_at, Contact.channel, Contact.direction).where(
            Contact.participant_id == pid, Contact.started_at >= NOW - TWELVE_WEEKS
        )
    ).all()


def _person(staff_id: int, role: StaffRole) -> Actor:
    return Actor(kind="person", name="bench", staff_id=staff_id, roles=frozenset({role}))


def _reached(session: Session, actor: Actor) -> object:
    condition = caseloads.participant_filter(actor, READ, NOW)
    query = select(Participant.id)
    if condition is not None:
        query = query.where(condition)
    return session.scalars(query).all()


def _open_escalations(session: Session, line: Line) -> object:
    return session.scalars(
        select(EscalationRecord)
        .where(EscalationRecord.status.in_(("open", "acknowledged")))
        .order_by(EscalationRecord.opened_at)
    ).all()


def _rotas_now(session: Session, line: Line) -> object:
    answers = [
        rota_service.on_call(session, rota.id, NOW) for rota in rota_service.list_rotas(session)[0]
    ]
    return answers, rota_service.gaps(session, NOW, NOW + dt.timedelta(hours=72))


def _waiting(session: Session, line: Line) -> object:
    texts = session.scalars(select(Contact.id).where(UNROUTED_PREDICATE)).all()
    calls = session.scalars(
        select(LiveCall).where(LiveCall.started_at >= NOW - dt.timedelta(hours=4))
    ).all()
    return texts, calls


PAGES = (
    Case("now", "Now board: GET /", path=lambda line: "/"),
    Case("board", "Now board fragment: GET /now/board", path=lambda line: "/now/board"),
    Case(
        "participant",
        "participant page (light history): GET /participants/{id}",
        path=lambda line: f"/participants/{line.light}",
    ),
    Case(
        "chart",
        "12-week chart (light history): GET /participants/{id}/chart.svg",
        path=lambda line: f"/participants/{line.light}/chart.svg",
    ),
    Case(
        "participant-heavy",
        "participant page (heavy history): GET /participants/{id}",
        path=lambda line: f"/participants/{line.heavy}",
        pair="participant",
    ),
    Case(
        "chart-heavy",
        "12-week chart (heavy history): GET /participants/{id}/chart.svg",
        path=lambda line: f"/participants/{line.heavy}/chart.svg",
        pair="chart",
    ),
    Case("alerts", "alert list: GET /alerts", path=lambda line: "/alerts"),
)

QUERIES = (
    Case(
        "q-timeline",
        "contact_history.timeline, first 50 (light)",
        query=lambda s, line: contact_history.timeline(s, line.light, limit=50),
    ),
    Case(
        "q-timeline-heavy",
        "contact_history.timeline, first 50 (heavy)",
        query=lambda s, line: contact_history.timeline(s, line.heavy, limit=50),
        pair="q-timeline",
    ),
    Case(
        "q-chart",
        "12 weeks of contacts (light)",
        query=lambda s, line: _chart_rows(s, line.light),
    ),
    Case(
        "q-chart-heavy",
        "12 weeks of contacts (heavy)",
        query=lambda s, line: _chart_rows(s, line.heavy),
        pair="q-chart",
    ),
    Case("q-alerts", "alerts.find, first 50", query=lambda s, line: alerts.find(s)),
    Case(
        "q-alerts-open",
        "alerts.find(status=open)",
        query=lambda s, line: alerts.find(s, status=AlertStatus.OPEN),
    ),
    Case("q-escalations", "open escalations", query=_open_escalations),
    Case(
        "q-access",
        "caseloads.access: the duty manager opens a participant",
        query=lambda s, line: caseloads.access(
            s, _person(line.manager_id, StaffRole.DUTY_MANAGER), READ, line.heavy, NOW
        ),
    ),
    Case(
        "q-worker-reach",
        "participants an on-call worker reaches (caseloads.participant_filter)",
        query=lambda s, line: _reached(s, _person(line.worker_id, StaffRole.ON_CALL)),
    ),
    Case("q-rotas", "on call now and gaps in 72 h, every rota", query=_rotas_now),
    Case("q-waiting", "texts waiting and live calls", query=_waiting),
)


@dataclass
class Schema:
    """One seeded schema: its app, its client and what the seeding made."""

    name: str
    contacts: int
    app: Flask
    clock: FakeClock
    client: FlaskClient
    line: Line
    statements: list[tuple[str, Any]] = field(default_factory=list)
    recording: bool = False

    @property
    def services(self) -> Services:
        services: Services = self.app.extensions["crisisline"]
        return services


def _once(schema: Schema, case: Case) -> float:
    """One request (or query), in seconds; a page answering anything but 200 stops the run."""
    if case.path is not None:
        # A second passes between requests, the same in both schemas: the access log's "already
        # logged lately" windows and the session's last use move on as in service.
        schema.clock.advance(STEP)
        path = case.path(schema.line)
        started = time.perf_counter()
        response = schema.client.get(path, headers={"Accept": HTML})
        response.get_data()
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise SystemExit(
                f"{case.label} ({schema.name}): HTTP {response.status_code} "
                f"{response.get_data(True)[:500]}"
            )
        return elapsed
    assert case.query is not None
    session = schema.services.db.sessions()
    try:
        started = time.perf_counter()
        case.query(session, schema.line)
        return time.perf_counter() - started
    finally:
        session.rollback()
        session.close()


def _available(schemas: Sequence[Schema], cases: Sequence[Case]) -> list[Case]:
    """The cases whose page exists: a path no route serves is a page not built yet (skipped);
    any other answer but 200 stops the run."""
    kept = []
    for case in cases:
        if case.path is not None:
            routes = schemas[0].app.url_map.bind("localhost")
            try:
                routes.match(case.path(schemas[0].line), method="GET")
            except NotFound:
                print(f"  (skipped, not built yet: {case.label})")
                continue
            # Asked of every schema, so that each has had the same requests (and the same
            # writes: the access log, the session's last use) before the measurements.
            for schema in schemas:
                _once(schema, case)
        kept.append(case)
    return kept


def measure(
    schemas: Sequence[Schema], cases: Sequence[Case], repeat: int
) -> dict[str, dict[str, list[float]]]:
    """Samples per case key and schema name: warm-up, then five interleaved rounds."""
    samples: dict[str, dict[str, list[float]]] = {
        case.key: {schema.name: [] for schema in schemas} for case in cases
    }
    for case in cases:
        for schema in schemas:
            for _ in range(max(repeat // 10, 1)):
                _once(schema, case)
    # Request by request in turn, small then large, so that a busy moment on the machine (other
    # work on it) hits both alike; the cases in rounds, so drift over the run hits all alike.
    # Which size goes first alternates, so neither always follows the other. A heavy history's
    # page takes turns with the light one's too, so that their comparison is as fair.
    paired = {case.pair: case for case in cases if case.pair is not None}
    groups = [[case, *([paired[case.key]] if case.key in paired else [])] for case in cases]
    groups = [group for group in groups if group[0].pair is None or group[0].pair not in paired]
    rounds = 5
    for _ in range(rounds):
        for group in groups:
            for turn in range(max(repeat // rounds, 1)):
                for case in group:
                    for schema in schemas if turn % 2 == 0 else schemas[::-1]:
                        samples[case.key][schema.name].append(_once(schema, case))
    return samples


# ---- plans ---------------------------------------------------------------------------------


def _record(schema: Schema) -> None:
    def before(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if schema.recording:
            schema.statements.append((statement, parameters))

    event.listen(schema.services.db.engine, "before_cursor_execute", before)


def explain(schema: Schema, cases: Sequence[Case], limit: int = 10) -> str:
    """Each case's statements on `schema` with their plans, the slowest first."""
    out = []
    for case in cases:
        schema.statements.clear()
        schema.recording = True
        try:
            _once(schema, case)
        finally:
            schema.recording = False
        statements = list(schema.statements)
        timed = []
        raw = schema.services.db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            for statement, parameters in statements:
                if not statement.lstrip().lower().startswith(("select", "with")):
                    continue
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                plan = "\n".join(row[0] for row in cursor.fetchall())
                took = float(plan.rsplit("Execution Time:", 1)[1].split()[0])
                timed.append((took, statement, plan))
            raw.rollback()
        finally:
            raw.close()
        timed.sort(key=lambda item: -item[0])
        out.append(
            f"== {case.label}: {len(statements)} statements, "
            f"{sum(t for t, _, _ in timed):.2f} ms executing the SELECTs"
        )
        for took, statement, plan in timed[:limit]:
            out.append(f"-- {took:.3f} ms\n{' '.join(statement.split())[:600]}\n{plan}\n")
    return "\n".join(out)


def statement_counts(schema: Schema, cases: Sequence[Case]) -> dict[str, int]:
    """How many statements one request of each case runs on `schema`."""
    counts = {}
    for case in cases:
        schema.statements.clear()
        schema.recording = True
        try:
            _once(schema, case)
        finally:
            schema.recording = False
        counts[case.key] = len(schema.statements)
    return counts


# ---- running it ----------------------------------------------------------------------------


def _app(database_url: str, clock: FakeClock) -> Flask:
    env = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "bench",
        "TWILIO_AUTH_TOKEN": "bench",
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "CRISIS_LINE_NUMBER": LINE,
        "PUBLIC_BASE_URL": "https://crisis.example.org",
        "API_RATE_LIMIT": "1000000 per minute",
    }
    settings = load_settings(env, instance_path=tempfile.gettempdir())
    return create_app(
        {"TESTING": True},
        settings=settings,
        clock=clock,
        telephony=ConsoleTelephony(io.StringIO()),
    )


@contextmanager
def seeded(
    url: str | None, name: str, total: int, participants: int = PARTICIPANTS
) -> Iterator[Schema]:
    """A migrated throwaway schema seeded with `total` contacts, and an app signed in on it."""
    with migrated_database(url, f"bench_pages_{name}") as (_engine, database_url):
        clock = FakeClock(NOW)
        app = _app(database_url, clock)
        services: Services = app.extensions["crisisline"]
        try:
            started = time.perf_counter()
            line = seed(services, total, participants)
            with services.db.engine.connect() as conn:
                stored = conn.execute(text("select count(*) from contacts")).scalar_one()
            print(
                f"  seeded {name}: {stored:,} contacts, {participants:,} participants "
                f"in {time.perf_counter() - started:.0f} s"
            )
            client = app.test_client()
            client.set_cookie(gate.SESSION_COOKIE, line.cookie, domain="localhost")
            schema = Schema(name, stored, app, clock, client, line)
            _record(schema)
            yield schema
        finally:
            services.db.dispose()


def _history_of(schema: Schema) -> int:
    with schema.services.db.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).where(Contact.participant_id == schema.line.heavy)
            ).scalar_one()
        )


def _ms(values: list[float]) -> tuple[float, float]:
    return statistics.median(values) * 1000, statistics.quantiles(values, n=20)[-1] * 1000


def _table(cases: Sequence[Case], result: Run, what: str = "page") -> list[str]:
    lines = [
        f"| {what} | {result.small:,} contacts: median (p95) | "
        f"{result.large:,} contacts: median (p95) | ratio | statements |",
        "|---|---|---|---|---|",
    ]
    for case in cases:
        small_ms = _ms(result.samples[case.key]["small"])
        large_ms = _ms(result.samples[case.key]["large"])
        ratio = large_ms[0] / small_ms[0]
        verdict = f"{ratio:.2f}" if ratio <= BAR else f"**{ratio:.2f}** (over {BAR})"
        small_n, large_n = result.counts[case.key]
        lines.append(
            f"| {case.label} | {small_ms[0]:.2f} ms ({small_ms[1]:.2f} ms) "
            f"| {large_ms[0]:.2f} ms ({large_ms[1]:.2f} ms) | {verdict} | {small_n} / {large_n} |"
        )
    return lines


def _pairs(cases: Sequence[Case], result: Run, what: str = "page") -> list[str]:
    lines = []
    labels = {case.key: case.label for case in cases}
    for case in cases:
        if case.pair is None or case.pair not in labels:
            continue
        heavy = result.median_ms(case.key, "large")
        light = result.median_ms(case.pair, "large")
        lines.append(
            f"| {labels[case.pair].split(' (')[0]} | {light:.2f} ms | {heavy:.2f} ms "
            f"| {heavy / light:.2f} |"
        )
    if not lines:
        return []
    return [
        "",
        f"Heavy history ({result.heavy:,} contacts) against light ({RECENT}), the same last "
        f"twelve weeks, both with {result.large:,} contacts stored:",
        "",
        f"| {what} | light: median | heavy: median | ratio |",
        "|---|---|---|---|",
        *lines,
    ]


def _version(schema: Schema) -> str:
    with schema.services.db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            return "SQLite " + str(conn.execute(text("select sqlite_version()")).scalar())
        return "PostgreSQL " + str(conn.execute(text("show server_version")).scalar()).split()[0]


@dataclass(frozen=True)
class Run:
    """One engine's results: the cases timed, their samples and statement counts."""

    version: str
    small: int  # contacts in each schema
    large: int
    cases: list[Case]
    samples: dict[str, dict[str, list[float]]]
    counts: dict[str, tuple[int, int]]
    skipped: list[Case]
    heavy: int  # the heavy participant's contacts in the large schema
    participants: int

    def median_ms(self, key: str, size: str) -> float:
        return statistics.median(self.samples[key][size]) * 1000


def run(
    url: str | None,
    *,
    total: int = LARGE,
    repeat: int = 200,
    queries: bool = False,
    show_plans: bool = False,
    participants: int = PARTICIPANTS,
    drop_index: Sequence[str] = (),
) -> Run:
    """Seed both schemas (None: SQLite files), time every case in both; the results."""
    logging.getLogger("crisisline").setLevel(logging.WARNING)
    with ExitStack() as stack:
        small = stack.enter_context(seeded(url, "small", SMALL, participants))
        large = stack.enter_context(seeded(url, "large", total, participants))
        schemas = [small, large]
        for schema in schemas:  # to show what an index is worth: the run without it
            for name in drop_index:
                _execute(schema.services, f"drop index {name}")
        pages = _available(schemas, PAGES)
        cases = [*pages, *(QUERIES if queries or not pages else ())]
        small_counts, large_counts = statement_counts(small, cases), statement_counts(large, cases)
        samples = measure(schemas, cases, repeat)
        if show_plans and large.services.db.engine.dialect.name == "postgresql":
            print(explain(large, cases))
        return Run(
            version=_version(large),
            small=small.contacts,
            large=large.contacts,
            cases=cases,
            samples=samples,
            counts={key: (small_counts[key], large_counts[key]) for key in small_counts},
            skipped=[case for case in PAGES if case not in pages],
            heavy=_history_of(large),
            participants=participants,
        )


def markdown(runs: Sequence[Run], repeat: int) -> str:
    """The results block for docs/performance.md."""
    out = [
        f"Measured {dt.date.today():%d %B %Y} on {machine()}; {runs[0].participants:,} "
        "participants; "
        f"{repeat} requests per page and table size, the two sizes taking turns request by "
        "request, in five rounds; times are per request through the Flask test client, signed "
        "in as a duty manager. Statements: how many the request ran, small / large.",
    ]
    for result in runs:
        out += ["", f"**{result.version}**", ""]
        pages = [case for case in result.cases if case.path is not None]
        queries = [case for case in result.cases if case.query is not None]
        if pages:
            out += _table(pages, result)
            out += _pairs(pages, result)
        if result.skipped:
            out += ["", "Not built yet: " + "; ".join(case.label for case in result.skipped)]
        if queries:
            out += ["", "The flows' queries on their own:", ""]
            out += _table(queries, result, "query")
            out += _pairs(queries, result, "query")
    return "\n".join(out) + "\n"


def main() -> None:
    """Run the benchmark on each configured engine and print (or write) the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", action="append", help="sqlite, or a database URL to run on (repeat)"
    )
    parser.add_argument("--repeat", type=int, default=200, help="requests per page and size")
    parser.add_argument("--contacts", type=int, default=LARGE, help="contacts in the large one")
    parser.add_argument("--queries", action="store_true", help="time the flows' queries too")
    parser.add_argument("--explain", action="store_true", help="print each statement's plan")
    parser.add_argument(
        "--drop-index", action="append", default=[], help="run without this index (repeat)"
    )
    parser.add_argument("--write", type=Path, help="replace the results block in this file")
    args = parser.parse_args()
    runs = [
        run(
            url,
            total=args.contacts,
            repeat=args.repeat,
            queries=args.queries,
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
