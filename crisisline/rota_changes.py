"""Changing a rota's members or shift length safely: a preview of the shifts that would change,
applied from a chosen handoff onwards.
"""

from __future__ import annotations
