"""A second reference for the webhook benchmarks: the least a webhook that records before it
answers can do.

It checks the Twilio signature, parses the form, writes one row (the SID and the caller's
number) committed on its own, and answers TwiML built with the twilio library: what no webhook
that keeps every contact can skip, and none of the crisis line's own work (no participant,
no rota, no live call). Served with the same gunicorn settings as the service and the bare
endpoint, its share of the bare endpoint's throughput is the ceiling for any design that
commits the contact before Twilio gets its answer on this machine.

DATABASE_URL is the benchmark's database; the harness creates the table `bench_floor`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import Any

import psycopg
from flask import Flask, Response, abort, request
from twilio.twiml.voice_response import VoiceResponse

from crisisline.telephony import SIGNATURE_HEADER, is_valid_signature

INSERT = "INSERT INTO bench_floor (sid, from_number) VALUES ({0}, {0}) ON CONFLICT DO NOTHING"

app = Flask(__name__)
_local = threading.local()


def _connection() -> Any:
    """This thread's connection, committing every statement on its own."""
    connection = getattr(_local, "connection", None)
    if connection is None:
        url = os.environ["DATABASE_URL"]
        if url.startswith("sqlite"):
            connection = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
            connection.execute("PRAGMA busy_timeout=15000")
        else:
            connection = psycopg.connect(url.replace("+psycopg", ""), autocommit=True)
        _local.connection = connection
    return connection


@app.post("/webhooks/voice")
@app.post("/webhooks/sms")
def durable() -> Response:
    """Check, record one row, answer."""
    url = os.environ["PUBLIC_BASE_URL"] + request.path
    token = os.environ["TWILIO_AUTH_TOKEN"]
    if not is_valid_signature(token, url, request.form, request.headers.get(SIGNATURE_HEADER)):
        abort(403)
    sid = request.form.get("CallSid") or request.form.get("MessageSid") or ""
    connection = _connection()
    marker = "?" if isinstance(connection, sqlite3.Connection) else "%s"
    connection.execute(INSERT.format(marker), (sid, request.form.get("From")))
    response = VoiceResponse()
    response.say("You have reached the Resettle crisis line.", voice="Polly.Amy", language="en-GB")
    dial = response.dial(timeout=20, caller_id="+447700900000", answer_on_bridge=True)
    dial.number("+447700900101", url=os.environ["PUBLIC_BASE_URL"] + "/webhooks/voice/screen")
    return Response(str(response), mimetype="text/xml")
