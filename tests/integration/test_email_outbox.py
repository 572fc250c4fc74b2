"""The email outbox against a real SMTP server: each email is delivered once, retried when the
server refuses for now or is away, failed at once when refused for good, never doubled."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from crisisline import email_outbox
from crisisline.clock import FakeClock
from crisisline.email_models import Email, EmailStatus
from crisisline.jobs import Jobs
from crisisline.mail import FakeMailer, MailUnavailable, SmtpMailer
from crisisline.services import Services
from tests.support.app import beat_as_leader, json_of, services_of
from tests.support.smtp import SmtpServer, running

SENDER = "crisis-line@resettle.example.org"
MANAGER = "mina.duty@example.org"
TEXT = "Handover for the night: 3 contacts, 1 without a note.\n"
HTML = "<p>Handover for the night: <b>3 contacts</b>, 1 without a note.</p>"


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with running(SmtpServer()) as started:
        yield started


def _mailer(server: SmtpServer) -> SmtpMailer:
    # A short timeout, so that the hanging server costs the test half a second.
    return SmtpMailer.from_url(server.url, timeout_seconds=0.5)


def _enqueue(svc: Services, to: str = MANAGER, subject: str = "Handover, 27 November") -> int:
    with svc.db.transaction() as session:
        email = email_outbox.enqueue(
            session,
            to=to,
            subject=subject,
            text=TEXT,
            html=HTML,
            purpose="handover",
            now=svc.clock.now(),
            sender=SENDER,
            reference="handover:2026-11-27",
        )
        return email.id


def _email(svc: Services, email_id: int) -> Email:
    with svc.db.transaction() as session:
        return session.get_one(Email, email_id)


def _dispatch(svc: Services, mailer: SmtpMailer | FakeMailer) -> email_outbox.EmailDispatchReport:
    return email_outbox.dispatch_due(svc.db, mailer, svc.clock.now, sender=SENDER)


def test_an_email_arrives_once_with_its_text_and_html_and_its_headers(
    app: Flask, server: SmtpServer
) -> None:
    svc = services_of(app)
    email_id = _enqueue(svc)
    report = _dispatch(svc, _mailer(server))
    assert report.sent == 1
    [received] = server.received
    assert received.rcpt_tos == [MANAGER]
    assert received.mail_from == SENDER
    message = received.message
    row = _email(svc, email_id)
    assert message["From"] == SENDER
    assert message["To"] == MANAGER
    assert message["Subject"] == "Handover, 27 November"
    assert message["Message-ID"] == row.message_id
    assert message["Message-ID"].endswith("@resettle.example.org>")
    assert message["Date"].datetime == svc.clock.now()
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and plain.get_content() == TEXT
    assert html is not None and html.get_content().strip() == HTML
    assert row.status is EmailStatus.SENT
    assert row.sent_at == svc.clock.now()
    assert row.attempts == 1
    assert row.claim_token is None
    # Sent is sent: the next passes send nothing more.
    assert _dispatch(svc, _mailer(server)).sent == 0
    assert len(server.received) == 1


def test_an_email_without_html_goes_as_plain_text(app: Flask, server: SmtpServer) -> None:
    svc = services_of(app)
    with svc.db.transaction() as session:
        email_outbox.enqueue(
            session,
            to=MANAGER,
            subject="Handover",
            text=TEXT,
            html=None,
            purpose="handover",
            now=svc.clock.now(),
            sender=SENDER,
        )
    _dispatch(svc, _mailer(server))
    [received] = server.received
    assert received.message.get_content_type() == "text/plain"
    assert received.message.get_content() == TEXT


def test_a_451_is_retried_after_the_backoff_and_delivered_once(
    app: Flask, clock: FakeClock, server: SmtpServer
) -> None:
    svc = services_of(app)
    email_id = _enqueue(svc)
    server.refuse_next(1, "451 4.3.0 Mailbox busy, try again later")
    assert _dispatch(svc, _mailer(server)).retrying == 1
    row = _email(svc, email_id)
    assert row.status is EmailStatus.QUEUED
    assert row.attempts == 1
    assert row.next_attempt_at == clock.now() + dt.timedelta(seconds=30)
    assert row.error_message is not None and "451" in row.error_message
    # Not before the backoff.
    clock.advance(dt.timedelta(seconds=29))
    assert _dispatch(svc, _mailer(server)).sent == 0
    clock.advance(dt.timedelta(seconds=1))
    assert _dispatch(svc, _mailer(server)).sent == 1
    [received] = server.received
    assert received.message["Message-ID"] == row.message_id
    assert _email(svc, email_id).status is EmailStatus.SENT
    assert _email(svc, email_id).attempts == 2


def test_a_550_fails_the_email_at_once_and_it_is_never_tried_again(
    app: Flask, clock: FakeClock, server: SmtpServer
) -> None:
    svc = services_of(app)
    email_id = _enqueue(svc)
    server.refuse_next(1, f"550 5.1.1 <{MANAGER}>: Recipient address rejected")
    assert _dispatch(svc, _mailer(server)).failed == 1
    row = _email(svc, email_id)
    assert row.status is EmailStatus.FAILED
    assert row.attempts == 1
    # The server's reply names the address: what is kept of it does not.
    assert row.error_message is not None and "550" in row.error_message
    assert MANAGER not in row.error_message
    assert "m***@example.org" in row.error_message
    clock.advance(dt.timedelta(hours=1))
    assert _dispatch(svc, _mailer(server)).sent == 0
    assert server.received == []
    with svc.db.transaction() as session:
        failed = email_outbox.failed_between(
            session, clock.now() - dt.timedelta(days=1), clock.now()
        )
        assert [email.id for email in failed] == [email_id]


def test_with_the_server_down_the_email_waits_and_is_delivered_once_it_is_back(
    app: Flask, clock: FakeClock, server: SmtpServer
) -> None:
    svc = services_of(app)
    first, second = _enqueue(svc), _enqueue(svc, subject="Second")
    server.stop()
    report = _dispatch(svc, _mailer(server))
    # The first refused connection ends the pass: the second email is not tried (nor counted).
    assert (report.retrying, report.sent) == (1, 0)
    assert _email(svc, first).attempts == 1
    assert _email(svc, second).attempts == 0
    assert "refused the connection" in (_email(svc, first).error_message or "")
    clock.advance(dt.timedelta(seconds=30))
    assert _dispatch(svc, _mailer(server)).retrying == 1  # still down
    # Backoff doubles: 30 s, 60 s, ...
    waits = [_email(svc, e).next_attempt_at - clock.now() for e in (first, second)]
    assert dt.timedelta(seconds=30) in waits
    server.start()
    clock.advance(dt.timedelta(minutes=2))
    assert _dispatch(svc, _mailer(server)).sent == 2
    assert sorted(r.message["Subject"] for r in server.received) == [
        "Handover, 27 November",
        "Second",
    ]
    assert {_email(svc, e).status for e in (first, second)} == {EmailStatus.SENT}


def test_a_hanging_server_times_out_as_a_transient_failure_then_the_email_goes(
    app: Flask, clock: FakeClock, server: SmtpServer
) -> None:
    svc = services_of(app)
    email_id = _enqueue(svc)
    server.hang()
    assert _dispatch(svc, _mailer(server)).retrying == 1
    row = _email(svc, email_id)
    assert row.status is EmailStatus.QUEUED
    assert "did not answer within 0.5 s" in (row.error_message or "")
    server.release()
    clock.advance(dt.timedelta(seconds=30))
    assert _dispatch(svc, _mailer(server)).sent == 1
    assert len(server.received) == 1


def test_two_dispatchers_racing_deliver_each_email_once(app: Flask, server: SmtpServer) -> None:
    svc = services_of(app)
    ids = [_enqueue(svc, subject=f"Handover {n}") for n in range(6)]
    start = threading.Barrier(2)
    reports: list[email_outbox.EmailDispatchReport] = []
    errors: list[BaseException] = []

    def dispatcher() -> None:
        try:
            start.wait()
            reports.append(_dispatch(svc, _mailer(server)))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=dispatcher) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sum(report.sent for report in reports) == 6
    message_ids = [r.message["Message-ID"] for r in server.received]
    assert len(message_ids) == 6
    assert len(set(message_ids)) == 6
    assert {_email(svc, e).attempts for e in ids} == {1}


def test_two_sessions_claiming_at_once_never_hold_the_same_email(app: Flask) -> None:
    svc = services_of(app)
    email_id = _enqueue(svc)
    first = email_outbox.claim_due(svc.db, svc.clock.now(), 5)
    second = email_outbox.claim_due(svc.db, svc.clock.now(), 5)
    assert [claim.email_id for claim in first] == [email_id]
    assert second == []


def test_an_expired_lease_is_sent_again_with_the_same_message_id(
    app: Flask, clock: FakeClock, server: SmtpServer
) -> None:
    """A dispatcher that died after the server accepted the email (before it could record
    so) leaves it claimed; when the lease runs out it is sent again as the same message."""
    svc = services_of(app)
    email_id = _enqueue(svc)
    [claim] = email_outbox.claim_due(svc.db, clock.now())
    _mailer(server).send(email_outbox.build_message(claim, SENDER))  # then the process dies
    assert _dispatch(svc, _mailer(server)).sent == 0  # its lease still stands
    clock.advance(email_outbox.LEASE + dt.timedelta(seconds=1))
    assert _dispatch(svc, _mailer(server)).sent == 1
    first, again = server.received
    row = _email(svc, email_id)
    assert first.message["Message-ID"] == again.message["Message-ID"] == row.message_id
    assert first.message["Date"] == again.message["Date"]
    assert row.status is EmailStatus.SENT
    assert row.attempts == 2
    # The dead dispatcher's late record changes nothing.
    assert email_outbox.record_sent(svc.db, claim, clock.now()) == "lost_claims"


def test_an_email_failing_for_a_day_is_failed_and_shown(
    app: Flask, clock: FakeClock, client: FlaskClient, runner: FlaskCliRunner
) -> None:
    svc = services_of(app)
    runner.invoke(args=["demo"])  # a duty manager and the rotas /healthz looks for
    email_id = _enqueue(svc)
    mailer = FakeMailer()
    mailer.fail_next(MailUnavailable("the SMTP server 127.0.0.1:25 refused the connection"), 500)
    deadline = clock.now() + email_outbox.RETRY_HORIZON
    beat_as_leader(app)
    assert json_of(client.get("/healthz"))["email"]["state"] == "ok"
    _dispatch(svc, mailer)
    clock.advance(email_outbox.FAILING_AFTER)
    beat_as_leader(app)
    health = json_of(client.get("/healthz"))
    assert health["status"] == "degraded"
    assert health["email"] == {
        "state": "failing",
        "failed": 0,
        "retrying": 1,
        "retrying_since": (deadline - email_outbox.RETRY_HORIZON).isoformat(),
    }
    assert any("SMTP server" in warning for warning in health["warnings"])
    passes = 0
    while _email(svc, email_id).status is not EmailStatus.FAILED:
        clock.set(max(clock.now(), _email(svc, email_id).next_attempt_at))
        _dispatch(svc, mailer)
        passes += 1
        assert passes < 200
    row = _email(svc, email_id)
    assert row.updated_at >= deadline
    # Backoff grows to 15 minutes: about a hundred tries in the day, not thousands.
    assert 80 <= row.attempts <= 110
    assert mailer.sent == []
    beat_as_leader(app)
    health = json_of(client.get("/healthz"))
    assert health["email"]["failed"] == 1
    assert any("emails failed" in warning for warning in health["warnings"])
    listed = runner.invoke(args=["emails", "failed"])
    assert listed.exit_code == 0, listed.output
    assert f"{email_id}\t" in listed.output
    assert "m***@example.org" in listed.output
    assert MANAGER not in listed.output
    assert "1 failed in the last 7 day(s)" in listed.output


def test_a_failed_email_sent_again_from_the_cli_keeps_its_message_id(
    app: Flask, runner: FlaskCliRunner, server: SmtpServer
) -> None:
    svc = services_of(app)
    email_id = _enqueue(svc)
    server.refuse_next(1, "554 5.7.1 Relay access denied")
    assert _dispatch(svc, _mailer(server)).failed == 1
    assert runner.invoke(args=["emails", "retry", str(email_id)]).exit_code == 0
    assert _dispatch(svc, _mailer(server)).sent == 1
    [received] = server.received
    assert received.message["Message-ID"] == _email(svc, email_id).message_id
    again = runner.invoke(args=["emails", "retry", str(email_id)])
    assert again.exit_code != 0
    assert "no failed email" in again.output


def test_a_subject_with_a_line_break_fails_at_once_and_nothing_is_sent(
    app: Flask, server: SmtpServer
) -> None:
    """A header carrying a line break could add headers of its own: never written out."""
    svc = services_of(app)
    email_id = _enqueue(svc, subject="Handover\r\nBcc: someone@example.org")
    assert _dispatch(svc, _mailer(server)).failed == 1
    assert server.received == []
    row = _email(svc, email_id)
    assert row.status is EmailStatus.FAILED
    assert "header" in (row.error_message or "")


def test_an_address_that_cannot_be_sent_to_fails_at_once(app: Flask, server: SmtpServer) -> None:
    svc = services_of(app)
    email_id = _enqueue(svc, to="not an address")
    assert _dispatch(svc, _mailer(server)).failed == 1
    assert server.received == []
    assert _email(svc, email_id).status is EmailStatus.FAILED


def test_words_beyond_ascii_arrive_as_written(app: Flask, server: SmtpServer) -> None:
    svc = services_of(app)
    subject = "Handover \u2013 Sunday 29 November, Zo\u00eb on call"
    text = "Noted by Zo\u00eb: \u201ccall back before 10\u201d.\n"
    with svc.db.transaction() as session:
        email_outbox.enqueue(
            session,
            to=MANAGER,
            subject=subject,
            text=text,
            html=f"<p>{text}</p>",
            purpose="handover",
            now=svc.clock.now(),
            sender=SENDER,
        )
    assert _dispatch(svc, _mailer(server)).sent == 1
    [received] = server.received
    assert received.message["Subject"] == subject
    plain = received.message.get_body(("plain",))
    assert plain is not None and plain.get_content() == text


def test_the_job_sends_through_the_apps_mailer_from_email_from(
    app: Flask, mailer: FakeMailer
) -> None:
    svc = services_of(app)
    _enqueue(svc)
    assert Jobs(svc).dispatch_email().sent == 1
    [sent] = mailer.sent
    assert sent["From"] == svc.settings.email_from
    assert sent["To"] == MANAGER
