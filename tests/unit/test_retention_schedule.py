"""The retention schedule file: the shipped one is valid, and a wrong one stops start-up naming
the kind and the key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from crisisline import retention_schedule
from crisisline.retention_schedule import Kind, Period, RetentionScheduleError, Start

SHIPPED = retention_schedule.DEFAULT_PATH


def _with(replace: str, by: str) -> str:
    source = SHIPPED.read_text(encoding="utf-8")
    assert replace in source
    return source.replace(replace, by, 1)


def test_the_shipped_schedule_has_a_rule_for_every_kind() -> None:
    schedule = retention_schedule.load()
    assert set(schedule.rules) == set(Kind)
    assert schedule[Kind.NOTES].keep == Period(years=20)
    assert schedule[Kind.NOTES].start is Start.END_OF_SERVICE
    assert schedule[Kind.VOICEMAIL_RECORDINGS].keep == Period(days=90)
    assert schedule.as_dict()["message_bodies"] == {"keep": {"years": 2}, "from": "record"}


def test_a_year_is_counted_as_the_calendar_counts_it() -> None:
    leap = dt.datetime(2028, 2, 29, 12, tzinfo=dt.UTC)
    assert Period(years=1).after(leap) == dt.datetime(2029, 2, 28, 12, tzinfo=dt.UTC)
    assert Period(months=1).before(dt.datetime(2027, 3, 31, tzinfo=dt.UTC)) == dt.datetime(
        2027, 2, 28, tzinfo=dt.UTC
    )
    assert Period(years=2, months=6).words() == "2 years and 6 months"
    assert Period(years=1, months=1, days=1).words() == "1 year, 1 month and 1 day"


@pytest.mark.parametrize(
    ("replace", "by", "named"),
    [
        ("[sessions]", "[sesions]", "[sesions] is not a kind of record"),
        (
            "[sessions]\nkeep = { days = 90 }",
            "[sessions]\nkeep = { days = 9 }",
            "[sessions].keep is 9 days: at least 30 days",
        ),
        ("keep = { years = 1 }", "keep = { yeers = 1 }", "[deliveries].keep.yeers is not years"),
        (
            "keep = { years = 1 }",
            "keep = { years = 1.5 }",
            "[deliveries].keep.years must be a whole number",
        ),
        ("keep = { years = 1 }", "keep = 1", "[deliveries].keep must be a table"),
        (
            'keep = { years = 1 }\nfrom = "record"',
            'keep = { years = 1 }\nfrom = "end_of_service"',
            '[deliveries].from must be "record"',
        ),
        (
            "[participant_details]\nkeep = { years = 20 }",
            "[participant_details]\nkeep = { years = 10 }",
            "[notes] is kept longer after the end of service than [participant_details]",
        ),
        ('from = "record"', 'from = "record"\nkept = 3', "[message_bodies].kept is not a setting"),
        ("[message_bodies]", "[message_bodies", "not valid TOML"),
    ],
)
def test_a_wrong_schedule_is_refused_naming_what_is_wrong(
    replace: str, by: str, named: str
) -> None:
    with pytest.raises(RetentionScheduleError) as refused:
        retention_schedule.parse(_with(replace, by), "retention.toml")
    assert named in str(refused.value)


def test_a_missing_kind_is_refused(tmp_path: Path) -> None:
    source = SHIPPED.read_text(encoding="utf-8")
    cut = source[: source.index("[participant_details]")]
    path = tmp_path / "retention.toml"
    path.write_text(cut, encoding="utf-8")
    with pytest.raises(RetentionScheduleError, match=r"\[participant_details\] is missing"):
        retention_schedule.load(path)


def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RetentionScheduleError, match="cannot be read"):
        retention_schedule.load(tmp_path / "absent.toml")
