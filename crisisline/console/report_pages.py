"""The reports page: the service's measures over a period, against their targets, with charts,
breakdowns, the contacts behind each figure, and CSV downloads."""

from __future__ import annotations
