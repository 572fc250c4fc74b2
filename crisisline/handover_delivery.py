"""The morning handover sent every day: by email (plain text and HTML) through the email
outbox, or as one text with the console link where there is no email."""

from __future__ import annotations
