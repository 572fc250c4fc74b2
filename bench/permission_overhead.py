"""Benchmark: what the permission check and the access log cost a request.

    .venv/bin/python bench/permission_overhead.py [--database-url URL] [--repeat N] [--write FILE]

Runs on SQLite in a temporary file, and on PostgreSQL too when BENCH_DATABASE_URL or
TEST_DATABASE_URL is set (in a throwaway schema, dropped afterwards; nothing else is touched).
Four apps are built on the same database in one run, on the real clock (a token's last use is
recorded on every request, as in service):

- *gated*: the app exactly as `create_app` builds it. Each request finds its route's declared
  permission, finds who is asking (the bearer token looked up by its hash, its last use
  recorded, the person and their roles read), checks the permission, and writes the record
  access log entry for the read.
- *ungated*: the same app with the gate's before-request hook taken out and the API's
  access-log calls doing nothing (no participant's access decided, no list narrowed, no entry
  written). The API's rate limit counts per token, so it still finds who is asking, as it did
  before the gate existed.
- the same two with the rate limit off: then the gate alone finds who is asking, and the
  ungated app identifies nobody.

Taking the gate out is this benchmark's own surgery on apps it built: no setting turns it off.
Each case times one request through the Flask test client in every variant in turn, request by
request, so that drift in the machine's speed hits all alike. Two comparisons:

- *in service* (rate limit on): the share of the gated request that the permission check and
  the access log take, (gated - ungated) / gated on medians. The bar: at most 20%.
- *sign-in included* (rate limit off): the same share when the ungated request identifies
  nobody, so finding the token and the person counts against the gate too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import database_urls, machine, migrated_database, write_block
from crisisline import accounts, contacts, gate, participants, staff, tokens, web_sessions
from crisisline.api import access as api_access
from crisisline.app import create_app
from crisisline.clock import SystemClock
from crisisline.models import ApiToken, Channel, Direction, RiskLevel, StaffRole
from crisisline.services import Services
from crisisline.settings import load_settings

START_MARK = "<!-- bench:permission_overhead:start -->"
END_MARK = "<!-- bench:permission_overhead:end -->"
CONTACTS, PAGE = 200, 50  # the man's texts, and how many a page of his contacts shows
BAR = 0.20  # the permission check and the access log may take at most this share of a request
COMPARISONS = {
    "in service (rate limit on)": ("gated", "ungated"),
    "sign-in included (rate limit off)": ("gated, no rate limit", "ungated, no rate limit"),
}


@dataclass(frozen=True)
class Case:
    """One timed request: what it is, its path, and the headers or cookie that sign it in."""

    label: str
    path: str
    headers: dict[str, str]
    cookie: str | None = None  # the console's session cookie
    # The home page says who is signed in, so its view finds them itself: the request cannot be
    # made by nobody, and only the in-service comparison means anything for it.
    signed_in_view: bool = False


@dataclass(frozen=True)
class Result:
    """Per-request times of one case in each variant (by name), in seconds."""

    case: Case
    samples: dict[str, list[float]]

    def median_ms(self, variant: str) -> float:
        return statistics.median(self.samples[variant]) * 1000

    def p95_ms(self, variant: str) -> float:
        return statistics.quantiles(self.samples[variant], n=20)[-1] * 1000

    def times(self, variant: str) -> str:
        return f"{self.median_ms(variant):.2f} ms ({self.p95_ms(variant):.2f} ms)"

    def share(self, gated: str, ungated: str) -> float:
        """What the gated request spends beyond the ungated one, as a share of it (medians)."""
        return (self.median_ms(gated) - self.median_ms(ungated)) / self.median_ms(gated)


def _seed(services: Services) -> list[Case]:
    """An officer with a personal token and a man on his caseload with his texts; the cases."""
    now = services.clock.now()
    plaintext = tokens.TOKEN_PREFIX + secrets.token_urlsafe(32)
    with services.db.transaction() as session:
        officer = staff.create(
            session,
            staff.NewStaff("Bench Officer", "+447700900201", None, [StaffRole.RESPONSIBLE_OFFICER]),
            actor="bench",
            now=now,
        )
        man = participants.create(
            session,
            participants.NewParticipant(
                "R9001", "Bench Participant", ["+447700900501"], officer.id, RiskLevel.HIGH
            ),
            actor="bench",
            now=now,
        )
        for minutes in range(CONTACTS):
            contacts.record(
                session,
                channel=Channel.SMS,
                direction=Direction.INBOUND,
                from_number="+447700900501",
                to_number="+447700900000",
                twilio_sid=None,
                started_at=now - dt.timedelta(minutes=minutes),
                participant_id=man.id,
                body="Bench text: can someone call me back",
            )
        token = accounts.invite(session, officer.id, actor="bench", now=now)
        account = accounts.redeem_invitation(session, token, now=now)
        limits = web_sessions.Limits(
            absolute=services.settings.session_absolute_limit,
            idle=services.settings.session_idle_limit,
        )
        cookie = web_sessions.begin(
            session, account, now=now, limits=limits, address=None, user_agent=None
        )
        signed_in = web_sessions.find(session, cookie)
        assert signed_in is not None
        web_sessions.complete_second_factor(signed_in, now=now, limits=limits)
        session.add(
            ApiToken(
                name="bench officer",
                token_hash=tokens.hash_token(plaintext),
                created_at=now,
                staff_id=officer.id,
                created_by="bench",
            )
        )
    bearer = {"Authorization": f"Bearer {plaintext}"}
    return [
        Case(
            "API read: GET /api/v1/participants/{id}, personal token",
            f"/api/v1/participants/{man.id}",
            bearer,
        ),
        Case(
            f"API read: GET /api/v1/participants/{{id}}/contacts ({PAGE} of {CONTACTS} texts), "
            "personal token",
            f"/api/v1/participants/{man.id}/contacts?page_size={PAGE}",
            bearer,
        ),
        Case("console: GET / (the signed-in home page)", "/", {}, cookie, signed_in_view=True),
    ]


def _ungated(app: Flask) -> Flask:
    """Take the gate's before-request hook out of `app` (this benchmark's app only)."""
    hooks = app.before_request_funcs.get(None, [])
    kept = [hook for hook in hooks if getattr(hook, "__module__", None) != gate.__name__]
    if len(kept) == len(hooks):
        raise SystemExit("the gate's hook was not found: the baseline would be gated")
    app.before_request_funcs[None] = kept
    return app


def _nothing(*args: Any, **kwargs: Any) -> None:
    return None


# The access log as the API's views call it: each stand-in does nothing (a list is not narrowed,
# one participant's access is not decided, no entry is written).
_ACCESS_LOG_OFF: dict[str, Callable[..., Any]] = {
    "visible": _nothing,
    "opened": _nothing,
    "listed": _nothing,
    "created": _nothing,
    "log_read": _nothing,
}


@contextmanager
def _gate_of(variant: str) -> Iterator[None]:
    """While an ungated variant is timed, the API's access-log calls do nothing."""
    if not variant.startswith("ungated"):
        yield
        return
    kept = {name: getattr(api_access, name) for name in _ACCESS_LOG_OFF}
    for name, stand_in in _ACCESS_LOG_OFF.items():
        setattr(api_access, name, stand_in)
    try:
        yield
    finally:
        for name, function in kept.items():
            setattr(api_access, name, function)


def _once(client: FlaskClient, case: Case) -> float:
    """One request's time, in seconds; anything but 200 stops the benchmark."""
    if case.cookie is not None:
        client.set_cookie(gate.SESSION_COOKIE, case.cookie, domain="localhost")
    started = time.perf_counter()
    response = client.get(case.path, headers=case.headers)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"{case.label}: HTTP {response.status_code} {response.get_data(True)}")
    return elapsed


def _app(database_url: str, *, rate_limit: bool) -> Flask:
    env = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "bench",
        "TWILIO_AUTH_TOKEN": "bench",
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "CRISIS_LINE_NUMBER": "+447700900000",
        # Never reached: the benchmark times the gate, not the limit (300 a minute by default).
        "API_RATE_LIMIT": "1000000 per minute",
    }
    settings = load_settings(env, instance_path=tempfile.gettempdir())
    app = create_app({"TESTING": True}, settings=settings, clock=SystemClock())
    if not rate_limit:
        for limiter in app.extensions["limiter"]:
            limiter.enabled = False
    return app


def _version(services: Services) -> str:
    with services.db.engine.connect() as conn:
        if services.db.engine.dialect.name == "sqlite":
            return "SQLite " + str(conn.execute(text("select sqlite_version()")).scalar())
        version = str(conn.execute(text("show server_version")).scalar())
        return "PostgreSQL " + version.split()[0]


def run(url: str | None, repeat: int) -> tuple[str, list[Result]]:
    """Seed one database and time every case in each variant; the version and the results."""
    with migrated_database(url, "bench_gate") as (_engine_name, database_url):
        apps = {
            "gated": _app(database_url, rate_limit=True),
            "ungated": _ungated(_app(database_url, rate_limit=True)),
            "gated, no rate limit": _app(database_url, rate_limit=False),
            "ungated, no rate limit": _ungated(_app(database_url, rate_limit=False)),
        }
        try:
            services: Services = apps["gated"].extensions["crisisline"]
            cases = _seed(services)
            version = _version(services)
            clients = {name: app.test_client() for name, app in apps.items()}
            results = []
            for case in cases:
                samples: dict[str, list[float]] = {name: [] for name in apps}
                for name, client in clients.items():  # warm caches and the connection pools
                    with _gate_of(name):
                        for _ in range(max(repeat // 10, 5)):
                            _once(client, case)
                # Request by request in turn, so a busy moment on the machine hits every
                # variant alike.
                for _ in range(repeat):
                    for name, client in clients.items():
                        with _gate_of(name):
                            samples[name].append(_once(client, case))
                results.append(Result(case, samples))
        finally:
            for app in apps.values():
                app.extensions["crisisline"].db.dispose()
    return version, results


def _comparisons(case: Case) -> list[tuple[str, tuple[str, str]]]:
    """The comparisons that mean something for `case`."""
    if case.signed_in_view:
        return [(name, variants) for name, variants in COMPARISONS.items() if "service" in name]
    return list(COMPARISONS.items())


def _markdown(runs: list[tuple[str, list[Result]]], repeat: int) -> str:
    lines = [
        f"Measured {dt.date.today():%d %B %Y} on {machine()}; {repeat} requests per case and",
        "variant, the variants taking turns request by request; times are per request through",
        "the Flask test client, median (p95).",
        "",
        "| database | case | comparison | gated | ungated | ratio | the gate's share |",
        "|---|---|---|---|---|---|---|",
    ]
    for version, results in runs:
        for result in results:
            for comparison, (gated, ungated) in _comparisons(result.case):
                share = result.share(gated, ungated)
                ratio = result.median_ms(gated) / result.median_ms(ungated)
                verdict = "within" if share <= BAR else "**over**"
                lines.append(
                    f"| {version} | {result.case.label} | {comparison} | {result.times(gated)} "
                    f"| {result.times(ungated)} | {ratio:.2f} "
                    f"| {share:.0%} ({verdict} the {BAR:.0%} bar) |"
                )
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run the benchmark on each configured engine and print (or write) the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", action="append", help="sqlite, or a database URL to run on (repeat)"
    )
    parser.add_argument("--repeat", type=int, default=1000, help="requests per case and variant")
    parser.add_argument("--write", type=Path, help="replace the results block in this file")
    args = parser.parse_args()
    runs = []
    for url in database_urls(args.database_url):
        version, results = run(url, args.repeat)
        runs.append((version, results))
        print(version)
        for result in results:
            print(f"  {result.case.label}")
            for variant in result.samples:
                print(f"    {variant:<24} {result.times(variant)}")
            for comparison, (gated, ungated) in _comparisons(result.case):
                print(f"    the gate's share, {comparison}: {result.share(gated, ungated):.0%}")
    block = _markdown(runs, args.repeat)
    if args.write:
        write_block(args.write, START_MARK, END_MARK, block)
        print(f"Wrote the results to {args.write}.")
    else:
        print()
        print(block)


if __name__ == "__main__":
    main()
