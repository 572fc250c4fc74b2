"""SMS text: the GSM-7 alphabet (GSM 03.38), segment counting, and splitting long texts.

A single character outside GSM-7 switches a whole SMS to UCS-2, which fits 70 characters per
segment instead of 160, so texts the service writes are kept to GSM-7. The alphabet is the
3GPP TS 23.038 default table and its extension table, written out below: it is small, fixed
since the 1990s, and no library we found both carries it with type information and counts
segments the way Twilio bills them.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final, Literal

# The GSM 03.38 default alphabet in table order, 0x00 to 0x7F, without 0x1B (the escape to
# the extension table, never a character of its own).
GSM7_BASIC: Final = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ"
    "ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each of these is sent as escape + character, so it costs two septets.
GSM7_EXTENSION: Final = "\f^{}\\[~]|€"

_BASIC: Final = frozenset(GSM7_BASIC)
_EXTENSION: Final = frozenset(GSM7_EXTENSION)
_GSM7: Final = _BASIC | _EXTENSION

GSM7_SINGLE_SEGMENT: Final = 160
GSM7_MULTIPART_SEGMENT: Final = 153  # 7 septets of each part go on the concatenation header
UCS2_SINGLE_SEGMENT: Final = 70
UCS2_MULTIPART_SEGMENT: Final = 67

# Look-alikes people (and word processors) type, with their GSM-7 stand-ins.
_REPLACEMENTS: Final[dict[str, str]] = {
    # Quotes and primes.
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u00b4": "'",
    "`": "'",
    "\u2039": "'",
    "\u203a": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u201f": '"',
    "\u2033": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    # Hyphens, dashes and minus.
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2015": "-",
    "\u2212": "-",
    "\u2043": "-",
    # Ellipsis, bullets, fraction slash.
    "\u2026": "...",
    "\u2022": "-",
    "\u00b7": ".",
    "\u2044": "/",
    # Spaces: no-break, thin, figure, ideographic and the rest; a tab becomes one space.
    "\t": " ",
    "\u00a0": " ",
    "\u1680": " ",
    "\u2000": " ",
    "\u2001": " ",
    "\u2002": " ",
    "\u2003": " ",
    "\u2004": " ",
    "\u2005": " ",
    "\u2006": " ",
    "\u2007": " ",
    "\u2008": " ",
    "\u2009": " ",
    "\u200a": " ",
    "\u202f": " ",
    "\u205f": " ",
    "\u3000": " ",
    "\u2028": "\n",
    "\u2029": "\n",
    # Invisible characters: zero-width spaces and joiners, soft hyphen, byte-order mark, emoji
    # variation selectors. Dropped, so that one emoji becomes one replacement, not three.
    "\u200b": "",
    "\u200c": "",
    "\u200d": "",
    "\u2060": "",
    "\u00ad": "",
    "\ufeff": "",
    "\ufe0e": "",
    "\ufe0f": "",
    # Signs with a readable spelling.
    "\u00a9": "(c)",
    "\u00ae": "(R)",
    "\u00d7": "x",
    "\u00f7": "/",
}
# Emoji skin-tone modifiers go the same way as variation selectors.
_DROPPED_RANGES: Final = ((0x1F3FB, 0x1F3FF),)


def is_gsm7(text: str) -> bool:
    """True if every character of `text` is in the GSM-7 alphabet or its extension table."""
    return all(character in _GSM7 for character in text)


def sms_encoding(text: str) -> Literal["GSM-7", "UCS-2"]:
    """The encoding an SMS of `text` is sent in."""
    return "GSM-7" if is_gsm7(text) else "UCS-2"


def to_gsm7(text: str, replacement: str = "?") -> str:
    """`text` in the GSM-7 alphabet: look-alikes swapped, accents dropped, the rest `replacement`.

    Meant for texts the service writes. Relaying a person's own words is different: there,
    keeping them exactly (at the cost of UCS-2 segments) may matter more than the price.
    """
    if not is_gsm7(replacement):
        raise ValueError("the replacement must itself be GSM-7")
    return "".join(_gsm7_character(character, replacement) for character in text)


def _gsm7_character(character: str, replacement: str) -> str:
    if character in _GSM7:
        return character
    if character in _REPLACEMENTS:
        return _REPLACEMENTS[character]
    if any(low <= ord(character) <= high for low, high in _DROPPED_RANGES):
        return ""
    # Compatibility decomposition turns "á" into "a" plus an accent, "ﬁ" into "fi", "²" into
    # "2" and full-width letters into ASCII; keep the result only if all of it is GSM-7.
    decomposed = "".join(
        _REPLACEMENTS.get(part, part)
        for part in unicodedata.normalize("NFKD", character)
        if not unicodedata.combining(part)
    )
    if decomposed and is_gsm7(decomposed):
        return decomposed
    return replacement


def segment_count(text: str) -> int:
    """How many SMS segments `text` is billed as (0 for empty text).

    GSM-7: 160 septets in one segment, else 153 per segment, extension characters costing
    two septets. UCS-2: 70 code units in one segment, else 67, characters outside the Basic
    Multilingual Plane (most emoji) costing two. Neither an escape pair nor a surrogate pair
    is split across segments, which can cost a segment more than plain division suggests.
    """
    if not text:
        return 0
    if is_gsm7(text):
        costs = [2 if character in _EXTENSION else 1 for character in text]
        single, multipart = GSM7_SINGLE_SEGMENT, GSM7_MULTIPART_SEGMENT
    else:
        costs = [2 if ord(character) > 0xFFFF else 1 for character in text]
        single, multipart = UCS2_SINGLE_SEGMENT, UCS2_MULTIPART_SEGMENT
    if sum(costs) <= single:
        return 1
    segments, used = 1, 0
    for cost in costs:
        if used + cost > multipart:
            segments += 1
            used = 0
        used += cost
    return segments


_TOKENS = re.compile(r"\S+\s*")


def split_for_sms(text: str, max_parts: int, *, segments_per_part: int = 1) -> list[str]:
    """Split `text` at spaces into at most `max_parts` SMS of `segments_per_part` segments each.

    With more than one part, each starts "(1/3) " so the recipient can read them in order even
    if they arrive out of order. A word too long for one part is cut. If the text needs more
    than `max_parts` parts, the last part ends "..." and the rest is left out: callers that
    must not lose words should check `len(result)` against the need or raise `max_parts`.
    Blank text gives no parts.
    """
    if max_parts < 1:
        raise ValueError("max_parts must be at least 1")
    if segments_per_part < 1:
        raise ValueError("segments_per_part must be at least 1")
    text = text.strip()
    if not text:
        return []
    if segment_count(text) <= segments_per_part:
        return [text]
    tokens = _TOKENS.findall(text)
    digits = 1
    while True:
        # Worst-case prefix for this many digits; ASCII, so every digit costs the same.
        widest = _prefix(10**digits - 1, 10**digits - 1)
        chunks = _pack(tokens, widest, segments_per_part)
        if len(str(len(chunks))) <= digits:
            break
        digits += 1
    if len(chunks) > max_parts:
        chunks = chunks[:max_parts]
        chunks[-1] = _shorten_with_ellipsis(chunks[-1], widest, segments_per_part)
    total = len(chunks)
    return [_prefix(number, total) + chunk for number, chunk in enumerate(chunks, start=1)]


def _prefix(number: int, total: int) -> str:
    return f"({number}/{total}) "


def _fits(text: str, segments: int) -> bool:
    return segment_count(text) <= segments


def _pack(tokens: list[str], prefix: str, segments: int) -> list[str]:
    chunks: list[str] = []
    current = ""
    for token in tokens:
        if _fits(prefix + (current + token).rstrip(), segments):
            current += token
            continue
        if current.strip():
            chunks.append(current.rstrip())
        current = ""
        if _fits(prefix + token.rstrip(), segments):
            current = token
            continue
        # A single word longer than a whole part (a link, a number pasted twice): cut it.
        for character in token.rstrip():
            if current and not _fits(prefix + current + character, segments):
                chunks.append(current)
                current = ""
            current += character
        current += token[len(token.rstrip()) :]
    if current.strip():
        chunks.append(current.rstrip())
    return chunks


def _shorten_with_ellipsis(chunk: str, prefix: str, segments: int) -> str:
    while chunk and not _fits(prefix + chunk + "...", segments):
        cut = chunk.rfind(" ")
        chunk = chunk[:cut].rstrip() if cut > 0 else chunk[:-1]
    return chunk + "..."
