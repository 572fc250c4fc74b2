"""The shared harness of the webhook benchmarks (bench/voice_webhook.py, bench/sms_webhook.py).

Two gunicorn servers with config/gunicorn.conf.py (the Procfile's settings): the real service
on a fresh database seeded with the demo staff and rotas and 500 participants, and the bare
endpoint in bench/bare_twiml_app.py. Signed webhooks are sent to both at rising concurrency
in the same run, so the service's throughput can be given as a share of the bare endpoint's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import multiprocessing
import multiprocessing.queues
import os
import runpy
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import machine, postgres_driver, write_block  # noqa: E402
from crisisline import demo, participants  # noqa: E402
from crisisline.app import create_app  # noqa: E402
from crisisline.clock import FakeClock  # noqa: E402
from crisisline.migrate import upgrade  # noqa: E402
from crisisline.models import RiskLevel  # noqa: E402
from crisisline.settings import load_settings  # noqa: E402
from crisisline.telephony import sign  # noqa: E402

AUTH_TOKEN = "bench-auth-token"  # noqa: S105 (a throwaway token for a local benchmark)
LINE = "+447700900000"
PARTICIPANT_NUMBERS = [f"+447700900{n:03d}" for n in range(300, 800)]
CONCURRENCY = (1, 10, 50)
# The load comes from this many processes (each with its share of the connections). One
# Python process of fifty threads is held back by its own GIL before the bare endpoint is:
# on 27 November it capped the bare endpoint at about 4,200 requests a second where two
# processes reached 5,200, while the service and the floor moved little, so every ratio to
# the bare endpoint read about 0.1 too high. Two, three and five processes gave the same ratios.
LOAD_PROCESSES = 2
# Each level runs the three servers in turn, this many times, so that a slow moment of the
# machine falls on all three alike rather than on one. A round of 500 webhooks lasts a few
# tenths of a second at 50 concurrent, shorter than the machine's slow spells: with 3 rounds
# the bare endpoint alone moved by a third from run to run on 27 November, and the ratios
# with it (service / bare 0.48-0.63 in one hour); with 10 they held within about 0.06.
ROUNDS = 10

FormMaker = Callable[[int], dict[str, str]]
"""The n-th webhook's form fields (without the signature)."""


@dataclass
class Result:
    """One load level against one server."""

    concurrency: int
    requests: int
    seconds: float
    latencies: list[float]
    errors: int
    load_busy: float = 0.0
    """The busiest load process's CPU time over its wall time: near 1 (or lower, for a process
    whose threads queue for its GIL) the load generator, not the server, limited the rate."""

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def pooled(results: list[Result]) -> Result:
    """Several runs of one level against one server as one: all requests over all the time."""
    return Result(
        results[0].concurrency,
        sum(r.requests for r in results),
        sum(r.seconds for r in results),
        [latency for r in results for latency in r.latencies],
        sum(r.errors for r in results),
        max(r.load_busy for r in results),
    )


def free_port() -> int:
    """A TCP port on loopback that nothing is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def fresh_database(url: str | None) -> Iterator[str]:
    """A temporary SQLite file (None), or a throwaway database on this PostgreSQL server."""
    if url is None:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.db"
        return
    server = make_url(postgres_driver(url))
    name = f"bench_webhook_{secrets.token_hex(4)}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def seed(
    database_url: str, instance: str, numbers: Sequence[str] = tuple(PARTICIPANT_NUMBERS)
) -> None:
    """Migrate, add the demo staff and rotas and a participant on each of `numbers` (drama
    numbers; by default the 500 the webhook benchmarks text from)."""
    upgrade(database_url)
    env = {"DATABASE_URL": database_url, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "SECRET_KEY": "b"}
    app = create_app(
        settings=load_settings(env, instance_path=instance),
        clock=FakeClock(dt.datetime.now(dt.UTC)),
    )
    svc = app.extensions["crisisline"]
    with svc.db.transaction() as session:
        now = svc.clock.now()
        demo.seed(session, now=now)
        for index, number in enumerate(numbers):
            participants.create(
                session,
                participants.NewParticipant(
                    reference=f"B{index:04d}",
                    name=f"Bench Person{index}",
                    phones=[number],
                    responsible_officer_id=None,
                    risk_level=RiskLevel.MEDIUM,
                ),
                actor="bench",
                now=now,
            )
    svc.db.dispose()


@contextmanager
def gunicorn(app_spec: str, env: dict[str, str], port: int) -> Iterator[None]:
    """Serve `app_spec` with the Procfile's gunicorn settings on `port` until the block ends."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "config/gunicorn.conf.py", app_spec],
        cwd=ROOT,
        env={
            **env,
            "PORT": str(port),
            "PATH": os.environ.get("PATH", ""),
            # The server settings the report states (config/gunicorn.conf.py reads them).
            **{k: os.environ[k] for k in ("WEB_CONCURRENCY", "WEB_THREADS") if k in os.environ},
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn for {app_spec} did not start") from None
                time.sleep(0.1)
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def load(port: int, path: str, make_form: FormMaker, concurrency: int, total: int) -> Result:
    """Post `total` signed webhooks to `path` from `concurrency` connections at once, spread
    over up to LOAD_PROCESSES processes that start together."""
    processes = min(LOAD_PROCESSES, concurrency)
    context = multiprocessing.get_context("fork")  # make_form and the rest need no pickling
    ready = context.Barrier(processes + 1)
    answers: multiprocessing.queues.Queue[_Part] = context.Queue()
    children = [
        context.Process(
            target=_load_part,
            args=(
                port,
                path,
                make_form,
                concurrency * (i + 1) // processes - concurrency * i // processes,
                range(total * i // processes, total * (i + 1) // processes),
                ready,
                answers,
            ),
        )
        for i in range(processes)
    ]
    for child in children:
        child.start()
    ready.wait()  # every process has started: they all begin now
    parts = [answers.get(timeout=600) for _ in children]
    for child in children:
        child.join()
    return Result(
        concurrency,
        total,
        max(part.ended for part in parts) - min(part.started for part in parts),
        [latency for part in parts for latency in part.latencies],
        sum(part.errors for part in parts),
        max(part.cpu / (part.ended - part.started) for part in parts),
    )


@dataclass
class _Part:
    """What one load process measured (perf_counter is the same clock in every process)."""

    started: float
    ended: float
    cpu: float  # the process's CPU time (all its threads) from start to end
    latencies: list[float]
    errors: int


def _load_part(
    port: int,
    path: str,
    make_form: FormMaker,
    concurrency: int,
    numbers: range,
    ready: threading.Barrier,
    answers: multiprocessing.queues.Queue[_Part],
) -> None:
    """In a load process: post the webhooks numbered `numbers` from `concurrency` threads."""
    base = f"http://127.0.0.1:{port}"
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(numbers)

    def worker() -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for n in counter:
            form = make_form(n)
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": sign(AUTH_TOKEN, base + path, form),
            }
            started = time.perf_counter()
            conn.request("POST", path, body=urllib.parse.urlencode(form), headers=headers)
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if response.status != 200:
                    errors += 1
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    ready.wait()
    started, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ended = time.perf_counter()
    answers.put(_Part(started, ended, time.process_time() - cpu, latencies, errors))


def statements_per_request(
    database_url: str, instance: str, path: str, make_form: FormMaker
) -> tuple[int, int]:
    """SQL statements one webhook runs (BEGIN and COMMIT not counted), in-process: the first in
    a fresh process, then a second from the same number. Deterministic, whatever the machine."""
    base = "http://bench.invalid"
    env = {
        "DATABASE_URL": database_url,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "SECRET_KEY": "bench",
        "TELEPHONY": "console",
        "PUBLIC_BASE_URL": base,
    }
    app = create_app(settings=load_settings(env, instance_path=instance))
    svc = app.extensions["crisisline"]
    seen: list[str] = []

    def note(*args: object) -> None:
        if not str(args[2]).startswith("BEGIN"):
            seen.append(str(args[2]))

    def one_statement(*_args: object) -> None:
        # The one-statement call path (crisisline.call_intake) runs its statement on the
        # driver's connection, which SQLAlchemy's statement events do not see; each checkout
        # of its pool is one statement.
        seen.append("call intake")

    if svc.db.engine.dialect.name == "postgresql":
        event.listen(svc.db.autocommit_engine, "checkout", one_statement)
    client = app.test_client()
    counts = []
    n = len(PARTICIPANT_NUMBERS) - 1  # a number the load levels reach last
    for _ in range(2):
        form = make_form(n)
        seen.clear()
        event.listen(svc.db.engine, "before_cursor_execute", note)
        response = client.post(
            path, data=form, headers={"X-Twilio-Signature": sign(AUTH_TOKEN, base + path, form)}
        )
        event.remove(svc.db.engine, "before_cursor_execute", note)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code} in-process")
        counts.append(len(seen))
    svc.db.dispose()
    return counts[0], counts[1]


Level = tuple[Result, Result, Result]
"""One load level: the service, the bare endpoint and the durable floor."""

AfterLoad = Callable[[str, str], str]
"""Work measured after the load levels (database URL, instance folder): a line for the report."""

Run = tuple[str, list[Level], tuple[int, int], str]


def run(
    database_url: str | None,
    path: str,
    make_form: FormMaker,
    total: int,
    rounds: int = ROUNDS,
    after: AfterLoad | None = None,
) -> Run:
    """The three servers on one fresh database, each at each level in turn."""
    with fresh_database(database_url) as url, tempfile.TemporaryDirectory() as instance:
        seed(url, instance)
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(
                text("CREATE TABLE bench_floor (sid VARCHAR(64) UNIQUE, from_number VARCHAR(20))")
            )
        engine.dispose()
        statements = statements_per_request(url, instance, path, make_form)
        env = {
            "DATABASE_URL": url,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "SECRET_KEY": "bench",
            "INSTANCE_PATH": instance,
            "TELEPHONY": "console",
        }
        rows: list[Level] = []
        ports = {"service": free_port(), "bare": free_port(), "floor": free_port()}
        # Signatures are checked against PUBLIC_BASE_URL, so it must be each server's URL.
        env_for = {
            name: {**env, "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}
            for name, port in ports.items()
        }
        with (
            gunicorn("bench.bare_twiml_app:app", env_for["bare"], ports["bare"]),
            gunicorn("bench.durable_floor_app:app", env_for["floor"], ports["floor"]),
            gunicorn("crisisline.app:create_app()", env_for["service"], ports["service"]),
        ):
            for concurrency in CONCURRENCY:
                for port in ports.values():
                    load(port, path, make_form, concurrency, 50)  # warm up
                results: dict[str, list[Result]] = {name: [] for name in ports}
                for _ in range(rounds):
                    for name, port in ports.items():
                        results[name].append(load(port, path, make_form, concurrency, total))
                service, bare, floor = (pooled(results[name]) for name in ports)
                rows.append((service, bare, floor))
        name = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        afterwards = after(url, instance) if after is not None else ""
        return name, rows, statements, afterwards


def report(runs: list[Run], total: int, rounds: int, what: str) -> str:
    """The results as the Markdown tables docs/performance.md keeps."""
    # The settings gunicorn used, read from its config as it reads them (this environment).
    server = runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))
    lines = [
        f"Measured {dt.date.today():%d %B %Y} on {machine()}; gunicorn with "
        f"config/gunicorn.conf.py (WEB_CONCURRENCY={server['workers']}, "
        f"WEB_THREADS={server['threads']}); per level and server {rounds} "
        f"rounds of {total} signed webhooks, the three servers taking turns, {what}; load from "
        f"{LOAD_PROCESSES} Python processes (one at 1 concurrent). *Floor*: "
        "bench/durable_floor_app.py (signature, form, one committed row, TwiML).",
        "",
    ]
    for engine, rows, (first, again), afterwards in runs:
        lines += [
            f"**{engine}**: {first} SQL statement{'' if first == 1 else 's'} for the first "
            "webhook (a fresh process), "
            f"{again} for the next one from the same number (counted in-process, BEGIN and "
            "COMMIT left out).",
            "",
            "| concurrent | service req/s | bare req/s | floor req/s | service / bare | "
            "floor / bare | service / floor | service p50 | service p99 | bare p99 | floor p99 "
            "| errors |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for service, bare, floor in rows:
            lines.append(
                f"| {service.concurrency} | {service.throughput:.0f} | {bare.throughput:.0f} | "
                f"{floor.throughput:.0f} | {service.throughput / bare.throughput:.2f} | "
                f"{floor.throughput / bare.throughput:.2f} | "
                f"{service.throughput / floor.throughput:.2f} | "
                f"{service.percentile(0.5):.1f} ms | {service.percentile(0.99):.1f} ms | "
                f"{bare.percentile(0.99):.1f} ms | {floor.percentile(0.99):.1f} ms | "
                f"{service.errors + bare.errors + floor.errors} |"
            )
        top = rows[-1][1]  # the bare endpoint at the highest level: the load most likely to limit
        lines += [
            "",
            f"The busiest load process used {top.load_busy:.0%} of a CPU against the bare endpoint "
            f"at {top.concurrency} concurrent (the single load process used before 27 November "
            "stalled on its own GIL at about 75%, and limited the bare endpoint).",
        ]
        lines.append("")
        if afterwards:
            lines += [afterwards, ""]
    return "\n".join(lines).rstrip("\n")


def main(
    description: str,
    path: str,
    make_form: FormMaker,
    what: str,
    marks: tuple[str, str],
    after: AfterLoad | None = None,
) -> None:
    """Command line of a webhook benchmark: run on each database, print, optionally write."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--database-url",
        action="append",
        default=None,
        help="sqlite, or a PostgreSQL server URL (a throwaway database is created on it)",
    )
    parser.add_argument("--requests", type=int, default=500, help="webhooks per round")
    parser.add_argument(
        "--rounds", type=int, default=ROUNDS, help="rounds per level, the servers taking turns"
    )
    parser.add_argument("--write", type=Path, help="replace the results block in this file")
    args = parser.parse_args()
    # "sqlite" means a temporary SQLite file; anything else is a PostgreSQL server URL.
    urls: list[str | None] = [None if u == "sqlite" else u for u in args.database_url or []]
    if not urls:
        urls = [None]
        server = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
        if server:
            urls.append(server)
    runs = [run(url, path, make_form, args.requests, args.rounds, after) for url in urls]
    block = report(runs, args.requests, args.rounds, what)
    print(block)
    if args.write:
        write_block(args.write, *marks, block)
