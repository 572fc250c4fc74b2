"""The retention schedule: how long each kind of record is kept, and from when.

Read from config/retention.toml when the service starts, and checked then like the risk rules:
a wrong file (an unknown kind, a missing kind, a period that is not whole years, months or days,
a `from` that kind cannot have) stops the service from starting, naming the kind and the key.
Nothing is removed on a half-understood schedule.

Each kind says `keep` (a table of whole `years`, `months` and `days`, added as the calendar does:
a year from 29 February is 28 February) and `from`:

- "record": the record's own time (a contact's start, a log entry's time, a delivery's creation,
  a sign-in session's end);
- "end_of_service": the day the participant left the service (`ended_service_on`, set when he is
  made inactive). A record of a participant who has not left is never past its time under such a
  rule; a record with no participant (an unknown caller) counts from its own time instead.

crisisline.retention applies it; docs/data-protection.md explains each default.
"""

from __future__ import annotations

import datetime as dt
import enum
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from dateutil.relativedelta import relativedelta

DEFAULT_PATH: Final = Path(__file__).resolve().parent.parent / "config" / "retention.toml"

# No kind is kept for less than this: a slip of the pen ("days = 1" for "years = 1") must not
# wipe a month of records overnight.
MINIMUM_DAYS: Final = 30


class Kind(enum.StrEnum):
    """The kinds of record the schedule covers (config/retention.toml has one table each)."""

    MESSAGE_BODIES = "message_bodies"  # the words and media of texts in and out
    VOICEMAIL_RECORDINGS = "voicemail_recordings"  # callers' messages, held at the provider
    CALL_METADATA = "call_metadata"  # the numbers on calls and texts (times and outcomes stay)
    NOTES = "notes"  # what staff wrote about a contact
    ALERTS = "alerts"  # risk alerts' details and evidence
    ACCESS_LOG = "access_log"  # who read or changed a participant's record
    DELIVERIES = "deliveries"  # texts and emails the service sent to staff (bodies, addresses)
    SESSIONS = "sessions"  # console sign-in sessions (address, browser)
    PARTICIPANT_DETAILS = "participant_details"  # his name, numbers and earlier details


class Start(enum.StrEnum):
    """From when a kind's time is counted."""

    RECORD = "record"
    END_OF_SERVICE = "end_of_service"


# The kinds about a participant may count from his end of service; the rest only from their own
# time. His details can only go at the end.
_STARTS: Final[Mapping[Kind, frozenset[Start]]] = {
    kind: frozenset(Start)
    for kind in (
        Kind.MESSAGE_BODIES,
        Kind.VOICEMAIL_RECORDINGS,
        Kind.CALL_METADATA,
        Kind.NOTES,
        Kind.ALERTS,
        Kind.ACCESS_LOG,
    )
} | {
    Kind.DELIVERIES: frozenset({Start.RECORD}),
    Kind.SESSIONS: frozenset({Start.RECORD}),
    Kind.PARTICIPANT_DETAILS: frozenset({Start.END_OF_SERVICE}),
}

_UNITS: Final = ("years", "months", "days")


class RetentionScheduleError(ValueError):
    """The schedule file is wrong; the message names the file, the kind and the key."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


@dataclass(frozen=True)
class Period:
    """Whole years, months and days, added as the calendar does."""

    years: int = 0
    months: int = 0
    days: int = 0

    def after(self, moment: dt.datetime) -> dt.datetime:
        """`moment` plus this period."""
        return moment + relativedelta(years=self.years, months=self.months, days=self.days)

    def before(self, moment: dt.datetime) -> dt.datetime:
        """`moment` less this period: a record from before it is past its time."""
        return moment - relativedelta(years=self.years, months=self.months, days=self.days)

    def words(self) -> str:
        """The period in words: "2 years", "6 months and 15 days"."""
        parts = [
            f"{n} {unit if n != 1 else unit[:-1]}"
            for unit, n in zip(_UNITS, (self.years, self.months, self.days), strict=True)
            if n
        ]
        if len(parts) <= 2:
            return " and ".join(parts)
        return ", ".join(parts[:-1]) + " and " + parts[-1]

    def as_dict(self) -> dict[str, int]:
        """The period as the schedule file writes it (only the units used)."""
        return {
            unit: n
            for unit, n in zip(_UNITS, (self.years, self.months, self.days), strict=True)
            if n
        }

    def at_least_days(self) -> int:
        """The fewest days this period can be (a month at its shortest, a year of 365)."""
        return self.years * 365 + self.months * 28 + self.days


@dataclass(frozen=True)
class Rule:
    """How long one kind of record is kept, and from when."""

    kind: Kind
    keep: Period
    start: Start

    def as_dict(self) -> dict[str, Any]:
        """The rule as a retention run records it."""
        return {"keep": self.keep.as_dict(), "from": self.start.value}


@dataclass(frozen=True)
class RetentionSchedule:
    """Every kind's rule."""

    rules: Mapping[Kind, Rule]

    def __getitem__(self, kind: Kind) -> Rule:
        return self.rules[kind]

    def as_dict(self) -> dict[str, Any]:
        """The schedule as a retention run records it."""
        return {kind.value: rule.as_dict() for kind, rule in self.rules.items()}


def load(path: Path | str | None = None) -> RetentionSchedule:
    """Read and check the schedule (default config/retention.toml); RetentionScheduleError if
    it is wrong."""
    path = Path(path) if path is not None else DEFAULT_PATH
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RetentionScheduleError(path, f"cannot be read ({error.strerror})") from None
    return parse(source, path)


def parse(source: str, path: Path | str = "<retention schedule>") -> RetentionSchedule:
    """Check `source` (the text of a schedule file) and build the schedule from it."""
    try:
        document = tomllib.loads(source)
    except tomllib.TOMLDecodeError as error:
        raise RetentionScheduleError(path, f"not valid TOML ({error})") from None
    unknown = sorted(set(document) - {kind.value for kind in Kind})
    if unknown:
        known = ", ".join(kind.value for kind in Kind)
        raise RetentionScheduleError(path, f"[{unknown[0]}] is not a kind of record ({known})")
    rules = {kind: _rule(path, kind, document.get(kind.value)) for kind in Kind}
    details = rules[Kind.PARTICIPANT_DETAILS].keep.at_least_days()
    for rule in rules.values():
        if rule.start is Start.END_OF_SERVICE and rule.keep.at_least_days() > details:
            raise RetentionScheduleError(
                path,
                f"[{rule.kind.value}] is kept longer after the end of service than "
                "[participant_details]: a participant's details are removed last, so that "
                "every record kept still has its person",
            )
    return RetentionSchedule(rules)


def _rule(path: Path | str, kind: Kind, table: object) -> Rule:
    name = f"[{kind.value}]"
    if table is None:
        raise RetentionScheduleError(path, f"{name} is missing: every kind needs its rule")
    if not isinstance(table, dict):
        raise RetentionScheduleError(path, f"{name} must be a table with keep and from")
    extra = sorted(set(table) - {"keep", "from"})
    if extra:
        raise RetentionScheduleError(path, f"{name}.{extra[0]} is not a setting (keep, from)")
    start_word = table.get("from")
    allowed = sorted(start.value for start in _STARTS[kind])
    if start_word not in allowed:
        raise RetentionScheduleError(
            path, f"{name}.from must be " + " or ".join(f'"{word}"' for word in allowed)
        )
    keep = _period(path, name, table.get("keep"))
    if keep.at_least_days() < MINIMUM_DAYS:
        raise RetentionScheduleError(
            path, f"{name}.keep is {keep.words() or 'nothing'}: at least {MINIMUM_DAYS} days"
        )
    return Rule(kind, keep, Start(start_word))


def _period(path: Path | str, name: str, value: object) -> Period:
    if not isinstance(value, dict) or not value:
        raise RetentionScheduleError(
            path, f"{name}.keep must be a table of years, months or days: keep = {{ years = 2 }}"
        )
    for unit, n in value.items():
        if unit not in _UNITS:
            raise RetentionScheduleError(path, f"{name}.keep.{unit} is not years, months or days")
        if type(n) is not int or not 0 <= n <= 200 * 366:
            raise RetentionScheduleError(
                path, f"{name}.keep.{unit} must be a whole number from 0, not {n!r}"
            )
    return Period(**{unit: int(n) for unit, n in value.items()})
