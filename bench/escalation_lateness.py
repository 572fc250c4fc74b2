"""Benchmark: how late escalation steps fire, and how fast a restarted scheduler catches up.

    .venv/bin/python bench/escalation_lateness.py [--database-url URL] [--write FILE]

Runs on SQLite in a temporary file, and on PostgreSQL too when BENCH_DATABASE_URL or
TEST_DATABASE_URL is set (in a throwaway schema, dropped afterwards). The scheduler is the
real one: `crisisline scheduler` in its own process on the real clock, exactly as deployed.

- **Lateness**: 10,000 open escalations; 9,000 are due tomorrow (they only fill the table and
  its index) and 1,000 fall due one after another over 60 seconds. An observer in this process
  polls every 20 ms for each escalation's next `notified` event; lateness is from the due time
  to when that event (written in the same transaction as the delivery) is first visible.
- **Recovery**: the scheduler is started with 1,000 escalations already overdue (as after a
  restart) among 10,000 open; recovery is the time until every one has fired, from process
  start and from the scheduler's first heartbeat.

The targets: p99 lateness at most 1 second, full recovery within 5 seconds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import database_urls, machine, migrated_database, write_block
from crisisline import staff as staff_service
from crisisline.db import Database
from crisisline.escalation_models import EscalationEvent, EscalationRecord
from crisisline.models import SchedulerHeartbeat, StaffRole
from escalation import parse_policy, policy_to_json

CRISISLINE = str(Path(sys.executable).parent / "crisisline")
OPEN = 10_000
MEASURED = 1_000
SPREAD = dt.timedelta(seconds=60)
WAIT = 30
STAFF = 50
START_MARK = "<!-- bench:escalation_lateness:start -->"
END_MARK = "<!-- bench:escalation_lateness:end -->"


@contextmanager
def database(url: str | None) -> Iterator[str]:
    """A migrated, empty database: a temporary SQLite file, or a throwaway PostgreSQL schema."""
    with migrated_database(url, "bench_esc") as (_, scoped_url):
        yield scoped_url


def seed(db: Database, due_times: list[dt.datetime]) -> list[int]:
    """Open escalations in bulk (step 0 fired a wait ago), due at `due_times`; 9,000 tomorrow."""
    now = dt.datetime.now(dt.UTC)
    with db.transaction() as session:
        ids = [
            staff_service.create(
                session,
                staff_service.NewStaff(
                    f"Bench Person {n}", f"+4477009005{n:02d}", None, [StaffRole.ON_CALL]
                ),
                actor="bench",
                now=now,
            ).id
            for n in range(STAFF)
        ]
    tomorrow = now + dt.timedelta(days=1)
    rows: list[dict[str, Any]] = []
    policies: dict[int, dict[str, Any]] = {}
    for n in range(OPEN):
        measured = n < len(due_times)
        due = due_times[n] if measured else tomorrow + dt.timedelta(seconds=n)
        if n % STAFF in policies:
            policy = policies[n % STAFF]
        else:
            policy = policies[n % STAFF] = policy_to_json(parse_policy("bench", _document(ids, n)))
        rows.append(
            {
                "policy_name": "bench",
                "policy": policy,
                "subject_type": "missed_call",
                "subject_id": None,
                "participant_id": None,
                "summary": f"Bench escalation {n}",
                "status": "open",
                "step_index": 0,
                "loop": 0,
                "next_due_at": due,
                "version": 2,
                "opened_at": due - dt.timedelta(seconds=WAIT),
                "updated_at": due - dt.timedelta(seconds=WAIT),
            }
        )
    with db.transaction() as session:
        for chunk in range(0, len(rows), 1000):
            session.execute(insert(EscalationRecord), rows[chunk : chunk + 1000])
        return list(
            session.scalars(
                select(EscalationRecord.id).order_by(EscalationRecord.id).limit(len(due_times))
            )
        )


def _document(ids: list[int], n: int) -> dict[str, Any]:
    """A two-step policy: staff n first, then the next member of staff."""
    return {
        "steps": [
            {"targets": [{"staff_id": ids[n % STAFF]}], "channels": ["sms"], "wait_seconds": WAIT},
            {
                "targets": [{"staff_id": ids[(n + 1) % STAFF]}],
                "channels": ["sms"],
                "wait_seconds": WAIT,
            },
        ]
    }


def start_scheduler(url: str, folder: Path) -> subprocess.Popen[bytes]:
    """The real scheduler process, with console telephony printing into a file."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "INSTANCE_PATH": str(folder / "instance"),
        "TELEPHONY": "console",
        "SECRET_KEY": "bench",
    }
    with (folder / "scheduler.log").open("ab") as log:
        return subprocess.Popen([CRISISLINE, "scheduler"], env=env, stdout=log, stderr=log)


def observe(db: Database, wanted: set[int], deadline: float) -> dict[int, float]:
    """Poll until each escalation in `wanted` has a step-1 `notified` event; when each appeared."""
    seen: dict[int, float] = {}
    last_event = 0
    while len(seen) < len(wanted) and time.time() < deadline:
        with db.transaction() as session:
            rows = session.execute(
                select(EscalationEvent.id, EscalationEvent.escalation_id).where(
                    EscalationEvent.id > last_event, EscalationEvent.kind == "notified"
                )
            ).all()
        stamp = time.time()
        for event_id, escalation_id in rows:
            last_event = max(last_event, event_id)
            if escalation_id in wanted and escalation_id not in seen:
                seen[escalation_id] = stamp
        time.sleep(0.02)
    return seen


def percentile(values: list[float], fraction: float) -> float:
    """The `fraction` quantile of `values` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def run(url: str | None) -> dict[str, Any]:
    """Both measurements, each on a fresh database."""
    result: dict[str, Any] = {}
    with database(url) as scoped, tempfile.TemporaryDirectory() as folder:
        db = Database(scoped)
        result["version"] = _version(db)
        # Lateness: start the scheduler first, then let 1,000 fall due over 60 s.
        process = start_scheduler(scoped, Path(folder))
        try:
            first = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=8)
            due = [first + SPREAD * n / MEASURED for n in range(MEASURED)]
            ids = seed(db, due)
            due_by_id = dict(zip(ids, due, strict=True))
            seen = observe(db, set(ids), time.time() + 8 + SPREAD.total_seconds() + 60)
        finally:
            process.kill()
            process.wait()
            db.dispose()
        late = [seen[i] - due_by_id[i].timestamp() for i in ids if i in seen]
        result["lateness"] = {
            "fired": len(seen),
            "median": statistics.median(late),
            "p95": percentile(late, 0.95),
            "p99": percentile(late, 0.99),
            "max": max(late),
        }
    with database(url) as scoped, tempfile.TemporaryDirectory() as folder:
        db = Database(scoped)
        # Recovery: 1,000 already overdue among 10,000 open, then the scheduler starts.
        now = dt.datetime.now(dt.UTC)
        overdue = [now - dt.timedelta(seconds=60 - n * 0.05) for n in range(MEASURED)]
        ids = seed(db, overdue)
        started = time.time()
        process = start_scheduler(scoped, Path(folder))
        try:
            seen = observe(db, set(ids), started + 120)
        finally:
            process.kill()
            process.wait()
        with db.transaction() as session:
            first_beat = session.scalar(select(func.min(SchedulerHeartbeat.started_at)))
        db.dispose()
        done = max(seen.values()) if seen else float("nan")
        result["recovery"] = {
            "fired": len(seen),
            "from_start": done - started,
            "from_first_beat": done - first_beat.timestamp() if first_beat else float("nan"),
        }
    return result


def _version(db: Database) -> str:
    with db.engine.connect() as conn:
        if db.engine.dialect.name == "sqlite":
            return "SQLite " + str(conn.execute(text("select sqlite_version()")).scalar_one())
        raw = str(conn.execute(text("show server_version")).scalar_one())
        return "PostgreSQL " + raw.split()[0]


def markdown(results: list[dict[str, Any]]) -> str:
    """The results as the table docs/performance.md keeps."""
    lines = [
        f"Measured {dt.date.today():%d %B %Y} on {machine()}; the real `crisisline scheduler`",
        f"process, {OPEN:,} open escalations, {MEASURED:,} measured.",
        "",
        "| database | lateness median | p95 | p99 | max | recovery of 1,000 overdue "
        "(from process start) | (from first heartbeat) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        late, rec = r["lateness"], r["recovery"]
        lines.append(
            f"| {r['version']} | {late['median'] * 1000:.0f} ms | {late['p95'] * 1000:.0f} ms | "
            f"{late['p99'] * 1000:.0f} ms | {late['max'] * 1000:.0f} ms | "
            f"{rec['from_start']:.2f} s | {rec['from_first_beat']:.2f} s |"
        )
        if late["fired"] != MEASURED or rec["fired"] != MEASURED:
            lines.append(f"| (only {late['fired']} and {rec['fired']} fired) | | | | | | |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run on each configured database and print (or write) the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", action="append", help="sqlite, or a database URL to run on (repeat)"
    )
    parser.add_argument("--write", type=Path, help="replace the results block in this file")
    args = parser.parse_args()
    urls = database_urls(args.database_url)
    results = []
    for url in urls:
        result = run(url)
        print(result)
        results.append(result)
    block = markdown(results)
    if args.write:
        write_block(args.write, START_MARK, END_MARK, block)
        print(f"Wrote the results to {args.write}.")
    else:
        print()
        print(block)


if __name__ == "__main__":
    main()
