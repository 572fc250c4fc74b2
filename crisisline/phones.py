"""Phone numbers: parse what people type into E.164, spot withheld callers, redact for logs."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import phonenumbers

from crisisline.errors import InvalidInput

# Ofcom reserves these for drama; phonenumbers calls them invalid because they are never
# allocated, but tests and demos must use them so that no real person is ever dialled.
_DRAMA_RANGES: tuple[tuple[int, int], ...] = (
    (447700900000, 447700900999),  # mobile 07700 900000-900999
    (441134960000, 441134960999),  # Leeds 0113 496 0000-0999
    (441144960000, 441144960999),  # Sheffield
    (441154960000, 441154960999),  # Nottingham
    (441164960000, 441164960999),  # Leicester
    (441174960000, 441174960999),  # Bristol
    (441184960000, 441184960999),  # Reading
    (441214960000, 441214960999),  # Birmingham
    (441314960000, 441314960999),  # Edinburgh
    (441414960000, 441414960999),  # Glasgow
    (441514960000, 441514960999),  # Liverpool
    (441614960000, 441614960999),  # Manchester
    (442079460000, 442079460999),  # London 020 7946 0000-0999
    (442891800000, 442891800999),  # Belfast
    (442920180000, 442920180999),  # Cardiff
    (443069990000, 443069990999),  # non-geographic 0306 999 0000-0999
    (448081570000, 448081570999),  # freephone 0808 157 0000-0999
    (449098790000, 449098790999),  # premium 0909 879 0000-0999
)

# What Twilio puts in From for callers who hide their number. They are valid callers.
_WITHHELD_MARKERS = frozenset(
    {"anonymous", "restricted", "unknown", "private", "unavailable", "withheld", ""}
)
_WITHHELD_DIGITS = frozenset({"266696687", "86282452253", "7378742833", "2562533"})


class InvalidPhoneNumber(ValueError):
    """A phone number that cannot be used; the message says why in words a person can act on."""


def is_drama_number(e164: str) -> bool:
    """True if the E.164 number lies in one of Ofcom's ranges reserved for drama."""
    if not e164.startswith("+") or not e164[1:].isdigit():
        return False
    value = int(e164[1:])
    return any(low <= value <= high for low, high in _DRAMA_RANGES)


def normalise(raw: str, region: str = "GB") -> str:
    """Return `raw` as E.164, or raise InvalidPhoneNumber saying what is wrong with it."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber("is empty")
    if len(text) > 40:
        raise InvalidPhoneNumber("is too long to be a phone number")
    if re.search(r"[A-Za-z]", text.replace("ext", "")):
        raise InvalidPhoneNumber("contains letters")
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(_parse_error_reason(exc)) from exc
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if phonenumbers.is_valid_number(parsed) or is_drama_number(e164):
        return e164
    length_problems = {
        phonenumbers.ValidationResult.TOO_SHORT: "has too few digits",
        phonenumbers.ValidationResult.TOO_LONG: "has too many digits",
        phonenumbers.ValidationResult.INVALID_LENGTH: "has the wrong number of digits",
    }
    reason = phonenumbers.is_possible_number_with_reason(parsed)
    if reason in length_problems:
        raise InvalidPhoneNumber(length_problems[reason])
    if len(phonenumbers.national_significant_number(parsed)) < 9:
        # UK local-dialling numbers (no area code) are "possible" but cannot be dialled back.
        raise InvalidPhoneNumber("has too few digits; include the area or mobile code")
    raise InvalidPhoneNumber("is not a number in use")


def refuse_the_line(numbers: Iterable[str | None], line_number: str | None, field: str) -> None:
    """InvalidInput naming `field` if any of `numbers` is the crisis line's own number.

    A staff phone or a participant's number that is the line itself would have the line text
    and call itself: notifications and relays would reach nobody.
    """
    if line_number and any(number == line_number for number in numbers):
        raise InvalidInput("this is the crisis line's own number", field)


def is_withheld(raw: str | None) -> bool:
    """True when Twilio's From value means the caller withheld or has no number."""
    if raw is None:
        return True
    text = raw.strip().lower()
    if text in _WITHHELD_MARKERS:
        return True
    return text.lstrip("+") in _WITHHELD_DIGITS


@functools.lru_cache(maxsize=4096)
def caller_number(raw: str | None, region: str = "GB") -> str | None:
    """E.164 for a caller's From value; None for withheld, anonymous or unparseable callers.

    Remembered per process: every webhook parses the crisis number and the caller's again.
    """
    if is_withheld(raw):
        return None
    try:
        return normalise(raw or "", region)
    except InvalidPhoneNumber:
        return None


def redact(e164: str | None) -> str:
    """A number safe to log: everything but the last three digits hidden."""
    if not e164:
        return "withheld"
    digits = re.sub(r"\D", "", e164)
    return "***" + digits[-3:]


def _parse_error_reason(exc: phonenumbers.NumberParseException) -> str:
    reasons = {
        phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "has an unknown country code",
        phonenumbers.NumberParseException.NOT_A_NUMBER: "is not a phone number",
        phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "is too short",
        phonenumbers.NumberParseException.TOO_SHORT_NSN: "is too short",
        phonenumbers.NumberParseException.TOO_LONG: "is too long",
    }
    return reasons.get(exc.error_type, "is not a phone number")
