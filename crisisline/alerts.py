"""Risk alerts: apply the risk rules to each contact, raise or update alerts, and route them.

Every alert opens an escalation (subject type `risk_alert`) on a copy of the `risk-alert`
policy whose first step names the participant's responsible officer, so the officer's SMS goes
through the outbox with a reply code and `1a` from the officer's phone acknowledges it through
the escalation engine like any other code:

- `urgent`: the officer is added to the policy's first step, beside the duty manager on call,
  and the whole chain runs until someone acknowledges;
- `info`, `warning`: one step to the officer alone, waiting the minutes set in the rules file;
  if nobody acknowledges, the escalation is exhausted and every duty manager is told;
- no responsible officer, or an inactive one: the policy as it stands (duty manager first), and
  a `missing_officer` alert is raised.

An alert's status mirrors its escalation: acknowledging or closing the escalation (by reply code
or the escalations API) acknowledges the alert (`sync_acknowledgements`), and acknowledging or
resolving the alert here acknowledges or closes the escalation.

Evaluation runs in the caller's transaction right after a contact is recorded, with indexed
queries over the participant's recent contacts only (contacts (participant_id, started_at)).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Select, bindparam, case, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from crisisline import audit, escalation_engine, escalation_policies
from crisisline.alert_models import AlertEvidence, AlertSeverity, AlertStatus, RiskAlert
from crisisline.errors import Conflict, InvalidInput, NotFound
from crisisline.escalation_models import EscalationRecord
from crisisline.models import Channel, Contact, ContactOutcome, Direction, Participant, Staff
from crisisline.risk_rules import (
    FREQUENCY,
    MISSING_OFFICER,
    OPT_OUT,
    REPEATED_NIGHT,
    UNANSWERED,
    VOICEMAIL_AT_NIGHT,
    RiskRules,
    Severity,
    wall_clock_since,
)
from escalation import (
    ByOperator,
    EscalationPolicy,
    OutgoingText,
    Reach,
    StaffTarget,
    Step,
    format_code,
)
from wording.staff import notification_text, plain

log = logging.getLogger(__name__)

POLICY: Final = "risk-alert"
SUBJECT_TYPE: Final = "risk_alert"
ACTOR: Final = "risk-rules"
# How the voice flow marks a contact where the caller left a message.
VOICEMAIL_OUTCOMES: Final = frozenset({ContactOutcome.VOICEMAIL})
MAX_EVIDENCE: Final = 100
# A participant's contacts in one frequency window are read at most this many at a time.
MAX_WINDOW_ROWS: Final = 1000
SMS_LIMIT: Final = 160


@dataclass(frozen=True)
class Firing:
    """A rule that fired for a contact: what it is, how serious, why, and which contacts."""

    rule: str
    severity: Severity
    reason: str
    cooldown: dt.timedelta
    evidence: tuple[int, ...]  # contact ids; the contact being evaluated first


# ---- the rules, one contact at a time ------------------------------------------------------


def evaluate_contact(
    session: Session,
    contact_id: int,
    now: dt.datetime,
    reach: Reach,
    *,
    rules: RiskRules,
    zone: ZoneInfo,
) -> list[RiskAlert]:
    """Apply every risk rule to a just-recorded contact; returns the alerts raised or updated.

    Call it in the transaction that recorded the contact, and again after the contact changes
    (a voicemail left, a transcript added): a rule counts each contact once.
    """
    contact = session.get(Contact, contact_id)
    if contact is None or contact.participant_id is None:
        return []
    if contact.direction != Direction.INBOUND:
        return []
    firings = [
        *_frequency(session, contact, rules, zone),
        *_phrases(contact, rules),
        *_opt_out(contact, rules),
        *_voicemail_at_night(contact, rules, zone),
        *_repeated_night(session, contact, rules, zone),
    ]
    return _raise_all(session, contact, firings, now, reach, rules)


@dataclass(frozen=True)
class Alerting:
    """What the call and text flows need to raise risk alerts."""

    reach: Reach
    rules: RiskRules
    zone: ZoneInfo


def evaluate_contact_safely(
    session: Session,
    contact_id: int,
    now: dt.datetime,
    reach: Reach,
    *,
    rules: RiskRules,
    zone: ZoneInfo,
) -> list[RiskAlert]:
    """evaluate_contact in a savepoint: if a rule fails, the contact and its relay still land.

    The failure is logged as an error (a missed alert is a hazard, H40) and nothing is raised.
    """
    savepoint = session.begin_nested()
    try:
        raised = evaluate_contact(session, contact_id, now, reach, rules=rules, zone=zone)
    except Exception as error:
        savepoint.rollback()
        log.error("risk rules could not judge contact %s (%s)", contact_id, type(error).__name__)
        return []
    savepoint.commit()
    return raised


def raise_unanswered(
    session: Session,
    *,
    contact_id: int,
    kind: Literal["call", "text"],
    now: dt.datetime,
    reach: Reach,
    rules: RiskRules,
) -> RiskAlert | None:
    """A crisis call's chain ran out (`call`) or a text went unacknowledged (`text`): alert."""
    rule = rules.unanswered
    contact = session.get(Contact, contact_id)
    if not rule.enabled or contact is None or contact.participant_id is None:
        return None
    reason = (
        "called the crisis line and nobody answered after full escalation"
        if kind == "call"
        else "texted the crisis line and no member of staff acknowledged it in time"
    )
    firing = Firing(UNANSWERED, rule.severity, reason, rule.cooldown, (contact.id,))
    raised = _raise_all(session, contact, [firing], now, reach, rules)
    return next((alert for alert in raised if alert.rule == UNANSWERED), None)


# A worker's judgement in a note: one rule per level, so that a correction raising the level
# from high to immediate is never merged into the warning the first version raised.
NOTE_RISK: Final = "note_risk"
NOTE_RISK_RULES: Final[dict[str, tuple[str, Severity]]] = {
    "high": (f"{NOTE_RISK}_high", "warning"),
    "immediate": (f"{NOTE_RISK}_immediate", "urgent"),
}
# Within this time a correction keeping the level adds to the alert instead of raising another.
NOTE_RISK_COOLDOWN: Final = dt.timedelta(hours=24)


def raise_from_note(
    session: Session,
    *,
    contact_id: int,
    level: Literal["high", "immediate"],
    where: str,
    now: dt.datetime,
    reach: Reach,
    rules: RiskRules,
) -> RiskAlert | None:
    """A worker's note judges the risk now high (a `warning` alert) or immediate (`urgent`):
    raise it, routed and escalated as any alert; None if the contact is about no participant.

    `where` names the contact in the reason ("call", "text conversation"); the note's words
    never leave the note. Whether a correction should alert again is the caller's to decide:
    the same contact may raise this rule again (after the cooldown, or at a higher level)."""
    rule, severity = NOTE_RISK_RULES[level]
    contact = session.get(Contact, contact_id)
    if contact is None or contact.participant_id is None:
        return None
    reason = f"was judged at {level} risk now in the worker's note on his {where}"
    firing = Firing(rule, severity, reason, NOTE_RISK_COOLDOWN, (contact.id,))
    raised = _raise_all(session, contact, [firing], now, reach, rules, once_per_contact=False)
    return next((alert for alert in raised if alert.rule == rule), None)


_OPT_OUT_REASON: Final = "opted out of texts from the crisis line, so staff cannot text him back"


def _inbound_from(participant_id: int) -> list[ColumnElement[bool]]:
    return [Contact.participant_id == participant_id, Contact.direction == Direction.INBOUND]


def _frequency(
    session: Session, contact: Contact, rules: RiskRules, zone: ZoneInfo
) -> list[Firing]:
    rule = rules.frequency
    if not rule.enabled or contact.participant_id is None:
        return []
    participant = session.get(Participant, contact.participant_id)
    if participant is None:
        return []
    at = contact.started_at
    gap = rule.texts_count_once_within
    since = wall_clock_since(at, zone, rule.window)
    # One index range on (participant_id, started_at) over this window only (and the
    # conversation gap before it); bounded however long the history is.
    newest_first = session.execute(
        select(Contact.id, Contact.channel, Contact.started_at)
        .where(
            *_inbound_from(contact.participant_id),
            Contact.started_at >= since - gap,
            Contact.started_at <= at,
        )
        .order_by(Contact.started_at.desc(), Contact.id.desc())
        .limit(MAX_WINDOW_ROWS)
    ).all()
    ids: list[int] = []
    last_text: dt.datetime | None = None
    for row_id, channel, started_at in reversed(newest_first):
        # A text soon after the participant's previous text is the same conversation.
        counts = channel == Channel.VOICE or last_text is None or started_at - last_text > gap
        if channel == Channel.SMS:
            last_text = started_at
        if counts and started_at >= since:
            ids.append(row_id)
    ids.reverse()
    if contact.id not in ids:
        return []  # this contact adds nothing to the count (a text mid-conversation)
    threshold = rule.threshold(participant.risk_level.value)
    if len(ids) < threshold:
        return []
    hours = int(rule.window.total_seconds() // 3600)
    many = f"{len(ids)} or more" if len(newest_first) >= MAX_WINDOW_ROWS else str(len(ids))
    reason = (
        f"contacted the crisis line {many} times in {hours} hours "
        f"(the alert level for {participant.risk_level.value.replace('_', ' ')} risk is "
        f"{threshold})"
    )
    evidence = (contact.id, *[i for i in ids[:MAX_EVIDENCE] if i != contact.id])
    return [Firing(FREQUENCY, rule.severity, reason, rule.cooldown, evidence)]


def _phrases(contact: Contact, rules: RiskRules) -> list[Firing]:
    rule = rules.phrases
    if not rule.enabled or not contact.body:
        return []
    where = "texted" if contact.channel == Channel.SMS else "left a voicemail with"
    # The reason names the category, never the words: the words stay in the contact record.
    return [
        Firing(
            category.rule,
            category.severity,
            f"{where} words about {category.label}",
            rule.cooldown,
            (contact.id,),
        )
        for category in rule.categories_in(contact.body)
    ]


def _opt_out(contact: Contact, rules: RiskRules) -> list[Firing]:
    rule = rules.opt_out
    if not rule.enabled or contact.channel != Channel.SMS or not rule.is_opt_out(contact.body):
        return []
    return [Firing(OPT_OUT, rule.severity, _OPT_OUT_REASON, rule.cooldown, (contact.id,))]


def is_voicemail(contact: Contact) -> bool:
    """True if the participant left a message on this call."""
    return contact.channel == Channel.VOICE and (
        contact.outcome in VOICEMAIL_OUTCOMES or bool(contact.recording_url)
    )


def _voicemail_at_night(contact: Contact, rules: RiskRules, zone: ZoneInfo) -> list[Firing]:
    rule = rules.voicemail_at_night
    if not rule.enabled or not is_voicemail(contact):
        return []
    if not rules.night.contains(contact.started_at, zone):
        return []
    local = contact.started_at.astimezone(zone).strftime("%H:%M")
    reason = f"left a voicemail at {local} at night"
    return [Firing(VOICEMAIL_AT_NIGHT, rule.severity, reason, rule.cooldown, (contact.id,))]


def _repeated_night(
    session: Session, contact: Contact, rules: RiskRules, zone: ZoneInfo
) -> list[Firing]:
    rule = rules.repeated_night
    if not rule.enabled or contact.participant_id is None:
        return []
    at = contact.started_at
    if not rules.night.contains(at, zone):
        return []
    since = wall_clock_since(at, zone, dt.timedelta(days=rule.window_days))
    nights = rules.night.nights(since, at, zone)
    # One probe per night (at most window_days + 1), each an index range on
    # (participant_id, started_at): the first contact of that night, if any.
    if not nights:
        return []
    params: dict[str, Any] = {"participant_id": contact.participant_id, "at": at}
    for n, (start, end) in enumerate(nights):
        params[f"start_{n}"], params[f"end_{n}"] = start, end
    row = session.execute(_night_probes(len(nights)), params).one()
    firsts = [i for i in row if i is not None]
    if len(firsts) < rule.min_nights:
        return []
    reason = (
        f"contacted the crisis line at night on {len(firsts)} nights "
        f"in the last {rule.window_days} days"
    )
    evidence = (contact.id, *[i for i in reversed(firsts) if i != contact.id])
    return [Firing(REPEATED_NIGHT, rule.severity, reason, rule.cooldown, evidence)]


@functools.lru_cache(maxsize=32)
def _night_probes(nights: int) -> Select[Any]:
    """The repeated-night query for this many nights, built once (it is asked on every
    night-time contact, and building eight subqueries cost more than running them)."""
    when = Contact.__table__.c.started_at.type
    probes = [
        select(Contact.id)
        .where(
            Contact.participant_id == bindparam("participant_id"),
            Contact.direction == Direction.INBOUND,
            Contact.started_at >= bindparam(f"start_{n}", type_=when),
            Contact.started_at < bindparam(f"end_{n}", type_=when),
            Contact.started_at <= bindparam("at", type_=when),
        )
        .order_by(Contact.started_at)
        .limit(1)
        .scalar_subquery()
        for n in range(nights)
    ]
    return select(*probes)


# ---- raising, merging and routing ----------------------------------------------------------


def _raise_all(
    session: Session,
    contact: Contact,
    firings: Sequence[Firing],
    now: dt.datetime,
    reach: Reach,
    rules: RiskRules,
    *,
    once_per_contact: bool = True,
) -> list[RiskAlert]:
    if not firings or contact.participant_id is None:
        return []
    participant = session.get(Participant, contact.participant_id)
    if participant is None:
        return []
    # The officer recorded on the participant now, in the transaction that recorded the
    # contact: a later change of officer never redirects this contact's alerts.
    officer_key = participant.responsible_officer_id
    officer = session.get(Staff, officer_key) if officer_key is not None else None
    officer_id = officer.id if officer is not None and officer.active and officer.phone else None
    alerts: list[RiskAlert] = []
    raised_new = False
    for firing in firings:
        alert, is_new = _raise(
            session,
            participant,
            officer_id,
            firing,
            contact,
            now,
            reach,
            rules,
            once_per_contact=once_per_contact,
        )
        if alert is not None:
            alerts.append(alert)
            raised_new = raised_new or is_new
    if raised_new and officer_id is None and rules.missing_officer.enabled:
        rule = rules.missing_officer
        why = (
            "has no responsible officer recorded"
            if officer is None
            else "has a responsible officer who is inactive or has no phone"
        )
        missing = Firing(
            MISSING_OFFICER,
            rule.severity,
            f"{why}: his alerts go to the duty manager until one is recorded",
            rule.cooldown,
            (contact.id,),
        )
        alert, _ = _raise(session, participant, None, missing, contact, now, reach, rules)
        if alert is not None:
            alerts.append(alert)
    return alerts


def _raise(
    session: Session,
    participant: Participant,
    officer_id: int | None,
    firing: Firing,
    contact: Contact,
    now: dt.datetime,
    reach: Reach,
    rules: RiskRules,
    *,
    once_per_contact: bool = True,
) -> tuple[RiskAlert | None, bool]:
    """Raise a new alert or add to the one this rule already has open; (alert, is new)."""
    if once_per_contact:
        already = session.scalar(
            select(RiskAlert.id)
            .join(AlertEvidence, AlertEvidence.alert_id == RiskAlert.id)
            .where(AlertEvidence.contact_id == contact.id, RiskAlert.rule == firing.rule)
            .limit(1)
        )
        if already is not None:
            return None, False  # this contact already fired this rule (a repeated evaluation)
    open_alert = _mergeable(session, participant.id, officer_id, firing, now)
    if open_alert is not None:
        open_alert.count += 1
        open_alert.last_seen_at = now
        open_alert.reason = firing.reason[:400]
        _add_evidence(session, open_alert, firing.evidence, now)
        log.info(
            "risk alert %s updated: participant %s, rule %s, count %s",
            open_alert.id,
            participant.id,
            firing.rule,
            open_alert.count,
        )
        return open_alert, False
    alert = RiskAlert(
        participant_id=participant.id,
        rule=firing.rule,
        severity=AlertSeverity(firing.severity),
        reason=firing.reason[:400],
        status=AlertStatus.OPEN,
        raised_at=now,
        last_seen_at=now,
        count=1,
        recipient_staff_id=officer_id,
        routed_to="officer" if officer_id is not None else "duty_manager",
    )
    session.add(alert)
    session.flush()
    _add_evidence(session, alert, firing.evidence, now)
    escalation = escalation_engine.open_escalation(
        session,
        policy_name=POLICY,
        subject_type=SUBJECT_TYPE,
        subject_id=alert.id,
        participant_id=participant.id,
        summary=summary(alert, participant),
        now=now,
        reach=reach,
        policy=_policy(session, alert.severity, officer_id, rules),
    )
    alert.escalation_id = escalation.id
    audit.record(
        session,
        actor=ACTOR,
        action="raise",
        record_type="risk_alert",
        record_id=alert.id,
        at=now,
        changes={
            "participant_id": participant.id,
            "rule": alert.rule,
            "severity": alert.severity.value,
            "recipient_staff_id": officer_id,
            "escalation_id": escalation.id,
        },
    )
    log.info(
        "risk alert %s raised: participant %s, rule %s, severity %s, to %s",
        alert.id,
        participant.id,
        alert.rule,
        alert.severity.value,
        alert.routed_to,
    )
    return alert, True


def _mergeable(
    session: Session, participant_id: int, officer_id: int | None, firing: Firing, now: dt.datetime
) -> RiskAlert | None:
    """The alert a repeat of this rule adds to, within its cooldown, if there is one."""
    recipient = (
        RiskAlert.recipient_staff_id.is_(None)
        if officer_id is None
        else RiskAlert.recipient_staff_id == officer_id
    )
    candidate = session.scalars(
        select(RiskAlert)
        .where(
            RiskAlert.participant_id == participant_id,
            RiskAlert.rule == firing.rule,
            RiskAlert.raised_at >= now - firing.cooldown,
            RiskAlert.status != AlertStatus.RESOLVED,
            # A new officer hears about it from the start, never inside the old one's alert.
            recipient,
        )
        .order_by(RiskAlert.raised_at.desc(), RiskAlert.id.desc())
        .limit(1)
    ).first()
    if candidate is None:
        return None
    _sync(session, candidate)
    if candidate.status == AlertStatus.ACKNOWLEDGED and firing.severity == "urgent":
        # Someone saw the last one; new urgent evidence must reach a person again.
        return None
    chase = (
        session.get(EscalationRecord, candidate.escalation_id) if candidate.escalation_id else None
    )
    if chase is not None and chase.status not in ("open", "acknowledged"):
        # Its chase ran out (or was closed): new evidence added there would reach nobody.
        return None
    return candidate


def _add_evidence(
    session: Session, alert: RiskAlert, contact_ids: Sequence[int], now: dt.datetime
) -> None:
    known = set(
        session.scalars(
            select(AlertEvidence.contact_id).where(
                AlertEvidence.alert_id == alert.id, AlertEvidence.contact_id.in_(contact_ids)
            )
        )
    )
    for contact_id in dict.fromkeys(contact_ids):
        if contact_id not in known:
            session.add(AlertEvidence(alert_id=alert.id, contact_id=contact_id, added_at=now))
    session.flush()


def _policy(
    session: Session, severity: AlertSeverity, officer_id: int | None, rules: RiskRules
) -> EscalationPolicy:
    """The escalation an alert runs: the risk-alert policy with the officer put first."""
    base, _ = escalation_policies.get_policy(session, POLICY)
    first = base.steps[0]
    if severity == AlertSeverity.URGENT:
        if officer_id is None:
            return base
        officer = StaffTarget(officer_id)
        targets = (officer, *[t for t in first.targets if t != officer])
        steps = (Step(targets, first.channels, first.wait_seconds), *base.steps[1:])
        return EscalationPolicy(base.name, steps, base.repeat)
    wait = int(rules.acknowledgement.wait(severity.value).total_seconds())
    targets = (StaffTarget(officer_id),) if officer_id is not None else first.targets
    return EscalationPolicy(base.name, (Step(targets, ("sms",), wait),), 0)


def summary(alert: RiskAlert, participant: Participant) -> str:
    """The alert in one line, as escalation texts and calls give it."""
    return f"Risk alert {alert.id} ({alert.severity.value}): {participant.reference} {alert.reason}"


def _alert_texts(session: Session, record: EscalationRecord, code: int) -> list[OutgoingText]:
    """The officer's (and duty manager's) SMS: severity, participant, reason, reply codes."""
    alert = session.get(RiskAlert, record.subject_id) if record.subject_id else None
    participant = session.get(Participant, alert.participant_id) if alert else None
    if alert is None or participant is None:
        return [OutgoingText(notification_text(record.summary, code))]
    urgent = alert.severity == AlertSeverity.URGENT
    return [OutgoingText(alert_text(participant.reference, alert.reason, code, urgent=urgent))]


def alert_text(reference: str, reason: str, code: int, *, urgent: bool) -> str:
    """The risk alert SMS to an officer or duty manager: who, why, and the reply codes."""
    # No alert number here: a number beside the reply code ("ALERT 2 ... Reply 1a") invites a
    # reply with the wrong code, which could take a different escalation on this phone.
    head = "Resettle RISK ALERT"
    if urgent:
        head += " URGENT"
    tail = (
        f". Reply {format_code(code, 'acknowledge')} to acknowledge, "
        f"{format_code(code, 'close')} to close."
    )
    body = plain(f": {reference} {reason}")
    room = SMS_LIMIT - len(head) - len(tail)
    if len(body) > room:
        body = body[: room - 3].rstrip() + "..."
    return head + body + tail


# ---- acknowledging and resolving -------------------------------------------------------------


def _sync(session: Session, alert: RiskAlert) -> None:
    """Mirror the escalation: taken or closed there means the alert was seen."""
    if alert.status != AlertStatus.OPEN or alert.escalation_id is None:
        return
    record = session.get(EscalationRecord, alert.escalation_id)
    if record is None:
        return
    if record.acknowledged_at is not None:
        alert.status = AlertStatus.ACKNOWLEDGED
        alert.acknowledged_at = record.acknowledged_at
        alert.acknowledged_by = record.acknowledged_by
        alert.acknowledged_by_staff_id = record.acknowledged_by_staff_id
    elif record.closed_at is not None:
        alert.status = AlertStatus.ACKNOWLEDGED
        alert.acknowledged_at = record.closed_at
        alert.acknowledged_by = record.closed_by


def sync_acknowledgements(session: Session) -> int:
    """Mark open alerts whose escalation someone took or closed as acknowledged; how many."""
    rows = session.scalars(
        select(RiskAlert)
        .join(EscalationRecord, EscalationRecord.id == RiskAlert.escalation_id)
        .where(
            RiskAlert.status == AlertStatus.OPEN,
            or_(
                EscalationRecord.acknowledged_at.is_not(None),
                EscalationRecord.closed_at.is_not(None),
            ),
        )
    ).all()
    for alert in rows:
        _sync(session, alert)
    return len(rows)


def get(session: Session, alert_id: int) -> RiskAlert:
    """The alert with `alert_id`, its status brought up to date, or NotFound."""
    alert = session.get(RiskAlert, alert_id)
    if alert is None:
        raise NotFound(f"There is no risk alert with id {alert_id}.")
    _sync(session, alert)
    return alert


def acknowledge(
    session: Session, alert_id: int, *, actor: str, now: dt.datetime, reach: Reach
) -> RiskAlert:
    """Someone has seen the alert: record who and when, and stop its escalation."""
    alert = get(session, alert_id)
    if alert.status == AlertStatus.RESOLVED:
        raise Conflict(f"Risk alert {alert_id} is already resolved.")
    if alert.status == AlertStatus.ACKNOWLEDGED:
        return alert
    alert.status = AlertStatus.ACKNOWLEDGED
    alert.acknowledged_by = actor
    alert.acknowledged_at = now
    _stop_escalation(session, alert, actor, now, reach, close=False)
    audit.record(
        session,
        actor=actor,
        action="acknowledge",
        record_type="risk_alert",
        record_id=alert.id,
        at=now,
    )
    return alert


def resolve(
    session: Session, alert_id: int, *, note: str, actor: str, now: dt.datetime, reach: Reach
) -> RiskAlert:
    """Close the alert with a note saying what was done; it counts as acknowledged too."""
    note = " ".join(note.split()) if isinstance(note, str) else ""
    if not note:
        raise InvalidInput("A resolution needs a note saying what was done.", "note")
    alert = get(session, alert_id)
    if alert.status == AlertStatus.RESOLVED:
        raise Conflict(f"Risk alert {alert_id} is already resolved.")
    if alert.acknowledged_at is None:
        alert.acknowledged_by = actor
        alert.acknowledged_at = now
    alert.status = AlertStatus.RESOLVED
    alert.resolved_by = actor
    alert.resolved_at = now
    alert.resolution_note = note[:2000]
    _stop_escalation(session, alert, actor, now, reach, close=True)
    audit.record(
        session,
        actor=actor,
        action="resolve",
        record_type="risk_alert",
        record_id=alert.id,
        at=now,
        changes={"note": alert.resolution_note},
    )
    return alert


def _stop_escalation(
    session: Session, alert: RiskAlert, actor: str, now: dt.datetime, reach: Reach, *, close: bool
) -> None:
    if alert.escalation_id is None:
        return
    record = session.get(EscalationRecord, alert.escalation_id)
    if record is None:
        return
    by = ByOperator(actor)
    if record.status in ("open", "exhausted"):
        escalation_engine.acknowledge_escalation(session, record.id, by, now, reach)
    if close and record.status != "closed":
        escalation_engine.close_escalation(session, record.id, by, now, reach)


# ---- finding -------------------------------------------------------------------------------


# Most severe first: urgent, warning, info (the column holds the words, not a rank).
SEVERITY_RANK: Final = {AlertSeverity.URGENT: 0, AlertSeverity.WARNING: 1, AlertSeverity.INFO: 2}


def find(
    session: Session,
    *,
    status: AlertStatus | None = None,
    participant_id: int | None = None,
    severity: AlertSeverity | None = None,
    raised_from: dt.datetime | None = None,
    raised_to: dt.datetime | None = None,
    visible: ColumnElement[bool] | None = None,
    offset: int = 0,
    limit: int = 50,
    most_severe_first: bool = False,
) -> tuple[list[RiskAlert], int]:
    """A page of alerts, newest first (or most severe first, urgent to info, newest first within
    each), and how many match; `visible`, a condition on Participant, keeps those a reader's
    grant reaches (crisisline.caseloads)."""
    sync_acknowledgements(session)
    conditions: list[ColumnElement[bool]] = []
    if visible is not None:
        conditions.append(RiskAlert.participant_id.in_(select(Participant.id).where(visible)))
    if status is not None:
        conditions.append(RiskAlert.status == status)
    if participant_id is not None:
        conditions.append(RiskAlert.participant_id == participant_id)
    if severity is not None:
        conditions.append(RiskAlert.severity == severity)
    if raised_from is not None:
        conditions.append(RiskAlert.raised_at >= raised_from)
    if raised_to is not None:
        conditions.append(RiskAlert.raised_at < raised_to)
    order: list[Any] = [RiskAlert.raised_at.desc(), RiskAlert.id.desc()]
    if most_severe_first:
        rank = case(
            {level.value: position for level, position in SEVERITY_RANK.items()},
            value=RiskAlert.severity,
            else_=len(SEVERITY_RANK),
        )
        order.insert(0, rank)
    total = session.scalar(select(func.count(RiskAlert.id)).where(*conditions)) or 0
    rows = session.scalars(
        select(RiskAlert).where(*conditions).order_by(*order).offset(offset).limit(limit)
    ).all()
    return list(rows), total


def evidence(session: Session, alert_id: int) -> list[Contact]:
    """The contacts behind an alert, oldest first."""
    return list(
        session.scalars(
            select(Contact)
            .join(AlertEvidence, AlertEvidence.contact_id == Contact.id)
            .where(AlertEvidence.alert_id == alert_id)
            .order_by(Contact.started_at, Contact.id)
        )
    )


def latest_evidence(session: Session, alert_id: int, limit: int) -> tuple[list[Contact], int]:
    """The newest `limit` contacts behind an alert, oldest first, and how many there are in
    all (an alert that kept firing can gather many: a page shows a bounded number)."""
    newest = list(
        session.scalars(
            select(Contact)
            .join(AlertEvidence, AlertEvidence.contact_id == Contact.id)
            .where(AlertEvidence.alert_id == alert_id)
            .order_by(Contact.started_at.desc(), Contact.id.desc())
            .limit(limit)
        )
    )
    total = session.scalar(
        select(func.count(AlertEvidence.id)).where(AlertEvidence.alert_id == alert_id)
    )
    newest.reverse()
    return newest, total or 0


def recipient(session: Session, alert: RiskAlert) -> Staff | None:
    """The responsible officer the alert was sent to (None: it went to the duty manager)."""
    return session.get(Staff, alert.recipient_staff_id) if alert.recipient_staff_id else None


escalation_engine.register_notification_texts(SUBJECT_TYPE, _alert_texts)
# An officer is asked to "acknowledge" an alert, so the confirmations say so too.
escalation_engine.register_taken_word(SUBJECT_TYPE, "acknowledged")
