"""A participant's story: one timeline of his calls, texts, voicemails, escalations and alerts, and
his contacts by week, day and night.
"""

from __future__ import annotations
