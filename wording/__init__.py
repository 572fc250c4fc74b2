"""Every sentence the crisis line says or texts, in one place (no Flask, no database, no Twilio).

`wording.callers`: what callers and texters hear and read, loaded from the operator-editable
config/crisis_line.toml and checked at start-up.
`wording.staff`: what staff read and hear (escalation texts, reply-code answers, notices,
the prompts of escalation calls and of the call-back menu).
`wording.sms`: the GSM-7 alphabet, segment counting and splitting, which every text is held to.
"""
