"""Corrections of a participant's details, each with its reason and the values before (see
docs/data-protection.md).

A correction is written by `crisisline.participants.update` in the same transaction as the
change it describes, so the record always shows what was believed before and when that changed.
The earlier values are part of the participant's record: whoever may read him may read them.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from crisisline.data_protection_models import ParticipantCorrection
from crisisline.errors import InvalidInput
from crisisline.models import Staff

REASON_MIN: Final = 3
REASON_MAX: Final = 500
# What a correction made without a reason (through the API, which keeps its earlier contract
# of a PATCH without one) is recorded with.
NOT_GIVEN: Final = "not given"
# The fields in the order the page lists them, and their names in words.
FIELD_NAMES: Final = {
    "reference": "Reference",
    "name": "Name",
    "phones": "Phone numbers",
    "responsible_officer_id": "Responsible officer",
    "risk_level": "Risk level",
    "status": "Status",
    "ended_service_on": "Left the service on",
}


def checked_reason(text: str | None, field: str = "reason") -> str:
    """The reason as given (trimmed), or InvalidInput naming `field` if it is missing, shorter
    than REASON_MIN or longer than REASON_MAX characters, or holds control codes."""
    reason = (text or "").strip()
    if len(reason) < REASON_MIN:
        raise InvalidInput(f"Say why, in at least {REASON_MIN} characters.", field)
    if len(reason) > REASON_MAX:
        raise InvalidInput(f"Keep the reason to {REASON_MAX} characters or fewer.", field)
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in reason):
        raise InvalidInput("The reason holds control characters.", field)
    return reason


def record(
    session: Session,
    participant_id: int,
    changes: dict[str, list[Any]],
    *,
    reason: str,
    actor: str,
    now: dt.datetime,
) -> ParticipantCorrection | None:
    """Keep one correction: `changes` maps a field to [before, after] (None when nothing
    changed: no row is written)."""
    if not changes:
        return None
    correction = ParticipantCorrection(
        participant_id=participant_id,
        at=now,
        actor=actor,
        reason=reason,
        changes=changes,
    )
    session.add(correction)
    return correction


@dataclass(frozen=True)
class Change:
    """One field of a correction, in words: what it was and what it became."""

    field: str
    name: str
    before: str
    after: str


@dataclass(frozen=True)
class Correction:
    """One correction as the participant's page shows it."""

    at: dt.datetime
    actor: str
    by: str  # the person's name where the actor is a member of staff
    reason: str
    changes: tuple[Change, ...]


def history(session: Session, participant_id: int) -> list[ParticipantCorrection]:
    """Every correction of the participant's details, newest first."""
    return list(
        session.scalars(
            select(ParticipantCorrection)
            .where(ParticipantCorrection.participant_id == participant_id)
            .order_by(ParticipantCorrection.at.desc(), ParticipantCorrection.id.desc())
        )
    )


def earlier_details(session: Session, participant_id: int) -> list[Correction]:
    """The participant's corrections in words, newest first: officers and the people who made
    each change by name, phone lists as one line."""
    rows = history(session, participant_id)
    staff_ids = {_staff_id(row.actor) for row in rows}
    for row in rows:
        officers = row.changes.get("responsible_officer_id") or []
        staff_ids.update(value for value in officers if isinstance(value, int))
    found = session.execute(
        select(Staff.id, Staff.name).where(Staff.id.in_([i for i in staff_ids if i]))
    )
    names: dict[int, str] = dict(found.all())
    return [
        Correction(
            at=row.at,
            actor=row.actor,
            by=names.get(_staff_id(row.actor) or 0, row.actor),
            reason=row.reason,
            changes=tuple(
                Change(field, FIELD_NAMES.get(field, field), *_in_words(field, pair, names))
                for field, pair in sorted(row.changes.items(), key=_field_order)
            ),
        )
        for row in rows
    ]


def actor_names(session: Session, labels: Iterable[str | None]) -> dict[str, str]:
    """The name of each member of staff among these actor labels (staff:12 → his name); other
    labels (cli, integration:NAME) are left out: show them as they are."""
    by_id = {staff_id: label for label in labels if label and (staff_id := _staff_id(label))}
    if not by_id:
        return {}
    found = session.execute(select(Staff.id, Staff.name).where(Staff.id.in_(by_id))).all()
    return {by_id[staff_id]: name for staff_id, name in found}


def _field_order(item: tuple[str, Any]) -> int:
    order = list(FIELD_NAMES)
    return order.index(item[0]) if item[0] in order else len(order)


def _staff_id(actor: str) -> int | None:
    kind, _, number = actor.partition(":")
    return int(number) if kind == "staff" and number.isdigit() else None


def _in_words(field: str, pair: list[Any], names: dict[int, str]) -> tuple[str, str]:
    before, after = [*pair, None, None][:2]
    return _value(field, before, names), _value(field, after, names)


def _value(field: str, value: Any, names: dict[int, str]) -> str:
    if value is None or value == []:
        return "none"
    if field == "responsible_officer_id" and isinstance(value, int):
        return names.get(value, f"staff member {value}")
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value).replace("_", " ")
