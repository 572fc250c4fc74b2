"""Floods: many texts or calls from unknown numbers at once are gathered, not amplified.

A crisis line that answers every text and escalates every contact turns a flood (SMS pumping,
a dialler, a prank) into hundreds of texts abroad and a worker's phone made useless in a real
crisis. So, deciding here and acting in the flows that call this module:

- **Known participants always go through**, one by one, exactly as without a flood: nothing
  here ever holds back a contact, a relay or an automatic reply to a number on a
  participant's record.
- **Contacts from unknown numbers beyond the rate** (more than `unknown_texts` texts, or
  `unknown_calls` missed calls, in `window`) are gathered into ONE open escalation whose
  summary counts them, instead of one escalation each. Below the rate they go through as
  before. Each is still a contact on the record (texts with outcome `gathered`).
- **Automatic replies** to a texter who is not a participant go only to numbers of the
  configured countries, at most `replies_per_number` to one number and `replies_per_hour` in
  all (counting every automatic reply, participants' too) in any hour.
- **The duty managers are told once** when a flood starts and once when it ends (a whole
  window with nothing gathered), by text through the outbox.

See docs/sms.md and docs/calls.md ("Floods").
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Final

import phonenumbers
from sqlalchemy import ColumnElement, distinct, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import wording.staff
from crisisline import escalation_engine
from crisisline.db import Database
from crisisline.escalation_models import EscalationRecord
from crisisline.flood_models import Flood, FloodContact
from crisisline.models import Channel, Contact, Delivery, Direction, Staff
from crisisline.settings import Settings
from escalation import Reach

log = logging.getLogger(__name__)

SUBJECT_TYPE: Final = "flood"
# Missed calls and gathered texts are both "someone nobody has answered yet": the same chain.
POLICY: Final = "missed-call"
NOTICE_PURPOSE: Final = "flood_notice"
# The outbox purposes of the service's automatic replies to texters (sms_conversations).
AUTO_REPLY_PURPOSES: Final = ("sms_acknowledgement", "sms_fallback")
REPLY_PERIOD: Final = dt.timedelta(hours=1)
SERVICE: Final = wording.staff.SERVICE


@dataclass(frozen=True)
class FloodRules:
    """The thresholds of flood handling (settings FLOOD_* and AUTO_REPLIES_*)."""

    window: dt.timedelta = dt.timedelta(minutes=5)
    unknown_texts: int = 5
    unknown_calls: int = 5
    reply_countries: frozenset[str] = frozenset({"GB"})
    replies_per_number: int = 3
    replies_per_hour: int = 30
    zone: dt.tzinfo = field(default=dt.UTC, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> FloodRules:
        """The rules the settings give."""
        return cls(
            window=dt.timedelta(minutes=settings.flood_window_minutes),
            unknown_texts=settings.flood_unknown_texts,
            unknown_calls=settings.flood_unknown_calls,
            reply_countries=frozenset(settings.auto_reply_countries),
            replies_per_number=settings.auto_replies_per_number_per_hour,
            replies_per_hour=settings.auto_replies_per_hour,
            zone=settings.zone,
        )


DEFAULT_RULES: Final = FloodRules()


# ---- automatic replies ---------------------------------------------------------------------


def country_of(phone: str) -> str | None:
    """The country (ISO region) of an E.164 number; Ofcom's drama range counts as GB."""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return None
    # A number phonenumbers does not know as valid (the drama range) still has a country code.
    region = phonenumbers.region_code_for_number(number)
    return region or phonenumbers.region_code_for_country_code(number.country_code or 0)


def reply_refused(
    session: Session, phone: str, *, known: bool, now: dt.datetime, rules: FloodRules
) -> str | None:
    """Why an automatic reply to `phone` must not be sent now, or None when it may.

    A participant's (`known`) is never refused: a crisis line must not go quiet on the people
    it serves. Anyone else's only goes to a configured country, within the per-number and
    the hourly limits.
    """
    if known:
        return None
    country = country_of(phone)
    if country not in rules.reply_countries:
        return f"country {country or 'unknown'} is not one the line replies to"
    since = now - REPLY_PERIOD
    to_number = session.scalar(
        select(func.count(Delivery.id)).where(
            Delivery.to_number == phone,
            Delivery.purpose.in_(AUTO_REPLY_PURPOSES),
            Delivery.created_at > since,
        )
    )
    if int(to_number or 0) >= rules.replies_per_number:
        return f"this number has had {rules.replies_per_number} automatic replies in the hour"
    in_all = session.scalar(
        select(func.count(Delivery.id)).where(
            Delivery.purpose.in_(AUTO_REPLY_PURPOSES), Delivery.created_at > since
        )
    )
    if int(in_all or 0) >= rules.replies_per_hour:
        return f"{rules.replies_per_hour} automatic replies have gone out in the hour"
    return None


# ---- gathering -----------------------------------------------------------------------------


def _unknown(channel: Channel) -> tuple[ColumnElement[bool], ...]:
    """Inbound contacts on `channel` from nobody on a participant's record or staff."""
    staff_phones = select(Staff.phone).where(Staff.active.is_(True))
    return (
        Contact.channel == channel,
        Contact.direction == Direction.INBOUND,
        Contact.participant_id.is_(None),
        # A withheld caller (no number) is unknown too; NOT IN alone would leave him out.
        or_(Contact.from_number.is_(None), Contact.from_number.not_in(staff_phones)),
    )


def beyond_rate(session: Session, contact: Contact, rules: FloodRules) -> bool:
    """True if `contact`, from an unknown number, is over the rate: more than the threshold of
    unknown contacts on its channel came in during the window up to and including it.

    Counted up to this contact (by time and id), not up to now, so that which of a burst go
    through and which are gathered does not depend on how fast they are routed.
    """
    threshold = rules.unknown_texts if contact.channel == Channel.SMS else rules.unknown_calls
    count = session.scalar(
        select(func.count(Contact.id)).where(
            *_unknown(contact.channel),
            Contact.started_at > contact.started_at - rules.window,
            Contact.started_at <= contact.started_at,
            Contact.id <= contact.id,
        )
    )
    return int(count or 0) > threshold


def open_flood(session: Session) -> Flood | None:
    """The flood open now, locked until the transaction ends, if there is one."""
    return session.scalars(
        select(Flood)
        .where(Flood.open_marker == 1)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def gather(
    session: Session, contact: Contact, now: dt.datetime, reach: Reach, rules: FloodRules
) -> Flood:
    """Gather `contact` into the open flood (opening one, and telling the duty managers, if
    none is open), and restate the flood's escalation. The caller marks the contact."""
    flood = open_flood(session) or _start(session, now, reach, rules)
    channel = "sms" if contact.channel == Channel.SMS else "voice"
    session.add(
        FloodContact(
            contact_id=contact.id,
            flood_id=flood.id,
            channel=channel,
            from_number=contact.from_number,
        )
    )
    if channel == "sms":
        flood.texts += 1
    else:
        flood.calls += 1
    flood.last_gathered_at = max(flood.last_gathered_at, now)
    session.flush()
    summary = _summary(session, flood, rules)
    record = (
        session.get(EscalationRecord, flood.escalation_id)
        if flood.escalation_id is not None
        else None
    )
    if record is None or record.status == "closed":
        # Closed by staff while the flood goes on: what comes after needs chasing afresh.
        record = escalation_engine.open_escalation(
            session,
            policy_name=POLICY,
            subject_type=SUBJECT_TYPE,
            subject_id=flood.id,
            participant_id=None,
            summary=summary,
            now=now,
            reach=reach,
        )
        flood.escalation_id = record.id
    else:
        escalation_engine.restate_summary(session, record.id, summary, now)
    return flood


def is_flood_escalation(session: Session, escalation_id: int | None) -> bool:
    """True if the escalation is a flood's, gathering many contacts."""
    if escalation_id is None:
        return False
    record = session.get(EscalationRecord, escalation_id)
    return record is not None and record.subject_type == SUBJECT_TYPE


def _start(session: Session, now: dt.datetime, reach: Reach, rules: FloodRules) -> Flood:
    """Open a flood and tell the duty managers; if another process opened one at the same
    moment, that one."""
    flood = Flood(open_marker=1, started_at=now, last_gathered_at=now, texts=0, calls=0)
    savepoint = session.begin_nested()
    try:
        session.add(flood)
        savepoint.commit()
    except IntegrityError:
        savepoint.rollback()
        existing = open_flood(session)
        if existing is None:
            raise
        return existing
    log.warning("flood %s started: contacts from unknown numbers are being gathered", flood.id)
    _tell_duty_managers(session, started_text(now, rules), now, reach)
    return flood


def _summary(session: Session, flood: Flood, rules: FloodRules) -> str:
    """What the flood's escalation says: how many, from how many numbers, since when, and
    where staff can see them all."""
    texts, numbers, calls, callers = _counts(session, flood)
    parts = []
    if texts:
        parts.append(f"{_n(texts, 'text')} from {_n(numbers, 'unknown number')}")
    if calls:
        parts.append(f"{_n(calls, 'missed call')} from {_n(callers, 'unknown caller')}")
    since = flood.started_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"Flood: {' and '.join(parts)} since {_clock(flood.started_at, rules)}, gathered here. "
        f"See GET /api/v1/contacts?from={since}&direction=inbound"
    )


def _counts(session: Session, flood: Flood) -> tuple[int, int, int, int]:
    """Texts, distinct texting numbers, calls and distinct callers the flood gathered."""
    rows = session.execute(
        select(
            FloodContact.channel,
            func.count(FloodContact.contact_id),
            func.count(distinct(FloodContact.from_number)),
        )
        .where(FloodContact.flood_id == flood.id)
        .group_by(FloodContact.channel)
    ).all()
    by_channel = {channel: (int(total), int(numbers)) for channel, total, numbers in rows}
    texts, numbers = by_channel.get("sms", (0, 0))
    calls, callers = by_channel.get("voice", (0, 0))
    return texts, numbers, calls, callers


def end_quiet_floods(db: Database, now: dt.datetime, reach: Reach, rules: FloodRules) -> int:
    """End the open flood once a whole window has passed with nothing gathered, and tell the
    duty managers once (the scheduler's escalation sweep). How many ended (0 or 1)."""
    with db.transaction() as session:
        flood = open_flood(session)
        if flood is None or now - flood.last_gathered_at < rules.window:
            return 0
        flood.open_marker = None
        flood.ended_at = now
        counts = _counts(session, flood)
        log.warning("flood %s ended", flood.id)
        body = ended_text(counts, flood.started_at, flood.last_gathered_at, rules)
        _tell_duty_managers(session, body, now, reach)
        return 1


def _tell_duty_managers(session: Session, body: str, now: dt.datetime, reach: Reach) -> None:
    told = escalation_engine.text_duty_managers(
        session, body, purpose=NOTICE_PURPOSE, now=now, from_=reach.from_number
    )
    if not told:
        log.error("flood notice: there is no active duty manager to tell")


def started_text(now: dt.datetime, rules: FloodRules) -> str:
    """To the duty managers: a flood from unknown numbers started, and what the line does now."""
    return (
        f"{SERVICE}: many texts or calls from unknown numbers since {_clock(now, rules)} "
        f"(more than {rules.unknown_texts} texts or {rules.unknown_calls} missed calls in "
        f"{_minutes(rules)}). Until it stops they are gathered into one escalation, not one "
        "each. Participants still reach on-call one by one. You will be told when it ends."
    )


def ended_text(
    counts: tuple[int, int, int, int], started: dt.datetime, last: dt.datetime, rules: FloodRules
) -> str:
    """To the duty managers: the flood is over; `counts` is (texts, numbers, calls, callers)."""
    texts, numbers, calls, callers = counts
    gathered = []
    if texts:
        gathered.append(f"{_n(texts, 'text')} from {_n(numbers, 'number')}")
    if calls:
        gathered.append(f"{_n(calls, 'missed call')} from {_n(callers, 'caller')}")
    return (
        f"{SERVICE}: the flood from unknown numbers is over. "
        f"{' and '.join(gathered) or 'Nothing'} gathered, {_clock(started, rules)} "
        f"to {_clock(last, rules)}, all on the record; its escalation "
        "stays open until someone takes it. Contacts go through one by one again."
    )


def _clock(at: dt.datetime, rules: FloodRules) -> str:
    return at.astimezone(rules.zone).strftime("%H:%M")


def _minutes(rules: FloodRules) -> str:
    return _n(int(rules.window.total_seconds() // 60), "minute")


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
