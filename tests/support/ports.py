"""Loopback ports for the servers tests start (gunicorn, the simulator, an SMTP server).

Asking the kernel for port 0 gives one from the ephemeral range (32768-60999 on Linux), the same
range it gives every outgoing connection: between the test choosing a port and its server
binding it, another worker's database connection could take it ("address already in use"). So
ports come from below that range, from a band of its own for each xdist worker, and are checked
free by binding before they are handed out.
"""

from __future__ import annotations

import itertools
import os
import random
import socket
import threading

_BAND = 1500  # ports per worker
_FIRST = 20000  # 20000-31999: below the ephemeral range, room for 8 workers
_lock = threading.Lock()
_offsets = itertools.count(random.randrange(_BAND))


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    digits = worker.removeprefix("gw")
    return int(digits) % 8 if digits.isdigit() else 0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on at `host` just now, from this worker's own band."""
    start = _FIRST + _worker_index() * _BAND
    for _ in range(_BAND):
        with _lock:
            port = start + next(_offsets) % _BAND
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port from {start} to {start + _BAND - 1}")
