"""The morning handover by email, from the scheduler's jobs to a real SMTP server: at the
handover time the `handover` job writes one email per duty manager and clinical lead with an
address; the `dispatch-email` job sends them; the server refuses the first attempt once and
each email still arrives exactly once, in plain text and HTML, with no message body, no note's
words and no phone number in either."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from crisisline.app import create_app
from crisisline.clock import FakeClock
from crisisline.email_models import Email, EmailStatus
from crisisline.jobs import Jobs
from crisisline.telephony import FakeTelephony
from tests.support.app import make_settings, services_of
from tests.support.handover import (
    CARA,
    DANIEL,
    EMAIL_CARA,
    EMAIL_PRIYA,
    END,
    MARCUS,
    PRIYA,
    build_night,
)
from tests.support.smtp import SmtpServer, running

SENDER = "handover@resettle.example.org"


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with running(SmtpServer()) as started:
        yield started


def test_the_handover_email_reaches_the_smtp_server_once_after_a_refusal_with_nothing_private(
    tmp_path: Path, database_url: str, clock: FakeClock, server: SmtpServer
) -> None:
    settings = make_settings(
        tmp_path,
        database_url,
        SMTP_URL=server.url,
        EMAIL_FROM=SENDER,
        PUBLIC_BASE_URL="https://crisis.example.org",
    )
    app = create_app({"TESTING": True}, settings=settings, clock=clock, telephony=FakeTelephony())
    svc = services_of(app)
    jobs = {job.name: job for job in Jobs(svc).scheduler_jobs("test")}
    try:
        with svc.db.transaction() as session:
            night = build_night(session)
        clock.set(END)  # 08:30 local: the handover time
        jobs["leadership"].run()
        jobs["handover"].run()
        with svc.db.transaction() as session:
            queued = session.scalars(
                select(Email).where(Email.purpose == "handover", Email.created_at >= END)
            ).all()
            assert sorted(e.to_address for e in queued) == sorted([EMAIL_PRIYA, EMAIL_CARA])

        server.refuse_next(1)  # the first attempt gets 451: try again later
        jobs["dispatch-email"].run()
        clock.advance(dt.timedelta(seconds=31))
        for _ in range(3):  # the retry, then passes that must find nothing left to send
            jobs["dispatch-email"].run()
            clock.advance(dt.timedelta(minutes=1))
        jobs["handover"].run()  # the same morning again: nothing new is written

        received = [r for r in server.received if r.message["Subject"].startswith("Crisis line")]
        assert sorted(to for r in received for to in r.rcpt_tos) == sorted(
            [EMAIL_PRIYA, EMAIL_CARA]
        )
        for message in (r.message for r in received):
            assert message["Subject"] == "Crisis line handover, Sunday 6 December"
            plain = message.get_body(("plain",))
            html = message.get_body(("html",))
            assert plain is not None and html is not None
            for part in (plain.get_content(), html.get_content()):
                assert "R1001 D.P." in part and "No note yet" in part
                assert "https://crisis.example.org/handover?from=" in part
                for secret in [*night.bodies, *night.note_texts, "Daniel", "Price"]:
                    assert secret not in part, secret
                for number in (DANIEL, MARCUS, PRIYA, CARA, "7700900", "7700 900"):
                    assert number not in part, number
        with svc.db.transaction() as session:
            rows = session.scalars(
                select(Email).where(Email.purpose == "handover", Email.created_at >= END)
            ).all()
            assert len(rows) == 2
            assert all(row.status is EmailStatus.SENT for row in rows)
            assert sum(row.attempts for row in rows) == 3  # one refused, then each once
            assert {r.message["Message-ID"] for r in received} == {row.message_id for row in rows}
    finally:
        stop = jobs["leadership"].stop  # on PostgreSQL: the leader's advisory-lock connection
        if stop is not None:
            stop()
        svc.db.dispose()
