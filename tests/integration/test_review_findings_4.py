"""Regression tests for the fourth safety review (escalation bundling, voice keys, the outbox,
calendar feeds; docs/hazard-log.md H76 to H82): each failed until its defect was fixed."""

from __future__ import annotations

import datetime as dt

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from crisisline import escalation_engine as engine
from crisisline import staff
from crisisline.models import Delivery, DeliveryStatus
from crisisline.telephony import FakeTelephony
from escalation import ByOperator
from tests.integration.test_escalation_engine import _open, _record
from tests.integration.test_escalation_engine import line as line
from tests.support.app import signed_post
from tests.support.engine_line import PRIMARY, Line


def _sent_to(line: Line, phone: str) -> list[Delivery]:
    with line.svc.db.transaction() as session:
        return list(
            session.scalars(
                select(Delivery)
                .where(Delivery.to_number == phone, Delivery.sent_at.is_not(None))
                .order_by(Delivery.id)
            )
        )


# ---- bundling ---------------------------------------------------------------------------------


def test_a_bare_a_takes_the_code_the_phone_has_seen_not_one_still_held_in_a_bundle(
    line: Line,
) -> None:
    """A held bundle marks its codes as texted at the moment it *will* go out.

    The phone has so far received only code 1; a bare "a" must mean code 1, never code 2,
    which is still waiting in the bundle and which the worker has not seen.
    """
    first = _open(line, "Missed call from R1001 D. Price at 03:12")
    line.svc.dispatch_outbox()  # code 1 reaches the phone at once
    line.clock.advance(dt.timedelta(seconds=5))
    second = _open(line, "Missed call from R1002 L. Carter at 03:13")  # held to the window's end
    line.clock.advance(dt.timedelta(seconds=5))
    line.svc.dispatch_outbox()  # the bundle is not due yet: the phone still knows only code 1
    assert [d.body for d in _sent_to(line, PRIMARY) if "2a" in d.body] == []
    with line.svc.db.transaction() as session:
        outcome = engine.act_by_phone(session, PRIMARY, "a", line.clock.now(), line.svc.reach)
    assert outcome is not None
    # The missed call the worker never heard of must still be chased.
    assert _record(line, second).status == "open"
    assert _record(line, first).status == "acknowledged"


def test_a_held_bundle_does_not_ask_staff_to_take_an_escalation_already_taken(
    line: Line,
) -> None:
    """A notification held in a bundle goes out after the escalation was acknowledged."""
    _open(line, "Missed call from R1001 D. Price at 03:12")
    line.svc.dispatch_outbox()
    line.clock.advance(dt.timedelta(seconds=5))
    second = _open(line, "Missed call from R1002 L. Carter at 03:13")  # held in a bundle
    line.clock.advance(dt.timedelta(seconds=5))
    with line.svc.db.transaction() as session:
        engine.acknowledge_escalation(
            session, second, ByOperator("token:dashboard"), line.clock.now(), line.svc.reach
        )
    taken_at = line.clock.now()
    line.svc.dispatch_outbox()  # "R1002 ... was taken by token:dashboard" goes at once
    line.clock.advance(engine.BUNDLE_WINDOW)
    line.svc.dispatch_outbox()  # the held bundle's window ends
    stale = [
        d.body
        for d in _sent_to(line, PRIMARY)
        if d.sent_at is not None and d.sent_at > taken_at and "2a" in (d.body or "")
    ]
    assert stale == [], f"told to take 2 after it was taken: {stale}"


# ---- escalation calls -------------------------------------------------------------------------


def test_a_deactivated_workers_phone_cannot_take_an_escalation_by_pressing_4(
    line: Line, client: FlaskClient
) -> None:
    """Deactivation frees the worker's codes (H52), but the voice keys ignore that.

    An escalation call already ringing on a lost phone (or one retried after deactivation)
    reads the participant's summary and lets whoever answers press 4: the chase stops.
    """
    escalation_id = _open(line, "Missed call from R1001 D. Price at 03:12")
    with line.svc.db.transaction() as session:
        staff.deactivate(session, line.ids[PRIMARY], actor="t", now=line.clock.now())
    base = f"/webhooks/escalations/{escalation_id}/call"
    form = {"CallSid": "CA" + "4" * 32, "To": PRIMARY, "From": "+447700900000"}
    heard = signed_post(client, base, form).get_data(as_text=True)
    pressed = signed_post(client, base + "/keypress", {**form, "Digits": "4"})
    assert pressed.status_code == 200
    assert _record(line, escalation_id).status == "open"
    assert "R1001" not in heard


# ---- the outbox -------------------------------------------------------------------------------


def test_a_delivered_text_whose_rest_reply_timed_out_is_not_moved_back_and_sent_again(
    line: Line, client: FlaskClient, telephony: FakeTelephony, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twilio accepts the text, its 'delivered' callback arrives, then the REST reply times out.

    The delivery is terminal (delivered); the transient error must not move it back to
    queued, send it again under a new SID whose callbacks are then ignored, and leave it stuck.
    """
    from crisisline import outbox
    from crisisline.telephony import TransientTelephonyError

    with line.svc.db.transaction() as session:
        delivery_id = outbox.enqueue_sms(
            session,
            to=PRIMARY,
            from_="+447700900000",
            body="Resettle crisis line: test.",
            purpose="test_message",
            now=line.clock.now(),
        ).id
    real_send = telephony.send_sms
    calls = {"n": 0}

    def accepted_then_timed_out(to: str, from_: str, body: str, callback: str | None) -> object:
        receipt = real_send(to, from_, body, callback)
        calls["n"] += 1
        if calls["n"] == 1:
            signed_post(
                client,
                f"/webhooks/deliveries/{delivery_id}/status",
                {"MessageSid": receipt.sid, "MessageStatus": "delivered", "To": to},
            )
            raise TransientTelephonyError("read timed out")
        return receipt

    monkeypatch.setattr(telephony, "send_sms", accepted_then_timed_out)
    line.svc.dispatch_outbox()
    with line.svc.db.transaction() as session:
        status = session.get_one(Delivery, delivery_id).status
    assert status == DeliveryStatus.DELIVERED  # it reached the phone; never moved backwards
    line.clock.advance(dt.timedelta(minutes=1))
    line.svc.dispatch_outbox()
    assert len(telephony.messages_to(PRIMARY)) == 1


# ---- calendar feeds ---------------------------------------------------------------------------


def test_a_deactivated_workers_calendar_link_stops_working(line: Line, client: FlaskClient) -> None:
    """A leaver's (or a lost phone's) feed link keeps showing who is on call and when."""
    from crisisline import calendar_feeds
    from crisisline.rota_models import CalendarFeedKind

    with line.svc.db.transaction() as session:
        token = calendar_feeds.create_token(
            session, CalendarFeedKind.STAFF, line.ids[PRIMARY], actor="t", now=line.clock.now()
        )
    path = calendar_feeds.feed_path(CalendarFeedKind.STAFF, token)
    assert client.get(path).status_code == 200
    with line.svc.db.transaction() as session:
        staff.deactivate(session, line.ids[PRIMARY], actor="t", now=line.clock.now())
    assert client.get(path).status_code == 404


def test_a_rota_feed_does_not_show_a_deactivated_member_covering_a_gap(
    line: Line, client: FlaskClient
) -> None:
    """After deactivation nobody is on call for primary, but the feed still names Amira."""
    from crisisline import calendar_feeds, rota_service
    from crisisline.rota_models import CalendarFeedKind

    with line.svc.db.transaction() as session:
        token = calendar_feeds.create_token(
            session, CalendarFeedKind.ROTA, line.ids["primary"], actor="t", now=line.clock.now()
        )
        staff.deactivate(session, line.ids[PRIMARY], actor="t", now=line.clock.now())
    with line.svc.db.transaction() as session:
        now_on_call = rota_service.on_call(session, line.ids["primary"], line.clock.now()).staff
        assert [p.name for p in now_on_call if p.active] == []  # a gap: the chain skips it
    from icalendar import Calendar

    feed = client.get(calendar_feeds.feed_path(CalendarFeedKind.ROTA, token))
    assert feed.status_code == 200
    now = line.clock.now()
    current_and_future = [
        str(event.get("summary"))
        for event in Calendar.from_ical(feed.get_data()).walk("VEVENT")
        if event.decoded("dtend") > now
    ]
    # Past shifts may name her; the one she no longer covers and those to come must not.
    assert [s for s in current_and_future if "Amira Okafor" in s] == []


# ---- the overdue auditor ----------------------------------------------------------------------


def test_a_failure_chasing_unfinished_calls_does_not_silence_the_overdue_auditor(
    line: Line, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The auditor job first chases unfinished calls, in the same job, unguarded.

    If that raises (one bad call row, a bug), every 30-second pass fails before the overdue
    check: the safety net for a stalled scheduler goes silent for as long as the fault lasts.
    """
    import contextlib

    from crisisline import calls

    escalation_id = _open(line)
    line.clock.advance(dt.timedelta(seconds=300 + 61))  # overdue: the sweep has not run

    def broken(*args: object, **kwargs: object) -> list[int]:
        raise RuntimeError("one call row that cannot be chased")

    # Fault injection standing in for any error while chasing one unfinished call.
    monkeypatch.setattr(calls, "chase_unfinished", broken)
    for _ in range(3):  # three auditor passes; the job wrapper logs and carries on
        with contextlib.suppress(RuntimeError):
            line.svc.audit_escalations()
    with line.svc.db.transaction() as session:
        kinds = [e.kind for e in engine.events(session, escalation_id)]
        told = session.scalars(
            select(Delivery).where(Delivery.purpose == "escalation_overdue")
        ).all()
    assert "overdue" in kinds
    assert told, "no duty manager was told the escalation is overdue"
