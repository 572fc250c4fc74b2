"""The webhook spool: a call or text the database could not take is kept on disk until it is.

When a webhook cannot record a crisis contact (the database is down, or still unreachable
after its retries on fresh connections), it answers with its fail-safe (the crisis numbers)
and keeps the request here first: its path and query, every form parameter exactly as Twilio
sent it, its X-Twilio-Signature and when it was received. The scheduler's `drain-spool` job
(and `crisisline spool drain`) records each one later, exactly as the webhook would have, with
the time it was received, so staff are told and the contact is on the participant's record.
The web process that spooled a request drains its own spool too (`SpoolDrainer.keep_draining`),
in case its disk is not the scheduler's.

- **Durable**: one file per request, written to a hidden temporary name, flushed to disk
  (fsync), then renamed into place and the directory flushed: a file either holds the whole
  request or is not there. Nothing is ever changed in place.
- **Never lost by a failure to record**: an entry is removed only once it is recorded. One
  whose recording fails stays, is tried again on the next pass, and is logged by its kind only
  (never a number or a body).
- **Safe to record twice**: recording is once per MessageSid or CallSid, so an entry whose
  first write did commit (the connection died after COMMIT), or a drain running in two
  processes at once, doubles nothing.

The directory (SPOOL_DIR) must survive a restart of the process and be shared by the web
processes and the scheduler: see docs/deployment.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from crisisline.db import Database

log = logging.getLogger(__name__)

SUFFIX = ".json"
LOCK = ".drain.lock"
_TEMPORARY = ".incoming-"
SPOOL_SECONDS = 5.0  # how often calls and texts kept in the spool are tried again


@dataclass(frozen=True)
class Entry:
    """One webhook request kept to be recorded later."""

    path: str  # e.g. /webhooks/sms
    query: str  # the raw query string the request was signed with ("" for none)
    params: tuple[tuple[str, str], ...]  # every form parameter, in order, as received
    signature: str | None  # X-Twilio-Signature
    received_at: dt.datetime
    name: str = ""  # its file in the spool, once kept

    def form(self) -> dict[str, str]:
        """The form parameters by name (the first of any repeated name, as Flask reads them)."""
        fields: dict[str, str] = {}
        for key, value in self.params:
            fields.setdefault(key, value)
        return fields


class Spool:
    """The spool directory: entries written whole or not at all, removed once recorded."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def keep(self, entry: Entry) -> str:
        """Write `entry` durably; the name of its file. Raises OSError if it cannot be."""
        self.directory.mkdir(parents=True, exist_ok=True)
        # Named by when it arrived, so the spool is recorded in the order people contacted us.
        stamp = entry.received_at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        name = f"{stamp}-{uuid.uuid4().hex}{SUFFIX}"
        body = json.dumps(
            {
                "path": entry.path,
                "query": entry.query,
                "params": [list(pair) for pair in entry.params],
                "signature": entry.signature,
                "received_at": entry.received_at.astimezone(dt.UTC).isoformat(),
            }
        ).encode()
        temporary = self.directory / f"{_TEMPORARY}{name}"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(descriptor, body)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, self.directory / name)
        self._flush_directory()
        return name

    def names(self) -> list[str]:
        """The files of the entries waiting, oldest first."""
        try:
            found = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        return sorted(n for n in found if n.endswith(SUFFIX) and not n.startswith("."))

    def waiting(self) -> int:
        """How many entries wait to be recorded."""
        return len(self.names())

    def read(self, name: str) -> Entry:
        """The entry kept in file `name`."""
        raw = json.loads((self.directory / name).read_bytes())
        return Entry(
            path=str(raw["path"]),
            query=str(raw["query"]),
            params=tuple((str(key), str(value)) for key, value in raw["params"]),
            signature=raw["signature"],
            received_at=dt.datetime.fromisoformat(raw["received_at"]),
            name=name,
        )

    def remove(self, name: str) -> None:
        """Remove a recorded entry (one already removed by another drain is no error)."""
        try:
            os.unlink(self.directory / name)
        except FileNotFoundError:
            return
        self._flush_directory()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[bool]:
        """Hold the spool's lock (an flock, so across processes on this disk) while the block
        runs: True if taken, False if another holder has it (the block should skip its pass)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.directory / LOCK, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(descriptor, fcntl.LOCK_UN)
        finally:
            os.close(descriptor)

    def _flush_directory(self) -> None:
        descriptor = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


@dataclass(frozen=True)
class DrainReport:
    """What one pass over the spool did."""

    recorded: int
    failed: int
    waiting: int


def drain(
    spool: Spool, record: Callable[[Entry], None], names: Iterable[str] | None = None
) -> DrainReport:
    """Record every entry waiting (`record` writes one, exactly as its webhook would have, and
    raises if it cannot), oldest first; each recorded one is removed, each failure stays."""
    with spool.exclusive() as alone:
        if not alone:
            return DrainReport(0, 0, spool.waiting())  # another process is draining it now
        return _drain(spool, record, spool.names() if names is None else list(names))


def _drain(spool: Spool, record: Callable[[Entry], None], names: list[str]) -> DrainReport:
    recorded = failed = 0
    for name in names:
        try:
            entry = spool.read(name)
        except FileNotFoundError:
            continue  # recorded meanwhile by another drain
        except (OSError, ValueError, KeyError, TypeError) as error:
            failed += 1
            log.error("spooled request %s cannot be read (%s); kept", name, type(error).__name__)
            continue
        try:
            record(entry)
        except Exception as error:
            failed += 1
            # Only the kind of request and of error: either's text can carry a number or a body.
            log.error(
                "spooled %s could not be recorded yet (%s); kept to try again",
                entry.path,
                type(error).__name__,
            )
            continue
        spool.remove(name)
        recorded += 1
        log.warning("spooled %s recorded", entry.path)
    return DrainReport(recorded, failed, spool.waiting())


class SpoolDrainer:
    """Drains one spool from this process: one pass at a time (`drain`), and on demand in a
    background thread until it is empty (`keep_draining`). Built once per app by the
    composition root, with `record` (webhooks.spool_recorder.record) recording one entry."""

    def __init__(self, spool: Spool, db: Database, record: Callable[[Entry], None]) -> None:
        self.spool = spool
        self.db = db
        self.record = record
        self._draining = threading.Lock()
        self._starting_drainer = threading.Lock()
        self._drainer: threading.Thread | None = None

    def drain(self) -> DrainReport:
        """The scheduler's `drain-spool` job (and `crisisline spool drain`): record every call
        and text kept in the spool while the database could not take them, oldest first; each
        is removed once recorded, and one that fails stays to be tried again."""
        with self._draining:  # one pass at a time in this process (see `drain` for others)
            return drain(self.spool, self.record)

    def keep_draining(self) -> None:
        """Drain the spool from this (web) process too, every SPOOL_SECONDS until it is empty,
        in a background thread (one at most). Where the web process's disk is not the
        scheduler's (a platform with a disk per process), this is what records its spool."""
        with self._starting_drainer:
            if self._drainer is not None and self._drainer.is_alive():
                return
            self._drainer = threading.Thread(
                target=self._drain_until_empty, name="spool-drainer", daemon=True
            )
            self._drainer.start()

    def _drain_until_empty(self) -> None:
        # The first pass waits: the database has only just been found unreachable.
        while not self.db.closed.wait(SPOOL_SECONDS):
            with self.db.background:
                if self.db.closed.is_set():
                    return
                try:
                    if self.drain().waiting == 0:
                        return
                except Exception as error:
                    log.error("draining the spool failed (%s); trying again", type(error).__name__)
