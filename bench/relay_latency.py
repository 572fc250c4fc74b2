"""Benchmark: how soon a participant's text, or a missed call, reaches the on-call phone.

    .venv/bin/python bench/relay_latency.py [--quick] [--database-url URL] [--no-write]

End to end as Twilio sees it, on PostgreSQL (BENCH_DATABASE_URL or TEST_DATABASE_URL; each
part runs in a throwaway schema of that database, dropped afterwards, so use a database no
scheduler runs on):

- The Procfile's `web` (gunicorn with config/gunicorn.conf.py) and `scheduler` processes run
  with TELEPHONY=twilio against the project's Twilio simulator (crisisline.simulator), served
  over loopback HTTP from this process the way `crisisline simulate serve` serves it, so the
  moment it receives each REST request is known on this process's clock. The database holds
  the demo staff and rotas (who is on call) and 40 participants on +4477009003xx numbers.
- **Texts**: signed SMS webhooks (X-Twilio-Signature) from the 40 participants in turn, two a
  second, then a second run at 10 a second, each text at a random moment of its slot (a fixed
  timetable would meet a polling scheduler's ticks at fixed phases). For each text: from
  sending the webhook request to the simulator receiving the text telling the on-call worker
  (reported apart for each participant's first text, which opens a conversation and its
  escalation, and later texts, which are relayed), and for each first text, to the
  acknowledgement the participant is sent (once per conversation).
- **Missed calls**: participants call in turn, a random 0.5-1.5 s apart, and nobody answers.
  The simulator plays the whole call at once, without waiting out the rings, so the time is
  measured from the request that ends the ring chain (the first, after a <Dial>, that the
  service answers without dialling again: the moment it records the call as missed and
  queues the risk alert) to the simulator receiving the first text to staff naming the caller.
- **Idle CPU**: the CPU time (user + system, /proc/<pid>/stat) the scheduler process uses
  over 60 s with nothing to do, after 5 s for start-up's first passes.

Everything runs twice in one go, with WAKEUPS=on (the scheduler woken by the database's
notifications) and WAKEUPS=off (polling every second, the baseline), and the report gives the
ratio off / on. `--quick` sends fewer texts and calls and measures idle CPU over 10 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import logging
import math
import os
import random
import runpy
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import machine, migrated_database, postgres_driver, write_block  # noqa: E402
from bench.webhook_harness import AUTH_TOKEN, LINE, free_port, seed  # noqa: E402
from crisisline.simulator import (  # noqa: E402
    CallScript,
    RequestsTransport,
    SimulatedMessage,
    Simulator,
    create_simulator_app,
)
from crisisline.telephony import sign  # noqa: E402

ACCOUNT_SID = "AC" + "5" * 32
PARTICIPANTS = [f"+447700900{n:03d}" for n in range(300, 340)]
SETTINGS = ("on", "off")
MARKS = ("<!-- bench:relay_latency:start -->", "<!-- bench:relay_latency:end -->")
DOC = ROOT / "docs" / "performance.md"
WAIT_SECONDS = 20.0
"""How long after the last text or call its messages may take before they count as lost."""


@dataclass(frozen=True)
class Plan:
    """What one run sends."""

    slow_texts: int = 80  # one every 0.5 s: each participant twice
    fast_texts: int = 200  # 10 a second: each participant five times
    calls: int = 20
    idle_seconds: float = 60.0
    participants: int = len(PARTICIPANTS)  # the texts come from the first this many, in turn

    @classmethod
    def quick(cls) -> Plan:
        """A smaller run (under three minutes) that still has first and later texts."""
        return cls(slow_texts=20, fast_texts=40, calls=3, idle_seconds=10.0, participants=10)


@dataclass
class Latencies:
    """Seconds from cause to arrival, and how many never arrived."""

    seconds: list[float] = field(default_factory=list)
    lost: int = 0

    def percentile(self, q: float) -> float:
        """The q-quantile in ms (nearest rank); q=1 is the maximum."""
        ordered = sorted(self.seconds)
        if not ordered:
            return float("nan")
        rank = max(0, min(len(ordered) - 1, -(-int(q * 1000) * len(ordered) // 1000) - 1))
        return ordered[rank] * 1000


@dataclass
class TextRun:
    """One run of texts: from each webhook to what the simulator received because of it."""

    opening: Latencies = field(default_factory=Latencies)
    """Each participant's first text (it opens a conversation and its escalation) to the text
    telling the on-call worker."""
    joining: Latencies = field(default_factory=Latencies)
    """Later texts (they join the open conversation) to their relay to the on-call worker."""
    acknowledged: Latencies = field(default_factory=Latencies)
    """Each participant's first text to the acknowledgement the participant is sent (once per
    conversation)."""


@dataclass
class SettingResult:
    """Everything measured with WAKEUPS set one way."""

    wakeups: str
    texts: dict[str, TextRun]  # by rate ("2 a second" ...)
    calls: Latencies
    idle_cpu: float  # scheduler CPU seconds over the idle spell
    idle_seconds: float


class _TimedTransport(RequestsTransport):
    """The simulator's webhooks to the service, noting when each call's ring chain ended.

    The chain has ended at the first request about a call, after a <Dial>, that the service
    answers without dialling again (it plays the apology and offers a message): in that
    request the service records the call as missed and queues its first escalation text.
    """

    def __init__(self) -> None:
        super().__init__()
        self.chain_ended: dict[str, float] = {}  # CallSid -> time.time() the request was sent
        self._dialled: set[str] = set()
        self._lock = threading.Lock()

    def post(
        self, url: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> tuple[int, str]:
        sent = time.time()
        status, body = super().post(url, params, headers)
        sid = params.get("CallSid", "")
        with self._lock:
            if "<Dial" in body:
                self._dialled.add(sid)
            elif sid in self._dialled and "/webhooks/voice" in url and "<Response" in body:
                self.chain_ended.setdefault(sid, sent)
        return status, body


class _Twilio:
    """The simulator, serving its REST API on a loopback port from a thread of this process."""

    def __init__(self, provider_delay: float = 0.0) -> None:
        self.transport = _TimedTransport()
        self.sim = Simulator(
            account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, transport=self.transport
        )
        self.sim.default_call_script = CallScript(answer="no-answer")  # nobody takes a call
        if provider_delay:
            self.sim.slow_requests(provider_delay)
        self.server = make_server("127.0.0.1", free_port(), create_simulator_app(self.sim), True)
        self.url = f"http://127.0.0.1:{self.server.port}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        # Delivery status callbacks, as `simulate serve` runs them.
        self._stop_callbacks = self.sim.run_in_background(0.5)

    def outbound(self, start: int = 0) -> list[SimulatedMessage]:
        """The texts the service has sent through the REST API, from index `start` on."""
        return [m for m in list(self.sim.messages)[start:] if m.direction != "inbound"]

    def close(self) -> None:
        self._stop_callbacks()
        self.sim.clear_faults()
        self.server.shutdown()
        self.server.server_close()


def _procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


@contextmanager
def _process(name: str, command: str, env: dict[str, str], logs: Path) -> Iterator[int]:
    """Run a Procfile line as a platform would (`exec` in a shell); its pid. Always stopped."""
    log = (logs / f"{name}.log").open("w")
    process = subprocess.Popen(
        [shutil.which("bash") or "/bin/bash", "-c", "exec " + command],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: gunicorn's workers are stopped with it
    )
    try:
        yield process.pid
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        log.close()


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback only)
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:  # not listening yet, or not answering yet
        return 0


def _wait_healthy(base: str, logs: Path, seconds: float = 60) -> None:
    """Until /healthz answers 200: the web serves and the scheduler's heartbeat is seen."""
    deadline = time.monotonic() + seconds
    while _get(f"{base}/healthz") != 200:
        if time.monotonic() > deadline:
            tails = "\n".join(
                f"--- {log.name}\n" + "\n".join(log.read_text().splitlines()[-30:])
                for log in sorted(logs.glob("*.log"))
            )
            raise RuntimeError(f"the service did not become healthy at {base}\n{tails}")
        time.sleep(0.2)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far (/proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sent:
    """One text sent to the service's SMS webhook."""

    number: str
    tag: str
    at: float  # time.time() just before the request was sent


def text_form(number: str, body: str) -> dict[str, str]:
    """An inbound text as Twilio posts it to the SMS webhook."""
    sid = "SM" + os.urandom(16).hex()
    return {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": number,
        "To": LINE,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }


class _Sender:
    """Signed SMS webhooks to the service, each on a connection of its own thread."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/webhooks/sms"

    def send(self, number: str, tag: str) -> Sent:
        form = text_form(number, f"are you there? it's getting bad again ({tag})")
        body = urllib.parse.urlencode(form)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": sign(AUTH_TOKEN, self.url, form),
        }
        # A new connection each time, as Twilio's webhooks come (the connect is timed too).
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        at = time.time()
        try:
            conn.request("POST", "/webhooks/sms", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
        finally:
            conn.close()
        if response.status != 200:
            raise RuntimeError(f"the SMS webhook answered {response.status}")
        return Sent(number, tag, at)

    def paced(self, count: int, per_second: float, prefix: str, senders: int) -> list[Sent]:
        """`count` texts from the first `senders` participants in turn, `per_second` of them
        a second: the n-th at a random moment of the n-th slot of 1 / `per_second` seconds.

        Not on the slots' edges: texts exactly every 0.5 s would each meet a one-second
        polling scheduler at one of only two phases, and the baseline would depend on which.
        """
        randomly = random.Random(count)
        start = time.monotonic() + 0.2
        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = []
            for n in range(count):
                delay = start + (n + randomly.random()) / per_second - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                futures.append(pool.submit(self.send, PARTICIPANTS[n % senders], f"{prefix}{n}"))
            return [future.result() for future in futures]


@dataclass(frozen=True)
class Service:
    """The Procfile's web and scheduler on one fresh database."""

    port: int
    web_pid: int
    scheduler_pid: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def service(database_url: str | None, twilio: _Twilio, wakeups: str) -> Iterator[Service]:
    """A fresh seeded database and the `web` and `scheduler` processes on it, WAKEUPS set.

    `database_url` names a PostgreSQL database (a throwaway schema is made in it), or is None
    for a temporary SQLite file (the smoke test's second engine: two processes on SQLite poll).
    """
    procfile = _procfile()
    with ExitStack() as stack:
        # A schema of its own, dropped afterwards (dropping a whole database waits for a
        # checkpoint, many seconds on a busy server); nothing else runs in it meanwhile.
        _, url = stack.enter_context(migrated_database(database_url, "bench_relay"))
        instance = stack.enter_context(tempfile.TemporaryDirectory())
        logs = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        seed(url, instance, PARTICIPANTS)
        port = free_port()
        env = {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "DATABASE_URL": url,
            "INSTANCE_PATH": instance,
            "SECRET_KEY": "bench",
            "TELEPHONY": "twilio",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_API_BASE_URL": twilio.url,
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "CRISIS_LINE_NUMBER": LINE,
            "PORT": str(port),
            "WAKEUPS": wakeups,
            **{k: os.environ[k] for k in ("WEB_CONCURRENCY", "WEB_THREADS") if k in os.environ},
        }
        web = stack.enter_context(_process("web", procfile["web"], env, logs))
        scheduler = stack.enter_context(_process("scheduler", procfile["scheduler"], env, logs))
        running = Service(port, web, scheduler)
        _wait_healthy(running.base, logs)
        base = running.base
        twilio.sim.configure_number(
            LINE,
            voice_url=f"{base}/webhooks/voice",
            voice_fallback_url=f"{base}/webhooks/voice/fallback",
            voice_status_callback=f"{base}/webhooks/voice/status",
            sms_url=f"{base}/webhooks/sms",
            sms_fallback_url=f"{base}/webhooks/sms/fallback",
        )
        try:
            yield running
        finally:
            # Status callbacks still queued reach the service before it stops.
            twilio.sim.run_pending()


def _first_after(
    messages: list[SimulatedMessage], at: float, match: Callable[[SimulatedMessage], bool]
) -> float | None:
    """When the first message `match` accepts arrived at or after `at` (time.time())."""
    times = [m.date_created.timestamp() for m in messages if match(m)]
    later = [t for t in times if t >= at]
    return min(later) if later else None


def _wait_for(done: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.1)


def measure_texts(
    twilio: _Twilio, svc: Service, count: int, per_second: float, prefix: str, senders: int
) -> TextRun:
    """`count` texts at `per_second` from `senders` participants in turn.

    Every text is relayed to the on-call worker with its body, so the tag at the end of the
    body tells which text a relay carries; the participant is acknowledged once per
    conversation (the first text to their number after their first text).
    """
    mark = len(twilio.sim.messages)
    sent = _Sender(svc.port).paced(count, per_second, prefix, senders)
    openers: dict[str, Sent] = {}
    for one in sent:
        openers.setdefault(one.number, one)
    tags = {f"({one.tag})": one for one in sent}

    def forwarded() -> dict[str, float]:
        arrived: dict[str, float] = {}
        for m in twilio.outbound(mark):
            for tag in _tags_in(m.body, tags):
                arrived.setdefault(tag, m.date_created.timestamp())
        return arrived

    def acknowledged() -> dict[str, float]:
        arrived: dict[str, float] = {}
        for m in twilio.outbound(mark):
            if m.to in openers and m.date_created.timestamp() >= openers[m.to].at:
                arrived.setdefault(m.to, m.date_created.timestamp())
        return arrived

    _wait_for(
        lambda: len(forwarded()) == len(sent) and len(acknowledged()) == len(openers),
        WAIT_SECONDS,
    )
    relayed, acks = forwarded(), acknowledged()
    run = TextRun()
    first = {id(one) for one in openers.values()}
    for tag, one in tags.items():
        into = run.opening if id(one) in first else run.joining
        if tag in relayed:
            into.seconds.append(relayed[tag] - one.at)
        else:
            into.lost += 1
    for number, one in openers.items():
        if number in acks:
            run.acknowledged.seconds.append(acks[number] - one.at)
        else:
            run.acknowledged.lost += 1
    return run


def _tags_in(body: str, tags: Mapping[str, Sent]) -> list[str]:
    start = body.rfind("(")
    tag = body[start:] if start >= 0 else ""
    return [tag] if tag in tags else []


def measure_missed_calls(twilio: _Twilio, count: int) -> Latencies:
    """`count` calls nobody answers, one after another from different participants: from the
    request that ended the ring chain to the first escalation text to staff."""
    result = Latencies()
    randomly = random.Random(count)
    for n in range(count):
        seconds = _missed_call(twilio, PARTICIPANTS[n], f"B{n:04d}")
        if seconds is None:
            result.lost += 1
        else:
            result.seconds.append(seconds)
        # A random pause: a fixed one would start every call at the same phase of a polling
        # scheduler's second (each starts a fixed time after the last one's text, which went
        # out on a tick), and the baseline would measure that phase, not polling.
        time.sleep(0.5 + randomly.random())
    return result


def _missed_call(twilio: _Twilio, caller: str, reference: str) -> float | None:
    """One call from `caller` (whose participant reference is `reference`) nobody answers."""
    mark = len(twilio.sim.messages)
    record = twilio.sim.incoming_call(caller, LINE)
    ended = twilio.transport.chain_ended.get(record.sid)
    if ended is None:
        raise RuntimeError("the simulator never saw the call's ring chain end")

    def first() -> float | None:
        return _first_after(
            twilio.outbound(mark), ended, lambda m: m.to != caller and reference in m.body
        )

    _wait_for(lambda: first() is not None, WAIT_SECONDS)
    arrived = first()
    return None if arrived is None else arrived - ended


def measure_idle_cpu(svc: Service, seconds: float, settle: float = 5.0) -> float:
    """CPU seconds the scheduler process uses over `seconds` with nothing to do, after
    `settle` seconds for start-up's first passes."""
    time.sleep(settle)
    before = cpu_seconds(svc.scheduler_pid)
    time.sleep(seconds)
    return cpu_seconds(svc.scheduler_pid) - before


def run_setting(
    database_url: str | None, twilio: _Twilio, wakeups: str, plan: Plan
) -> SettingResult:
    """Everything with WAKEUPS=`wakeups`, each part on a fresh database and fresh processes
    (conversations and alerts start afresh, so every run sees the same first texts)."""
    with service(database_url, twilio, wakeups) as svc:
        idle = measure_idle_cpu(svc, plan.idle_seconds)
        calls = measure_missed_calls(twilio, plan.calls)
    texts: dict[str, TextRun] = {}
    for name, count, per_second in (
        ("2 a second", plan.slow_texts, 2.0),
        ("10 a second", plan.fast_texts, 10.0),
    ):
        with service(database_url, twilio, wakeups) as svc:
            prefix = f"{wakeups}{int(per_second)}-"
            texts[name] = measure_texts(twilio, svc, count, per_second, prefix, plan.participants)
    return SettingResult(wakeups, texts, calls, idle, plan.idle_seconds)


def wakeups_supported() -> bool:
    """Whether this code reads WAKEUPS at all (before it did, both settings polled)."""
    return any("WAKEUPS" in path.read_text() for path in (ROOT / "crisisline").rglob("*.py"))


def postgres_version(database_url: str) -> str:
    engine = create_engine(postgres_driver(database_url))
    try:
        with engine.connect() as conn:
            version = str(conn.execute(text("SHOW server_version")).scalar_one())
    finally:
        engine.dispose()
    return version.split()[0]


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.0f} ms"


def _ratio(off: float, on: float) -> str:
    if math.isnan(off) or math.isnan(on) or on <= 0:
        return "-"
    return f"**{off / on:.1f}x**"


def report(
    results: Mapping[str, SettingResult],
    plan: Plan,
    version: str,
    delay: float,
    load: tuple[float, float] | None = None,
) -> str:
    """The results as the Markdown docs/performance.md keeps; `load`: the machine's load
    average (1 minute) when the run started and ended."""
    on, off = results["on"], results["off"]
    server = runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))
    lines = [
        f"Measured {dt.date.today():%d %B %Y} on {machine()}; PostgreSQL {version}; the "
        f"Procfile's `web` (gunicorn, WEB_CONCURRENCY={server['workers']}, "
        f"WEB_THREADS={server['threads']}) and `scheduler`, TELEPHONY=twilio against the "
        "simulator over loopback HTTP"
        + (f" holding each request {delay * 1000:.0f} ms" if delay else "")
        + f"; {plan.slow_texts} texts at 2 a second, {plan.fast_texts} at 10 a second, from "
        f"{plan.participants} participants in turn; {plan.calls} missed calls; idle CPU over "
        f"{plan.idle_seconds:.0f} s."
        + (
            f" The machine's load average (1 minute) was {load[0]:.1f} at the start and "
            f"{load[1]:.1f} at the end, on {os.cpu_count()} CPUs."
            if load is not None
            else ""
        ),
        "",
    ]
    if not wakeups_supported():
        lines += [
            "**This code does not read WAKEUPS yet: both columns are the polling scheduler**, "
            "and the ratios show only how much two runs of the same thing differ.",
            "",
        ]
    lines += [
        "| from → to | count | on: median | p95 | p99 | max | off: median | p95 | p99 | max "
        "| median off / on | p99 off / on |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows: list[tuple[str, Latencies, Latencies]] = []
    for run in on.texts:
        a, b = on.texts[run], off.texts[run]
        rows += [
            (f"{run}: first text → on-call worker told", a.opening, b.opening),
            (f"{run}: later text → relayed to on-call", a.joining, b.joining),
            (f"{run}: first text → participant acknowledged", a.acknowledged, b.acknowledged),
        ]
    rows.append(("missed call (chain ends) → first escalation text", on.calls, off.calls))
    lost = 0
    for label, yes, no in rows:
        lost += yes.lost + no.lost
        cells = [label, f"{len(yes.seconds)} / {len(no.seconds)}"]
        cells += [_ms(yes.percentile(q)) for q in (0.5, 0.95, 0.99, 1.0)]
        cells += [_ms(no.percentile(q)) for q in (0.5, 0.95, 0.99, 1.0)]
        cells += [
            _ratio(no.percentile(0.5), yes.percentile(0.5)),
            _ratio(no.percentile(0.99), yes.percentile(0.99)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Never arrived within {WAIT_SECONDS:.0f} s: {lost}.",
        "",
        f"| idle scheduler, CPU over {plan.idle_seconds:.0f} s | WAKEUPS=on | WAKEUPS=off "
        "| off / on |",
        "|---|---|---|---|",
        f"| user + system | {on.idle_cpu:.2f} s | {off.idle_cpu:.2f} s | "
        + (f"{off.idle_cpu / on.idle_cpu:.1f}x" if on.idle_cpu > 0 else "-")
        + " |",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="fewer texts and calls, 10 s idle")
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL database URL (throwaway schemas are made in it and dropped) "
        "[default: BENCH_DATABASE_URL or TEST_DATABASE_URL]",
    )
    parser.add_argument(
        "--provider-delay",
        type=float,
        default=0.0,
        help="seconds the simulator holds each REST request (a real provider's time)",
    )
    parser.add_argument(
        "--write", type=Path, default=DOC, help="replace the results block in this file"
    )
    parser.add_argument("--no-write", action="store_true", help="only print the results")
    args = parser.parse_args()
    url = (
        args.database_url
        or os.environ.get("BENCH_DATABASE_URL")
        or os.environ.get("TEST_DATABASE_URL")
    )
    if not url or url.startswith("sqlite"):
        parser.error("a PostgreSQL server is needed: --database-url or BENCH_DATABASE_URL")
    # A stop (SIGTERM) unwinds like Ctrl-C, so the processes and databases are cleaned up.
    signal.signal(signal.SIGTERM, _stop)
    for name in ("werkzeug", "crisisline.simulator", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)
    plan = Plan.quick() if args.quick else Plan()
    twilio = _Twilio(args.provider_delay)
    started = os.getloadavg()[0]
    try:
        results = {wakeups: run_setting(url, twilio, wakeups, plan) for wakeups in SETTINGS}
    finally:
        twilio.close()
    load = (started, os.getloadavg()[0])
    block = report(results, plan, postgres_version(url), args.provider_delay, load)
    print(block)
    if not args.no_write:
        write_block(args.write, *MARKS, block)


def _stop(_signum: int, _frame: object) -> None:
    raise SystemExit(1)


if __name__ == "__main__":
    main()
