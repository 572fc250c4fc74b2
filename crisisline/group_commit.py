"""Group commit: the new calls and texts that reach one web process at the same moment are
written by one statement and committed together (PostgreSQL).

Every call and text is committed before Twilio gets its answer. Committed one by one, each
pays for its own round trip, statement and commit: in a burst that is most of what the
database does. Here a webhook hands its row to the `Group` for its statement. If no write of
that statement is under way, its thread writes at once, alone; rows that arrive while a write
is under way wait for it and are then written together, by one statement taking them all as a
JSON array (`rows`, read in SQL with `json_to_recordset`; `recordset` builds that part). The
first of them writes the lot. So a quiet line writes every row at once, as before, and a busy
one writes fewer, larger statements instead of queueing for the database one by one.

What each webhook may rely on, each tested:

1. **Its own answer.** The statement returns the key (the Twilio SID) of each row it wrote with
   that row's result; each waiting webhook gets the result for its key, or None when its row
   was not written (a repeated SID, a routing version that has changed). Two rows with the
   same key are never in one statement: the second waits for the next.
2. **All or nothing, per statement.** A statement commits every row it wrote or none. If it
   fails with an error of the data (a constraint, a bad value), no row was written; a row
   written alone raises that error, and rows written together each raise `Refused` and are
   written again one by one by the general path, so one bad row cannot turn away the others.
   A lost connection is first tried again on fresh connections until the earliest deadline of
   its rows (`one_statement.run_all`). An operational error that remains (the database
   unreachable, a timeout) is raised to every row of that statement: each webhook then keeps
   its request in the spool (`crisisline.spool`) and answers with its fail-safe at once rather
   than trying the database again. A write interrupted by anything else makes the other rows
   of its statement `Refused`, never "not written" (which a text would take for a repeat).
3. **No wait beyond the write before it.** The thread that writes a statement returns as soon
   as its own row is written; any rows that arrived meanwhile are handed to the first of them
   to write.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
import sqlalchemy.exc
from sqlalchemy import JSON, Text, bindparam, cast, func
from sqlalchemy.sql import Executable, column
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.types import TypeEngine

from crisisline import one_statement
from crisisline.db import Database

log = logging.getLogger(__name__)

MAX_ROWS = 100
"""The most rows one statement writes (a web process has far fewer threads than this)."""

ROWS_PARAMETER = "rows"


def recordset(columns: Mapping[str, TypeEngine[Any]], name: str = "input") -> TableValuedAlias:
    """`json_to_recordset(:rows) AS name(column type, ...)`: the rows of a group as a table."""
    return (
        func.json_to_recordset(cast(bindparam(ROWS_PARAMETER, type_=Text), JSON))
        .table_valued(*(column(key, type_) for key, type_ in columns.items()))
        .render_derived(name=name, with_types=True)
    )


def encode(row: Mapping[str, Any]) -> str:
    """One row as a JSON object for `recordset` (NULLs left out: a missing key reads as NULL).

    Times are written with their offset (every time the service stores is aware) and enums as
    their values. A string PostgreSQL could not store (a NUL) is the caller's to remove first.
    """
    return json.dumps(
        {key: value for key, value in row.items() if value is not None}, default=_json
    )


def _json(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused: every time the service stores is aware")
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"cannot write a {type(value).__name__} in a group")


def _held() -> threading.Lock:
    lock = threading.Lock()
    lock.acquire()
    return lock


@dataclass(eq=False, slots=True)
class _Row:
    key: str
    encoded: str
    deadline: float | None  # until when its write may be tried again on a fresh connection
    # Held until the row's thread is to go on, then released once for each time it is woken
    # (to write the next statement, or because its statement has run), and taken again as it
    # goes on. A bare lock, not a threading.Event: one call each way, on every call and text.
    wake: threading.Lock = field(default_factory=_held)
    lead: bool = False  # this row's thread is to write the next statement
    finished: bool = False  # its statement has run: `result` or `error` is its answer
    result: tuple[Any, ...] | None = None
    error: BaseException | None = None


class Refused(Exception):
    """The statement writing this row with others failed and wrote none of them: write this
    row alone, another way."""


class Group:
    """The rows of one statement waiting in this process, written together."""

    def __init__(self, db: Database, statement: Executable) -> None:
        self._db = db
        self._statement = statement
        self._lock = threading.Lock()
        self._waiting: list[_Row] = []
        self._writing = False
        self.statements = 0
        """How many statements this group has run (for tests and benchmarks)."""

    def write(
        self, key: str, encoded: str, deadline: float | None = None
    ) -> tuple[Any, ...] | None:
        """Write the row `encoded` (from `encode`) whose key is `key`, with whatever rows are
        waiting; the statement's result row for it without the key, or None if it was not
        written. Raises what the statement raised if the row was written alone, an error
        reaching the database whenever one occurred, and `Refused` when a statement writing
        it with others failed otherwise (nothing was written). A lost connection is tried
        again on a fresh one until `deadline` (the earliest of the statement's rows)."""
        row = _Row(key, encoded, deadline)
        with self._lock:
            self._waiting.append(row)
            if not self._writing:
                self._writing = True
                row.lead = True
        while True:
            if row.lead:
                row.lead = False
                self._lead(row)
            row.wake.acquire()
            if row.finished:
                if row.error is not None:
                    raise row.error
                return row.result
            # Woken to write the next statement: go round again.

    def waiting(self) -> int:
        """How many rows are waiting to be written (for tests)."""
        with self._lock:
            return len(self._waiting)

    def _lead(self, own: _Row) -> None:
        """Write statements until `own` has been written, then hand on to a waiting row."""
        try:
            while not own.finished:
                with self._lock:
                    batch: list[_Row] = []
                    later: list[_Row] = []
                    keys: set[str] = set()
                    for row in self._waiting:
                        if row.key in keys or len(batch) >= MAX_ROWS:
                            later.append(row)
                        else:
                            keys.add(row.key)
                            batch.append(row)
                    self._waiting = later
                self._write(batch)
        finally:
            with self._lock:
                if self._waiting:
                    following = self._waiting[0]
                    following.lead = True
                    _wake(following)
                else:
                    self._writing = False

    def _write(self, batch: list[_Row]) -> None:
        rows = "[" + ",".join(row.encoded for row in batch) + "]"
        deadlines = [row.deadline for row in batch if row.deadline is not None]
        results: dict[str, tuple[Any, ...]] = {}
        error: BaseException | None = None
        ran = False
        try:
            self.statements += 1
            found_rows = one_statement.run_all(
                self._db,
                self._statement,
                {ROWS_PARAMETER: rows},
                min(deadlines) if deadlines else None,
            )
            for found in found_rows:
                results[str(found[0])] = tuple(found[1:])
            ran = True
        except (psycopg.OperationalError, sqlalchemy.exc.OperationalError) as failure:
            # (SQLAlchemy's when no connection could be opened at all.)
            # The database could not be reached: every webhook answers its fail-safe at once.
            error = failure
        except Exception as failure:
            if len(batch) == 1:
                error = failure
            else:
                error = Refused(type(failure).__name__)
                # Nothing was written, and which row was at fault is unknown: each is written
                # alone another way, so one bad row cannot turn the others away.
                # The error's text may quote a row (numbers, a body): only its kind is logged.
                log.warning(
                    "a group of %d rows was refused (%s); each goes on alone",
                    len(batch),
                    type(failure).__name__,
                )
        finally:
            # Whatever happened (even an exception nobody expected), no row is left waiting;
            # one whose key a statement that ran did not return was not written.
            if not ran and error is None:
                error = Refused("the write was interrupted")
            for row in batch:
                row.result = results.get(row.key)
                row.error = error
                row.finished = True
                _wake(row)


def _wake(row: _Row) -> None:
    """Let `row`'s thread go on (as Event.set: waking a row already woken changes nothing)."""
    with contextlib.suppress(RuntimeError):  # already woken, and not yet gone on
        row.wake.release()


_groups_lock = threading.Lock()


def group(db: Database, statement: Executable) -> Group:
    """The group writing `statement` (built once and kept) on `db` in this process."""
    found = db.groups.get(id(statement))
    if found is None:
        with _groups_lock:
            found = db.groups.get(id(statement))
            if found is None:
                # The statement is kept with its group, so its id stays its own.
                found = db.groups[id(statement)] = (statement, Group(db, statement))
    writer: Group = found[1]
    return writer


def groups(db: Database) -> list[Group]:
    """Every group writing on `db` in this process (for tests and benchmarks)."""
    with _groups_lock:
        return [found[1] for found in db.groups.values()]
