"""Rotas: each rota's calendar, overrides in local time, safe membership and shift-length
changes with a preview, and each worker's own shifts."""

from __future__ import annotations
