"""The mail port's pieces that need no server: SMTP_URL, where STARTTLS is required, the
console and fake mailers, and addresses kept out of logs."""

from __future__ import annotations

import logging
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from crisisline.app import build_mailer
from crisisline.logs import RedactingFilter, redact_text
from crisisline.mail import (
    ConsoleMailer,
    FakeMailer,
    MailRefused,
    MailUnavailable,
    SmtpMailer,
    SmtpTarget,
    mask_address,
    parse_smtp_url,
)
from crisisline.settings import SettingsError
from tests.support.app import make_settings

MANAGER = "mina.duty@example.org"
BODY = "Marcus R. called twice; risk high; no note yet."
SUBJECT = "Handover: M.R. risk high"


def _message(to: str = MANAGER) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "crisis-line@resettle.example.org"
    message["To"] = to
    message["Subject"] = SUBJECT
    message["Message-ID"] = "<abc123@resettle.example.org>"
    message.set_content(BODY)
    message.add_alternative(f"<p>{BODY}</p>", subtype="html")
    return message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.org", SmtpTarget("smtp", "mail.example.org", 587)),
        ("smtps://mail.example.org", SmtpTarget("smtps", "mail.example.org", 465)),
        ("smtp://mail.example.org:2525", SmtpTarget("smtp", "mail.example.org", 2525)),
        ("SMTPS://Mail.Example.org:10465/", SmtpTarget("smtps", "mail.example.org", 10465)),
        (
            "smtp://crisis:secret@mail.example.org:587",
            SmtpTarget("smtp", "mail.example.org", 587, "crisis", "secret"),
        ),
        (
            # Percent-encoded user and password: @, :, / and % themselves.
            "smtp://crisis%40resettle.example.org:p%40ss%3Aw%2Frd%25@mail.example.org",
            SmtpTarget(
                "smtp", "mail.example.org", 587, "crisis@resettle.example.org", "p@ss:w/rd%"
            ),
        ),
        (
            "smtp://apikey:@mail.example.org",
            SmtpTarget("smtp", "mail.example.org", 587, "apikey", ""),
        ),
        ("smtp://[::1]:1025", SmtpTarget("smtp", "::1", 1025)),
    ],
)
def test_smtp_url_gives_host_port_and_decoded_credentials(url: str, expected: SmtpTarget) -> None:
    assert parse_smtp_url(url) == expected


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("http://mail.example.org", "must start smtp:// or smtps://"),
        ("mail.example.org:587", "must start"),
        ("smtp://mail.example.org:port", "port"),
        ("smtp://mail.example.org:70000", "port"),
        ("smtp://", "no host"),
        ("smtp://:secret@", "no host"),
        ("smtp://mail.example.org/relay?x=1", "after the host"),
    ],
)
def test_a_smtp_url_that_is_not_one_is_refused_naming_what_is_wrong(
    url: str, complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse_smtp_url(url)


def test_the_password_never_shows_in_errors_or_in_the_target() -> None:
    with pytest.raises(ValueError) as refused:
        parse_smtp_url("smtp://crisis:hunter2@mail.example.org:bad")
    assert "hunter2" not in str(refused.value)
    target = parse_smtp_url("smtp://crisis:hunter2@mail.example.org")
    assert "hunter2" not in repr(target)
    assert "hunter2" not in repr(SmtpMailer(target).target)


@pytest.mark.parametrize(
    ("url", "required"),
    [
        ("smtp://mail.example.org", True),
        ("smtp://192.0.2.25:25", True),
        ("smtp://127.0.0.2:25", True),  # only the three names below count as this machine
        ("smtp://127.0.0.1:1025", False),
        ("smtp://localhost:1025", False),
        ("smtp://LOCALHOST:1025", False),
        ("smtp://[::1]:1025", False),
        ("smtps://mail.example.org", False),  # TLS from the start instead
    ],
)
def test_starttls_is_required_unless_the_server_is_this_machine(url: str, required: bool) -> None:
    assert parse_smtp_url(url).requires_starttls is required


def test_the_composition_root_chooses_smtp_when_smtp_url_is_set(tmp_path: Path) -> None:
    with_smtp = make_settings(
        tmp_path, "sqlite:///unused.db", SMTP_URL="smtps://crisis:pw@mail.example.org"
    )
    mailer = build_mailer(with_smtp)
    assert isinstance(mailer, SmtpMailer)
    assert mailer.target == SmtpTarget("smtps", "mail.example.org", 465, "crisis", "pw")
    console = build_mailer(make_settings(tmp_path, "sqlite:///unused.db"))
    assert isinstance(console, ConsoleMailer)
    assert console.directory == tmp_path / "instance" / "mail"


def test_a_smtp_url_with_a_bad_port_stops_start_up_without_showing_the_password(
    tmp_path: Path,
) -> None:
    with pytest.raises(SettingsError, match="SMTP_URL has a port") as stopped:
        make_settings(
            tmp_path, "sqlite:///unused.db", SMTP_URL="smtp://crisis:hunter2@mail.example.org:25x"
        )
    assert "hunter2" not in str(stopped.value)


def test_the_console_mailer_logs_a_masked_recipient_and_never_the_subject_or_body(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mailer = ConsoleMailer(tmp_path / "mail")
    with caplog.at_level(logging.INFO, logger="crisisline.mail"):
        mailer.send(_message())
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "m***@example.org" in logged
    assert '"sent"' in logged
    assert MANAGER not in logged
    assert "Marcus" not in logged
    assert SUBJECT not in logged
    [written] = (tmp_path / "mail").glob("*.eml")
    assert written.name == "abc123resettle.example.org.eml"
    kept = message_from_bytes(written.read_bytes(), policy=policy.default)
    assert kept["To"] == MANAGER
    assert kept["Subject"] == SUBJECT


def test_the_console_mailer_without_a_directory_only_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="crisisline.mail"):
        ConsoleMailer().send(_message())
    assert "m***@example.org" in caplog.text
    assert "written" not in caplog.text


def test_the_console_mailer_that_cannot_write_is_unavailable_for_now(tmp_path: Path) -> None:
    blocker = tmp_path / "mail"
    blocker.write_text("a file where the directory should be")
    with pytest.raises(MailUnavailable, match="could not write"):
        ConsoleMailer(blocker).send(_message())


def test_the_fake_mailer_records_sends_and_fails_when_told() -> None:
    mailer = FakeMailer()
    mailer.fail_next(MailUnavailable("busy", code=451), times=2)
    for _ in range(2):
        with pytest.raises(MailUnavailable):
            mailer.send(_message())
    mailer.send(_message())
    assert len(mailer.refused) == 2
    assert [m["To"] for m in mailer.sent] == [MANAGER]
    with pytest.raises(MailRefused):
        mailer.send(_message("nobody"))


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        (MANAGER, "m***@example.org"),
        ("<o.pritchard@probation.example.org>", "o***@probation.example.org"),
        ("not-an-address", "[address]"),
    ],
)
def test_an_address_is_masked_to_its_first_character_and_domain(address: str, masked: str) -> None:
    assert mask_address(address) == masked


def test_log_lines_never_carry_a_full_address() -> None:
    line = f"sending to {MANAGER} and Owen <owen.pritchard@example.org>; from 07700 900123"
    redacted = redact_text(line)
    assert MANAGER not in redacted
    assert "owen.pritchard" not in redacted
    assert "m***@example.org" in redacted
    assert "o***@example.org" in redacted
    assert "***123" in redacted
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "to %s", (MANAGER,), None)
    RedactingFilter().filter(record)
    assert record.getMessage() == "to m***@example.org"
