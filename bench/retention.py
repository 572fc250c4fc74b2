"""Benchmark: the nightly retention run over years of history.

    .venv/bin/python bench/retention.py [--database-url URL] [--contacts N] [--participants N]

Runs on SQLite in a temporary file, and on PostgreSQL too when BENCH_DATABASE_URL or
TEST_DATABASE_URL is set (in a throwaway schema, dropped afterwards). Each database is migrated
as `crisisline db upgrade` does and seeded, with bulk inserts, with `--contacts` texts and calls
spread evenly over the last five years (half texts with words, half calls, a voicemail on one
call in ten), each with the participant's number, one delivery each (the relay to staff), and
`--participants` participants of whom a tenth left the service 21 years ago. It then times,
with the shipped schedule (config/retention.toml): the dry run (the plan alone), the run, and a
second run that finds nothing more to do (what every later night costs). Seeding is not timed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import database_urls, machine, migrated_database
from crisisline import retention, retention_schedule
from crisisline.db import Database
from crisisline.models import Contact, Delivery, Participant, ParticipantPhone

NOW = dt.datetime(2026, 12, 6, 2, 30, tzinfo=dt.UTC)
LINE = "+447700900000"
STAFF_PHONE = "+447700900101"


@dataclass(frozen=True)
class Result:
    """One engine's timings."""

    engine: str
    contacts: int
    plan_seconds: float
    run_seconds: float
    again_seconds: float
    changed: int


def seed(db: Database, contacts: int, participants: int) -> None:
    """Participants and years of contacts, each with its relay delivery."""
    with db.transaction() as session:
        session.execute(
            insert(Participant),
            [
                {
                    "id": n + 1,
                    "reference": f"B{n:06d}",
                    "name": f"Bench Person {n}",
                    "risk_level": "medium",
                    "status": "closed" if n % 10 == 0 else "active",
                    "ended_service_on": dt.date(2005, 1, 1) if n % 10 == 0 else None,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for n in range(participants)
            ],
        )
        session.execute(
            insert(ParticipantPhone),
            [
                {"participant_id": n + 1, "number": f"+4477009{n:05d}", "position": 0}
                for n in range(participants)
            ],
        )
    span = dt.timedelta(days=5 * 365)
    step = span / max(contacts, 1)
    batch = 5_000
    for start in range(0, contacts, batch):
        rows: list[dict[str, object]] = []
        deliveries: list[dict[str, object]] = []
        for n in range(start, min(start + batch, contacts)):
            at = NOW - span + step * n
            person = n % participants
            text = n % 2 == 0
            deliveries.append(
                {
                    "id": n + 1,
                    "purpose": "sms_relay",
                    "priority": 1,
                    "channel": "sms",
                    "to_number": STAFF_PHONE,
                    "from_number": LINE,
                    "body": "Bench relay: words of a text",
                    "status": "delivered",
                    "next_attempt_at": at,
                    "created_at": at,
                    "updated_at": at,
                }
            )
            rows.append(
                {
                    "id": n + 1,
                    "channel": "sms" if text else "voice",
                    "direction": "inbound",
                    "from_number": f"+4477009{person:05d}",
                    "to_number": LINE,
                    "started_at": at,
                    "created_at": at,
                    "participant_id": person + 1,
                    "body": "Words of a text" if text else None,
                    "media_urls": [],
                    "recording_url": (
                        f"https://api.twilio.com/Recordings/RE{n}" if n % 20 == 1 else None
                    ),
                    "delivery_id": n + 1 if text else None,
                }
            )
        with db.transaction() as session:
            session.execute(insert(Delivery), deliveries)
            session.execute(insert(Contact), rows)


def run(url: str | None, contacts: int = 200_000, participants: int = 2_000) -> Result:
    """Seed one engine and time the dry run, the run and the run after it."""
    schedule = retention_schedule.load()
    with migrated_database(url, "bench_retention") as (engine, scoped):
        db = Database(scoped)
        try:
            seed(db, contacts, participants)
            zone = ZoneInfo("Europe/London")
            key = secrets.token_hex(16)  # the fingerprints' key, as SECRET_KEY
            began = time.perf_counter()
            planned = retention.dry_run(db, schedule, NOW, zone)
            plan_seconds = time.perf_counter() - began

            def clock() -> dt.datetime:
                return NOW

            began = time.perf_counter()
            outcome = retention.run(
                db, schedule, clock=clock, zone=zone, secret_key=key, actor="cli"
            )
            run_seconds = time.perf_counter() - began
            began = time.perf_counter()
            again = retention.run(db, schedule, clock=clock, zone=zone, secret_key=key, actor="cli")
            again_seconds = time.perf_counter() - began
            assert outcome is not None and again is not None
            assert sum(again.counts.values()) == 0
            changed = sum(outcome.counts.values())
            assert changed == sum(len(t) for t in planned.targets.values())
        finally:
            db.dispose()
    return Result(engine, contacts, plan_seconds, run_seconds, again_seconds, changed)


def markdown(results: list[Result]) -> str:
    """The results as a table."""
    lines = [
        f"Machine: {machine()}",
        "",
        "| Engine | Contacts | Records changed | Dry run (s) | Run (s) | Next night (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.engine} | {r.contacts:,} | {r.changed:,} | {r.plan_seconds:.2f} | "
        f"{r.run_seconds:.2f} | {r.again_seconds:.2f} |"
        for r in results
    ]
    return "\n".join(lines)


def main() -> None:
    """Run the benchmark on each configured engine and print the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", action="append", help="sqlite, or a database URL to run on (repeat)"
    )
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--participants", type=int, default=2_000)
    args = parser.parse_args()
    results = [
        run(url, args.contacts, args.participants) for url in database_urls(args.database_url)
    ]
    print(markdown(results))


if __name__ == "__main__":
    main()
