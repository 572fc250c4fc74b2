"""The texted link to a contact's note form: signed, single-purpose, expiring, and opened only
by the person it was sent to, once signed in."""

from __future__ import annotations
