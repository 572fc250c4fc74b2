"""Participants: search, a participant's page with his timeline and weekly chart, and his
voicemails played through the service."""

from __future__ import annotations
