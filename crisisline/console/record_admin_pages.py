"""Keeping the records: staff and participants created, changed and deactivated, CSV imports
with a preview, and the escalation policies in words.

Every form is checked as the API checks its body (crisisline.record_schemas, then the records
modules' own refusals) and a refusal is shown beside the field it names, the form kept filled
(422). Staff changes go through crisisline.staffing, as the API's do, so the rota notices and
the ending of a leaver's sessions follow. A CSV import is previewed first (the import run and
rolled back: nothing written); the preview carries the file to the confirm step signed and
time-limited, and the confirm step runs the whole import again, so it writes exactly what was
previewed or, if something changed meanwhile, nothing.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from flask import current_app, flash, redirect, render_template, request
from flask.typing import ResponseReturnValue
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from marshmallow import ValidationError
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage

from crisisline import (
    imports,
    participant_corrections,
    participants,
    policy_words,
    record_access,
    staff,
    staffing,
)
from crisisline.console.common import blueprint, menu_item, open_participant_record, person, visit
from crisisline.errors import DomainError, InvalidInput
from crisisline.gate import requires
from crisisline.models import Participant, ParticipantStatus, RiskLevel, Staff, StaffRole
from crisisline.permissions import Permission
from crisisline.phones import refuse_the_line
from crisisline.record_access import Action
from crisisline.record_schemas import (
    ParticipantSchema,
    ParticipantUpdateSchema,
    StaffSchema,
    StaffUpdateSchema,
)
from crisisline.services import services

menu_item("Add participants", "console.participant_new", Permission.PARTICIPANTS_WRITE, order=25)
menu_item("Policies", "console.policies", Permission.POLICIES_READ, order=70)
menu_item("Staff", "console.staff_list", Permission.STAFF_READ, order=80)

STAFF_PAGE_SIZE: Final = 50
# The largest CSV file taken; MAX_ROWS (crisisline.imports) rows of either kind fit in it.
MAX_IMPORT_BYTES: Final = 1_000_000
# A request to an import page larger than this is refused before it is read (413): the file,
# the carried preview and the form around them.
MAX_IMPORT_REQUEST_BYTES: Final = 3_000_000
# How long a preview may wait for its confirmation.
PREVIEW_LIFETIME_SECONDS: Final = 30 * 60
# Werkzeug reads at most 500 kB of a form's plain fields (MAX_FORM_MEMORY_SIZE): the carried
# preview (compressed by itsdangerous) must stay below it.
MAX_CARRIED_CHARACTERS: Final = 450_000
ROLE_ORDER: Final = (
    StaffRole.ON_CALL,
    StaffRole.DUTY_MANAGER,
    StaffRole.RESPONSIBLE_OFFICER,
    StaffRole.CLINICAL_LEAD,
    StaffRole.ADMIN,
)
RISK_NAMES: Final = {
    RiskLevel.LOW: "Low",
    RiskLevel.MEDIUM: "Medium",
    RiskLevel.HIGH: "High",
    RiskLevel.VERY_HIGH: "Very high",
}

ImportKind = Literal["staff", "participants"]
_IMPORT_ENDPOINTS: Final = ("console.staff_import", "console.participant_import")


@blueprint.before_request
def _limit_import_size() -> None:
    # Registered before the CSRF check reads the form (crisisline.console imports this module
    # before views), so a huge upload is refused before it is parsed.
    if request.endpoint in _IMPORT_ENDPOINTS:
        request.max_content_length = MAX_IMPORT_REQUEST_BYTES


# ---------------------------------------------------------------------------------------------
# Staff


@blueprint.get("/staff")
@requires(Permission.STAFF_READ)
def staff_list() -> ResponseReturnValue:
    """Every member of staff by name: roles, phone, email, whether active."""
    page = _page_number()
    with services().db.transaction() as session:
        rows, total = staff.list_staff(
            session, offset=(page - 1) * STAFF_PAGE_SIZE, limit=STAFF_PAGE_SIZE
        )
        people = [_staff_row(row) for row in rows]
    pages = max(1, -(-total // STAFF_PAGE_SIZE))
    return render_template(
        "staff_list.html",
        people=people,
        total=total,
        page=page,
        pages=pages,
        may_write=person().may(Permission.STAFF_WRITE),
    )


@blueprint.route("/staff/new", methods=["GET", "POST"])
@requires(Permission.STAFF_WRITE)
def staff_new() -> ResponseReturnValue:
    """Add a member of staff."""
    if request.method == "GET":
        return _staff_form(None, _blank_staff(), {})
    form = _staff_form_values()
    svc = services()
    errors: dict[str, str] = {}
    try:
        data = _load(StaffSchema(region=svc.settings.default_region), _staff_input(form))
        refuse_the_line([data["phone"]], svc.settings.crisis_line_number, "phone")
        with svc.db.transaction() as session:
            created = staff.create(
                session, staff.NewStaff(**data), actor=person().label, now=svc.clock.now()
            )
            name = created.name
    except FormProblems as problems:
        errors = problems.errors
    except DomainError as error:
        errors = _beside_field(error)
    if errors:
        return _staff_form(None, form, errors), 422
    flash(f"{name} is added. Invite them from Staff accounts to give them a sign-in.")
    return redirect("/staff", code=303)


@blueprint.route("/staff/<int:staff_id>/edit", methods=["GET", "POST"])
@requires(Permission.STAFF_WRITE)
def staff_edit(staff_id: int) -> ResponseReturnValue:
    """Change a member of staff's name, phone, email or roles."""
    svc = services()
    if request.method == "GET":
        with svc.db.transaction() as session:
            found = staff.get(session, staff_id)
            return _staff_form(found, _staff_values(found), {})
    form = _staff_form_values()
    errors: dict[str, str] = {}
    try:
        changes = _load(
            StaffUpdateSchema(region=svc.settings.default_region),
            _staff_input(form),
            _blanks(form, ("name", "phone")),
        )
        refuse_the_line([changes.get("phone")], svc.settings.crisis_line_number, "phone")
        with svc.db.transaction() as session:
            changed = staffing.update_staff(
                session,
                staff_id,
                changes,
                actor=person().label,
                now=svc.clock.now(),
                line_number=svc.settings.crisis_line_number,
            )
            name = changed.name
    except FormProblems as problems:
        errors = problems.errors
    except InvalidInput as error:
        errors = _beside_field(error)
    except DomainError as error:
        if error.field is None:
            raise  # no such member of staff: the problem page says so
        errors = _beside_field(error)
    if errors:
        with svc.db.transaction() as session:
            found = staff.get(session, staff_id)
            return _staff_form(found, form, errors), 422
    flash(f"{name}'s details are saved.")
    return redirect("/staff", code=303)


@blueprint.post("/staff/<int:staff_id>/deactivate")
@requires(Permission.STAFF_WRITE)
def staff_deactivate(staff_id: int) -> ResponseReturnValue:
    """Ask to confirm, showing what it changes; once confirmed, make the person inactive."""
    svc = services()
    now = svc.clock.now()
    if staff_id == person().staff_id:
        raise InvalidInput(
            "You cannot deactivate yourself: you would be signed out mid-task. Ask another "
            "administrator.",
            "staff_id",
        )
    if request.form.get("confirm") != "yes":
        with svc.db.transaction() as session:
            found = staff.get(session, staff_id)
            consequences = staffing.deactivation_consequences(session, staff_id, now=now)
            return render_template(
                "staff_deactivate.html",
                person_row=_staff_row(found),
                consequences=consequences,
            )
    with svc.db.transaction() as session:
        gone = staffing.deactivate_staff(session, staff_id, actor=person().label, now=now)
        name = gone.name
    flash(
        f"{name} is no longer active: off every rota from now, reply codes stopped, signed out "
        "everywhere. The duty managers are texted about any gap this opens."
    )
    return redirect("/staff", code=303)


# ---------------------------------------------------------------------------------------------
# Participants


@blueprint.route("/participants/new", methods=["GET", "POST"])
@requires(Permission.PARTICIPANTS_WRITE)
def participant_new() -> ResponseReturnValue:
    """Add a participant."""
    svc = services()
    if request.method == "GET":
        with svc.db.transaction() as session:
            return _participant_form(session, None, _blank_participant(), {})
    form = _participant_form_values()
    errors: dict[str, str] = {}
    try:
        data = _load(
            ParticipantSchema(region=svc.settings.default_region), _participant_input(form)
        )
        refuse_the_line(data["phones"], svc.settings.crisis_line_number, "phones")
        with svc.db.transaction() as session:
            created = participants.create(
                session,
                participants.NewParticipant(**data),
                actor=person().label,
                now=svc.clock.now(),
            )
            _log_created(session, created.id)
            participant_id = created.id
            reference = created.reference
    except FormProblems as problems:
        errors = problems.errors
    except DomainError as error:
        errors = _beside_field(error)
    if errors:
        with svc.db.transaction() as session:
            return _participant_form(session, None, form, errors), 422
    flash(f"Participant {reference} is added.")
    return redirect(f"/participants/{participant_id}", code=303)


@blueprint.route("/participants/<int:participant_id>/edit", methods=["GET", "POST"])
@requires(Permission.PARTICIPANTS_WRITE)
def participant_edit(participant_id: int) -> ResponseReturnValue:
    """Change a participant's reference, name, phones, officer, risk level or status."""
    svc = services()
    if request.method == "GET":
        with svc.db.transaction() as session:
            found = participants.get(session, participant_id)
            _open(session, participant_id, Action.READ)
            return _participant_form(session, found, _participant_values(found), {})
    form = _participant_form_values()
    errors: dict[str, str] = {}
    try:
        # Every change of his details says why: the correction keeps it with what they were.
        reason_problem: dict[str, str] = {}
        try:
            reason = participant_corrections.checked_reason(form["reason"])
        except InvalidInput as problem:
            reason_problem = _beside_field(problem)
        changes = _load(
            ParticipantUpdateSchema(region=svc.settings.default_region),
            _participant_input(form, edit=True),
            _blanks(form, ("reference", "name", "phones", "risk_level")),
            also=reason_problem,
        )
        refuse_the_line(changes.get("phones", []), svc.settings.crisis_line_number, "phones")
        with svc.db.transaction() as session:
            participants.get(session, participant_id)
            _open(session, participant_id, Action.CHANGE)
            changed = participants.update(
                session,
                participant_id,
                changes,
                actor=person().label,
                now=svc.clock.now(),
                zone=svc.settings.zone,
                reason=reason,
            )
            reference = changed.reference
    except FormProblems as problems:
        errors = problems.errors
    except DomainError as error:
        if error.field is None:
            raise
        errors = _beside_field(error)
    if errors:
        with svc.db.transaction() as session:
            found = participants.get(session, participant_id)
            _open(session, participant_id, Action.READ)
            return _participant_form(session, found, form, errors), 422
    flash(f"Participant {reference}'s details are saved.")
    return redirect(f"/participants/{participant_id}", code=303)


@blueprint.post("/participants/<int:participant_id>/deactivate")
@requires(Permission.PARTICIPANTS_WRITE)
def participant_deactivate(participant_id: int) -> ResponseReturnValue:
    """Ask to confirm; once confirmed, close the participant (the record and contacts kept)."""
    svc = services()
    confirmed = request.form.get("confirm") == "yes"
    today = svc.clock.now().astimezone(svc.settings.zone).date()
    given = request.form.get("ended_service_on", "").strip()[:20]
    error = ""
    try:
        with svc.db.transaction() as session:
            found = participants.get(session, participant_id)
            _open(session, participant_id, Action.CHANGE if confirmed else Action.READ)
            if not confirmed:
                return render_template(
                    "participant_form_close.html",
                    participant=found,
                    ended=today.isoformat(),
                    error="",
                )
            closed = participants.close(
                session,
                participant_id,
                actor=person().label,
                now=svc.clock.now(),
                zone=svc.settings.zone,
                ended_on=_day(given, "ended_service_on") if given else None,
            )
            reference = closed.reference
    except InvalidInput as problem:
        if problem.field != "ended_service_on":
            raise
        error = problem.message
    if error:
        with svc.db.transaction() as session:
            found = participants.get(session, participant_id)
            _open(session, participant_id, Action.READ)
            return render_template(
                "participant_form_close.html", participant=found, ended=given, error=error
            ), 422
    flash(f"Participant {reference} is closed. Their record and contacts are kept.")
    return redirect(f"/participants/{participant_id}", code=303)


# ---------------------------------------------------------------------------------------------
# CSV imports


@blueprint.route("/staff/import", methods=["GET", "POST"])
@requires(Permission.STAFF_WRITE)
def staff_import() -> ResponseReturnValue:
    """Upload a CSV of staff: a preview first, then the import once confirmed."""
    return _import_page("staff")


@blueprint.route("/participants/import", methods=["GET", "POST"])
@requires(Permission.PARTICIPANTS_WRITE)
def participant_import() -> ResponseReturnValue:
    """Upload a CSV of participants: a preview first, then the import once confirmed."""
    return _import_page("participants")


@dataclass(frozen=True)
class ImportForm:
    """What an import page shows of its kind."""

    kind: ImportKind
    title: str
    columns: tuple[str, ...]
    endpoint: str
    importer: imports.Importer
    example: str


_IMPORTS: Final[Mapping[ImportKind, ImportForm]] = {
    "staff": ImportForm(
        "staff",
        "Import staff",
        imports.STAFF_COLUMNS,
        "console.staff_import",
        imports.import_staff,
        "name,phone,email,roles,active\n"
        "Ann Example,07700 900123,ann@example.org,on_call;duty_manager,yes",
    ),
    "participants": ImportForm(
        "participants",
        "Import participants",
        imports.PARTICIPANT_COLUMNS,
        "console.participant_import",
        imports.import_participants,
        "reference,name,phones,responsible_officer_email,risk_level,status\n"
        "R1001,John Sample,07700 900456;07700 900457,officer@example.org,medium,active",
    ),
}


def _import_page(kind: ImportKind) -> ResponseReturnValue:
    form = _IMPORTS[kind]
    if request.method == "GET":
        return render_template("import_upload.html", form=form, error=None)
    if request.form.get("step") == "confirm":
        return _confirm_import(form)
    upload = request.files.get("file")
    try:
        text = _read_upload(upload)
    except InvalidInput as error:
        return render_template("import_upload.html", form=form, error=error.message), 422
    svc = services()
    with svc.db.transaction() as session:
        report = imports.preview(
            form.importer,
            session,
            io.StringIO(text, newline=""),
            actor=person().label,
            now=svc.clock.now(),
            line_number=svc.settings.crisis_line_number,
            region=svc.settings.default_region,
        )
    carried = _carry(kind, text) if not report.errors else None
    if not report.errors and carried is None:
        message = (
            "This file is too large to carry to the confirm step. Split it into smaller files "
            "and import each."
        )
        return render_template("import_upload.html", form=form, error=message), 422
    return render_template(
        "import_preview.html",
        form=form,
        report=report,
        carried=carried,
        filename=upload.filename if upload is not None else "",
    ), (422 if report.errors else 200)


def _confirm_import(form: ImportForm) -> ResponseReturnValue:
    try:
        text = _carried(form.kind, request.form.get("carried", ""))
    except InvalidInput as error:
        return render_template("import_upload.html", form=form, error=error.message), 422
    svc = services()
    try:
        with svc.db.transaction() as session:
            report = form.importer(
                session,
                io.StringIO(text, newline=""),
                actor=person().label,
                now=svc.clock.now(),
                line_number=svc.settings.crisis_line_number,
                region=svc.settings.default_region,
            )
            if form.kind == "participants":
                for row in report.rows:
                    _log_created(session, row.record_id)
    except imports.ImportRejected as rejected:
        # Something changed since the preview (a number taken meanwhile): nothing is written.
        changed = imports.ImportReport(errors=rejected.errors, rows=rejected.rows)
        return render_template(
            "import_preview.html",
            form=form,
            report=changed,
            carried=None,
            filename="",
            changed_since=True,
        ), 422
    flash(f"Imported {report.imported} {form.kind}.")
    return redirect("/staff" if form.kind == "staff" else "/participants/import", code=303)


def _read_upload(upload: FileStorage | None) -> str:
    if upload is None or not upload.filename:
        raise InvalidInput("Choose a CSV file to import.", "file")
    if not upload.filename.lower().endswith(".csv"):
        raise InvalidInput(
            f"{upload.filename} is not a CSV file. Save the sheet as CSV (a .csv file) and "
            "choose that.",
            "file",
        )
    data = upload.stream.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise InvalidInput(
            f"The file is larger than {MAX_IMPORT_BYTES // 1_000_000} MB. Split it into "
            "smaller files and import each.",
            "file",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(
            "The file is not UTF-8 text. In your spreadsheet, save it as “CSV UTF-8” and "
            "choose that.",
            "file",
        ) from None
    if "\x00" in text:
        raise InvalidInput("The file holds binary data, not CSV text.", "file")
    if not text.strip():
        raise InvalidInput("The file is empty.", "file")
    return text


class _ServiceClockSigner(TimestampSigner):
    """itsdangerous's timestamped signer, telling the time by the service's clock."""

    def get_timestamp(self) -> int:
        """Now, in whole seconds since the epoch."""
        return int(services().clock.now().timestamp())


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        current_app.secret_key or "", salt="console-csv-import", signer=_ServiceClockSigner
    )


def _carry(kind: ImportKind, text: str) -> str | None:
    """The previewed file, signed for this person and kind (None if too large to carry)."""
    carried = _serializer().dumps({"kind": kind, "by": person().label, "csv": text})
    return carried if len(carried) <= MAX_CARRIED_CHARACTERS else None


def _carried(kind: ImportKind, carried: str) -> str:
    try:
        payload: Any = _serializer().loads(carried, max_age=PREVIEW_LIFETIME_SECONDS)
    except SignatureExpired:
        raise InvalidInput(
            "The preview is more than 30 minutes old. Upload the file again.", "file"
        ) from None
    except BadSignature:
        raise InvalidInput(
            "The preview could not be read back. Upload the file again.", "file"
        ) from None
    if not isinstance(payload, dict) or payload.get("kind") != kind:
        raise InvalidInput("That preview was for another kind of import.", "file")
    if payload.get("by") != person().label:
        raise InvalidInput("That preview was someone else's. Upload the file again.", "file")
    text = payload.get("csv")
    if not isinstance(text, str):
        raise InvalidInput("The preview could not be read back. Upload the file again.", "file")
    return text


# ---------------------------------------------------------------------------------------------
# Escalation policies


@blueprint.get("/policies")
@requires(Permission.POLICIES_READ)
def policies() -> ResponseReturnValue:
    """Every escalation policy in words."""
    with services().db.transaction() as session:
        found = policy_words.policies_in_words(session)
    return render_template("policy_list.html", policies=found)


@blueprint.get("/policies/<name>")
@requires(Permission.POLICIES_READ)
def policy(name: str) -> ResponseReturnValue:
    """One escalation policy in words, step by step."""
    with services().db.transaction() as session:
        found = policy_words.policy_in_words(session, name)
    return render_template("policy_page.html", policy=found)


# ---------------------------------------------------------------------------------------------
# Forms: values, checks and errors


class FormProblems(Exception):
    """The form's values failed the schema's checks: a message per field."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("invalid form")
        self.errors = errors


MISSING: Final = "Missing data for required field."  # marshmallow's words, as the API's


def _load(
    schema: StaffSchema | ParticipantSchema,
    data: dict[str, Any],
    blanks: tuple[str, ...] = (),
    also: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """`data` loaded by `schema`, or FormProblems naming every field at fault, the `blanks`
    (fields an edit may not empty) and `also` (problems found outside the schema) among them."""
    errors = dict.fromkeys(blanks, MISSING)
    errors.update(also or {})
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError as exc:
        errors.update(_by_field(exc.messages))
    if errors:
        raise FormProblems(errors)
    return loaded


def _by_field(messages: Any) -> dict[str, str]:
    # marshmallow nests a list's problems by index ({"phones": {1: [...]}}): one line per field.
    found: dict[str, str] = {}
    if not isinstance(messages, dict):
        return {"form": str(messages)}
    for name, problem in messages.items():
        found[str(name)] = _words(problem)
    return found


def _words(problem: Any) -> str:
    if isinstance(problem, dict):
        return " ".join(_words(value) for value in problem.values())
    if isinstance(problem, list):
        return " ".join(_words(value) for value in problem)
    return str(problem)


def _beside_field(error: DomainError) -> dict[str, str]:
    return {error.field or "form": error.message}


def _staff_form_values() -> dict[str, Any]:
    return {
        "name": request.form.get("name", ""),
        "phone": request.form.get("phone", ""),
        "email": request.form.get("email", ""),
        "roles": request.form.getlist("roles"),
    }


def _staff_input(form: Mapping[str, Any]) -> dict[str, Any]:
    # A blank field is a missing one: a form left empty reads as the API's body without it.
    data: dict[str, Any] = {"roles": list(form["roles"]), "email": form["email"].strip() or None}
    for name in ("name", "phone"):
        if form[name].strip():
            data[name] = form[name].strip()
    return data


def _blanks(form: Mapping[str, Any], names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name for name in names if not str(form[name]).strip())


def _blank_staff() -> dict[str, Any]:
    return {"name": "", "phone": "", "email": "", "roles": []}


def _staff_values(found: Staff) -> dict[str, Any]:
    return {
        "name": found.name,
        "phone": found.phone,
        "email": found.email or "",
        "roles": [role.value for role in found.roles],
    }


def _staff_row(found: Staff) -> dict[str, Any]:
    return {
        "id": found.id,
        "name": found.name,
        "phone": found.phone,
        "email": found.email or "",
        "roles": [role.value for role in found.roles],
        "active": found.active,
    }


def _staff_form(found: Staff | None, values: Mapping[str, Any], errors: dict[str, str]) -> str:
    return render_template(
        "staff_form.html",
        found=_staff_row(found) if found is not None else None,
        values=values,
        errors=errors,
        roles=ROLE_ORDER,
        is_self=found is not None and found.id == person().staff_id,
    )


def _participant_form_values() -> dict[str, Any]:
    return {
        "reference": request.form.get("reference", ""),
        "name": request.form.get("name", ""),
        "phones": request.form.get("phones", ""),
        "responsible_officer_id": request.form.get("responsible_officer_id", ""),
        "risk_level": request.form.get("risk_level", ""),
        "status": request.form.get("status", ParticipantStatus.ACTIVE.value),
        "ended_service_on": request.form.get("ended_service_on", ""),
        "reason": request.form.get("reason", ""),
    }


def _participant_input(form: Mapping[str, str], *, edit: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        name: form[name].strip()
        for name in ("reference", "name", "risk_level", "status")
        if form[name].strip()
    }
    numbers = _split_phones(form["phones"])
    if numbers:
        data["phones"] = numbers
    data["responsible_officer_id"] = form["responsible_officer_id"].strip() or None
    # Left empty, a closed man's date stays as it is (or becomes today if he is being closed).
    if edit and form.get("ended_service_on", "").strip():
        data["ended_service_on"] = form["ended_service_on"].strip()
    return data


def _day(text: str, field: str) -> dt.date:
    """A day written as the browser's date field sends it (2026-11-26)."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a date; write it as 2026-11-26.", field) from None


def _split_phones(text: str) -> list[str]:
    # One number a line, or separated by ; or , as the CSV import takes them.
    parts = text.replace("\r", "\n").replace(";", "\n").replace(",", "\n").split("\n")
    return [part.strip() for part in parts if part.strip()]


def _blank_participant() -> dict[str, str]:
    return {
        "reference": "",
        "name": "",
        "phones": "",
        "responsible_officer_id": "",
        "risk_level": "",
        "status": ParticipantStatus.ACTIVE.value,
        "ended_service_on": "",
        "reason": "",
    }


def _participant_values(found: Participant) -> dict[str, str]:
    return {
        "reference": found.reference,
        "name": found.name,
        "phones": "\n".join(found.phones),
        "responsible_officer_id": str(found.responsible_officer_id or ""),
        "risk_level": found.risk_level.value,
        "status": found.status.value,
        "ended_service_on": found.ended_service_on.isoformat() if found.ended_service_on else "",
        "reason": "",
    }


def _participant_form(
    session: Session,
    found: Participant | None,
    values: Mapping[str, str],
    errors: dict[str, str],
) -> str:
    officers, _ = staff.list_staff(
        session, role=StaffRole.RESPONSIBLE_OFFICER, active=True, limit=1000
    )
    choices = [(str(officer.id), officer.name) for officer in officers]
    current = values.get("responsible_officer_id", "")
    if current and current not in {value for value, _ in choices} and found is not None:
        officer = found.responsible_officer
        if officer is not None and str(officer.id) == current:
            choices.append((current, f"{officer.name} (no longer an active officer)"))
    return render_template(
        "participant_form.html",
        found=found,
        values=values,
        errors=errors,
        officers=choices,
        risk_levels=[(level.value, label) for level, label in RISK_NAMES.items()],
        statuses=[(status.value, status.value.capitalize()) for status in ParticipantStatus],
    )


def _open(session: Session, participant_id: int, action: Action) -> None:
    open_participant_record(
        session,
        Permission.PARTICIPANTS_WRITE,
        participant_id=participant_id,
        record_type="participant",
        record_id=participant_id,
        action=action,
    )


def _log_created(session: Session, participant_id: int) -> None:
    """Log the creation of a participant's record (no reason: it is nobody's record yet)."""
    current = visit()
    record_access.record(
        session,
        current.actor,
        action=Action.CHANGE,
        record_type="participant",
        record_id=participant_id,
        participant_id=participant_id,
        at=current.at,
        origin=current.origin,
        reason=current.reason,
    )


def _page_number() -> int:
    raw = request.args.get("page", "1")
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= 100_000:
        raise InvalidInput("The page must be a whole number from 1.", "page")
    return int(raw)
