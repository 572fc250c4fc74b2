"""The handover in the console: any period ("since 17:00 yesterday"), everything in it."""

from __future__ import annotations
