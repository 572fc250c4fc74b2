"""The README's quick start and simulator commands, run as written, in order, against `make run`.

The commands are read out of the README's code blocks, so the test fails as soon as the README
drifts from what works. Only the ports change: the service gets a free port through `PORT` (as
the README says) and every `127.0.0.1:5000` / `127.0.0.1:5055` in a command becomes the free
port, so a run never meets another service on the machine. The staff member who answers is
whoever the relay went to (the demo rota's on-call worker depends on the time of day, as the
README says). `make test` is the one command not run here: it is this suite.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from dotenv import dotenv_values

from crisisline import voicemail_links
from crisisline.settings import load_settings
from tests.support import ports

ROOT = Path(__file__).resolve().parents[2]
SERVICE_PORT_IN_README = "127.0.0.1:5000"
SIMULATOR_PORT_IN_README = "127.0.0.1:5055"
# Settings the service reads that the test's own environment must not leak into the commands.
_SETTINGS = (
    "DATABASE_URL",
    "TELEPHONY",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_API_BASE_URL",
    "PUBLIC_BASE_URL",
    "CRISIS_LINE_NUMBER",
    "SECRET_KEY",
    "INSTANCE_PATH",
    "FALLBACK_NUMBER",
    "TIMEZONE",
    "DEFAULT_REGION",
    "PORT",
)
LONG_RUNNING = ("make run", "simulate serve")
TIMEOUT = 60.0


def readme_blocks(heading: str) -> list[str]:
    """The ```sh blocks of the README section under `heading` (up to the next heading)."""
    blocks: list[str] = []
    inside_section = in_code = False
    current: list[str] = []
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("```"):
            if in_code and inside_section and current and current[0] == "sh":
                blocks.append("\n".join(current[1:]) + "\n")
            in_code, current = not in_code, [line[3:]]
        elif in_code:
            current.append(line)
        elif line.startswith("#"):
            inside_section = line.startswith(heading)
    return blocks


def commands(block: str) -> list[str]:
    """Shell commands of a block: continued lines joined, a here-document kept whole."""
    found: list[str] = []
    lines = block.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue  # a comment says what the command before it prints
        command = line
        while command.endswith("\\") and index < len(lines):
            command += "\n" + lines[index]
            index += 1
        heredoc = re.search(r"<<'?(\w+)'?", command)
        if heredoc:
            while index < len(lines):
                command += "\n" + lines[index]
                index += 1
                if lines[index - 1] == heredoc.group(1):
                    break
        found.append(command)
    return found


def free_port() -> int:
    return ports.free_port()


class Shell:
    """Runs README commands in a fresh checkout-like folder, keeping the shell's variables."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.env = {k: v for k, v in os.environ.items() if k not in _SETTINGS}
        self.service_port = free_port()
        self.simulator_port = free_port()
        self.env["PORT"] = str(self.service_port)
        self.last_stderr = ""
        self.background: list[tuple[subprocess.Popen[bytes], Path]] = []

    def localise(self, command: str) -> str:
        """The command with the README's ports replaced by this run's free ones."""
        return command.replace(SERVICE_PORT_IN_README, f"127.0.0.1:{self.service_port}").replace(
            SIMULATOR_PORT_IN_README, f"127.0.0.1:{self.simulator_port}"
        )

    def run(self, command: str) -> str:
        """Run one command to completion; returns its stdout (stderr: `last_stderr`)."""
        script = self.localise(command)
        assignment = re.fullmatch(r"(\w+)=\$\((.*)\)", script, re.DOTALL)
        if assignment:
            script = f"{script}\nprintf '%s' \"${assignment.group(1)}\""
        result = subprocess.run(
            ["bash", "-c", script],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert result.returncode == 0, f"{command!r} failed:\n{result.stdout}\n{result.stderr}"
        if assignment:
            self.env[assignment.group(1)] = result.stdout
        self.last_stderr = result.stderr
        return result.stdout

    def start(self, command: str) -> Path:
        """Start a long-running command in its own process group; returns its log file."""
        log = self.folder / f"background-{len(self.background)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                ["bash", "-c", self.localise(command)],
                cwd=self.folder,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.background.append((process, log))
        return log

    def stop_all(self) -> None:
        """End every background process group this shell started (TERM, then KILL)."""
        for process, _ in self.background:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process, _ in self.background:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.background.clear()

    def get(self, url: str) -> tuple[int, bytes]:
        try:
            response = requests.get(url, timeout=10)
        except requests.RequestException:
            return 0, b""
        return response.status_code, response.content

    def wait_healthy(self) -> None:
        """Wait until the service answers /healthz 200 (web and its scheduler both up)."""
        deadline = time.monotonic() + TIMEOUT
        url = f"http://127.0.0.1:{self.service_port}/healthz"
        while time.monotonic() < deadline:
            status, _ = self.get(url)
            if status == 200:
                return
            self.assert_background_alive()
            time.sleep(0.2)
        raise AssertionError(f"the service never turned healthy:\n{self.logs()}")

    def wait_in_log(self, log: Path, pattern: str) -> re.Match[str]:
        """Wait until `pattern` appears in a background process's log."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            found = re.search(pattern, log.read_text(errors="replace"))
            if found:
                return found
            self.assert_background_alive()
            time.sleep(0.2)
        raise AssertionError(f"{pattern!r} never appeared in {log.name}:\n{self.logs()}")

    def assert_background_alive(self) -> None:
        for process, log in self.background:
            assert process.poll() is None, f"{log.name} exited:\n{log.read_text()}"

    def logs(self) -> str:
        return "\n".join(
            f"--- {log.name}\n{log.read_text()[-12000:]}" for _, log in self.background
        )


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[Shell]:
    """A folder laid out like the repository (its .venv, Makefile and pyproject.toml)."""
    for name in (".venv", "Makefile", "pyproject.toml"):
        (tmp_path / name).symlink_to(ROOT / name)
    runner = Shell(tmp_path)
    try:
        yield runner
    finally:
        runner.stop_all()


def test_quick_start_then_simulator_commands_work_as_written(shell: Shell) -> None:
    # The quick start: `make run` serves with console telephony and demo data.
    first = commands(readme_blocks("# Resettle crisis line")[0])
    assert [c.split("#")[0].strip() for c in first] == ["make run", "make test"]
    service_log = shell.start(first[0])
    shell.wait_healthy()
    assert "demo" in service_log.read_text().lower()

    healthz, token, participants, test_message = commands(readme_blocks("## Running it")[0])
    assert json.loads(shell.run(healthz))["status"] == "ok"
    shell.run(token)
    assert shell.env["TOKEN"].strip()
    assert "R1001" in shell.run(participants)
    queued = json.loads(shell.run(test_message))
    assert queued["status"] == "queued"
    shell.stop_all()

    # The simulator: .env, `simulate serve`, `make run` through it.
    setup = commands(readme_blocks("### Trying it without a Twilio account")[0])
    write_env, serve, run = setup
    assert "simulate serve" in serve and run.split("#")[0].strip() == "make run"
    shell.run(write_env)
    simulator_log = shell.start(serve)
    shell.wait_in_log(simulator_log, "Simulated Twilio API at")
    shell.start(run)
    shell.wait_healthy()

    # A test message travels through the simulator (the README: "as above").
    sent = json.loads(shell.run(test_message))
    shell.wait_in_log(simulator_log, r"SMS \+447700900000 -> \+447700900101")
    deliveries = f"http://127.0.0.1:{shell.service_port}/api/v1/deliveries/{sent['id']}"
    _wait_delivered(shell, deliveries)

    participant_text, staff_reply, calls = readme_blocks("### Trying it without a Twilio account")[
        1:
    ]
    (text,) = commands(participant_text)
    out = shell.run(text)
    assert "playing it in this process" not in shell.last_stderr  # it went through serve
    assert 'SMS to +447700900000: "I can\'t cope tonight"' in out
    assert "SMS to this phone from +447700900000:" in out  # the acknowledgement (item 2)
    relay = re.search(r"SMS to (\+4477009001\d\d) from \+447700900000: \"R1001 [^(]*\((\d+)\)", out)
    assert relay, out
    on_call, code = relay.groups()

    (reply,) = commands(staff_reply)
    assert reply.startswith('.venv/bin/crisisline simulate sms --from 07700900101 "1 ')
    reply = reply.replace("07700900101", "0" + on_call[3:]).replace('"1 ', f'"{code} ')
    out = shell.run(reply)
    assert "SMS to +447700900201 from +447700900000: \"I'm here Daniel" in out
    assert re.search(r"SMS to this phone from \+447700900000: \".*taken", out), out

    connected, missed = commands(calls)
    out = shell.run(connected)
    assert "Press 1 to accept" in out and "pressed 1" in out, out
    assert f"connected to {on_call}" in out, out

    out = shell.run(missed)
    assert 'left a message (3s): "It\'s Lee, please call me back"' in out, out
    # The escalation call asks for 4 and the simulated worker presses 4.
    shell.wait_in_log(simulator_log, r"Press 4 to take this[^\n]*\n[^\n]*pressed 4")


def _wait_delivered(shell: Shell, url: str) -> None:
    token = shell.env["TOKEN"]
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        answer = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        if answer.json()["status"] == "delivered":
            return
        time.sleep(0.2)
    raise AssertionError(f"{url} never reached delivered:\n{shell.logs()}")


def test_a_voicemail_link_from_a_simulated_missed_call_plays(shell: Shell) -> None:
    """The link in the missed-call text plays: the serving simulator holds the recording."""
    shell.run(
        "cat > .env <<'EOF'\n"
        "TELEPHONY=twilio\n"
        f"TWILIO_API_BASE_URL=http://127.0.0.1:{shell.simulator_port}\n"
        "TWILIO_ACCOUNT_SID=AC00000000000000000000000000000000\n"
        "TWILIO_AUTH_TOKEN=dev-token\n"
        f"PUBLIC_BASE_URL=http://127.0.0.1:{shell.service_port}\n"
        "CRISIS_LINE_NUMBER=07700900000\n"
        "SECRET_KEY=dev\n"
        "EOF"
    )
    # Nobody takes the call or the escalation calls after it, so the missed-call text goes out.
    simulator_log = shell.start(".venv/bin/crisisline simulate serve --answer no-answer")
    shell.wait_in_log(simulator_log, "Simulated Twilio API at")
    shell.run(".venv/bin/crisisline db upgrade && .venv/bin/crisisline demo")
    shell.start(".venv/bin/crisisline run --host 127.0.0.1")
    shell.wait_healthy()

    out = shell.run(
        '.venv/bin/crisisline simulate call --from "07700 900203" --message "Please ring me back"'
    )
    assert "playing it in this process" not in shell.last_stderr
    assert re.search(r'left a message \(\d+s\): "Please ring me back"', out), out

    # The link the service texts for this voicemail (made as the service makes it: a missed-call
    # text merged into a bundle with other alerts carries no link, see the report).
    contact_id = _recorded_contact(shell.folder / "instance" / "crisisline.db")
    settings = load_settings(
        {k: v for k, v in dotenv_values(shell.folder / ".env").items() if v is not None},
        instance_path=str(shell.folder / "instance"),
    )
    link = voicemail_links.url(settings, contact_id, dt.datetime.now(dt.UTC))
    status, audio = shell.get(link)
    assert status == 200, audio[:300]  # the serving simulator held the recording
    assert b"Please ring me back" in audio


def _recorded_contact(database: Path) -> int:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        with sqlite3.connect(database) as connection:
            row = connection.execute(
                "SELECT id FROM contacts WHERE recording_url IS NOT NULL ORDER BY id DESC"
            ).fetchone()
        if row is not None:
            return int(row[0])
        time.sleep(0.2)
    raise AssertionError("no contact holds the recording")
