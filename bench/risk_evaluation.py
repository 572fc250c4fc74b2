"""Benchmark: risk-rule evaluation per contact with 1,000 and with 1,000,000 contacts stored.

    .venv/bin/python bench/risk_evaluation.py [--database-url URL] [--repeat N] [--write FILE]

Runs on SQLite in a temporary file, and on PostgreSQL too when BENCH_DATABASE_URL or
TEST_DATABASE_URL is set (in a throwaway schema, dropped afterwards; nothing else is touched).
Each sample records one inbound contact and times `alerts.evaluate_contact` on it in the same
transaction, then rolls back, so every sample does the same work. Two kinds of contact:

- *quiet*: a daytime text with no risk words; no rule fires (the common case);
- *alert*: a night-time text with risk words from a participant who also called last night and
  earlier today; phrase, frequency and repeated-night rules fire, each opening an escalation
  and writing the officer's SMS to the outbox.

The same participants and recent contacts are measured first with 1,000 contacts in the table,
then again after bulk-loading it to 1,000,000 (the measured participant given 20,000 of them,
years of history). The ratio of the medians is the bar: it must stay near 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import database_urls, machine, migrated_database, write_block
from crisisline import alerts, contacts, participants, rota_service, staff
from crisisline.app import create_app
from crisisline.clock import FakeClock
from crisisline.models import Channel, Contact, Direction, RiskLevel, StaffRole
from crisisline.services import Services
from crisisline.settings import load_settings

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)  # 12:00 in London, winter
NIGHT = dt.datetime(2026, 11, 26, 3, 0, tzinfo=dt.UTC)
SMALL, LARGE = 1_000, 1_000_000
PARTICIPANTS = 500  # each with its own drama-range number, +447700900300 to +447700900799
HOT_HISTORY = 20_000  # the measured participant's own past contacts in the large table
START_MARK = "<!-- bench:risk_evaluation:start -->"
END_MARK = "<!-- bench:risk_evaluation:end -->"
LINE = "+447700900000"


def _seed(services: Services) -> tuple[int, int]:
    """Staff, rotas and participants; returns the quiet and the hot participant's ids."""
    with services.db.transaction() as session:
        officer = staff.create(
            session,
            staff.NewStaff("Bench Officer", "+447700900201", None, [StaffRole.RESPONSIBLE_OFFICER]),
            actor="bench",
            now=NOW,
        )
        manager = staff.create(
            session,
            staff.NewStaff("Bench Manager", "+447700900103", None, [StaffRole.DUTY_MANAGER]),
            actor="bench",
            now=NOW,
        )
        for name in ("primary", "backup", "duty-manager"):
            rota_service.create(
                session,
                rota_service.NewRota(
                    name=name,
                    timezone="Europe/London",
                    members=[manager.id],
                    shift_length="P7D",
                    first_handoff=dt.datetime(2026, 1, 5, 9, 0),
                ),
                actor="bench",
                now=NOW,
            )
        ids = [
            participants.create(
                session,
                participants.NewParticipant(
                    f"B{i:05d}",
                    f"Bench Participant {i}",
                    [f"+447700900{300 + i:03d}"],
                    officer.id,
                    RiskLevel.MEDIUM,
                ),
                actor="bench",
                now=NOW,
            ).id
            for i in range(PARTICIPANTS)
        ]
    return ids[0], ids[1]


def _rows(
    participant_ids: list[int], count: int, first: dt.datetime, last: dt.datetime
) -> Iterator[dict[str, Any]]:
    """`count` inbound contacts spread evenly over [first, last) across the participants."""
    step = (last - first) / count
    for i in range(count):
        at = first + i * step
        yield {
            "channel": Channel.VOICE if i % 3 == 0 else Channel.SMS,
            "direction": Direction.INBOUND,
            "from_number": None,
            "to_number": LINE,
            "twilio_sid": None,
            "started_at": at,
            "participant_id": participant_ids[i % len(participant_ids)],
            "body": "checking in" if i % 3 else None,
            "media_urls": [],
            "outcome": None,
            "created_at": at,
        }


def _load(services: Services, rows: Iterator[dict[str, Any]], batch: int = 50_000) -> None:
    """Bulk-insert contacts: COPY on PostgreSQL, executemany on SQLite."""
    engine = services.db.engine
    if engine.dialect.name == "postgresql":
        columns = (
            "channel, direction, from_number, to_number, twilio_sid, started_at, "
            "participant_id, body, media_urls, outcome, created_at"
        )
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            with cursor.copy(f"COPY contacts ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(
                        (
                            row["channel"].value,
                            row["direction"].value,
                            None,
                            row["to_number"],
                            None,
                            row["started_at"],
                            row["participant_id"],
                            row["body"],
                            "[]",
                            None,
                            row["created_at"],
                        )
                    )
            raw.commit()
        finally:
            raw.close()
        return
    chunk: list[dict[str, Any]] = []
    with services.db.transaction() as session:
        for row in rows:
            chunk.append(row)
            if len(chunk) >= batch:
                session.execute(insert(Contact), chunk)
                chunk = []
        if chunk:
            session.execute(insert(Contact), chunk)


def _recent(services: Services, hot: int) -> None:
    """The hot participant's recent contacts: a call the night before and one that evening."""
    with services.db.transaction() as session:
        for at in (NIGHT - dt.timedelta(hours=23, minutes=30), NIGHT - dt.timedelta(hours=7)):
            contacts.record(
                session,
                channel=Channel.VOICE,
                direction=Direction.INBOUND,
                from_number=None,
                to_number=LINE,
                twilio_sid=None,
                started_at=at,
                participant_id=hot,
                outcome="completed",
            )


def _analyse(services: Services) -> None:
    with services.db.engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def _time(
    services: Services, participant_id: int, at: dt.datetime, body: str, expected: int, n: int
) -> list[float]:
    samples: list[float] = []
    for _ in range(n):
        session = services.db.sessions()
        try:
            session.begin()
            contact, _ = contacts.record(
                session,
                channel=Channel.SMS,
                direction=Direction.INBOUND,
                from_number=None,
                to_number=LINE,
                twilio_sid=None,
                started_at=at,
                participant_id=participant_id,
                body=body,
            )
            started = time.perf_counter()
            raised = alerts.evaluate_contact(
                session,
                contact.id,
                at,
                services.reach,
                rules=services.risk_rules,
                zone=services.settings.zone,
            )
            samples.append(time.perf_counter() - started)
            if len(raised) != expected:
                raise SystemExit(f"expected {expected} alerts, the rules raised {len(raised)}")
        finally:
            session.rollback()
            session.close()
    return samples


def _measure(services: Services, quiet: int, hot: int, repeat: int) -> dict[str, list[float]]:
    cases = {
        "quiet: daytime text, no rule fires": (quiet, NOW, "checking in, all fine", 0),
        "alert: night text with risk words, 3 rules fire": (hot, NIGHT, "i want to end it all", 3),
    }
    samples: dict[str, list[float]] = {label: [] for label in cases}
    for args in cases.values():
        _time(services, *args, max(repeat // 10, 5))  # warm caches and the connection pool
    for _ in range(5):  # interleaved rounds: drift in the machine's speed hits both alike
        for label, args in cases.items():
            samples[label].extend(_time(services, *args, max(repeat // 5, 10)))
    return samples


def run(url: str | None, repeat: int) -> tuple[str, dict[str, tuple[list[float], list[float]]]]:
    """Time evaluation with 1,000 then 1,000,000 contacts stored; returns engine and samples."""
    with migrated_database(url, "bench_risk") as (engine_name, database_url):
        env = {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "bench",
            "TWILIO_AUTH_TOKEN": "bench",
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "CRISIS_LINE_NUMBER": LINE,
        }
        settings = load_settings(env, instance_path=tempfile.gettempdir())
        app = create_app({"TESTING": True}, settings=settings, clock=FakeClock(NOW))
        services: Services = app.extensions["crisisline"]
        logging.getLogger("crisisline").setLevel(logging.WARNING)
        try:
            quiet, hot = _seed(services)
            with services.db.transaction() as session:
                everyone = list(session.scalars(text("select id from participants order by id")))
            others = [i for i in everyone if i != hot]
            # History ends two days ago so the recent window holds the same few contacts in
            # both measurements.
            history_end = NOW - dt.timedelta(days=2)
            _load(services, _rows(others, SMALL - 2, NOW - dt.timedelta(days=30), history_end))
            _recent(services, hot)
            _analyse(services)
            small = _measure(services, quiet, hot, repeat)
            loaded = time.perf_counter()
            years = dt.timedelta(days=3 * 365)
            _load(services, _rows([hot], HOT_HISTORY, NOW - years, history_end))
            _load(
                services,
                _rows(others, LARGE - SMALL - HOT_HISTORY, NOW - years, history_end),
            )
            _analyse(services)
            print(f"  loaded to {LARGE:,} contacts in {time.perf_counter() - loaded:.0f} s")
            with services.db.engine.connect() as conn:
                stored = conn.execute(text("select count(*) from contacts")).scalar()
                if engine_name == "SQLite":
                    version = "SQLite " + str(
                        conn.execute(text("select sqlite_version()")).scalar()
                    )
                else:
                    server = str(conn.execute(text("show server_version")).scalar())
                    version = "PostgreSQL " + server.split()[0]
            assert stored == LARGE, stored
            large = _measure(services, quiet, hot, repeat)
        finally:
            services.db.dispose()
    return version, {label: (small[label], large[label]) for label in small}


def _ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.2f} ms"


def _p95(samples: list[float]) -> str:
    return f"{statistics.quantiles(samples, n=20)[-1] * 1000:.2f} ms"


def _markdown(
    results: list[tuple[str, dict[str, tuple[list[float], list[float]]]]], repeat: int
) -> str:
    lines = [
        f"Measured {dt.date.today():%d %B %Y} on {machine()}; {repeat} evaluations per case",
        "and table size, in five interleaved rounds; times are `evaluate_contact` alone.",
        "",
    ]
    for version, cases in results:
        lines += [
            f"**{version}**",
            "",
            "| contact | 1,000 stored: median (p95) | 1,000,000 stored: median (p95) | ratio |",
            "|---|---|---|---|",
        ]
        for label, (small, large) in cases.items():
            ratio = statistics.median(large) / statistics.median(small)
            lines.append(
                f"| {label} | {_ms(small)} ({_p95(small)}) | {_ms(large)} ({_p95(large)}) "
                f"| {ratio:.2f} |"
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    """Run the benchmark on each configured engine and print (or write) the results."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--database-url", action="append", help="sqlite, or a database URL to run on (repeat)"
    )
    parser.add_argument("--repeat", type=int, default=200, help="evaluations per case and size")
    parser.add_argument("--write", type=Path, help="replace the results block in this file")
    args = parser.parse_args()
    urls = database_urls(args.database_url)
    results = []
    for url in urls:
        version, cases = run(url, args.repeat)
        results.append((version, cases))
        print(version)
        for label, (small, large) in cases.items():
            ratio = statistics.median(large) / statistics.median(small)
            print(f"  {label:<50} {_ms(small):>10} -> {_ms(large):>10}  ratio {ratio:5.2f}")
    block = _markdown(results, args.repeat)
    if args.write:
        write_block(args.write, START_MARK, END_MARK, block)
        print(f"Wrote the results to {args.write}.")
    else:
        print()
        print(block)


if __name__ == "__main__":
    main()
