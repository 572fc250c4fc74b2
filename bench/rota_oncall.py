"""Benchmark: the API-level on-call query against rota age and the number of overrides.

    .venv/bin/python bench/rota_oncall.py [--database-url URL] [--repeat N] [--write FILE]

Runs on SQLite in a temporary file, and on PostgreSQL too when BENCH_DATABASE_URL or
TEST_DATABASE_URL is set (in a throwaway schema, dropped afterwards; nothing else is touched).
Each case times `GET /api/v1/rotas/{id}/on-call?at=...` through the Flask test client with a
real bearer token, so it includes auth, routing, the override lookup and JSON. The baseline,
measured in the same run, is a rota started yesterday with 10 overrides; the table reports
each case's median as a ratio of the baseline's. The bar: the cost must not grow with
the length of history and at most logarithmically with the number of overrides.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import database_urls, machine, migrated_database, write_block
from crisisline import rota_service, tokens
from crisisline import staff as staff_service
from crisisline.app import create_app
from crisisline.clock import FakeClock
from crisisline.models import StaffRole
from crisisline.rota_models import RotaOverride, RotaOverrideMode, RotaRecord
from crisisline.services import Services
from crisisline.settings import load_settings
from rotas import rotation_shift_at

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
TEN_YEARS = dt.timedelta(days=3652)
OVERRIDE_LENGTH = dt.timedelta(hours=4)
START_MARK = "<!-- bench:rota_oncall:start -->"
END_MARK = "<!-- bench:rota_oncall:end -->"


@dataclass(frozen=True)
class Case:
    """One timed question: a rota and the instant asked about."""

    label: str
    rota_id: int
    at: dt.datetime


@dataclass(frozen=True)
class Timing:
    """Per-request times of one case, in seconds."""

    case: Case
    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        return statistics.quantiles(self.samples, n=20)[-1]


def _seed(services: Services) -> tuple[str, list[Case]]:
    """Staff, three rotas and their overrides; returns an API token and the cases to time."""
    with services.db.transaction() as session:
        token, _ = tokens.create(
            session, "bench", actor="bench", now=NOW, scopes=tokens.scope_names()
        )
        members = [
            staff_service.create(
                session,
                staff_service.NewStaff(
                    f"Bench Worker {i}", f"+4477009009{i:02d}", None, [StaffRole.ON_CALL]
                ),
                actor="bench",
                now=NOW,
            ).id
            for i in range(10)
        ]

        def rota(name: str, first_handoff: dt.datetime) -> int:
            return rota_service.create(
                session,
                rota_service.NewRota(
                    name=name,
                    timezone="Europe/London",
                    members=members,
                    shift_length="PT12H",
                    first_handoff=first_handoff,
                ),
                actor="bench",
                now=NOW,
            ).id

        local_now = NOW.replace(tzinfo=None)
        baseline = rota("baseline", (local_now - dt.timedelta(days=1)).replace(hour=8, minute=0))
        decade_10 = rota("ten years, 10 overrides", (local_now - TEN_YEARS).replace(hour=8))
        decade_10k = rota("ten years, 10,000 overrides", (local_now - TEN_YEARS).replace(hour=8))

        def spread(rota_id: int, count: int, first: dt.datetime, last: dt.datetime) -> None:
            step = (last - first) / count
            rows: list[dict[str, Any]] = [
                {
                    "rota_id": rota_id,
                    "staff_id": members[i % len(members)],
                    "starts_at": first + i * step,
                    "ends_at": first + i * step + OVERRIDE_LENGTH,
                    "mode": RotaOverrideMode.REPLACE,
                    "reason": "bench",
                    "created_by": "bench",
                    "created_at": NOW,
                }
                for i in range(count)
            ]
            session.execute(insert(RotaOverride), rows)
            session.execute(
                update(RotaRecord)
                .where(RotaRecord.id == rota_id)
                .values(longest_override_seconds=int(OVERRIDE_LENGTH.total_seconds()))
            )

        # Overrides around the instants asked about, so every case does the same work once
        # it has found them; the 10,000 are spread over the whole decade (one every ~9 h).
        spread(baseline, 10, NOW - dt.timedelta(hours=20), NOW + dt.timedelta(hours=20))
        spread(decade_10, 10, NOW - TEN_YEARS, NOW + dt.timedelta(hours=20))
        spread(decade_10k, 10_000, NOW - TEN_YEARS, NOW + dt.timedelta(days=30))
    half = NOW - TEN_YEARS / 2
    return token, [
        Case("baseline: started yesterday, 10 overrides, at now", baseline, NOW),
        Case("started 10 years ago, 10 overrides, at now", decade_10, NOW),
        Case("started 10 years ago, 10,000 overrides, at now", decade_10k, NOW),
        Case("started 10 years ago, 10,000 overrides, 5 years ago", decade_10k, half),
    ]


def _analyse(services: Services) -> None:
    if services.db.engine.dialect.name == "postgresql":
        with services.db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))


def _plan(services: Services, case: Case) -> str:
    """The database's plan for the override lookup of `case` (the exact statement used)."""
    with services.db.transaction() as session:
        record = rota_service.get(session, case.rota_id)
        turn = rotation_shift_at(rota_service.to_rota(record), case.at)
        lower = turn.start - dt.timedelta(seconds=record.longest_override_seconds)
    query = rota_service.overlapping_overrides_query(case.rota_id, lower, turn.start, turn.end)
    dialect = services.db.engine.dialect
    compiled = query.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    prefix = "EXPLAIN QUERY PLAN " if dialect.name == "sqlite" else "EXPLAIN "
    with services.db.engine.connect() as conn:
        rows = conn.execute(text(prefix + str(compiled))).all()
    if dialect.name == "sqlite":
        return "\n".join(str(row[-1]) for row in rows)
    return "\n".join(str(row[0]) for row in rows)


def _time(client: Any, headers: dict[str, str], case: Case, repeat: int) -> Timing:
    path = f"/api/v1/rotas/{case.rota_id}/on-call"
    query = {"at": case.at.isoformat()}
    for _ in range(max(repeat // 10, 5)):  # warm caches and connection pool
        client.get(path, query_string=query, headers=headers)
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path, query_string=query, headers=headers)
        samples.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise SystemExit(f"{case.label}: HTTP {response.status_code} {response.json}")
    return Timing(case, samples)


def run(url: str | None, repeat: int) -> tuple[str, str, list[Timing], str]:
    """Seed one database and time every case; returns engine, version, timings and a plan."""
    with migrated_database(url, "bench_rota") as (engine_name, database_url):
        env = {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "bench",
            "TWILIO_AUTH_TOKEN": "bench",
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "CRISIS_LINE_NUMBER": "+447700900000",
            # The benchmark times the API, not its rate limit (300 a minute by default).
            "API_RATE_LIMIT": "1000000 per minute",
        }
        settings = load_settings(env, instance_path=tempfile.gettempdir())
        app = create_app({"TESTING": True}, settings=settings, clock=FakeClock(NOW))
        services: Services = app.extensions["crisisline"]
        try:
            token, cases = _seed(services)
            _analyse(services)
            with services.db.engine.connect() as conn:
                if engine_name == "SQLite":
                    version = "SQLite " + str(
                        conn.execute(text("select sqlite_version()")).scalar()
                    )
                else:
                    version = str(conn.execute(text("show server_version")).scalar())
                    version = "PostgreSQL " + version.split()[0]
            client = app.test_client()
            headers = {"Authorization": f"Bearer {token}"}
            # Interleaved rounds, so drift in the machine's speed hits every case alike.
            rounds = 5
            samples: dict[str, list[float]] = {case.label: [] for case in cases}
            for _ in range(rounds):
                for case in cases:
                    timing = _time(client, headers, case, max(repeat // rounds, 20))
                    samples[case.label].extend(timing.samples)
            timings = [Timing(case, samples[case.label]) for case in cases]
            plan = _plan(services, cases[2])
        finally:
            services.db.dispose()
    return engine_name, version, timings, plan


def _markdown(results: list[tuple[str, str, list[Timing], str]], repeat: int) -> str:
    lines = [
        f"Measured {dt.date.today():%d %B %Y} on {machine()}; {repeat} requests per case,",
        "in five interleaved rounds; times are per request through the Flask test client.",
        "",
    ]
    for engine_name, version, timings, plan in results:
        base = timings[0].median
        lines += [
            f"**{version}**",
            "",
            "| case | median | p95 | ratio to baseline (median) |",
            "|---|---|---|---|",
        ]
        for timing in timings:
            lines.append(
                f"| {timing.case.label} | {timing.median * 1000:.2f} ms | "
                f"{timing.p95 * 1000:.2f} ms | {timing.median / base:.2f} |"
            )
        lines += [
            "",
            f"Plan of the override lookup ({engine_name}, 10,000 overrides):",
            "",
            "```",
            plan,
            "```",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    """Run the benchmark on each configured engine and print (or write) the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", action="append", help="sqlite, or a database URL to run on (repeat)"
    )
    parser.add_argument("--repeat", type=int, default=500, help="requests per case")
    parser.add_argument("--write", type=Path, help="replace the results block in this file")
    args = parser.parse_args()
    urls = database_urls(args.database_url)
    results = []
    for url in urls:
        engine_name, version, timings, plan = run(url, args.repeat)
        results.append((engine_name, version, timings, plan))
        base = timings[0].median
        print(f"{version}")
        for timing in timings:
            print(
                f"  {timing.case.label:<55} median {timing.median * 1000:7.2f} ms  "
                f"p95 {timing.p95 * 1000:7.2f} ms  ratio {timing.median / base:5.2f}"
            )
        print("  plan: " + plan.replace("\n", "\n        "))
    block = _markdown(results, args.repeat)
    if args.write:
        write_block(args.write, START_MARK, END_MARK, block)
        print(f"Wrote the results to {args.write}.")
    else:
        print()
        print(block)


if __name__ == "__main__":
    main()
