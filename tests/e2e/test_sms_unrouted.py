"""A text is taken in with one write and routed by the scheduler; one whose routing fails is kept.

The SMS webhook records the text (outcome `unrouted`) and answers; the scheduler's `route-texts`
job routes it (crisisline.sms_intake). Routing runs in one transaction, so a failure part-way
rolls all of it back: the text stays on the record, its sender is sent the crisis numbers
once, and the job tries again every second until it goes through (for a day).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from crisisline import sms_conversations, sms_intake
from crisisline.clock import FakeClock
from crisisline.jobs import Jobs
from crisisline.models import UNROUTED_PREDICATE, Contact, ContactOutcome
from tests.support.app import ENGINES, signed_post
from tests.support.sms_line import ACK, CRISIS, DANIEL, PRIMARY, SmsLine, bodies_of, start_line


@pytest.fixture
def line(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[SmsLine]:
    yield from start_line(tmp_path, database_url, clock)


class RoutingBug(RuntimeError):
    """Stands for a fault in the routing code (the database itself is real and working)."""


def _break_routing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Routing a participant's text raises until the test restores it (or ends)."""

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RoutingBug("a routing fault")

    monkeypatch.setattr(sms_conversations, "on_participant_text", broken)


def _daniels(line: SmsLine) -> list[Contact]:
    return [c for c in line.contacts() if c.from_number == DANIEL]


def _post(line: SmsLine, sid: str, body: str) -> str:
    """The webhook alone, as Twilio posts it (the scheduler's job not run)."""
    form = {"MessageSid": sid, "From": DANIEL, "To": CRISIS, "Body": body, "NumMedia": "0"}
    response = signed_post(line.app.test_client(), "/webhooks/sms", form)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_webhook_records_the_text_and_the_scheduler_routes_it_once(line: SmsLine) -> None:
    answer = _post(line, "SM" + "1" * 32, "is anyone there")
    assert answer == '<?xml version="1.0" encoding="UTF-8"?><Response />'
    (taken,) = _daniels(line)
    assert taken.outcome == ContactOutcome.UNROUTED
    assert taken.participant_id == line.ids[DANIEL]  # on the record at once
    assert taken.body == "is anyone there"
    assert line.conversations() == []
    # A repeat of the same MessageSid records nothing more.
    _post(line, "SM" + "1" * 32, "is anyone there")
    assert len(_daniels(line)) == 1

    assert Jobs(line.svc).route_texts() == 1
    assert Jobs(line.svc).route_texts() == 0  # once
    line.dispatch()
    line.phone(PRIMARY).expect_sms("D. Price (1): is anyone there", from_=CRISIS)
    line.phone(PRIMARY).expect_sms("Reply 1 and your message", from_=CRISIS)
    line.phone(DANIEL).expect_sms(ACK, from_=CRISIS)
    (routed,) = _daniels(line)
    (conversation,) = line.conversations()
    assert routed.outcome == ContactOutcome.RELAYED
    assert routed.conversation_id == conversation.id


def test_texts_are_routed_in_the_order_they_came(line: SmsLine) -> None:
    _post(line, "SM" + "1" * 32, "first")
    _post(line, "SM" + "2" * 32, "second")
    assert Jobs(line.svc).route_texts() == 2
    line.dispatch()
    line.phone(PRIMARY).expect_sms("D. Price (1): first")
    line.phone(PRIMARY).expect_sms("Reply 1 and your message")
    line.phone(PRIMARY).expect_sms("D. Price (1): second")
    line.phone(DANIEL).expect_sms(ACK)


def test_a_text_whose_routing_fails_is_kept_its_sender_told_once_and_routed_later(
    line: SmsLine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    _break_routing(monkeypatch)
    line.text(DANIEL, "please ring me, it's bad tonight")  # the webhook, then the job
    line.dispatch()
    # The texter hears where else to turn.
    line.phone(DANIEL).expect_sms("999", from_=CRISIS)
    (kept,) = _daniels(line)
    assert kept.outcome == ContactOutcome.ROUTING_FAILED
    assert kept.participant_id == line.ids[DANIEL]
    assert kept.body == "please ring me, it's bad tonight"
    assert line.conversations() == []
    # Still failing: it stays kept, the crisis numbers are not sent again, and the log names
    # neither the number nor the words.
    assert Jobs(line.svc).route_texts() == 0
    line.dispatch()
    line.phone(DANIEL).expect_no_sms()
    (kept,) = _daniels(line)
    assert kept.outcome == ContactOutcome.ROUTING_FAILED
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "could not be routed (RoutingBug)" in logged
    assert DANIEL not in logged and "bad tonight" not in logged

    # The fault is gone: the job routes it as if it had just arrived.
    monkeypatch.undo()
    assert Jobs(line.svc).route_texts() == 1
    line.dispatch()
    line.phone(PRIMARY).expect_sms("D. Price (1): please ring me, it's bad tonight", from_=CRISIS)
    line.phone(PRIMARY).expect_sms("Reply 1 and your message", from_=CRISIS)
    # No second automatic text within ten minutes of the crisis numbers (one per number per
    # interval, so two automatic responders never loop): the worker's reply is what comes.
    line.phone(DANIEL).expect_no_sms()
    (routed,) = _daniels(line)
    assert routed.id == kept.id and routed.outcome == ContactOutcome.RELAYED
    (conversation,) = line.conversations()
    assert routed.conversation_id == conversation.id
    assert Jobs(line.svc).route_texts() == 0


def test_a_kept_text_is_routed_for_a_day_only(
    line: SmsLine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _break_routing(monkeypatch)
    line.text(DANIEL, "anyone there")
    line.dispatch()
    line.phone(DANIEL).expect_sms("999")
    monkeypatch.undo()
    line.clock.advance(sms_intake.RETRY_UNROUTED_FOR + dt.timedelta(minutes=1))
    # A day on, a relay would mislead more than help: it stays on the record for follow-up.
    assert Jobs(line.svc).route_texts() == 0
    (kept,) = _daniels(line)
    assert kept.outcome == ContactOutcome.ROUTING_FAILED


def test_the_waiting_texts_index_covers_exactly_the_outcomes_the_job_routes() -> None:
    written_out = str(UNROUTED_PREDICATE.compile(compile_kwargs={"literal_binds": True}))
    assert (
        f"outcome IN ('{ContactOutcome.UNROUTED}', '{ContactOutcome.ROUTING_FAILED}')"
    ) == written_out


if "postgresql" in ENGINES:

    @pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
    def test_a_text_that_cannot_be_recorded_gets_the_crisis_numbers_from_the_webhook(
        line: SmsLine,
    ) -> None:
        """PostgreSQL's one-statement intake: the server gone, the webhook still answers."""
        unreachable = create_engine(
            "postgresql+psycopg://postgres@127.0.0.1:1/nowhere",
            isolation_level="AUTOCOMMIT",
            connect_args={"connect_timeout": 2},
        )
        db = line.svc.db
        original = db.autocommit_engine
        db.__dict__["autocommit_engine"] = unreachable
        try:
            answer = _post(line, "SM" + "9" * 32, "help")
        finally:
            db.__dict__["autocommit_engine"] = original
            unreachable.dispose()
        assert "<Message>" in answer and line.svc.messages.fallback_sms[:40] in answer
        assert _daniels(line) == []


@pytest.mark.hazard("H74")
def test_a_text_that_clashes_with_the_sweep_is_handled_on_a_second_try(
    lenient_line: SmsLine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A version clash with the escalation sweep rolls the whole routing back; the text is
    routed again at once, not answered with the fallback (which would also lose a worker's
    words)."""
    line = lenient_line
    from sqlalchemy.orm.exc import StaleDataError

    real = sms_intake.route_unrouted
    clashes = iter([True])

    def clashing(*args: object, **kwargs: object) -> object:
        if next(clashes, False):
            raise StaleDataError("escalation changed by the sweep")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sms_intake, "route_unrouted", clashing)
    line.text(DANIEL, "I need to talk")
    line.dispatch()
    assert [c.status for c in line.conversations()] == ["open"]
    assert not [b for b in bodies_of(line, DANIEL) if "116 123" in b]
