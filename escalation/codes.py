"""Reply codes: a short number per recipient phone, followed by `a` (take it) or `c` (close).

Codes are per phone, like GoAlert's: each phone's open escalations hold the lowest free numbers
from 1, so staff type `1a` rather than a long id. A code only counts from the phone it was sent
to, which is why the parser returns just the action and the number: the sender's phone is the
other half of the key.
"""

from __future__ import annotations

import re
from collections.abc import Set
from dataclasses import dataclass
from typing import Final, Literal

ReplyAction = Literal["acknowledge", "close"]

# Digits are limited so a pasted phone number or a long figure is not taken for a code.
MAX_CODE_DIGITS: Final = 4
_LETTER: Final[dict[ReplyAction, str]] = {"acknowledge": "a", "close": "c"}
_ACTIONS: Final[dict[str, ReplyAction]] = {
    "a": "acknowledge",
    "ack": "acknowledge",
    "acknowledge": "acknowledge",
    "c": "close",
    "close": "close",
}
_WORD = r"(a|ack|acknowledge|c|close)"
_NUMBER = rf"([0-9]{{1,{MAX_CODE_DIGITS}}})"
_NUMBER_FIRST = re.compile(rf"{_NUMBER}\s*{_WORD}", re.ASCII)
_WORD_FIRST = re.compile(rf"{_WORD}\s*{_NUMBER}", re.ASCII)
_BARE = re.compile(_WORD, re.ASCII)
# Quotes people wrap a code in when they copy it out of the message, straight or curly.
_QUOTES: Final = "'\"`\u2018\u2019\u201c\u201d"
_TRAILING: Final = ".!"


@dataclass(frozen=True)
class ReplyCommand:
    """A parsed reply: take (`acknowledge`) or `close` escalation `code`, or the last one."""

    action: ReplyAction
    code: int | None  # None: "a" or "c" alone, meaning the last escalation sent to that phone


def allocate_code(in_use: Set[int]) -> int:
    """The lowest code from 1 that is not in use on this phone."""
    code = 1
    while code in in_use:
        code += 1
    return code


def format_code(code: int, action: ReplyAction) -> str:
    """The reply that does `action` on `code`, as written in messages: `3a` or `3c`."""
    if isinstance(code, bool) or not isinstance(code, int) or code < 1:
        raise ValueError(f"a reply code is a positive whole number, not {code!r}")
    return f"{code}{_LETTER[action]}"


def parse_reply(text: object) -> ReplyCommand | None:
    """Read a staff reply forgivingly (`3a`, `A3`, `ack 3`, `'3a'`, `close 3`, `a`); else None."""
    if not isinstance(text, str):
        return None
    cleaned = text.strip()
    # Strip wrapping quotes, then the full stop or exclamation mark some phones add.
    cleaned = cleaned.strip(_QUOTES).strip().rstrip(_TRAILING).strip().strip(_QUOTES).strip()
    cleaned = cleaned.lower()
    if len(cleaned) > 20:
        return None
    if match := _NUMBER_FIRST.fullmatch(cleaned):
        number, word = match.group(1), match.group(2)
    elif match := _WORD_FIRST.fullmatch(cleaned):
        word, number = match.group(1), match.group(2)
    elif match := _BARE.fullmatch(cleaned):
        return ReplyCommand(action=_ACTIONS[match.group(1)], code=None)
    else:
        return None
    code = int(number)
    if code < 1:
        return None
    return ReplyCommand(action=_ACTIONS[word], code=code)
