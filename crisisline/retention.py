"""The retention run: what is past its time under the retention schedule (config/retention.toml),
removed or anonymised, each change recorded.

`plan` reads, at a given moment, every record past its time, rule by rule, leaving out every
participant under an open legal hold; it changes nothing (the dry run is a plan shown). `run`
writes its `RetentionRun` row first (status "running"), then applies the plan in batches: each
batch changes its records and writes one `RetentionAction` per record changed, and the run's
counts, in ONE transaction, so nothing is ever removed without its record and a run that dies
half-way keeps the record of every batch it finished (the run is then "failed", with the
error's type only). `run_due` is the scheduler's daily run: once a day at or after
RETENTION_TIME local, whichever scheduler gets there first (`retention_runs.scheduled_for` is
unique).

Contacts are never deleted: their words and numbers go, their times, channels and outcomes stay,
so the service reports count the same before and after. docs/data-protection.md ("The retention
schedule") says what each rule removes and why.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from sqlalchemy import (
    ColumnElement,
    and_,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from crisisline import audit
from crisisline.account_models import WebSession
from crisisline.alert_models import RiskAlert
from crisisline.conversation_models import SmsConversation
from crisisline.data_protection_models import (
    LegalHold,
    ParticipantCorrection,
    RecordingDeletion,
    RetentionAction,
    RetentionRun,
)
from crisisline.db import Database
from crisisline.email_models import Email, EmailStatus
from crisisline.escalation_models import EscalationRecord
from crisisline.flood_models import FloodContact
from crisisline.models import (
    AuditEntry,
    Channel,
    Contact,
    Delivery,
    DeliveryStatus,
    Direction,
    Participant,
    ParticipantPhone,
    RecordAccess,
    Staff,
)
from crisisline.note_models import ContactNote, FollowUp
from crisisline.retention_schedule import Kind, RetentionSchedule, Rule, Start
from crisisline.risk_rules import local_to_utc

log = logging.getLogger(__name__)

# What a removed text becomes: the SAR bundle and the console show it as it is.
REMOVED: Final = "[removed under the retention schedule]"
# A participant's name once his details are removed; his reference becomes removed-<id>.
REMOVED_NAME: Final = "Removed"
# Records changed per transaction: small enough that a batch never holds locks for long, large
# enough that a night's run is a few hundred transactions at most.
BATCH_SIZE: Final = 500
# How many record ids a dry run shows per rule.
SAMPLE_SIZE: Final = 10
# The scheduler checks every five minutes whether today's run is due.
CHECK_SECONDS: Final = 300.0
# A run still "running" this long after it started has stopped without saying so: a night's
# run takes minutes.
STUCK_AFTER: Final = dt.timedelta(hours=6)
INTERRUPTED: Final = "Interrupted"  # the error of a run whose process stopped mid-way

# What each run did to a record (retention_actions.action).
ANONYMISED: Final = "anonymised"
REMOVED_ROW: Final = "removed"
DELETION_REQUESTED: Final = "deletion_requested"

# Deliveries that can still change (the dispatcher holds them): never touched.
_UNSETTLED: Final = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING)
_EMAIL_SETTLED: Final = (EmailStatus.SENT, EmailStatus.FAILED)
_CONVERSATION_SUBJECT: Final = "sms_conversation"  # crisisline.sms_conversations.SUBJECT_TYPE
_ESCALATION_SUBJECT: Final = "escalation"  # crisisline.escalation_engine.SUBJECT
_ALERT_SUBJECT: Final = "risk_alert"  # crisisline.alerts.SUBJECT_TYPE
FINGERPRINT_PREFIX: Final = "removed-"
_FINGER: Final = FINGERPRINT_PREFIX + "%"


@dataclass(frozen=True)
class Target:
    """One record a rule changes: its table's name, its key, and whose it is."""

    record_type: str
    key: Any  # the row's id (a web session's: its hash, never copied into the record)
    participant_id: int | None
    action: str


@dataclass
class Plan:
    """What is past its time at `as_of`, by rule, with the held participants left out."""

    as_of: dt.datetime
    local_date: dt.date
    targets: dict[Kind, list[Target]] = field(default_factory=dict)
    held_participants: set[int] = field(default_factory=set)

    @property
    def held(self) -> int:
        """How many held participants had something past its time, left untouched."""
        return len(self.held_participants)

    def count(self, kind: Kind) -> int:
        """How many records the rule would change."""
        return len(self.targets.get(kind, []))

    def sample(self, kind: Kind, size: int = SAMPLE_SIZE) -> list[str]:
        """A few of the rule's records, as "contact 12" (a web session shows no key)."""
        return [
            f"{t.record_type} {t.key if t.record_type != 'web_session' else '(session)'}"
            for t in self.targets.get(kind, [])[:size]
        ]


class RunInProgress(Exception):
    """Another retention run is going: one at a time."""

    def __init__(self, run_id: int) -> None:
        super().__init__(f"retention run {run_id} is still going")
        self.run_id = run_id


@dataclass(frozen=True)
class Outcome:
    """A finished (or failed) run, as the CLI and the job report it."""

    run_id: int
    status: str
    counts: dict[str, int]
    held: int
    error: str | None


class Cutoffs:
    """When a rule's records are past their time at one moment."""

    def __init__(self, as_of: dt.datetime, zone: ZoneInfo) -> None:
        self.as_of = as_of
        self.local_date = as_of.astimezone(zone).date()

    def record_before(self, rule: Rule) -> dt.datetime:
        """A record from before this instant is past its time (counted from its own time)."""
        return rule.keep.before(self.as_of)

    def ended_by(self, rule: Rule) -> dt.date:
        """A participant who left on or before this local date is past his time."""
        keep = rule.keep
        return self.local_date - relativedelta(years=keep.years, months=keep.months, days=keep.days)

    def past(
        self,
        rule: Rule,
        at: InstrumentedAttribute[dt.datetime] | ColumnElement[dt.datetime],
        participant: InstrumentedAttribute[int | None] | None,
    ) -> ColumnElement[bool]:
        """The SQL condition "this record is past its time under `rule`"."""
        own_time = at < self.record_before(rule)
        if rule.start is Start.RECORD or participant is None:
            return own_time
        ended = select(Participant.id).where(
            Participant.ended_service_on.is_not(None),
            Participant.ended_service_on <= self.ended_by(rule),
        )
        # A participant who has not left is never past; an unknown caller's record counts
        # from its own time.
        return or_(participant.in_(ended), and_(participant.is_(None), own_time))


def due_at(day: dt.date, at: dt.time, zone: ZoneInfo) -> dt.datetime:
    """The instant of `day`'s run at local time `at`: a time the clocks skip is taken at its
    earliest reading (the run happens that day), a repeated time at its first."""
    return local_to_utc(dt.datetime.combine(day, at), zone, earliest=True)


def as_of_date(day: dt.date, at: dt.time, zone: ZoneInfo) -> dt.datetime:
    """The moment a run "as of" a local date is made at: that day's retention time."""
    return due_at(day, at, zone)


# ---- the plan --------------------------------------------------------------------------------


def plan(session: Session, schedule: RetentionSchedule, as_of: dt.datetime, zone: ZoneInfo) -> Plan:
    """Everything past its time at `as_of`, rule by rule; held participants left out. Reads
    only."""
    cut = Cutoffs(as_of, zone)
    held = held_participants(session)
    result = Plan(as_of=as_of, local_date=cut.local_date)
    # An escalation's summary can be due under two rules (an alert's, a participant's details):
    # it is changed, and recorded, once, by the first.
    planned: set[tuple[str, Any]] = set()
    for kind, finder in _FINDERS.items():
        found = finder(session, schedule[kind], cut)
        kept: list[Target] = []
        for target in found:
            if target.participant_id is not None and target.participant_id in held:
                result.held_participants.add(target.participant_id)
            elif (target.record_type, target.key) not in planned:
                kept.append(target)
                if target.record_type == "escalation":
                    planned.add((target.record_type, target.key))
        result.targets[kind] = kept
    return result


def held_participants(session: Session) -> set[int]:
    """Every participant under an open legal hold."""
    return set(
        session.scalars(select(LegalHold.participant_id).where(LegalHold.lifted_at.is_(None)))
    )


def _targets(rows: Iterable[Any], record_type: str, action: str = ANONYMISED) -> Iterator[Target]:
    for key, participant_id in rows:
        yield Target(record_type, key, participant_id, action)


def _message_bodies(session: Session, rule: Rule, cut: Cutoffs) -> list[Target]:
    rows = session.execute(
        select(Contact.id, Contact.participant_id, Contact.body, Contact.media_urls)
        .where(
            Contact.channel == Channel.SMS,
            or_(Contact.body.is_(None), Contact.body != REMOVED),
            cut.past(rule, Contact.started_at, Contact.participant_id),
        )
        .order_by(Contact.id)
    ).all()
    # A text with neither words nor pictures (an outbound call's placeholder) has nothing to go.
    return [
        Target("contact", cid, pid, ANONYMISED)
        for cid, pid, body, media in rows
        if body is not None or media
    ]


def _voicemail_recordings(session: Session, rule: Rule, cut: Cutoffs) -> list[Target]:
    asked = exists().where(RecordingDeletion.contact_id == Contact.id)
    rows = session.execute(
        select(Contact.id, Contact.participant_id)
        .where(
            Contact.recording_url.is_not(None),
            ~asked,
            cut.past(rule, Contact.started_at, Contact.participant_id),
        )
        .order_by(Contact.id)
    )
    return list(_targets(rows, "contact", DELETION_REQUESTED))


def _call_metadata(session: Session, rule: Rule, cut: Cutoffs) -> list[Target]:
    contacts = session.execute(
        select(Contact.id, Contact.participant_id)
        .where(
            # A number already removed (NULL) or fingerprinted has nothing more to go.
            or_(
                and_(Contact.from_number.is_not(None), Contact.from_number.not_like(_FINGER)),
                and_(Contact.to_number.is_not(None), Contact.to_number.not_like(_FINGER)),
            ),
            cut.past(rule, Contact.started_at, Contact.participant_id),
        )
        .order_by(Contact.id)
    )
    found = list(_targets(contacts, "contact"))
    # A flood keeps the sender's number of each contact it gathered.
    floods = session.execute(
        select(FloodContact.contact_id, Contact.participant_id)
        .join(Contact, Contact.id == FloodContact.contact_id)
        .where(
            FloodContact.from_number.is_not(None),
            cut.past(rule, Contact.started_at, Contact.participant_id),
        )
        .order_by(FloodContact.contact_id)
    )
    found += _targets(floods, "flood_contact")
    # A closed conversation keeps the number it was with; an open one is still in use.
    conversations = session.execute(
        select(SmsConversation.id, SmsConversation.participant_id)
        .where(
            SmsConversation.status != "open",
            SmsConversation.phone != "",
            cut.past(rule, SmsConversation.last_message_at, SmsConversation.participant_id),
        )
        .order_by(SmsConversation.id)
    )
    found += _targets(conversations, "sms_conversation")
    # The summary of an unknown caller's escalation names his number ("Missed call from
    # +44..."); a participant's names him, and goes with his details.
    escalations = session.execute(
        select(EscalationRecord.id, EscalationRecord.participant_id)
        .where(
            EscalationRecord.participant_id.is_(None),
            EscalationRecord.status != "open",
            EscalationRecord.summary != REMOVED,
            cut.past(rule, EscalationRecord.opened_at, None),
        )
        .order_by(EscalationRecord.id)
    )
    found += _targets(escalations, "escalation")
    return found


def _notes(session: Session, rule: Rule, cut: Cutoffs) -> list[Target]:
    notes = session.execute(
        select(ContactNote.id, ContactNote.participant_id)
        .where(
            ContactNote.what_happened != REMOVED,
            cut.past(rule, ContactNote.written_at, ContactNote.participant_id),
        )
        .order_by(ContactNote.id)
    )
    follow_ups = session.execute(
        select(FollowUp.id, FollowUp.participant_id)
        .where(
            FollowUp.what != REMOVED,
            cut.past(rule, FollowUp.asked_at, FollowUp.participant_id),
        )
        .order_by(FollowUp.id)
    )
    return [*_targets(notes, "contact_note"), *_targets(follow_ups, "follow_up")]


def _alerts(session: Session, rule: Rule, cut: Cutoffs) -> list[Target]:
    rows = session.execute(
        select(RiskAlert.id, RiskAlert.participant_id)
        .where(
            RiskAlert.reason != REMOVED,
            cut.past(rule, RiskAlert.raised_at, RiskAlert.participant_id),
        )
        .order_by(RiskAlert.id)
    )
    found = list(_targets(rows, "risk_alert"))
    # An alert's escalation repeats its reason in its summary ("Risk alert 4 (urgent): ...").
    escalations = session.execute(
        select(EscalationRecord.id, RiskAlert.participant_id)
        .join(RiskAlert, RiskAlert.id == EscalationRecord.subject_id)
        .where(
            EscalationRecord.subject_type == _ALERT_SUBJECT,
            EscalationRecord.status != "open",
            EscalationRecord.summary != REMOVED,
            cut.past(rule, RiskAlert.raised_at, RiskAlert.participant_id),
        )
        .order_by(EscalationRecord.id)
    )
    return found + list(_targets(escalations, "escalation"))


def _access_log(session: Session, rule: Rule, cut: Cutoffs) -> list[Target]:
    rows = session.execute(
        select(RecordAccess.id, RecordAccess.participant_id)
        .where(cut.past(rule, RecordAccess.at, RecordAccess.participant_id))
        .order_by(RecordAccess.id)
    )
    return list(_targets(rows, "record_access", REMOVED_ROW))


def _deliveries(session: Session, rule: Rule, cut: Cutoffs) -> list[Target]:
    rows = session.execute(
        select(Delivery.id, Delivery.to_number, Delivery.subject_type, Delivery.subject_id)
        .where(
            Delivery.status.not_in(_UNSETTLED),
            Delivery.body != REMOVED,
            cut.past(rule, Delivery.created_at, None),
        )
        .order_by(Delivery.id)
    ).all()
    whose = _delivery_participants(session, rows)
    found = [Target("delivery", row[0], whose.get(row[0]), ANONYMISED) for row in rows]
    emails = session.execute(
        select(Email.id)
        .where(
            Email.status.in_(_EMAIL_SETTLED),
            Email.text_body != REMOVED,
            cut.past(rule, Email.created_at, None),
        )
        .order_by(Email.id)
    )
    found += [Target("email", email_id, None, ANONYMISED) for email_id in emails.scalars()]
    return found


def _delivery_participants(session: Session, rows: Sequence[Any]) -> dict[int, int]:
    """Whose each delivery is, where it can be told: the text relayed to him (his contact),
    his conversation or escalation, or his number. Deliveries to staff about nobody: none."""
    ids = [row[0] for row in rows]
    whose: dict[int, int] = {}
    for chunk in _chunks(ids, BATCH_SIZE):
        relayed = session.execute(
            select(Contact.delivery_id, Contact.participant_id).where(
                Contact.delivery_id.in_(chunk), Contact.participant_id.is_not(None)
            )
        )
        for delivery_id, participant_id in relayed:
            if delivery_id is not None and participant_id is not None:
                whose[delivery_id] = participant_id
    conversations = {r[3] for r in rows if r[2] == _CONVERSATION_SUBJECT and r[3] is not None}
    escalations = {r[3] for r in rows if r[2] == _ESCALATION_SUBJECT and r[3] is not None}
    numbers = {r[1] for r in rows if r[1]}
    by_conversation = _lookup(
        session, SmsConversation.id, SmsConversation.participant_id, conversations
    )
    by_escalation = _lookup(
        session, EscalationRecord.id, EscalationRecord.participant_id, escalations
    )
    by_number = _lookup(session, ParticipantPhone.number, ParticipantPhone.participant_id, numbers)
    for delivery_id, number, subject_type, subject_id in rows:
        if delivery_id in whose:
            continue
        found = (
            by_conversation.get(subject_id) if subject_type == _CONVERSATION_SUBJECT else None
        ) or (by_escalation.get(subject_id) if subject_type == _ESCALATION_SUBJECT else None)
        found = found or by_number.get(number)
        if found is not None:
            whose[delivery_id] = found
    return whose


def _lookup(session: Session, key: Any, value: Any, wanted: set[Any]) -> dict[Any, int]:
    found: dict[Any, int] = {}
    for chunk in _chunks(sorted(wanted), BATCH_SIZE):
        for k, v in session.execute(select(key, value).where(key.in_(chunk), value.is_not(None))):
            found[k] = v
    return found


def _sessions(session: Session, rule: Rule, cut: Cutoffs) -> list[Target]:
    ended = func.coalesce(WebSession.ended_at, WebSession.expires_at)
    rows = session.scalars(
        select(WebSession.id_hash)
        .where(cut.past(rule, ended, None))
        .order_by(WebSession.created_at, WebSession.id_hash)
    )
    return [Target("web_session", key, None, REMOVED_ROW) for key in rows]


def _participant_details(session: Session, rule: Rule, cut: Cutoffs) -> list[Target]:
    people = list(
        session.scalars(
            select(Participant.id)
            .where(
                Participant.anonymised_at.is_(None),
                Participant.ended_service_on.is_not(None),
                Participant.ended_service_on <= cut.ended_by(rule),
            )
            .order_by(Participant.id)
        )
    )
    found: list[Target] = []
    for chunk in _chunks(people, BATCH_SIZE):
        phones = session.execute(
            select(ParticipantPhone.id, ParticipantPhone.participant_id).where(
                ParticipantPhone.participant_id.in_(chunk)
            )
        )
        corrections = session.execute(
            select(ParticipantCorrection.id, ParticipantCorrection.participant_id).where(
                ParticipantCorrection.participant_id.in_(chunk)
            )
        )
        audits = session.execute(
            select(AuditEntry.id, AuditEntry.record_id).where(
                AuditEntry.record_type == "participant", AuditEntry.record_id.in_(chunk)
            )
        )
        escalations = session.execute(
            select(EscalationRecord.id, EscalationRecord.participant_id).where(
                EscalationRecord.participant_id.in_(chunk),
                EscalationRecord.status != "open",
                EscalationRecord.summary != REMOVED,
            )
        )
        # His own row last within his batch: its anonymised_at says all the rest is done.
        found += _targets(phones, "participant_phone", REMOVED_ROW)
        found += _targets(corrections, "participant_correction", REMOVED_ROW)
        found += _targets(audits, "audit_entry")
        found += _targets(escalations, "escalation")
        found += [Target("participant", pid, pid, ANONYMISED) for pid in chunk]
    return found


_FINDERS: Final[dict[Kind, Callable[[Session, Rule, Cutoffs], list[Target]]]] = {
    Kind.MESSAGE_BODIES: _message_bodies,
    Kind.VOICEMAIL_RECORDINGS: _voicemail_recordings,
    Kind.CALL_METADATA: _call_metadata,
    Kind.NOTES: _notes,
    Kind.ALERTS: _alerts,
    Kind.ACCESS_LOG: _access_log,
    Kind.DELIVERIES: _deliveries,
    Kind.SESSIONS: _sessions,
    # Last: every other rule has had its turn at his records first.
    Kind.PARTICIPANT_DETAILS: _participant_details,
}


# ---- applying it -----------------------------------------------------------------------------


def caller_fingerprint(secret_key: str, number: str) -> str:
    """What an unknown caller's number becomes: a short keyed fingerprint ("removed-3fa9c2"),
    shared by hundreds of possible numbers, so that the reports can still tell that a missed
    call from a number was returned to the same number, and nobody can read the number back."""
    digest = hmac.new(secret_key.encode(), number.encode(), hashlib.sha256).hexdigest()
    return f"{FINGERPRINT_PREFIX}{digest[:6]}"


def _ids(targets: Sequence[Target]) -> list[Any]:
    return [t.key for t in targets]


def _scrub(session: Session, model: Any, ids: list[Any], *columns: str) -> None:
    """Each of `columns` that holds something becomes REMOVED."""
    for name in columns:
        column = getattr(model, name)
        session.execute(
            update(model)
            .where(model.id.in_(ids), column.is_not(None))
            .values({name: REMOVED})
            .execution_options(synchronize_session=False)
        )


def _apply_contact_bodies(session: Session, targets: Sequence[Target], ctx: BatchContext) -> None:
    session.execute(
        update(Contact)
        .where(Contact.id.in_(_ids(targets)))
        .values(body=REMOVED, media_urls=[])
        .execution_options(synchronize_session=False)
    )


def _apply_recordings(session: Session, targets: Sequence[Target], ctx: BatchContext) -> None:
    rows = session.execute(
        select(Contact.id, Contact.recording_url).where(
            Contact.id.in_(_ids(targets)),
            Contact.recording_url.is_not(None),
            ~exists().where(RecordingDeletion.contact_id == Contact.id),
        )
    ).all()
    for contact_id, url in rows:
        session.add(
            RecordingDeletion(
                contact_id=contact_id,
                recording_url=url,
                run_id=ctx.run_id,
                requested_at=ctx.now,
                next_attempt_at=ctx.now,
                attempts=0,
            )
        )


def _apply_contact_numbers(session: Session, targets: Sequence[Target], ctx: BatchContext) -> None:
    rows = session.execute(
        select(
            Contact.id,
            Contact.direction,
            Contact.participant_id,
            Contact.from_number,
            Contact.to_number,
        ).where(Contact.id.in_(_ids(targets)))
    ).all()
    changes = []
    for contact_id, direction, participant_id, from_number, to_number in rows:
        values: dict[str, Any] = {"id": contact_id, "from_number": None, "to_number": None}
        caller = from_number if direction == Direction.INBOUND else to_number
        if participant_id is None and caller:
            # An unknown caller: his calls back are matched by number in the reports.
            side = "from_number" if direction == Direction.INBOUND else "to_number"
            values[side] = (
                caller
                if caller.startswith(FINGERPRINT_PREFIX)
                else caller_fingerprint(ctx.secret, caller)
            )
        changes.append(values)
    if changes:
        session.execute(update(Contact), changes)


def _apply_flood_numbers(session: Session, targets: Sequence[Target], ctx: BatchContext) -> None:
    session.execute(
        update(FloodContact)
        .where(FloodContact.contact_id.in_(_ids(targets)))
        .values(from_number=None)
        .execution_options(synchronize_session=False)
    )


def _apply_conversations(session: Session, targets: Sequence[Target], ctx: BatchContext) -> None:
    session.execute(
        update(SmsConversation)
        .where(SmsConversation.id.in_(_ids(targets)), SmsConversation.status != "open")
        .values(phone="")
        .execution_options(synchronize_session=False)
    )


def _apply_escalations(session: Session, targets: Sequence[Target], ctx: BatchContext) -> None:
    session.execute(
        update(EscalationRecord)
        .where(EscalationRecord.id.in_(_ids(targets)), EscalationRecord.status != "open")
        .values(summary=REMOVED)
        .execution_options(synchronize_session=False)
    )


def _apply_notes(session: Session, targets: Sequence[Target], ctx: BatchContext) -> None:
    _scrub(
        session,
        ContactNote,
        _ids(targets),
        "what_happened",
        "factors",
        "other_action",
        "follow_up_what",
        "correction_reason",
    )


def _apply_follow_ups(session: Session, targets: Sequence[Target], ctx: BatchContext) -> None:
    _scrub(session, FollowUp, _ids(targets), "what", "done_what")


def _apply_alerts(session: Session, targets: Sequence[Target], ctx: BatchContext) -> None:
    # The alert's time, rule, severity, status and count stay; its evidence rows are links to
    # the contacts behind it, whose words and numbers go under their own rules.
    _scrub(session, RiskAlert, _ids(targets), "reason", "resolution_note")


def _apply_access_log(session: Session, targets: Sequence[Target], ctx: BatchContext) -> None:
    if session.get_bind().dialect.name == "postgresql":
        # The log is append-only; its trigger lets the retention run delete, in this
        # transaction only (migration 0025).
        session.execute(text("SET LOCAL crisisline.retention = 'on'"))
    session.execute(
        delete(RecordAccess)
        .where(RecordAccess.id.in_(_ids(targets)))
        .execution_options(synchronize_session=False)
    )


def _apply_deliveries(session: Session, targets: Sequence[Target], ctx: BatchContext) -> None:
    ids = _ids(targets)
    settled = Delivery.status.not_in(_UNSETTLED)
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), settled)
        .values(body=REMOVED)
        .execution_options(synchronize_session=False)
    )
    # A text or call to a participant (or an unknown caller) loses his number; one to staff
    # keeps the staff member's, which is staff data kept with the staff record.
    staff_phones = select(Staff.phone)
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), settled, Delivery.to_number.not_in(staff_phones))
        .values(to_number="")
        .execution_options(synchronize_session=False)
    )


def _apply_emails(session: Session, targets: Sequence[Target], ctx: BatchContext) -> None:
    ids = _ids(targets)
    session.execute(
        update(Email)
        .where(Email.id.in_(ids), Email.status.in_(_EMAIL_SETTLED))
        .values(text_body=REMOVED)
        .execution_options(synchronize_session=False)
    )
    _scrub(session, Email, ids, "html_body")


def _deleting(
    key: InstrumentedAttribute[Any],
) -> Callable[[Session, Sequence[Target], BatchContext], None]:
    """An applier that deletes the rows whose `key` is a target's: sign-in sessions, his phone
    numbers, the corrections of his details."""

    def apply(session: Session, targets: Sequence[Target], ctx: BatchContext) -> None:
        session.execute(
            delete(key.class_)
            .where(key.in_(_ids(targets)))
            .execution_options(synchronize_session=False)
        )

    return apply


def _apply_audit(session: Session, targets: Sequence[Target], ctx: BatchContext) -> None:
    # Who changed his record and when stay; what the values were goes.
    session.execute(
        update(AuditEntry)
        .where(AuditEntry.id.in_(_ids(targets)))
        .values(changes={"details": REMOVED})
        .execution_options(synchronize_session=False)
    )


def _apply_participants(session: Session, targets: Sequence[Target], ctx: BatchContext) -> None:
    changes = [
        {
            "id": t.key,
            "name": REMOVED_NAME,
            "reference": f"removed-{t.key}",
            "anonymised_at": ctx.now,
            "updated_at": ctx.now,
        }
        for t in targets
    ]
    session.execute(update(Participant), changes)


@dataclass(frozen=True)
class BatchContext:
    """What a batch is done for: its run, its time, and the key of callers' fingerprints."""

    run_id: int
    now: dt.datetime
    secret: str


_Apply = Callable[[Session, Sequence[Target], BatchContext], None]

_APPLY: Final[dict[tuple[Kind, str], _Apply]] = {
    (Kind.MESSAGE_BODIES, "contact"): _apply_contact_bodies,
    (Kind.VOICEMAIL_RECORDINGS, "contact"): _apply_recordings,
    (Kind.CALL_METADATA, "contact"): _apply_contact_numbers,
    (Kind.CALL_METADATA, "flood_contact"): _apply_flood_numbers,
    (Kind.CALL_METADATA, "sms_conversation"): _apply_conversations,
    (Kind.CALL_METADATA, "escalation"): _apply_escalations,
    (Kind.NOTES, "contact_note"): _apply_notes,
    (Kind.NOTES, "follow_up"): _apply_follow_ups,
    (Kind.ALERTS, "risk_alert"): _apply_alerts,
    (Kind.ALERTS, "escalation"): _apply_escalations,
    (Kind.ACCESS_LOG, "record_access"): _apply_access_log,
    (Kind.DELIVERIES, "delivery"): _apply_deliveries,
    (Kind.DELIVERIES, "email"): _apply_emails,
    (Kind.SESSIONS, "web_session"): _deleting(WebSession.id_hash),
    (Kind.PARTICIPANT_DETAILS, "participant_phone"): _deleting(ParticipantPhone.id),
    (Kind.PARTICIPANT_DETAILS, "participant_correction"): _deleting(ParticipantCorrection.id),
    (Kind.PARTICIPANT_DETAILS, "audit_entry"): _apply_audit,
    (Kind.PARTICIPANT_DETAILS, "escalation"): _apply_escalations,
    (Kind.PARTICIPANT_DETAILS, "participant"): _apply_participants,
}


def apply_batch(
    session: Session, kind: Kind, targets: Sequence[Target], ctx: BatchContext
) -> list[Target]:
    """Change one batch of a rule's records and record each: what was changed. A participant
    put under a hold since the plan was made is left out."""
    held = held_participants(session)
    chosen = [t for t in targets if t.participant_id is None or t.participant_id not in held]
    by_type: dict[str, list[Target]] = defaultdict(list)
    for target in chosen:
        by_type[target.record_type].append(target)
    for record_type, group in by_type.items():
        _APPLY[(kind, record_type)](session, group, ctx)
    if chosen:
        session.execute(
            insert(RetentionAction),
            [
                {
                    "run_id": ctx.run_id,
                    "rule": kind.value,
                    "action": t.action,
                    "record_type": t.record_type,
                    "record_id": t.key if isinstance(t.key, int) else None,
                    "participant_id": t.participant_id,
                    "at": ctx.now,
                }
                for t in chosen
            ],
        )
    return chosen


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ---- the run ---------------------------------------------------------------------------------


def run(
    db: Database,
    schedule: RetentionSchedule,
    *,
    clock: Callable[[], dt.datetime],
    zone: ZoneInfo,
    secret_key: str,
    actor: str,
    as_of: dt.datetime | None = None,
    scheduled_for: dt.date | None = None,
    batch_size: int = BATCH_SIZE,
) -> Outcome | None:
    """Run the schedule: plan at `as_of` (default now), then apply it batch by batch. None when
    `scheduled_for` already has its run (another scheduler got there first); RunInProgress
    when another run is going."""
    started = clock()
    moment = as_of or started
    try:
        with db.transaction() as session:
            going = session.scalar(
                select(RetentionRun.id).where(
                    RetentionRun.status == "running",
                    RetentionRun.started_at >= started - STUCK_AFTER,
                )
            )
            if going is not None:
                # Two runs at once would each change and record the same records.
                raise RunInProgress(going)
            row = RetentionRun(
                scheduled_for=scheduled_for,
                started_at=started,
                actor=actor,
                schedule=schedule.as_dict(),
                counts={},
                held=0,
                status="running",
            )
            # A run its process left "running" (killed mid-way) is over: say so.
            session.execute(
                update(RetentionRun)
                .where(
                    RetentionRun.status == "running",
                    RetentionRun.started_at < started - STUCK_AFTER,
                )
                .values(status="failed", error=INTERRUPTED)
            )
            session.add(row)
            session.flush()
            run_id = row.id
            # Who started a run, and as of when, is in the audit log like any other change.
            audit.record(
                session,
                actor=actor,
                action="retention_run",
                record_type="retention_run",
                record_id=run_id,
                at=started,
                changes={
                    "as_of": moment.isoformat(),
                    "scheduled_for": scheduled_for.isoformat() if scheduled_for else None,
                },
            )
    except IntegrityError:
        log.info("retention run for %s: already made by another scheduler", scheduled_for)
        return None
    counts: dict[str, int] = {kind.value: 0 for kind in Kind}
    held = 0
    try:
        with db.transaction() as session:
            found = plan(session, schedule, moment, zone)
        held = found.held
        for kind in Kind:
            for batch in _chunks(found.targets.get(kind, []), batch_size):
                with db.transaction() as session:
                    ctx = BatchContext(run_id, clock(), secret_key)
                    done = apply_batch(session, kind, batch, ctx)
                    counts[kind.value] += len(done)
                    # The counts move with the batch: a run that dies later still says what
                    # it did.
                    session.execute(
                        update(RetentionRun)
                        .where(RetentionRun.id == run_id)
                        .values(counts=dict(counts), held=held)
                    )
    except Exception as error:
        # Only the type: the error's text can carry a body or a number.
        log.error("retention run %s failed (%s)", run_id, type(error).__name__)
        with db.transaction() as session:
            session.execute(
                update(RetentionRun)
                .where(RetentionRun.id == run_id)
                .values(status="failed", error=type(error).__name__[:200], finished_at=clock())
            )
        return Outcome(run_id, "failed", _counts_of(db, run_id), held, type(error).__name__)
    with db.transaction() as session:
        session.execute(
            update(RetentionRun)
            .where(RetentionRun.id == run_id)
            .values(status="finished", finished_at=clock(), counts=counts, held=held)
        )
    log.info(
        "retention run %s finished: %s changed, %s held participant(s) left untouched",
        run_id,
        sum(counts.values()),
        held,
    )
    return Outcome(run_id, "finished", counts, held, None)


def _counts_of(db: Database, run_id: int) -> dict[str, int]:
    with db.transaction() as session:
        row = session.get(RetentionRun, run_id)
        return dict(row.counts) if row is not None else {}


def dry_run(db: Database, schedule: RetentionSchedule, as_of: dt.datetime, zone: ZoneInfo) -> Plan:
    """What a run at `as_of` would change: the plan, read in a transaction rolled back, so
    nothing at all is written (not even a run row)."""
    with db.sessions() as session:
        try:
            return plan(session, schedule, as_of, zone)
        finally:
            session.rollback()


def due_day(now: dt.datetime, at: dt.time, zone: ZoneInfo) -> dt.date | None:
    """Today's local date if today's run time has come, else None."""
    today = now.astimezone(zone).date()
    return today if now >= due_at(today, at, zone) else None


def run_due(
    db: Database,
    schedule: RetentionSchedule,
    *,
    clock: Callable[[], dt.datetime],
    zone: ZoneInfo,
    at: dt.time,
    secret_key: str,
) -> Outcome | None:
    """The scheduler's daily run: today's, if its time has come and no scheduler has made it
    yet (a failed run is not tried again that day: /healthz shows it for a person to look)."""
    day = due_day(clock(), at, zone)
    if day is None:
        return None
    with db.transaction() as session:
        if session.scalar(select(RetentionRun.id).where(RetentionRun.scheduled_for == day)):
            return None
    try:
        return run(
            db,
            schedule,
            clock=clock,
            zone=zone,
            secret_key=secret_key,
            actor="scheduler",
            scheduled_for=day,
        )
    except RunInProgress as busy:
        # A run by hand is going: today's waits for the next check (every five minutes).
        log.info("retention: run %s is going; today's run waits", busy.run_id)
        return None


# ---- the record of runs ----------------------------------------------------------------------


def recent_runs(session: Session, limit: int = 30, offset: int = 0) -> list[RetentionRun]:
    """The latest runs, newest first."""
    return list(
        session.scalars(
            select(RetentionRun)
            .order_by(RetentionRun.started_at.desc(), RetentionRun.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )


def get_run(session: Session, run_id: int) -> RetentionRun | None:
    """One run, or None."""
    return session.get(RetentionRun, run_id)


def actions_of(
    session: Session, run_id: int, *, rule: str | None = None, limit: int = 100, offset: int = 0
) -> list[RetentionAction]:
    """A run's actions (optionally one rule's), in the order they were made."""
    query = select(RetentionAction).where(RetentionAction.run_id == run_id)
    if rule is not None:
        query = query.where(RetentionAction.rule == rule)
    return list(session.scalars(query.order_by(RetentionAction.id).limit(limit).offset(offset)))


def action_counts(session: Session, run_id: int) -> dict[tuple[str, str, str], int]:
    """How many actions a run recorded, by (rule, record type, action)."""
    rows = session.execute(
        select(
            RetentionAction.rule,
            RetentionAction.record_type,
            RetentionAction.action,
            func.count(),
        )
        .where(RetentionAction.run_id == run_id)
        .group_by(RetentionAction.rule, RetentionAction.record_type, RetentionAction.action)
    )
    return {(r, t, a): n for r, t, a, n in rows}


def latest(session: Session) -> tuple[RetentionRun | None, RetentionRun | None]:
    """The last finished run and the last failed one (for /healthz)."""
    finished = session.scalar(
        select(RetentionRun)
        .where(RetentionRun.status == "finished")
        .order_by(RetentionRun.started_at.desc())
        .limit(1)
    )
    failed = session.scalar(
        select(RetentionRun)
        .where(RetentionRun.status == "failed")
        .order_by(RetentionRun.started_at.desc())
        .limit(1)
    )
    return finished, failed


def stuck_run(session: Session, now: dt.datetime) -> RetentionRun | None:
    """The oldest run still "running" long after it started: its process stopped mid-way
    (killed, the machine restarted) without marking it failed."""
    return session.scalar(
        select(RetentionRun)
        .where(RetentionRun.status == "running", RetentionRun.started_at < now - STUCK_AFTER)
        .order_by(RetentionRun.started_at)
        .limit(1)
    )


def schedule_words(schedule: RetentionSchedule) -> list[tuple[str, str]]:
    """Each rule in words: ("Message bodies", "kept 2 years from the record's own time")."""
    words = []
    for kind, rule in schedule.rules.items():
        start = (
            "from the record's own time"
            if rule.start is Start.RECORD
            else "after the participant's end of service"
        )
        words.append(
            (kind.value.replace("_", " ").capitalize(), f"kept {rule.keep.words()} {start}")
        )
    return words


def count_actions(session: Session, run_id: int, *, rule: str | None = None) -> int:
    """How many actions a run recorded (optionally for one rule)."""
    query = (
        select(func.count()).select_from(RetentionAction).where(RetentionAction.run_id == run_id)
    )
    if rule is not None:
        query = query.where(RetentionAction.rule == rule)
    return session.scalar(query) or 0


def count_runs(session: Session) -> int:
    """How many runs there have been."""
    return session.scalar(select(func.count()).select_from(RetentionRun)) or 0
