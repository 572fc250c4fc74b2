"""Keeping the records: staff and participants created, changed and deactivated, CSV imports
with a preview, and the escalation policies in words."""

from __future__ import annotations
