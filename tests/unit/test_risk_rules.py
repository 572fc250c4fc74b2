"""Risk rules: the shipped file, phrase matching, local-time windows and an invalid file refused."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from crisisline import risk_rules
from crisisline.risk_rules import NightHours, RiskRulesError, load, parse, wall_clock_since

LONDON = ZoneInfo("Europe/London")
SHIPPED = risk_rules.DEFAULT_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def rules() -> risk_rules.RiskRules:
    return load()


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


# ---- the shipped defaults --------------------------------------------------------------------


def test_the_shipped_file_loads_with_the_documented_defaults(rules: risk_rules.RiskRules) -> None:
    assert rules.frequency.min_contacts == 3
    assert rules.frequency.window == dt.timedelta(hours=24)
    assert rules.frequency.threshold("medium") == 3
    assert rules.frequency.threshold("high") < 3
    assert rules.frequency.threshold("very_high") < 3
    assert rules.night == NightHours(dt.time(0, 0), dt.time(6, 0))
    assert (rules.repeated_night.min_nights, rules.repeated_night.window_days) == (2, 7)
    names = {category.name for category in rules.phrases.categories}
    assert names == {"self_harm", "harm_to_others", "substance_relapse", "breach_absconding"}
    severities = {c.name: c.severity for c in rules.phrases.categories}
    assert severities["self_harm"] == "urgent"
    assert severities["harm_to_others"] == "urgent"
    assert rules.unanswered.severity == "urgent"


# ---- phrase matching -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("I want to KILL MYSELF", "self_harm"),
        ("Kill Myself", "self_harm"),
        ("gonna killll myselffff", "self_harm"),
        ("kiiiill myself", "self_harm"),
        ("k.i.l.l myself", "self_harm"),
        ("k-i-l-l m.y.s.e.l.f!!!", "self_harm"),
        ("...kill,myself...", "self_harm"),
        ("killmyself", "self_harm"),
        ("I can\u2019t go on", "self_harm"),
        ("I CANT GO ON", "self_harm"),
        ("Kïll myself", "self_harm"),
        ("I've got a KNIFE", "harm_to_others"),
        ("s.t.a.b", "harm_to_others"),
        ("I've RELAPSED", "substance_relapse"),
        ("im gonna do a runner", "breach_absconding"),
    ],
)
def test_a_phrase_matches_in_any_case_with_punctuation_and_stretched_letters(
    rules: risk_rules.RiskRules, text: str, category: str
) -> None:
    assert category in [c.name for c in rules.phrases.categories_in(text)]


@pytest.mark.parametrize(
    "text",
    [
        "my skills are improving",  # kill inside skills
        "skillet for tea",
        "the shelf is stable",  # stab inside stable
        "it has begun",  # gun inside begun
        "spices from the market",  # spice inside spices
        "a breachless record",  # breach inside a longer word
        "good morning, see you at the group",
        "",
    ],
)
def test_a_phrase_inside_a_longer_word_does_not_match(
    rules: risk_rules.RiskRules, text: str
) -> None:
    assert rules.phrases.categories_in(text) == []


def test_matching_reports_categories_never_the_words(rules: risk_rules.RiskRules) -> None:
    found = rules.phrases.categories_in("i will kill myself with a knife")
    assert {c.name for c in found} == {"self_harm", "harm_to_others"}
    assert all(isinstance(c, risk_rules.PhraseCategory) for c in found)


def test_a_double_letter_in_a_phrase_also_matches_a_single_one() -> None:
    pattern = risk_rules.phrase_pattern(["kill myself"])
    assert pattern.search(risk_rules.normalise("kil myself"))
    assert not pattern.search(risk_rules.normalise("ki myself"))


@pytest.mark.parametrize(
    ("text", "opted_out"),
    [("STOP", True), (" stop. ", True), ("Unsubscribe", True), ("stop it", False), ("", False)],
)
def test_an_opt_out_is_an_opt_out_word_on_its_own(
    rules: risk_rules.RiskRules, text: str, opted_out: bool
) -> None:
    assert rules.opt_out.is_opt_out(text) is opted_out


# ---- local wall-clock windows -----------------------------------------------------------------


def test_a_24_hour_window_is_23_real_hours_when_the_clocks_go_forward() -> None:
    # 29 March 2026, 11:00 BST (10:00 UTC): since 11:00 GMT on the 28th, 11:00 UTC.
    since = wall_clock_since(_utc(2026, 3, 29, 10), LONDON, dt.timedelta(hours=24))
    assert since == _utc(2026, 3, 28, 11)


def test_a_24_hour_window_is_25_real_hours_when_the_clocks_go_back() -> None:
    # 25 October 2026, 12:00 GMT (12:00 UTC): since 12:00 BST on the 24th, 11:00 UTC.
    since = wall_clock_since(_utc(2026, 10, 25, 12), LONDON, dt.timedelta(hours=24))
    assert since == _utc(2026, 10, 24, 11)


def test_a_window_starting_at_a_repeated_clock_time_takes_its_earlier_reading() -> None:
    # 26 October 01:30 GMT minus 24 h is 01:30 on the 25th, which happened twice.
    since = wall_clock_since(_utc(2026, 10, 26, 1, 30), LONDON, dt.timedelta(hours=24))
    assert since == _utc(2026, 10, 25, 0, 30)


def test_night_hours_are_read_on_the_local_clock() -> None:
    night = NightHours(dt.time(0, 0), dt.time(6, 0))
    # Summer: 23:30 UTC is 00:30 BST, night; 05:30 UTC is 06:30 BST, morning.
    assert night.contains(_utc(2026, 7, 1, 23, 30), LONDON)
    assert not night.contains(_utc(2026, 7, 2, 5, 30), LONDON)
    assert night.contains(_utc(2026, 12, 2, 5, 59), LONDON)
    assert not night.contains(_utc(2026, 12, 2, 6, 0), LONDON)


def test_night_hours_may_cross_midnight() -> None:
    night = NightHours(dt.time(22, 0), dt.time(6, 0))
    assert night.contains(_utc(2026, 12, 1, 22, 0), LONDON)
    assert night.contains(_utc(2026, 12, 2, 3, 0), LONDON)
    assert not night.contains(_utc(2026, 12, 2, 21, 59), LONDON)


def test_the_nights_of_a_week_across_the_clock_change_are_local_nights() -> None:
    night = NightHours(dt.time(0, 0), dt.time(6, 0))
    until = _utc(2026, 3, 31, 2)
    nights = night.nights(wall_clock_since(until, LONDON, dt.timedelta(days=7)), until, LONDON)
    # The night of 29 March is five real hours long (00:00 GMT to 06:00 BST).
    assert (_utc(2026, 3, 29, 0), _utc(2026, 3, 29, 5)) in nights
    assert (_utc(2026, 3, 30, 23), _utc(2026, 3, 31, 5)) in nights
    assert len(nights) == 8


# ---- an invalid file -------------------------------------------------------------------------


def _broken(old: str, new: str) -> str:
    assert old in SHIPPED
    return SHIPPED.replace(old, new, 1)


def _line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_a_toml_syntax_error_names_its_line() -> None:
    text = _broken("min_contacts = 3", "min_contacts = = 3")
    with pytest.raises(RiskRulesError) as caught:
        parse(text, "risk_rules.toml")
    assert caught.value.line == _line_of(text, "min_contacts = = 3")
    assert f"line {caught.value.line}" in str(caught.value)


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('severity = "urgent"', 'severity = "critical"', "phrases.categories.self_harm.severity"),
        ("min_contacts = 3", "min_contacts = 0", "frequency.min_contacts"),
        ("min_contacts = 3", "min_contact = 3", "frequency.min_contact"),
        ("high = 2", "severe = 2", "frequency.min_contacts_by_risk_level.severe"),
        ('\nend = "06:00"', '\nend = "00:00"', "night.end"),
        ('start = "00:00"', 'start = "midnight"', "night.start"),
        ("cooldown_hours = 24", 'cooldown_hours = "a day"', "frequency.cooldown_hours"),
        ("warning_minutes = 120", "warning_minutes = 600", "acknowledgement.warning_minutes"),
        ("min_nights = 2", "min_nights = 20", "repeated_night.min_nights"),
        ("enabled = true", "enabled = 1", "frequency.enabled"),
    ],
)
def test_a_wrong_setting_names_its_key_and_line(old: str, new: str, key: str) -> None:
    text = _broken(old, new)
    with pytest.raises(RiskRulesError) as caught:
        parse(text, "risk_rules.toml")
    assert caught.value.key == key
    assert caught.value.line == _line_of(text, new.strip())
    assert key in str(caught.value)


def test_a_missing_section_is_refused() -> None:
    text = _broken("[unanswered]\nenabled = true", "[unanswerd]\nenabled = true")
    with pytest.raises(RiskRulesError) as caught:
        parse(text, "risk_rules.toml")
    assert caught.value.key == "unanswerd"


def test_a_category_without_phrases_is_refused() -> None:
    text = SHIPPED + '\n[phrases.categories.empty]\nseverity = "info"\nphrases = []\n'
    with pytest.raises(RiskRulesError) as caught:
        parse(text, "risk_rules.toml")
    assert caught.value.key == "phrases.categories.empty.phrases"


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RiskRulesError, match="cannot be read"):
        load(tmp_path / "absent.toml")
