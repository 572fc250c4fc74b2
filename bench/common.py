"""What every benchmark shares: a line describing the machine and writing results into a doc."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine() -> str:
    """CPU model, CPU count, OS and Python: where the figures were measured."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def postgres_driver(url: str) -> str:
    """A PostgreSQL URL with the psycopg 3 driver named, as SQLAlchemy needs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def write_block(path: Path, start_mark: str, end_mark: str, block: str) -> None:
    """Replace what lies between the two marks in `path` (appending both if they are missing)."""
    content = path.read_text()
    if start_mark in content and end_mark in content:
        start, end = content.index(start_mark), content.index(end_mark)
        path.write_text(content[: start + len(start_mark)] + "\n" + block + "\n" + content[end:])
    else:
        path.write_text(content.rstrip("\n") + f"\n\n{start_mark}\n{block}\n{end_mark}\n")
