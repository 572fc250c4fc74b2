"""Prompts to write a note: a text to the worker who handled a contact when it ends, with a
link to its note form, and one reminder if there is still no note after a while.

The scheduler's `note-prompts` job runs `run` every few seconds:

- It finds the handled contacts (crisisline.contact_notes.handled_contact: an accepted call, a
  call-back, a taken text conversation's opening text) that ended within LOOKBACK and have no
  `NotePrompt` row. A call or call-back has ended when its `ended_at` is set. A text
  conversation has no hang-up: it has ended when it is closed, or when nothing was texted
  either way for TEXTS_QUIET (the worker has moved on; conversations close by themselves only
  after a day).
- For each, in one transaction, it inserts the contact's `NotePrompt` row and queues the text
  to the worker's registered phone from the crisis number. The row's primary key is the
  contact: a second scheduler (or a second pass) that found the same contact clashes on the
  insert, its transaction is rolled back, and nothing is sent twice.
- A prompt whose reminder is due and whose contact still has no note gets one reminder; the
  reminder is claimed by a conditional update (`reminded_at` still empty), so it goes once.
  A prompt whose note exists by then is cleared without a text.

The texts name the kind of contact and the local time only: never the participant, his number
or anything of the note, since a phone's lock screen shows them to whoever holds it. The link
is signed with SECRET_KEY, names the contact and the member of staff it was sent to, expires
after NOTE_LINK_HOURS, and opens nothing by itself: the console asks for a sign-in and lets
only that person through to the note form.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Final, Literal

from itsdangerous import Signer
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import wording.staff
from crisisline import audit, contact_notes, outbox, signed_links
from crisisline.contact_notes import HandledContact, HandledKind
from crisisline.conversation_models import SmsConversation
from crisisline.db import Database
from crisisline.models import Channel, Contact, ContactOutcome, Direction, Staff
from crisisline.note_models import NotePrompt
from crisisline.settings import Settings

log = logging.getLogger(__name__)

PROMPT: Final = "note_prompt"
REMINDER: Final = "note_reminder"
# How far back a pass looks for contacts that ended: keeps the query a short range scan, and
# on the first run after deployment prompts only for the last day's contacts, not for years.
LOOKBACK: Final = dt.timedelta(hours=24)
# A taken text conversation with nothing texted either way for this long has ended for its note.
TEXTS_QUIET: Final = dt.timedelta(hours=1)
# At most this many contacts (and as many reminders) a pass: the rest are found by the next.
BATCH: Final = 200
LINK_PATH: Final = "/notes/link/"
SALT: Final = "crisisline.note-link"  # single-purpose: no other signed value opens this page

NotSent = Literal["note already written", "worker inactive", "worker has no phone"]


# ---- the link ------------------------------------------------------------------------------


# The link's token (crisisline.signed_links), under this salt; the names below are the ones
# the note pages and tests use.
_LINKS: Final = signed_links.LinkKind(SALT, "a note link")
LinkError = signed_links.LinkError
Expired = signed_links.Expired
NotForYou = signed_links.NotForYou
Link = signed_links.Link
_base36 = signed_links.base36


def _signer(secret_key: str) -> Signer:
    return _LINKS.signer(secret_key)


def token(secret_key: str, link: Link) -> str:
    """The signed token of `link` (URL-safe, about 35 characters)."""
    return _LINKS.token(secret_key, link)


def url(settings: Settings, contact_id: int, staff_id: int, sent_at: dt.datetime) -> str:
    """The link to the note form of `contact_id` for `staff_id`, working NOTE_LINK_HOURS from
    `sent_at`."""
    expires_at = sent_at + dt.timedelta(hours=settings.note_link_hours)
    value = token(settings.secret_key, Link(contact_id, staff_id, expires_at))
    return settings.public_base_url + LINK_PATH + value


def read(secret_key: str, value: str, now: dt.datetime) -> Link:
    """What a token says; LinkError if it is not a note link of ours, Expired if its time is up."""
    return _LINKS.read(secret_key, value, now)


def open_link(
    db: Database,
    secret_key: str,
    value: str,
    *,
    staff_id: int | None,
    actor: str,
    now: dt.datetime,
) -> int:
    """The contact whose note form the person signed in as `staff_id` may go on to from a
    link: LinkError (made up or changed), Expired, or NotForYou (sent to someone else).
    Each opening and each refusal of a genuine link is audited (never the token)."""
    try:
        link = read(secret_key, value, now)
    except Expired:
        log.info("an expired note link was opened by %s", actor)
        raise
    except LinkError:
        log.warning("a note link that is not ours was opened by %s", actor)
        raise
    mine = staff_id is not None and link.staff_id == staff_id
    with db.transaction() as session:
        audit.record(
            session,
            actor=actor,
            action="note_link.opened" if mine else "note_link.refused",
            record_type="contact",
            record_id=link.contact_id,
            at=now,
            changes={} if mine else {"sent_to": f"staff:{link.staff_id}"},
        )
    if not mine:
        log.warning(
            "note link for contact %s (sent to staff %s) opened by %s: refused",
            link.contact_id,
            link.staff_id,
            actor,
        )
        raise NotForYou("the link was sent to someone else")
    log.info("note link for contact %s opened by %s", link.contact_id, actor)
    return link.contact_id


# ---- the texts -----------------------------------------------------------------------------


_WHAT: Final[dict[HandledKind, str]] = {
    "call": "the call you took",
    "call_back": "your call-back",
    "text": "your text conversation",
}


def _when(instant: dt.datetime, now: dt.datetime, zone: dt.tzinfo) -> str:
    """The time as staff read it, with the day when it was not today."""
    local, today = instant.astimezone(zone), now.astimezone(zone)
    if local.date() == today.date():
        return f"{local:%H:%M}"
    return f"{local:%H:%M} {local:%a} {local.day} {local:%b}"


def prompt_text(
    kind: HandledKind, took_at: dt.datetime, link: str, *, now: dt.datetime, zone: dt.tzinfo
) -> str:
    """The text asking the worker to write the note of a contact they handled."""
    return (
        f"{wording.staff.SERVICE}: please write your note on {_WHAT[kind]} at "
        f"{_when(took_at, now, zone)}: {link}"
    )


def reminder_text(
    kind: HandledKind, took_at: dt.datetime, link: str, *, now: dt.datetime, zone: dt.tzinfo
) -> str:
    """The one reminder when there is still no note."""
    return (
        f"{wording.staff.SERVICE}: reminder, no note yet on {_WHAT[kind]} at "
        f"{_when(took_at, now, zone)}: {link}"
    )


def took_at(handled: HandledContact) -> dt.datetime:
    """When the worker took the contact, as the texts say it: an answered call's answer, a
    call-back's start, a conversation's first text."""
    contact = handled.contact
    if handled.kind == "call" and contact.answered_at is not None:
        return contact.answered_at
    return contact.started_at


# ---- finding what ended --------------------------------------------------------------------


@dataclass(frozen=True)
class Ended:
    """A handled contact that has ended and has not been prompted for."""

    contact_id: int
    ended_at: dt.datetime


def ended_unprompted(session: Session, now: dt.datetime) -> list[Ended]:
    """The handled contacts that ended within LOOKBACK of `now` and have no prompt yet,
    oldest first (at most BATCH)."""
    since = now - LOOKBACK
    calls = session.execute(
        select(Contact.id, Contact.ended_at)
        .outerjoin(NotePrompt, NotePrompt.contact_id == Contact.id)
        .where(
            # A range scan of ix_contacts_ended_at: the last day's ended calls, a few hundred.
            Contact.ended_at >= since,
            Contact.ended_at <= now,
            Contact.channel == Channel.VOICE,
            Contact.handled_by_staff_id.is_not(None),
            or_(
                and_(
                    Contact.direction == Direction.INBOUND,
                    Contact.outcome == ContactOutcome.ANSWERED,
                ),
                and_(
                    Contact.direction == Direction.OUTBOUND,
                    Contact.outcome == ContactOutcome.CALL_BACK,
                ),
            ),
            NotePrompt.contact_id.is_(None),
        )
        .order_by(Contact.ended_at, Contact.id)
        .limit(BATCH)
    ).all()
    found = [Ended(contact_id, ended_at) for contact_id, ended_at in calls if ended_at]
    found += _ended_conversations(session, now, since)
    found.sort(key=lambda ended: (ended.ended_at, ended.contact_id))
    return found[:BATCH]


def _ended_conversations(session: Session, now: dt.datetime, since: dt.datetime) -> list[Ended]:
    opening = (
        select(func.min(Contact.id))
        .where(
            Contact.conversation_id == SmsConversation.id,
            Contact.direction == Direction.INBOUND,
        )
        .correlate(SmsConversation)
        .scalar_subquery()
    )
    prompted = select(NotePrompt.contact_id).where(NotePrompt.contact_id == opening).exists()
    rows = session.execute(
        select(
            opening,
            SmsConversation.status,
            SmsConversation.closed_at,
            SmsConversation.last_message_at,
        )
        .where(
            # ix_sms_conversations_status_last: the last day's conversations of each status.
            SmsConversation.status.in_(("open", "closed")),
            SmsConversation.last_message_at >= since,
            SmsConversation.handled_by_staff_id.is_not(None),
            or_(
                SmsConversation.status == "closed",
                SmsConversation.last_message_at <= now - TEXTS_QUIET,
            ),
            ~prompted,
        )
        .order_by(SmsConversation.last_message_at)
        .limit(BATCH)
    ).all()
    return [
        Ended(contact_id, closed_at if status == "closed" and closed_at else last_message_at)
        for contact_id, status, closed_at, last_message_at in rows
        if contact_id is not None
    ]


# ---- prompting and reminding ---------------------------------------------------------------


def _not_reachable(staff: Staff | None) -> NotSent | None:
    if staff is None or not staff.active:
        return "worker inactive"
    if not staff.phone:
        return "worker has no phone"
    return None


def prompt(db: Database, ended: Ended, now: dt.datetime, settings: Settings) -> bool:
    """Prompt the worker who handled `ended`, once: True if this call queued the text.

    The prompt's row and the text are one transaction; a clash on the row means another
    scheduler (or pass) prompted first, and nothing is sent again."""
    try:
        with db.transaction() as session:
            handled = contact_notes.handled_contact(session, ended.contact_id)
            if handled is None:
                return False  # no longer handled by anyone (a conversation handed back)
            row = NotePrompt(
                contact_id=ended.contact_id,
                staff_id=handled.handler_staff_id,
                ended_at=ended.ended_at,
                prompted_at=now,
                detail={},
            )
            session.add(row)
            session.flush()  # the clash, if another process got here first
            staff = session.get(Staff, handled.handler_staff_id)
            not_sent: NotSent | None = (
                "note already written"
                if contact_notes.current(session, ended.contact_id) is not None
                else _not_reachable(staff)
            )
            if not_sent is not None or staff is None:
                row.detail = {"not_sent": not_sent}
                if not_sent != "note already written":
                    log.warning(
                        "note prompt for contact %s not texted: staff %s (%s)",
                        ended.contact_id,
                        handled.handler_staff_id,
                        not_sent,
                    )
                return False
            link = url(settings, ended.contact_id, staff.id, now)
            delivery = outbox.enqueue_sms(
                session,
                to=staff.phone,
                from_=settings.crisis_line_number,
                body=prompt_text(handled.kind, took_at(handled), link, now=now, zone=settings.zone),
                purpose=PROMPT,
                now=now,
            )
            row.prompt_delivery_id = delivery.id
            row.reminder_due_at = now + dt.timedelta(minutes=settings.note_reminder_minutes)
            row.detail = {"kind": handled.kind}
            log.info("note prompt for contact %s texted to staff %s", ended.contact_id, staff.id)
            return True
    except IntegrityError:
        log.info("note prompt for contact %s: already prompted by another pass", ended.contact_id)
        return False


def due_reminders(session: Session, now: dt.datetime) -> list[int]:
    """The contacts whose prompt's reminder is due (at most BATCH, the longest due first)."""
    return list(
        session.scalars(
            select(NotePrompt.contact_id)
            .where(NotePrompt.reminder_due_at <= now, NotePrompt.reminded_at.is_(None))
            .order_by(NotePrompt.reminder_due_at, NotePrompt.contact_id)
            .limit(BATCH)
        )
    )


def remind(db: Database, contact_id: int, now: dt.datetime, settings: Settings) -> bool:
    """Send the one reminder for `contact_id` if its note is still not written: True if this
    call queued it. A note written meanwhile clears the reminder without a text."""
    with db.transaction() as session:
        written = contact_notes.current(session, contact_id) is not None
        claimed = session.execute(
            # Claimed by a conditional update: of two passes at once, one finds it done.
            update(NotePrompt)
            .where(
                NotePrompt.contact_id == contact_id,
                NotePrompt.reminder_due_at <= now,
                NotePrompt.reminded_at.is_(None),
            )
            .values(reminder_due_at=None, reminded_at=None if written else now)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1 or written:  # type: ignore[attr-defined]
            return False  # reminded by another pass, or the note is there
        row = session.get_one(NotePrompt, contact_id, populate_existing=True)
        staff = session.get(Staff, row.staff_id)
        handled = contact_notes.handled_contact(session, contact_id)
        not_sent = _not_reachable(staff)
        if not_sent is not None or staff is None or handled is None:
            row.detail = {**row.detail, "reminder_not_sent": not_sent or "no longer handled"}
            log.warning(
                "note reminder for contact %s not texted: staff %s (%s)",
                contact_id,
                row.staff_id,
                not_sent or "no longer handled",
            )
            return False
        link = url(settings, contact_id, staff.id, now)
        delivery = outbox.enqueue_sms(
            session,
            to=staff.phone,
            from_=settings.crisis_line_number,
            body=reminder_text(handled.kind, took_at(handled), link, now=now, zone=settings.zone),
            purpose=REMINDER,
            now=now,
        )
        row.reminder_delivery_id = delivery.id
    log.info("note reminder for contact %s texted to staff %s", contact_id, row.staff_id)
    return True


@dataclass(frozen=True)
class PassReport:
    """What one pass of the `note-prompts` job sent."""

    prompted: int
    reminded: int


def run(db: Database, now: dt.datetime, settings: Settings) -> PassReport:
    """One pass: prompt for every handled contact that ended, then send the reminders due.
    One contact that fails is logged and left for the next pass; the others go on."""
    with db.transaction() as session:
        ended = ended_unprompted(session, now)
    prompted = 0
    for each in ended:
        try:
            prompted += prompt(db, each, now, settings)
        except Exception as error:
            log.error(
                "note prompt for contact %s failed (%s)", each.contact_id, type(error).__name__
            )
    with db.transaction() as session:
        due = due_reminders(session, now)
    reminded = 0
    for contact_id in due:
        try:
            reminded += remind(db, contact_id, now, settings)
        except Exception as error:
            log.error("note reminder for contact %s failed (%s)", contact_id, type(error).__name__)
    return PassReport(prompted, reminded)
