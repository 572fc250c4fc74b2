"""Short signed links texted to one member of staff about one contact (the note form's link,
crisisline.note_prompts; the crisis plan's, crisisline.crisis_plan_links).

A token names the contact, the person it was sent to and when it stops working, in base 36,
signed with SECRET_KEY under a salt of its own (so that no other signed value opens it) by an
HMAC-SHA256 cut to 96 bits: short enough for the link and its text to fit one SMS segment, far
beyond guessing within a link's hours, and a link opens nothing without its person's sign-in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from typing import Final

from itsdangerous import BadSignature, Signer
from itsdangerous.signer import HMACAlgorithm

SIGNATURE_BYTES: Final = 12
_PAYLOAD: Final = re.compile(r"([0-9a-z]{1,13})\.([0-9a-z]{1,13})\.([0-9a-z]{1,13})")
_DIGITS: Final = "0123456789abcdefghijklmnopqrstuvwxyz"


class LinkError(Exception):
    """A link that is not one of ours: made up, changed, or of another kind."""


class Expired(LinkError):
    """A genuine link whose time is up."""


class NotForYou(LinkError):
    """A genuine link sent to another member of staff."""


@dataclass(frozen=True)
class Link:
    """What a link says: the contact, whom it was sent to, and until when it works."""

    contact_id: int
    staff_id: int
    expires_at: dt.datetime


class _ShortHMAC(HMACAlgorithm):
    def get_signature(self, key: bytes, value: bytes) -> bytes:
        return super().get_signature(key, value)[:SIGNATURE_BYTES]


def base36(number: int) -> str:
    """`number` in base 36 (0-9, a-z)."""
    if number < 0:
        raise ValueError("a link carries no negative number")
    digits = ""
    while True:
        number, digit = divmod(number, 36)
        digits = _DIGITS[digit] + digits
        if number == 0:
            return digits


@dataclass(frozen=True)
class LinkKind:
    """One kind of link: its salt, and what it is called in errors ("a note link")."""

    salt: str
    name: str

    def signer(self, secret_key: str) -> Signer:
        """The signer of this kind's tokens."""
        return Signer(
            secret_key,
            salt=self.salt,
            digest_method=hashlib.sha256,
            algorithm=_ShortHMAC(hashlib.sha256),
        )

    def token(self, secret_key: str, link: Link) -> str:
        """The signed token of `link` (URL-safe, about 35 characters)."""
        parts = (link.contact_id, link.staff_id, int(link.expires_at.timestamp()))
        payload = ".".join(base36(part) for part in parts)
        return self.signer(secret_key).sign(payload).decode("ascii")

    def read(self, secret_key: str, value: str, now: dt.datetime) -> Link:
        """What a token says; LinkError if it is not one of this kind, Expired if its time
        is up."""
        refused = f"not {self.name}"
        try:
            payload = self.signer(secret_key).unsign(value.encode("ascii")).decode("ascii")
        except (BadSignature, UnicodeError):
            raise LinkError(refused) from None
        found = _PAYLOAD.fullmatch(payload)
        if found is None:
            raise LinkError(refused)
        contact_id, staff_id, expires = (int(part, 36) for part in found.groups())
        try:
            expires_at = dt.datetime.fromtimestamp(expires, dt.UTC)
        except (OverflowError, OSError, ValueError):
            raise LinkError(refused) from None
        if now >= expires_at:
            raise Expired("the link has expired")
        return Link(contact_id, staff_id, expires_at)
