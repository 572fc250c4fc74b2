"""Every sentence the crisis line says or texts, in one place (no Flask, no database, no Twilio).

`wording.staff`: what staff read and hear (escalation texts, reply-code answers, notices).
"""
