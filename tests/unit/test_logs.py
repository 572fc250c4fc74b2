"""Logs never carry a full phone number or a message body."""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

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
        # A quote gunicorn escaped inside the request line does not end the value.
        (r'"GET /x?phone=0770\"0900201 HTTP/1.1" 401', '"GET /x?phone=***201 HTTP/1.1" 401'),
        # To names a number: its value goes whatever it is (x here).
        (
            "From=%2B447700900123&Body=I+cannot+go+on&To=x",
            "From=***123&Body=[redacted]&To=[redacted]",
        ),
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


# H150: every way the issue found of writing 07700 900201 into a query string. Each is redacted
# by the parameter's name, so no digit of the number but the last three survives.
NUMBER_FORMS = [
    "7700-900-201",
    "0044%207700%20900201",
    "(07700)%20900201",
    "07700.900.201",
    "%2B44(0)7700900201",
    "0+7+7+0+0+9+0+0+2+0+1",
    "0%207%207%200%200%209%200%200%202%200%201",
    "07700%20900%20201",
    "+447700900201",
    "447700900201",
]
# The same parameter as a client may spell it: any case, percent-encoded, repeated.
NAME_SPELLINGS = ["phone", "PHONE", "Phone", "ph%6Fne", "%70%68%6F%6E%65", "ph%256Fne"]


def digits_left(line: str) -> str:
    """The digits a line still shows once each ***201 is taken out, however they were written."""
    return re.sub(r"\D", "", unquote_plus(unquote_plus(line.replace("***201", ""))))


@pytest.mark.parametrize("form", NUMBER_FORMS)
@pytest.mark.parametrize("name", NAME_SPELLINGS)
def test_a_phone_parameter_in_any_form_keeps_only_its_last_three_digits(
    form: str, name: str
) -> None:
    line = f'"GET /api/v/participants?{name}={form}&{name}={form} HTTP/1.1" 401'
    redacted = redact_text(line)
    assert redacted.count(f"{name}=***201") == 2, redacted
    assert digits_left(redacted.replace("HTTP/1.1", "").replace("401", "")) == ""


@pytest.mark.parametrize(
    "parameter",
    ["phone", "to", "from", "number", "From", "To", "Caller", "Called", "ForwardedFrom"],
)
@pytest.mark.parametrize("form", NUMBER_FORMS)
def test_every_parameter_that_carries_a_number_is_redacted_by_name(
    parameter: str, form: str
) -> None:
    redacted = redact_text(f"/api/v/deliveries?purpose=relay&{parameter}={form}")
    assert redacted == f"/api/v/deliveries?purpose=relay&{parameter}=***201"


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("GET /calendar/rotas/cal_Sd8x-Q_2b9Zk.ics HTTP/1.1", "cal_Sd8x-Q_2b9Zk"),
        ("GET /calendar/staff/cal_Sd8x-Q_2b9Zk.ics HTTP/1.1", "cal_Sd8x-Q_2b9Zk"),
        ("GET //calendar//rotas/cal_Sd8x-Q_2b9Zk.ics HTTP/1.1", "cal_Sd8x-Q_2b9Zk"),
        ("GET /voicemail/eyJjIjo3fQ.Zx9-secret HTTP/1.1", "eyJjIjo3fQ.Zx9-secret"),
        ("GET /calendar/rotas/x.ics?token=s3cr3t-t0ken HTTP/1.1", "s3cr3t-t0ken"),
        ("GET /x?TOKEN=s3cr3t-t0ken&key=k3y-value HTTP/1.1", "s3cr3t-t0ken"),
        ("GET /x?key=k3y-value HTTP/1.1", "k3y-value"),
        ("GET /x?Signature=s1gnature%3D%3D HTTP/1.1", "s1gnature"),
        ("GET /x?Body=I%20cannot%20go%20on HTTP/1.1", "cannot"),
        ("POST /webhooks/sms?bodySHA256=abc123def HTTP/1.1", "abc123def"),
    ],
)
def test_secrets_in_paths_and_parameters_are_removed(line: str, secret: str) -> None:
    redacted = redact_text(line)
    assert secret not in redacted
    assert "[redacted]" in redacted


def test_other_parameters_are_left_as_they_are() -> None:
    line = "GET /api/v1/staff?role=on_call&active=true&page=2&page_size=50 HTTP/1.1"
    assert redact_text(line) == line


@pytest.mark.parametrize("form", NUMBER_FORMS)
def test_the_apps_own_request_log_shows_no_number(
    form: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Werkzeug's request line (the app's log under `crisisline run`) goes through the filter."""
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        for handler in before:
            root.removeHandler(handler)
        configure_logging()
        logging.getLogger("werkzeug").info(
            '127.0.0.1 - - "%s" %s -', f"GET /api/v/participants?phone={form} HTTP/1.1", 401
        )
        err = capsys.readouterr().err
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in before:
            root.addHandler(handler)
    request_line = err.split('"')[1]
    assert request_line == "GET /api/v/participants?phone=***201 HTTP/1.1"
