"""Crisis calls: ring the on-call chain, trust only a screened keypress, fall back safely.

The webhooks ask this module what to do next and render its answer as TwiML:

- `receive_call`: a call arrives; record it once per CallSid and ring the first step;
- `screen` / `accept`: the staff member who picked up heard who is calling and pressed 1;
- `dial_finished`: the Dial ended; answered (by a press, never by Twilio's word alone), the
  next step, or the fallback message and a voicemail;
- `voicemail_left`, `call_ended`: the end of the call, opening a missed-call escalation once
  whenever nobody took it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import Session

from crisisline import (
    alerts,
    contacts,
    crisis_plan_links,
    escalation_engine,
    escalation_policies,
    floods,
    participants,
    phones,
)
from crisisline import staff as staff_service
from crisisline.call_models import LiveCall
from crisisline.db import new_row, save
from crisisline.errors import NotFound
from crisisline.escalation_models import EscalationRecord
from crisisline.models import Channel, Contact, ContactOutcome, Direction, Participant, Staff
from escalation import ByOperator, EscalationPolicy, Reach, Recipient, Target
from wording.callers import CrisisMessages

log = logging.getLogger(__name__)

CRISIS_POLICY = "crisis-call"
MISSED_POLICY = "missed-call"
RECORDING_URL_STORED = 500  # contacts.recording_url
MAX_NUMBERS_PER_DIAL = 10  # Twilio rings at most ten <Number>s at once
MIN_RING_SECONDS = 5


@dataclass(frozen=True)
class Ring:
    """Ring these staff phones at once, for `timeout` seconds (step `step` of loop `loop`)."""

    recipients: tuple[Recipient, ...]
    timeout: int
    step: int = 0
    loop: int = 0


@dataclass(frozen=True)
class CallPlan:
    """What the caller's call does next."""

    call_id: int
    action: Literal["ring", "fallback", "done", "staff_menu"]
    ring: Ring | None = None
    menu: tuple[CallBackChoice, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class CallBackChoice:
    """One missed call a staff member can return through the line."""

    escalation_id: int
    label: str
    number: str
    recording_url: str | None


def caller_label(participant: Participant | None) -> str:
    """How a staff member hears the caller announced: first name and reference, or unknown."""
    if participant is None:
        return "an unknown caller"
    first = participant.name.split()[0] if participant.name.split() else participant.reference
    return f"{first}, {participant.reference}"


def _who(participant: Participant | None, number: str | None) -> str:
    if participant is not None:
        parts = participant.name.split()
        short = f"{parts[0][0]}. {parts[-1]}" if len(parts) > 1 else participant.name
        return f"{participant.reference} {short}"
    return number or "a withheld number"


@dataclass(frozen=True)
class IncomingCall:
    """A call to the crisis number as its first webhook gives it."""

    call_sid: str
    from_raw: str | None  # as Twilio sent it: "anonymous", "+266696687", a national number
    to_raw: str | None
    now: dt.datetime
    region: str  # how national numbers are read (DEFAULT_REGION)

    @property
    def caller(self) -> str | None:
        """The caller's number in E.164, or None when withheld or not a number."""
        return phones.caller_number(self.from_raw, self.region)

    def contact(self) -> CallContact:
        """The fields its contact is recorded with (who it is and its outcome are added)."""
        return CallContact(
            channel=Channel.VOICE,
            direction=Direction.INBOUND,
            from_number=self.caller,
            to_number=phones.caller_number(self.to_raw, self.region),
            twilio_sid=self.call_sid,
            started_at=self.now,
        )


def receive_call(
    session: Session,
    call: IncomingCall,
    messages: CrisisMessages,
    alerting: alerts.Alerting | None = None,
) -> CallPlan:
    """A call to the crisis number: record it once and decide the first thing it does."""
    call_sid, now, caller = call.call_sid, call.now, call.caller
    staff = staff_service.active_by_phone(session, caller)
    participant_id = participants.id_by_phone(session, caller) if caller else None
    contact, created = contacts.record(
        session,
        **call.contact(),
        participant_id=participant_id,
        outcome=ContactOutcome.RINGING if staff is None else ContactOutcome.STAFF_CALL,
        handled_by_staff_id=staff.id if staff else None,
    )
    if not created:
        live = session.scalars(select(LiveCall).where(LiveCall.call_sid == call_sid)).first()
        if live is not None:
            # Twilio delivered the same webhook again: answer as the call stands, change nothing.
            return _current_plan(session, live, now, messages)
    live = new_live_call(call_sid, contact.id, "staff" if staff is not None else "crisis", now)
    if staff is not None:
        menu = tuple(call_back_choices(session))
        # The keys mean what the caller heard: a missed call arriving while they listen must
        # not shift "Press 1" onto someone else.
        live.detail = {"menu": [choice.escalation_id for choice in menu]}
        save(session, live)
        return CallPlan(live.id, "staff_menu", menu=menu)
    # _next fills in the step before the row is first written (it adds it to the session
    # last, so that no query on the way autoflushes it early): one INSERT, no UPDATE.
    return _next(session, live, contact, now, messages, alerting)


class CallContact(TypedDict):
    """The fields every new incoming call's contact is recorded with."""

    channel: Channel
    direction: Direction
    from_number: str | None
    to_number: str | None
    twilio_sid: str
    started_at: dt.datetime


def new_live_call(call_sid: str, contact_id: int | None, kind: str, now: dt.datetime) -> LiveCall:
    """A call just arrived, before its first step is chosen (not yet written)."""
    return LiveCall(**new_live_call_row(call_sid, contact_id, kind, now))


def new_live_call_row(
    call_sid: str, contact_id: int | None, kind: str, now: dt.datetime
) -> dict[str, Any]:
    """The row of a call just arrived, by column, before its first step is chosen."""
    return new_row(
        LiveCall,
        call_sid=call_sid,
        contact_id=contact_id,
        kind=kind,
        step_index=-1,
        loop=0,
        ringing=[],
        started_at=now,
        updated_at=now,
        detail={},
    )


def _current_plan(
    session: Session, live: LiveCall, now: dt.datetime, messages: CrisisMessages
) -> CallPlan:
    if live.kind == "staff":
        return CallPlan(live.id, "staff_menu", menu=tuple(offered_choices(session, live)))
    if live.accepted_staff_id is not None:
        return CallPlan(live.id, "done")
    if live.fallback_at is not None or not live.ringing:
        return CallPlan(live.id, "fallback")
    recipients = tuple(Recipient(s.id, s.phone) for s in _staff(session, live.ringing) if s.active)
    ring = Ring(
        recipients, ring_timeout(live.started_at, now, messages), live.step_index, live.loop
    )
    return CallPlan(live.id, "ring", ring=ring)


def _staff(session: Session, ids: list[int]) -> list[Staff]:
    return [s for s in (session.get(Staff, i) for i in ids) if s is not None]


def ring_timeout(started_at: dt.datetime, now: dt.datetime, messages: CrisisMessages) -> int:
    """How long a ring may last: the step's timeout, cut to what is left of the caller's
    maximum wait since `started_at` (never under MIN_RING_SECONDS)."""
    remaining = messages.max_wait_seconds - (now - started_at).total_seconds()
    return int(max(MIN_RING_SECONDS, min(messages.ring_timeout_seconds, remaining)))


def next_ring(
    policy: EscalationPolicy,
    resolve: Callable[[Target], Sequence[Recipient]],
    step: int,
    loop: int,
) -> tuple[int, int, tuple[Recipient, ...]] | None:
    """The step after (`step`, `loop`) that reaches anyone: its step, loop and whom to ring
    (at most ten, without repeats), or None when the chain has run out. Steps with nobody on
    call are skipped at once: the caller never waits while nobody rings."""
    for _ in range(len(policy.steps) * policy.loops):
        step += 1
        if step >= len(policy.steps):
            step, loop = 0, loop + 1
        if loop >= policy.loops:
            break
        reached: list[Recipient] = []
        for target in policy.steps[step].targets:
            for recipient in resolve(target):
                if all(recipient.phone != other.phone for other in reached):
                    reached.append(recipient)
        if not reached:
            log.warning("crisis call: step %s reaches nobody free; skipped", step)
            continue
        return step, loop, tuple(reached[:MAX_NUMBERS_PER_DIAL])
    return None


def _next(
    session: Session,
    live: LiveCall,
    contact: Contact,
    now: dt.datetime,
    messages: CrisisMessages,
    alerting: alerts.Alerting | None,
) -> CallPlan:
    """Ring the next step that reaches anyone, or fall back when the chain or the wait runs out."""
    waited = (now - live.started_at).total_seconds()
    if waited + MIN_RING_SECONDS <= messages.max_wait_seconds:
        policy, _ = escalation_policies.get_policy(session, CRISIS_POLICY)
        resolve = escalation_policies.resolver(session, now)
        busy = busy_staff(session, now, live.id, messages)
        found = next_ring(policy, _free(resolve, busy), live.step_index, live.loop)
        if found is None and busy and contact.participant_id is not None:
            # Everyone left in the chain is ringing for another call or on one: a
            # participant's call rings them all the same (call waiting) rather than nobody.
            found = next_ring(policy, resolve, live.step_index, live.loop)
        if found is not None:
            step, loop, reached = found
            live.step_index, live.loop = step, loop
            live.ringing = [r.staff_id for r in reached]
            live.updated_at = now
            ring = Ring(reached, ring_timeout(live.started_at, now, messages), step, loop)
            save(session, live)
            return CallPlan(live.id, "ring", ring=ring)
    live.fallback_at = live.fallback_at or now
    live.ringing = []
    live.updated_at = now
    contact.outcome = ContactOutcome.MISSED
    contact.wait_seconds = int(waited)
    save(session, live)
    if alerting is not None:
        # The live chain ran out: a crisis call nobody answered is a risk alert in itself.
        _raise_unanswered(session, live, contact, now, alerting)
    return CallPlan(live.id, "fallback")


# A staff phone that picked up a crisis call is counted on it for at most this long after the
# call began when its end never reached the service (a lost status callback): long enough for
# a long crisis call, short enough that a lost callback does not sideline someone for a shift.
ON_CALL_AT_MOST = dt.timedelta(hours=2)
# Ringing ends by the caller's maximum wait; this much more covers a Dial action still on its way.
RINGING_MARGIN = dt.timedelta(seconds=60)


def ringing_after(now: dt.datetime, messages: CrisisMessages) -> dt.datetime:
    """A call not taken that began before this has stopped ringing anyone by `now`."""
    return now - dt.timedelta(seconds=messages.max_wait_seconds) - RINGING_MARGIN


def holds_a_phone(call: Any, ringing_since: Any) -> ColumnElement[bool]:
    """Whether a live call (not yet ended) holds a staff phone: a staff member's own call, a
    call someone took, or one still ringing its step (not in the fallback, not too old).
    `call` is the columns of `calls` or an alias of them; `ringing_since` a time or column."""
    return or_(
        call.kind == "staff",
        call.accepted_staff_id.is_not(None),
        and_(call.fallback_at.is_(None), call.started_at > ringing_since),
    )


def busy_staff(
    session: Session, now: dt.datetime, this_call_id: int | None, messages: CrisisMessages
) -> set[int]:
    """The staff whose phones are ringing for another live call, or on a call through the
    line, now: a phone in use is not rung for a second call at the same time."""
    ringing_since = ringing_after(now, messages)
    rows = session.execute(
        select(
            LiveCall.id,
            LiveCall.kind,
            LiveCall.ringing,
            LiveCall.accepted_staff_id,
            LiveCall.fallback_at,
            LiveCall.started_at,
            Contact.handled_by_staff_id,
        )
        .join(Contact, Contact.id == LiveCall.contact_id)
        .where(
            LiveCall.started_at > now - ON_CALL_AT_MOST,
            Contact.ended_at.is_(None),
            holds_a_phone(LiveCall.__table__.c, ringing_since),
        )
    ).all()
    busy: set[int] = set()
    for call_id, kind, ringing, accepted, fallback_at, started_at, handled_by in rows:
        if call_id == this_call_id:
            continue
        if kind == "staff":
            if handled_by is not None:
                busy.add(handled_by)  # a worker calling someone back through the line
        elif accepted is not None:
            busy.add(accepted)
        elif fallback_at is None and started_at > ringing_since:
            busy.update(int(staff_id) for staff_id in ringing or [])
    return busy


def _free(
    resolve: Callable[[Target], Sequence[Recipient]], busy: set[int]
) -> Callable[[Target], Sequence[Recipient]]:
    """`resolve`, leaving out the busy staff: a step with only busy phones is skipped, as a
    step with nobody on call is."""
    if not busy:
        return resolve
    return lambda target: [r for r in resolve(target) if r.staff_id not in busy]


def fail_safe_answered(
    session: Session,
    call: IncomingCall,
    now: dt.datetime,
    reach: Reach,
    zone: dt.tzinfo,
    alerting: alerts.Alerting | None = None,
    flood_rules: floods.FloodRules = floods.DEFAULT_RULES,
) -> int | None:
    """A call that was answered with the fail-safe because it could not be recorded then
    (crisisline.spool), recorded now: its contact (at the time it came in) with outcome
    `missed`, the unanswered-call alert, and the missed-call escalation, opened `now`, so
    staff call back. The id of its contact; None if its CallSid is on the record already
    (its first write did commit: its own status callback, or the auditor, chases it)."""
    if contacts.by_sid(session, call.call_sid) is not None:
        return None
    caller = call.caller
    staff = staff_service.active_by_phone(session, caller)
    contact, created = contacts.record(
        session,
        **call.contact(),
        participant_id=participants.id_by_phone(session, caller) if caller else None,
        outcome=ContactOutcome.MISSED if staff is None else ContactOutcome.STAFF_CALL,
        handled_by_staff_id=staff.id if staff else None,
    )
    if not created or staff is not None:
        return contact.id  # a member of staff calling the line: nobody to call back
    contact.wait_seconds = 0
    live = new_live_call(call.call_sid, contact.id, "crisis", call.now)
    live.fallback_at = call.now
    live.detail = {"fail_safe": True}
    save(session, live)
    _open_missed(session, live, contact, now, reach, zone, flood_rules)
    if alerting is not None:
        # A crisis call nobody answered is a risk alert in itself.
        _raise_unanswered(session, live, contact, now, alerting)
    return contact.id


def _raise_unanswered(
    session: Session, live: LiveCall, contact: Contact, now: dt.datetime, alerting: alerts.Alerting
) -> None:
    """The unanswered-call risk alert, in a savepoint: whatever goes wrong in raising it, the
    call and its escalation are kept."""
    try:
        with session.begin_nested():
            alerts.raise_unanswered(
                session,
                contact_id=contact.id,
                kind="call",
                now=now,
                reach=alerting.reach,
                rules=alerting.rules,
            )
    except Exception as error:
        log.error("call %s: unanswered alert failed (%s)", live.id, type(error).__name__)


def screening_text(session: Session, call_id: int, messages: CrisisMessages) -> str:
    """What the staff member who picked up hears before pressing 1."""
    live = session.get(LiveCall, call_id)
    contact = session.get(Contact, live.contact_id) if live else None
    participant = (
        session.get(Participant, contact.participant_id)
        if contact and contact.participant_id
        else None
    )
    return messages.screening.format(caller=caller_label(participant))


Acceptance = Literal["accepted", "taken", "ended", "not_rung"]


def accept(
    session: Session,
    call_id: int,
    staff_id: int,
    now: dt.datetime,
    reach: Reach | None = None,
) -> Acceptance:
    """The staff member pressed 1: the call is theirs, unless it is someone else's or over.
    With `reach`, they are texted the link to the caller's crisis plan (never failing the
    call: crisisline.crisis_plan_links)."""
    live = session.scalars(_locked(LiveCall.id == call_id)).first()
    if live is None:
        raise NotFound(f"There is no live call {call_id}.")
    if live.accepted_staff_id is not None:
        return "accepted" if live.accepted_staff_id == staff_id else "taken"
    if staff_id not in live.ringing:
        # Only someone this call rang can accept it.
        return "not_rung"
    if session.get_one(Contact, live.contact_id).ended_at is not None:
        # The caller hung up while this phone was in its screening prompt.
        return "ended"
    live.accepted_staff_id = staff_id
    live.accepted_at = now
    live.updated_at = now
    contact = session.get_one(Contact, live.contact_id)
    contact.answered_at = now
    contact.handled_by_staff_id = staff_id
    contact.outcome = ContactOutcome.ANSWERED
    contact.wait_seconds = int((now - live.started_at).total_seconds())
    crisis_plan_links.send_link(
        session,
        contact_id=contact.id,
        participant_id=contact.participant_id,
        staff_id=staff_id,
        now=now,
        reach=reach,
    )
    return "accepted"


def dial_finished(
    session: Session,
    call_sid: str,
    now: dt.datetime,
    messages: CrisisMessages,
    alerting: alerts.Alerting | None = None,
    ended_ring: tuple[int, int] | None = None,
    caller_gone: bool = False,
) -> CallPlan:
    """The Dial ended: done if someone accepted, otherwise the next step or the fallback.

    `ended_ring` is the (step, loop) the Dial's action URL names: a repeated or late action for
    a ring that is no longer the current one answers as the call stands and moves nothing on.
    `caller_gone` (the action reports the call itself over) means the caller hung up while it
    rang: nothing moves on, and his final status callback, before or after, records him as
    abandoned after his wait (or the auditor chases the call if that callback never comes).
    """
    live = _live(session, call_sid)
    contact = session.get_one(Contact, live.contact_id)
    if live.accepted_staff_id is not None or contact.ended_at is not None or caller_gone:
        # An action that arrives after the final status callback is for a call already over
        # (abandoned, say): it must not rewrite its outcome or wait, nor ring anyone. One that
        # comes first, for the last step, must not run out the chain into "missed" either.
        return CallPlan(live.id, "done")
    if live.fallback_at is not None:
        return CallPlan(live.id, "fallback")
    if ended_ring is not None and ended_ring != (live.step_index, live.loop):
        return _current_plan(session, live, now, messages)
    return _next(session, live, contact, now, messages, alerting)


def voicemail_left(
    session: Session,
    call_sid: str,
    *,
    recording_url: str | None,
    duration_seconds: int | None,
    now: dt.datetime,
    reach: Reach,
    zone: dt.tzinfo,
    alerting: alerts.Alerting | None = None,
    flood_rules: floods.FloodRules = floods.DEFAULT_RULES,
) -> None:
    """The caller left a message: keep its link and make sure someone calls back."""
    live = _live(session, call_sid)
    contact = session.get_one(Contact, live.contact_id)
    if recording_url:
        contact.recording_url = recording_url[:RECORDING_URL_STORED]
        contact.outcome = ContactOutcome.VOICEMAIL
        live.detail = {**live.detail, "voicemail_seconds": duration_seconds}
    if (
        live.missed_escalation_id is not None
        and contact.recording_url
        and not floods.is_flood_escalation(session, live.missed_escalation_id)
    ):
        # Twilio may send the final status callback before the Record action: the missed
        # call was escalated without the voicemail, and staff must still learn of it.
        summary = _missed_summary(session, contact, zone, reach)
        try:
            # In a savepoint: whatever goes wrong in telling people, the recording is kept.
            with session.begin_nested():
                escalation_engine.amend_summary(
                    session, live.missed_escalation_id, summary, now, reach
                )
        except Exception:
            log.exception(
                "missed call %s: the voicemail news could not be sent; the recording is kept",
                live.id,
            )
    _open_missed(session, live, contact, now, reach, zone, flood_rules)
    _evaluate(session, contact, now, alerting)


def call_ended(
    session: Session,
    call_sid: str,
    *,
    status: str,
    duration_seconds: int | None,
    now: dt.datetime,
    reach: Reach,
    zone: dt.tzinfo,
    alerting: alerts.Alerting | None = None,
    flood_rules: floods.FloodRules = floods.DEFAULT_RULES,
) -> None:
    """The final status callback: complete the contact once, whatever order things arrived in."""
    live = session.scalars(_locked(LiveCall.call_sid == call_sid)).first()
    if live is None:
        contact = contacts.by_sid(session, call_sid)
        if contact is not None:
            _complete(contact, status, duration_seconds, now)
        return
    contact = session.get_one(Contact, live.contact_id)
    _complete(contact, status, duration_seconds, now)
    if live.kind != "crisis":
        return
    if live.accepted_staff_id is None:
        if contact.outcome in (None, ContactOutcome.RINGING):
            # The caller hung up while the line was still ringing staff.
            contact.outcome = ContactOutcome.ABANDONED
            contact.wait_seconds = int((now - live.started_at).total_seconds())
        _open_missed(session, live, contact, now, reach, zone, flood_rules)
    _evaluate(session, contact, now, alerting)


def _complete(
    contact: Contact, status: str, duration_seconds: int | None, now: dt.datetime
) -> None:
    """The first final status callback completes the contact; a repeated or later one (Twilio
    may resend it, or send another final status) changes nothing."""
    if contact.ended_at is None:
        contact.ended_at = now
        contact.duration_seconds = duration_seconds
        contact.call_status = status[:20]


def _evaluate(
    session: Session, contact: Contact, now: dt.datetime, alerting: alerts.Alerting | None
) -> None:
    # Judged when the call is over, when its outcome (answered, voicemail at night...) is
    # known, and off the path of the first webhook a caller waits on.
    if alerting is not None:
        alerts.evaluate_contact_safely(
            session, contact.id, now, alerting.reach, rules=alerting.rules, zone=alerting.zone
        )


def _open_missed(
    session: Session,
    live: LiveCall,
    contact: Contact,
    now: dt.datetime,
    reach: Reach,
    zone: dt.tzinfo,
    flood_rules: floods.FloodRules = floods.DEFAULT_RULES,
) -> None:
    if live.missed_escalation_id is not None or live.accepted_staff_id is not None:
        return
    if contact.participant_id is None and floods.beyond_rate(session, contact, flood_rules):
        # One of many unknown callers at once: gathered into the flood's one escalation
        # instead of a chase of its own (a participant's missed call is always its own).
        flood = floods.gather(session, contact, now, reach, flood_rules)
        live.missed_escalation_id = flood.escalation_id
        live.updated_at = now
        return
    record = escalation_engine.open_escalation(
        session,
        policy_name=MISSED_POLICY,
        subject_type="missed_call",
        subject_id=contact.id,
        participant_id=contact.participant_id,
        summary=_missed_summary(session, contact, zone, reach),
        now=now,
        reach=reach,
    )
    live.missed_escalation_id = record.id
    live.updated_at = now


def _missed_summary(session: Session, contact: Contact, zone: dt.tzinfo, reach: Reach) -> str:
    """What the missed-call escalation says: who, when, and whether a message was left, with
    the link that plays it (crisisline.voicemail_links; the same link every time)."""
    participant = (
        session.get(Participant, contact.participant_id) if contact.participant_id else None
    )
    at = contact.started_at.astimezone(zone).strftime("%H:%M")
    summary = f"Missed call from {_who(participant, contact.from_number)} at {at}"
    if contact.recording_url:
        summary += ", voicemail left"
        if reach.voicemail_url is None:
            return summary + " (call the line to hear it)"
        link = reach.voicemail_url(contact.id, contact.started_at)
        if len(summary) + 2 + len(link) > escalation_engine.SUMMARY_MAX:
            # A very long PUBLIC_BASE_URL: no room for the words and the whole link.
            return summary + " (call the line to hear it)"
        return f"{summary}: {link}"
    if contact.outcome == ContactOutcome.ABANDONED:
        summary += f", hung up after {contact.wait_seconds or 0}s"
    return summary


# A call nobody took ends within about five minutes (90 s of ringing, the fallback message,
# a two-minute voicemail); one still unchased after eight never had its end handled.
UNFINISHED_AFTER = dt.timedelta(minutes=8)


def chase_unfinished(
    session: Session,
    now: dt.datetime,
    reach: Reach,
    zone: dt.tzinfo,
    alerting: alerts.Alerting | None = None,
    flood_rules: floods.FloodRules = floods.DEFAULT_RULES,
) -> list[int]:
    """Open the missed-call escalation for calls nobody took whose end was never handled.

    Twilio sends a call's final status callback once and does not retry it; if handling it
    failed, this (run by the scheduler's auditor) makes sure the call is still chased.
    """
    stale = session.scalars(
        select(LiveCall).where(
            LiveCall.kind == "crisis",
            LiveCall.accepted_staff_id.is_(None),
            LiveCall.missed_escalation_id.is_(None),
            LiveCall.started_at < now - UNFINISHED_AFTER,
        )
    ).all()
    chased = []
    for live in stale:
        try:
            with session.begin_nested():  # one call's failure must not stop the others
                # A late status callback may be handling it right now: take it in turn.
                locked = session.scalars(_locked(LiveCall.id == live.id)).first()
                if locked is None or locked.missed_escalation_id is not None:
                    continue
                contact = session.get_one(Contact, live.contact_id)
                if contact.outcome in (None, ContactOutcome.RINGING):
                    contact.outcome = ContactOutcome.ABANDONED
                log.warning(
                    "call %s ended without being chased; opening its missed-call escalation",
                    live.id,
                )
                _open_missed(session, live, contact, now, reach, zone, flood_rules)
                _evaluate(session, contact, now, alerting)
            chased.append(live.id)
        except Exception:
            log.exception("call %s could not be chased this pass; retrying", live.id)
    return chased


def _live(session: Session, call_sid: str) -> LiveCall:
    live = session.scalars(_locked(LiveCall.call_sid == call_sid)).first()
    if live is None:
        raise NotFound(f"There is no live call with that CallSid ({call_sid[:6]}...).")
    return live


def _locked(where: ColumnElement[bool]) -> Select[LiveCall]:
    """The live call, locked until the transaction ends (PostgreSQL; SQLite's BEGIN IMMEDIATE
    already lets one writer in at a time). Twilio may send a call's Record action, Dial action,
    final status callback and a staff press of 1 at the same moment; each decides on the call
    as the one before it left it, so a missed call is escalated once and never both taken and
    chased. Read afresh: a copy loaded earlier in the transaction may be stale."""
    return select(LiveCall).where(where).with_for_update().execution_options(populate_existing=True)


# ---- calling back through the crisis line ---------------------------------------------------


def call_back_choices(session: Session, limit: int = 5) -> list[CallBackChoice]:
    """Missed calls to return, that have a number to ring: nobody's first, newest first."""
    unreturned = _missed_calls(session, ("open", "exhausted"), limit)
    taken = _missed_calls(session, ("acknowledged",), limit - len(unreturned))
    return [_choice(session, record, contact) for record, contact in [*unreturned, *taken]]


def offered_choices(session: Session, live: LiveCall) -> list[CallBackChoice]:
    """The menu this staff call was offered, in the order it was read out."""
    choices = []
    for escalation_id in live.detail.get("menu", []):
        record = session.get(EscalationRecord, escalation_id)
        contact = session.get(Contact, record.subject_id) if record and record.subject_id else None
        if (
            record is not None
            and contact is not None
            and (contact.from_number or contact.recording_url)
        ):
            choices.append(_choice(session, record, contact))
    return choices


def call_back_choice(session: Session, call_sid: str, key: str) -> CallBackChoice | None:
    """The missed call that `key` named in the menu this staff call heard, if any."""
    live = _live(session, call_sid)
    offered = live.detail.get("menu", [])
    if not key.isdigit() or not 1 <= int(key) <= len(offered):
        return None
    escalation_id = offered[int(key) - 1]
    return next(
        (c for c in offered_choices(session, live) if c.escalation_id == escalation_id), None
    )


def _missed_calls(
    session: Session, statuses: tuple[str, ...], limit: int
) -> list[tuple[EscalationRecord, Contact]]:
    if limit <= 0:
        return []
    rows = session.execute(
        select(EscalationRecord, Contact)
        .join(Contact, Contact.id == EscalationRecord.subject_id)
        .where(
            EscalationRecord.subject_type == "missed_call",
            EscalationRecord.status.in_(statuses),
            # A withheld caller cannot be rung back, but his message can still be heard.
            or_(Contact.from_number.is_not(None), Contact.recording_url.is_not(None)),
        )
        .order_by(EscalationRecord.opened_at.desc())
        .limit(limit)
    ).all()
    return [(record, contact) for record, contact in rows]


def _choice(session: Session, record: EscalationRecord, contact: Contact) -> CallBackChoice:
    participant = (
        session.get(Participant, contact.participant_id) if contact.participant_id else None
    )
    return CallBackChoice(
        escalation_id=record.id,
        label=caller_label(participant) if participant else "an unknown caller",
        number=contact.from_number or "",
        recording_url=contact.recording_url,
    )


def start_call_back(
    session: Session,
    call_sid: str,
    choice: CallBackChoice,
    *,
    now: dt.datetime,
    reach: Reach,
) -> Contact:
    """A staff member returns a missed call through the line: record it and take the escalation."""
    live = _live(session, call_sid)
    staff_contact = session.get_one(Contact, live.contact_id)
    staff_id = staff_contact.handled_by_staff_id
    staff = session.get(Staff, staff_id) if staff_id else None
    missed = session.get(EscalationRecord, choice.escalation_id)
    participant_id = missed.participant_id if missed else None
    outbound, _ = contacts.record(
        session,
        channel=Channel.VOICE,
        direction=Direction.OUTBOUND,
        from_number=reach.from_number,
        to_number=choice.number or None,
        twilio_sid=None,
        started_at=now,
        participant_id=participant_id,
        # A withheld caller's message is heard, but he cannot be rung.
        outcome=ContactOutcome.CALL_BACK if choice.number else ContactOutcome.VOICEMAIL_HEARD,
        handled_by_staff_id=staff_id,
    )
    # Returning one missed call settles every missed call still open from that caller: the
    # older ones must not climb on to an "unanswered" incident for a man just called back.
    settled = [missed] if missed is not None else []
    if choice.number:
        settled += [
            record
            for record, contact in _missed_calls(session, ("open", "exhausted"), 50)
            if contact.from_number == choice.number and (missed is None or record.id != missed.id)
        ]
    for record in settled:
        if record.status in ("open", "exhausted"):
            escalation_engine.acknowledge_escalation(
                session,
                record.id,
                ByOperator(staff.name if staff else "staff call-back"),
                now,
                reach,
            )
    live.detail = {**live.detail, "call_back_contact_id": outbound.id}
    return outbound


# Twilio's DialCallStatus when the participant picked up (a voicemail that picks up reports
# it too: a call-back cannot tell them apart).
CALL_BACK_ANSWERED = ("completed", "answered")


def call_back_finished(
    session: Session,
    call_sid: str,
    contact_id: int,
    *,
    dial_status: str,
    duration_seconds: int | None,
    now: dt.datetime,
) -> bool:
    """The call-back's Dial ended: complete its outbound contact once, with whether the
    participant answered and for how long. False (nothing changed) if `contact_id` is not the
    call-back this staff call started."""
    live = _live(session, call_sid)
    if live.kind != "staff" or live.detail.get("call_back_contact_id") != contact_id:
        return False
    contact = session.get(Contact, contact_id)
    if contact is None:
        return False
    if contact.ended_at is not None:
        return True  # a repeated action: the first one stands
    answered = dial_status in CALL_BACK_ANSWERED
    talked = max(duration_seconds or 0, 0) if answered else 0
    _complete(contact, dial_status, talked, now)
    contact.answered_at = now - dt.timedelta(seconds=talked) if answered else None
    return True
