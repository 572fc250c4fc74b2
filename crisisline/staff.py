"""Staff: the people who answer the crisis line, manage it and receive its alerts.

Edits and deactivation reach this module through `crisisline.staffing`, which adds the gap
warnings a deactivation calls for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

import wording.staff
from crisisline import audit, outbox, routing_cache
from crisisline.errors import Conflict, NotFound
from crisisline.escalation_models import EscalationCode, EscalationRecord
from crisisline.models import (
    Delivery,
    DeliveryStatus,
    ParticipantPhone,
    Staff,
    StaffRole,
    StaffRoleAssignment,
)
from crisisline.rota_models import CalendarFeedKind, CalendarFeedToken

TEST_MESSAGE_PURPOSE = "test_message"
PHONE_CHANGED_PURPOSE = "phone_changed_codes"


@dataclass(frozen=True)
class NewStaff:
    """What is needed to add a member of staff (phone already in E.164)."""

    name: str
    phone: str
    email: str | None
    roles: Sequence[StaffRole]
    active: bool = True


def create(session: Session, new: NewStaff, *, actor: str, now: dt.datetime) -> Staff:
    """Add a member of staff, refusing a phone number or email another member already has."""
    _refuse_taken(session, phone=new.phone, email=new.email)
    staff = Staff(
        name=new.name,
        phone=new.phone,
        email=new.email,
        active=new.active,
        created_at=now,
        updated_at=now,
        role_rows=[StaffRoleAssignment(role=role) for role in sorted(set(new.roles))],
    )
    session.add(staff)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        record_type="staff",
        record_id=staff.id,
        at=now,
        changes=describe(staff),
    )
    return staff


def get(session: Session, staff_id: int) -> Staff:
    """The member of staff with `staff_id`, or NotFound."""
    staff = session.get(Staff, staff_id)
    if staff is None:
        raise NotFound(f"There is no member of staff with id {staff_id}.")
    return staff


def list_staff(
    session: Session,
    *,
    role: StaffRole | None = None,
    active: bool | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Staff], int]:
    """A page of staff ordered by name, and how many match in all."""
    query = select(Staff)
    if role is not None:
        query = query.where(Staff.role_rows.any(StaffRoleAssignment.role == role))
    if active is not None:
        query = query.where(Staff.active == active)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Staff.name, Staff.id).offset(offset).limit(limit)).all()
    return list(rows), total


def update(
    session: Session,
    staff_id: int,
    changes: dict[str, Any],
    *,
    actor: str,
    now: dt.datetime,
    line_number: str | None = None,
) -> Staff:
    """Apply `changes` (any of name, phone, email, roles, active) to a member of staff.

    When the phone changes and they hold live reply codes, the new phone is texted from
    `line_number` (when given) with each code and what it is about: the texts that carried
    those codes went to the old phone, which may be lost.
    """
    staff = get(session, staff_id)
    before = describe(staff)
    _refuse_taken(
        session, phone=changes.get("phone"), email=changes.get("email"), except_id=staff.id
    )
    if "phone" in changes and changes["phone"] != staff.phone:
        # Live reply codes, and texts and calls still waiting to go, follow the person to the
        # new phone: the old number (perhaps a lost phone, perhaps soon someone else's) must
        # not go on receiving participants' words.
        moved = list(
            session.scalars(
                select(EscalationCode)
                .where(EscalationCode.staff_id == staff.id, EscalationCode.active.is_(True))
                .order_by(EscalationCode.code)
            )
        )
        for code in moved:
            code.phone = changes["phone"]
        if moved and line_number and staff.active:
            _tell_new_phone_its_codes(session, moved, changes["phone"], line_number, now)
        session.execute(
            sql_update(Delivery)
            .where(Delivery.to_number == staff.phone, Delivery.status == DeliveryStatus.QUEUED)
            .values(to_number=changes["phone"], updated_at=now)
            .execution_options(synchronize_session=False)
        )
    for name in ("name", "phone", "email", "active"):
        if name == "active" and changes.get("active") is False and staff.active:
            # Switching someone off through an edit does all that deactivating does.
            _switch_off(session, staff, actor=actor, now=now)
        elif name in changes:
            setattr(staff, name, changes[name])
    if "roles" in changes:
        wanted = set(changes["roles"])
        staff.role_rows = [row for row in staff.role_rows if row.role in wanted]
        held = {row.role for row in staff.role_rows}
        staff.role_rows.extend(StaffRoleAssignment(role=role) for role in sorted(wanted - held))
    staff.updated_at = now
    session.flush()
    _audit_change(session, staff, before, actor=actor, now=now, action="update")
    return staff


def _tell_new_phone_its_codes(
    session: Session,
    codes: list[EscalationCode],
    phone: str,
    line_number: str,
    now: dt.datetime,
) -> None:
    still_open = []
    for code in codes:
        record = session.get(EscalationRecord, code.escalation_id)
        still_open.append((code.code, record.summary if record else ""))
    outbox.enqueue_sms(
        session,
        to=phone,
        from_=line_number,
        body=phone_changed_text(still_open),
        purpose=PHONE_CHANGED_PURPOSE,
        now=now,
    )
    for code in codes:
        code.last_sent_at = now


def deactivate(session: Session, staff_id: int, *, actor: str, now: dt.datetime) -> Staff:
    """Mark a member of staff inactive; the record is kept for the history it belongs to."""
    staff = get(session, staff_id)
    before = describe(staff)
    if staff.active:
        _switch_off(session, staff, actor=actor, now=now)
    staff.updated_at = now
    session.flush()
    _audit_change(session, staff, before, actor=actor, now=now, action="deactivate")
    return staff


def _switch_off(session: Session, staff: Staff, *, actor: str, now: dt.datetime) -> None:
    """Everything that follows from a member of staff becoming inactive, however it happens."""
    staff.active = False
    # Their reply codes stop being live: a leaver's (or a lost) phone can no longer take or
    # close anything, and conversations relay to active staff only.
    for code in session.scalars(
        select(EscalationCode).where(
            EscalationCode.staff_id == staff.id, EscalationCode.active.is_(True)
        )
    ):
        code.active = False
        code.freed_at = now
    session.execute(
        delete(CalendarFeedToken).where(
            CalendarFeedToken.kind == CalendarFeedKind.STAFF,
            CalendarFeedToken.target_id == staff.id,
        )
    )
    # Texts and calls still waiting for their phone are withdrawn: a leaver's (or a stolen)
    # phone must not get participants' details. Escalations go on to their next step when the
    # current step's wait runs out, as for anyone who does not answer.
    session.execute(
        sql_update(Delivery)
        .where(Delivery.to_number == staff.phone, Delivery.status == DeliveryStatus.QUEUED)
        .values(
            status=DeliveryStatus.FAILED,
            finished_at=now,
            updated_at=now,
            error_message="withdrawn: the recipient was deactivated",
        )
        .execution_options(synchronize_session=False)
    )
    session.flush()


def test_message_text(first_name: str) -> str:
    """The test SMS a manager sends to check a number before rostering it."""
    return (
        f"{wording.staff.SERVICE}: test message for {first_name}. "
        "This number can receive crisis line texts. No reply needed."
    )


def phone_changed_text(still_open: Sequence[tuple[int, str]]) -> str:
    """To a new registered phone: the reply codes (code, summary) still open for this person."""
    lines = [wording.staff.PHONE_CHANGED_HEADER]
    lines += [wording.staff.bundle_item(summary, code) for code, summary in still_open]
    return "\n".join(lines)


def send_test_message(
    session: Session, staff_id: int, *, from_: str, actor: str, now: dt.datetime
) -> Delivery:
    """Queue a test SMS so a manager can check a number works before rostering it."""
    staff = get(session, staff_id)
    first_name = staff.name.split()[0]
    delivery = outbox.enqueue_sms(
        session,
        to=staff.phone,
        from_=from_,
        body=test_message_text(first_name),
        purpose=TEST_MESSAGE_PURPOSE,
        now=now,
    )
    audit.record(
        session,
        actor=actor,
        action="test_message",
        record_type="staff",
        record_id=staff.id,
        at=now,
        changes={"delivery_id": delivery.id},
    )
    return delivery


def active_by_phone(session: Session, phone: str | None) -> Staff | None:
    """The active member of staff whose registered phone this is, if anyone's.

    Asked on every call and text to the line, so whether a number is a staff phone comes from
    the routing cache (exact to the last staff change, see crisisline.routing_cache); the record
    itself is read only when it is one.
    """
    if phone is None:
        return None
    phones = routing_cache.cached(
        ACTIVE_PHONES_KEY, routing_cache.version(session), lambda: _active_phones(session)
    )
    staff_id = phones.get(phone)
    if staff_id is None:
        return None
    staff = session.get(Staff, staff_id)
    # Read again from the record: a cached answer never makes someone staff who is not.
    return staff if staff is not None and staff.active and staff.phone == phone else None


ACTIVE_PHONES_KEY = ("active-staff-phones",)


def cached_is_staff_phone(phone: str | None, version: routing_cache.Version) -> bool:
    """Whether the routing cache holds `phone` as an active staff phone under `version`,
    without the database; routing_cache.Missing if it holds no answer under that version."""
    phones: dict[str, int] = routing_cache.peek(ACTIVE_PHONES_KEY, version)
    return phone is not None and phone in phones


def _active_phones(session: Session) -> dict[str, int]:
    rows = session.execute(select(Staff.phone, Staff.id).where(Staff.active.is_(True)))
    return {str(phone): int(staff_id) for phone, staff_id in rows}


def duty_managers(session: Session) -> list[Staff]:
    """Every active member of staff with the duty manager role."""
    return list(
        session.scalars(
            select(Staff)
            .where(
                Staff.active.is_(True),
                Staff.role_rows.any(StaffRoleAssignment.role == StaffRole.DUTY_MANAGER),
            )
            .order_by(Staff.id)
        )
    )


def find_by_email(session: Session, email: str) -> Staff | None:
    """The member of staff with this email (case-insensitive), if any."""
    return session.scalars(select(Staff).where(func.lower(Staff.email) == email.lower())).first()


def describe(staff: Staff) -> dict[str, Any]:
    """The fields of a staff record as the audit log keeps them."""
    return {
        "name": staff.name,
        "phone": staff.phone,
        "email": staff.email,
        "roles": [role.value for role in staff.roles],
        "active": staff.active,
    }


def _audit_change(
    session: Session,
    staff: Staff,
    before: dict[str, Any],
    *,
    actor: str,
    now: dt.datetime,
    action: str,
) -> None:
    after = describe(staff)
    diff = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    audit.record(
        session,
        actor=actor,
        action=action,
        record_type="staff",
        record_id=staff.id,
        at=now,
        changes=diff,
    )


def _refuse_taken(
    session: Session, *, phone: str | None, email: str | None, except_id: int | None = None
) -> None:
    if phone is not None:
        holder = session.scalars(select(Staff).where(Staff.phone == phone)).first()
        if holder is not None and holder.id != except_id:
            raise Conflict(f"{phone} is already the phone of staff member {holder.id}.", "phone")
        if session.scalars(
            select(ParticipantPhone).where(ParticipantPhone.number == phone)
        ).first():
            # A participant's number on a staff record would route crisis texts as staff replies.
            raise Conflict(f"{phone} belongs to a participant.", "phone")
    if email is not None:
        holder = find_by_email(session, email)
        if holder is not None and holder.id != except_id:
            raise Conflict(f"{email} is already the email of staff member {holder.id}.", "email")
