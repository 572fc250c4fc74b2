"""A participant's crisis plan in the console: the current plan in its sections with its earlier
versions (who changed what, when and why), and the form that writes a new version.

Each view opens the plan through the access log first (`open_participant_record`): outside the
person's grant it answers 404 as the participant pages do, outside their own it asks for a
reason (break-glass). The form's input is checked by `crisis_plans.load`, as the API's is.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any, Final

from flask import flash, redirect, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from crisisline import caseloads, crisis_plans, participant_story
from crisisline.console.common import blueprint, open_participant_record, person
from crisisline.crisis_plan_models import CrisisPlan
from crisisline.errors import Conflict
from crisisline.gate import requires
from crisisline.permissions import Permission
from crisisline.record_access import Action
from crisisline.services import services

# Rows for people to contact on the form: those in the plan and this many blank ones.
BLANK_CONTACT_ROWS: Final = 2
_CONTACT_FIELD = re.compile(r"^contacts\[(\d+)\]\.(name|relationship|phone)$")


def _today() -> dt.date:
    svc = services()
    return svc.clock.now().astimezone(svc.settings.zone).date()


@blueprint.get("/participants/<int:participant_id>/crisis-plan")
@requires(Permission.CRISIS_PLANS_READ)
def crisis_plan(participant_id: int) -> ResponseReturnValue:
    """His current plan in its sections, whether it is past its review date, and every
    earlier version with who wrote it, when, why and what it changed."""
    svc = services()
    with svc.db.transaction() as session:
        record = participant_story.participant(session, participant_id)
        open_participant_record(
            session,
            Permission.CRISIS_PLANS_READ,
            participant_id=participant_id,
            record_type=crisis_plans.RECORD_TYPE,
            record_id=participant_id,
        )
        rows = crisis_plans.versions(session, participant_id)
        today = _today()
        page = render_template(
            "crisis_plan_page.html",
            participant=record,
            current=rows[0] if rows else None,
            earlier=_history(rows),
            names=crisis_plans.author_names(session, rows),
            past_review=bool(rows) and crisis_plans.is_past_review(rows[0], today),
            sections=crisis_plans.SECTIONS,
            may_write=_may_write(session, participant_id),
        )
    return page


@blueprint.route("/participants/<int:participant_id>/crisis-plan/edit", methods=["GET", "POST"])
@requires(Permission.CRISIS_PLANS_WRITE)
def crisis_plan_edit(participant_id: int) -> ResponseReturnValue:
    """The form for a new version, filled in from the current one; saving it adds the version."""
    svc = services()
    posting = request.method == "POST"
    errors: dict[str, str] = {}
    status = 200
    values: dict[str, Any] | None = None
    with svc.db.transaction() as session:
        record = participant_story.participant(session, participant_id)
        open_participant_record(
            session,
            Permission.CRISIS_PLANS_WRITE,
            participant_id=participant_id,
            record_type=crisis_plans.RECORD_TYPE,
            record_id=participant_id,
            action=Action.CHANGE if posting else Action.READ,
        )
        latest = crisis_plans.current(session, participant_id)
        if posting:
            raw = _form_input(request.form)
            values = _values_from_form(raw)
            try:
                loaded = crisis_plans.load(raw, svc.settings.default_region)
                crisis_plans.write(
                    session,
                    participant_id,
                    loaded,
                    author=person().label,
                    author_staff_id=person().staff_id,
                    now=svc.clock.now(),
                    today=_today(),
                )
            except crisis_plans.PlanInvalid as invalid:
                errors, status = invalid.errors, 422
            except Conflict as clash:
                errors, status = {"based_on": clash.message}, 409
            else:
                flash("The crisis plan is saved as a new version.")
                return redirect(f"/participants/{participant_id}/crisis-plan", code=303)
        if values is None:
            values = _values_from_plan(latest)
        page = render_template(
            "crisis_plan_form.html",
            participant=record,
            latest=latest,
            values=values,
            errors={_field_id(name): message for name, message in errors.items()},
            sections=crisis_plans.SECTIONS,
            section_max=crisis_plans.SECTION_MAX,
            label=_label,
        )
    return page, status


def _may_write(session: Session, participant_id: int) -> bool:
    actor = person()
    if not actor.may(Permission.CRISIS_PLANS_WRITE):
        return False
    reached = caseloads.access(
        session, actor, Permission.CRISIS_PLANS_WRITE, participant_id, services().clock.now()
    )
    return reached is not caseloads.Access.REFUSED


def _history(rows: list[CrisisPlan]) -> list[tuple[CrisisPlan, list[str]]]:
    """Each version with what it changed from the one before, newest first."""
    return [
        (row, crisis_plans.changed(older, row))
        for row, older in zip(rows, [*rows[1:], None], strict=False)
    ]


_LABELS: Final = {
    **dict(crisis_plans.SECTIONS),
    "agreed_on": "Agreed with him on",
    "review_on": "To be reviewed by",
    "change_reason": "Why are you changing the plan?",
    "based_on": "Version",
    "contacts": "People and services",
}
_PARTS: Final = {"name": "name", "relationship": "who they are to him", "phone": "phone"}


def _label(field_id: str) -> str:
    """What the error summary calls a field: its label ("Contact 2, phone")."""
    found = re.match(r"^contacts-(\d+)-(\w+)$", field_id)
    if found:
        return f"Contact {int(found.group(1)) + 1}, {_PARTS.get(found.group(2), found.group(2))}"
    return _LABELS.get(field_id, field_id)


def _field_id(name: str) -> str:
    """A field's name in the errors ("contacts[1].phone") as its form id ("contacts-1-phone")."""
    found = _CONTACT_FIELD.match(name)
    return f"contacts-{found.group(1)}-{found.group(2)}" if found else name


def _form_input(form: Mapping[str, str]) -> dict[str, Any]:
    """The form as the plan's schema reads it: each filled contact row as one contact."""
    raw: dict[str, Any] = {
        name: form.get(name, "")
        for name in (*crisis_plans.SECTION_NAMES, "change_reason", "agreed_on", "review_on")
    }
    based_on = form.get("based_on", "")
    raw["based_on"] = based_on if based_on.strip() else None
    rows: list[dict[str, str]] = []
    index = 0
    while f"contacts-{index}-phone" in form or f"contacts-{index}-name" in form:
        row = {
            part: form.get(f"contacts-{index}-{part}", "").strip()
            for part in ("name", "relationship", "phone")
        }
        if any(row.values()):  # a blank row is no contact
            rows.append(row)
        index += 1
        if index > crisis_plans.CONTACTS_MAX + BLANK_CONTACT_ROWS:
            break
    raw["contacts"] = rows
    return {key: value for key, value in raw.items() if value is not None}


def _values_from_form(raw: Mapping[str, Any]) -> dict[str, Any]:
    values = {key: value for key, value in raw.items() if key != "contacts"}
    values["contacts"] = list(raw.get("contacts", [])) + _blank_rows()
    values.setdefault("based_on", "")
    return values


def _values_from_plan(plan: CrisisPlan | None) -> dict[str, Any]:
    if plan is None:
        return {
            **dict.fromkeys(crisis_plans.SECTION_NAMES, ""),
            "change_reason": "",
            "agreed_on": "",
            "review_on": "",
            "based_on": 0,
            "contacts": _blank_rows(),
        }
    return {
        **{name: getattr(plan, name) or "" for name in crisis_plans.SECTION_NAMES},
        "change_reason": "",
        "agreed_on": plan.agreed_on.isoformat(),
        "review_on": plan.review_on.isoformat(),
        "based_on": plan.version,
        "contacts": [dict(c) for c in plan.contacts] + _blank_rows(),
    }


def _blank_rows() -> list[dict[str, str]]:
    return [{"name": "", "relationship": "", "phone": ""} for _ in range(BLANK_CONTACT_ROWS)]
