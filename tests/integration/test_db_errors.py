"""A failed statement's error never carries its values, and a webhook that failed on one logs
no full number: tracebacks are logged (H150, H58)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from crisisline.app import create_app
from crisisline.clock import FakeClock
from crisisline.db import Database
from crisisline.logs import configure_logging
from tests.support.app import make_settings, services_of, signed_post
from tests.support.sms_line import DANIEL

BODY = "I want to end it tonight"
NUMBER = "+447700900201"


def test_a_failed_statement_names_no_value_it_was_given(database_url: str) -> None:
    db = Database(database_url)
    try:
        with pytest.raises(DBAPIError) as failed, db.transaction() as session:
            session.execute(
                text("INSERT INTO no_such_table (body, phone) VALUES (:body, :phone)"),
                {"body": BODY, "phone": NUMBER},
            )
        message = str(failed.value)
        assert "no_such_table" in message  # the statement is there to debug with
        assert BODY not in message and "7700900201" not in message
    finally:
        db.dispose()


# ---- a webhook's failing statement in the logs (safety review) --------------------------------


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the configured (redacting) stderr handler writes, captured in a buffer."""
    root = logging.getLogger()
    before = list(root.handlers)
    for handler in before:
        root.removeHandler(handler)
    try:
        configure_logging()
        buffer = io.StringIO()
        for handler in root.handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(buffer)
        yield buffer
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in before:
            root.addHandler(handler)


@pytest.mark.hazard("H58")
def test_a_failing_voice_webhook_logs_no_full_phone_number(
    log_output: io.StringIO, tmp_path: Path, clock: FakeClock
) -> None:
    """H3: RedactingFilter rewrites record.msg only; log.exception's traceback (exc_info) is
    formatted afterwards, unredacted. A database error carries its SQL parameters, so a voice
    webhook failure (webhooks/voice.py:37), and likewise a failing scheduler job
    (escalation/scheduler.py:83, e.g. the outbox with a participant's words), writes full
    phone numbers and message bodies to the logs."""
    # A database without its tables: every query fails with the parameters in the message.
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path}/not-migrated.db")
    app = create_app({"TESTING": True}, settings=settings, clock=clock)
    try:
        form = {"CallSid": "CA" + "4" * 32, "From": DANIEL, "To": "+447700900000"}
        response = signed_post(app.test_client(), "/webhooks/voice", form)
        assert response.status_code == 200  # the caller still hears the crisis numbers
        err = log_output.getvalue()
    finally:
        services_of(app).db.dispose()
    assert "voice webhook" in err
    assert DANIEL not in err, "the caller's full number is in the log"
