"""SMS opt-out (STOP) state per number, following Twilio's keyword rules.

On a long code Twilio itself acts on STOP, STOPALL, UNSUBSCRIBE, END, QUIT, CANCEL, OPTOUT and
REVOKE: it answers the sender and refuses every later text to that number with error 21610
until the number texts START, UNSTOP or YES. Twilio still forwards these texts to the webhook,
so the service mirrors the state here: it never queues a text that would fail, and it tells
staff, because a participant who texts STOP has silently cut off follow-up by text (hazard H12).
A keyword only counts when it is the whole message (trimmed, any case), as Twilio reads it.
"""

from __future__ import annotations

import datetime as dt
from typing import Final, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from crisisline.conversation_models import SmsOptOut
from crisisline.models import Channel, Delivery

OPT_OUT_KEYWORDS: Final = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT", "CANCEL", "OPTOUT", "REVOKE"}
)
OPT_IN_KEYWORDS: Final = frozenset({"START", "UNSTOP", "YES"})
# Twilio's error for a text to a number that has opted out.
UNSUBSCRIBED_ERROR: Final = 21610
REFUSED_REASON: Final = f"error {UNSUBSCRIBED_ERROR}"

Keyword = Literal["opt_out", "opt_in"]


def keyword(body: str) -> Keyword | None:
    """Whether `body` is one of Twilio's opt-out or opt-in keywords, as Twilio reads them."""
    word = body.strip().upper()
    if word in OPT_OUT_KEYWORDS:
        return "opt_out"
    if word in OPT_IN_KEYWORDS:
        return "opt_in"
    return None


def opt_out(
    session: Session, phone: str, reason: str, now: dt.datetime, participant_id: int | None = None
) -> bool:
    """Record that `phone` opted out; False if it already had."""
    row = session.get(SmsOptOut, phone)
    if row is None:
        row = SmsOptOut(phone=phone, opted_out=False, reason=reason, changed_at=now)
        session.add(row)
    if participant_id is not None:
        row.participant_id = participant_id
    if row.opted_out:
        return False
    row.opted_out = True
    row.reason = reason[:40]
    row.opted_out_at = now
    row.changed_at = now
    session.flush()
    return True


def opt_in(
    session: Session, phone: str, reason: str, now: dt.datetime, participant_id: int | None = None
) -> bool:
    """Record that `phone` opted back in (START); True if it had been opted out."""
    was_out = is_opted_out(session, phone)
    row = session.get(SmsOptOut, phone)
    if row is None:
        row = SmsOptOut(phone=phone, opted_out=False, reason=reason, changed_at=now)
        session.add(row)
    if participant_id is not None:
        row.participant_id = participant_id
    row.opted_out = False
    row.reason = reason[:40]
    row.opted_in_at = now
    row.changed_at = now
    session.flush()
    return was_out


def is_opted_out(session: Session, phone: str) -> bool:
    """True if texts to `phone` would be refused: it texted STOP, or Twilio said 21610 since."""
    row = session.get(SmsOptOut, phone)
    if row is not None and row.opted_out:
        return True
    # A refused delivery shows an opt-out the service never saw (a STOP sent while the
    # webhook was down, or to another of the line's numbers): believe Twilio.
    return refused_since(session, phone, row.opted_in_at if row is not None else None)


def refused_since(session: Session, phone: str, since: dt.datetime | None) -> bool:
    """True if an SMS to `phone` failed with 21610 after `since` (ever, when None)."""
    query = select(Delivery.id).where(
        Delivery.to_number == phone,
        Delivery.channel == Channel.SMS,
        Delivery.error_code == UNSUBSCRIBED_ERROR,
    )
    if since is not None:
        query = query.where(Delivery.updated_at > since)
    return session.scalars(query.limit(1)).first() is not None


def refused_numbers(session: Session, since: dt.datetime) -> list[str]:
    """Numbers with an SMS refused for opt-out (21610) since `since` and no opt-out recorded."""
    numbers = session.scalars(
        select(Delivery.to_number)
        .where(
            Delivery.channel == Channel.SMS,
            Delivery.error_code == UNSUBSCRIBED_ERROR,
            Delivery.updated_at >= since,
        )
        .distinct()
    ).all()
    result = []
    for phone in numbers:
        row = session.get(SmsOptOut, phone)
        if row is not None and row.opted_out:
            continue
        if refused_since(session, phone, row.opted_in_at if row is not None else None):
            result.append(phone)
    return sorted(result)
