"""Benchmark: the outbox dispatcher through the Twilio simulator, concurrent against serial.

    .venv/bin/python bench/outbox_dispatch.py [--database-url URL] [--deliveries N]
        [--provider-delay SECONDS] [--workers N] [--write FILE]

Runs on SQLite in a temporary file, and on PostgreSQL too when BENCH_DATABASE_URL or
TEST_DATABASE_URL is set (in a throwaway schema, dropped afterwards). The provider is the
project's simulator served over loopback HTTP (werkzeug, threaded) and the sends go through the
real Twilio adapter (`TwilioTelephony`, twilio-python, one client per thread), exactly as the
scheduler's `dispatch-outbox` job sends them. The simulator holds each request for
`--provider-delay` (default 30 ms, `Simulator.slow_requests`) so that a send costs about what a
real Twilio request does rather than what a loopback request does.

- **Throughput**: `--deliveries` (default 600) queued reminders to distinct drama-range phones
  are dispatched until none is left: deliveries a second with one worker (the old serial
  dispatcher) and with `--workers` (default 8, the DISPATCH_WORKERS default).
- **A participant's relay behind a backlog**: `--backlog` (default 1,000) reminders are
  queued and the dispatcher is busy with them; then a participant's text is relayed (an
  `sms_relay` delivery is written).
  Latency is from that write to the simulator receiving the relay's request. The baseline is
  the old dispatcher: one worker, and every delivery of the same priority (claimed by due time,
  as before priorities existed). Measured once per mode; the baseline waits behind the backlog.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from werkzeug.serving import make_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import database_urls, machine, migrated_database, write_block
from crisisline import outbox
from crisisline.db import Database
from crisisline.delivery_kinds import ROUTINE
from crisisline.simulator import Simulator, create_simulator_app
from crisisline.telephony import TwilioTelephony

ACCOUNT_SID = "AC" + "9" * 32
AUTH_TOKEN = "bench-auth-token"  # noqa: S105 - a fake secret for the simulator
LINE = "+447700900000"
ON_CALL = "+447700900101"
RELAY_BODY = "R1001 D. Price (1): are you there, I need to talk"
BACKLOG = 1000
START_MARK = "<!-- bench:outbox_dispatch:start -->"
END_MARK = "<!-- bench:outbox_dispatch:end -->"


class NoWebhooks:
    """The simulator's callbacks are never run here; nothing is posted anywhere."""

    def post(
        self, url: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> tuple[int, str]:
        """Never called: callbacks stay pending."""
        return 204, ""


def phone(n: int) -> str:
    """The n-th distinct drama-range number (+447700900200 onwards, wrapping in the range)."""
    return f"+447700900{(200 + n) % 1000:03d}"


def queue_reminders(db: Database, count: int) -> None:
    """`count` routine texts, each to its own phone while numbers last."""
    now = dt.datetime.now(dt.UTC)
    with db.transaction() as session:
        for n in range(count):
            outbox.enqueue_sms(
                session,
                to=phone(n),
                from_=LINE,
                body="Reminder: your on-call shift starts at 18:00 tomorrow.",
                purpose="rota_notice",
                now=now,
                flush=False,
            )


def dispatch_all(db: Database, telephony: TwilioTelephony, workers: int) -> int:
    """Run dispatch passes until nothing is due; how many were sent."""
    sent = 0
    while True:
        report = outbox.dispatch_due(
            db,
            telephony,
            lambda: dt.datetime.now(dt.UTC),
            lambda i: f"http://127.0.0.1:9/webhooks/deliveries/{i}/status",
            workers=workers,
        )
        sent += report.sent
        if report.sent + report.retrying + report.failed == 0:
            return sent


def throughput(url: str | None, sim: Simulator, api: str, deliveries: int, workers: int) -> float:
    """Deliveries a second with `workers`."""
    with migrated_database(url, "bench_outbox") as (_, scoped):
        db = Database(scoped)
        queue_reminders(db, deliveries)
        telephony = TwilioTelephony(ACCOUNT_SID, AUTH_TOKEN, api)
        started = time.perf_counter()
        sent = dispatch_all(db, telephony, workers)
        seconds = time.perf_counter() - started
        db.dispose()
    assert sent == deliveries, (sent, deliveries)
    return sent / seconds


def relay_latency(
    url: str | None, sim: Simulator, api: str, workers: int, prioritised: bool, backlog: int
) -> float:
    """Seconds from writing a relay, with the dispatcher busy on `backlog` reminders, to the
    simulator receiving its request."""
    with migrated_database(url, "bench_outbox") as (_, scoped):
        db = Database(scoped)
        queue_reminders(db, backlog)
        telephony = TwilioTelephony(ACCOUNT_SID, AUTH_TOKEN, api)
        before = len(sim.messages)
        worker = threading.Thread(target=dispatch_all, args=(db, telephony, workers))
        worker.start()
        while len(sim.messages) < before + 20:  # the dispatcher is busy with the backlog
            time.sleep(0.002)
        with db.transaction() as session:
            relay = outbox.enqueue_sms(
                session,
                to=ON_CALL,
                from_=LINE,
                body=RELAY_BODY,
                purpose="sms_relay",
                now=dt.datetime.now(dt.UTC),
            )
            if not prioritised:
                # As before priorities: claimed by due time like every reminder.
                relay.priority = ROUTINE
        written = time.perf_counter()
        arrived = None
        while arrived is None:
            if any(m.body == RELAY_BODY for m in sim.messages[before:]):
                arrived = time.perf_counter()
            else:
                time.sleep(0.002)
        worker.join()
        db.dispose()
    return arrived - written


def run(url: str | None, deliveries: int, delay: float, workers: int, backlog: int) -> str:
    """Both measurements on one database, against one simulator; a Markdown block."""
    sim = Simulator(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, transport=NoWebhooks())
    sim.slow_requests(delay)
    server = make_server("127.0.0.1", 0, create_simulator_app(sim), threaded=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    api = f"http://127.0.0.1:{server.port}"
    engine = "SQLite" if url is None or url.startswith("sqlite") else "PostgreSQL"
    try:
        serial = throughput(url, sim, api, deliveries, 1)
        pooled = throughput(url, sim, api, deliveries, workers)
        old_wait = relay_latency(url, sim, api, 1, False, backlog)
        new_wait = relay_latency(url, sim, api, workers, True, backlog)
    finally:
        sim.clear_faults()
        server.shutdown()
        server.server_close()
    print(
        f"{engine}: serial {serial:.1f}/s, {workers} workers {pooled:.1f}/s; relay "
        f"{old_wait:.2f} s -> {new_wait:.3f} s",
        file=sys.stderr,
    )
    return (
        f"| {engine} | {serial:.0f} | {pooled:.0f} | **{pooled / serial:.1f}x** | "
        f"{old_wait:.1f} s | {new_wait * 1000:.0f} ms | **{old_wait / new_wait:.0f}x faster** |"
    )


def main() -> None:
    """Run the benchmark and print (or write) the results block."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--database-url", action="append")
    parser.add_argument("--deliveries", type=int, default=600)
    parser.add_argument("--provider-delay", type=float, default=0.03)
    parser.add_argument("--workers", type=int, default=outbox.DEFAULT_WORKERS)
    parser.add_argument("--backlog", type=int, default=BACKLOG)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    # Each request and each send would be logged: thousands of lines, and time spent on them.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("crisisline").setLevel(logging.ERROR)
    rows = [
        run(url, args.deliveries, args.provider_delay, args.workers, args.backlog)
        for url in database_urls(args.database_url)
    ]
    block = "\n".join(
        [
            f"Measured {dt.date.today().isoformat()} on {machine()}; simulator over loopback "
            f"HTTP holding each request {args.provider_delay * 1000:.0f} ms, the real Twilio "
            f"adapter; {args.deliveries} deliveries for throughput, {args.backlog} queued "
            "reminders for the relay.",
            "",
            f"| database | serial (1 worker) per s | {args.workers} workers per s | ratio | "
            "relay behind backlog, old (serial, no priority) | relay, new | ratio |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    print(block)
    if args.write:
        write_block(args.write, START_MARK, END_MARK, block)


if __name__ == "__main__":
    main()
