"""Database: engine, sessions and the column types every table shares."""

from __future__ import annotations

import datetime as dt
import enum
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from sqlalchemy import DateTime, Engine, Enum, MetaData, create_engine, event, inspect
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, make_transient_to_detached, sessionmaker
from sqlalchemy.types import TypeDecorator

from crisisline.wakeups import Wakes

# A health check or webhook must not hang for minutes on an unreachable server.
CONNECT_TIMEOUT_SECONDS = 5
# How long a write keeps trying after its connection was lost, unless told otherwise: see
# Database.deadline (DATABASE_RETRY_SECONDS).
RETRY_SECONDS = 4.0
# The pause before each further try once the first fresh connection has failed too (a server
# restarting refuses connections for a few seconds).
RETRY_PAUSES = (0.0, 0.1, 0.25, 0.5, 1.0)

log = logging.getLogger(__name__)
T = TypeVar("T")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every engine (SQLite forgets the zone; this restores it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused: every time the service stores is aware")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def text_enum(cls: type[enum.Enum], name: str, length: int = 40) -> Enum:
    """An enum column stored as text with a CHECK constraint, the same on SQLite and PostgreSQL.

    Adding a value is then a migration, never a silent write of something the code cannot read.
    """
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=length,
        values_callable=lambda e: [m.value for m in e],
    )


class Base(DeclarativeBase):
    """Declarative base for every table."""

    # Named constraints let Alembic alter them later, on SQLite too.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {dt.datetime: UTCDateTime}


class Database:
    """The engine and session factory for one database URL."""

    def __init__(self, url: str, retry_seconds: float = RETRY_SECONDS) -> None:
        self.url = url
        self.retry_seconds = retry_seconds
        # Which set of pools is current: a connection found dead renews them once per set
        # (connection_lost), however many threads find their connections dead together.
        self.generation = 0
        self._renewing = threading.Lock()
        # Set by `dispose`; background work on this database (a web process draining its
        # spool) stops, and `dispose` waits for a pass holding `background` to end.
        self.closed = threading.Event()
        self.background = threading.Lock()
        self.engine: Engine = make_engine(url)
        self._renew_old_connections(self.engine)
        self.sessions: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)
        # SQLAlchemy's identity map holds objects weakly: a record a function loaded and let go
        # of is read again by the next function that asks for it (a webhook read the same
        # escalation three times). A session here lives for one transaction, so it keeps
        # every object it loads or adds until it closes: each row is read once per transaction.
        event.listen(self.sessions, "loaded_as_persistent", _keep)
        event.listen(self.sessions, "pending_to_persistent", _keep)
        event.listen(self.sessions, "detached_to_persistent", _keep)
        # The statements that write rows arriving together (crisisline.group_commit), each
        # with its group, by the statement's id: they live as long as the database does.
        self.groups: dict[int, Any] = {}
        # Wake-ups: a transaction that creates work for the scheduler tells it on commit
        # (crisisline.wakeups: NOTIFY on PostgreSQL, in memory on SQLite).
        self.wakes = Wakes(postgres=self.engine.dialect.name == "postgresql")
        self.wakes.install(self.sessions)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session that commits when the block ends and rolls back if it raises."""
        with self.sessions() as session, session.begin():
            yield session

    @functools.cached_property
    def autocommit_engine(self) -> Engine:
        """PostgreSQL only: a second, small pool whose connections commit each statement on
        its own and are not pinged on checkout, for a write that is one statement on the path
        of every call (crisisline.call_intake). Its user tries again on a fresh connection when
        it finds one dead (crisisline.one_statement); the ping the main pool does would double
        the cost of that one statement."""
        engine = create_engine(
            self.url,
            hide_parameters=True,  # as make_engine: a failed statement's values stay out of logs
            isolation_level="AUTOCOMMIT",
            # Nothing to roll back on a connection that commits every statement.
            pool_reset_on_return=None,
            pool_size=4,
            max_overflow=4,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
        )
        self._renew_old_connections(engine)
        return engine

    def deadline(self) -> float:
        """The time (time.monotonic) until which a write that lost its connection is tried
        again: now plus DATABASE_RETRY_SECONDS."""
        return time.monotonic() + self.retry_seconds

    def connection_lost(self, generation: int) -> None:
        """A connection taken while `generation` was current was found dead: the server dropped
        it (a restart, a failover, pg_terminate_backend), and with it, most likely, every other
        connection opened before. Both pools are replaced (Engine.dispose(close=False): the
        dead connections are closed as they are next checked out, never used nor pinged:
        `_renew_old_connections`) so the next try gets a connection opened now, not the next
        dead one. Once per generation."""
        with self._renewing:
            if generation != self.generation:
                return  # another thread has already replaced the pools since
            self.generation += 1
        log.warning("a database connection was lost; every pooled connection is replaced")

    def _renew_old_connections(self, engine: Engine) -> None:
        """Have `engine`'s pool close and replace, as it is checked out, any connection opened
        before the last `connection_lost`: the public events way of SQLAlchemy's own pool-wide
        invalidation (a DisconnectionError raised on checkout makes the pool close that
        connection properly and open a fresh one in its place). No round trip is added."""

        def opened(_driver: Any, record: Any) -> None:
            record.info["crisisline.generation"] = self.generation

        def checked_out(_driver: Any, record: Any, _proxy: Any) -> None:
            if record.info.get("crisisline.generation", self.generation) < self.generation:
                raise DisconnectionError("opened before a connection was found lost")

        event.listen(engine, "connect", opened)
        event.listen(engine, "checkout", checked_out)

    def keep_trying(self, work: Callable[[], T], deadline: float | None = None) -> T:
        """`work()`, tried again on fresh connections while it fails because its connection
        was lost (`lost`), until `deadline` (default: `deadline()`); then its error is raised.
        `work` must be safe to run twice: one whose commit reached the server before the
        connection died runs again (every webhook write is once per Twilio SID)."""
        if deadline is None:
            deadline = self.deadline()
        for tries in range(1_000_000):
            generation = self.generation
            try:
                return work()
            except Exception as error:
                if not lost(error):
                    raise
                self.connection_lost(generation)
                pause = RETRY_PAUSES[min(tries, len(RETRY_PAUSES) - 1)]
                if time.monotonic() + pause >= deadline:
                    raise
                log.warning("trying again on a fresh connection (%s)", type(error).__name__)
                time.sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover

    def in_transaction(self, work: Callable[[Session], T], deadline: float | None = None) -> T:
        """`work(session)` in a transaction (`transaction`), the whole transaction tried again
        on a fresh connection if its connection is lost (`keep_trying`)."""

        def attempt() -> T:
            with self.transaction() as session:
                return work(session)

        return self.keep_trying(attempt, deadline)

    def dispose(self) -> None:
        """Stop background work on this database and close every pooled connection."""
        self.closed.set()
        with self.background:
            pass  # a pass under way ends first
        self.wakes.close()
        self.engine.dispose()
        if "autocommit_engine" in self.__dict__:
            self.autocommit_engine.dispose()


def lost(error: BaseException) -> bool:
    """True if `error` means the connection to the database was lost or could not be opened
    (worth trying again on a fresh one), not that the statement or its data was wrong (a
    constraint, a lock timeout, a deadlock: psycopg's subclasses of OperationalError)."""
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        error = error.orig if error.orig is not None else error
    if not isinstance(error, psycopg.OperationalError):
        return False
    return type(error) is psycopg.OperationalError or isinstance(
        error,
        (
            psycopg.errors.AdminShutdown,
            psycopg.errors.CrashShutdown,
            psycopg.errors.CannotConnectNow,
            psycopg.errors.ConnectionFailure,
        ),
    )


def save(session: Session, obj: Any) -> None:
    """Write `obj` now: a new object with one INSERT ... RETURNING, a loaded one by a flush.

    For one new row on a hot path (every crisis call writes its live call) the ORM's unit of
    work costs more than the statement. Every column is written from the object (an attribute
    never set takes its column default, or NULL), so the object then holds exactly the row, as
    after a flush, and stays readable once the session has closed.
    """
    state = inspect(obj)
    if not state.transient:
        session.add(obj)
        session.flush()
        return
    values = row_values(obj)
    session.flush()  # anything pending first, as the ORM would before any statement
    mapper = state.mapper
    new_id = session.connection().execute(_insert_returning_key(mapper.local_table), values)
    attach_inserted(session, obj, new_id.scalar_one())


def row_values(obj: Any) -> dict[str, Any]:
    """Every column of a new object's row, by column key, the unset ones filled in on the object.

    An attribute never set takes its column's Python default (a value, or a callable such as
    `list`) or None. A column with a server-side default cannot be known before the INSERT:
    such a model must be written by a flush, and this raises.
    """
    state = inspect(obj)
    values: dict[str, Any] = {}
    for key_column in state.mapper.primary_key:
        if key_column.key in state.dict:  # a key given rather than generated
            values[key_column.key] = state.dict[key_column.key]
    for key, default in _column_defaults(state.mapper.class_):
        if key not in state.dict:
            setattr(obj, key, default())
        values[key] = state.dict[key]
    return values


def new_row(model: type, **fields: Any) -> dict[str, Any]:
    """The row `model(**fields)` would write, by column key, without building the object:
    every column but the primary key, those not given taking their default as in `row_values`.
    For a row written by a hand-built statement on a hot path (crisisline.call_intake)."""
    row: dict[str, Any] = {}
    for key, default in _column_defaults(model):
        row[key] = fields.pop(key) if key in fields else default()
    if fields:
        raise TypeError(f"{model.__name__} has no column {', '.join(sorted(fields))}")
    return row


@functools.cache
def _column_defaults(model: Any) -> tuple[tuple[str, Callable[[], Any]], ...]:
    found: list[tuple[str, Callable[[], Any]]] = []
    prop: Any
    for prop in inspect(model).column_attrs:
        (column,) = prop.columns
        if column.primary_key:
            continue
        if prop.key != column.key:  # pragma: no cover - no model maps a column under another name
            raise ValueError(f"{model.__name__}.{prop.key} maps column {column.key}")
        if column.server_default is not None:
            raise ValueError(f"{column} has a server default; write it with a flush")
        default = column.default
        if default is None:
            found.append((column.key, lambda: None))
        elif default.is_scalar:
            found.append((column.key, functools.partial(lambda value: value, default.arg)))
        else:
            found.append((column.key, functools.partial(default.arg, None)))
    return tuple(found)


def attach_inserted(session: Session, obj: Any, new_id: int) -> None:
    """Make a new object whose row was just inserted (with `row_values`) the session's record
    of that row, without reading it back."""
    (key,) = inspect(obj).mapper.primary_key
    setattr(obj, key.key, new_id)
    make_transient_to_detached(obj)
    session.add(obj)


@functools.cache
def _insert_returning_key(table: Any) -> Any:
    (key,) = table.primary_key.columns
    return table.insert().returning(key)


def _keep(session: Session, instance: object) -> None:
    session.info.setdefault("crisisline.kept", []).append(instance)


def make_engine(url: str) -> Engine:
    """An engine tuned for the crisis line's two processes sharing one database.

    `hide_parameters`: an error's text never carries the statement's values (a message body, a
    caller's number), so a traceback logged on a webhook's fail-safe path carries none either.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 15}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    connect_args: dict[str, Any] = {}
    if url.startswith("postgresql"):
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, hide_parameters=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL and a busy timeout let the web and scheduler processes share the file without
    # "database is locked" errors; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    # pysqlite starts transactions lazily and its own way, which breaks SAVEPOINT and lets a
    # rolled-back import half-commit. Take over: no implicit transactions, we emit BEGIN.
    dbapi_connection.isolation_level = None


def _sqlite_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock at the start, so two processes updating the same rows
    # wait on the busy timeout instead of failing mid-transaction with "database is locked".
    connection.exec_driver_sql("BEGIN IMMEDIATE")
