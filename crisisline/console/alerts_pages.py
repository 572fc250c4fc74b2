"""Risk alerts and escalations: lists with filters, an alert with its evidence, and the
actions (acknowledge, resolve, take, close)."""

from __future__ import annotations
