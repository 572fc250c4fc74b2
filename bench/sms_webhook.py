"""Benchmark: POST /webhooks/sms under gunicorn, against the same bare TwiML endpoint as voice.

    .venv/bin/python bench/sms_webhook.py [--database-url URL] [--requests N] [--write FILE]

The harness of bench/voice_webhook.py (two gunicorn servers with config/gunicorn.conf.py, a
fresh seeded database, the bare endpoint of bench/bare_twiml_app.py), with signed, realistic
SMS webhooks instead of calls: a new MessageSid each, from one of 500 known participants. The
first text from a number opens a conversation and its crisis-sms escalation (relay texts to the
on-call worker and the acknowledgement written to the outbox); later ones join it and are
relayed. Same targets as calls (issue 6, repeated by issue 7): at least half the bare
throughput, and p99 under 100 ms at 50 concurrent requests.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import os
import platform
import secrets
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.voice_webhook import (  # noqa: E402
    AUTH_TOKEN,
    CONCURRENCY,
    LINE,
    PARTICIPANT_NUMBERS,
    Result,
    _database,
    _free_port,
    _gunicorn,
    _seed,
)
from crisisline.telephony import sign  # noqa: E402

START_MARK = "<!-- bench:sms_webhook:start -->"
END_MARK = "<!-- bench:sms_webhook:end -->"
BODIES = (
    "I can't sleep, my head is all over the place",
    "are you there?",
    "can someone ring me please",
    "things kicked off at the hostel again tonight \U0001f61e",
)


def _load(port: int, path: str, concurrency: int, total: int) -> Result:
    """Post `total` signed inbound-SMS webhooks to `path` from `concurrency` threads."""
    base = f"http://127.0.0.1:{port}"
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(total))

    def worker() -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for n in counter:
            sid = "SM" + secrets.token_hex(16)
            body = BODIES[n % len(BODIES)]
            form = {
                "MessageSid": sid,
                "SmsMessageSid": sid,
                "SmsSid": sid,
                "AccountSid": "AC" + "0" * 32,
                "From": PARTICIPANT_NUMBERS[n % len(PARTICIPANT_NUMBERS)],
                "To": LINE,
                "Body": body,
                "NumMedia": "0",
                "NumSegments": "1",
                "SmsStatus": "received",
                "ApiVersion": "2010-04-01",
            }
            encoded = urllib.parse.urlencode(form)
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": sign(AUTH_TOKEN, base + path, form),
            }
            started = time.perf_counter()
            conn.request("POST", path, body=encoded, headers=headers)
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
    """Both servers on one fresh database; the service and the bare endpoint at each level."""
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
        env_service = {**env, "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}
        with (
            _gunicorn("bench.bare_twiml_app:app", env, bare_port),
            _gunicorn("crisisline.app:create_app()", env_service, port),
        ):
            for concurrency in CONCURRENCY:
                _load(port, "/webhooks/sms", concurrency, 50)  # warm up
                _load(bare_port, "/webhooks/sms", concurrency, 50)
                service = _load(port, "/webhooks/sms", concurrency, total)
                bare = _load(bare_port, "/webhooks/sms", concurrency, total)
                rows.append((service, bare))
        engine = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        return engine, rows


def report(runs: list[tuple[str, list[tuple[Result, Result]]]], total: int) -> str:
    """The results as Markdown between the bench markers."""
    lines = [
        START_MARK,
        f"Measured {dt.date.today():%d %B %Y} on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; gunicorn with "
        f"config/gunicorn.conf.py (WEB_CONCURRENCY={os.environ.get('WEB_CONCURRENCY', '2')}, "
        f"WEB_THREADS={os.environ.get('WEB_THREADS', '4')}); {total} signed webhooks per level, "
        "each a new MessageSid from one of 500 known participants (the first level opens "
        "their conversations and escalations, later levels join them); load from one Python "
        "process.",
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
