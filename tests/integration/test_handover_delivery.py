"""The daily handover: sent once a day at HANDOVER_TIME, local, whatever the number of passes
or schedulers; to active duty managers and the clinical lead only; as an email (text and
HTML) where SMTP_URL is set and the person has an address, else as one text with the link;
and never with a message body, a note's text or a phone number in it."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, update

from crisisline import handover_delivery
from crisisline.app import create_app
from crisisline.clock import FakeClock
from crisisline.email_models import Email, HandoverSend
from crisisline.jobs import Jobs
from crisisline.models import Delivery, RecordAccess
from crisisline.rota_models import RotaRecord
from crisisline.telephony import FakeTelephony
from tests.support.app import make_settings, services_of
from tests.support.handover import (
    CARA,
    DANA,
    DANIEL,
    EMAIL_CARA,
    EMAIL_PRIYA,
    END,
    MARCUS,
    PRIYA,
    START,
    Night,
    build_night,
)

LINK = "https://crisis.example.org/handover?from=2026-12-05T08%3A30Z&to=2026-12-06T08%3A30Z"


def _app(tmp_path: Path, database_url: str, clock: FakeClock, **env: str) -> Flask:
    settings = make_settings(tmp_path, database_url, **env)
    return create_app({"TESTING": True}, settings=settings, clock=clock, telephony=FakeTelephony())


@pytest.fixture
def two_schedulers(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> Iterator[tuple[Flask, Flask]]:
    """Two apps (two scheduler processes) on one database, SMTP configured."""
    first = _app(tmp_path / "a", database_url, clock, SMTP_URL="smtp://127.0.0.1:2525")
    second = _app(tmp_path / "b", database_url, clock, SMTP_URL="smtp://127.0.0.1:2525")
    yield first, second
    for app in (first, second):
        services_of(app).db.dispose()


def _build(app: Flask) -> Night:
    with services_of(app).db.transaction() as session:
        return build_night(session)


def _emails(app: Flask) -> list[Email]:
    with services_of(app).db.transaction() as session:
        # The failed email of the night (sent the day before) is not one of these.
        rows = list(
            session.scalars(
                select(Email).where(Email.purpose == "handover", Email.created_at > START)
            )
        )
        for row in rows:
            session.expunge(row)
        return rows


def _texts(app: Flask) -> list[tuple[str, str]]:
    with services_of(app).db.transaction() as session:
        return [
            (row.to_number, row.body)
            for row in session.execute(
                select(Delivery.to_number, Delivery.body)
                .where(Delivery.purpose == "handover")
                .order_by(Delivery.id)
            )
        ]


def test_it_goes_once_a_day_at_the_handover_time_whatever_the_schedulers(
    two_schedulers: tuple[Flask, Flask], clock: FakeClock
) -> None:
    first, second = two_schedulers
    _build(first)
    # 08:29:59: not yet, on either.
    clock.set(END - dt.timedelta(seconds=1))
    assert Jobs(services_of(first)).send_handover() is None
    assert Jobs(services_of(second)).send_handover() is None
    assert _emails(first) == []
    # 08:30: the first scheduler sends it; the second, and the next passes, send nothing.
    clock.set(END)
    sent = Jobs(services_of(first)).send_handover()
    assert sent == handover_delivery.Sent(dt.date(2026, 12, 6), emails=2, texts=1)
    assert Jobs(services_of(second)).send_handover() is None
    clock.set(END + dt.timedelta(minutes=1))
    assert Jobs(services_of(first)).send_handover() is None
    assert Jobs(services_of(second)).send_handover() is None
    assert sorted(e.to_address for e in _emails(first)) == [EMAIL_CARA, EMAIL_PRIYA]
    assert len(_texts(first)) == 1
    with services_of(first).db.transaction() as session:
        [row] = session.scalars(select(HandoverSend)).all()
        assert (row.local_date, row.period_start, row.period_end) == (
            dt.date(2026, 12, 6),
            START,
            END,
        )
        assert (row.emails, row.texts) == (2, 1)
    # The next morning, the next day's: once.
    clock.set(END + dt.timedelta(days=1))
    assert Jobs(services_of(second)).send_handover() == handover_delivery.Sent(
        dt.date(2026, 12, 7), emails=2, texts=1
    )
    assert Jobs(services_of(first)).send_handover() is None
    assert len(_emails(first)) == 4


def test_two_schedulers_at_the_same_moment_send_it_once(
    two_schedulers: tuple[Flask, Flask], clock: FakeClock
) -> None:
    first, second = two_schedulers
    _build(first)
    clock.set(END)
    barrier = threading.Barrier(2)
    results: list[object] = []

    def run(app: Flask) -> None:
        barrier.wait()
        results.append(Jobs(services_of(app)).send_handover())

    threads = [threading.Thread(target=run, args=(app,)) for app in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results, key=lambda r: r is None) == [
        handover_delivery.Sent(dt.date(2026, 12, 6), emails=2, texts=1),
        None,
    ]
    assert len(_emails(first)) == 2 and len(_texts(first)) == 1


def test_a_scheduler_down_at_the_time_sends_on_start_the_same_day_never_the_day_before(
    two_schedulers: tuple[Flask, Flask], clock: FakeClock
) -> None:
    first, _ = two_schedulers
    _build(first)
    # Down from 08:00 to 14:00 on Sunday: sent on start, for the same period.
    clock.set(dt.datetime(2026, 12, 6, 14, 0, tzinfo=dt.UTC))
    sent = Jobs(services_of(first)).send_handover()
    assert sent is not None and sent.local_date == dt.date(2026, 12, 6)
    with services_of(first).db.transaction() as session:
        [row] = session.scalars(select(HandoverSend)).all()
        assert (row.period_start, row.period_end) == (START, END)
    # Down all Monday until Tuesday 07:00: Monday's is not sent late, Tuesday's waits.
    clock.set(dt.datetime(2026, 12, 8, 7, 0, tzinfo=dt.UTC))
    assert Jobs(services_of(first)).send_handover() is None
    with services_of(first).db.transaction() as session:
        assert [r.local_date for r in session.scalars(select(HandoverSend))] == [
            dt.date(2026, 12, 6)
        ]


def test_it_goes_to_active_duty_managers_and_the_clinical_lead_only(
    two_schedulers: tuple[Flask, Flask], clock: FakeClock
) -> None:
    first, _ = two_schedulers
    _build(first)
    clock.set(END)
    Jobs(services_of(first)).send_handover()
    # Priya (duty manager) and Cara (clinical lead) have addresses: emails. Dana (duty
    # manager) has none: a text. Not the on-call workers, the officer, nor Sam (an
    # administrator, with an address).
    assert sorted(e.to_address for e in _emails(first)) == [EMAIL_CARA, EMAIL_PRIYA]
    assert [to for to, _ in _texts(first)] == [DANA]


def test_the_email_holds_no_body_no_note_text_and_no_phone_number(
    two_schedulers: tuple[Flask, Flask], clock: FakeClock
) -> None:
    first, _ = two_schedulers
    night = _build(first)
    clock.set(END)
    Jobs(services_of(first)).send_handover()
    email = _emails(first)[0]
    assert email.subject == "Crisis line handover, Sunday 6 December"
    assert email.reference == "handover:2026-12-06"
    assert email.html_body is not None
    for part in (email.text_body, email.html_body):
        assert "R1001 D.P." in part and "R1002 M.R." in part
        assert "Daniel" not in part and "Price" not in part
        assert "No note yet" in part
        assert "3 calls (2 missed), 2 texts, 1 alert, 2 with no note yet." in part
        for secret in [*night.bodies, *night.note_texts]:
            assert secret not in part, secret
        for number in (DANIEL, MARCUS, PRIYA, CARA, "+447700900555", "+447700900556", "7700 9"):
            assert number not in part, number
    assert LINK in email.text_body
    assert LINK.replace("&", "&amp;") in email.html_body
    assert '<a href="' in email.html_body and "<h2>Contacts by participant</h2>" in email.html_body


def test_without_smtp_everyone_gets_one_text_with_the_link(app: Flask, clock: FakeClock) -> None:
    night = _build(app)
    clock.set(END)
    sent = Jobs(services_of(app)).send_handover()
    assert sent == handover_delivery.Sent(dt.date(2026, 12, 6), emails=0, texts=3)
    assert _emails(app) == []
    texts = _texts(app)
    assert sorted(to for to, _ in texts) == sorted([PRIYA, CARA, DANA])
    for _, body in texts:
        assert body == (
            "Crisis line handover: 3 calls (2 missed), 2 texts, 1 alert, 2 with no note yet. "
            + LINK
        )
    with services_of(app).db.transaction() as session:
        logged = set(
            session.scalars(
                select(RecordAccess.participant_id).where(
                    RecordAccess.actor == handover_delivery.ACTOR
                )
            )
        )
    # Leon is named too: he has no crisis plan.
    assert logged == {night.participants[key] for key in ("daniel", "marcus", "leon")}


def test_the_handover_time_is_local_wall_clock_across_the_clock_change(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    app = _app(tmp_path, database_url, clock, HANDOVER_TIME="07:15")
    try:
        # Sunday 25 October 2026: 07:15 GMT is 07:15 UTC; the day before it was 06:15 UTC.
        clock.set(dt.datetime(2026, 10, 25, 7, 14, tzinfo=dt.UTC))
        assert Jobs(services_of(app)).send_handover() is None
        clock.set(dt.datetime(2026, 10, 25, 7, 15, tzinfo=dt.UTC))
        sent = Jobs(services_of(app)).send_handover()
        assert sent is not None and sent.local_date == dt.date(2026, 10, 25)
        with services_of(app).db.transaction() as session:
            [row] = session.scalars(select(HandoverSend)).all()
            assert row.period_start == dt.datetime(2026, 10, 24, 6, 15, tzinfo=dt.UTC)
            assert row.period_end - row.period_start == dt.timedelta(hours=25)
    finally:
        services_of(app).db.dispose()


def test_the_scheduler_runs_the_handover_job(app: Flask) -> None:
    jobs = {job.name: job for job in Jobs(services_of(app)).scheduler_jobs("test")}
    assert jobs["handover"].seconds == 60


def test_a_rota_that_cannot_be_worked_out_does_not_stop_the_send(
    app: Flask, clock: FakeClock
) -> None:
    _build(app)
    with services_of(app).db.transaction() as session:
        session.execute(
            update(RotaRecord)
            .where(RotaRecord.name == "backup")
            .values(shift_length="now and then")
        )
    clock.set(END)
    assert Jobs(services_of(app)).send_handover() is not None
    with services_of(app).db.transaction() as session:
        bodies = session.scalars(select(Delivery.body).where(Delivery.purpose == "handover")).all()
    assert len(bodies) == 3
