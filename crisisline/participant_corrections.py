"""Corrections of a participant's details, each with its reason and the values before (see
docs/data-protection.md)."""

from __future__ import annotations
