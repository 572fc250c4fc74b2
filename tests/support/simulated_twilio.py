"""The crisis line wired to the Twilio simulator, as every end-to-end test needs it.

The service runs with TELEPHONY=twilio and the real Twilio adapter pointed at the simulator's
REST API, served on loopback HTTP; the simulator posts its signed webhooks and callbacks into
the service's Flask test client. The crisis number's webhooks are configured as in the Twilio
console (docs/calls.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from flask import Flask
from werkzeug.serving import make_server

from crisisline.app import create_app
from crisisline.clock import FakeClock
from crisisline.jobs import Jobs
from crisisline.simulator import FlaskClientTransport, Simulator, create_simulator_app
from tests.support.app import TEST_AUTH_TOKEN, make_settings, services_of

CRISIS_LINE = "+447700900000"
BASE = "https://crisis.example.org"


class ServiceTransport:
    """Posts the simulator's webhooks into the service, which is built after the simulator.

    After a text's webhook it runs the scheduler's `route-texts` job, as the scheduler would
    within a second, so that a test's text has been taken in and routed when `send_sms`
    returns (replies still wait in the outbox until the test dispatches it).
    """

    def __init__(self) -> None:
        self.target: FlaskClientTransport | None = None
        self.route_texts: Callable[[], object] | None = None

    def post(
        self, url: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> tuple[int, str]:
        assert self.target is not None, "the service must exist before webhooks flow"
        answer = self.target.post(url, params, headers)
        if url.endswith("/webhooks/sms") and self.route_texts is not None:
            self.route_texts()
        return answer


@contextmanager
def simulated_twilio(
    tmp_path: Path,
    database_url: str,
    clock: FakeClock,
    account_sid: str,
    environ: Mapping[str, str] | None = None,
    **overrides: str,
) -> Iterator[tuple[Flask, Simulator]]:
    """The app and the simulator, talking to each other; torn down (and checked) afterwards.

    `environ` and `overrides` hold further settings for the service (FLOOD_*, DISPATCH_WORKERS,
    TWILIO_REQUEST_TIMEOUT ...).
    """
    transport = ServiceTransport()
    sim = Simulator(account_sid=account_sid, auth_token=TEST_AUTH_TOKEN, transport=transport)
    server = make_server("127.0.0.1", 0, create_simulator_app(sim), threaded=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    settings = make_settings(
        tmp_path,
        database_url,
        TELEPHONY="twilio",
        TWILIO_ACCOUNT_SID=account_sid,
        TWILIO_API_BASE_URL=f"http://127.0.0.1:{server.port}",
        **(environ or {}),
        **overrides,
    )
    app = create_app({"TESTING": True}, settings=settings, clock=clock)
    transport.target = FlaskClientTransport(app.test_client())
    transport.route_texts = Jobs(services_of(app)).route_texts
    sim.configure_number(
        CRISIS_LINE,
        voice_url=f"{BASE}/webhooks/voice",
        voice_fallback_url=f"{BASE}/webhooks/voice/fallback",
        voice_status_callback=f"{BASE}/webhooks/voice/status",
        sms_url=f"{BASE}/webhooks/sms",
        sms_fallback_url=f"{BASE}/webhooks/sms/fallback",
    )
    try:
        yield app, sim
        sim.assert_no_unexpected()
    finally:
        sim.clear_faults()  # lets any request still held by an injected hang go
        server.shutdown()
        server.server_close()
        services_of(app).db.dispose()
