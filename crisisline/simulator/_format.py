"""Small pure helpers: E.164 checks, redaction for logs, SMS segments, Twilio dates."""

from __future__ import annotations

import math
import re
from datetime import datetime
from email.utils import format_datetime

_E164 = re.compile(r"\+[1-9]\d{6,14}")
_ALPHANUMERIC_SENDER = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}")

_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


def is_e164(number: str) -> bool:
    """True for a number written in E.164 (+ then 7 to 15 digits)."""
    return _E164.fullmatch(number) is not None


def is_alphanumeric_sender(sender: str) -> bool:
    """True for an alphanumeric sender ID: up to 11 letters, digits and spaces, with a letter."""
    return _ALPHANUMERIC_SENDER.fullmatch(sender) is not None


def require_e164(number: str) -> str:
    """Return the number, or raise ValueError when it is not E.164."""
    if not is_e164(number):
        raise ValueError(f"{number!r} is not an E.164 phone number such as +447700900123")
    return number


def redact(number: str | None) -> str:
    """A number safe to log: all but the last three digits hidden."""
    digits = re.sub(r"\D", "", number or "")
    return "***" + digits[-3:] if digits else "withheld"


def country_of(number: str) -> str:
    """ISO country for the few prefixes the simulator meets; Twilio sends it on webhooks."""
    if number.startswith("+44"):
        return "GB"
    if number.startswith("+1"):
        return "US"
    return ""


def segments(body: str) -> int:
    """SMS segments for `body`: GSM-7 160/153 per segment, otherwise UCS-2 70/67."""
    if all(ch in _GSM7_BASIC or ch in _GSM7_EXTENSION for ch in body):
        septets = sum(2 if ch in _GSM7_EXTENSION else 1 for ch in body)
        return 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(body.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


def twilio_date(moment: datetime) -> str:
    """Twilio's RFC 2822 date format, e.g. 'Mon, 06 Jan 2025 03:04:05 +0000'."""
    return format_datetime(moment)


def seconds_to_say(text: str) -> float:
    """Roughly how long a text-to-speech voice takes to say `text`."""
    return max(1.0, len(text.split()) / 2.5)
