"""Voicemail recordings deleted at the provider, retried until it confirms (see
docs/data-protection.md)."""

from __future__ import annotations
