"""Legal holds on participants: while one is in place, no retention rule touches his records
(see docs/data-protection.md)."""

from __future__ import annotations
