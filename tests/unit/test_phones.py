"""Phone number parsing: every form people type becomes one E.164 number, or a clear reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crisisline import phones


@pytest.mark.parametrize(
    "raw",
    [
        "07700 900123",
        "07700900123",
        "+447700900123",
        "+44 (0)7700 900123",
        "0044 7700 900 123",
        " 07700-900-123 ",
    ],
)
def test_every_common_form_of_a_uk_mobile_normalises_to_e164(raw: str) -> None:
    assert phones.normalise(raw) == "+447700900123"


def test_drama_numbers_are_accepted_although_phonenumbers_calls_them_invalid() -> None:
    import phonenumbers

    parsed = phonenumbers.parse("+447700900000", "GB")
    assert not phonenumbers.is_valid_number(parsed)
    assert phones.normalise("07700 900000") == "+447700900000"
    assert phones.normalise("07700 900999") == "+447700900999"
    assert phones.normalise("020 7946 0000") == "+442079460000"


def test_numbers_just_outside_the_drama_range_are_refused() -> None:
    with pytest.raises(phones.InvalidPhoneNumber, match="not a number in use"):
        phones.normalise("07700 901000")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "is empty"),
        ("hello", "contains letters"),
        ("12", "too few digits"),
        ("07700 12", "too few digits"),
        ("0770090012345", "too many digits"),
        ("1" * 50, "too long"),
        ("+999 123456789", "unknown country code"),
    ],
)
def test_invalid_numbers_say_what_is_wrong(raw: str, reason: str) -> None:
    with pytest.raises(phones.InvalidPhoneNumber, match=reason):
        phones.normalise(raw)


def test_international_numbers_are_kept_in_their_own_country() -> None:
    assert phones.normalise("+1 202 555 0143") == "+12025550143"


def test_default_region_decides_how_a_national_number_is_read() -> None:
    assert phones.normalise("(202) 555-0143", region="US") == "+12025550143"


@pytest.mark.parametrize(
    "raw", ["anonymous", "Restricted", "+266696687", "UNKNOWN", "", None, "+86282452253"]
)
def test_withheld_and_anonymous_callers_are_recognised(raw: str | None) -> None:
    assert phones.is_withheld(raw)
    assert phones.caller_number(raw) is None


def test_a_known_caller_is_not_withheld() -> None:
    assert not phones.is_withheld("+447700900123")
    assert phones.caller_number("+447700900123") == "+447700900123"


def test_redact_keeps_only_the_last_three_digits() -> None:
    assert phones.redact("+447700900123") == "***123"
    assert phones.redact(None) == "withheld"


@given(st.integers(min_value=0, max_value=999), st.sampled_from(["{n}", "0{sp}", "+44{sp}"]))
def test_any_drama_mobile_in_any_layout_normalises_to_the_same_e164(
    suffix: int, layout: str
) -> None:
    national = f"7700900{suffix:03d}"
    if layout == "{n}":
        raw = "0" + national
    elif layout == "0{sp}":
        raw = f"0{national[:4]} {national[4:]}"
    else:
        raw = f"+44 {national[:4]} {national[4:7]} {national[7:]}"
    assert phones.normalise(raw) == f"+44{national}"
    assert phones.is_drama_number(f"+44{national}")


@given(st.text(max_size=60))
def test_normalise_never_raises_anything_but_invalid_phone_number(raw: str) -> None:
    try:
        result = phones.normalise(raw)
    except phones.InvalidPhoneNumber:
        return
    assert result.startswith("+")
    assert result[1:].isdigit()
