"""What every benchmark shares: a line describing the machine and writing results into a doc."""

from __future__ import annotations

import logging
import os
import platform
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from crisisline.migrate import upgrade


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


@contextmanager
def migrated_database(url: str | None, prefix: str) -> Iterator[tuple[str, str]]:
    """A migrated, empty database, removed afterwards: (engine name, URL).

    None gives a temporary SQLite file; a PostgreSQL URL gives a throwaway schema on it
    (`<prefix>_<random>`, dropped at the end), so nothing else in that database is touched.
    """
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if url is None or url.startswith("sqlite"):
        with tempfile.TemporaryDirectory() as directory:
            path = url or f"sqlite:///{directory}/bench.db"
            upgrade(path)
            yield "SQLite", path
        return
    base = postgres_driver(url)
    schema = f"{prefix}_{secrets.token_hex(4)}"
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    scoped = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    scoped_url = scoped.render_as_string(hide_password=False)
    try:
        upgrade(scoped_url)
        yield "PostgreSQL", scoped_url
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def database_urls(given: list[str] | None) -> list[str | None]:
    """The databases a benchmark runs on: those given ("sqlite" for a temporary file), else
    SQLite plus BENCH_DATABASE_URL or TEST_DATABASE_URL when one is set."""
    urls: list[str | None] = [None if u == "sqlite" else u for u in given or []]
    if not urls:
        urls = [None]
        server = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
        if server:
            urls.append(server)
    return urls
