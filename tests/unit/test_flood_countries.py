"""Which country an automatic reply would go to (crisisline.floods.country_of), H142.

Foreign numbers are fictional or libphonenumber's own examples (see tests/e2e/test_floods.py).
"""

from __future__ import annotations

import pytest

from crisisline.floods import country_of


@pytest.mark.parametrize(
    ("number", "country"),
    [
        ("+447700900123", "GB"),  # Ofcom's drama range: never allocated, still the UK
        ("+12025550123", "US"),  # 555-01xx, set aside for fiction
        ("+8613123456789", "CN"),
        ("+2348021234567", "NG"),
        ("+447797712345", "JE"),  # +44, but Jersey: a country of its own for the setting
    ],
)
def test_the_country_of_a_number_is_read_with_phonenumbers(number: str, country: str) -> None:
    assert country_of(number) == country


@pytest.mark.parametrize("number", ["VODAFONE", "", "+"])
def test_something_that_is_not_a_number_has_no_country(number: str) -> None:
    assert country_of(number) is None
