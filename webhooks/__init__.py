"""Twilio webhooks: Flask blueprints that check signatures, parse, call a service, answer TwiML."""
