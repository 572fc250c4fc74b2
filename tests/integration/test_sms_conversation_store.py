"""SMS conversations on a real database: closing, opt-out state, the contacts API, notifications."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from crisisline import participants, rota_service, sms_conversations, sms_opt_outs, staff
from crisisline.clock import FakeClock
from crisisline.conversation_models import SmsConversation
from crisisline.escalation_models import EscalationRecord
from crisisline.jobs import Jobs
from crisisline.models import Delivery, RiskLevel, StaffRole
from crisisline.services import Services
from tests.support.app import json_list_of, json_of, services_of, signed_post

PRIMARY, DANIEL, UNKNOWN = "+447700900101", "+447700900501", "+447700900777"
_sids = itertools.count(1)


@pytest.fixture
def svc(app: Flask, clock: FakeClock) -> Services:
    """One on-call worker on every rota the crisis-sms policy names, and one participant."""
    services = services_of(app)
    now = clock.now()
    with services.db.transaction() as session:
        amira = staff.create(
            session,
            staff.NewStaff("Amira Okafor", PRIMARY, None, [StaffRole.ON_CALL]),
            actor="t",
            now=now,
        )
        for name in ("primary", "backup", "duty-manager"):
            rota_service.create(
                session,
                rota_service.NewRota(
                    name=name,
                    timezone="Europe/London",
                    members=[amira.id],
                    shift_length="P7D",
                    first_handoff=dt.datetime(2026, 11, 2, 9, 0),
                ),
                actor="t",
                now=now,
            )
        participants.create(
            session,
            participants.NewParticipant("R1001", "Daniel Price", [DANIEL], None, RiskLevel.HIGH),
            actor="t",
            now=now,
        )
    return services


def _text(client: FlaskClient, sender: str, body: str) -> None:
    form = {
        "MessageSid": f"SM{next(_sids):032d}",
        "From": sender,
        "To": "+447700900000",
        "Body": body,
        "NumMedia": "0",
    }
    assert signed_post(client, "/webhooks/sms", form).status_code == 200
    # The scheduler's route-texts job, as it runs within a second of the webhook.
    assert isinstance(client.application, Flask)
    Jobs(services_of(client.application)).route_texts()


def _conversation(svc: Services) -> SmsConversation:
    with svc.db.transaction() as session:
        latest = session.scalars(select(SmsConversation).order_by(SmsConversation.id.desc()))
        conversation = latest.first()
    assert conversation is not None
    return conversation


def test_a_conversation_quiet_for_the_idle_time_closes_and_its_escalation_with_it(
    svc: Services, client: FlaskClient, clock: FakeClock
) -> None:
    _text(client, DANIEL, "can you call me")
    _text(client, PRIMARY, "1 calling you now")
    idle = svc.messages.conversation_idle
    assert idle == dt.timedelta(hours=24)
    clock.advance(idle - dt.timedelta(minutes=1))
    assert sms_conversations.close_idle_conversations(svc.db, clock.now(), idle_after=idle) == 0
    clock.advance(dt.timedelta(minutes=1))
    closed = sms_conversations.upkeep(svc.db, clock.now(), svc.reach, idle)
    assert closed == 1
    conversation = _conversation(svc)
    assert (conversation.status, conversation.close_reason) == ("closed", "idle")
    with svc.db.transaction() as session:
        escalation = session.get_one(EscalationRecord, conversation.escalation_id)
        assert escalation.status == "closed"


def test_a_conversation_still_being_escalated_is_never_closed_for_being_quiet(
    svc: Services, client: FlaskClient, clock: FakeClock
) -> None:
    _text(client, DANIEL, "hello")
    clock.advance(dt.timedelta(hours=25))
    # The sweep has not run (a stopped scheduler): the escalation is still open.
    assert sms_conversations.close_idle_conversations(svc.db, clock.now()) == 0
    assert _conversation(svc).status == "open"


def test_closing_the_escalation_through_the_api_closes_the_conversation(
    svc: Services, client: FlaskClient, auth: dict[str, str], clock: FakeClock
) -> None:
    _text(client, DANIEL, "hello")
    escalation_id = _conversation(svc).escalation_id
    response = client.post(f"/api/v1/escalations/{escalation_id}/close", headers=auth)
    assert response.status_code == 200
    assert sms_conversations.close_idle_conversations(svc.db, clock.now()) == 1
    assert _conversation(svc).status == "closed"
    # The next text opens a new conversation with a new escalation.
    _text(client, DANIEL, "me again")
    assert _conversation(svc).escalation_id != escalation_id


def test_stop_and_start_are_read_as_twilio_reads_them() -> None:
    assert sms_opt_outs.keyword(" Stop ") == "opt_out"
    assert sms_opt_outs.keyword("stopall") == "opt_out"
    assert sms_opt_outs.keyword("unstop") == "opt_in"
    assert sms_opt_outs.keyword("please stop") is None
    assert sms_opt_outs.keyword("HELP") is None  # a plea for help is a crisis text, not a keyword


def test_an_unknown_numbers_stop_is_recorded_and_nothing_is_queued_to_it(
    svc: Services, client: FlaskClient
) -> None:
    _text(client, UNKNOWN, "STOP")
    with svc.db.transaction() as session:
        assert sms_opt_outs.is_opted_out(session, UNKNOWN)
        assert session.scalars(select(Delivery)).all() == []
        assert session.scalars(select(SmsConversation)).all() == []
    # A text after STOP still reaches staff, who are told texts to them are blocked.
    _text(client, UNKNOWN, "actually I need help")
    with svc.db.transaction() as session:
        deliveries = session.scalars(select(Delivery).order_by(Delivery.id)).all()
    assert {d.to_number for d in deliveries} == {PRIMARY}
    assert "texted STOP" in deliveries[-1].body


def test_relay_texts_split_long_words_into_numbered_parts_within_twilios_limit() -> None:
    words = "x " * 800
    texts = sms_conversations.relay_texts("R1001 D. Price", 3, [words], first=True)
    *parts, footer = texts
    assert all(t.verbatim for t in parts) and not footer.verbatim
    assert parts[0].body.startswith("(1/")
    assert all(len(t.body) <= 1600 for t in texts)
    assert "3a take, 3c close" in footer.body


def test_the_contacts_api_lists_a_participants_timeline_newest_first_and_filters(
    svc: Services, client: FlaskClient, auth: dict[str, str], clock: FakeClock
) -> None:
    _text(client, DANIEL, "first")
    clock.advance(dt.timedelta(minutes=1))
    _text(client, PRIMARY, "1 hello Daniel")
    clock.advance(dt.timedelta(minutes=1))
    _text(client, DANIEL, "second")
    with svc.db.transaction() as session:
        daniel = participants.find_by_phone(session, DANIEL)
        assert daniel is not None
        participant_id = daniel.id

    response = client.get(f"/api/v1/participants/{participant_id}/contacts", headers=auth)
    assert response.status_code == 200
    assert [(c["direction"], c["body"]) for c in json_list_of(response)] == [
        ("inbound", "second"),
        ("outbound", "hello Daniel"),
        ("outbound", svc.messages.sms_acknowledgement),
        ("inbound", "first"),
    ]
    sent_by_staff = json_list_of(response)[1]
    assert sent_by_staff["handled_by_staff_id"] is not None
    assert sent_by_staff["from"] == "+447700900000"
    assert sent_by_staff["delivery_id"] is not None

    paged = client.get(
        f"/api/v1/participants/{participant_id}/contacts?page=2&page_size=3", headers=auth
    )
    assert [c["body"] for c in json_list_of(paged)] == ["first"]
    assert "X-Pagination" in paged.headers

    start = "2026-11-26T12:00:30Z"
    end = "2026-11-26T12:02:00Z"
    window = client.get(f"/api/v1/contacts?from={start}&to={end}&channel=sms", headers=auth)
    assert [c["body"] for c in json_list_of(window)] == ["hello Daniel", "1 hello Daniel"]
    relayed = client.get("/api/v1/contacts?outcome=staff_relayed", headers=auth)
    assert [c["body"] for c in json_list_of(relayed)] == ["1 hello Daniel"]
    assert client.get("/api/v1/contacts?channel=voice", headers=auth).json == []


def test_the_contacts_api_refuses_bad_filters_and_unknown_participants(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    assert client.get("/api/v1/participants/999/contacts", headers=auth).status_code == 404
    bad = client.get("/api/v1/contacts?channel=fax", headers=auth)
    assert bad.status_code == 422 and "channel" in json_of(bad)["message"]
    backwards = client.get(
        "/api/v1/contacts?from=2026-11-27T00:00:00Z&to=2026-11-26T00:00:00Z", headers=auth
    )
    assert backwards.status_code == 422 and "to" in json_of(backwards)["message"]
    assert client.get("/api/v1/contacts").status_code == 401
