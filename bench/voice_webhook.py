"""Benchmark: POST /webhooks/voice under gunicorn, against a bare TwiML endpoint in the same run.

    .venv/bin/python bench/voice_webhook.py [--database-url sqlite|URL] [--requests N] [--write F]

Each request is a signed, realistic voice webhook for a new call (a new CallSid) from one of
500 known participants, so the service checks the signature, finds the participant, records
the contact and the live call and works out who is on call. Targets: at least half
the bare endpoint's throughput, and p99 under 100 ms at 50 concurrent requests. The harness
is bench/webhook_harness.py.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.webhook_harness import LINE, PARTICIPANT_NUMBERS, main

MARKS = ("<!-- bench:voice_webhook:start -->", "<!-- bench:voice_webhook:end -->")


def call_form(n: int) -> dict[str, str]:
    """The n-th incoming call: a new CallSid from a known participant."""
    return {
        "CallSid": "CA" + secrets.token_hex(16),
        "AccountSid": "AC" + "0" * 32,
        "From": PARTICIPANT_NUMBERS[n % len(PARTICIPANT_NUMBERS)],
        "To": LINE,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }


if __name__ == "__main__":
    main(
        __doc__ or "",
        "/webhooks/voice",
        call_form,
        "each a new CallSid from a known participant",
        MARKS,
    )
