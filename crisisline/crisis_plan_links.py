"""The crisis plan in the worker's hand: the one text with a signed, single-use link to a
one-screen view of the participant's plan, sent when a worker takes his call or text (see
docs/crisis-plans.md)."""

from __future__ import annotations
