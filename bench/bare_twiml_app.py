"""The baseline for the webhook benchmarks: a bare Flask endpoint that returns fixed TwiML.

Served by the same gunicorn configuration as the real service, so the difference between the
two is what the crisis line's own work costs (signature check, database writes, rota lookup).
"""

from __future__ import annotations

from flask import Flask, Response

FIXED_TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Say language="en-GB" voice="Polly.Amy">'
    "You have reached the Resettle crisis line.</Say><Dial><Number>+447700900101</Number>"
    "</Dial></Response>"
)

app = Flask(__name__)


@app.post("/webhooks/voice")
@app.post("/webhooks/sms")
def fixed() -> Response:
    """Fixed TwiML, no work."""
    return Response(FIXED_TWIML, mimetype="text/xml")
