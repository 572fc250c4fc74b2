"""Participants' crisis plans: versions written by his officer or the clinical lead, the current
one, and the plans due for review or missing (see docs/crisis-plans.md).

A plan is never changed in place. Each change is a new version, numbered from 1, carrying who
wrote it, when, and (from version 2) why; the current plan is the highest version. A writer
says which version his change follows (`based_on`, 0 for the first): if someone else saved a
version meanwhile, his is refused as a clash (409) rather than silently replacing theirs.

What people send is loaded by `PlanSchema` (the console's form and the API alike), so both
refuse the same input with the same words, naming the field (`contacts[1].phone`); the checks
that need the day or the stored plan (agreed not in the future, a reason from version 2, the
clash) are `write`'s.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    pre_load,
    validate,
    validates_schema,
)
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crisisline.crisis_plan_models import CrisisPlan
from crisisline.errors import Conflict, InvalidInput
from crisisline.models import Participant, ParticipantStatus, Staff
from crisisline.record_schemas import PhoneNumber, RecordSchema

# Each section is short: it is read on a phone at 3 a.m.
SECTION_MAX: Final = 2000
REASON_MAX: Final = 500
CONTACTS_MAX: Final = 20
RECORD_TYPE: Final = "crisis_plan"

# The plan's sections in the order they are shown, with their headings.
SECTIONS: Final[tuple[tuple[str, str], ...]] = (
    ("warning_signs", "What a crisis looks like for him (warning signs)"),
    ("triggers", "What tends to set it off"),
    ("what_helps", "What helps"),
    ("what_does_not_help", "What does not help"),
    ("risk_to_self", "Risk to himself"),
    ("risk_to_others", "Risk to others"),
    ("if_risk_rises", "What to do if the risk rises"),
    ("practical_notes", "Practical notes (approved premises, curfew, licence conditions)"),
)
SECTION_NAMES: Final = tuple(name for name, _ in SECTIONS)
# Every field a change can touch, as people name it in "who changed what".
FIELD_WORDS: Final[dict[str, str]] = {
    "warning_signs": "warning signs",
    "triggers": "what sets it off",
    "what_helps": "what helps",
    "what_does_not_help": "what does not help",
    "risk_to_self": "risk to himself",
    "risk_to_others": "risk to others",
    "if_risk_rises": "if the risk rises",
    "practical_notes": "practical notes",
    "contacts": "people to contact",
    "agreed_on": "date agreed",
    "review_on": "review date",
}


class PlanInvalid(InvalidInput):
    """A plan refused: every problem by the field it is about (`field` names the first)."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        first = next(iter(errors))
        words = "; ".join(f"{name}: {problem}" for name, problem in errors.items())
        super().__init__(f"The plan cannot be saved: {words}", first)
        self.errors = dict(errors)


def field_path(messages: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(field, problem) pairs from marshmallow's messages, a list item named `contacts[1]`."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            if isinstance(key, int):
                path = f"{prefix}[{key}]"
            elif key == "_schema":
                path = prefix or "plan"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            yield from field_path(value, path)
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        yield prefix or "plan", " ".join(messages)
    elif isinstance(messages, list):
        for value in messages:
            yield from field_path(value, prefix)
    else:
        yield prefix or "plan", str(messages)


class _Flattening(RecordSchema):
    """A schema whose errors name fields as people read them: `contacts[1].phone`."""

    def handle_error(self, error: ValidationError, data: Any, **kwargs: Any) -> None:
        """Raise the error again with its messages keyed by flat field paths."""
        raise ValidationError(dict(field_path(error.messages)))


class PlanContactSchema(RecordSchema):
    """One person or service he agrees may be contacted."""

    class Meta:
        unknown = EXCLUDE

    name = fields.String(
        required=True,
        validate=validate.Length(
            min=1, max=200, error="Give the name of the person or service (up to 200 characters)."
        ),
        error_messages={"required": "Give the name of the person or service."},
    )
    relationship = fields.String(
        load_default="",
        validate=validate.Length(max=100),
        metadata={"description": "Who they are to him: brother, GP, approved premises."},
    )
    phone = PhoneNumber(
        required=True,
        metadata={"description": "Any common form; stored and returned as E.164."},
        error_messages={"required": "Give a number to reach them on."},
    )
    # Set by the plan schema that holds this one: numbers are read in its region.
    owner: RecordSchema | None = None

    @property
    def region(self) -> str:
        """The region of the plan schema holding this one."""
        return self.owner.region if self.owner is not None else super().region

    @pre_load
    def _trim(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, dict):
            return {k: v.strip() if isinstance(v, str) else v for k, v in data.items()}
        return data


def _section(description: str, *, required: bool = False) -> fields.String:
    length = validate.Length(
        min=1 if required else 0,
        max=SECTION_MAX,
        error=f"Keep this section to {SECTION_MAX} characters or fewer.",
    )
    if required:
        missing = "Write the warning signs: what a crisis looks like for him."
        return fields.String(
            required=True,
            validate=length,
            error_messages={"required": missing, "null": missing},
            metadata={"description": description},
        )
    return fields.String(
        load_default=None,
        allow_none=True,
        validate=length,
        metadata={"description": description},
    )


class PlanSchema(_Flattening):
    """A new version of a participant's crisis plan, as a writer sends it."""

    class Meta:
        unknown = EXCLUDE

    based_on = fields.Integer(
        required=True,
        load_only=True,
        validate=validate.Range(min=0, max=2**31 - 1),
        metadata={
            "description": "The version this one follows (the current version, 0 if he has no "
            "plan yet). If another version was saved meanwhile, the answer is 409."
        },
        error_messages={"required": "Say which version this one follows (0 for the first)."},
    )
    change_reason = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=REASON_MAX),
        metadata={"description": "Why this version was written: required from version 2."},
    )
    warning_signs = _section("What a crisis looks like for him.", required=True)
    triggers = _section("What tends to set a crisis off.")
    what_helps = _section("What helps, in his words where possible.")
    what_does_not_help = _section("What does not help.")
    risk_to_self = _section("Risk to himself.")
    risk_to_others = _section("Risk to others.")
    if_risk_rises = _section("What to do if the risk rises (e.g. call 999, tell the duty manager).")
    practical_notes = _section(
        "Approved premises, curfew, licence conditions that matter at night."
    )
    contacts = fields.List(
        fields.Nested(PlanContactSchema),
        load_default=list,
        validate=validate.Length(max=CONTACTS_MAX),
        metadata={"description": "People and services he agrees may be contacted."},
    )
    agreed_on = fields.Date(
        required=True,
        metadata={"description": "The day the plan was agreed with him (not in the future)."},
        error_messages={"required": "Give the day the plan was agreed with him."},
    )
    review_on = fields.Date(
        required=True,
        metadata={"description": "The day it is to be reviewed by (after the day agreed)."},
        error_messages={"required": "Give the day the plan is to be reviewed by."},
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        inner = self.fields["contacts"]
        assert isinstance(inner, fields.List) and isinstance(inner.inner, fields.Nested)
        nested = inner.inner.schema
        assert isinstance(nested, PlanContactSchema)
        nested.owner = self

    @pre_load
    def _blank_is_none(self, data: Any, **kwargs: Any) -> Any:
        # A form sends an empty box as ""; an empty section is no section.
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name in (*SECTION_NAMES, "change_reason"):
            value = out.get(name)
            if isinstance(value, str):
                out[name] = value.strip() or None
        return out

    @validates_schema
    def _review_after_agreed(self, data: dict[str, Any], **kwargs: Any) -> None:
        agreed, review = data.get("agreed_on"), data.get("review_on")
        if agreed is not None and review is not None and review <= agreed:
            raise ValidationError(
                "The review date must be after the day it was agreed.", "review_on"
            )


class PlanContactOutSchema(Schema):
    """One person or service, as stored."""

    name = fields.String()
    relationship = fields.String()
    phone = fields.String(metadata={"description": "E.164."})


def load(raw: Mapping[str, Any], region: str = "GB") -> dict[str, Any]:
    """What a writer sent, loaded (PlanInvalid naming every field at fault)."""
    try:
        loaded: dict[str, Any] = PlanSchema(region=region).load(dict(raw))
    except ValidationError as error:
        raise PlanInvalid(dict(field_path(error.messages))) from None
    return loaded


def current(session: Session, participant_id: int) -> CrisisPlan | None:
    """The participant's current plan (its highest version), or None if he has none."""
    return session.scalars(
        select(CrisisPlan)
        .where(CrisisPlan.participant_id == participant_id)
        .order_by(CrisisPlan.version.desc())
        .limit(1)
    ).first()


def versions(session: Session, participant_id: int) -> list[CrisisPlan]:
    """Every version of his plan, newest (the current one) first."""
    return list(
        session.scalars(
            select(CrisisPlan)
            .where(CrisisPlan.participant_id == participant_id)
            .order_by(CrisisPlan.version.desc())
        )
    )


def write(
    session: Session,
    participant_id: int,
    plan: Mapping[str, Any],
    *,
    author: str,
    author_staff_id: int | None,
    now: dt.datetime,
    today: dt.date,
) -> CrisisPlan:
    """Save `plan` (as `load` answers it) as the participant's next version.

    Raises PlanInvalid naming the field (agreed in the future, no reason from version 2) and
    Conflict (field `based_on`) when it does not follow the current version.
    """
    latest = current(session, participant_id)
    number = latest.version if latest is not None else 0
    if plan["based_on"] != number:
        raise Conflict(
            f"Someone saved version {number} of this plan while you were writing yours (which "
            f"followed version {plan['based_on']}): read the current plan, then write yours "
            "again on it.",
            "based_on",
        )
    problems: dict[str, str] = {}
    if plan["agreed_on"] > today:
        problems["agreed_on"] = "The day it was agreed cannot be in the future."
    reason = plan.get("change_reason")
    if latest is not None and not reason:
        problems["change_reason"] = "Say why the plan is changed (who changed what is kept)."
    if problems:
        raise PlanInvalid(problems)
    row = CrisisPlan(
        participant_id=participant_id,
        version=number + 1,
        written_at=now,
        author=author,
        author_staff_id=author_staff_id,
        change_reason=reason,
        contacts=[
            {"name": c["name"], "relationship": c.get("relationship", ""), "phone": c["phone"]}
            for c in plan.get("contacts", [])
        ],
        agreed_on=plan["agreed_on"],
        review_on=plan["review_on"],
        **{name: plan.get(name) for name in SECTION_NAMES},
    )
    # Two writers at once both following the same version: the unique (participant, version)
    # lets one in; the other is the same clash as above, and nothing is lost.
    savepoint = session.begin_nested()
    try:
        session.add(row)
        session.flush()
    except IntegrityError:
        savepoint.rollback()
        raise Conflict(
            "Someone saved a version of this plan at the same moment: read the current plan, "
            "then write yours again on it.",
            "based_on",
        ) from None
    savepoint.commit()
    return row


def changed(older: CrisisPlan | None, newer: CrisisPlan) -> list[str]:
    """What a version changed from the one before, in words ("warning signs", "review date")."""
    if older is None:
        return ["first version"]
    return [
        words for name, words in FIELD_WORDS.items() if getattr(older, name) != getattr(newer, name)
    ]


def is_past_review(plan: CrisisPlan, today: dt.date) -> bool:
    """Whether the plan's review date has gone by (the day itself is not yet past)."""
    return plan.review_on < today


def author_names(session: Session, plans: Sequence[CrisisPlan]) -> dict[int, str]:
    """The names of the staff who wrote `plans`, by staff id."""
    ids = {p.author_staff_id for p in plans if p.author_staff_id is not None}
    if not ids:
        return {}
    rows = session.execute(select(Staff.id, Staff.name).where(Staff.id.in_(ids))).all()
    return {int(staff_id): str(name) for staff_id, name in rows}


# ---- reviews and missing plans --------------------------------------------------------------


@dataclass(frozen=True)
class PlanFlag:
    """An active participant whose plan is past its review date, or who has no plan."""

    participant_id: int
    reference: str
    name: str
    officer_id: int | None
    version: int | None  # None: no plan
    review_on: dt.date | None


def _current_versions() -> Any:
    return (
        select(CrisisPlan.participant_id, func.max(CrisisPlan.version).label("version"))
        .group_by(CrisisPlan.participant_id)
        .subquery()
    )


def due_for_review(
    session: Session, today: dt.date, officer_id: int | None = None
) -> list[PlanFlag]:
    """Active participants whose current plan's review date has gone by (oldest first), of
    one officer's caseload if `officer_id` is given."""
    latest = _current_versions()
    query = (
        select(Participant, CrisisPlan)
        .join(latest, latest.c.participant_id == Participant.id)
        .join(
            CrisisPlan,
            (CrisisPlan.participant_id == latest.c.participant_id)
            & (CrisisPlan.version == latest.c.version),
        )
        .where(Participant.status == ParticipantStatus.ACTIVE, CrisisPlan.review_on < today)
        .order_by(CrisisPlan.review_on, Participant.reference)
    )
    if officer_id is not None:
        query = query.where(Participant.responsible_officer_id == officer_id)
    return [
        PlanFlag(p.id, p.reference, p.name, p.responsible_officer_id, plan.version, plan.review_on)
        for p, plan in session.execute(query).all()
    ]


def without_plan(session: Session, officer_id: int | None = None) -> list[PlanFlag]:
    """Active participants with no crisis plan at all (by reference), of one officer's
    caseload if `officer_id` is given."""
    query = (
        select(Participant)
        .where(
            Participant.status == ParticipantStatus.ACTIVE,
            ~select(CrisisPlan.id).where(CrisisPlan.participant_id == Participant.id).exists(),
        )
        .order_by(Participant.reference)
    )
    if officer_id is not None:
        query = query.where(Participant.responsible_officer_id == officer_id)
    return [
        PlanFlag(p.id, p.reference, p.name, p.responsible_officer_id, None, None)
        for p in session.scalars(query)
    ]
