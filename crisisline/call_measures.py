"""Measures of calls: offered, answered live by a person on the rota, how fast, abandoned, sent
to the fallback, voicemails; and missed calls and voicemails called back, and how soon.

Defines its measures in `crisisline.reports.MEASURES` at import; `facts` reads the period's
calls, `figures` computes from them (pure). Their words, with worked examples, are the "Calls"
and "Call-backs" sections of docs/reports.md.
"""

from __future__ import annotations

import bisect
import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import and_, case, or_, select
from sqlalchemy.orm import Session

from crisisline import escalation_policies
from crisisline.call_models import LiveCall
from crisisline.errors import NotFound
from crisisline.escalation_models import EscalationRecord
from crisisline.models import Channel, Contact, ContactOutcome, Direction
from crisisline.reports import Context, Fact, Figure, define, ids, percentile, share
from crisisline.rota_models import RotaRecord
from escalation import EscalationPolicy, PolicyValidationError, RotaNameTarget, RotaTarget

log = logging.getLogger(__name__)

# crisisline.calls.CRISIS_POLICY (a sibling module this one may not import): the chain that
# rings staff for a live call.
CRISIS_POLICY: Final = "crisis-call"

ANSWERED_WITHIN: Final = dt.timedelta(seconds=60)  # NHS 111: answered within 60 seconds
ABANDONED_AFTER: Final = dt.timedelta(seconds=30)  # NHS 111: abandoned after waiting over 30 s
CALLED_BACK_WITHIN: Final = dt.timedelta(hours=24)
# A call back through the line is looked for up to this long after the period ends, so that a
# report of a past month reads a bounded range of contacts, not every call-back since. Taking
# the missed call's escalation counts however late; a first call-back over a week after the
# period is (for this report) no call-back.
CALL_BACK_LOOKED_FOR: Final = dt.timedelta(days=7)
# A live call starts at its contact's instant; the margin only keeps its range scan generous.
LIVE_CALL_MARGIN: Final = dt.timedelta(hours=1)

# The outcomes of a call nobody on the rota took, once it is over: the chain ran out (the
# caller heard the fallback), he left a voicemail, or he hung up while it rang. Each opens the
# missed-call escalation (crisisline.calls._open_missed), so each is owed a call-back.
MISSED_OUTCOMES: Final = (
    ContactOutcome.MISSED.value,
    ContactOutcome.VOICEMAIL.value,
    ContactOutcome.ABANDONED.value,
)

OFFERED = define("calls.offered", "Calls offered", "count", "Calls")
ANSWERED = define("calls.answered", "Answered live by a person on the rota", "count", "Calls")
ANSWER_RATE = define(
    "calls.answer_rate", "Answer rate", "share", "Calls", target="answer_rate", better="higher"
)
WITHIN_60S = define(
    "calls.answered_within_60s",
    "Answered within 60 seconds (of calls answered)",
    "share",
    "Calls",
    target="answered_within_60s",
    better="higher",
)
ANSWER_MEDIAN = define(
    "calls.time_to_answer_median", "Time to answer, median", "seconds", "Calls", better="lower"
)
ANSWER_P90 = define(
    "calls.time_to_answer_p90",
    "Time to answer, 90th percentile",
    "seconds",
    "Calls",
    better="lower",
)
ABANDONED = define("calls.abandoned", "Abandoned (hung up before an answer)", "count", "Calls")
ABANDONED_30S = define(
    "calls.abandoned_after_30s",
    "Abandoned after waiting over 30 seconds (of calls offered)",
    "share",
    "Calls",
    target="abandoned_after_30s",
    better="lower",
)
FALLBACK = define("calls.fallback", "Sent to the fallback message", "count", "Calls")
VOICEMAILS = define("calls.voicemails", "Voicemails left", "count", "Calls")

MISSED = define("callbacks.missed", "Missed calls and voicemails", "count", "Call-backs")
CALLED_BACK = define(
    "callbacks.called_back_share",
    "Called back (of missed calls)",
    "share",
    "Call-backs",
    better="higher",
)
CALL_BACK_MEDIAN = define(
    "callbacks.time_median", "Time to call-back, median", "seconds", "Call-backs", better="lower"
)
CALL_BACK_P90 = define(
    "callbacks.time_p90",
    "Time to call-back, 90th percentile",
    "seconds",
    "Call-backs",
    better="lower",
)
NOT_WITHIN_24H = define(
    "callbacks.not_within_24h",
    "Not called back within 24 hours",
    "count",
    "Call-backs",
    better="lower",
)


@dataclass(frozen=True, kw_only=True)
class OfferedCall(Fact):
    """A call to the crisis line that started in the period, and what became of it.

    `at` is when it started; `staff_id` who answered it (for a missed call: who first called
    back or took its escalation); `rota` the rota(s) of the crisis chain's step it last rang.
    """

    contact_id: int
    outcome: str | None
    # Answered: seconds from the start to the press of 1; otherwise None.
    answer_seconds: float | None = None
    # Abandoned: seconds the caller waited before hanging up; otherwise None.
    wait_seconds: float | None = None
    fallback: bool = False
    # Missed (see MISSED_OUTCOMES): seconds from its start to the first call back or the
    # escalation being taken, None if neither has happened.
    call_back_seconds: float | None = None

    @property
    def answered(self) -> bool:
        """Screened and accepted by a person the chain rang."""
        return self.outcome == ContactOutcome.ANSWERED

    @property
    def missed(self) -> bool:
        """Over without anyone on the rota taking it: owed a call-back."""
        return self.outcome in MISSED_OUTCOMES


def facts(session: Session, context: Context) -> Sequence[OfferedCall]:
    """The calls offered in the period (and what became of them)."""
    rows = _offered(session, context)
    if not rows:
        return []
    rotas = _step_rotas(session)
    call_backs = _call_backs(session, context)
    found: list[OfferedCall] = []
    for (
        contact_id,
        started,
        outcome,
        staff_id,
        answered_at,
        wait_seconds,
        ended_at,
        participant_id,
        number,
        step,
        fallback,
        taken_at,
        taken_by,
    ) in rows:
        answer = wait = back = None
        if answered_at is not None:
            answer = (answered_at - started).total_seconds()
        if outcome == ContactOutcome.ABANDONED:
            wait = _waited(wait_seconds, started, ended_at)
        if outcome in MISSED_OUTCOMES:
            staff_id = None
            first = call_backs.first_after(started, participant_id, number)
            if first is not None and (taken_at is None or first[0] <= taken_at):
                back, staff_id = first
            elif taken_at is not None and taken_at >= started:
                back, staff_id = taken_at, taken_by
        found.append(
            OfferedCall(
                at=started,
                staff_id=staff_id,
                rota=rotas.get(step) if step is not None else None,
                contact_id=contact_id,
                outcome=outcome,
                answer_seconds=answer,
                wait_seconds=wait,
                fallback=bool(fallback),
                call_back_seconds=(back - started).total_seconds() if back else None,
            )
        )
    return found


def _offered(session: Session, context: Context) -> Sequence[Any]:
    """One row per call offered in the period: its contact, its live call, its escalation."""
    period = context.period
    answered = Contact.outcome == ContactOutcome.ANSWERED
    # Only the columns each call's figures use are read (the rest come back NULL): a year of a
    # busy line is tens of thousands of calls, and every instant read costs a conversion.
    query = (
        select(
            Contact.id,
            Contact.started_at,
            Contact.outcome,
            Contact.handled_by_staff_id,
            case((answered, Contact.answered_at)),
            Contact.wait_seconds,
            case(
                (
                    and_(
                        Contact.outcome == ContactOutcome.ABANDONED,
                        Contact.wait_seconds.is_(None),
                    ),
                    Contact.ended_at,
                )
            ),
            Contact.participant_id,
            Contact.from_number,
            LiveCall.step_index,
            LiveCall.fallback_at.is_not(None),
            EscalationRecord.acknowledged_at,
            EscalationRecord.acknowledged_by_staff_id,
        )
        .outerjoin(
            LiveCall,
            and_(
                LiveCall.contact_id == Contact.id,
                # The live call starts at the same instant as its contact: bounding it too lets
                # the database range-scan its started_at index instead of reading every call.
                LiveCall.started_at >= period.start - LIVE_CALL_MARGIN,
                LiveCall.started_at < period.end + LIVE_CALL_MARGIN,
            ),
        )
        .outerjoin(EscalationRecord, EscalationRecord.id == LiveCall.missed_escalation_id)
        .where(
            Contact.started_at >= period.start,
            Contact.started_at < period.end,
            Contact.channel == Channel.VOICE,
            Contact.direction == Direction.INBOUND,
            # A member of staff calling the line to return calls is not a call for help.
            or_(Contact.outcome.is_(None), Contact.outcome != ContactOutcome.STAFF_CALL),
            or_(LiveCall.kind.is_(None), LiveCall.kind != "staff"),
        )
    )
    # Core rows, not ORM ones: nothing here is an entity, and ORM rows cost more to build.
    return session.connection().execute(query).all()


def _waited(wait_seconds: int | None, started: dt.datetime, ended: dt.datetime | None) -> float:
    if wait_seconds is not None:
        return float(wait_seconds)
    return (ended - started).total_seconds() if ended is not None else 0.0


CallBackTimes = list[tuple[dt.datetime, int | None]]  # (when, by whom), oldest first


@dataclass(frozen=True)
class _CallBacks:
    """The calls back through the line, by the caller they rang: his record and his number."""

    by_participant: dict[int, CallBackTimes]
    by_number: dict[str, CallBackTimes]

    def first_after(
        self, started: dt.datetime, participant_id: int | None, number: str | None
    ) -> tuple[dt.datetime, int | None] | None:
        """When the first call back to this caller (his record or his number) at or after
        `started` was made, and by whom."""
        found = [
            _first_at_or_after(times, started)
            for times in (
                self.by_participant.get(participant_id) if participant_id is not None else None,
                self.by_number.get(number) if number is not None else None,
            )
            if times
        ]
        return min((f for f in found if f is not None), key=lambda f: f[0], default=None)


def _first_at_or_after(
    times: CallBackTimes, started: dt.datetime
) -> tuple[dt.datetime, int | None] | None:
    # Bisected: a year's missed calls each look among a year's call-backs.
    index = bisect.bisect_left(times, started, key=lambda t: t[0])
    return times[index] if index < len(times) else None


def _call_backs(session: Session, context: Context) -> _CallBacks:
    """Calls back through the line that may return a call of the period."""
    period = context.period
    rows = session.execute(
        select(
            Contact.started_at,
            Contact.handled_by_staff_id,
            Contact.participant_id,
            Contact.to_number,
        )
        .where(
            Contact.started_at >= period.start,
            Contact.started_at < period.end + CALL_BACK_LOOKED_FOR,
            Contact.channel == Channel.VOICE,
            Contact.direction == Direction.OUTBOUND,
            # Whether he or his voicemail picked up: Twilio cannot tell them apart (see
            # crisisline.calls.CALL_BACK_ANSWERED), and a message left on his phone is a
            # call-back made.
            Contact.outcome == ContactOutcome.CALL_BACK,
        )
        .order_by(Contact.started_at, Contact.id)
    ).all()
    backs = _CallBacks({}, {})
    for at, staff_id, participant_id, number in rows:
        if participant_id is not None:
            backs.by_participant.setdefault(participant_id, []).append((at, staff_id))
        if number is not None:
            backs.by_number.setdefault(number, []).append((at, staff_id))
    return backs


def _step_rotas(session: Session) -> dict[int, str]:
    """The rota names of each step of the crisis chain (several joined by " + "), by index.

    A live call keeps the step it stood at, not the policy: this is the chain as it is now, so
    a report made after the chain was reshaped names its steps by their new rotas.
    """
    try:
        policy: EscalationPolicy = escalation_policies.get_policy(session, CRISIS_POLICY)[0]
    except (NotFound, PolicyValidationError) as error:
        # The rota is only a label for the breakdown: the report still comes, its calls under
        # "no rota", rather than failing for want of it.
        log.warning("reports: the crisis chain cannot be read (%s)", type(error).__name__)
        return {}
    names: dict[int, str] = dict(session.execute(select(RotaRecord.id, RotaRecord.name)).all())
    rotas: dict[int, str] = {}
    for index, step in enumerate(policy.steps):
        found: list[str] = []
        for target in step.targets:
            name = None
            if isinstance(target, RotaNameTarget):
                name = target.rota
            elif isinstance(target, RotaTarget):
                name = names.get(target.rota_id)
            if name is not None and name not in found:
                found.append(name)
        if found:
            rotas[index] = " + ".join(found)
    return rotas


def figures(facts: Sequence[Fact], context: Context) -> list[Figure]:
    """The call and call-back figures over `facts`."""
    offered = [f for f in facts if isinstance(f, OfferedCall)]
    answered = [f for f in offered if f.answered]
    times = [f for f in answered if f.answer_seconds is not None]
    within = [
        f
        for f in times
        if f.answer_seconds is not None and f.answer_seconds <= ANSWERED_WITHIN.total_seconds()
    ]
    abandoned = [f for f in offered if f.outcome == ContactOutcome.ABANDONED]
    abandoned_late = [
        f
        for f in abandoned
        if f.wait_seconds is not None and f.wait_seconds > ABANDONED_AFTER.total_seconds()
    ]
    fallback = [f for f in offered if f.fallback]
    voicemails = [f for f in offered if f.outcome == ContactOutcome.VOICEMAIL]
    missed = [f for f in offered if f.missed]
    called_back = [f for f in missed if f.call_back_seconds is not None]
    day = CALLED_BACK_WITHIN.total_seconds()
    late = [f for f in missed if f.call_back_seconds is None or f.call_back_seconds > day]
    return [
        _count(OFFERED.key, offered),
        _count(ANSWERED.key, answered),
        _share(ANSWER_RATE.key, answered, offered),
        _share(WITHIN_60S.key, within, answered),
        _time(ANSWER_MEDIAN.key, times, 0.5, "answer_seconds"),
        _time(ANSWER_P90.key, times, 0.9, "answer_seconds"),
        _count(ABANDONED.key, abandoned),
        _share(ABANDONED_30S.key, abandoned_late, offered),
        _count(FALLBACK.key, fallback),
        _count(VOICEMAILS.key, voicemails),
        _count(MISSED.key, missed),
        _share(CALLED_BACK.key, called_back, missed),
        _time(CALL_BACK_MEDIAN.key, called_back, 0.5, "call_back_seconds"),
        _time(CALL_BACK_P90.key, called_back, 0.9, "call_back_seconds"),
        _count(NOT_WITHIN_24H.key, late),
    ]


def _count(key: str, counted: Sequence[OfferedCall]) -> Figure:
    return Figure(key, len(counted), contact_ids=ids(f.contact_id for f in counted))


def _share(key: str, part: Sequence[OfferedCall], whole: Sequence[OfferedCall]) -> Figure:
    # The drill-down lists the calls counted in the numerator; the denominator's calls are
    # another figure's drill-down (offered, answered, missed).
    return Figure(
        key,
        share(len(part), len(whole)),
        numerator=len(part),
        denominator=len(whole),
        contact_ids=ids(f.contact_id for f in part),
    )


def _time(key: str, measured: Sequence[OfferedCall], fraction: float, field: str) -> Figure:
    values = [getattr(f, field) for f in measured]
    return Figure(
        key,
        percentile([v for v in values if v is not None], fraction),
        contact_ids=ids(f.contact_id for f in measured),
    )
