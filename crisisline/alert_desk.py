"""Acting on escalations from the console: taking and closing them as a signed-in person, by the
same rules as the reply codes.

Who may: the person the escalation asked (they hold a live reply code for it: it was texted or
rung to their phone), exactly as if they had replied with the code; or a person whose grant to
act on escalations reaches every participant (a duty manager, the clinical lead), by name. What
it stops: taking stops the escalation everywhere and tells the others asked who took it;
closing stops it and nothing fires again. A text conversation is kept in step, as when the code
is texted: taken, its replies go to whoever took it; closed, it closes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from crisisline import escalation_engine, sms_commands
from crisisline.errors import DomainError
from crisisline.escalation_models import EscalationRecord
from crisisline.models import Staff
from crisisline.permissions import Actor, Extent, Permission
from escalation.reach import Reach
from escalation.state import ByOperator, ByPhone, Responder


class NotAsked(DomainError):
    """The person was not asked to take this escalation and may not act on every one."""


@dataclass(frozen=True)
class Acted:
    """What taking or closing did, in words for the person who did it."""

    escalation_id: int
    changed: bool
    message: str


def responder(session: Session, actor: Actor, record: EscalationRecord) -> Responder | None:
    """How `actor` may act on the escalation (their reply code, or their name), or None."""
    staff = session.get(Staff, actor.staff_id) if actor.staff_id is not None else None
    if staff is not None and staff.active:
        code = escalation_engine.code_for_phone(session, record.id, staff.phone)
        if code is not None:
            return ByPhone(staff.phone, code)
    if actor.extent(Permission.ESCALATIONS_WRITE) is Extent.ALL:
        return ByOperator(actor.name)
    return None


def may_take(session: Session, actor: Actor, record: EscalationRecord) -> bool:
    """Whether the console should offer `actor` "take" for this escalation."""
    return record.status in ("open", "exhausted") and responder(session, actor, record) is not None


def may_close(session: Session, actor: Actor, record: EscalationRecord) -> bool:
    """Whether the console should offer `actor` "close" (also once taken, to whoever may)."""
    return record.status != "closed" and responder(session, actor, record) is not None


def take(
    session: Session, actor: Actor, escalation_id: int, now: dt.datetime, reach: Reach
) -> Acted:
    """Take the escalation (NotAsked if the person may not; NotFound if there is none)."""
    record, by = _checked(session, actor, escalation_id)
    outcome = escalation_engine.acknowledge_escalation(session, record.id, by, now, reach)
    _keep_conversation_in_step(session, actor, record.id, outcome.changed, now)
    if outcome.changed:
        told = outcome.others_told
        others = f" The {told} others asked have been told." if told > 1 else ""
        others = " The other person asked has been told." if told == 1 else others
        return Acted(record.id, True, f"You took it: {record.summary}.{others}")
    return Acted(record.id, False, _unchanged(record))


def close(
    session: Session, actor: Actor, escalation_id: int, now: dt.datetime, reach: Reach
) -> Acted:
    """Close the escalation: nothing fires again (NotAsked if the person may not)."""
    record, by = _checked(session, actor, escalation_id)
    outcome = escalation_engine.close_escalation(session, record.id, by, now, reach)
    _keep_conversation_in_step(session, actor, record.id, outcome.changed, now)
    if outcome.changed:
        return Acted(record.id, True, f"Closed: {record.summary}. Nothing more will be sent.")
    return Acted(record.id, False, _unchanged(record))


def _checked(
    session: Session, actor: Actor, escalation_id: int
) -> tuple[EscalationRecord, Responder]:
    record, _ = escalation_engine.load(session, escalation_id)
    by = responder(session, actor, record)
    if by is None:
        raise NotAsked(
            "You were not asked to take this one. The people it was sent to, or a duty "
            "manager, can take or close it."
        )
    return record, by


def _keep_conversation_in_step(
    session: Session, actor: Actor, escalation_id: int, changed: bool, now: dt.datetime
) -> None:
    if not changed or actor.staff_id is None:
        return
    staff = session.get(Staff, actor.staff_id)
    if staff is not None:
        sms_commands.keep_conversation_in_step(session, escalation_id, staff, now)


def _unchanged(record: EscalationRecord) -> str:
    if record.status == "acknowledged":
        return f"Nothing changed: {record.acknowledged_by or 'a colleague'} has already taken it."
    if record.status == "closed":
        return f"Nothing changed: {record.closed_by or 'a colleague'} has already closed it."
    return f"Nothing changed: it is {record.status}."
