"""Benchmark: POST /webhooks/sms under gunicorn, against the same bare TwiML endpoint as voice.

    .venv/bin/python bench/sms_webhook.py [--database-url URL] [--requests N] [--write FILE]

The harness of bench/webhook_harness.py (two gunicorn servers with config/gunicorn.conf.py, a
fresh seeded database, the bare endpoint of bench/bare_twiml_app.py), with signed, realistic
SMS webhooks instead of calls: a new MessageSid each, from one of 500 known participants. The
first text from a number opens a conversation and its crisis-sms escalation (relay texts to the
on-call worker and the acknowledgement written to the outbox); later ones join it and are
relayed. Same targets as calls (issue 6, repeated by issue 7): at least half the bare
throughput, and p99 under 100 ms at 50 concurrent requests.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.webhook_harness import LINE, PARTICIPANT_NUMBERS, main

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


if __name__ == "__main__":
    main(
        __doc__ or "",
        "/webhooks/sms",
        text_form,
        "each a new MessageSid from one of 500 known participants (the first level opens"
        "their conversations and escalations, later levels join them)",
        MARKS,
    )
