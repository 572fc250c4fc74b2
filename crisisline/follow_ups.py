"""Follow-ups: what notes ask responsible officers to do, until the officer marks it done."""

from __future__ import annotations
