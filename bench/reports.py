"""Benchmark: a month's and a year's service report over 10,000 and over 1,000,000 contacts.

    .venv/bin/python bench/reports.py [--database-url URL] [--repeat N] [--contacts N]
        [--year-contacts N] [--explain] [--write FILE]

Runs on SQLite in temporary files, and on PostgreSQL too when BENCH_DATABASE_URL or
TEST_DATABASE_URL is set (in throwaway schemas, dropped afterwards; nothing else is touched).
Each engine gets two databases, migrated as `crisisline db upgrade` does, holding the same
line (the demo staff and rotas, 1,000 participants) and the SAME year of contacts, November
2025 to October 2026 (8,000 by default: calls answered, missed, abandoned, voicemails,
call-backs, texts in and out, more at night, with their rows in `calls` and conversations,
risk alerts and escalations in proportion). They differ only in the history before that
year: the small one 2,000 older contacts (10,000 in all), the large one ten years of a busy
line (1,000,000 in all) with its alerts and escalations.

Timed, the two sizes taking turns request by request: `service_report.build` for October 2026
(a month across the clock change) and for the whole year, and the same two through
`GET /api/v1/reports?from=&to=` (the Flask test client, a `reports:read` token); and, since
each measure module reads its period's records with range scans, those reads on their own
(the period's calls, texts, conversations, notes, alerts and escalations), so that a scan of a
whole table shows even where the measures are not built yet. The ratio is the large median
over the small one (the bar: 1.5, the report must not grow with the history outside its
period); the year's report through the API should come back in under a second.

`--explain` (PostgreSQL) prints each read's plan on the large database; `--drop-index NAME`
runs without an index, to show what it is worth. Seeding is not timed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
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
from zoneinfo import ZoneInfo

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import database_urls, machine, migrated_database, write_block
from bench.console_pages import CONTACT_COLUMNS, Contacts, _copy, _execute, _participants, _people
from crisisline import service_report, tokens
from crisisline.alert_models import RiskAlert
from crisisline.app import create_app
from crisisline.call_models import LiveCall
from crisisline.clock import FakeClock
from crisisline.conversation_models import SmsConversation
from crisisline.escalation_models import EscalationRecord
from crisisline.models import Channel, Contact, Direction
from crisisline.note_models import ContactNote
from crisisline.reports import Period
from crisisline.services import Services
from crisisline.settings import load_settings
from crisisline.telephony import ConsoleTelephony

START_MARK = "<!-- bench:reports:start -->"
END_MARK = "<!-- bench:reports:end -->"
LONDON = ZoneInfo("Europe/London")
NOW = dt.datetime(2026, 11, 27, 2, 30, tzinfo=dt.UTC)
LINE = "+447700900000"
PARTICIPANTS = 1_000
SMALL, LARGE = 10_000, 1_000_000
YEAR_CONTACTS = 8_000  # the same in both databases
YEARS = 10  # how far back the large history goes
MONTH = (dt.date(2026, 10, 1), dt.date(2026, 10, 31))
YEAR = (dt.date(2025, 11, 1), dt.date(2026, 10, 31))
ALERT_EVERY, ESCALATION_EVERY = 100, 200  # one per this many contacts, inside and outside
BAR = 1.5
TARGET_MS = 1000.0


@dataclass
class Db:
    """One seeded database: its app, a client with a reports:read token, the statements seen."""

    name: str
    contacts: int
    app: Flask
    client: FlaskClient
    headers: dict[str, str]
    statements: list[tuple[str, Any]] = field(default_factory=list)
    recording: bool = False

    @property
    def services(self) -> Services:
        services: Services = self.app.extensions["crisisline"]
        return services


@dataclass(frozen=True)
class Case:
    """What is timed: a request (a path) or a function of a session."""

    key: str
    label: str
    path: str | None = None
    run: Callable[[Session, Services], object] | None = None


def _period(days: tuple[dt.date, dt.date]) -> Period:
    return Period.local_days(days[0], days[1], LONDON)


def _build(days: tuple[dt.date, dt.date]) -> Callable[[Session, Services], object]:
    def run(session: Session, services: Services) -> object:
        return service_report.build(
            session,
            _period(days),
            night=services.risk_rules.night,
            targets=service_report.targets_from(services.settings),
            handover_time=services.settings.handover_time,
        )

    return run


def _read(
    days: tuple[dt.date, dt.date], what: Callable[[Period], Any]
) -> Callable[[Session, Services], object]:
    def run(session: Session, services: Services) -> object:
        return session.execute(what(_period(days))).all()

    return run


def _calls(period: Period) -> Any:
    # The shape of the call measures' read: the period's inbound calls with their live call.
    return (
        select(Contact.id, Contact.started_at, Contact.outcome, LiveCall.step_index)
        .outerjoin(LiveCall, LiveCall.contact_id == Contact.id)
        .where(
            Contact.started_at >= period.start,
            Contact.started_at < period.end,
            Contact.channel == Channel.VOICE,
            Contact.direction == Direction.INBOUND,
        )
        .order_by(Contact.started_at, Contact.id)
    )


def _texts(period: Period) -> Any:
    return select(Contact.id, Contact.started_at, Contact.direction).where(
        Contact.started_at >= period.start,
        Contact.started_at < period.end,
        Contact.channel == Channel.SMS,
    )


def _conversations(period: Period) -> Any:
    return select(SmsConversation.id, SmsConversation.opened_at).where(
        SmsConversation.opened_at >= period.start, SmsConversation.opened_at < period.end
    )


def _notes(period: Period) -> Any:
    return select(ContactNote.contact_id, ContactNote.written_at).where(
        ContactNote.written_at >= period.start, ContactNote.written_at < period.end
    )


def _alerts(period: Period) -> Any:
    return select(RiskAlert.id, RiskAlert.rule, RiskAlert.severity, RiskAlert.raised_at).where(
        RiskAlert.raised_at >= period.start, RiskAlert.raised_at < period.end
    )


def _escalations(period: Period) -> Any:
    return select(EscalationRecord.id, EscalationRecord.step_index).where(
        EscalationRecord.opened_at >= period.start, EscalationRecord.opened_at < period.end
    )


def _q(days: tuple[dt.date, dt.date]) -> str:
    return f"from={days[0]}&to={days[1]}"


CASES = (
    Case("build-month", "service_report.build, a month", run=_build(MONTH)),
    Case("build-year", "service_report.build, a year", run=_build(YEAR)),
    Case("api-month", "GET /api/v1/reports, a month", path=f"/api/v1/reports?{_q(MONTH)}"),
    Case("api-year", "GET /api/v1/reports, a year", path=f"/api/v1/reports?{_q(YEAR)}"),
)
READS = (
    Case("calls-year", "a year's inbound calls with their live call", run=_read(YEAR, _calls)),
    Case("texts-year", "a year's texts", run=_read(YEAR, _texts)),
    Case(
        "conversations-year",
        "a year's text conversations",
        run=_read(YEAR, _conversations),
    ),
    Case("notes-year", "a year's notes", run=_read(YEAR, _notes)),
    Case("alerts-year", "a year's risk alerts", run=_read(YEAR, _alerts)),
    Case("escalations-year", "a year's escalations", run=_read(YEAR, _escalations)),
)


# ---- seeding -------------------------------------------------------------------------------


def _year_bounds() -> tuple[dt.datetime, dt.datetime]:
    period = _period(YEAR)
    return period.start, period.end


def _contacts(
    services: Services,
    ids: list[int],
    phones: dict[int, str],
    workers: list[int],
    year: int,
    older: int,
) -> None:
    """The year's contacts (the same in both: the same seed), then `older` before the year."""
    start, end = _year_bounds()
    first = start - dt.timedelta(days=365 * YEARS)

    def rows(seed: int, count: int, low: dt.datetime, high: dt.datetime) -> Iterator[Any]:
        made = Contacts(seed, phones, workers)
        for _ in range(count):
            who = None if made.rng.random() < 0.05 else made.rng.choice(ids)
            yield made.row(who, made.at(low, high))

    _copy(services, "contacts", CONTACT_COLUMNS, rows(11, year, start, end))
    _copy(services, "contacts", CONTACT_COLUMNS, rows(12, older, first, start))
    # Every call left its row in `calls`, and about one text in ten opened a conversation.
    _execute(
        services,
        "insert into calls (call_sid, contact_id, kind, step_index, loop, ringing, "
        "accepted_staff_id, accepted_at, started_at, updated_at, detail) "
        "select 'CAB' || id, id, 'crisis', 0, 0, '[]', handled_by_staff_id, answered_at, "
        "started_at, coalesce(ended_at, started_at), '{}' from contacts "
        "where channel = 'voice' and direction = 'inbound'",
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


def _alerts_and_escalations(
    services: Services, ids: list[int], year: int, older: int, officers: list[int]
) -> None:
    """Risk alerts and escalations in proportion to the contacts, inside and before the year."""
    start, end = _year_bounds()
    first = start - dt.timedelta(days=365 * YEARS)
    rng = random.Random(21)
    spans = [(start, end, year), (first, start, older)]

    def instants(every: int) -> Iterator[dt.datetime]:
        for low, high, count in spans:
            for _ in range(count // every):
                yield low + (high - low) * rng.random()

    def escalations() -> Iterator[tuple[Any, ...]]:
        for opened in instants(ESCALATION_EVERY):
            taken = opened + dt.timedelta(minutes=rng.randrange(1, 90))
            step = rng.choice((0, 0, 0, 1, 2))
            yield (
                "crisis",
                {"steps": []},
                "risk_alert",
                rng.choice(ids),
                "Risk alert (bench)",
                "closed",
                step,
                0,
                None,
                3,
                taken,
                taken,
                taken if step == 2 and rng.random() < 0.2 else None,
                opened,
                taken,
            )

    _copy(
        services,
        "escalations",
        "policy_name, policy, subject_type, participant_id, summary, status, step_index, loop, "
        "next_due_at, version, acknowledged_at, closed_at, exhausted_at, opened_at, updated_at",
        escalations(),
    )
    rules = (
        ("repeated_night", "warning"),
        ("risk_words", "urgent"),
        ("voicemail_at_night", "info"),
    )

    def alerts() -> Iterator[tuple[Any, ...]]:
        for raised in instants(ALERT_EVERY):
            rule, severity = rng.choice(rules)
            seen = raised + dt.timedelta(minutes=rng.randrange(2, 600))
            officer = rng.choice(officers)
            yield (
                rng.choice(ids),
                rule,
                severity,
                "Bench alert",
                "resolved",
                raised,
                raised,
                1,
                officer,
                "officer",
                f"staff:{officer}",
                officer,
                seen,
                f"staff:{officer}",
                seen,
            )

    _copy(
        services,
        "risk_alerts",
        "participant_id, rule, severity, reason, status, raised_at, last_seen_at, count, "
        "recipient_staff_id, routed_to, acknowledged_by, acknowledged_by_staff_id, "
        "acknowledged_at, resolved_by, resolved_at",
        alerts(),
    )


def _analyse(services: Services) -> None:
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


def seed(services: Services, total: int, year: int, participants: int) -> dict[str, str]:
    """The line with `total` contacts, `year` of them in the measured year; a token's headers."""
    _manager, officers, workers = _people(services)
    ids, phones = _participants(services, officers, participants)
    older = max(total - year, 0)
    _contacts(services, ids, phones, workers, year, older)
    _alerts_and_escalations(services, ids, year, older, officers)
    _analyse(services)
    with services.db.transaction() as session:
        plaintext, _ = tokens.create(
            session, "bench", actor="bench", now=NOW, staff_id=None, scopes=["reports:read"]
        )
    return {"Authorization": f"Bearer {plaintext}"}


def _app(database_url: str) -> Flask:
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
        clock=FakeClock(NOW),
        telephony=ConsoleTelephony(io.StringIO()),
    )


@contextmanager
def seeded(url: str | None, name: str, total: int, year: int, participants: int) -> Iterator[Db]:
    """A migrated throwaway database seeded with `total` contacts."""
    with migrated_database(url, f"bench_reports_{name}") as (_engine, database_url):
        app = _app(database_url)
        services: Services = app.extensions["crisisline"]
        try:
            started = time.perf_counter()
            headers = seed(services, total, year, participants)
            with services.db.engine.connect() as conn:
                stored = conn.execute(text("select count(*) from contacts")).scalar_one()
            print(f"  seeded {name}: {stored:,} contacts in {time.perf_counter() - started:.0f} s")
            db = Db(name, stored, app, app.test_client(), headers)
            _record(db)
            yield db
        finally:
            services.db.dispose()


def _record(db: Db) -> None:
    def before(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if db.recording:
            db.statements.append((statement, parameters))

    event.listen(db.services.db.engine, "before_cursor_execute", before)


# ---- timing --------------------------------------------------------------------------------


def _once(db: Db, case: Case) -> float:
    """One request or read, in seconds; a request answering anything but 200 stops the run."""
    if case.path is not None:
        started = time.perf_counter()
        response = db.client.get(case.path, headers=db.headers)
        response.get_data()
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise SystemExit(f"{case.label} ({db.name}): HTTP {response.status_code}")
        return elapsed
    assert case.run is not None
    session = db.services.db.sessions()
    try:
        started = time.perf_counter()
        case.run(session, db.services)
        return time.perf_counter() - started
    finally:
        session.rollback()
        session.close()


def measure(
    dbs: Sequence[Db], cases: Sequence[Case], repeat: int
) -> dict[str, dict[str, list[float]]]:
    """Samples per case and size: a warm-up, then the sizes taking turns, which goes first
    alternating, so a busy moment on the machine hits both alike."""
    samples: dict[str, dict[str, list[float]]] = {
        case.key: {db.name: [] for db in dbs} for case in cases
    }
    for case in cases:
        for db in dbs:
            _once(db, case)
    for turn in range(repeat):
        for case in cases:
            for db in dbs if turn % 2 == 0 else dbs[::-1]:
                samples[case.key][db.name].append(_once(db, case))
    return samples


def statement_counts(db: Db, cases: Sequence[Case]) -> dict[str, int]:
    """How many statements one run of each case sends."""
    counts = {}
    for case in cases:
        db.statements.clear()
        db.recording = True
        try:
            _once(db, case)
        finally:
            db.recording = False
        counts[case.key] = len(db.statements)
    return counts


def explain(db: Db, cases: Sequence[Case]) -> str:
    """Each case's SELECTs on `db` with their EXPLAIN ANALYZE plans."""
    out = []
    for case in cases:
        db.statements.clear()
        db.recording = True
        try:
            _once(db, case)
        finally:
            db.recording = False
        raw = db.services.db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            out.append(f"== {case.label}: {len(db.statements)} statements")
            for statement, parameters in db.statements:
                if not statement.lstrip().lower().startswith(("select", "with")):
                    continue
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                plan = "\n".join(row[0] for row in cursor.fetchall())
                out.append(f"{' '.join(statement.split())[:400]}\n{plan}\n")
            raw.rollback()
        finally:
            raw.close()
    return "\n".join(out)


@dataclass(frozen=True)
class Run:
    """One engine's results."""

    version: str
    small: int
    large: int
    year: int
    cases: list[Case]
    samples: dict[str, dict[str, list[float]]]
    counts: dict[str, tuple[int, int]]

    def median_ms(self, key: str, size: str) -> float:
        return statistics.median(self.samples[key][size]) * 1000

    def p95_ms(self, key: str, size: str) -> float:
        values = self.samples[key][size]
        if len(values) < 2:
            return values[0] * 1000
        return statistics.quantiles(values, n=20)[-1] * 1000


def _version(db: Db) -> str:
    with db.services.db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            return "SQLite " + str(conn.execute(text("select sqlite_version()")).scalar())
        return "PostgreSQL " + str(conn.execute(text("show server_version")).scalar()).split()[0]


def _year_contacts(db: Db) -> int:
    start, end = _year_bounds()
    with db.services.db.engine.connect() as conn:
        return int(
            conn.execute(
                text("select count(*) from contacts where started_at >= :s and started_at < :e"),
                {"s": start, "e": end},
            ).scalar_one()
        )


def run(
    url: str | None,
    *,
    small: int = SMALL,
    large: int = LARGE,
    year: int = YEAR_CONTACTS,
    repeat: int = 20,
    participants: int = PARTICIPANTS,
    show_plans: bool = False,
    drop_index: Sequence[str] = (),
) -> Run:
    """Seed both databases (None: SQLite files) and time every case on both."""
    logging.getLogger("crisisline").setLevel(logging.WARNING)
    with ExitStack() as stack:
        dbs = [
            stack.enter_context(seeded(url, "small", small, year, participants)),
            stack.enter_context(seeded(url, "large", large, year, participants)),
        ]
        for db in dbs:  # to show what an index is worth: the run without it
            for name in drop_index:
                _execute(db.services, f"drop index {name}")
        cases = [*CASES, *READS]
        small_counts = statement_counts(dbs[0], cases)
        large_counts = statement_counts(dbs[1], cases)
        samples = measure(dbs, cases, repeat)
        if show_plans and dbs[1].services.db.engine.dialect.name == "postgresql":
            print(explain(dbs[1], cases))
        return Run(
            version=_version(dbs[1]),
            small=dbs[0].contacts,
            large=dbs[1].contacts,
            year=_year_contacts(dbs[1]),
            cases=cases,
            samples=samples,
            counts={k: (small_counts[k], large_counts[k]) for k in small_counts},
        )


def _table(cases: Sequence[Case], result: Run) -> list[str]:
    lines = [
        f"| case | {result.small:,} contacts: median (p95) | {result.large:,} contacts: median "
        "(p95) | ratio | statements |",
        "|---|---|---|---|---|",
    ]
    for case in cases:
        small = result.median_ms(case.key, "small"), result.p95_ms(case.key, "small")
        large = result.median_ms(case.key, "large"), result.p95_ms(case.key, "large")
        ratio = large[0] / small[0] if small[0] else float("inf")
        verdict = f"{ratio:.2f}" if ratio <= BAR else f"**{ratio:.2f}** (over {BAR})"
        small_n, large_n = result.counts[case.key]
        lines.append(
            f"| {case.label} | {small[0]:.2f} ms ({small[1]:.2f} ms) "
            f"| {large[0]:.2f} ms ({large[1]:.2f} ms) | {verdict} | {small_n} / {large_n} |"
        )
    return lines


def markdown(runs: Sequence[Run], repeat: int) -> str:
    """The results block for docs/performance.md."""
    out = [
        f"Measured {dt.date.today():%d %B %Y} on {machine()}; {repeat} runs per case and size, "
        "the two sizes taking turns; the month is October 2026, the year November 2025 to "
        "October 2026, the same contacts in both databases. Statements: small / large.",
    ]
    for result in runs:
        year_ms = result.median_ms("api-year", "large")
        verdict = "under" if year_ms < TARGET_MS else "**over**"
        out += [
            "",
            f"**{result.version}**: a year's report ({result.year:,} contacts in the year) "
            f"through the API over {result.large:,} contacts: {year_ms:.0f} ms, {verdict} the "
            f"{TARGET_MS / 1000:.0f} s aim.",
            "",
        ]
        out += _table([c for c in result.cases if c in CASES], result)
        out += ["", "The period's reads on their own:", ""]
        out += _table([c for c in result.cases if c in READS], result)
    return "\n".join(out) + "\n"


def main() -> None:
    """Run the benchmark on each configured engine and print (or write) the results."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--database-url", action="append", help="sqlite, or a database URL to run on (repeat)"
    )
    parser.add_argument("--repeat", type=int, default=20, help="runs per case and size")
    parser.add_argument("--contacts", type=int, default=LARGE, help="contacts in the large one")
    parser.add_argument(
        "--year-contacts", type=int, default=YEAR_CONTACTS, help="contacts in the measured year"
    )
    parser.add_argument("--explain", action="store_true", help="print each read's plan")
    parser.add_argument(
        "--drop-index", action="append", default=[], help="run without this index (repeat)"
    )
    parser.add_argument("--write", type=Path, help="replace the results block in this file")
    args = parser.parse_args()
    runs = [
        run(
            url,
            large=args.contacts,
            year=args.year_contacts,
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
