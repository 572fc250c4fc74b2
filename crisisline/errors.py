"""Domain errors that every caller (API, CLI, import) turns into an answer a person can act on."""

from __future__ import annotations


class DomainError(Exception):
    """Base class: `field` names the input at fault where there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    """The record asked for does not exist."""


class Conflict(DomainError):
    """The change clashes with another record (a number already held, a reference in use)."""


class InvalidInput(DomainError):
    """The input is well-formed but not acceptable (an officer without the role, say)."""
