"""Resettle crisis line: the service package (the app factory is crisisline.app.create_app)."""
