"""Benchmark: POST /webhooks/sms under gunicorn, against the same bare TwiML endpoint as voice.

    .venv/bin/python bench/sms_webhook.py [--database-url URL] [--requests N] [--write FILE]

The harness of bench/webhook_harness.py (gunicorn servers with config/gunicorn.conf.py, a
fresh seeded database, the bare endpoint and the durable floor), with signed, realistic SMS
webhooks instead of calls: a new MessageSid each, from one of 500 known participants. The
webhook records the text and answers; the scheduler's route-texts job routes it (the first
text from a number opens a conversation and its crisis-sms escalation, later ones join it and
are relayed). Same targets as calls: at least half the bare
throughput, and p99 under 100 ms at 50 concurrent requests.

After the load levels, the texts they left are routed by the scheduler's job in-process, and
the time it takes is reported: the webhook answering fast must not hide routing that cannot
keep up.
"""

from __future__ import annotations

import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.webhook_harness import AUTH_TOKEN, LINE, PARTICIPANT_NUMBERS, main
from crisisline.app import create_app
from crisisline.jobs import Jobs
from crisisline.settings import load_settings

MARKS = ("<!-- bench:sms_webhook:start -->", "<!-- bench:sms_webhook:end -->")
BODIES = (
    "I can't sleep, my head is all over the place",
    "are you there?",
    "can someone ring me please",
    "things kicked off at the hostel again tonight \U0001f61e",
)


def text_form(n: int) -> dict[str, str]:
    """The n-th inbound text: a new MessageSid from one of the known participants."""
    sid = "SM" + secrets.token_hex(16)
    return {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": PARTICIPANT_NUMBERS[n % len(PARTICIPANT_NUMBERS)],
        "To": LINE,
        "Body": BODIES[n % len(BODIES)],
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }


def route_backlog(database_url: str, instance: str) -> str:
    """Route every text the load left, as the scheduler's job does; how long it took."""
    env = {
        "DATABASE_URL": database_url,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "SECRET_KEY": "bench",
        "TELEPHONY": "console",
        "PUBLIC_BASE_URL": "http://bench.invalid",
    }
    svc = create_app(settings=load_settings(env, instance_path=instance)).extensions["crisisline"]
    started = time.perf_counter()
    routed = Jobs(svc).route_texts()
    seconds = time.perf_counter() - started
    svc.db.dispose()
    return (
        f"Routing afterwards (the scheduler's `route-texts` job, one process, in-process): "
        f"{routed} texts in {seconds:.1f} s, {routed / seconds:.0f} texts a second, each in its "
        "own transaction (the first from each number opens its conversation and escalation)."
    )


if __name__ == "__main__":
    main(
        __doc__ or "",
        "/webhooks/sms",
        text_form,
        "each a new MessageSid from one of 500 known participants (the first level opens "
        "their conversations and escalations, later levels join them)",
        MARKS,
        after=route_backlog,
    )
