"""The handover: everything that happened in a period, for the people taking over the line."""

from __future__ import annotations
