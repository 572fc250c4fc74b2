"""What the Now board shows: on call now and the next handoffs, gaps ahead, live calls, open
escalations and alerts, texts waiting and the scheduler's health.
"""

from __future__ import annotations
