"""What callers and texters hear and read from the crisis line: config/crisis_line.toml.

The organisation edits that file (it is data, reviewed with the hazard log); `load` reads it and
checks it at start-up (the texts there, SMS in GSM-7, a named English voice, timings in range).
It also holds the prompt a member of staff hears when a crisis call reaches their phone, and the
call timings. Fixed wording that staff hear and read is in `wording.staff`.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from pathlib import Path

from wording.sms import is_gsm7

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "config" / "crisis_line.toml"
# Used when a messages file predates [sms] acknowledgement.
DEFAULT_SMS_ACKNOWLEDGEMENT = (
    "Your message has reached the Resettle crisis line. A worker will reply soon. "
    "If you are in danger now, call 999."
)


class CrisisMessagesError(ValueError):
    """The messages file is missing a text or holds one that cannot be used."""


@dataclass(frozen=True)
class CrisisMessages:
    """Spoken and texted wording of the crisis line."""

    language: str
    voice: str
    greeting: str
    fallback_spoken: str
    connecting_fallback: str
    fallback_sms: str
    voicemail_prompt: str = ""
    voicemail_thanks: str = ""
    screening: str = "Crisis line call from {caller}. Press 1 to accept the call."
    screening_missed: str = ""
    ring_timeout_seconds: int = 20
    max_wait_seconds: int = 90
    voicemail_max_seconds: int = 120
    sms_acknowledgement: str = DEFAULT_SMS_ACKNOWLEDGEMENT
    conversation_idle: dt.timedelta = dt.timedelta(hours=24)


def load(path: Path = DEFAULT_PATH) -> CrisisMessages:
    """Read and check the messages file; CrisisMessagesError names what is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CrisisMessagesError(f"{path}: {exc}") from exc

    def text(section: str, key: str) -> str:
        value = data.get(section, {}).get(key)
        if not isinstance(value, str) or not value.strip():
            raise CrisisMessagesError(f"{path}: [{section}] {key} must be a non-empty string")
        return " ".join(value.split())

    def seconds(key: str, low: int, high: int) -> int:
        value = data.get("calls", {}).get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise CrisisMessagesError(
                f"{path}: [calls] {key} must be a whole number of seconds from {low} to {high}"
            )
        return value

    messages = CrisisMessages(
        language=text("voice", "language"),
        voice=text("voice", "voice"),
        greeting=text("voice", "greeting"),
        fallback_spoken=text("voice", "fallback"),
        connecting_fallback=text("voice", "connecting_fallback"),
        fallback_sms=text("sms", "fallback"),
        sms_acknowledgement=(
            text("sms", "acknowledgement")
            if "acknowledgement" in data.get("sms", {})
            else DEFAULT_SMS_ACKNOWLEDGEMENT
        ),
        conversation_idle=_idle_hours(data.get("sms", {}).get("conversation_idle_hours", 24), path),
        voicemail_prompt=text("voice", "voicemail_prompt"),
        voicemail_thanks=text("voice", "voicemail_thanks"),
        screening=text("voice", "screening"),
        screening_missed=text("voice", "screening_missed"),
        ring_timeout_seconds=seconds("ring_timeout_seconds", 5, 60),
        max_wait_seconds=seconds("max_wait_seconds", 20, 600),
        voicemail_max_seconds=seconds("voicemail_max_seconds", 10, 600),
    )
    if "{caller}" not in messages.screening:
        raise CrisisMessagesError(f"{path}: [voice] screening must contain {{caller}}")
    if not is_gsm7(messages.fallback_sms):
        raise CrisisMessagesError(f"{path}: [sms] fallback must use only GSM-7 characters")
    if not is_gsm7(messages.sms_acknowledgement):
        raise CrisisMessagesError(f"{path}: [sms] acknowledgement must use only GSM-7 characters")
    if not messages.voice.startswith(("Polly.", "Google.")) or not messages.language.startswith(
        "en-"
    ):
        raise CrisisMessagesError(f"{path}: [voice] needs an English language and a named voice")
    return messages


def _idle_hours(hours: object, path: Path) -> dt.timedelta:
    """[sms] conversation_idle_hours as a duration: 1 hour to 14 days."""
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not 1 <= hours <= 336:
        raise CrisisMessagesError(f"{path}: [sms] conversation_idle_hours must be 1 to 336")
    return dt.timedelta(hours=hours)
