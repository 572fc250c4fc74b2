"""The Procfile's lines start the service exactly as written, as a platform would run them."""

from __future__ import annotations

import gc
import os
import runpy
import shlex
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


def _procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def _free_port() -> int:
    return free_port()


def _env(tmp_path: Path, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PORT=str(port),
        DATABASE_URL=f"sqlite:///{tmp_path}/procfile.db",
        INSTANCE_PATH=str(tmp_path / "instance"),
        WEB_CONCURRENCY="1",
    )
    return env


def test_release_web_and_scheduler_serve_a_healthy_service_with_redacted_logs(
    tmp_path: Path,
) -> None:
    processes = _procfile()
    assert set(processes) == {"web", "release", "scheduler"}
    port = _free_port()
    env = _env(tmp_path, port)

    release = subprocess.run(
        ["bash", "-c", processes["release"]], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert release.returncode == 0, release.stderr
    assert "up to date" in release.stdout

    log_path = tmp_path / "web.log"
    with log_path.open("w") as log:
        web = subprocess.Popen(
            ["bash", "-c", "exec " + processes["web"]], cwd=ROOT, env=env, stdout=log, stderr=log
        )
        scheduler = None
        try:
            status, body = _wait_for(f"http://127.0.0.1:{port}/healthz")
            assert status == 503  # web alone: nothing would be sent, so not healthy
            assert b'"never seen"' in body
            scheduler = subprocess.Popen(
                ["bash", "-c", "exec " + processes["scheduler"]],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            status, body = _wait_until_healthy(f"http://127.0.0.1:{port}/healthz")
            assert status == 200, body
            status, _ = _get(f"http://127.0.0.1:{port}/api/v1/participants?phone=%2B447700900123")
            assert status == 401
        finally:
            for process in (scheduler, web):
                if process is not None:
                    process.terminate()
                    process.wait(timeout=20)
    output = log_path.read_text()
    assert f"0.0.0.0:{port}" in output, output
    assert "phone=***123" in output
    assert "900123" not in output.replace("***123", "")


def test_web_line_names_a_gunicorn_config_that_exists() -> None:
    args = shlex.split(_procfile()["web"])
    assert args[0] == "gunicorn"
    config = args[args.index("--config") + 1]
    assert (ROOT / config).is_file()


def test_each_web_worker_freezes_what_it_loaded_out_of_the_garbage_collectors_reach() -> None:
    """A full collection that scanned the whole app stalled a worker's threads for 0.1 s."""
    config = runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))
    before = gc.get_freeze_count()
    try:
        config["post_worker_init"](None)
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback only)
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _wait_until_healthy(url: str, seconds: float = 30) -> tuple[int, bytes]:
    deadline = time.monotonic() + seconds
    while True:
        status, body = _get(url)
        if status == 200 or time.monotonic() > deadline:
            return status, body
        time.sleep(0.2)


def _wait_for(url: str, seconds: float = 30) -> tuple[int, bytes]:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return _get(url)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            # Not listening yet, or too busy starting to answer in time: ask again.
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
