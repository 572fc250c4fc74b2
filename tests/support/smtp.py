"""A real SMTP server for the tests (aiosmtpd) on a loopback address and a free port.

It keeps every message it accepts, and on request refuses the next messages with a 4xx or
5xx reply, hangs (answers nothing to the end of a message until released), or stops and
starts again on the same port. It can speak STARTTLS or TLS from the start with a certificate
made for the test (`make_certificate`, with the openssl command), and check a login.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.support import ports

# How long a hung server waits, at most, before giving up on its own (a test releases or stops
# it long before).
_HANG_LIMIT_SECONDS = 30.0


@dataclass(frozen=True)
class Received:
    """A message the server accepted: its envelope, the parsed message, and how it came."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes
    tls: bool
    login: str | None


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for one host name or address, and its key."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        """What the server presents."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this certificate (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.cert))


def make_certificate(directory: Path, host: str) -> Certificate:
    """A self-signed certificate for `host` (an IP address or a name), made by openssl."""
    cert, key = directory / f"{host}.crt", directory / f"{host}.key"
    kind = "IP" if host.replace(".", "").isdigit() or ":" in host else "DNS"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={host}",
            "-addext",
            f"subjectAltName={kind}:{host}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return Certificate(cert, key)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on at `host` just now (tests/support/ports.py)."""
    return ports.free_port(host)


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        server = self._server
        reply = server._next_refusal()
        if reply is not None:
            return reply
        if server._hanging.is_set():
            waited = 0.0
            while server._hanging.is_set() and waited < _HANG_LIMIT_SECONDS:
                await asyncio.sleep(0.02)
                waited += 0.02
            # Released: the client gave up long ago; keep nothing.
            return "451 4.4.2 Timed out"
        raw = cast(bytes, envelope.original_content or envelope.content)
        transport = smtp.transport
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        server._keep(
            Received(
                mail_from=envelope.mail_from or "",
                rcpt_tos=list(envelope.rcpt_tos),
                message=message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=policy.default),
                raw=raw,
                # STARTTLS marks the session; TLS from the start shows on the transport.
                tls=session.ssl is not None
                or (transport is not None and transport.get_extra_info("ssl_object") is not None),
                login=login,
            )
        )
        return "250 2.0.0 Message accepted for delivery"


class SmtpServer:
    """An aiosmtpd server on `host`, recording what it accepts (see the module docstring).

    `starttls` offers STARTTLS with that certificate; `tls` speaks TLS from the start;
    `logins` maps user to password and turns on AUTH (allowed without TLS: a local relay).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        *,
        starttls: Certificate | None = None,
        tls: Certificate | None = None,
        logins: dict[str, str] | None = None,
    ) -> None:
        self.host = host
        self.port = free_port(host)
        self._starttls = starttls
        self._tls = tls
        self._logins = logins
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._refusals: list[str] = []
        self._hanging = threading.Event()
        self._controller: Controller | None = None
        self.login_attempts: list[tuple[str, str]] = []

    @property
    def url(self) -> str:
        """SMTP_URL for this server (`smtps://` when it speaks TLS from the start)."""
        scheme = "smtps" if self._tls else "smtp"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def received(self) -> list[Received]:
        """Every message accepted so far, in order."""
        with self._lock:
            return list(self._received)

    @property
    def running(self) -> bool:
        """True while the server listens."""
        return self._controller is not None

    def refuse_next(self, count: int = 1, reply: str = "451 4.3.0 Try again later") -> None:
        """Answer the next `count` messages with `reply` (a 4xx or 5xx line) and keep none."""
        with self._lock:
            self._refusals.extend([reply] * count)

    def hang(self) -> None:
        """From now on, answer nothing at the end of a message (until `release`)."""
        self._hanging.set()

    def release(self) -> None:
        """Stop hanging: messages are accepted again."""
        self._hanging.clear()

    def start(self) -> None:
        """Listen on the server's port (the same port after a stop)."""
        kwargs: dict[str, Any] = {}
        if self._starttls is not None:
            kwargs["tls_context"] = self._starttls.server_context()
        if self._logins is not None:
            kwargs["authenticator"] = self._authenticate
            kwargs["auth_require_tls"] = False
        controller = Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            ssl_context=self._tls.server_context() if self._tls else None,
            ready_timeout=10.0,
            **kwargs,
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        """Stop listening: connections are refused until `start`."""
        self.release()
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = data.login.decode(), data.password.decode()
        with self._lock:
            self.login_attempts.append((login, password))
        ok = self._logins is not None and self._logins.get(login) == password
        # handled=False: the server itself answers 535 to a refused login.
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    def _next_refusal(self) -> str | None:
        with self._lock:
            return self._refusals.pop(0) if self._refusals else None

    def _keep(self, received: Received) -> None:
        with self._lock:
            self._received.append(received)


@contextlib.contextmanager
def running(server: SmtpServer) -> Iterator[SmtpServer]:
    """`server`, started, and stopped afterwards (for a test module's fixture)."""
    server.start()
    try:
        yield server
    finally:
        server.stop()
