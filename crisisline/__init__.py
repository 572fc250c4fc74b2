"""Resettle crisis line: the app factory and composition root."""

from crisisline.app import create_app

__all__ = ["create_app"]
