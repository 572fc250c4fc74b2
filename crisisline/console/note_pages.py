"""Console pages for contacts and their notes: a contact's page with every version of its note,
and the phone-first note form (a new note, or a correction that keeps the old version)."""

from __future__ import annotations
