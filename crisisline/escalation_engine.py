"""The escalation engine's database layer: persist the state machine's decisions and act on them.

The pure decisions come from `escalation` (start, advance, acknowledge, close, escalate_now).
This module resolves targets to people at the instant of the decision, writes the new state
with a version check, and writes the deliveries (outbox), events and reply codes in the same
transaction. A decision lands once or not at all.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql.elements import ColumnElement

import wording.staff
from crisisline import escalation_policies, outbox, wakeups
from crisisline.db import Database
from crisisline.errors import NotFound
from crisisline.escalation_models import (
    EscalationCode,
    EscalationEvent,
    EscalationRecord,
)
from crisisline.models import Delivery, DeliveryStatus, Participant, Staff
from crisisline.phones import redact
from crisisline.staff import duty_managers
from escalation import (
    Advance,
    ByOperator,
    ByPhone,
    CodeAssignment,
    EscalationPolicy,
    EscalationState,
    Notification,
    OutgoingText,
    Reach,
    Recipient,
    Responder,
    Target,
    acknowledge,
    advance,
    close,
    escalate_now,
    parse_policy,
    parse_reply,
    policy_to_json,
    start,
)
from wording.sms import segment_count

log = logging.getLogger(__name__)

PURPOSE = "escalation"
BUNDLE_PURPOSE = "escalation_bundle"
# At most one escalation text per phone in this window; what comes in between is merged into
# one held text listing every code, sent when the window ends: merged, never dropped, and
# never held longer than one window.
BUNDLE_WINDOW = dt.timedelta(seconds=30)
BUNDLE_MAX_CHARS = 600  # four segments; a fuller bundle starts another, due at the same time
OVERDUE_AFTER = dt.timedelta(seconds=60)


SUMMARY_MAX = 200
"""The longest summary an escalation keeps (the texts shorten it further to fit)."""

SUBJECT = "escalation"
"""The outbox's name for an escalation as the subject of its crisis deliveries."""


def subject_of(record: EscalationRecord) -> outbox.Subject:
    """The escalation as what its notifications are about: retried while it is not taken."""
    return outbox.Subject(SUBJECT, record.id)


def _settled(session: Session, escalation_id: int) -> str | None:
    status = session.scalar(
        select(EscalationRecord.status).where(EscalationRecord.id == escalation_id)
    )
    if status in ("acknowledged", "closed"):
        return f"escalation {escalation_id} was {status}"
    return None


# An exhausted escalation is still not taken: its texts and calls keep being retried.
outbox.register_subject(SUBJECT, _settled)


NotificationTexts = Callable[[Session, "EscalationRecord", int], list[OutgoingText]]
_notification_texts: dict[str, NotificationTexts] = {}


def register_notification_texts(subject_type: str, texts: NotificationTexts) -> None:
    """Let a kind of subject (an SMS conversation, say) write its own notification texts.

    `texts(session, escalation, code)` returns the SMS to send each person a step notifies;
    the default is one text with the summary and the reply codes.
    """
    _notification_texts[subject_type] = texts


# The word a kind of subject's texts use for taking it: a risk alert is "acknowledged".
_taken_words: dict[str, str] = {}


def register_taken_word(subject_type: str, word: str) -> None:
    """Let a kind of subject say its own word for taking it in confirmations ("acknowledged")."""
    _taken_words[subject_type] = word


def _taken(record: EscalationRecord) -> str:
    return _taken_words.get(record.subject_type, "taken")


def notification_texts(session: Session, record: EscalationRecord, code: int) -> list[OutgoingText]:
    """What a notified person is texted for this escalation."""
    custom = _notification_texts.get(record.subject_type)
    if custom is not None:
        return custom(session, record, code)
    return [OutgoingText(wording.staff.notification_text(record.summary, code))]


CODE_REST = dt.timedelta(hours=24)


def codes_in_use(session: Session, now: dt.datetime | None = None) -> Callable[[str], set[int]]:
    """The codes a phone may not be given: its live ones and (with `now`) those freed in the
    last day, so that an old thread answered with "1 ..." never reaches a new holder of 1."""

    def in_use(phone: str) -> set[int]:
        if session.get_bind().dialect.name == "postgresql":
            # Two escalations advancing at once could both pick the same free code for one
            # phone; a per-phone lock held until commit makes them take turns. (SQLite's
            # BEGIN IMMEDIATE already lets one writer in at a time.)
            session.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": "code:" + phone}
            )
        taken: ColumnElement[bool] = EscalationCode.active.is_(True)
        if now is not None:
            taken = or_(taken, EscalationCode.freed_at > now - CODE_REST)
        return set(
            session.scalars(select(EscalationCode.code).where(EscalationCode.phone == phone, taken))
        )

    return in_use


def free_codes(session: Session, escalation_id: int, now: dt.datetime) -> None:
    """The escalation's codes stop being live (they rest for a day before reuse)."""
    for code in session.scalars(
        select(EscalationCode).where(
            EscalationCode.escalation_id == escalation_id, EscalationCode.active.is_(True)
        )
    ):
        code.active = False
        code.freed_at = now


def note_code_sent(session: Session, escalation_id: int, phone: str, at: dt.datetime) -> None:
    """Remember that a text quoting this escalation's code went to `phone` at `at`.

    A bare "a" or "c" from that phone then means the code it was texted last.
    """
    # One statement, no read: this runs for every notification of a restart's backlog.
    session.execute(
        update(EscalationCode)
        .where(
            EscalationCode.escalation_id == escalation_id,
            EscalationCode.phone == phone,
            EscalationCode.active.is_(True),
            or_(EscalationCode.last_sent_at.is_(None), EscalationCode.last_sent_at < at),
        )
        .values(last_sent_at=at)
        .execution_options(synchronize_session="fetch")
    )


# ---- state <-> row ---------------------------------------------------------------------------


def _state(session: Session, record: EscalationRecord) -> EscalationState:
    codes = session.scalars(
        select(EscalationCode)
        .where(EscalationCode.escalation_id == record.id)
        .order_by(EscalationCode.id)
    ).all()
    return _state_of(record, codes)


def _state_of(record: EscalationRecord, codes: Sequence[EscalationCode]) -> EscalationState:
    """The state machine's view of a row and its codes (every code, oldest first)."""
    return EscalationState(
        step_index=record.step_index,
        loop=record.loop,
        next_due_at=record.next_due_at if record.status == "open" else None,
        status=record.status,  # type: ignore[arg-type]
        version=record.version,
        codes=tuple(CodeAssignment(Recipient(c.staff_id, c.phone), c.code) for c in codes),
        acknowledged_by=ByOperator(record.acknowledged_by) if record.acknowledged_by else None,
        acknowledged_at=record.acknowledged_at,
        closed_by=ByOperator(record.closed_by) if record.closed_by else None,
        closed_at=record.closed_at,
        exhausted_at=record.exhausted_at,
    )


def _responder_label(session: Session, by: Responder | None, state: EscalationState) -> str | None:
    if by is None:
        return None
    if isinstance(by, ByOperator):
        return by.actor
    staff = _staff_for_phone(state, by.phone, session)
    return staff.name if staff else redact(by.phone)


def _staff_for_phone(state: EscalationState, phone: str, session: Session) -> Staff | None:
    for assignment in state.codes:
        if assignment.recipient.phone == phone:
            return session.get(Staff, assignment.recipient.staff_id)
    return None


# ---- acting on a decision -------------------------------------------------------------------


def _write_position(record: EscalationRecord, state: EscalationState, now: dt.datetime) -> None:
    record.status = state.status
    record.step_index = state.step_index
    record.loop = state.loop
    record.next_due_at = state.next_due_at
    record.version = state.version
    record.exhausted_at = state.exhausted_at
    record.updated_at = now


def _apply(
    session: Session,
    record: EscalationRecord,
    before: EscalationState,
    decision: Advance,
    now: dt.datetime,
    reach: Reach,
) -> None:
    """Write the decision's state, codes, deliveries and events (the caller's transaction)."""
    state = decision.state
    _write_position(record, state, now)
    if state.acknowledged_at is not None and record.acknowledged_at is None:
        record.acknowledged_at = state.acknowledged_at
        record.acknowledged_by = _responder_label(session, state.acknowledged_by, state)
        if isinstance(state.acknowledged_by, ByPhone):
            staff = _staff_for_phone(state, state.acknowledged_by.phone, session)
            record.acknowledged_by_staff_id = staff.id if staff else None
        _event(
            session,
            record,
            now,
            "late_acknowledgement" if decision.late_acknowledgement else "acknowledged",
            {"by": record.acknowledged_by},
        )
    if state.closed_at is not None and record.closed_at is None:
        record.closed_at = state.closed_at
        record.closed_by = _responder_label(session, state.closed_by, state)
        _event(session, record, now, "closed", {"by": record.closed_by})
    known = {a.recipient.phone for a in before.codes}
    for assignment in state.codes:
        if assignment.recipient.phone not in known:
            session.add(
                EscalationCode(
                    escalation_id=record.id,
                    staff_id=assignment.recipient.staff_id,
                    phone=assignment.recipient.phone,
                    code=assignment.code,
                    active=True,
                    created_at=now,
                )
            )
    if state.status == "closed":
        free_codes(session, record.id, now)
    if state.status in ("acknowledged", "closed") and before.status not in (
        "acknowledged",
        "closed",
    ):
        _withdraw_from_bundles(session, record, state, now)
    # Flush the state first: if another process changed this escalation, the version check
    # fails here, before any delivery is written.
    session.flush()
    for note in decision.notifications:
        if note.channel == "sms":
            _notify_by_sms(session, record, note.recipient.phone, note.code, now, reach)
        else:
            outbox.enqueue_call(
                session,
                to=note.recipient.phone,
                from_=reach.from_number,
                script=wording.staff.voice_prompt(record.summary),
                twiml_url=reach.call_url(record.id),
                purpose=PURPOSE,
                now=now,
                subject=subject_of(record),
            )
        _notified_event(session, record, note, now)
    _skip_and_gap_events(session, record, decision, now)
    taken_by = record.closed_by if state.status == "closed" else record.acknowledged_by
    for notice in decision.taken_notices:
        outbox.enqueue_sms(
            session,
            to=notice.recipient.phone,
            from_=reach.from_number,
            body=wording.staff.taken_by_text(
                record.summary,
                taken_by or "a colleague",
                closed=notice.action == "closed",
                taken=_taken(record),
            ),
            purpose=PURPOSE,
            now=now,
        )
    if decision.incident is not None:
        _raise_incident(session, record, now, reach)


def _notified_event(
    session: Session, record: EscalationRecord, note: Notification, now: dt.datetime
) -> None:
    _event(
        session,
        record,
        now,
        "notified",
        {
            "staff_id": note.recipient.staff_id,
            "channel": note.channel,
            "step": note.step,
            "loop": note.loop,
            "code": note.code,
        },
    )


def _skip_and_gap_events(
    session: Session, record: EscalationRecord, decision: Advance, now: dt.datetime
) -> None:
    for skipped in decision.skipped:
        _event(
            session,
            record,
            now,
            "step_skipped",
            {"step": skipped.step, "loop": skipped.loop, "reason": skipped.reason},
        )
    for gap in decision.gap_warnings:
        log.warning("escalation %s: nobody on call for step %s", record.id, gap.step)
        _event(session, record, now, "gap", {"step": gap.step, "loop": gap.loop})


def _notify_by_sms(
    session: Session,
    record: EscalationRecord,
    phone: str,
    code: int,
    now: dt.datetime,
    reach: Reach,
) -> None:
    """Text one notified person: at once, or merged into a held bundle if texted just now."""
    texts = notification_texts(session, record, code)
    last_sent = session.scalar(
        select(func.max(Delivery.next_attempt_at)).where(
            Delivery.to_number == phone,
            Delivery.purpose.in_((PURPOSE, BUNDLE_PURPOSE)),
            Delivery.next_attempt_at <= now,
        )
    )
    custom = record.subject_type in _notification_texts
    # A subject with its own texts (a participant's words, relayed verbatim) is never merged.
    if custom or last_sent is None or last_sent <= now - BUNDLE_WINDOW:
        for text_ in texts:
            outbox.enqueue_sms(
                session,
                to=phone,
                from_=reach.from_number,
                body=text_.body,
                purpose=PURPOSE,
                now=now,
                verbatim=text_.verbatim,
                subject=subject_of(record),
            )
        note_code_sent(session, record.id, phone, now)
        return
    item = wording.staff.bundle_item(record.summary, code)
    held = session.scalars(
        select(Delivery)
        .where(
            Delivery.to_number == phone,
            Delivery.purpose == BUNDLE_PURPOSE,
            Delivery.status == DeliveryStatus.QUEUED,
            Delivery.next_attempt_at > now,
        )
        .order_by(Delivery.id.desc())
        .limit(1)
    ).first()
    if held is not None and len(held.body or "") + 1 + len(item) <= BUNDLE_MAX_CHARS:
        merged = f"{held.body} {item}"
        # Conditional: a dispatcher that claimed the bundle meanwhile has its body already,
        # so the item then goes into a new bundle instead of being lost.
        changed = session.execute(
            update(Delivery)
            .where(Delivery.id == held.id, Delivery.status == DeliveryStatus.QUEUED)
            .values(body=merged, segments=segment_count(merged), updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount == 1:  # type: ignore[attr-defined]
            # Every code in one bundle was texted at the same moment: a bare "a" after it is
            # ambiguous and is answered with the list, never guessed.
            note_code_sent(session, record.id, phone, held.next_attempt_at)
            session.expire(held)
            return
    due = held.next_attempt_at if held is not None else last_sent + BUNDLE_WINDOW
    bundle = outbox.enqueue_sms(
        session,
        to=phone,
        from_=reach.from_number,
        body=f"{wording.staff.BUNDLE_HEADER} {item}",
        purpose=BUNDLE_PURPOSE,
        now=now,
    )
    bundle.next_attempt_at = max(due, now)
    note_code_sent(session, record.id, phone, bundle.next_attempt_at)
    log.info("escalation %s: text to %s held %s s to bundle", record.id, redact(phone), due - now)


def _withdraw_from_bundles(
    session: Session, record: EscalationRecord, state: EscalationState, now: dt.datetime
) -> None:
    """Take a just-settled escalation out of any bundle still held for sending.

    Otherwise the held text would ask staff to take it after they were told it was taken.
    A bundle left with nothing in it is withdrawn (marked failed, saying why).
    """
    for assignment in state.codes:
        item = wording.staff.bundle_item(record.summary, assignment.code)
        held = _held_bundles(session, assignment.recipient.phone)
        for bundle in held:
            body = bundle.body or ""
            # Every item follows a space (after the header or the item before it). Matching
            # without it would also cut "4a ..." out of "14a ..." where two summaries are
            # alike, silently dropping another escalation's code from the text.
            if f" {item}" not in body:
                continue
            remaining = body.replace(f" {item}", "").strip()
            values: dict[str, Any] = {"updated_at": now}
            if remaining == wording.staff.BUNDLE_HEADER.strip():
                values.update(
                    status=DeliveryStatus.FAILED,
                    finished_at=now,
                    error_message="withdrawn: everything in it was taken before it was sent",
                )
            else:
                values.update(body=remaining, segments=segment_count(remaining))
            # Conditional: a dispatcher that has claimed it meanwhile sends it as it stands.
            session.execute(
                update(Delivery)
                .where(Delivery.id == bundle.id, Delivery.status == DeliveryStatus.QUEUED)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            session.expire(bundle)


def _raise_incident(
    session: Session, record: EscalationRecord, now: dt.datetime, reach: Reach
) -> None:
    """Nobody took it after the whole chain: tell every active duty manager, whatever the rota."""
    log.error("escalation %s exhausted: nobody took it after full escalation", record.id)
    managers = text_duty_managers(
        session,
        wording.staff.exhausted_text(record.summary),
        purpose="escalation_incident",
        now=now,
        from_=reach.from_number,
        subject=subject_of(record),
    )
    _event(
        session,
        record,
        now,
        "unanswered_incident",
        {"duty_managers_told": [m.id for m in managers]},
    )
    hook = _incident_hooks.get(record.subject_type)
    if hook is not None:
        hook(session, record, now, reach)


IncidentHook = Callable[[Session, "EscalationRecord", dt.datetime, Reach], None]
_incident_hooks: dict[str, IncidentHook] = {}


def register_incident_hook(subject_type: str, hook: IncidentHook) -> None:
    """Run `hook` in the same transaction when an escalation of this subject type runs out.

    The crisis-sms flow uses it to raise the "text not acknowledged" risk alert.
    """
    _incident_hooks[subject_type] = hook


def text_duty_managers(
    session: Session,
    body: str,
    *,
    purpose: str,
    now: dt.datetime,
    from_: str,
    subject: outbox.Subject | None = None,
) -> list[Staff]:
    """Text `body` to every active duty manager, whatever the rota; those texted."""
    managers = duty_managers(session)
    for manager in managers:
        outbox.enqueue_sms(
            session,
            to=manager.phone,
            from_=from_,
            body=body,
            purpose=purpose,
            now=now,
            subject=subject,
        )
    return managers


def _event(
    session: Session, record: EscalationRecord, now: dt.datetime, kind: str, detail: dict[str, Any]
) -> None:
    session.add(EscalationEvent(escalation_id=record.id, at=now, kind=kind, detail=detail))


# ---- the operations -------------------------------------------------------------------------


def open_escalation(
    session: Session,
    *,
    policy_name: str,
    subject_type: str,
    subject_id: int | None,
    participant_id: int | None,
    summary: str,
    now: dt.datetime,
    reach: Reach,
    policy: EscalationPolicy | None = None,
) -> EscalationRecord:
    """Open an escalation and fire its first step, in the caller's transaction.

    `policy`, when given, is used instead of looking `policy_name` up: a risk alert puts the
    participant's own responsible officer first in a copy of the risk-alert policy.
    """
    if policy is None:
        policy, _ = escalation_policies.get_policy(session, policy_name)
    decision = start(
        policy,
        now,
        escalation_policies.resolver(session, now),
        codes_in_use=codes_in_use(session, now),
    )
    record = EscalationRecord(
        policy_name=policy_name,
        policy=policy_to_json(policy),
        subject_type=subject_type,
        subject_id=subject_id,
        participant_id=participant_id,
        summary=wording.staff.plain(summary)[:SUMMARY_MAX],
        status="open",
        step_index=0,
        loop=0,
        next_due_at=now,
        version=decision.state.version,
        opened_at=now,
        updated_at=now,
    )
    session.add(record)
    session.flush()
    # Its later steps are timed by the sweep: woken now, it sets its exact wake-up for them.
    wakeups.soon(session, wakeups.Work.ESCALATIONS)
    _event(session, record, now, "opened", {"policy": policy_name})
    empty = EscalationState(step_index=0, loop=0, next_due_at=now, status="open", version=1)
    _apply(session, record, empty, decision, now, reach)
    return record


def next_due_at(db: Database) -> dt.datetime | None:
    """When the soonest open escalation is due (None when nothing is open)."""
    with db.transaction() as session:
        return session.scalar(
            select(func.min(EscalationRecord.next_due_at)).where(EscalationRecord.status == "open")
        )


def sweep_due(
    db: Database, now: dt.datetime, reach: Reach, limit: int = 200, *, together: bool = True
) -> int:
    """Advance every escalation whose wait has run out; returns how many advanced.

    Due rows are read `limit` at a time, in due order, until none are left: a backlog (after a
    restart, say) is cleared in one pass, and a row that fails is passed over, not retried in a
    loop (the next pass tries it again). Each batch is advanced in one transaction (`together`)
    and, if that fails, one escalation per transaction; `together=False` goes straight to the
    one-by-one way (tests compare the two).
    """
    advanced = 0
    after: tuple[dt.datetime, int] | None = None
    # Every escalation in this pass is decided for the same instant, so who is on call is
    # the same for all of them: ask each rota once.
    answers: dict[Target, tuple[Recipient, ...]] = {}
    while True:
        with db.transaction() as session:
            query = select(EscalationRecord.next_due_at, EscalationRecord.id).where(
                EscalationRecord.status == "open", EscalationRecord.next_due_at <= now
            )
            if after is not None:
                last_due, last_id = after
                query = query.where(
                    or_(
                        EscalationRecord.next_due_at > last_due,
                        and_(
                            EscalationRecord.next_due_at == last_due, EscalationRecord.id > last_id
                        ),
                    )
                )
            batch = session.execute(
                query.order_by(EscalationRecord.next_due_at, EscalationRecord.id).limit(limit)
            ).all()
        if not batch:
            return advanced
        due, ident = batch[-1]
        assert due is not None
        after = (due, ident)
        ids = [row.id for row in batch]
        if together:
            advanced += _advance_batch(db, ids, now, reach, answers)
        else:
            advanced += _advance_each(db, ids, now, reach, answers)
        if len(batch) < limit:
            return advanced


def _advance_batch(
    db: Database,
    ids: Sequence[int],
    now: dt.datetime,
    reach: Reach,
    answers: dict[Target, tuple[Recipient, ...]],
) -> int:
    try:
        return _advance_together(db, ids, now, reach, answers)
    except Exception as error:
        # The batch was rolled back whole (another process got there first, a code was
        # taken meanwhile, a held bundle was claimed, or a bug in one escalation): nothing
        # of it was written, so advance its rows one by one, each in its own transaction,
        # where one failure cannot hold up the others.
        log.warning(
            "%d due escalations not advanced together (%s); advancing one by one",
            len(ids),
            type(error).__name__,
        )
        return _advance_each(db, ids, now, reach, answers)


def _advance_each(
    db: Database,
    ids: Sequence[int],
    now: dt.datetime,
    reach: Reach,
    answers: dict[Target, tuple[Recipient, ...]] | None = None,
) -> int:
    advanced = 0
    if answers is None:
        answers = {}
    for escalation_id in ids:
        try:
            with db.transaction() as session:
                query = select(EscalationRecord).where(
                    EscalationRecord.id == escalation_id,
                    EscalationRecord.status == "open",
                    EscalationRecord.next_due_at <= now,
                )
                if session.get_bind().dialect.name == "postgresql":
                    # Another scheduler holding this row is advancing it: leave it to them.
                    query = query.with_for_update(skip_locked=True)
                record = session.scalars(query).first()
                if record is None:
                    continue
                before = _state(session, record)
                policy = parse_policy(record.policy_name, record.policy)
                decision = advance(
                    policy,
                    before,
                    now,
                    escalation_policies.resolver(session, now, answers),
                    codes_in_use=codes_in_use(session, now),
                    expected_version=record.version,
                )
                if decision.is_noop:
                    continue
                _apply(session, record, before, decision, now, reach)
                advanced += 1
        except StaleDataError:
            # Another process advanced it between our read and our write: theirs stands.
            log.info("escalation %s advanced elsewhere; skipped", escalation_id)
        except DBAPIError as error:
            # A clash (a deadlock, a code taken meanwhile) rolled this one back whole; it is
            # still due, so the next sweep, a second from now, tries again.
            log.warning(
                "escalation %s not advanced this pass (%s); retrying",
                escalation_id,
                type(error.orig).__name__,
            )
        except Exception:
            # Anything else (a bug, bad stored data) must not stop the escalations due after
            # this one: they go on, this one is retried, and the auditor reports it if it stays
            # late.
            log.exception("escalation %s could not be advanced; the others go on", escalation_id)
    return advanced


def _advance_together(
    db: Database,
    ids: Sequence[int],
    now: dt.datetime,
    reach: Reach,
    answers: dict[Target, tuple[Recipient, ...]],
) -> int:
    """Advance a batch of due escalations in one transaction, with a few statements per kind
    of row rather than a dozen per escalation (a restart's backlog is cleared several times
    faster). All or nothing: any error rolls the whole batch back and raises.

    Decide, then act: every escalation is decided first (its reply codes allocated against
    the batch's own allocations too, under each phone's lock), then the state, codes,
    deliveries and events are written in one flush.
    """
    with db.transaction() as session:
        postgres = session.get_bind().dialect.name == "postgresql"
        query = (
            select(EscalationRecord)
            .where(
                EscalationRecord.id.in_(ids),
                EscalationRecord.status == "open",
                EscalationRecord.next_due_at <= now,
            )
            .order_by(EscalationRecord.next_due_at, EscalationRecord.id)
        )
        if postgres:
            # Rows another scheduler holds are being advanced there: leave them to it.
            query = query.with_for_update(skip_locked=True)
        records = session.scalars(query).all()
        if not records:
            return 0
        rows: dict[int, list[EscalationCode]] = {r.id: [] for r in records}
        for row in session.scalars(
            select(EscalationCode)
            .where(EscalationCode.escalation_id.in_(list(rows)))
            .order_by(EscalationCode.id)
        ):
            rows[row.escalation_id].append(row)
        resolve = escalation_policies.resolver(session, now, answers)
        # A first, throwaway decision of each says which phones need a new code, so that
        # every such phone is locked and its codes read in one statement each for the batch.
        wanted: set[str] = set()

        def note_phone(phone: str) -> set[int]:
            wanted.add(phone)
            return set()

        policies = {r.id: parse_policy(r.policy_name, r.policy) for r in records}
        for record in records:
            advance(
                policies[record.id],
                _state_of(record, rows[record.id]),
                now,
                resolve,
                codes_in_use=note_phone,
                expected_version=record.version,
            )
        codes = _BatchCodes(session, now, postgres)
        codes.reserve(wanted)
        decided: list[tuple[EscalationRecord, EscalationState, Advance]] = []
        for record in records:
            before = _state_of(record, rows[record.id])
            decision = advance(
                policies[record.id],
                before,
                now,
                resolve,
                codes_in_use=codes,
                expected_version=record.version,
            )
            if decision.is_noop:
                continue
            if decision.taken_notices or decision.state.status in ("acknowledged", "closed"):
                raise RuntimeError("a sweep only advances: this decision needs _apply")
            known = {a.recipient.phone for a in before.codes}
            for assignment in decision.state.codes:
                if assignment.recipient.phone not in known:
                    codes.hold(assignment.recipient.phone, assignment.code)
            decided.append((record, before, decision))
        return _write_advances(session, decided, rows, now, reach)


class _PhoneBusy(Exception):
    """A phone's code lock is held elsewhere: the batch is advanced one by one instead."""


class _BatchCodes:
    """The reply codes phones may not be given, for a batch decided in one transaction.

    Each phone is locked (PostgreSQL: until commit, like `codes_in_use`) and read once;
    codes handed out in the batch are added as they are allocated, so two escalations in the
    batch never get the same code for one phone.
    """

    def __init__(self, session: Session, now: dt.datetime, postgres: bool) -> None:
        self.session = session
        self.now = now
        self.postgres = postgres
        self.taken: dict[str, set[int]] = {}

    def reserve(self, phones: set[str]) -> None:
        new = sorted(phones - self.taken.keys())
        if not new:
            return
        if self.postgres:
            # Try, never wait: a batch holding many phones' locks while waiting for one more
            # could deadlock with a webhook opening an escalation. If a phone is busy the
            # batch is rolled back and advanced one by one, which waits its turn safely.
            free = self.session.execute(
                text(
                    "SELECT bool_and(pg_try_advisory_xact_lock(hashtext(key))) "
                    "FROM unnest(CAST(:keys AS text[])) AS key"
                ),
                {"keys": ["code:" + phone for phone in new]},
            ).scalar_one()
            if not free:
                raise _PhoneBusy("another transaction is giving out codes to one of these phones")
        for phone in new:
            self.taken[phone] = set()
        taken = or_(EscalationCode.active.is_(True), EscalationCode.freed_at > self.now - CODE_REST)
        for phone, code in self.session.execute(
            select(EscalationCode.phone, EscalationCode.code).where(
                EscalationCode.phone.in_(new), taken
            )
        ):
            self.taken[phone].add(code)

    def __call__(self, phone: str) -> set[int]:
        self.reserve({phone})
        return self.taken[phone]

    def hold(self, phone: str, code: int) -> None:
        self.taken[phone].add(code)


def _write_advances(
    session: Session,
    decided: Sequence[tuple[EscalationRecord, EscalationState, Advance]],
    rows: dict[int, list[EscalationCode]],
    now: dt.datetime,
    reach: Reach,
) -> int:
    """What `_apply` writes for an advance, for many escalations with one flush per kind."""
    _write_positions(session, [(record, decision.state) for record, _, decision in decided], now)
    for record, before, decision in decided:
        known = {a.recipient.phone for a in before.codes}
        for assignment in decision.state.codes:
            if assignment.recipient.phone not in known:
                row = EscalationCode(
                    escalation_id=record.id,
                    staff_id=assignment.recipient.staff_id,
                    phone=assignment.recipient.phone,
                    code=assignment.code,
                    active=True,
                    created_at=now,
                )
                session.add(row)
                rows[record.id].append(row)
    session.flush()
    texts = _BatchTexts(session, now, reach)
    texts.load(
        {
            note.recipient.phone
            for _, _, decision in decided
            for note in decision.notifications
            if note.channel == "sms"
        }
    )
    incidents: list[EscalationRecord] = []
    for record, _, decision in decided:
        for note in decision.notifications:
            phone = note.recipient.phone
            if note.channel == "sms":
                sent_at = texts.notify(record, phone, note.code)
                # What note_code_sent does, on the rows already in hand.
                for row in rows[record.id]:
                    if (
                        row.phone == phone
                        and row.active
                        and (row.last_sent_at is None or row.last_sent_at < sent_at)
                    ):
                        row.last_sent_at = sent_at
            else:
                outbox.enqueue_call(
                    session,
                    to=phone,
                    from_=reach.from_number,
                    script=wording.staff.voice_prompt(record.summary),
                    twiml_url=reach.call_url(record.id),
                    purpose=PURPOSE,
                    now=now,
                    flush=False,
                    subject=subject_of(record),
                )
                texts.called(phone)
            _notified_event(session, record, note, now)
        _skip_and_gap_events(session, record, decision, now)
        if decision.incident is not None:
            incidents.append(record)
    texts.write()
    session.flush()
    for record in incidents:
        _raise_incident(session, record, now, reach)
    return len(decided)


_POSITION = ("status", "step_index", "loop", "next_due_at", "version", "exhausted_at")


def _write_positions(
    session: Session,
    moves: Sequence[tuple[EscalationRecord, EscalationState]],
    now: dt.datetime,
) -> None:
    """`_write_position` for many escalations in one statement, with the same version check.

    The ORM sends a version-checked UPDATE one row at a time; this sends one executemany and
    raises StaleDataError unless every row still had the version read, before anything else
    of the batch is written.
    """
    if not moves:
        return
    changed = session.connection().execute(
        update(EscalationRecord)
        .where(
            EscalationRecord.id == bindparam("e_id"),
            EscalationRecord.version == bindparam("e_version"),
        )
        .values({**{name: bindparam(f"e_{name}_new") for name in _POSITION}, "updated_at": now}),
        [
            {"e_id": record.id, "e_version": record.version}
            | {f"e_{name}_new": getattr(state, name) for name in _POSITION}
            for record, state in moves
        ],
    )
    if changed.rowcount != len(moves):
        raise StaleDataError("an escalation in the batch was changed by another process")
    # The rows in the session now say what the database says (without another UPDATE), for
    # whatever reads them later in this transaction (an incident hook, say).
    for record, state in moves:
        for name in _POSITION:
            set_committed_value(record, name, getattr(state, name))
        set_committed_value(record, "updated_at", now)


@dataclass
class _HeldBundle:
    """A bundle text held for a phone: one written earlier (`delivery_id`) or in this batch."""

    next_attempt_at: dt.datetime
    body: str
    delivery_id: int | None = None
    delivery: Delivery | None = None
    changed: bool = False


class _BundleClaimed(Exception):
    """A held bundle was claimed for sending while a batch was merging into it."""


class _BatchTexts:
    """`_notify_by_sms` for a batch: each phone's bundling state read once, kept in memory,
    and written at the end (new texts inserted together, held bundles updated once each)."""

    def __init__(self, session: Session, now: dt.datetime, reach: Reach) -> None:
        self.session = session
        self.now = now
        self.reach = reach
        self.last_sent: dict[str, dt.datetime | None] = {}
        # The newest held bundle per phone (the one the next item may join), and every
        # bundle the batch wrote into, which includes those a fuller one has replaced.
        self.held: dict[str, _HeldBundle] = {}
        self.touched: list[_HeldBundle] = []

    def load(self, phones: set[str]) -> None:
        if not phones:
            return
        now = self.now
        self.last_sent = dict.fromkeys(phones)
        for phone, last in self.session.execute(
            select(Delivery.to_number, func.max(Delivery.next_attempt_at))
            .where(
                Delivery.to_number.in_(phones),
                Delivery.purpose.in_((PURPOSE, BUNDLE_PURPOSE)),
                Delivery.next_attempt_at <= now,
            )
            .group_by(Delivery.to_number)
        ):
            self.last_sent[phone] = last
        for delivery_id, phone, body, due in self.session.execute(
            select(Delivery.id, Delivery.to_number, Delivery.body, Delivery.next_attempt_at)
            .where(
                Delivery.to_number.in_(phones),
                Delivery.purpose == BUNDLE_PURPOSE,
                Delivery.status == DeliveryStatus.QUEUED,
                Delivery.next_attempt_at > now,
            )
            .order_by(Delivery.id)
        ):
            # The newest held bundle per phone, as `_notify_by_sms` picks it.
            self.held[phone] = _HeldBundle(due, body or "", delivery_id=delivery_id)

    def called(self, phone: str) -> None:
        """An escalation call was just queued to `phone`: it counts as contact for bundling,
        as the call's delivery row does for `_notify_by_sms`."""
        if phone in self.last_sent:
            self.last_sent[phone] = self.now

    def notify(self, record: EscalationRecord, phone: str, code: int) -> dt.datetime:
        """Text one notified person; returns when the text quoting `code` goes."""
        now = self.now
        texts = notification_texts(self.session, record, code)
        last_sent = self.last_sent.get(phone)
        custom = record.subject_type in _notification_texts
        if custom or last_sent is None or last_sent <= now - BUNDLE_WINDOW:
            for text_ in texts:
                outbox.enqueue_sms(
                    self.session,
                    to=phone,
                    from_=self.reach.from_number,
                    body=text_.body,
                    purpose=PURPOSE,
                    now=now,
                    verbatim=text_.verbatim,
                    flush=False,
                    subject=subject_of(record),
                )
            self.last_sent[phone] = now
            return now
        item = wording.staff.bundle_item(record.summary, code)
        held = self.held.get(phone)
        if held is not None and len(held.body) + 1 + len(item) <= BUNDLE_MAX_CHARS:
            held.body = f"{held.body} {item}"
            if not held.changed:
                held.changed = True
                self.touched.append(held)
            return held.next_attempt_at
        due = held.next_attempt_at if held is not None else last_sent + BUNDLE_WINDOW
        bundle = outbox.enqueue_sms(
            self.session,
            to=phone,
            from_=self.reach.from_number,
            body=f"{wording.staff.BUNDLE_HEADER} {item}",
            purpose=BUNDLE_PURPOSE,
            now=now,
            flush=False,
        )
        bundle.next_attempt_at = max(due, now)
        self.held[phone] = _HeldBundle(bundle.next_attempt_at, bundle.body or "", delivery=bundle)
        log.info(
            "escalation %s: text to %s held %s s to bundle", record.id, redact(phone), due - now
        )
        return bundle.next_attempt_at

    def write(self) -> None:
        """Write the merged bundles; raise `_BundleClaimed` if a held one was claimed meanwhile."""
        merged = []
        for held in self.touched:
            if held.delivery is not None:
                held.delivery.body = held.body
                held.delivery.segments = segment_count(held.body)
            else:
                merged.append(
                    {
                        "held_id": held.delivery_id,
                        "held_body": held.body,
                        "held_segments": segment_count(held.body),
                    }
                )
        if not merged:
            return
        # Conditional: a dispatcher that claimed one meanwhile has its body already. The
        # batch is then rolled back and advanced one by one, which starts a new bundle. One
        # statement for them all (executemany, on the session's connection: no ORM sync).
        changed = self.session.connection().execute(
            update(Delivery)
            .where(Delivery.id == bindparam("held_id"), Delivery.status == DeliveryStatus.QUEUED)
            .values(
                body=bindparam("held_body"),
                segments=bindparam("held_segments"),
                updated_at=self.now,
            ),
            merged,
        )
        if changed.rowcount != len(merged):
            raise _BundleClaimed("a held bundle was claimed for sending while merging into it")


@dataclass(frozen=True)
class Outcome:
    """What an acknowledge, close or escalate-now did, and the words to say back."""

    escalation_id: int | None
    changed: bool
    reply: str
    # How many others alerted were told it was taken or closed: a confirmation says "the
    # others have been told" only when there were others.
    others_told: int = 0


def act_by_phone(
    session: Session, phone: str, text: str, now: dt.datetime, reach: Reach
) -> Outcome | None:
    """Handle an SMS from a staff phone quoting a reply code; None if it is not a code command."""
    command = parse_reply(text)
    if command is None:
        return None
    live = select(EscalationCode).where(
        EscalationCode.phone == phone, EscalationCode.active.is_(True)
    )
    if command.code is not None:
        row = session.scalars(live.where(EscalationCode.code == command.code)).first()
    else:
        row, ambiguous = _last_code_sent(session, list(session.scalars(live)), now)
        if ambiguous:
            return Outcome(None, False, _which_code_text(session, ambiguous))
    if row is None:
        return Outcome(None, False, wording.staff.unknown_code_text(command.code))
    by = ByPhone(phone, row.code)
    if command.action == "acknowledge":
        return acknowledge_escalation(session, row.escalation_id, by, now, reach)
    return close_escalation(session, row.escalation_id, by, now, reach)


def _last_code_sent(
    session: Session, rows: list[EscalationCode], now: dt.datetime
) -> tuple[EscalationCode | None, list[EscalationCode]]:
    """The live code texted last to a phone, or (None, the candidates) when that is unclear.

    A code still waiting in a held bundle (texted "at" a time still to come) has not been seen
    and is never what a bare reply means.
    """
    if not rows:
        return None, []
    sent = [r for r in rows if r.last_sent_at is not None and r.last_sent_at <= now]
    if len(rows) == 1 and (rows[0].last_sent_at is None or rows[0].last_sent_at <= now):
        return rows[0], []
    if not sent:
        return None, rows
    latest = max(r.last_sent_at for r in sent if r.last_sent_at is not None)
    newest = [r for r in sent if r.last_sent_at == latest]
    if len(newest) > 1:
        return None, newest
    return newest[0], []


def _which_code_text(session: Session, rows: list[EscalationCode]) -> str:
    open_ = []
    for row in rows:
        record = session.get(EscalationRecord, row.escalation_id)
        open_.append((row.code, record.summary if record else ""))
    return wording.staff.which_code_text(open_)


def acknowledge_escalation(
    session: Session, escalation_id: int, by: Responder, now: dt.datetime, reach: Reach
) -> Outcome:
    """Someone takes the escalation: it stops everywhere and the others are told who."""
    record, before = load(session, escalation_id)
    decision = acknowledge(before, by, now)
    if decision.is_noop:
        return _refusal(record, before, decision, code=_code(by))
    _apply(session, record, before, decision, now, reach)
    told = len(decision.taken_notices)
    reply = wording.staff.acknowledged_reply_text(
        _code(by) or record.id, told=told, taken=_taken(record)
    )
    return Outcome(record.id, True, reply, others_told=told)


def close_escalation(
    session: Session,
    escalation_id: int,
    by: Responder,
    now: dt.datetime,
    reach: Reach,
    *,
    tell_others: bool = True,
) -> Outcome:
    """End the escalation; nothing fires again.

    `tell_others=False` closes it without the "closed by ... No action needed" texts, for a
    chase that is being replaced by a new one the same people must act on.
    """
    record, before = load(session, escalation_id)
    decision = close(before, by, now)
    if decision.is_noop:
        return _refusal(record, before, decision, code=_code(by))
    if not tell_others:
        decision = replace(decision, taken_notices=())
    _apply(session, record, before, decision, now, reach)
    told = len(decision.taken_notices)
    return Outcome(record.id, True, wording.staff.closed_reply_text(_code(by) or record.id), told)


def escalate_escalation_now(
    session: Session, escalation_id: int, by: Responder, now: dt.datetime, reach: Reach
) -> Outcome:
    """Pass it to the next step at once (voice key 5).

    Only someone notified at the step the escalation is on may pass it on: a second "not me"
    for the same step, or a late one from an earlier step, must not skip the next person's wait.
    """
    record, before = load(session, escalation_id)
    if isinstance(by, ByPhone) and not _notified_at_current_step(session, record, by.phone):
        return Outcome(record.id, False, "It has already been passed on. Goodbye.")
    policy = parse_policy(record.policy_name, record.policy)
    decision = escalate_now(
        policy,
        before,
        by,
        now,
        escalation_policies.resolver(session, now),
        codes_in_use=codes_in_use(session, now),
    )
    if decision.is_noop:
        return _refusal(record, before, decision, code=_code(by))
    _apply(session, record, before, decision, now, reach)
    return Outcome(record.id, True, wording.staff.voice_confirmation("escalated"))


def amend_summary(
    session: Session, escalation_id: int, summary: str, now: dt.datetime, reach: Reach
) -> list[str]:
    """Say more about an escalation already under way; returns the phones texted the news.

    Every later text and call carries the new summary, and everyone already told about it
    (or who took it) gets one short follow-up with their reply code where they hold a live
    one: news that arrives after the first texts (a voicemail left after the missed call was
    escalated) must not wait for the next step to reach people. An unchanged summary (a
    repeated webhook) changes nothing.
    """
    # Locked: a sweep (which skips locked rows) or a reply must not decide on the old
    # summary, or notify someone this follow-up then misses, while it changes.
    record = session.get(
        EscalationRecord, escalation_id, with_for_update=True, populate_existing=True
    )
    if record is None:
        raise NotFound(f"There is no escalation with id {escalation_id}.")
    new = wording.staff.plain(summary)[:SUMMARY_MAX]
    if new == record.summary:
        return []
    old, record.summary, record.updated_at = record.summary, new, now
    state = _state(session, record)
    _rewrite_held_items(session, state, old, new, now)
    _event(session, record, now, "summary_amended", {})
    told = _told(session, record, state)
    still_open = record.status in ("open", "exhausted")
    for phone, code in told.items():
        outbox.enqueue_sms(
            session,
            to=phone,
            from_=reach.from_number,
            body=wording.staff.update_text(new, code, open_=still_open),
            purpose=PURPOSE,
            now=now,
        )
        if code is not None:
            note_code_sent(session, record.id, phone, now)
    return list(told)


def restate_summary(
    session: Session, escalation_id: int, summary: str, now: dt.datetime
) -> EscalationRecord | None:
    """Change what an escalation says without texting anyone about the change.

    For an escalation whose news comes often (a flood gathering texts, crisisline.floods):
    a follow-up text for each would be the very flood it gathers. Later texts and calls, and
    bundles still held, carry the new summary. None if there is no such escalation.
    """
    record = session.get(
        EscalationRecord, escalation_id, with_for_update=True, populate_existing=True
    )
    if record is None:
        return None
    new = wording.staff.plain(summary)[:SUMMARY_MAX]
    if new != record.summary:
        old, record.summary, record.updated_at = record.summary, new, now
        _rewrite_held_items(session, _state(session, record), old, new, now)
    return record


def _told(
    session: Session, record: EscalationRecord, state: EscalationState
) -> dict[str, int | None]:
    """Each phone already told about the escalation (or whose owner took it): its live code."""
    live: dict[str, int] = {
        row.phone: row.code
        for row in session.execute(
            select(EscalationCode.phone, EscalationCode.code).where(
                EscalationCode.escalation_id == record.id, EscalationCode.active.is_(True)
            )
        )
    }
    told: dict[str, int | None] = {
        a.recipient.phone: live.get(a.recipient.phone) for a in state.codes
    }
    taker = (
        session.get(Staff, record.acknowledged_by_staff_id)
        if record.acknowledged_by_staff_id
        else None
    )
    if taker is not None and taker.phone and taker.phone not in told:
        told[taker.phone] = None
    return told


def _held_bundles(session: Session, phone: str) -> Sequence[Delivery]:
    """The bundles still queued for `phone` (held for the bundling window)."""
    return session.scalars(
        select(Delivery).where(
            Delivery.to_number == phone,
            Delivery.purpose == BUNDLE_PURPOSE,
            Delivery.status == DeliveryStatus.QUEUED,
        )
    ).all()


def _rewrite_held_items(
    session: Session, state: EscalationState, old: str, new: str, now: dt.datetime
) -> None:
    """Put the new summary into bundles still held for sending, so they say it and so that
    taking the escalation later still finds its item to withdraw (matched on the summary)."""
    for assignment in state.codes:
        before = f" {wording.staff.bundle_item(old, assignment.code)}"
        after = f" {wording.staff.bundle_item(new, assignment.code)}"
        held = _held_bundles(session, assignment.recipient.phone)
        for bundle in held:
            body = bundle.body or ""
            if before not in body:
                continue
            body = body.replace(before, after)
            # Conditional: a dispatcher that claimed it meanwhile sends it as it stands (the
            # follow-up text then brings the news).
            session.execute(
                update(Delivery)
                .where(Delivery.id == bundle.id, Delivery.status == DeliveryStatus.QUEUED)
                .values(body=body, segments=segment_count(body), updated_at=now)
                .execution_options(synchronize_session=False)
            )
            session.expire(bundle)


def _notified_at_current_step(session: Session, record: EscalationRecord, phone: str) -> bool:
    staff_id = session.scalars(
        select(EscalationCode.staff_id).where(
            EscalationCode.escalation_id == record.id, EscalationCode.phone == phone
        )
    ).first()
    return any(
        event.kind == "notified"
        and event.detail.get("staff_id") == staff_id
        and event.detail.get("step") == record.step_index
        and event.detail.get("loop") == record.loop
        for event in events(session, record.id)
    )


def _code(by: Responder) -> int | None:
    return by.code if isinstance(by, ByPhone) else None


def _refusal(
    record: EscalationRecord, state: EscalationState, decision: Advance, *, code: int | None
) -> Outcome:
    reason = decision.noop_reason
    shown = code if code is not None else record.id
    if reason in ("already_acknowledged", "already_closed"):
        # Closed without being taken first: say closed, not taken, by whom.
        closed = record.acknowledged_by is None
        taken_by = record.acknowledged_by or record.closed_by or "a colleague"
        reply = wording.staff.already_taken_text(
            shown, taken_by, closed=closed, taken=_taken(record)
        )
        return Outcome(record.id, False, reply)
    if reason in ("wrong_phone", "unknown_code"):
        return Outcome(record.id, False, wording.staff.unknown_code_text(code))
    return Outcome(record.id, False, wording.staff.not_open_text(shown, state.status))


def load(session: Session, escalation_id: int) -> tuple[EscalationRecord, EscalationState]:
    record = session.get(EscalationRecord, escalation_id)
    if record is None:
        raise NotFound(f"There is no escalation with id {escalation_id}.")
    return record, _state(session, record)


def code_for_phone(session: Session, escalation_id: int, phone: str) -> int | None:
    """The live reply code `phone` holds for this escalation (none once freed or deactivated)."""
    return session.scalars(
        select(EscalationCode.code).where(
            EscalationCode.escalation_id == escalation_id,
            EscalationCode.phone == phone,
            EscalationCode.active.is_(True),
        )
    ).first()


def find(
    session: Session,
    *,
    status: str | None = None,
    participant_id: int | None = None,
    visible: ColumnElement[bool] | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[EscalationRecord], int]:
    """A page of escalations, newest first, and how many match; `visible`, a condition on
    Participant, keeps those about participants a reader's grant reaches (crisisline.caseloads)."""
    query = select(EscalationRecord)
    if visible is not None:
        query = query.where(
            EscalationRecord.participant_id.in_(select(Participant.id).where(visible))
        )
    if status is not None:
        query = query.where(EscalationRecord.status == status)
    if participant_id is not None:
        query = query.where(EscalationRecord.participant_id == participant_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(EscalationRecord.opened_at.desc(), EscalationRecord.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return list(rows), total


def find_opened_between(
    session: Session,
    *,
    status: str | None = None,
    participant_id: int | None = None,
    opened_from: dt.datetime | None = None,
    opened_to: dt.datetime | None = None,
    visible: ColumnElement[bool] | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[EscalationRecord], int]:
    """As `find`, also bounded by the time opened, [opened_from, opened_to)."""
    query = select(EscalationRecord)
    if visible is not None:
        query = query.where(
            EscalationRecord.participant_id.in_(select(Participant.id).where(visible))
        )
    if status is not None:
        query = query.where(EscalationRecord.status == status)
    if participant_id is not None:
        query = query.where(EscalationRecord.participant_id == participant_id)
    if opened_from is not None:
        query = query.where(EscalationRecord.opened_at >= opened_from)
    if opened_to is not None:
        query = query.where(EscalationRecord.opened_at < opened_to)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(EscalationRecord.opened_at.desc(), EscalationRecord.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return list(rows), total


def events(session: Session, escalation_id: int) -> list[EscalationEvent]:
    """An escalation's events in order."""
    return list(
        session.scalars(
            select(EscalationEvent)
            .where(EscalationEvent.escalation_id == escalation_id)
            .order_by(EscalationEvent.id)
        )
    )


SETTLED_AFTER = dt.timedelta(hours=24)
SETTLED_SUBJECTS = ("missed_call", "risk_alert")


def close_settled(db: Database, now: dt.datetime, reach: Reach) -> list[int]:
    """Close missed calls and risk alerts taken more than a day ago, freeing their codes.

    Someone took each of them; keeping them open only keeps reply codes live on phones.
    (Texts close with their conversation, which has its own idle rule.)
    """
    with db.transaction() as session:
        ids = list(
            session.scalars(
                select(EscalationRecord.id).where(
                    EscalationRecord.status == "acknowledged",
                    EscalationRecord.subject_type.in_(SETTLED_SUBJECTS),
                    EscalationRecord.acknowledged_at < now - SETTLED_AFTER,
                )
            )
        )
        for escalation_id in ids:
            close_escalation(
                session, escalation_id, ByOperator("crisis line (settled after 24 h)"), now, reach
            )
    return ids


def audit_overdue(db: Database, now: dt.datetime, reach: Reach) -> list[int]:
    """Report open escalations overdue by more than a minute, once each, to the duty managers."""
    reported: list[int] = []
    with db.transaction() as session:
        overdue = session.scalars(
            select(EscalationRecord).where(
                EscalationRecord.status == "open",
                EscalationRecord.next_due_at < now - OVERDUE_AFTER,
            )
        ).all()
        for record in overdue:
            already = session.scalars(
                select(EscalationEvent.id).where(
                    EscalationEvent.escalation_id == record.id,
                    EscalationEvent.kind == "overdue",
                    EscalationEvent.detail["version"].as_integer() == record.version,
                )
            ).first()
            if already is not None:
                continue
            late = now - (record.next_due_at or now)
            log.error("escalation %s is overdue by %s: the scheduler is behind", record.id, late)
            _event(
                session,
                record,
                now,
                "overdue",
                {"version": record.version, "late_seconds": int(late.total_seconds())},
            )
            text_duty_managers(
                session,
                wording.staff.overdue_text(record.id, int(late.total_seconds() // 60)),
                purpose="escalation_overdue",
                now=now,
                from_=reach.from_number,
                subject=subject_of(record),
            )
            reported.append(record.id)
    return reported
