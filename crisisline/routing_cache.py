"""Routing answers kept in memory, exact to the database's last routing change.

Every call and text asks the same questions: which escalation policy applies, who is on call on
each of its rotas, and whether the number calling is a member of staff. The answers change only
when someone edits a policy, a rota, an override or a staff record, or when a shift hands over.
Asking the database afresh each time costs most of a webhook's work (eight statements of the
fifteen a call took), so each process keeps the answers here.

**Why a cached answer is not stale.** The one row of `routing_state` holds a random version.
Every flush that adds, changes or deletes a routing record (policies, rotas, overrides, staff),
and every bulk INSERT, UPDATE or DELETE of one, writes a new random version in the same
transaction (session events, so no code path can forget). A reader reads the version first
(once per transaction, and again after a savepoint ends) and uses a cached answer only if it
was computed under that same version; an on-call answer also only while the instant asked about
lies inside the shift it came from. Because the version is read before the data it guards, an
answer may be newer than its version but not older. The one exception, a routing record this
transaction had already loaded before it read the version while another transaction changed it,
is bounded: no answer is used for more than `MAX_AGE_SECONDS` of real time. Versions are
random, not counters, and the key includes the database URL, so a test database emptied and
refilled, or a second database in the same process, never meets an answer computed for another.

When `routing_state` has no row (a database migrated but never given a rota or a policy, or one
whose tables were emptied) nothing is cached: every question goes to the database.

A write made by hand in SQL, outside the service, does not change the version: after one,
run `crisisline routing-changed` (or restart the processes). A migration that changes routing
data must write a new version itself.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import URL, BigInteger, Engine, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, mapped_column

from crisisline.db import Base

T = TypeVar("T")

# An answer is trusted for at most this long (real time) even while its version holds: a last
# line of defence should routing ever change without a new version (a hand-written SQL fix, or
# a record this transaction had loaded before it read the version while another committed).
MAX_AGE_SECONDS = 60.0
MAX_ENTRIES = 5_000


class RoutingState(Base):
    """One row: the version of the routing data (policies, rotas, overrides, staff)."""

    __tablename__ = "routing_state"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)


Version = tuple[str, int]
"""(database URL, version): what a cached answer is filed under."""

_MEMO = "crisisline.routing_version"
_ALWAYS = (dt.datetime.min.replace(tzinfo=dt.UTC), dt.datetime.max.replace(tzinfo=dt.UTC))
_lock = threading.Lock()
_answers: dict[tuple[Any, ...], tuple[Version, float, dt.datetime, dt.datetime, Any]] = {}
# The version a transaction in this process last read, per database URL (see `last_seen`).
_last: dict[str, int] = {}


class Missing(LookupError):
    """`peek` found no answer for this key under this version (or none for that instant)."""


def _routing_models() -> tuple[type, ...]:
    # Late import: the models import the database layer this module is part of.
    from crisisline.escalation_models import EscalationPolicyRecord
    from crisisline.models import Staff
    from crisisline.rota_models import RotaCoverageWindow, RotaMember, RotaOverride, RotaRecord

    return (Staff, RotaRecord, RotaMember, RotaCoverageWindow, RotaOverride, EscalationPolicyRecord)


def version(session: Session) -> Version | None:
    """The routing version this transaction sees, or None when nothing may be cached.

    Read once per transaction; read again whenever the session holds unflushed changes (the
    read flushes them, and a flush that changes routing writes a new version).
    """
    memo = session.info.get(_MEMO)
    transaction = session.get_transaction()
    if (
        memo is not None
        and memo[0] is transaction
        and not (session.new or session.dirty or session.deleted)
    ):
        return memo[1]  # type: ignore[no-any-return]
    value = session.scalar(select(RoutingState.version).where(RoutingState.id == 1))
    url = _url(session)
    if value is None:
        _last.pop(url, None)
        found = None
    else:
        _last[url] = value
        found = (url, value)
    session.info[_MEMO] = (session.get_transaction(), found)
    return found


def changed(session: Session) -> None:
    """Write a new routing version in the session's transaction: cached answers are now void."""
    session.info.pop(_MEMO, None)
    bind = session.connection()
    dialect = postgresql if bind.dialect.name == "postgresql" else sqlite
    new = secrets.randbits(62)
    statement = dialect.insert(RoutingState.__table__).values(id=1, version=new)
    bind.execute(statement.on_conflict_do_update(index_elements=["id"], set_={"version": new}))


def cached(
    key: tuple[Any, ...],
    at_version: Version | None,
    compute: Callable[[], T],
) -> T:
    """The answer for `key` under this version, computed once per version per process."""
    return cached_between(key, at_version, None, lambda: (compute(), None))


def cached_between(
    key: tuple[Any, ...],
    at_version: Version | None,
    at: dt.datetime | None,
    compute: Callable[[], tuple[T, tuple[dt.datetime, dt.datetime] | None]],
) -> T:
    """The answer for `key` at `at`, reused while the version holds and `at` is inside its span.

    `compute` returns the answer and the span [start, end) over which it holds (None: any time).
    """
    if at_version is None:
        return compute()[0]
    now = time.monotonic()
    try:
        return peek(key, at_version, at)  # type: ignore[no-any-return]
    except Missing:
        pass
    answer, span = compute()
    if span is None:
        start, end = _ALWAYS
    else:
        assert at is not None  # a span only means something for an answer at an instant
        start, end = span
    with _lock:
        if len(_answers) >= MAX_ENTRIES:
            _answers.clear()
        _answers[key] = (at_version, now + MAX_AGE_SECONDS, start, end, answer)
    return answer


def peek(key: tuple[Any, ...], at_version: Version, at: dt.datetime | None = None) -> Any:
    """The answer `cached_between` would reuse for `key` at `at` under this version, without
    computing one: Missing if there is none."""
    entry = _answers.get(key)
    if entry is not None:
        entry_version, expires, start, end, answer = entry
        if (
            entry_version == at_version
            and time.monotonic() < expires
            and (at is None or start <= at < end)
        ):
            return answer
    raise Missing(key)


def last_seen(url: str) -> Version | None:
    """The version a transaction in this process last read from the database at `url`.

    For a caller that plans from cached answers before it can read the version
    (crisisline.call_intake): it must then write only if the database still holds this
    version, in the same statement that checks it.
    """
    value = _last.get(url)
    return None if value is None else (url, value)


def url_of(engine: Engine) -> str:
    """The database URL answers are filed under (password hidden)."""
    return _rendered(engine.url)


@functools.lru_cache(maxsize=64)
def _rendered(url: URL) -> str:
    # Asked on every call and every cached answer; a URL never changes once made.
    return url.render_as_string(hide_password=True)


def clear() -> None:
    """Forget every cached answer in this process."""
    with _lock:
        _answers.clear()
        _last.clear()


def _url(session: Session) -> str:
    return url_of(session.get_bind().engine)


@event.listens_for(Session, "before_flush")
def _flush_changes_routing(session: Session, _context: Any, _instances: Any) -> None:
    models = _routing_models()
    for obj in itertools.chain(session.new, session.dirty, session.deleted):
        if isinstance(obj, models):
            changed(session)
            return


@event.listens_for(Session, "after_transaction_end")
def _forget_version(session: Session, _transaction: Any) -> None:
    # A savepoint rolled back may have taken a routing change (and its version) with it:
    # read the version afresh after any transaction or savepoint ends.
    session.info.pop(_MEMO, None)


@event.listens_for(Session, "do_orm_execute")
def _bulk_changes_routing(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    models = _routing_models()
    if any(issubclass(mapper.class_, models) for mapper in state.all_mappers):
        changed(state.session)
