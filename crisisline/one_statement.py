"""One statement, committed on its own, on the driver's connection: a write on the path of
every call and text (PostgreSQL with psycopg only).

A webhook that records a contact before it answers pays, through the ORM, for a connection
check, BEGIN, the statement and COMMIT: four round trips, and SQLAlchemy's work around each.
Here the statement is compiled once by SQLAlchemy (with SQLAlchemy's own conversion of each
value) and run on a connection of `Database.autocommit_engine`: one round trip. Used by
`crisisline.call_intake` (a new call) and `crisisline.sms_intake` (a new text).

The pool does not check connections on checkout. A connection the server has dropped is
discarded, and with it every connection of both pools opened before (the same restart or
failover closed them too: `Database.connection_lost`); the statement is then run again on a
truly fresh connection, and again while connections are refused, until the write's deadline
(DATABASE_RETRY_SECONDS, inside Twilio's 15 s). That is safe only for a statement
that a second run cannot apply twice, as INSERT ... ON CONFLICT DO NOTHING on a Twilio SID:
one that did commit before its connection died writes nothing the second time. Any other
error is raised.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, cast

import psycopg
from sqlalchemy import Dialect
from sqlalchemy.sql import Executable

from crisisline.db import Database

Processor = Callable[[Any], Any]
Compiled = tuple[str, dict[str, Processor], dict[str, Any]]

_lock = threading.Lock()
_compiled: dict[tuple[int, int], tuple[Dialect, Executable, Compiled]] = {}


def supported(db: Database) -> bool:
    """True where statements run here: PostgreSQL through psycopg."""
    return (db.engine.dialect.name, db.engine.dialect.driver) == ("postgresql", "psycopg")


def run_all(
    db: Database,
    statement: Executable,
    params: dict[str, Any],
    deadline: float | None = None,
) -> list[tuple[Any, ...]]:
    """Run `statement` (built once and kept, not per call) with `params`, committed on its own;
    every row it returns. The statement must be safe to run twice. A connection found lost is
    tried again on a fresh one until `deadline` (time.monotonic; default `db.deadline()`)."""
    sql, processors, constants = _compile(db.autocommit_engine.dialect, statement)
    values = dict(constants)
    for name, value in params.items():
        process = processors.get(name)
        values[name] = process(value) if process is not None else value

    def attempt() -> list[tuple[Any, ...]]:
        pooled = db.autocommit_engine.raw_connection()
        try:
            driver = cast(psycopg.Connection[Any], pooled.driver_connection)
            try:
                return [tuple(row) for row in driver.execute(sql, values).fetchall()]
            except psycopg.OperationalError:
                if driver.broken:
                    # Never used again. The same cause (a restart, a failover) has most likely
                    # closed every other pooled connection: the caller replaces the pools.
                    pooled.invalidate()
                raise
        finally:
            pooled.close()  # back to the pool (an invalidated one is discarded)

    return db.keep_trying(attempt, deadline)


def _compile(dialect: Dialect, statement: Executable) -> Compiled:
    """The statement's SQL for this dialect, each parameter's conversion, and its constants."""
    key = (id(dialect), id(statement))
    found = _compiled.get(key)
    if found is not None:
        return found[2]
    compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    processors: dict[str, Processor] = {}
    constants: dict[str, Any] = {}
    for name, bind in compiled.binds.items():
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors[name] = process
        if bind.value is not None:
            constants[name] = process(bind.value) if process is not None else bind.value
    result: Compiled = (str(compiled), processors, constants)
    with _lock:
        # The dialect and statement are kept with the answer, so their ids stay theirs.
        _compiled[key] = (dialect, statement, result)
    return result
