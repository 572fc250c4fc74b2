"""What the crisis line says and texts to participants, loaded from config/crisis_line.toml."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from crisisline.telephony import is_gsm7

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "config" / "crisis_line.toml"


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

    messages = CrisisMessages(
        language=text("voice", "language"),
        voice=text("voice", "voice"),
        greeting=text("voice", "greeting"),
        fallback_spoken=text("voice", "fallback"),
        connecting_fallback=text("voice", "connecting_fallback"),
        fallback_sms=text("sms", "fallback"),
    )
    if not is_gsm7(messages.fallback_sms):
        raise CrisisMessagesError(f"{path}: [sms] fallback must use only GSM-7 characters")
    if not messages.voice.startswith(("Polly.", "Google.")) or not messages.language.startswith(
        "en-"
    ):
        raise CrisisMessagesError(f"{path}: [voice] needs an English language and a named voice")
    return messages
