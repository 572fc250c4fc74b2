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
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crisisline.conversation_models import SmsConversation
from crisisline.errors import InvalidInput, NotFound
from crisisline.models import Channel, Contact, ContactOutcome, Direction, Participant
from crisisline.note_models import (
    ContactNote,
    FollowUp,
    FollowUpStatus,
    NoteAction,
    RiskNow,
)

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
        raise NotFound(f"no contact {contact_id}")
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
        elif follow_up.status != FollowUpStatus.DONE:
            # A correction changes what is asked (or asks again after a withdrawal); a follow-up
            # already done stays done with what the officer did.
            follow_up.note_id = note.id
            follow_up.what = note.follow_up_what
            follow_up.status = FollowUpStatus.OPEN
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
