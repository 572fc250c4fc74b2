"""Logs never carry a full phone number or a message body."""

from __future__ import annotations

import logging

import pytest

from crisisline.logs import RedactingFilter, configure_logging, redact_text


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("call from +447700900123 to 07700 900456", "call from ***123 to ***456"),
        (
            "GET /api/v1/participants?phone=%2B447700900123 HTTP/1.1",
            "GET /api/v1/participants?phone=***123 HTTP/1.1",
        ),
        ("phone=07700%20900123&x=1", "phone=***123&x=1"),
        ("To=447700900321", "To=***321"),
        ("From=%2B447700900123&Body=I+cannot+go+on&To=x", "From=***123&Body=[redacted]&To=x"),
    ],
)
def test_numbers_are_cut_to_last_three_digits_and_bodies_removed(line: str, expected: str) -> None:
    assert redact_text(line) == expected


@pytest.mark.parametrize(
    "line",
    ["staff 12 updated at 2026-11-26 22:50:36", "listening on 127.0.0.1:5000", "id=1234567"],
)
def test_times_addresses_and_ids_are_left_alone(line: str) -> None:
    assert redact_text(line) == line


def test_a_log_record_with_a_number_in_its_arguments_comes_out_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("crisisline.test")
    caplog.handler.addFilter(RedactingFilter())
    form = {"From": "+447700900123", "Body": "help me please, I can't"}
    logger.warning("sms webhook %s", form)
    assert caplog.messages == ["sms webhook {'From': '***123', 'Body': '[redacted]'}"]
    assert "900123" not in caplog.text
    assert "help me" not in caplog.text


def test_configured_logging_redacts_what_reaches_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        for handler in before:
            root.removeHandler(handler)
        configure_logging()
        logging.getLogger("crisisline.webhooks").warning("voice webhook From=%s", "+447700900777")
        err = capsys.readouterr().err
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in before:
            root.addHandler(handler)
    assert "From=***777" in err
    assert "+447700900777" not in err
