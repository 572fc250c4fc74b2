"""gunicorn's access log, as the Procfile's web process writes it, shows no number and no secret.

H150, H151: the config file is loaded as gunicorn loads it and its logger class formats real
requests; then gunicorn itself serves the app and its log is read.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest
from gunicorn.app.base import Application
from gunicorn.config import Config

from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config" / "gunicorn.conf.py"

# Every form in which the number 07700 900201 reached the log before (issue: full numbers in
# the access log), as the client sent them, percent-encoding and all.
NUMBER_FORMS = [
    "7700-900-201",
    "0044%207700%20900201",
    "(07700)%20900201",
    "07700.900.201",
    "%2B44(0)7700900201",
    "0+7+7+0+0+9+0+0+2+0+1",
    "0%207%207%200%200%209%200%200%202%200%201",
    "07700%20900%20201",
]
CALENDAR_TOKEN = "cal_Sd8xQ2b9ZkLw4TnYv7RcPq1Xh0Ju5Em3Fa6Gd8Kb2Ns"
VOICEMAIL_TOKEN = "eyJjIjo3LCJlIjoxNzk0MDAwMDAwfQ.Zx9kQv3LmN8pR2sT"


def request_targets() -> list[str]:
    """What a client asked for: each number form under several names, and secret links."""
    targets = []
    for form in NUMBER_FORMS:
        targets.append(f"/api/v1/participants?phone={form}")
        targets.append(f"/api/v1/participants?PHONE={form}&Ph%6Fne={form}")
        targets.append(f"/api/v1/deliveries?to={form}")
        targets.append(f"/api/v1/contacts?from={form}&to={form}")
    targets += [
        f"/calendar/rotas/{CALENDAR_TOKEN}.ics",
        f"/calendar/staff/{CALENDAR_TOKEN}.ics",
        f"/calendar/rotas/x.ics?token={CALENDAR_TOKEN}",
        f"/voicemail/{VOICEMAIL_TOKEN}",
    ]
    return targets


def assert_redacted(log_text: str, targets: list[str]) -> None:
    """Each target has one line; no digit of the number but ***201 and no token survives."""
    lines = [line for line in log_text.splitlines() if '"GET /' in line]
    assert len(lines) == len(targets), log_text
    assert CALENDAR_TOKEN not in log_text
    assert VOICEMAIL_TOKEN not in log_text
    for line in lines:
        request_line = line.split('"')[1]
        _, target, _ = request_line.split(" ")
        if target.startswith("/api/"):
            query = target.partition("?")[2]
            assert "=***201" in query, line
            shown = unquote_plus(unquote_plus(query.replace("***201", "")))
            assert re.sub(r"\D", "", shown) == "", line
        else:
            assert "[redacted]" in target, line


class _ConfigOnly(Application):  # type: ignore[misc]
    """gunicorn's own loading of a config file, without serving anything."""

    def init(self, parser: Any, opts: Any, args: Any) -> None:
        return None

    def load_config(self) -> None:
        self.cfg = Config()
        self.load_config_from_file(str(CONFIG))

    def load(self) -> None:
        raise AssertionError("not served")


class _Response:
    status = "401 UNAUTHORIZED"
    sent = 120
    headers: list[tuple[str, str]] = [("Content-Type", "application/json")]


def test_the_configured_logger_class_redacts_every_request_it_logs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg = _ConfigOnly().cfg
    logger = cfg.logger_class(cfg)
    try:
        targets = request_targets()
        for target in targets:
            path, _, query = target.partition("?")
            environ = {
                "REQUEST_METHOD": "GET",
                "RAW_URI": target,
                "PATH_INFO": unquote_plus(path),
                "QUERY_STRING": query,
                "SERVER_PROTOCOL": "HTTP/1.1",
                "REMOTE_ADDR": "127.0.0.1",
                "HTTP_REFERER": "https://crisis.example.org" + target,
            }
            logger.access(_Response(), environ, environ, dt.timedelta(milliseconds=3))
        out = capsys.readouterr().out
    finally:
        for log in (logger.error_log, logger.access_log):
            for handler in list(log.handlers):
                log.removeHandler(handler)
    assert_redacted(out, targets)
    assert "crisis.example.org/api/v1/participants?phone=***201" in out  # the referer too


def test_a_custom_access_log_format_shows_no_query_path_or_credential(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An operator's own format (query string, path, Authorization header) is redacted too."""
    cfg = _ConfigOnly().cfg
    cfg.set("access_log_format", "%(U)s %(q)s %({authorization}i)s %({query_string}e)s")
    logger = cfg.logger_class(cfg)
    try:
        environ = {
            "REQUEST_METHOD": "GET",
            "RAW_URI": f"/voicemail/{VOICEMAIL_TOKEN}?phone=07700.900.201",
            "PATH_INFO": f"/voicemail/{VOICEMAIL_TOKEN}",
            "QUERY_STRING": "phone=07700.900.201",
            "SERVER_PROTOCOL": "HTTP/1.1",
        }
        headers = [("AUTHORIZATION", "Bearer crisisline_s3cr3t")]
        logger.access(_Response(), headers, environ, dt.timedelta(milliseconds=3))
        out = capsys.readouterr().out
    finally:
        for log in (logger.error_log, logger.access_log):
            for handler in list(log.handlers):
                log.removeHandler(handler)
    assert out.strip() == "/voicemail/[redacted] phone=***201 [redacted] phone=***201"


@contextlib.contextmanager
def gunicorn_serving_the_app(tmp_path: Path, port: int) -> Iterator[Path]:
    """The Procfile's web process (gunicorn with config/gunicorn.conf.py) on `port`, on a
    migrated SQLite database; yields the path of its log."""
    env = dict(os.environ)
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PORT=str(port),
        DATABASE_URL=f"sqlite:///{tmp_path}/web.db",
        INSTANCE_PATH=str(tmp_path / "instance"),
        WEB_CONCURRENCY="1",
    )
    migrate = subprocess.run(
        ["crisisline", "db", "upgrade"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert migrate.returncode == 0, migrate.stderr
    log_path = tmp_path / "web.log"
    with log_path.open("w") as log:
        web = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                str(CONFIG),
                "crisisline.app:create_app()",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
        )
        try:
            _wait_for(f"http://127.0.0.1:{port}/livez")
            yield log_path
        finally:
            web.terminate()
            web.wait(timeout=20)


def test_gunicorn_serving_the_app_writes_no_number_or_token_to_its_access_log(
    tmp_path: Path, unused_port: int
) -> None:
    targets = request_targets()
    with gunicorn_serving_the_app(tmp_path, unused_port) as log_path:
        for target in targets:
            status, _ = _get(f"http://127.0.0.1:{unused_port}{target}")
            assert status in (401, 404), (target, status)
    text = log_path.read_text()
    access = "\n".join(line for line in text.splitlines() if "/livez" not in line)
    assert_redacted(access, targets)


def test_gunicorn_lets_a_url_over_the_apps_limit_through_for_a_json_414(
    tmp_path: Path, unused_port: int
) -> None:
    """H154: gunicorn's own 414 is an HTML page; its limit is raised so the app answers JSON."""
    url = f"http://127.0.0.1:{unused_port}/api/v1/staff?role=" + "x" * 8100
    with gunicorn_serving_the_app(tmp_path, unused_port):
        status, body = _get(url)
    assert status == 414
    assert json.loads(body)["code"] == 414


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on (tests/support/ports.py)."""
    return free_port()


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback only)
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return int(error.code), error.read()


def _wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            _get(url)
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            # Not listening yet, or too busy starting to answer in time: ask again.
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
