"""Escalation policies in words, as people read them: 'If nobody takes it within 2 minutes, ring
and text the backup.'
"""

from __future__ import annotations
