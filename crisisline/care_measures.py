"""Measures of care given: text conversations and the time to the first human reply, and the
handled contacts (calls, call-backs, taken conversations) with a note in time. Escalations,
risk alerts and rota gaps are `crisisline.cover_measures`.

Defines its measures in `crisisline.reports.MEASURES` at import; `facts` reads the period's
records, `figures` computes from them (pure). The words of each measure (what counts, what does
not, an example) are in docs/reports.md, "Texts" and "Escalations, alerts, the rota and notes".

Every read is a few set-based queries over the period (never one per row), and never loads a
message body or a note's words. What is said of a fact's fate (a reply, a note) is as the
record stands when the report is read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from crisisline.conversation_models import SmsConversation
from crisisline.models import Channel, Contact, ContactOutcome, Direction
from crisisline.note_models import ContactNote
from crisisline.reports import Context, Fact, Figure, define, ids, percentile, share
from rotas import local_to_utc

# ---- the measures ---------------------------------------------------------------------------

TEXTS: Final = "Texts"
NOTES: Final = "Notes"

define("texts.conversations", "Text conversations", "count", TEXTS)
define("texts.first_reply_median", "Time to the first human reply, median", "seconds", TEXTS)
define("texts.first_reply_p90", "Time to the first human reply, 90th percentile", "seconds", TEXTS)
define(
    "texts.replied_within_5min",
    "Conversations replied to by a person within 5 minutes",
    "share",
    TEXTS,
    target="text_replied_within_5min",
    better="higher",
)
define("texts.no_reply", "Conversations with no human reply", "count", TEXTS, better="lower")
define(
    "notes.within_30min",
    "Handled contacts with a note within 30 minutes of their end",
    "share",
    NOTES,
    better="higher",
)
define(
    "notes.by_handover",
    "Handled contacts with a note by the next handover",
    "share",
    NOTES,
    better="higher",
)

REPLY_WITHIN: Final = dt.timedelta(minutes=5)
NOTE_WITHIN: Final = dt.timedelta(minutes=30)
# A taken conversation with nothing texted either way for this long has ended for its note, as
# the note prompts count it (crisisline.note_prompts.TEXTS_QUIET, a layer above this one: a test
# keeps the two equal).
TEXTS_QUIET: Final = dt.timedelta(hours=1)
# ---- facts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConversationFact(Fact):
    """A text conversation opened in the period (`at`), and its first human reply."""

    conversation_id: int = 0
    contact_id: int | None = None  # its first text in (the contact its note belongs to)
    first_text_at: dt.datetime | None = None
    first_reply_at: dt.datetime | None = None
    # Who holds it now (None: nobody took it, or it was handed back: it takes no note), and
    # when it ended for its note.
    held_by: int | None = None
    ended_at: dt.datetime | None = None
    first_note_at: dt.datetime | None = None  # its note's first version

    @property
    def reply_seconds(self) -> float | None:
        """Seconds from the first text in to the first reply by a person (None: no reply)."""
        if self.first_reply_at is None or self.first_text_at is None:
            return None
        return max(0.0, (self.first_reply_at - self.first_text_at).total_seconds())


@dataclass(frozen=True)
class HandledFact(Fact):
    """A contact a person handled that started in the period, its end and its first note."""

    contact_id: int = 0
    ended_at: dt.datetime | None = None  # None: its end was never recorded
    first_note_at: dt.datetime | None = None


def facts(session: Session, context: Context) -> Sequence[Fact]:
    """The period's text conversations and handled contacts."""
    conversations = _conversations(session, context)
    found: list[Fact] = list(conversations)
    found += _handled(session, context, conversations)
    return found


def _first_text_in(conversation_id: Any) -> Any:
    """The first text in of the conversation `conversation_id` (a correlated column): the
    lowest inbound id, as its note's contact is chosen. Correlated, so it is an index lookup
    per conversation of the period, whatever the number of texts outside it."""
    text_in = aliased(Contact)
    return (
        select(func.min(text_in.id))
        .where(text_in.conversation_id == conversation_id, text_in.direction == Direction.INBOUND)
        .correlate_except(text_in)
        .scalar_subquery()
    )


def _conversations(session: Session, context: Context) -> list[ConversationFact]:
    period = context.period
    # Each value is a correlated subquery: an index lookup (contacts by conversation, notes by
    # contact) per conversation of the period, never a scan of the texts of other periods.
    first_id = _first_text_in(SmsConversation.id)
    first = aliased(Contact)
    first_at = func.coalesce(
        select(first.started_at)
        .where(first.id == first_id)
        .correlate_except(first)
        .scalar_subquery(),
        SmsConversation.opened_at,
    )
    # The first text a person wrote to the texter after his first text in: the automatic
    # acknowledgement and the crisis numbers are written by nobody (no staff id).
    out = aliased(Contact)
    reply = (
        select(out.started_at, out.handled_by_staff_id)
        .where(
            out.conversation_id == SmsConversation.id,
            out.channel == Channel.SMS,
            out.direction == Direction.OUTBOUND,
            out.handled_by_staff_id.is_not(None),
            out.started_at >= first_at,
        )
        .order_by(out.started_at, out.id)
        .limit(1)
        .correlate_except(out)
    )
    note_at = (
        select(ContactNote.written_at)
        .where(ContactNote.contact_id == first_id, ContactNote.version == 1)
        .correlate_except(ContactNote)
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            SmsConversation.id,
            SmsConversation.opened_at,
            SmsConversation.handled_by_staff_id,
            SmsConversation.status,
            SmsConversation.closed_at,
            SmsConversation.last_message_at,
            first_id.label("first_id"),
            first_at.label("first_at"),
            reply.with_only_columns(out.started_at).scalar_subquery().label("reply_at"),
            reply.with_only_columns(out.handled_by_staff_id).scalar_subquery().label("replier"),
            note_at.label("note_at"),
        ).where(SmsConversation.opened_at >= period.start, SmsConversation.opened_at < period.end)
    ).all()
    return [
        ConversationFact(
            at=row.opened_at,
            # Its worker; a conversation handed back to the rota, by whoever replied first.
            staff_id=row.handled_by_staff_id
            if row.handled_by_staff_id is not None
            else row.replier,
            conversation_id=row.id,
            contact_id=row.first_id,
            first_text_at=row.first_at,
            first_reply_at=row.reply_at,
            held_by=row.handled_by_staff_id,
            ended_at=_conversation_end(row.status, row.closed_at, row.last_message_at),
            first_note_at=row.note_at,
        )
        for row in rows
    ]


def _handled(
    session: Session, context: Context, conversations: Sequence[ConversationFact]
) -> list[HandledFact]:
    period = context.period
    # Correlated: an index lookup of each call's first version (contact_id, version), never a
    # read of the notes of other periods.
    first_note = (
        select(ContactNote.written_at)
        .where(ContactNote.contact_id == Contact.id, ContactNote.version == 1)
        .correlate_except(ContactNote)
        .scalar_subquery()
    )
    calls = session.execute(
        select(
            Contact.id,
            Contact.started_at,
            Contact.ended_at,
            Contact.handled_by_staff_id,
            first_note,
        ).where(
            Contact.started_at >= period.start,
            Contact.started_at < period.end,
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
        )
    ).all()
    found = [
        HandledFact(
            at=started_at,
            staff_id=staff_id,
            contact_id=contact_id,
            ended_at=ended_at,
            first_note_at=written_at,
        )
        for contact_id, started_at, ended_at, staff_id, written_at in calls
    ]
    found += [
        HandledFact(
            at=c.at,
            staff_id=c.held_by,
            contact_id=c.contact_id,
            ended_at=c.ended_at,
            first_note_at=c.first_note_at,
        )
        for c in conversations
        if c.contact_id is not None and c.held_by is not None
    ]
    return found


def _conversation_end(
    status: str, closed_at: dt.datetime | None, last_at: dt.datetime
) -> dt.datetime:
    """When a taken conversation ended for its note: closed before an hour's quiet, when it was
    closed; otherwise its last text either way (the note prompt's rule)."""
    if status == "closed" and closed_at is not None and closed_at < last_at + TEXTS_QUIET:
        return closed_at
    return last_at


# ---- figures --------------------------------------------------------------------------------

T = TypeVar("T", bound=Fact)


def _of(facts: Sequence[Fact], kind: type[T]) -> list[T]:
    return [f for f in facts if isinstance(f, kind)]


def figures(facts: Sequence[Fact], context: Context) -> list[Figure]:
    """The text and note figures over `facts`."""
    return [
        *_text_figures(_of(facts, ConversationFact)),
        *_note_figures(_of(facts, HandledFact), context),
    ]


def _text_figures(conversations: list[ConversationFact]) -> list[Figure]:
    replied = [c for c in conversations if c.reply_seconds is not None]
    times = [c.reply_seconds for c in replied if c.reply_seconds is not None]
    within = [
        c
        for c in replied
        if c.reply_seconds is not None and c.reply_seconds <= REPLY_WITHIN.total_seconds()
    ]
    unreplied = [c for c in conversations if c.reply_seconds is None]
    replied_ids = ids(c.contact_id for c in replied)
    return [
        Figure(
            "texts.conversations",
            len(conversations),
            contact_ids=ids(c.contact_id for c in conversations),
        ),
        Figure("texts.first_reply_median", percentile(times, 0.5), contact_ids=replied_ids),
        Figure("texts.first_reply_p90", percentile(times, 0.9), contact_ids=replied_ids),
        Figure(
            "texts.replied_within_5min",
            share(len(within), len(conversations)),
            numerator=len(within),
            denominator=len(conversations),
            contact_ids=ids(c.contact_id for c in within),
        ),
        Figure("texts.no_reply", len(unreplied), contact_ids=ids(c.contact_id for c in unreplied)),
    ]


def first_handover_after(instant: dt.datetime, context: Context) -> dt.datetime:
    """The first morning handover (HANDOVER_TIME, local wall clock) strictly after `instant`."""
    day = instant.astimezone(context.zone).date()
    while True:
        handover = local_to_utc(dt.datetime.combine(day, context.handover_time), context.zone)
        if handover > instant:
            return handover
        day += dt.timedelta(days=1)


def _note_figures(handled: list[HandledFact], context: Context) -> list[Figure]:
    # A contact whose end was never recorded cannot show its note came in time: it counts
    # among the handled contacts and never as noted in time.
    within = [
        h
        for h in handled
        if h.ended_at is not None
        and h.first_note_at is not None
        and h.first_note_at <= h.ended_at + NOTE_WITHIN
    ]
    by_handover = [
        h
        for h in handled
        if h.ended_at is not None
        and h.first_note_at is not None
        and h.first_note_at <= first_handover_after(h.ended_at, context)
    ]
    return [
        Figure(
            "notes.within_30min",
            share(len(within), len(handled)),
            numerator=len(within),
            denominator=len(handled),
            contact_ids=ids(h.contact_id for h in within),
        ),
        Figure(
            "notes.by_handover",
            share(len(by_handover), len(handled)),
            numerator=len(by_handover),
            denominator=len(handled),
            contact_ids=ids(h.contact_id for h in by_handover),
        ),
    ]
