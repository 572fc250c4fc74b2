"""The retention run: what is past its time under config/retention.toml, removed or anonymised,
each removal recorded (built by the retention work; see docs/data-protection.md)."""

from __future__ import annotations
