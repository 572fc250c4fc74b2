"""The crisis plan in the worker's hand: the one text with a signed, single-use link to a
one-screen view of the participant's plan, sent when a worker takes his call or text (see
docs/crisis-plans.md).

- `send_link`: the worker pressed 1 on a call or took a text conversation. In a savepoint of
  the same transaction it writes the `CrisisPlanLink` row (its primary key, contact and
  worker, makes a retried webhook or a second press clash instead of texting again) and queues
  the text to the worker's registered phone from the crisis number. Whatever goes wrong there
  is rolled back to the savepoint and logged by its kind only: the call is still connected and
  the text conversation still taken.
- `open_link`: the worker follows the link, signed in. Only the person it was sent to, only
  before it expires, and only once (a conditional update on `used_at`).
- `plan_view`: the one screen: who he is, his risk level, open alerts, his last five contacts
  with their notes, his officer, and his current plan (or plainly none). The contact's own
  handler opens it without a break-glass question; anyone else needs crisis-plans:read on him.
  Every opening is in the record access log with the contact as its reason.

The text names nothing: no plan words, no name, no reference, no number, since a phone's lock
screen shows it to whoever holds the phone. The link alone opens nothing without a sign-in.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

import wording.staff
from crisisline import (
    audit,
    caseloads,
    crisis_plans,
    outbox,
    participants,
    record_access,
    signed_links,
)
from crisisline.alert_models import AlertStatus, RiskAlert
from crisisline.caseloads import Access
from crisisline.conversation_models import SmsConversation
from crisisline.crisis_plan_models import CrisisPlan, CrisisPlanLink
from crisisline.errors import NotFound
from crisisline.models import Channel, Contact, Direction, Participant, Staff
from crisisline.note_models import ContactNote
from crisisline.permissions import Permission
from crisisline.record_access import Action, Visit
from crisisline.settings import Settings
from escalation import Reach

log = logging.getLogger(__name__)

PURPOSE: Final = "crisis_plan_link"
LINK_PATH: Final = "/plan/link/"
RECORD_TYPE: Final = "crisis_plan"
SALT: Final = "crisisline.crisis-plan-link"  # single-purpose: no other signed value opens it
LAST_CONTACTS: Final = 5

# (contact, staff, sent at) -> (the link, when it expires): the composition root binds it to the
# settings and hands it to the flows in `Reach.plan_link`.
LinkMaker = Callable[[int, int, dt.datetime], tuple[str, dt.datetime]]


# ---- the link ------------------------------------------------------------------------------


# The link's token (crisisline.signed_links), under this salt.
_LINKS: Final = signed_links.LinkKind(SALT, "a plan link")
LinkError = signed_links.LinkError
Expired = signed_links.Expired
NotForYou = signed_links.NotForYou
Link = signed_links.Link


class Used(LinkError):
    """A genuine plan link that its worker has opened already."""


def token(secret_key: str, link: Link) -> str:
    """The signed token of `link` (URL-safe, about 35 characters)."""
    return _LINKS.token(secret_key, link)


def expiry(settings: Settings, sent_at: dt.datetime) -> dt.datetime:
    """When a link sent at `sent_at` stops working (whole seconds, as the token carries it)."""
    expires_at = sent_at + dt.timedelta(hours=settings.crisis_plan_link_hours)
    return expires_at.replace(microsecond=0)


def link_for(
    settings: Settings, contact_id: int, staff_id: int, sent_at: dt.datetime
) -> tuple[str, dt.datetime]:
    """The link to the plan view of `contact_id` for `staff_id`, and when it expires."""
    expires_at = expiry(settings, sent_at)
    value = token(settings.secret_key, Link(contact_id, staff_id, expires_at))
    return settings.public_base_url + LINK_PATH + value, expires_at


def read(secret_key: str, value: str, now: dt.datetime) -> Link:
    """What a token says; LinkError if it is not a plan link of ours, Expired if its time is up."""
    return _LINKS.read(secret_key, value, now)


def open_link(
    session: Session,
    secret_key: str,
    value: str,
    *,
    staff_id: int | None,
    actor: str,
    now: dt.datetime,
) -> int:
    """The contact whose plan view the person signed in as `staff_id` goes on to: LinkError
    (made up, changed, or never sent), Expired, NotForYou (sent to someone else) or Used (opened
    before). The first opening marks the link used. Each opening and refusal of a genuine link
    is audited (never the token)."""
    try:
        link = read(secret_key, value, now)
    except Expired:
        log.info("an expired plan link was opened by %s", actor)
        raise
    except LinkError:
        log.warning("a plan link that is not ours was opened by %s", actor)
        raise
    mine = staff_id is not None and link.staff_id == staff_id
    outcome = "opened"
    if not mine:
        outcome = "refused"
    else:
        claimed = session.execute(
            # Single use: of two openings at once, one finds it used.
            update(CrisisPlanLink)
            .where(
                CrisisPlanLink.contact_id == link.contact_id,
                CrisisPlanLink.staff_id == link.staff_id,
                CrisisPlanLink.used_at.is_(None),
                CrisisPlanLink.expires_at > now,
            )
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            row = session.get(CrisisPlanLink, (link.contact_id, link.staff_id))
            outcome = "unknown" if row is None else "used" if row.used_at else "expired"
    audit.record(
        session,
        actor=actor,
        action=f"crisis_plan_link.{outcome}",
        record_type="contact",
        record_id=link.contact_id,
        at=now,
        changes={} if mine else {"sent_to": f"staff:{link.staff_id}"},
    )
    if outcome == "refused":
        log.warning(
            "plan link for contact %s (sent to staff %s) opened by %s: refused",
            link.contact_id,
            link.staff_id,
            actor,
        )
        raise NotForYou("the link was sent to someone else")
    if outcome == "used":
        raise Used("the link was opened before")
    if outcome == "expired":
        raise Expired("the link has expired")
    if outcome == "unknown":
        raise LinkError("no such link was sent")
    log.info("plan link for contact %s opened by %s", link.contact_id, actor)
    return link.contact_id


# ---- sending -------------------------------------------------------------------------------


def link_text(link: str) -> str:
    """The text the worker gets: the service and the link, nothing of the man or his plan."""
    return f"{wording.staff.SERVICE}: his crisis plan: {link}"


def opening_contact_id(session: Session, conversation_id: int) -> int | None:
    """A text conversation's opening text: the contact its plan link (and note) is for."""
    return session.scalar(
        select(func.min(Contact.id)).where(
            Contact.conversation_id == conversation_id,
            Contact.direction == Direction.INBOUND,
        )
    )


def send_link(
    session: Session,
    *,
    contact_id: int,
    participant_id: int | None,
    staff_id: int,
    now: dt.datetime,
    reach: Reach | None,
) -> bool:
    """Text `staff_id` the link to the participant's plan for `contact_id`, once: True if this
    call queued it. Never raises: a failure is rolled back to a savepoint and logged by its
    kind, so the call or conversation it belongs to goes on."""
    if reach is None or reach.plan_link is None or participant_id is None:
        return False  # an unknown caller has no plan; links cannot be made here
    try:
        with session.begin_nested():
            return _send(session, contact_id, participant_id, staff_id, now, reach)
    except Exception as error:
        log.error(
            "plan link for contact %s not sent to staff %s (%s)",
            contact_id,
            staff_id,
            type(error).__name__,
        )
        return False


def _send(
    session: Session,
    contact_id: int,
    participant_id: int,
    staff_id: int,
    now: dt.datetime,
    reach: Reach,
) -> bool:
    assert reach.plan_link is not None
    if session.get(CrisisPlanLink, (contact_id, staff_id)) is not None:
        return False  # a retried webhook or a second press: the text went the first time
    staff = session.get(Staff, staff_id)
    if staff is None or not staff.active or not staff.phone:
        log.warning("plan link for contact %s: staff %s cannot be texted", contact_id, staff_id)
        return False
    if participants.id_by_phone(session, staff.phone) is not None:
        # Only ever to a member of staff: a number also on a participant's record is a mistake
        # in the records, and the link must not reach a participant.
        log.warning(
            "plan link for contact %s: staff %s's phone is a participant's; not sent",
            contact_id,
            staff_id,
        )
        return False
    link, expires_at = reach.plan_link(contact_id, staff_id, now)
    row = CrisisPlanLink(
        contact_id=contact_id,
        staff_id=staff_id,
        participant_id=participant_id,
        sent_at=now,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()  # the clash, if a duplicate request got here first
    delivery = outbox.enqueue_sms(
        session,
        to=staff.phone,
        from_=reach.from_number,
        body=link_text(link),
        purpose=PURPOSE,
        now=now,
    )
    row.delivery_id = delivery.id
    log.info("plan link for contact %s texted to staff %s", contact_id, staff_id)
    return True


def send_for_conversation(
    session: Session,
    conversation: SmsConversation,
    staff_id: int,
    now: dt.datetime,
    reach: Reach | None,
) -> bool:
    """The worker took the text conversation: text them the plan link for its opening text,
    once, as `send_link` does (never raising)."""
    participant_id = conversation.participant_id
    if reach is None or reach.plan_link is None or participant_id is None:
        return False
    try:
        with session.begin_nested():
            contact_id = opening_contact_id(session, conversation.id)
            if contact_id is None:
                return False
            return _send(session, contact_id, participant_id, staff_id, now, reach)
    except Exception as error:
        log.error(
            "plan link for conversation %s not sent to staff %s (%s)",
            conversation.id,
            staff_id,
            type(error).__name__,
        )
        return False


# ---- the one-screen view -------------------------------------------------------------------


@dataclass(frozen=True)
class RecentContact:
    """One of his last contacts, with its current note (None: no note yet)."""

    contact: Contact
    note: ContactNote | None


@dataclass(frozen=True)
class PlanView:
    """What the one screen shows, above and with the plan."""

    contact: Contact
    participant: Participant
    first_name: str
    officer_name: str | None
    open_alerts: list[RiskAlert]
    recent: list[RecentContact]
    plan: CrisisPlan | None


def _subject(session: Session, contact_id: int) -> tuple[Contact, int | None, set[int]]:
    """The contact (a text moves to its conversation's opening text), its participant, and the
    staff who handle it or were sent its link."""
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(f"There is no contact with id {contact_id}.")
    handlers: set[int] = set()
    participant_id = contact.participant_id
    if contact.channel == Channel.SMS and contact.conversation_id is not None:
        conversation = session.get(SmsConversation, contact.conversation_id)
        opening = opening_contact_id(session, contact.conversation_id)
        if opening is not None and opening != contact.id:
            contact = session.get_one(Contact, opening)
        if conversation is not None:
            participant_id = conversation.participant_id or participant_id
            if conversation.handled_by_staff_id is not None:
                handlers.add(conversation.handled_by_staff_id)
    elif contact.handled_by_staff_id is not None:
        handlers.add(contact.handled_by_staff_id)
    handlers.update(
        session.scalars(
            select(CrisisPlanLink.staff_id).where(CrisisPlanLink.contact_id == contact.id)
        )
    )
    return contact, participant_id, handlers


def participant_of(session: Session, contact_id: int) -> int | None:
    """The participant a contact is about (a text: its conversation's), if any."""
    try:
        return _subject(session, contact_id)[1]
    except NotFound:
        return None


def _reason(
    session: Session, visit: Visit, contact: Contact, participant_id: int, own: bool
) -> str:
    because = f"contact {contact.id}"
    if own:
        return because
    given = visit.reason or record_access.earlier_reason(session, visit.actor, participant_id)
    if given is None:
        raise record_access.ReasonRequired(
            "This participant is not in your caseload or your recent contacts: give the "
            "reason you need his crisis plan to open it (break-glass; the reason is logged)."
        )
    if given.startswith(because):
        return given[: record_access.REASON_MAX]
    return f"{because}: {given}"[: record_access.REASON_MAX]


class NoParticipant(NotFound):
    """The contact is an unknown caller's: there is no man, so no plan."""


def plan_view(session: Session, visit: Visit, contact_id: int) -> PlanView:
    """The one screen for the contact, logged in the record access log with the contact as the
    reason. NotFound (no such contact), NoParticipant (an unknown caller's),
    record_access.Refused (outside the grant; nothing logged here) or ReasonRequired."""
    contact, participant_id, handlers = _subject(session, contact_id)
    if participant_id is None:
        raise NoParticipant(f"Contact {contact.id} is an unknown caller's: there is no plan.")
    actor = visit.actor
    if actor.extent(Permission.CRISIS_PLANS_READ) is None:
        raise record_access.Refused("The crisis plan is outside your grant.")
    if actor.staff_id is not None and actor.staff_id in handlers:
        own = True
    else:
        decided = caseloads.access(
            session, actor, Permission.CRISIS_PLANS_READ, participant_id, visit.at
        )
        if decided is Access.REFUSED:
            raise record_access.Refused("The crisis plan is outside your grant.")
        own = decided is Access.OWN
    reason = _reason(session, visit, contact, participant_id, own)
    participant = session.get_one(Participant, participant_id)
    plan = crisis_plans.current(session, participant_id)
    record_access.record(
        session,
        actor,
        action=Action.READ,
        record_type=RECORD_TYPE,
        record_id=plan.id if plan is not None else None,
        participant_id=participant_id,
        at=visit.at,
        origin=visit.origin,
        reason=reason,
    )
    officer = participant.responsible_officer
    return PlanView(
        contact=contact,
        participant=participant,
        first_name=(participant.name or "").split(" ")[0] if participant.name else "",
        officer_name=officer.name if officer is not None else None,
        open_alerts=list(
            session.scalars(
                select(RiskAlert)
                .where(
                    RiskAlert.participant_id == participant_id,
                    RiskAlert.status != AlertStatus.RESOLVED,
                )
                .order_by(RiskAlert.raised_at.desc())
            )
        ),
        recent=_recent(session, participant_id),
        plan=plan,
    )


def _recent(session: Session, participant_id: int) -> list[RecentContact]:
    """His last five contacts that take a note (calls, and the opening text of each
    conversation or a text outside one), newest first, each with its current note."""
    openings = (
        select(func.min(Contact.id))
        .where(
            Contact.participant_id == participant_id,
            Contact.conversation_id.is_not(None),
            Contact.direction == Direction.INBOUND,
        )
        .group_by(Contact.conversation_id)
    )
    rows = list(
        session.scalars(
            select(Contact)
            .where(
                Contact.participant_id == participant_id,
                or_(
                    Contact.channel == Channel.VOICE,
                    Contact.id.in_(openings),
                    (Contact.channel == Channel.SMS)
                    & Contact.conversation_id.is_(None)
                    & (Contact.direction == Direction.INBOUND),
                ),
            )
            .order_by(Contact.started_at.desc(), Contact.id.desc())
            .limit(LAST_CONTACTS)
        )
    )
    notes: dict[int, ContactNote] = {}
    if rows:
        for note in session.scalars(
            select(ContactNote)
            .where(ContactNote.contact_id.in_([row.id for row in rows]))
            .order_by(ContactNote.version)
        ):
            notes[note.contact_id] = note  # the highest version wins
    return [RecentContact(row, notes.get(row.id)) for row in rows]
