"""The Now board (`/`): who is on call, live calls, open escalations and alerts, texts waiting
and the scheduler's health, refreshed in place."""

from __future__ import annotations
