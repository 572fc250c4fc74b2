"""Charts for the console, drawn by pygal as SVG."""

from __future__ import annotations
