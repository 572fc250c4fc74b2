"""Reading Twilio's form fields: a missing or malformed field is a named error, never a 500."""

from __future__ import annotations

from flask import request


class FormError(Exception):
    """A webhook form field is missing or malformed."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def required(*names: str) -> str:
    """The first of `names` present and non-empty in the form, or FormError naming the first."""
    for name in names:
        value = request.form.get(name, "").strip()
        if value:
            if len(value) > 200:
                raise FormError(name, f"{name} is too long")
            return value
    raise FormError(names[0], f"{names[0]} is missing")


def optional_int(name: str) -> int | None:
    """The integer field `name`, None when absent, FormError when not a number."""
    value = request.form.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise FormError(name, f"{name} must be a whole number") from None
