"""Risk rules from config/risk_rules.toml: loaded and checked at start-up, then matched per contact.

The clinical team owns the thresholds, so they live in a file they can read (docs/risk-rules.md).
An invalid file stops start-up with `RiskRulesError`, naming the line (from tomllib for a syntax
error, found by key for a wrong value) and the dotted key path: the service never runs on a
rule it half understood.

Phrase matching uses the standard library's `re`: one compiled pattern per category, built from
the phrases after the same normalisation as the text (case folded, accents and apostrophes
dropped). Keyword libraries (flashtext, pyahocorasick) find exact substrings quickly, but the
tolerance a crisis text needs (stretched letters, punctuation inside a word, whole words only)
would have to be bolted on around them; a few dozen phrases per text is cheap for `re`.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, cast
from zoneinfo import ZoneInfo

DEFAULT_PATH: Final = Path(__file__).resolve().parent.parent / "config" / "risk_rules.toml"

Severity = Literal["info", "warning", "urgent"]
SEVERITIES: Final[tuple[Severity, ...]] = ("info", "warning", "urgent")
RISK_LEVELS: Final = ("low", "medium", "high", "very_high")

# Rule names as alerts record them; a phrase category's rule is "phrases.<category>".
FREQUENCY: Final = "frequency"
UNANSWERED: Final = "unanswered"
VOICEMAIL_AT_NIGHT: Final = "voicemail_at_night"
REPEATED_NIGHT: Final = "repeated_night"
OPT_OUT: Final = "opt_out"
MISSING_OFFICER: Final = "missing_officer"
PHRASES_PREFIX: Final = "phrases."


class RiskRulesError(ValueError):
    """The risk rules file cannot be used; the message names the file, line and key."""

    def __init__(
        self, path: Path | str, problem: str, *, key: str | None = None, line: int | None = None
    ) -> None:
        where = str(path) + (f", line {line}" if line is not None else "")
        what = f"{key}: {problem}" if key else problem
        super().__init__(f"Invalid risk rules ({where}): {what}")
        self.path = str(path)
        self.problem = problem
        self.key = key
        self.line = line


# ---- normalising and matching text -----------------------------------------------------------

_APOSTROPHES: Final = dict.fromkeys(map(ord, "'\u2018\u2019\u201b`\u00b4"), None)
# Inside a word: any run of characters that are neither letters, digits nor spaces ("k.i.l.l").
_IN_WORD: Final = r"[^\sa-z0-9]*"
# Between words: spaces or punctuation, or nothing at all ("killmyself").
_BETWEEN_WORDS: Final = r"[^a-z0-9]*"
_WORD_EDGE_BEFORE: Final = r"(?<![a-z0-9])"
_WORD_EDGE_AFTER: Final = r"(?![a-z0-9])"


_SPLIT_SELF: Final = re.compile(r"\b(my|him|her|your|them|our)\s+(self|selves)\b")


def normalise(text: str) -> str:
    """`text` case-folded, accents and apostrophes dropped, so "can\u2019t" matches "cant".

    "my self" is joined into "myself" (the commonest way it is written apart), so a phrase
    written either way matches text written either way.
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPLIT_SELF.sub(r"\1\2", plain.translate(_APOSTROPHES))


def phrase_words(phrase: str) -> list[str]:
    """The words of a phrase after normalisation, letters and digits only."""
    return [word for word in re.split(r"[^a-z0-9]+", normalise(phrase)) if word]


def _letters(word: str) -> str:
    # Runs of one letter collapse to one, and every letter may be held down ("killll") or
    # split from the next by punctuation ("k.i.l.l"): each letter becomes `x(?:sep*x)*`.
    runs = [match.group(0)[0] for match in re.finditer(r"(.)\1*", word)]
    parts = [f"{re.escape(c)}(?:{_IN_WORD}{re.escape(c)})*" for c in runs]
    return _IN_WORD.join(parts)


def phrase_pattern(phrases: Sequence[str]) -> re.Pattern[str]:
    """One pattern matching any of `phrases` as whole words in normalised text."""
    alternatives = sorted(
        {_BETWEEN_WORDS.join(_letters(w) for w in phrase_words(p)) for p in phrases},
        key=len,
        reverse=True,
    )
    return re.compile(_WORD_EDGE_BEFORE + "(?:" + "|".join(alternatives) + ")" + _WORD_EDGE_AFTER)


# ---- the rules -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSettings:
    """What every rule has: whether it runs, how serious it is, and its cooldown."""

    enabled: bool
    severity: Severity
    cooldown: dt.timedelta


@dataclass(frozen=True)
class FrequencyRule(RuleSettings):
    """At least N contacts within a window of local wall-clock hours."""

    window: dt.timedelta
    min_contacts: int
    min_contacts_by_risk_level: Mapping[str, int]
    texts_count_once_within: dt.timedelta

    def threshold(self, risk_level: str) -> int:
        """How many contacts in the window fire the rule for a participant at `risk_level`."""
        return self.min_contacts_by_risk_level.get(risk_level, self.min_contacts)


@dataclass(frozen=True)
class PhraseCategory:
    """A group of risk phrases with one severity, such as self-harm or suicide."""

    name: str
    label: str
    severity: Severity
    phrases: tuple[str, ...]
    pattern: re.Pattern[str] = field(compare=False, repr=False)

    @property
    def rule(self) -> str:
        """The rule name alerts from this category record."""
        return PHRASES_PREFIX + self.name


@dataclass(frozen=True)
class PhraseRule:
    """Risk phrases by category; each category fires its own alert."""

    enabled: bool
    cooldown: dt.timedelta
    categories: tuple[PhraseCategory, ...]

    def categories_in(self, text: str | None) -> list[PhraseCategory]:
        """The categories with at least one phrase in `text` (never which words matched)."""
        if not text:
            return []
        folded = normalise(text)
        return [c for c in self.categories if c.pattern.search(folded)]


@dataclass(frozen=True)
class RepeatedNightRule(RuleSettings):
    """Contact at night on at least `min_nights` nights within `window_days`."""

    min_nights: int
    window_days: int


@dataclass(frozen=True)
class OptOutRule(RuleSettings):
    """The participant texted an opt-out word on its own."""

    keywords: frozenset[str]

    def is_opt_out(self, text: str | None) -> bool:
        """True if `text` is nothing but an opt-out word ("STOP", "stop.", " Stop ")."""
        if not text:
            return False
        return "".join(phrase_words(text)) in self.keywords


@dataclass(frozen=True)
class NightHours:
    """The local hours counted as night; `end` before `start` crosses midnight."""

    start: dt.time
    end: dt.time

    def contains(self, instant: dt.datetime, zone: ZoneInfo) -> bool:
        """True if `instant` falls in the night hours, read on the local clock."""
        local = instant.astimezone(zone).time().replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def nights(
        self, since: dt.datetime, until: dt.datetime, zone: ZoneInfo
    ) -> list[tuple[dt.datetime, dt.datetime]]:
        """Each night meeting [since, until] as a UTC interval [start, end), oldest first."""
        first = since.astimezone(zone).date() - dt.timedelta(days=1)
        last = until.astimezone(zone).date()
        intervals: list[tuple[dt.datetime, dt.datetime]] = []
        day = first
        while day <= last:
            end_day = day if self.start < self.end else day + dt.timedelta(days=1)
            # The widest reading of a clock time that happens twice or not at all.
            start = local_to_utc(dt.datetime.combine(day, self.start), zone, earliest=True)
            end = local_to_utc(dt.datetime.combine(end_day, self.end), zone, earliest=False)
            if start <= until and end > since:
                intervals.append((max(start, since), end))
            day += dt.timedelta(days=1)
        return intervals


@dataclass(frozen=True)
class Acknowledgement:
    """How long an officer has to acknowledge an info or warning alert."""

    info: dt.timedelta
    warning: dt.timedelta

    def wait(self, severity: str) -> dt.timedelta:
        """The officer's time to acknowledge an alert of `severity` (not urgent)."""
        return self.info if severity == "info" else self.warning


@dataclass(frozen=True)
class RiskRules:
    """Every risk rule, as checked at start-up."""

    night: NightHours
    acknowledgement: Acknowledgement
    frequency: FrequencyRule
    phrases: PhraseRule
    unanswered: RuleSettings
    voicemail_at_night: RuleSettings
    repeated_night: RepeatedNightRule
    opt_out: OptOutRule
    missing_officer: RuleSettings
    source: str = ""


# ---- local wall-clock time -----------------------------------------------------------------


def local_to_utc(local: dt.datetime, zone: ZoneInfo, *, earliest: bool) -> dt.datetime:
    """A naive local clock time as a UTC instant; a time the clocks skip or repeat takes the
    earliest (or latest) of its readings, so a window built from it only ever widens."""
    readings = [local.replace(tzinfo=zone, fold=fold).astimezone(dt.UTC) for fold in (0, 1)]
    return min(readings) if earliest else max(readings)


def wall_clock_since(now: dt.datetime, zone: ZoneInfo, span: dt.timedelta) -> dt.datetime:
    """The start of a window of `span` ending at `now`, measured on the local wall clock.

    "24 hours" means since this clock time yesterday: 23 real hours on the day the clocks go
    forward and 25 when they go back, as staff reading the clock would count.
    """
    local = now.astimezone(zone).replace(tzinfo=None)
    return local_to_utc(local - span, zone, earliest=True)


# ---- loading -----------------------------------------------------------------------------------


def load(path: Path | str | None = None) -> RiskRules:
    """Read and check the rules file (default config/risk_rules.toml); RiskRulesError if invalid."""
    path = Path(path) if path is not None else DEFAULT_PATH
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RiskRulesError(path, f"cannot be read ({error.strerror})") from None
    return parse(source, path)


_TOML_LINE = re.compile(r"\(at line (\d+), column \d+\)")


def parse(source: str, path: Path | str = "<risk rules>") -> RiskRules:
    """Check `source` (the text of a rules file) and build the rules from it."""
    try:
        document = tomllib.loads(source)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        found = _TOML_LINE.search(message)
        line = int(found.group(1)) if found else None
        problem = _TOML_LINE.sub("", message).strip() + " (not valid TOML)"
        raise RiskRulesError(path, problem, line=line) from None
    reader = _Reader(source, path)
    return reader.rules(document)


class _Reader:
    """Typed reads of the parsed document that fail naming the key path and its line."""

    def __init__(self, source: str, path: Path | str) -> None:
        self.source = source
        self.path = path

    def fail(self, key: str, problem: str) -> RiskRulesError:
        return RiskRulesError(self.path, problem, key=key, line=line_of(self.source, key))

    def table(self, parent: Mapping[str, object], key: str, where: str) -> Mapping[str, object]:
        value = parent.get(key)
        if value is None:
            raise self.fail(where, "is required")
        if not isinstance(value, Mapping):
            raise self.fail(where, "must be a table ([section])")
        return cast(Mapping[str, object], value)

    def only(self, table: Mapping[str, object], allowed: Sequence[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                # A misspelt setting silently ignored would leave a rule on its old value.
                raise self.fail(
                    f"{where}.{key}" if where else key,
                    f"is not a known setting (expected one of {', '.join(allowed)})",
                )

    def value(self, table: Mapping[str, object], key: str, where: str) -> object:
        if key not in table:
            raise self.fail(f"{where}.{key}", "is required")
        return table[key]

    def boolean(self, table: Mapping[str, object], key: str, where: str) -> bool:
        value = self.value(table, key, where)
        if not isinstance(value, bool):
            raise self.fail(f"{where}.{key}", "must be true or false")
        return value

    def whole(self, table: Mapping[str, object], key: str, where: str, low: int, high: int) -> int:
        value = self.value(table, key, where)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(f"{where}.{key}", f"must be a whole number from {low} to {high}")
        return value

    def severity(self, table: Mapping[str, object], where: str) -> Severity:
        value = self.value(table, "severity", where)
        if value not in SEVERITIES:
            raise self.fail(
                f"{where}.severity", f"must be one of {', '.join(SEVERITIES)}, not {value!r}"
            )
        return value

    def clock_time(self, table: Mapping[str, object], key: str, where: str) -> dt.time:
        value = self.value(table, key, where)
        if not isinstance(value, str) or not re.fullmatch(r"\d{2}:\d{2}", value):
            raise self.fail(f"{where}.{key}", 'must be a time of day such as "06:00"')
        hours, minutes = int(value[:2]), int(value[3:])
        if hours > 23 or minutes > 59:
            raise self.fail(f"{where}.{key}", f"{value!r} is not a time of day")
        return dt.time(hours, minutes)

    def words(self, table: Mapping[str, object], key: str, where: str) -> tuple[str, ...]:
        value = self.value(table, key, where)
        if not isinstance(value, list) or not value:
            raise self.fail(f"{where}.{key}", "must be a list of at least one phrase")
        words: list[str] = []
        for index, item in enumerate(value):
            if not isinstance(item, str) or not phrase_words(item):
                raise self.fail(f"{where}.{key}", f"item {index + 1} must be words in quotes")
            words.append(item)
        return tuple(words)

    def cooldown(self, table: Mapping[str, object], where: str) -> dt.timedelta:
        return dt.timedelta(hours=self.whole(table, "cooldown_hours", where, 1, 720))

    def rule(
        self, document: Mapping[str, object], name: str, extra: Sequence[str] = ()
    ) -> tuple[Mapping[str, object], RuleSettings]:
        table = self.table(document, name, name)
        self.only(table, ("enabled", "severity", "cooldown_hours", *extra), name)
        settings = RuleSettings(
            enabled=self.boolean(table, "enabled", name),
            severity=self.severity(table, name),
            cooldown=self.cooldown(table, name),
        )
        return table, settings

    def rules(self, document: Mapping[str, object]) -> RiskRules:
        sections = (
            "night",
            "acknowledgement",
            FREQUENCY,
            "phrases",
            UNANSWERED,
            VOICEMAIL_AT_NIGHT,
            REPEATED_NIGHT,
            OPT_OUT,
            MISSING_OFFICER,
        )
        self.only(document, sections, "")

        night_table = self.table(document, "night", "night")
        self.only(night_table, ("start", "end"), "night")
        night = NightHours(
            self.clock_time(night_table, "start", "night"),
            self.clock_time(night_table, "end", "night"),
        )
        if night.start == night.end:
            raise self.fail("night.end", "must differ from night.start")

        ack = self.table(document, "acknowledgement", "acknowledgement")
        self.only(ack, ("info_minutes", "warning_minutes"), "acknowledgement")
        # The escalation engine waits at most four hours on a step: nobody should wait longer.
        acknowledgement = Acknowledgement(
            info=dt.timedelta(minutes=self.whole(ack, "info_minutes", "acknowledgement", 1, 240)),
            warning=dt.timedelta(
                minutes=self.whole(ack, "warning_minutes", "acknowledgement", 1, 240)
            ),
        )

        freq_table, freq = self.rule(
            document,
            FREQUENCY,
            (
                "window_hours",
                "min_contacts",
                "min_contacts_by_risk_level",
                "texts_count_once_within_minutes",
            ),
        )
        by_level: dict[str, int] = {}
        levels = freq_table.get("min_contacts_by_risk_level", {})
        if not isinstance(levels, Mapping):
            raise self.fail("frequency.min_contacts_by_risk_level", "must be a table")
        self.only(levels, RISK_LEVELS, "frequency.min_contacts_by_risk_level")
        for level in levels:
            by_level[level] = self.whole(
                levels, level, "frequency.min_contacts_by_risk_level", 1, 100
            )
        frequency = FrequencyRule(
            enabled=freq.enabled,
            severity=freq.severity,
            cooldown=freq.cooldown,
            window=dt.timedelta(hours=self.whole(freq_table, "window_hours", FREQUENCY, 1, 168)),
            min_contacts=self.whole(freq_table, "min_contacts", FREQUENCY, 1, 100),
            min_contacts_by_risk_level=by_level,
            texts_count_once_within=dt.timedelta(
                minutes=self.whole(freq_table, "texts_count_once_within_minutes", FREQUENCY, 0, 240)
            ),
        )

        phrases = self.table(document, "phrases", "phrases")
        self.only(phrases, ("enabled", "cooldown_hours", "categories"), "phrases")
        categories_table = self.table(phrases, "categories", "phrases.categories")
        if not categories_table:
            raise self.fail("phrases.categories", "must hold at least one category")
        categories: list[PhraseCategory] = []
        for name in categories_table:
            where = f"phrases.categories.{name}"
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name):
                raise self.fail(where, "a category name is lower-case letters, digits and _")
            body = self.table(categories_table, name, where)
            self.only(body, ("label", "severity", "phrases"), where)
            label = body.get("label", name.replace("_", " "))
            if not isinstance(label, str) or not label.strip():
                raise self.fail(f"{where}.label", "must be words in quotes")
            listed = self.words(body, "phrases", where)
            categories.append(
                PhraseCategory(
                    name=name,
                    label=" ".join(label.split()),
                    severity=self.severity(body, where),
                    phrases=listed,
                    pattern=phrase_pattern(listed),
                )
            )
        phrase_rule = PhraseRule(
            enabled=self.boolean(phrases, "enabled", "phrases"),
            cooldown=self.cooldown(phrases, "phrases"),
            categories=tuple(categories),
        )

        _, unanswered = self.rule(document, UNANSWERED)
        _, voicemail = self.rule(document, VOICEMAIL_AT_NIGHT)
        night_table_, night_rule = self.rule(
            document, REPEATED_NIGHT, ("min_nights", "window_days")
        )
        window_days = self.whole(night_table_, "window_days", REPEATED_NIGHT, 1, 31)
        min_nights = self.whole(night_table_, "min_nights", REPEATED_NIGHT, 1, 31)
        if min_nights > window_days + 1:
            raise self.fail(
                f"{REPEATED_NIGHT}.min_nights", "cannot be more than the nights in window_days"
            )
        repeated = RepeatedNightRule(
            night_rule.enabled, night_rule.severity, night_rule.cooldown, min_nights, window_days
        )
        opt_table, opt = self.rule(document, OPT_OUT, ("keywords",))
        keywords = frozenset(
            "".join(phrase_words(word)) for word in self.words(opt_table, "keywords", OPT_OUT)
        )
        opt_out = OptOutRule(opt.enabled, opt.severity, opt.cooldown, keywords)
        _, missing = self.rule(document, MISSING_OFFICER)
        return RiskRules(
            night=night,
            acknowledgement=acknowledgement,
            frequency=frequency,
            phrases=phrase_rule,
            unanswered=unanswered,
            voicemail_at_night=voicemail,
            repeated_night=repeated,
            opt_out=opt_out,
            missing_officer=missing,
            source=str(self.path),
        )


def line_of(source: str, key: str) -> int | None:
    """The line of `source` where the dotted `key` (a table or a setting) is written."""
    parts = key.split(".")
    header = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]\s*(#.*)?$")
    current = ""
    table_line: dict[str, int] = {}
    setting_line: dict[str, int] = {}
    for number, line in enumerate(source.splitlines(), start=1):
        found = header.match(line)
        if found:
            current = found.group(1).replace(" ", "")
            table_line.setdefault(current, number)
            continue
        setting = re.match(r"^\s*([A-Za-z0-9_\-]+)\s*=", line)
        if setting:
            name = f"{current}.{setting.group(1)}" if current else setting.group(1)
            setting_line.setdefault(name, number)
    if key in setting_line:
        return setting_line[key]
    if key in table_line:
        return table_line[key]
    # A missing setting: point at its table, the nearest place to add it.
    for end in range(len(parts) - 1, 0, -1):
        parent = ".".join(parts[:end])
        if parent in table_line:
            return table_line[parent]
    return None
