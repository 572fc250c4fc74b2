"""Notes on contacts: what the worker who handled a call, text conversation or call-back heard,
judged and did, and whether the officer should follow up.

A contact "handled by a person" is one of:

- a call to the line that a member of staff accepted (pressed 1): `outcome` answered;
- a call-back through the line (the call-back menu): `outcome` call_back;
- a text conversation a member of staff took (by reply code or in the console): the note
  belongs to the conversation's first text in, its opening contact.

A note is never edited in place. `add_version` writes version 1, 2, ... of a contact's note; the
highest is the current one, the earlier ones stay readable (with who wrote them, when and why
the next one was written). A version asking the officer to follow up opens the contact's one
follow-up, a later version changes what it asks while it is open, or withdraws it.

Who may read (contacts:read) and write (notes:write) a note is decided here for the console and
the API alike (`note_access`, `open_note`): the worker who handled that contact, the
participant's officer, and those whose grant reaches every participant (with a break-glass
reason outside their own). Every read and write is logged against the participant. A version
judging the risk high or immediate raises a risk alert (`crisisline.alerts.raise_from_note`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crisisline import alerts, caseloads, record_access
from crisisline.alert_models import RiskAlert
from crisisline.caseloads import Access
from crisisline.conversation_models import SmsConversation
from crisisline.errors import Conflict, InvalidInput, NotFound
from crisisline.models import Channel, Contact, ContactOutcome, Direction, Participant, Staff
from crisisline.note_models import (
    ContactNote,
    FollowUp,
    FollowUpStatus,
    NoteAction,
    NotePrompt,
    RiskNow,
)
from crisisline.permissions import ROLE_GRANTS, Actor, Extent, Permission
from crisisline.record_access import Action, Visit

log = logging.getLogger(__name__)

# What the access log calls a note (one entry per read or write, against the participant).
NOTE_RECORD: Final = "contact_note"

RISK_LABELS: Final[dict[RiskNow, str]] = {
    RiskNow.NONE: "None",
    RiskNow.LOW: "Low",
    RiskNow.MEDIUM: "Medium",
    RiskNow.HIGH: "High",
    RiskNow.IMMEDIATE: "Immediate",
}

ACTION_LABELS: Final[dict[NoteAction, str]] = {
    NoteAction.ADVISED_999: "Advised to call 999",
    NoteAction.CALLED_EMERGENCY: "Called 999 / police / ambulance",
    NoteAction.CONTACTED_OFFICER: "Contacted the responsible officer",
    NoteAction.SAFETY_PLAN: "Safety plan discussed",
    NoteAction.REFERRED_CRISIS_TEAM: "Referred to crisis or home treatment team",
    NoteAction.SIGNPOSTED: "Signposted to Samaritans / Shout / NHS 111",
    NoteAction.OTHER: "Other",
}

# Lengths a person can write on a phone and a reader can take in; longer is refused, not cut.
WHAT_HAPPENED_MAX: Final = 10_000
FACTORS_MAX: Final = 5_000
FOLLOW_UP_MAX: Final = 2_000
OTHER_ACTION_MAX: Final = 200
REASON_MAX: Final = 500

HandledKind = Literal["call", "call_back", "text"]


@dataclass(frozen=True)
class HandledContact:
    """A contact a person handled: the one its note belongs to, and who handled it."""

    contact: Contact
    kind: HandledKind
    handler_staff_id: int
    participant_id: int | None
    # When it ended: the call's end, the conversation's close; None while it goes on.
    ended_at: dt.datetime | None
    conversation_id: int | None = None


@dataclass(frozen=True)
class NoteInput:
    """What a worker writes in a note (one version)."""

    what_happened: str
    risk_now: RiskNow
    factors: str | None = None
    actions: tuple[NoteAction, ...] = ()
    other_action: str | None = None
    follow_up_wanted: bool = False
    follow_up_what: str | None = None
    debrief_wanted: bool = False
    # Why this version corrects the last one: required from version 2 on.
    correction_reason: str | None = None


def _clean(text: str | None) -> str | None:
    text = (text or "").strip()
    return text or None


def checked(note: NoteInput, *, correcting: bool) -> NoteInput:
    """The note with its text trimmed; InvalidInput names the first field at fault."""
    what = _clean(note.what_happened)
    if what is None:
        raise InvalidInput("say what happened", "what_happened")
    if len(what) > WHAT_HAPPENED_MAX:
        raise InvalidInput(f"at most {WHAT_HAPPENED_MAX} characters", "what_happened")
    factors = _clean(note.factors)
    if factors is not None and len(factors) > FACTORS_MAX:
        raise InvalidInput(f"at most {FACTORS_MAX} characters", "factors")
    actions = tuple(dict.fromkeys(note.actions))
    other = _clean(note.other_action)
    if NoteAction.OTHER in actions and other is None:
        raise InvalidInput("say what the other action was", "other_action")
    if other is not None and len(other) > OTHER_ACTION_MAX:
        raise InvalidInput(f"at most {OTHER_ACTION_MAX} characters", "other_action")
    follow_up = _clean(note.follow_up_what)
    if note.follow_up_wanted and follow_up is None:
        raise InvalidInput("say what the officer should follow up", "follow_up_what")
    if follow_up is not None and len(follow_up) > FOLLOW_UP_MAX:
        raise InvalidInput(f"at most {FOLLOW_UP_MAX} characters", "follow_up_what")
    reason = _clean(note.correction_reason)
    if correcting and reason is None:
        raise InvalidInput("say why the note is being corrected", "correction_reason")
    if reason is not None and len(reason) > REASON_MAX:
        raise InvalidInput(f"at most {REASON_MAX} characters", "correction_reason")
    return NoteInput(
        what_happened=what,
        risk_now=note.risk_now,
        factors=factors,
        actions=actions,
        other_action=other if NoteAction.OTHER in actions else None,
        follow_up_wanted=note.follow_up_wanted,
        follow_up_what=follow_up if note.follow_up_wanted else None,
        debrief_wanted=note.debrief_wanted,
        correction_reason=reason if correcting else None,
    )


# ---- which contacts take a note ------------------------------------------------------------


def _opening_contact_id(session: Session, conversation_id: int) -> int | None:
    return session.scalar(
        select(func.min(Contact.id)).where(
            Contact.conversation_id == conversation_id,
            Contact.direction == Direction.INBOUND,
        )
    )


def handled_contact(session: Session, contact_id: int) -> HandledContact | None:
    """The handled contact `contact_id` is (a call, a call-back, a conversation's opening
    text), or None if no person handled it (a missed call, a text nobody took, a relay)."""
    contact = session.get(Contact, contact_id)
    if contact is None:
        return None
    if contact.channel == Channel.VOICE:
        if contact.handled_by_staff_id is None:
            return None
        if contact.direction == Direction.INBOUND and contact.outcome == ContactOutcome.ANSWERED:
            kind: HandledKind = "call"
        elif (
            contact.direction == Direction.OUTBOUND and contact.outcome == ContactOutcome.CALL_BACK
        ):
            kind = "call_back"
        else:
            return None
        return HandledContact(
            contact=contact,
            kind=kind,
            handler_staff_id=contact.handled_by_staff_id,
            participant_id=contact.participant_id,
            ended_at=contact.ended_at,
        )
    if contact.conversation_id is None or contact.direction != Direction.INBOUND:
        return None
    conversation = session.get(SmsConversation, contact.conversation_id)
    if conversation is None or conversation.handled_by_staff_id is None:
        return None
    if _opening_contact_id(session, conversation.id) != contact.id:
        return None
    return HandledContact(
        contact=contact,
        kind="text",
        handler_staff_id=conversation.handled_by_staff_id,
        participant_id=conversation.participant_id or contact.participant_id,
        ended_at=conversation.closed_at,
        conversation_id=conversation.id,
    )


def note_contact_id(session: Session, contact_id: int) -> int:
    """The contact whose note covers `contact_id`: itself, or for a text its conversation's
    opening text. NotFound if there is no such contact."""
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(f"There is no contact with id {contact_id}.")
    if contact.channel == Channel.SMS and contact.conversation_id is not None:
        return _opening_contact_id(session, contact.conversation_id) or contact.id
    return contact.id


# ---- versions ------------------------------------------------------------------------------


def versions(session: Session, contact_id: int) -> list[ContactNote]:
    """Every version of the contact's note, oldest first (the last is the current one)."""
    return list(
        session.scalars(
            select(ContactNote)
            .where(ContactNote.contact_id == contact_id)
            .order_by(ContactNote.version)
        )
    )


def current(session: Session, contact_id: int) -> ContactNote | None:
    """The contact's current note, or None if none is written yet."""
    return session.scalars(
        select(ContactNote)
        .where(ContactNote.contact_id == contact_id)
        .order_by(ContactNote.version.desc())
        .limit(1)
    ).first()


def current_notes(session: Session, contact_ids: Iterable[int]) -> dict[int, ContactNote]:
    """The current note of each of `contact_ids` that has one, by contact id."""
    ids = sorted(set(contact_ids))
    notes: dict[int, ContactNote] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        latest = (
            select(ContactNote.contact_id, func.max(ContactNote.version).label("version"))
            .where(ContactNote.contact_id.in_(chunk))
            .group_by(ContactNote.contact_id)
            .subquery()
        )
        rows = session.scalars(
            select(ContactNote).join(
                latest,
                (ContactNote.contact_id == latest.c.contact_id)
                & (ContactNote.version == latest.c.version),
            )
        )
        notes.update({note.contact_id: note for note in rows})
    return notes


def add_version(
    session: Session,
    handled: HandledContact,
    note: NoteInput,
    *,
    author: str,
    author_staff_id: int | None,
    now: dt.datetime,
) -> ContactNote:
    """Write the next version of `handled`'s note, and open, change or withdraw its follow-up.

    The note is checked first (InvalidInput naming the field). Two versions written at once
    clash on (contact, version): the second transaction fails and nothing of it is kept.
    """
    contact_id = handled.contact.id
    last = current(session, contact_id)
    note = checked(note, correcting=last is not None)
    row = ContactNote(
        contact_id=contact_id,
        version=(last.version + 1) if last is not None else 1,
        participant_id=handled.participant_id,
        author_staff_id=author_staff_id,
        author=author[:120],
        written_at=now,
        what_happened=note.what_happened,
        risk_now=note.risk_now,
        factors=note.factors,
        actions=[action.value for action in note.actions],
        other_action=note.other_action,
        follow_up_wanted=note.follow_up_wanted,
        follow_up_what=note.follow_up_what,
        debrief_wanted=note.debrief_wanted,
        correction_reason=note.correction_reason,
    )
    session.add(row)
    session.flush()
    _keep_follow_up(session, handled, row, author, now)
    return row


def _keep_follow_up(
    session: Session, handled: HandledContact, note: ContactNote, author: str, now: dt.datetime
) -> None:
    follow_up = session.scalars(
        select(FollowUp).where(FollowUp.contact_id == handled.contact.id)
    ).first()
    if note.follow_up_wanted and note.follow_up_what:
        if follow_up is None:
            participant = (
                session.get(Participant, handled.participant_id)
                if handled.participant_id is not None
                else None
            )
            session.add(
                FollowUp(
                    contact_id=handled.contact.id,
                    participant_id=handled.participant_id,
                    note_id=note.id,
                    # The officer now: a later change of officer does not move it.
                    officer_staff_id=participant.responsible_officer_id if participant else None,
                    asked_at=now,
                    asked_by=author[:120],
                    what=note.follow_up_what,
                    status=FollowUpStatus.OPEN,
                )
            )
        elif follow_up.status == FollowUpStatus.WITHDRAWN:
            # Asked again after a withdrawal: a new request, of the officer now, whose two
            # working days start now (kept from the first asking, it could be overdue at once).
            participant = (
                session.get(Participant, handled.participant_id)
                if handled.participant_id is not None
                else None
            )
            follow_up.note_id = note.id
            follow_up.what = note.follow_up_what
            follow_up.status = FollowUpStatus.OPEN
            follow_up.asked_at = now
            follow_up.asked_by = author[:120]
            follow_up.officer_staff_id = participant.responsible_officer_id if participant else None
        elif follow_up.status == FollowUpStatus.OPEN:
            # A correction changes what is asked; when it was asked, and of whom, stay. One
            # already done stays done with what the officer did.
            follow_up.note_id = note.id
            follow_up.what = note.follow_up_what
    elif follow_up is not None and follow_up.status == FollowUpStatus.OPEN:
        follow_up.note_id = note.id
        follow_up.status = FollowUpStatus.WITHDRAWN
    session.flush()


def parse_actions(values: Sequence[str], field_name: str = "actions") -> tuple[NoteAction, ...]:
    """Action names as NoteActions; InvalidInput names one that is not an action."""
    parsed: list[NoteAction] = []
    for value in values:
        try:
            parsed.append(NoteAction(value))
        except ValueError:
            raise InvalidInput(f"{value!r} is not an action", field_name) from None
    return tuple(parsed)


def parse_risk(value: str | None, field_name: str = "risk_now") -> RiskNow:
    """A risk level by name; InvalidInput if it is missing or not one."""
    try:
        return RiskNow((value or "").strip().lower())
    except ValueError:
        raise InvalidInput(
            "choose the risk now: " + ", ".join(level.value for level in RiskNow), field_name
        ) from None


# ---- who may read and write a note ---------------------------------------------------------

KIND_WORDS: Final[dict[HandledKind, str]] = {
    "call": "call",
    "call_back": "call-back",
    "text": "text conversation",
}
_RISK_RANK: Final = {level: rank for rank, level in enumerate(RiskNow)}
_ALERTING_LEVELS: Final[dict[RiskNow, Literal["high", "immediate"]]] = {
    RiskNow.HIGH: "high",
    RiskNow.IMMEDIATE: "immediate",
}


class NoteRefused(record_access.Refused):
    """The note lies outside the person's grant: answered as not found, and the attempt logged
    (by the entry point, in a transaction of its own)."""

    def __init__(self, contact_id: int, participant_id: int | None) -> None:
        super().__init__("The note is outside your grant.")
        self.contact_id = contact_id
        self.participant_id = participant_id


class NoNoteTaken(Conflict):
    """Nobody handled the contact (a missed call, a text nobody took, a relay): no note."""


@dataclass(frozen=True)
class NoteSubject:
    """A contact as its note's reader sees it: the contact, who handled it (None: nobody, so it
    takes no note) and its participant (None: an unknown caller)."""

    contact: Contact
    handled: HandledContact | None
    participant_id: int | None


def _extents(actor: Actor, permission: Permission) -> set[Extent]:
    if actor.kind == "integration":
        return {Extent.ALL} if permission in actor.scopes else set()
    found = {ROLE_GRANTS.get(role, {}).get(permission) for role in actor.roles}
    return {extent for extent in found if extent is not None}


def note_access(
    session: Session,
    actor: Actor,
    permission: Permission,
    subject: NoteSubject,
    now: dt.datetime,
) -> Access:
    """Whether `actor` may use `permission` (contacts:read, notes:write) on the subject's note.

    The `handled` extent reaches only the worker who handled this contact (not every worker who
    handled the man lately: a note holds another worker's judgement); `caseload` the
    participant's officer; `all` everyone, outside one's own with a reason (break-glass).
    """
    extents = _extents(actor, permission)
    if not extents:
        return Access.REFUSED
    if actor.kind == "integration":
        return Access.OWN
    handler = subject.handled.handler_staff_id if subject.handled is not None else None
    mine = actor.staff_id is not None and handler == actor.staff_id
    if mine and (Extent.HANDLED in extents or Extent.ALL in extents):
        return Access.OWN
    if subject.participant_id is not None and actor.staff_id is not None:
        officer = session.scalar(
            select(Participant.responsible_officer_id).where(
                Participant.id == subject.participant_id
            )
        )
        if officer == actor.staff_id and extents & {Extent.CASELOAD, Extent.ALL}:
            return Access.OWN
    if Extent.ALL not in extents:
        return Access.REFUSED
    if subject.participant_id is None:
        return Access.OWN  # an unknown caller's: no record of a man to break the glass on
    return caseloads.access(session, actor, permission, subject.participant_id, now)


def subject_of(session: Session, contact_id: int) -> NoteSubject:
    """The contact whose note covers `contact_id` (itself, or a text's conversation's opening
    text) and its handling; NotFound if there is none."""
    contact = session.get(Contact, note_contact_id(session, contact_id))
    if contact is None:
        raise NotFound(f"There is no contact with id {contact_id}.")
    handled = handled_contact(session, contact.id)
    participant_id = handled.participant_id if handled is not None else contact.participant_id
    return NoteSubject(contact, handled, participant_id)


def open_note(
    session: Session,
    visit: Visit,
    permission: Permission,
    contact_id: int,
    *,
    action: Action = Action.READ,
) -> NoteSubject:
    """Check that the visit may read (contacts:read) or write (notes:write) the contact's note,
    and log it against the participant.

    NotFound if there is no such contact; NoteRefused outside the grant (nothing logged here:
    the entry point logs the refusal on its own); record_access.ReasonRequired when only a
    break-glass reason opens it and none was given in this sign-in session.
    """
    subject = subject_of(session, contact_id)
    decided = note_access(session, visit.actor, permission, subject, visit.at)
    if decided is Access.REFUSED:
        raise NoteRefused(subject.contact.id, subject.participant_id)
    reason = None
    if decided is Access.WITH_REASON and subject.participant_id is not None:
        reason = visit.reason or record_access.earlier_reason(
            session, visit.actor, subject.participant_id
        )
        if reason is None:
            raise record_access.ReasonRequired(
                "This participant is not in your caseload or your recent contacts: give the "
                "reason you need his record to open it (break-glass; the reason is logged)."
            )
    record_access.record(
        session,
        visit.actor,
        action=action,
        record_type=NOTE_RECORD,
        record_id=subject.contact.id,
        participant_id=subject.participant_id,
        at=visit.at,
        origin=visit.origin,
        reason=reason,
    )
    return subject


def _handled_or_refuse(subject: NoteSubject) -> HandledContact:
    if subject.handled is None:
        raise NoNoteTaken(
            f"Contact {subject.contact.id} takes no note: nobody handled it (a missed call, a "
            "text nobody took or a relayed text). Its conversation's or call-back's note "
            "covers what was done."
        )
    return subject.handled


# ---- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionView:
    """One version of a note as people read it: who wrote it (by name) and the actions in words."""

    note: ContactNote
    author_name: str
    actions: tuple[str, ...]
    risk: str


@dataclass(frozen=True)
class ContactNotes:
    """A contact with who handled it, its participant, and every version of its note."""

    subject: NoteSubject
    kind: str | None  # "call", "call-back", "text conversation"; None: nobody handled it
    handler_name: str | None
    participant: Participant | None
    versions: list[VersionView]

    @property
    def current(self) -> VersionView | None:
        """The current version (the last), or None if no note is written yet."""
        return self.versions[-1] if self.versions else None


def _names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(session.execute(select(Staff.id, Staff.name).where(Staff.id.in_(wanted))).all())


def version_views(session: Session, notes: Sequence[ContactNote]) -> list[VersionView]:
    """The versions with their authors' names and their actions in words."""
    names = _names(session, (note.author_staff_id for note in notes))
    views = []
    for note in notes:
        words = []
        for value in note.actions or []:
            try:
                action = NoteAction(value)
            except ValueError:
                words.append(value)
                continue
            label = ACTION_LABELS[action]
            if action is NoteAction.OTHER and note.other_action:
                label = f"{label}: {note.other_action}"
            words.append(label)
        author = names.get(note.author_staff_id or -1) or note.author
        views.append(VersionView(note, author, tuple(words), RISK_LABELS[note.risk_now]))
    return views


def read_notes(session: Session, visit: Visit, contact_id: int) -> ContactNotes:
    """The contact and every version of its note, opened (contacts:read) and logged."""
    subject = open_note(session, visit, Permission.CONTACTS_READ, contact_id)
    handled = subject.handled
    names = _names(session, [handled.handler_staff_id if handled else None])
    return ContactNotes(
        subject=subject,
        kind=KIND_WORDS[handled.kind] if handled else None,
        handler_name=names.get(handled.handler_staff_id) if handled else None,
        participant=(
            session.get(Participant, subject.participant_id)
            if subject.participant_id is not None
            else None
        ),
        versions=version_views(session, versions(session, subject.contact.id)) if handled else [],
    )


def note_versions(session: Session, visit: Visit, contact_id: int) -> list[ContactNote]:
    """Every version of the contact's note, oldest first, opened (contacts:read) and logged;
    NoNoteTaken if nobody handled the contact."""
    subject = open_note(session, visit, Permission.CONTACTS_READ, contact_id)
    _handled_or_refuse(subject)
    return versions(session, subject.contact.id)


def form_subject(session: Session, visit: Visit, contact_id: int) -> ContactNotes:
    """What the note form shows: the contact and its current note (to prefill a correction),
    opened as a write (notes:write) but logged as a read; NoNoteTaken if nobody handled it."""
    subject = open_note(session, visit, Permission.NOTES_WRITE, contact_id)
    _handled_or_refuse(subject)
    handled = subject.handled
    assert handled is not None
    names = _names(session, [handled.handler_staff_id])
    last = current(session, subject.contact.id)
    return ContactNotes(
        subject=subject,
        kind=KIND_WORDS[handled.kind],
        handler_name=names.get(handled.handler_staff_id),
        participant=(
            session.get(Participant, subject.participant_id)
            if subject.participant_id is not None
            else None
        ),
        versions=version_views(session, [last]) if last is not None else [],
    )


# ---- writing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Saved:
    """A version written, and its risk alert: raised (or added to), none needed, or failed."""

    note: ContactNote
    alert: RiskAlert | None
    # The alert could not be raised: the note is kept and people must be told by phone.
    alert_failed: bool = False


def write_note(
    session: Session, visit: Visit, contact_id: int, note: NoteInput, *, alerting: alerts.Alerting
) -> Saved:
    """Write the next version of the contact's note as the visit's actor (notes:write), open,
    change or withdraw its follow-up, and raise a risk alert for risk high or immediate.

    Refusals as `open_note`; NoNoteTaken if nobody handled the contact; InvalidInput naming
    the field (the correction reason is required once a note exists); Conflict if another
    version was saved at the same moment.
    """
    subject = open_note(session, visit, Permission.NOTES_WRITE, contact_id, action=Action.CHANGE)
    handled = _handled_or_refuse(subject)
    previous = current(session, handled.contact.id)
    try:
        with session.begin_nested():
            row = add_version(
                session,
                handled,
                note,
                author=visit.actor.label,
                author_staff_id=visit.actor.staff_id,
                now=visit.at,
            )
    except IntegrityError:
        # Two people saving at the same moment: the other version stands and this one is
        # answered, never lost in a 500 (the form comes back with it, as typed).
        raise Conflict(
            "Someone saved a version of this note at the same moment, so yours is not saved "
            "yet. Read theirs on the contact's page, then save yours as a correction.",
            "what_happened",
        ) from None
    alert, failed = _risk_alert(session, handled, row, previous, alerting, visit.at)
    row.alert_id = alert.id if alert is not None else None
    session.flush()
    log.info(
        "note on contact %s: version %s by %s, risk %s, alert %s",
        handled.contact.id,
        row.version,
        visit.actor.label,
        row.risk_now.value,
        row.alert_id,
    )
    return Saved(row, alert, failed)


def _risk_alert(
    session: Session,
    handled: HandledContact,
    row: ContactNote,
    previous: ContactNote | None,
    alerting: alerts.Alerting,
    now: dt.datetime,
) -> tuple[RiskAlert | None, bool]:
    level = _ALERTING_LEVELS.get(row.risk_now)
    if level is None:
        return None, False
    if handled.participant_id is None:
        # Alerts are about a participant: for an unknown caller judged at high or immediate
        # risk none can be raised, so the person saving it is told to ring the duty manager.
        log.warning(
            "note on contact %s: risk %s, but no participant to alert about",
            handled.contact.id,
            level,
        )
        return None, True
    if (
        previous is not None
        and previous.alert_id is not None
        and _RISK_RANK[previous.risk_now] >= _RISK_RANK[row.risk_now]
    ):
        earlier = session.get(RiskAlert, previous.alert_id)
        if earlier is not None and earlier.raised_at >= now - alerts.NOTE_RISK_COOLDOWN:
            # A correction keeping (or lowering) the level: the alert already raised stands
            # for it; a second one would only ask the officer again about the same judgement.
            return earlier, False
    savepoint = session.begin_nested()
    try:
        alert = alerts.raise_from_note(
            session,
            contact_id=handled.contact.id,
            level=level,
            where=KIND_WORDS[handled.kind],
            now=now,
            reach=alerting.reach,
            rules=alerting.rules,
        )
    except Exception as error:
        # The note is kept (it is the record of what happened); the person saving it is told
        # to ring the duty manager, and the failure is logged as an error (H212).
        savepoint.rollback()
        log.error(
            "risk alert for the note on contact %s could not be raised (%s)",
            handled.contact.id,
            type(error).__name__,
        )
        return None, True
    savepoint.commit()
    return alert, False


def note_states(session: Session, contacts: Sequence[Contact]) -> dict[int, bool]:
    """Of `contacts`, those that take a note (handled by a person), each with whether its note
    is written: a few queries for a whole page (a timeline's), not a few per contact."""
    taking: set[int] = set()
    for contact in contacts:
        if contact.channel != Channel.VOICE or contact.handled_by_staff_id is None:
            continue
        answered = (
            contact.direction == Direction.INBOUND and contact.outcome == ContactOutcome.ANSWERED
        )
        called_back = (
            contact.direction == Direction.OUTBOUND and contact.outcome == ContactOutcome.CALL_BACK
        )
        if answered or called_back:
            taking.add(contact.id)
    conversations = {
        contact.conversation_id
        for contact in contacts
        if contact.channel == Channel.SMS
        and contact.direction == Direction.INBOUND
        and contact.conversation_id is not None
    }
    if conversations:
        taken = set(
            session.scalars(
                select(SmsConversation.id).where(
                    SmsConversation.id.in_(conversations),
                    SmsConversation.handled_by_staff_id.is_not(None),
                )
            )
        )
        openings = (
            set(
                session.scalars(
                    select(func.min(Contact.id))
                    .where(
                        Contact.conversation_id.in_(taken), Contact.direction == Direction.INBOUND
                    )
                    .group_by(Contact.conversation_id)
                )
            )
            if taken
            else set()
        )
        taking.update(contact.id for contact in contacts if contact.id in openings)
    written = current_notes(session, taking)
    return {contact_id: contact_id in written for contact_id in taking}


# ---- the notes a worker still has to write ---------------------------------------------------

# How far back the Now board looks for a worker's contacts without a note: older ones are the
# handover's and the duty manager's to chase, not a reminder on every refresh.
NOTES_TO_WRITE_WITHIN: Final = dt.timedelta(days=7)


@dataclass(frozen=True)
class NoteToWrite:
    """A contact the person handled, ended and prompted for, whose note is not written yet."""

    contact_id: int
    kind: HandledKind
    started_at: dt.datetime
    ended_at: dt.datetime
    participant_id: int | None
    reference: str | None  # None: an unknown caller


def notes_to_write(
    session: Session, staff_id: int, now: dt.datetime, *, limit: int = 10
) -> tuple[list[NoteToWrite], int]:
    """The oldest contacts `staff_id` was prompted to write a note on in the last week and has
    not (a note written by anyone settles it), at most `limit`, and how many there are in all.

    The prompts (crisisline.note_prompts) already decided which contacts take a note and who
    handled each: an indexed range of the person's prompts, not a scan of contacts."""
    written = select(ContactNote.id).where(ContactNote.contact_id == NotePrompt.contact_id)
    where = (
        NotePrompt.staff_id == staff_id,
        NotePrompt.ended_at >= now - NOTES_TO_WRITE_WITHIN,
        ~written.exists(),
    )
    total = session.scalar(select(func.count()).select_from(NotePrompt).where(*where)) or 0
    if not total:
        return [], 0
    rows = session.execute(
        select(NotePrompt.ended_at, Contact, Participant.reference)
        .join(Contact, Contact.id == NotePrompt.contact_id)
        .outerjoin(Participant, Participant.id == Contact.participant_id)
        .where(*where)
        .order_by(NotePrompt.ended_at, NotePrompt.contact_id)
        .limit(limit)
    ).all()
    lines = []
    for ended_at, contact, reference in rows:
        if contact.channel == Channel.SMS:
            kind: HandledKind = "text"
        elif contact.direction == Direction.OUTBOUND:
            kind = "call_back"
        else:
            kind = "call"
        lines.append(
            NoteToWrite(
                contact_id=contact.id,
                kind=kind,
                started_at=contact.started_at,
                ended_at=ended_at,
                participant_id=contact.participant_id,
                reference=reference,
            )
        )
    return lines, total
