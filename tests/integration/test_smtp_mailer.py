"""The SMTP adapter against real SMTP servers: STARTTLS required for a server on another
machine, TLS from the start with smtps://, logins with decoded credentials, and each failure
sorted into refused for good or unavailable for now."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from crisisline.mail import MailRefused, MailUnavailable, SmtpMailer
from tests.support.smtp import SmtpServer, make_certificate, running

# Not one of the names SmtpMailer counts as this machine (127.0.0.1, localhost, ::1), though
# Linux routes it to the loopback interface: a stand-in for a relay across a network.
REMOTE = "127.0.0.2"
MANAGER = "mina.duty@example.org"


def _message(to: str = MANAGER) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "crisis-line@resettle.example.org"
    message["To"] = to
    message["Subject"] = "Handover"
    message["Message-ID"] = "<handover-1@resettle.example.org>"
    message.set_content("Handover for the night.")
    return message


@pytest.mark.allow_hosts([REMOTE])
def test_a_remote_server_is_sent_to_only_after_starttls(tmp_path: Path) -> None:
    certificate = make_certificate(tmp_path, REMOTE)
    with running(SmtpServer(REMOTE, starttls=certificate)) as server:
        mailer = SmtpMailer.from_url(server.url, ssl_context=certificate.client_context())
        mailer.send(_message())
        [received] = server.received
    assert received.tls is True
    assert received.message["Subject"] == "Handover"


@pytest.mark.allow_hosts([REMOTE])
def test_a_remote_server_without_starttls_is_never_sent_the_email_or_the_password() -> None:
    with running(SmtpServer(REMOTE, logins={"crisis": "secret"})) as server:
        url = f"smtp://crisis:secret@{REMOTE}:{server.port}"
        with pytest.raises(MailUnavailable, match="does not offer STARTTLS") as refused:
            SmtpMailer.from_url(url).send(_message())
        assert server.received == []
        assert server.login_attempts == []
    assert refused.value.transient is True


@pytest.mark.allow_hosts([REMOTE])
def test_a_certificate_that_is_not_trusted_is_a_tls_failure_and_nothing_is_sent(
    tmp_path: Path,
) -> None:
    certificate = make_certificate(tmp_path, REMOTE)
    with running(SmtpServer(REMOTE, starttls=certificate)) as server:
        # The system's authorities: the test's own certificate is not among them.
        with pytest.raises(MailUnavailable, match="TLS"):
            SmtpMailer.from_url(server.url).send(_message())
        assert server.received == []


def test_smtps_speaks_tls_from_the_start(tmp_path: Path) -> None:
    certificate = make_certificate(tmp_path, "127.0.0.1")
    with running(SmtpServer(tls=certificate)) as server:
        assert server.url.startswith("smtps://")
        SmtpMailer.from_url(server.url, ssl_context=certificate.client_context()).send(_message())
        [received] = server.received
    assert received.tls is True


def test_a_local_relay_takes_the_login_with_its_percent_decoded_user_and_password() -> None:
    user, password = "crisis@resettle.example.org", "p@ss:word/100%"
    with running(SmtpServer(logins={user: password})) as server:
        url = f"smtp://crisis%40resettle.example.org:p%40ss%3Aword%2F100%25@127.0.0.1:{server.port}"
        SmtpMailer.from_url(url).send(_message())
        [received] = server.received
    assert received.login == user
    assert received.tls is False


def test_a_wrong_password_is_refused_for_good() -> None:
    with running(SmtpServer(logins={"crisis": "right"})) as server:
        url = f"smtp://crisis:wrong@127.0.0.1:{server.port}"
        with pytest.raises(MailRefused, match="535") as refused:
            SmtpMailer.from_url(url).send(_message())
        assert server.received == []
    assert "wrong" not in str(refused.value)


def test_replies_are_sorted_into_refused_for_good_and_unavailable_for_now() -> None:
    with running(SmtpServer()) as server:
        mailer = SmtpMailer.from_url(server.url)
        server.refuse_next(1, "452 4.2.2 Mailbox full")
        with pytest.raises(MailUnavailable) as later:
            mailer.send(_message())
        assert later.value.code == 452
        server.refuse_next(1, f"550 5.1.1 <{MANAGER}> unknown user")
        with pytest.raises(MailRefused) as never:
            mailer.send(_message())
        assert never.value.code == 550
        # The server's reply names the address; the error keeps it masked.
        assert MANAGER not in str(never.value)
        assert "m***@example.org" in str(never.value)
        mailer.send(_message())
        assert len(server.received) == 1


def test_a_server_that_is_not_there_is_unavailable_for_now() -> None:
    server = SmtpServer()  # never started: nothing listens on its port
    with pytest.raises(MailUnavailable, match="refused the connection"):
        SmtpMailer.from_url(server.url, timeout_seconds=1).send(_message())


def test_a_server_that_hangs_is_unavailable_after_the_timeout() -> None:
    with running(SmtpServer()) as server:
        server.hang()
        with pytest.raises(MailUnavailable, match=r"did not answer within 0\.3 s"):
            SmtpMailer.from_url(server.url, timeout_seconds=0.3).send(_message())


def test_an_address_that_cannot_be_sent_to_is_refused_before_connecting() -> None:
    server = SmtpServer()  # not started: the mailer must not even try
    for bad in ("no-at-sign", "two words@example.org", ""):
        with pytest.raises(MailRefused, match="no address"):
            SmtpMailer.from_url(server.url).send(_message(bad))


def test_a_login_the_server_cannot_take_is_refused_for_good() -> None:
    with running(SmtpServer()) as server:  # offers no AUTH
        url = f"smtp://crisis:secret@127.0.0.1:{server.port}"
        with pytest.raises(MailRefused, match="AUTH"):
            SmtpMailer.from_url(url).send(_message())
        assert server.received == []
