"""Escalation policies and the engine that advances open escalations (no Flask, no Twilio)."""
