"""Benchmark: POST /webhooks/voice under gunicorn, against a bare TwiML endpoint in the same run.

    .venv/bin/python bench/voice_webhook.py [--database-url URL] [--requests N] [--write FILE]

Starts two gunicorn servers with config/gunicorn.conf.py (same workers and threads): the real
service on a fresh database (PostgreSQL when BENCH_DATABASE_URL or TEST_DATABASE_URL names a
server, else SQLite), seeded with staff, rotas and 500 participants; and the bare endpoint in
bench/bare_twiml_app.py. Then it sends signed, realistic voice webhooks (a new CallSid each, a
known participant's number) at rising concurrency and reports throughput and latency, and the
service's throughput as a share of the bare endpoint's. Targets (issue 6): at least half the
bare throughput, and p99 latency under 100 ms at 50 concurrent requests.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

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
START_MARK = "<!-- bench:voice_webhook:start -->"
END_MARK = "<!-- bench:voice_webhook:end -->"


@dataclass
class Result:
    concurrency: int
    requests: int
    seconds: float
    latencies: list[float]
    errors: int

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _database(url: str | None) -> Iterator[str]:
    if url is None:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.db"
        return
    server = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"bench_voice_{secrets.token_hex(4)}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def _seed(database_url: str, instance: str) -> None:
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
        for index, number in enumerate(PARTICIPANT_NUMBERS):
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
def _gunicorn(app_spec: str, env: dict[str, str], port: int) -> Iterator[None]:
    """Serve `app_spec` with the Procfile's gunicorn settings on `port` until the block ends."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "config/gunicorn.conf.py", app_spec],
        cwd=ROOT,
        env={**env, "PORT": str(port), "PATH": os.environ.get("PATH", "")},
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


def _load(port: int, concurrency: int, total: int) -> Result:
    base = f"http://127.0.0.1:{port}"
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(total))

    def worker() -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for n in counter:
            form = {
                "CallSid": "CA" + secrets.token_hex(16),
                "AccountSid": "AC" + "0" * 32,
                "From": PARTICIPANT_NUMBERS[n % len(PARTICIPANT_NUMBERS)],
                "To": LINE,
                "CallStatus": "ringing",
                "Direction": "inbound",
                "ApiVersion": "2010-04-01",
            }
            body = urllib.parse.urlencode(form)
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": sign(AUTH_TOKEN, base + "/webhooks/voice", form),
            }
            started = time.perf_counter()
            conn.request("POST", "/webhooks/voice", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if response.status != 200:
                    errors += 1
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Result(concurrency, total, time.perf_counter() - started, latencies, errors)


def run(database_url: str | None, total: int) -> tuple[str, list[tuple[Result, Result]]]:
    with _database(database_url) as url, tempfile.TemporaryDirectory() as instance:
        _seed(url, instance)
        env = {
            "DATABASE_URL": url,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "SECRET_KEY": "bench",
            "INSTANCE_PATH": instance,
            "TELEPHONY": "console",
        }
        rows: list[tuple[Result, Result]] = []
        bare_port, port = _free_port(), _free_port()
        # Signatures are checked against PUBLIC_BASE_URL, so it must be this server's URL.
        env_service = {**env, "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}
        with (
            _gunicorn("bench.bare_twiml_app:app", env, bare_port),
            _gunicorn("crisisline.app:create_app()", env_service, port),
        ):
            for concurrency in CONCURRENCY:
                _load(port, concurrency, 50)  # warm up
                _load(bare_port, concurrency, 50)
                service = _load(port, concurrency, total)
                bare = _load(bare_port, concurrency, total)
                rows.append((service, bare))
        engine = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        return engine, rows


def report(runs: list[tuple[str, list[tuple[Result, Result]]]], total: int) -> str:
    lines = [
        START_MARK,
        f"Measured {dt.date.today():%d %B %Y} on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; gunicorn with "
        f"config/gunicorn.conf.py (WEB_CONCURRENCY={os.environ.get('WEB_CONCURRENCY', '2')}, "
        f"WEB_THREADS={os.environ.get('WEB_THREADS', '4')}); {total} signed webhooks per level, "
        "each a new CallSid from a known participant; load from one Python process.",
        "",
    ]
    for engine, rows in runs:
        lines += [
            f"**{engine}**",
            "",
            "| concurrent | service req/s | bare req/s | service / bare | service p50 | "
            "service p99 | bare p99 | errors |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for service, bare in rows:
            lines.append(
                f"| {service.concurrency} | {service.throughput:.0f} | {bare.throughput:.0f} | "
                f"{service.throughput / bare.throughput:.2f} | "
                f"{service.percentile(0.5):.1f} ms | {service.percentile(0.99):.1f} ms | "
                f"{bare.percentile(0.99):.1f} ms | {service.errors} |"
            )
        lines.append("")
    lines.append(END_MARK)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--database-url",
        action="append",
        default=None,
        help="sqlite, or a PostgreSQL server URL (a throwaway database is created on it)",
    )
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    # "sqlite" means a temporary SQLite file; anything else is a PostgreSQL server URL.
    urls: list[str | None] = [None if u == "sqlite" else u for u in args.database_url or []]
    if not urls:
        urls = [None]
        server = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
        if server:
            urls.append(server)
    runs = [run(url, args.requests) for url in urls]
    text_ = report(runs, args.requests)
    print(text_)
    if args.write:
        document = args.write.read_text()
        if START_MARK in document:
            head, rest = document.split(START_MARK, 1)
            tail = rest.split(END_MARK, 1)[1]
            document = head + text_ + tail
        else:
            document += "\n" + text_ + "\n"
        args.write.write_text(document)


if __name__ == "__main__":
    main()
