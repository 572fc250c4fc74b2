"""Calls into the crisis line's voice webhook, numbered: the caller, the staff on rotas, and
what each call rang (tests/integration/test_call_intake.py and the webhook tests beside it)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from crisisline import call_intake, participants
from crisisline.calls import CallPlan, IncomingCall
from crisisline.clock import FakeClock
from crisisline.models import RiskLevel
from crisisline.services import Services
from tests.support.app import services_of, signed_post
from tests.support.routing import seed

LINE = "+447700900000"
CALLER = "+447700900201"  # a participant
STRANGER = "+447700900250"  # nobody's number


def add_participant(svc: Services, reference: str, name: str, phone: str) -> None:
    """A participant with one number and no responsible officer."""
    with svc.db.transaction() as session:
        participants.create(
            session,
            participants.NewParticipant(
                reference=reference,
                name=name,
                phones=[phone],
                responsible_officer_id=None,
                risk_level=RiskLevel.HIGH,
            ),
            actor="t",
            now=svc.clock.now(),
        )


def intake_services(app: Flask, clock: FakeClock) -> Services:
    """A primary and a backup rota of one person each, a standby, and one participant."""
    services = seed(services_of(app), clock)
    add_participant(services, "R900", "Dale Finch", CALLER)
    return services


def sid_of(n: int) -> str:
    return "CA" + f"{n:032d}"


def _form(n: int, caller: str | None = CALLER) -> dict[str, str]:
    form = {"CallSid": sid_of(n), "To": LINE, "CallStatus": "ringing", "Direction": "inbound"}
    if caller is not None:
        form["From"] = caller
    return form


def call(client: FlaskClient, n: int, caller: str | None = CALLER) -> TestResponse:
    response = signed_post(client, "/webhooks/voice", _form(n, caller))
    assert response.status_code == 200
    return response


def hang_up(client: FlaskClient, n: int) -> None:
    """Call n ends (its final status callback): its phones are free for the next call, which
    would otherwise ring around them (calls.busy_staff)."""
    form = {"CallSid": sid_of(n), "CallStatus": "completed", "CallDuration": "5"}
    assert signed_post(client, "/webhooks/voice/status", form).status_code == 204


def ringing(response: TestResponse) -> list[str]:
    root = ET.fromstring(response.data)  # noqa: S314 (our own TwiML, parsed in a test)
    return [number.text or "" for number in root.iter("Number")]


def intake_call(svc: Services, n: int, caller: str | None = CALLER) -> CallPlan | None:
    """The one-statement path alone, as the webhook runs it first."""
    incoming = IncomingCall(sid_of(n), caller, LINE, svc.clock.now(), "GB")
    return call_intake.receive_new_call(svc.db, incoming, svc.messages)
