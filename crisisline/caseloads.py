"""Which participants a person's grant reaches: all, their caseload, or those they handled.

`crisisline.permissions` says how far each grant reaches (an `Extent`); this module turns an
extent into rows. A responsible officer's caseload is the participants whose officer they are;
an on-call worker handled a participant when they took one of his contacts in the last
`HANDLED_WITHIN_DAYS` days, are handling his text conversation now, or hold a live reply code
for an escalation about him (they were asked to take it, and must see what it is about).
The record access log asks `is_own` too: reading a participant outside one's own is
"break-glass" and needs a reason.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.orm import Session

from crisisline.conversation_models import SmsConversation
from crisisline.escalation_models import EscalationCode, EscalationRecord
from crisisline.models import Contact, Participant, Staff
from crisisline.permissions import HANDLED_WITHIN_DAYS, ROLE_GRANTS, Actor, Extent, Permission


class Access(StrEnum):
    """What a request may do with one participant's record."""

    OWN = "own"  # his officer, or someone handling or lately handling his contacts
    WITH_REASON = "with_reason"  # reachable by the grant, outside one's own: break-glass
    REFUSED = "refused"


def _handled_by(staff_id: int, now: dt.datetime) -> ColumnElement[bool]:
    since = now - dt.timedelta(days=HANDLED_WITHIN_DAYS)
    contacts = select(Contact.participant_id).where(
        Contact.handled_by_staff_id == staff_id,
        Contact.started_at >= since,
        Contact.participant_id.is_not(None),
    )
    conversations = select(SmsConversation.participant_id).where(
        SmsConversation.handled_by_staff_id == staff_id,
        SmsConversation.status == "open",
        SmsConversation.participant_id.is_not(None),
    )
    # Asked now: an escalation about him texted or rang this person a reply code that is still
    # live (the code's phone is indexed; the person's phone is the one the code went to).
    asked = (
        select(EscalationRecord.participant_id)
        .join(EscalationCode, EscalationCode.escalation_id == EscalationRecord.id)
        .where(
            EscalationCode.phone
            == select(Staff.phone).where(Staff.id == staff_id).scalar_subquery(),
            EscalationCode.staff_id == staff_id,
            EscalationCode.active.is_(True),
            EscalationRecord.participant_id.is_not(None),
        )
    )
    return or_(
        Participant.id.in_(contacts),
        Participant.id.in_(conversations),
        Participant.id.in_(asked),
    )


def _own(actor: Actor, now: dt.datetime) -> ColumnElement[bool]:
    if actor.staff_id is None:
        return false()
    return or_(
        Participant.responsible_officer_id == actor.staff_id, _handled_by(actor.staff_id, now)
    )


def participant_filter(
    actor: Actor, permission: Permission, now: dt.datetime
) -> ColumnElement[bool] | None:
    """A condition on `Participant` limiting rows to those `permission` reaches for `actor`
    (None: no limit; a condition that is always false when the permission is not held)."""
    extent = actor.extent(permission)
    if extent is Extent.ALL:
        return None
    if extent is None or extent is Extent.OWN or actor.staff_id is None:
        return false()
    # Each role reaches its own participants: an officer who also works on call reaches his
    # caseload and the men whose calls he took, not only the wider of the two.
    reaches = {ROLE_GRANTS.get(role, {}).get(permission) for role in actor.roles}
    conditions: list[ColumnElement[bool]] = []
    if Extent.CASELOAD in reaches:
        conditions.append(Participant.responsible_officer_id == actor.staff_id)
    if Extent.HANDLED in reaches:
        conditions.append(_handled_by(actor.staff_id, now))
    return or_(*conditions) if conditions else false()


def is_own(session: Session, actor: Actor, participant_id: int, now: dt.datetime) -> bool:
    """Whether the participant is in the actor's own caseload or contacts."""
    condition = _own(actor, now)
    found = session.scalar(
        select(Participant.id).where(Participant.id == participant_id, condition)
    )
    return found is not None


def access(
    session: Session, actor: Actor, permission: Permission, participant_id: int, now: dt.datetime
) -> Access:
    """Whether `actor` may use `permission` on one participant, and whether a reason is needed.

    An integration acts within its scopes and never gives a reason; a person reaches their own
    participants plainly, and the rest of what an ALL grant reaches only with a reason.
    """
    extent = actor.extent(permission)
    if extent is None:
        return Access.REFUSED
    if actor.kind == "integration":
        return Access.OWN if extent is Extent.ALL else Access.REFUSED
    condition = participant_filter(actor, permission, now)
    if condition is None:
        return Access.OWN if is_own(session, actor, participant_id, now) else Access.WITH_REASON
    # A narrower grant reaches only the person's own participants, so one statement decides:
    # no reason opens the rest (this is on the path of every read of a record).
    reached = session.scalar(
        select(Participant.id).where(Participant.id == participant_id, condition)
    )
    return Access.OWN if reached is not None else Access.REFUSED
