"""A text whose routing fails is never lost: kept on the record, routed again by the scheduler.

Routing a text (conversation, relay, codes, opt-outs, risk rules) runs in one transaction, so
a failure part-way rolls all of it back. The texter is answered with the crisis numbers; the
text itself is then recorded on its own as `unrouted`, on the participant's record, and the
scheduler's `unrouted-texts` job routes it again until it goes through (for a day).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from crisisline import sms_conversations
from crisisline.clock import FakeClock
from crisisline.models import Contact
from tests.conftest import signed_post
from tests.e2e.sms_line import ACK, CRISIS, DANIEL, PRIMARY, SmsLine, start_line


@pytest.fixture
def line(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[SmsLine]:
    yield from start_line(tmp_path, database_url, clock)


class RoutingBug(RuntimeError):
    """Stands for a fault in the routing code (the database itself is real and working)."""


def _break_routing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Routing a participant's text raises until the test restores it (or ends)."""

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RoutingBug("a routing fault")

    monkeypatch.setattr(sms_conversations, "_participant_text", broken)


def _daniels(line: SmsLine) -> list[Contact]:
    return [c for c in line.contacts() if c.from_number == DANIEL]


def test_a_text_whose_routing_fails_is_kept_and_routed_again(
    line: SmsLine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    _break_routing(monkeypatch)
    line.text(DANIEL, "please ring me, it's bad tonight")
    # The texter hears where else to turn at once.
    line.phone(DANIEL).expect_sms("999", from_=CRISIS)
    (kept,) = _daniels(line)
    assert kept.outcome == sms_conversations.UNROUTED
    assert kept.participant_id == line.ids[DANIEL]
    assert kept.body == "please ring me, it's bad tonight"
    assert line.conversations() == []
    # Still failing: it stays kept, and the log names neither the number nor the words.
    assert line.svc.route_unrouted_texts() == 0
    (kept,) = _daniels(line)
    assert kept.outcome == sms_conversations.UNROUTED
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "routing again failed (RoutingBug)" in logged
    assert DANIEL not in logged and "bad tonight" not in logged

    # The fault is gone: the scheduler's job routes it as if it had just arrived.
    monkeypatch.undo()
    assert line.svc.route_unrouted_texts() == 1
    line.dispatch()
    line.phone(PRIMARY).expect_sms("D. Price (1): please ring me, it's bad tonight", from_=CRISIS)
    line.phone(PRIMARY).expect_sms("Reply 1 and your message", from_=CRISIS)
    line.phone(DANIEL).expect_sms(ACK, from_=CRISIS)
    (routed,) = _daniels(line)
    assert routed.id == kept.id and routed.outcome != sms_conversations.UNROUTED
    (conversation,) = line.conversations()
    assert routed.conversation_id == conversation.id
    # Once: a second run finds nothing to do.
    assert line.svc.route_unrouted_texts() == 0
    line.dispatch()
    line.phone(PRIMARY).expect_no_sms()


def test_a_repeat_of_a_kept_text_changes_nothing(
    line: SmsLine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _break_routing(monkeypatch)
    message = line.text(DANIEL, "hello?")
    line.phone(DANIEL).expect_sms("999")
    # Twilio delivers the same MessageSid again: recorded once, still waiting to be routed.
    form = {"MessageSid": message.sid, "From": DANIEL, "To": CRISIS, "Body": "hello?"}
    response = signed_post(line.app.test_client(), "/webhooks/sms", form)
    assert response.status_code == 200
    (kept,) = _daniels(line)
    assert kept.outcome == sms_conversations.UNROUTED
    monkeypatch.undo()
    assert line.svc.route_unrouted_texts() == 1
    response = signed_post(line.app.test_client(), "/webhooks/sms", form)
    assert response.status_code == 200
    (routed,) = _daniels(line)
    assert routed.outcome != sms_conversations.UNROUTED
    line.dispatch()
    line.phone(PRIMARY).expect_sms("D. Price (1): hello?")
    line.phone(PRIMARY).expect_sms("Reply 1 and your message")
    line.phone(DANIEL).expect_sms(ACK)


def test_a_kept_text_is_routed_again_for_a_day_only(
    line: SmsLine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _break_routing(monkeypatch)
    line.text(DANIEL, "anyone there")
    line.phone(DANIEL).expect_sms("999")
    monkeypatch.undo()
    line.clock.advance(sms_conversations.RETRY_UNROUTED_FOR + dt.timedelta(minutes=1))
    # A day on, a relay would mislead more than help: it stays on the record, unrouted.
    assert line.svc.route_unrouted_texts() == 0
    (kept,) = _daniels(line)
    assert kept.outcome == sms_conversations.UNROUTED
