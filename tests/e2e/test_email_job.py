"""The scheduler's dispatch-email job, in an app the factory built from SMTP_URL, delivers the
outbox to a real SMTP server: once, with what was written, and nothing of it in the logs."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from crisisline import email_outbox
from crisisline.app import create_app
from crisisline.clock import FakeClock
from crisisline.email_models import Email, EmailStatus
from crisisline.jobs import Jobs
from crisisline.mail import SmtpMailer
from crisisline.telephony import FakeTelephony
from tests.support.app import make_settings, services_of
from tests.support.smtp import SmtpServer, running

SENDER = "handover@resettle.example.org"
MANAGER = "mina.duty@example.org"
TEXT = "Night of 26 November: M.R. (ref P-0042) called twice, no note yet.\n"


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with running(SmtpServer()) as started:
        yield started


def test_the_dispatch_email_job_sends_the_outbox_through_smtp_url(
    tmp_path: Path,
    database_url: str,
    clock: FakeClock,
    server: SmtpServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings(tmp_path, database_url, SMTP_URL=server.url, EMAIL_FROM=SENDER)
    app = create_app({"TESTING": True}, settings=settings, clock=clock, telephony=FakeTelephony())
    svc = services_of(app)
    jobs = {job.name: job for job in Jobs(svc).scheduler_jobs("test")}
    try:
        assert isinstance(svc.mailer, SmtpMailer)
        assert jobs["dispatch-email"].seconds == 5.0
        with svc.db.transaction() as session:
            email_id = email_outbox.enqueue(
                session,
                to=MANAGER,
                subject="Handover, 27 November",
                text=TEXT,
                html=f"<pre>{TEXT}</pre>",
                purpose="handover",
                now=clock.now(),
                sender=settings.email_from,
            ).id
        jobs["leadership"].run()
        server.refuse_next(1)  # 451 once
        with caplog.at_level(logging.INFO):
            jobs["dispatch-email"].run()
            assert server.received == []
            clock.advance(dt.timedelta(seconds=30))
            jobs["dispatch-email"].run()
            jobs["dispatch-email"].run()
        [received] = server.received
        assert received.mail_from == SENDER
        assert received.message["From"] == SENDER
        assert received.message["To"] == MANAGER
        body = received.message.get_body(("plain",))
        assert body is not None and body.get_content() == TEXT
        with svc.db.transaction() as session:
            row = session.get_one(Email, email_id)
            assert row.status is EmailStatus.SENT
            assert row.attempts == 2
            assert received.message["Message-ID"] == row.message_id
        ours = [r.getMessage() for r in caplog.records if r.name.startswith("crisisline")]
        assert any("sent to m***@example.org" in line for line in ours)
        assert not any(MANAGER in line or "P-0042" in line for line in ours)
    finally:
        stop = jobs["leadership"].stop
        if stop is not None:
            stop()
        svc.db.dispose()
