"""Reading Twilio's form fields: a missing or malformed field is a named error, never a 500.

Every value is checked against the column it goes into before the database sees it, so bad
input is answered 422 (a field that identifies something: a SID) or recorded with the value
cleaned and cut (a field that describes a contact: who sent it, what it said). A value the
database would refuse must never reach it: its failure would look like the database being
down, and take the fail-safe path meant for that.

Each reader takes the form it reads (a spooled request is read again later, outside any
request: crisisline.spool); left out, it reads the current request's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from flask import request

Form = Mapping[str, str]

# Twilio's SIDs: two capital letters (CA a call, SM a text, RE a recording) and 32 hex digits.
SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")
# What PostgreSQL text cannot hold (NUL), and what only confuses a phone or a log (other
# control characters).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_FIELD = 200  # the most any other required field may hold
SID_STORED = 64  # the columns that hold a SID (contacts.twilio_sid, deliveries.provider_sid)
MAX_INT = 2**31 - 1  # an INTEGER column


class FormError(Exception):
    """A webhook form field is missing or malformed."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _form(form: Form | None) -> Form:
    return request.form if form is None else form


def required(*names: str, form: Form | None = None, longest: int = MAX_FIELD) -> str:
    """The first of `names` present and non-empty in the form, or FormError naming the first;
    FormError too when it is longer than `longest` (its column's length)."""
    fields = _form(form)
    for name in names:
        value = fields.get(name, "").strip()
        if value:
            if len(value) > longest:
                raise FormError(name, f"{name} is too long")
            return value
    raise FormError(names[0], f"{names[0]} is missing")


def sid(*names: str, form: Form | None = None) -> str:
    """The first of `names` present (as `required`), which must be a Twilio SID (34
    characters: two letters and 32 hex digits); FormError naming it otherwise."""
    fields = _form(form)
    for name in names:
        value = fields.get(name, "").strip()
        if value:
            if SID.fullmatch(value) is None:
                raise FormError(name, f"{name} is not a Twilio SID (two letters and 32 hex digits)")
            return value
    raise FormError(names[0], f"{names[0]} is missing")


def cleaned(value: str | None, longest: int) -> str:
    """`value` with control characters (a NUL among them) removed, trimmed, and cut to
    `longest` characters: what a column of that length can hold."""
    return _CONTROL.sub("", value or "").strip()[:longest]


def text(name: str, longest: int, form: Form | None = None) -> str | None:
    """The free-text field `name` cleaned and cut to `longest` (`cleaned`), None if empty."""
    return cleaned(_form(form).get(name), longest) or None


def optional_int(name: str, form: Form | None = None, highest: int = MAX_INT) -> int | None:
    """The whole number field `name` from 0 to `highest`, None when absent, FormError when
    not such a number."""
    value = _form(form).get(name, "").strip()
    if not value:
        return None
    # int() also takes "١٢", "1_000" and 4,300 digits at a cost: plain ASCII digits only.
    if not (value.isascii() and value.lstrip("-").isdigit() and len(value) <= 12):
        raise FormError(name, f"{name} must be a whole number")
    number = int(value)
    if not 0 <= number <= highest:
        raise FormError(name, f"{name} must be a whole number from 0 to {highest}")
    return number
