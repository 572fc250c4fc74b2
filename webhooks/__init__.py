"""Twilio webhooks: thin Flask blueprints that check the signature, parse, call a service, render TwiML."""
