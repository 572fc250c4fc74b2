"""The mail port: sending one email, with an SMTP adapter (SMTP_URL), a console adapter for
local runs and a fake for tests."""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Final, Protocol
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

# Long enough for a slow relay's greeting or its reply to DATA; short enough that a server
# that hangs does not hold the dispatcher (and the email's lease) for long. It applies to
# each step of the conversation, not to the whole send.
DEFAULT_TIMEOUT_SECONDS: Final = 10.0
DEFAULT_PORTS: Final = {"smtp": 587, "smtps": 465}
# A relay on this machine: the message never crosses a network, so plain SMTP is allowed.
# Only these names count: anything else is treated as a host across a network.
LOCAL_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})

# At most 64 characters before the @ (the most an address's local part may have): a long run
# of characters with no @ after it is then given up on quickly, whatever the log line holds.
_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]{1,64}@[\w-]+(?:\.[\w-]+)*")


class MailError(Exception):
    """An email the server did not accept; `transient` says whether trying again may work.

    The message never holds an address in full or any part of the email's body, so it is safe
    to log and to store. `code` is the SMTP reply code when the server gave one.
    """

    transient: bool = True

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class MailRefused(MailError):
    """The server refused this email for good (a 5xx reply, a bad address): sending the same
    email again cannot succeed."""

    transient = False


class MailUnavailable(MailError):
    """The server or the network failed (a 4xx reply, connection refused, a timeout, a TLS
    failure): the same email may be accepted later."""

    transient = True


class Mailer(Protocol):
    """Sends one email.

    Implementations: `SmtpMailer` (SMTP_URL), `ConsoleMailer` (local runs: nothing leaves the
    machine) and `FakeMailer` (unit tests). The message carries its own From, To, Subject, Date
    and Message-ID; the mailer sends it to its To address as it is.

    Returning means the server accepted the message, not that it reached a mailbox. After a
    timeout the server may still have accepted it, so a retry can deliver it twice; it is then
    the same message (the same Message-ID), which mail programs show once.

    Raises:
        MailRefused: the server refused this email for good: a 5xx reply to the sender, the
            recipient or the message, a rejected login or one the server does not offer, or
            an address that cannot be sent to.
        MailUnavailable: the server or the network failed and the same email may be accepted
            later: a 4xx reply, the connection refused, reset or timed out, STARTTLS not
            offered or failing, TLS failing, any reply this port does not understand.

    Nothing else is raised for a failure to send.
    """

    def send(self, message: EmailMessage) -> None:
        """Hand `message` to the mail system."""
        ...


def mask_address(address: str) -> str:
    """An address safe to log: the first character of its local part, then the domain."""
    local, at, domain = address.strip().strip("<>").rpartition("@")
    if not at or not local:
        return "[address]"
    return f"{local[0]}***@{domain}"


def mask_addresses(text: str) -> str:
    """`text` with every address in it masked (mask_address)."""
    if "@" not in text:
        return text
    return _ADDRESS.sub(lambda match: mask_address(match.group(0)), text)


def recipients(message: EmailMessage) -> list[str]:
    """The addresses in the message's To header; MailRefused if it has none it can send to."""
    found = [address for _, address in getaddresses(message.get_all("To", []))]
    if not found or any(not _sendable(address) for address in found):
        raise MailRefused("the email has no address it can be sent to")
    return found


def _sendable(address: str) -> bool:
    local, at, domain = address.rpartition("@")
    return bool(at and local and domain) and not any(c.isspace() or c in "<>,;" for c in address)


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    """Where and how to reach the SMTP server, as SMTP_URL says."""

    scheme: str  # "smtp" (STARTTLS) or "smtps" (TLS from the start)
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @property
    def local(self) -> bool:
        """True for a relay on this machine (plain SMTP allowed)."""
        return self.host.lower() in LOCAL_HOSTS

    @property
    def requires_starttls(self) -> bool:
        """True when the connection must be upgraded with STARTTLS before anything is sent."""
        return self.scheme == "smtp" and not self.local

    def __repr__(self) -> str:
        # Never the password, even in a traceback's locals.
        return f"SmtpTarget({self.scheme}://{self.host}:{self.port})"


def parse_smtp_url(url: str) -> SmtpTarget:
    """The SMTP server SMTP_URL names; ValueError (naming no secret) when it is not one.

    `smtp://user:password@host:587` (STARTTLS) or `smtps://user:password@host:465` (TLS from
    the start); the user and password are percent-decoded, so `%40` is `@` and `%3A` is `:`.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(f"SMTP_URL must start smtp:// or smtps://, not {scheme!r}")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        raise ValueError("SMTP_URL has a port that is not a number from 1 to 65535") from None
    host = parts.hostname
    if not host:
        raise ValueError("SMTP_URL has no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("SMTP_URL has something after the host and port")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and username is None:
        raise ValueError("SMTP_URL has a password but no user")
    return SmtpTarget(scheme, host, port, username, password)


class SmtpMailer:
    """Sends each email through the SMTP server of SMTP_URL, on a connection of its own.

    `smtp://` upgrades the connection with STARTTLS, and refuses to send without it, unless
    the host is this machine (127.0.0.1, localhost, ::1: a local relay); `smtps://` speaks TLS
    from the start. Certificates are checked against `ssl_context` (the system's trusted
    authorities unless given). The login, when the URL has a user, happens only after TLS, or
    on a local relay.
    """

    def __init__(
        self,
        target: SmtpTarget,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.target = target
        self.timeout_seconds = timeout_seconds
        self._ssl_context = ssl_context

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        ssl_context: ssl.SSLContext | None = None,
    ) -> SmtpMailer:
        """The mailer for SMTP_URL `url` (ValueError when it is not one)."""
        return cls(parse_smtp_url(url), timeout_seconds=timeout_seconds, ssl_context=ssl_context)

    def _context(self) -> ssl.SSLContext:
        return self._ssl_context or ssl.create_default_context()

    def send(self, message: EmailMessage) -> None:
        """Send `message` to its To address; MailRefused or MailUnavailable when not accepted."""
        to = recipients(message)
        target = self.target
        try:
            smtp = self._connect()
            try:
                self._converse(smtp, message, to)
            except BaseException:
                smtp.close()
                raise
            # Accepted: a QUIT that fails now must not turn the send into a failure (and a
            # second copy on the retry).
            _quit_quietly(smtp)
        except MailError:
            raise
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            permanent = bool(codes) and all(code >= 500 for code in codes)
            kind = MailRefused if permanent else MailUnavailable
            raise kind(
                f"the SMTP server refused the recipient ({', '.join(map(str, codes))})",
                code=codes[0] if codes else None,
            ) from None
        except smtplib.SMTPResponseException as error:
            # Sender refused, data refused, login refused, a 4xx/5xx anywhere else.
            reply = _reply_text(error.smtp_error)
            kind = MailRefused if error.smtp_code >= 500 else MailUnavailable
            raise kind(
                f"the SMTP server answered {error.smtp_code}{reply}", code=error.smtp_code
            ) from None
        except smtplib.SMTPNotSupportedError:
            # No AUTH offered for SMTP_URL's login, or no SMTPUTF8 for an address beyond
            # ASCII: the same email to the same server fails the same way every time.
            raise MailRefused(
                "the SMTP server does not support what this email needs (AUTH for the login "
                "in SMTP_URL, or SMTPUTF8 for the address)"
            ) from None
        except smtplib.SMTPServerDisconnected as error:
            # smtplib reports a reply that never came as a lost connection.
            if isinstance(error.__context__, TimeoutError):
                raise MailUnavailable(
                    f"the SMTP server did not answer within {self.timeout_seconds:g} s"
                ) from None
            raise MailUnavailable("the SMTP server closed the connection") from None
        except ssl.SSLError as error:
            raise MailUnavailable(f"TLS with the SMTP server failed ({error.reason})") from None
        except TimeoutError:
            raise MailUnavailable(
                f"the SMTP server did not answer within {self.timeout_seconds:g} s"
            ) from None
        except ConnectionRefusedError:
            raise MailUnavailable(
                f"the SMTP server {target.host}:{target.port} refused the connection"
            ) from None
        except (OSError, smtplib.SMTPException) as error:
            # Anything this port does not know leans transient: tried again later, then failed
            # after the outbox's horizon, rather than given up at the first odd reply.
            raise MailUnavailable(
                f"sending to the SMTP server failed ({type(error).__name__})"
            ) from None

    def _converse(self, smtp: smtplib.SMTP, message: EmailMessage, to: list[str]) -> None:
        target = self.target
        if target.scheme == "smtp":
            smtp.ehlo()
            # A local relay is spoken to in plain text: nothing crosses a network, and its
            # certificate (if it has one) rarely names 127.0.0.1.
            if target.requires_starttls:
                if not smtp.has_extn("starttls"):
                    raise MailUnavailable(
                        f"the SMTP server {target.host} does not offer STARTTLS, which "
                        "SMTP_URL requires for a server on another machine (use smtps:// "
                        "for TLS from the start)"
                    )
                smtp.starttls(context=self._context())
                smtp.ehlo()
        if target.username is not None:
            smtp.login(target.username, target.password or "")
        smtp.send_message(message, to_addrs=to)

    def _connect(self) -> smtplib.SMTP:
        target = self.target
        if target.scheme == "smtps":
            return smtplib.SMTP_SSL(
                target.host, target.port, timeout=self.timeout_seconds, context=self._context()
            )
        return smtplib.SMTP(target.host, target.port, timeout=self.timeout_seconds)


def _quit_quietly(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _reply_text(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    # A server's reply often repeats the address it refused.
    text = mask_addresses(" ".join(text.split()))[:160]
    return f": {text}" if text else ""


class ConsoleMailer:
    """For local runs: nothing leaves the machine. Each email is logged as "sent" with its
    recipient masked and never its subject or body; with a `directory`, it is also written there
    as an .eml file a mail program opens (instance/mail/ under `make run`)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._count = 0

    def send(self, message: EmailMessage) -> None:
        """Log the email (and write it to the directory), as if sent."""
        to = recipients(message)
        where = ""
        if self.directory is not None:
            with self._lock:
                self._count += 1
                count = self._count
            name = re.sub(r"[^\w.-]", "", str(message.get("Message-ID", ""))) or f"mail-{count}"
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                path = self.directory / f"{name}.eml"
                path.write_bytes(bytes(message))
            except OSError as error:
                raise MailUnavailable(
                    f"the console mailer could not write its file ({type(error).__name__})"
                ) from None
            where = f", written to {path}"
        log.info(
            'email "sent" by the console mailer to %s%s',
            ", ".join(mask_address(address) for address in to),
            where,
        )


class FakeMailer:
    """A mailer for unit tests: nothing is sent; accepted messages are kept in order.

    `fail_next(error, times)` makes the next sends raise `error`; refused messages are kept
    in `refused`. Addresses are checked as the SMTP adapter checks them.
    """

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.refused: list[EmailMessage] = []
        self._failures: list[MailError] = []
        self._lock = threading.Lock()

    def fail_next(self, error: MailError, times: int = 1) -> None:
        """Make the next `times` sends raise `error`."""
        with self._lock:
            self._failures.extend([error] * times)

    def send(self, message: EmailMessage) -> None:
        """Keep `message` as sent, or raise the next failure asked for."""
        recipients(message)
        with self._lock:
            if self._failures:
                self.refused.append(message)
                raise self._failures.pop(0)
            self.sent.append(message)


__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "ConsoleMailer",
    "FakeMailer",
    "MailError",
    "MailRefused",
    "MailUnavailable",
    "Mailer",
    "SmtpMailer",
    "SmtpTarget",
    "mask_address",
    "mask_addresses",
    "parse_smtp_url",
    "recipients",
]
