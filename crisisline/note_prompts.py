"""Prompts to write a note: a text to the worker who handled a contact when it ends, with a
link to its note form, and one reminder if there is still no note after a while."""

from __future__ import annotations
