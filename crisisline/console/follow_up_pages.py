"""Console pages for follow-ups: the officer's list, marking one done, and those overdue."""

from __future__ import annotations
