"""Webhook requests kept in the spool (crisisline.spool, by webhooks.spooled): recording each
later exactly as its webhook would have.

Spooled, each a crisis contact that must not vanish:
- `POST /webhooks/sms`: a text. Recorded as the webhook records it (once per MessageSid, at the
  time it came in); the scheduler's route-texts job then routes it as any other text
  (acknowledgement, relay to on-call, escalation, risk rules).
- `POST /webhooks/voice`: a new call, whose caller heard the fail-safe. Recorded as a missed call
  at the time it came in, with the unanswered-call alert and the missed-call escalation, so
  staff call back (`calls.fail_safe_answered`); nothing if its CallSid is on the record already.
- `POST /webhooks/voice/voicemail`: a voicemail left on a call that was recorded. Kept as the
  webhook keeps it (`calls.voicemail_left`), which opens or amends the missed-call escalation.

The other callbacks are not spooled: each follows a call or delivery already on the record,
and something else already catches its loss (docs/deployment.md says what).
"""

from __future__ import annotations

from collections.abc import Callable

from werkzeug.datastructures import MultiDict

from crisisline import calls, sms_intake
from crisisline.services import Services
from crisisline.spool import Entry
from crisisline.telephony import is_valid_signature, public_url
from webhooks import sms, voice

SMS = "/webhooks/sms"
VOICE = "/webhooks/voice"
VOICEMAIL = "/webhooks/voice/voicemail"


class Unverified(Exception):
    """A spooled request whose signature does not check out: never recorded, and kept."""


class Unknown(Exception):
    """A spooled request for a path that is not spooled: kept for a person to look at."""


def record(svc: Services, entry: Entry) -> None:
    """Record `entry` as its webhook would have; raises (and it stays in the spool) if it
    cannot be, now or ever (Unverified, Unknown, FormError)."""
    url = public_url(svc.settings.public_base_url, entry.path, entry.query.encode())
    params = MultiDict(list(entry.params))
    if not is_valid_signature(svc.settings.twilio_auth_token, url, params, entry.signature):
        raise Unverified(entry.path)
    form = entry.form()
    region = svc.settings.default_region
    recorders: dict[str, Callable[[], object]] = {
        SMS: lambda: _text(svc, sms.inbound_text(region, form), entry),
        VOICE: lambda: _call(svc, voice.incoming(form, entry.received_at, region)),
        VOICEMAIL: lambda: voice.record_voicemail(svc, form, svc.clock.now()),
    }
    recorder = recorders.get(entry.path)
    if recorder is None:
        raise Unknown(entry.path)
    recorder()


def _text(svc: Services, text: sms_intake.InboundText, entry: Entry) -> None:
    svc.db.in_transaction(
        lambda session: sms_intake.keep_unrouted(session, text, entry.received_at)
    )


def _call(svc: Services, call: calls.IncomingCall) -> None:
    svc.db.in_transaction(
        lambda session: calls.fail_safe_answered(
            session,
            call,
            svc.clock.now(),
            svc.reach,
            svc.settings.zone,
            svc.alerting,
            svc.flood_rules,
        )
    )
