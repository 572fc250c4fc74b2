"""Subject access: requests tracked to their deadline, and the bundle of a participant's whole
record (see docs/data-protection.md)."""

from __future__ import annotations
