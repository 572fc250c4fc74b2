"""Console pages for contacts and their notes: a contact's page with every version of its note,
and the phone-first note form (a new note, or a correction that keeps the old version).

Each view reads the request, calls one flow of `crisisline.contact_notes` (which decides who may
read or write the note and logs it against the participant) and renders a template. A note
outside the person's grant answers 404 with the refusal logged; outside their own participants
it asks for the break-glass reason first. A text's contact id may be any text of the
conversation: the pages move to its opening text, whose note covers the conversation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from crisisline import contact_notes, record_access
from crisisline.alerts import Alerting
from crisisline.caseloads import Access
from crisisline.console.common import (
    ReasonWanted,
    RecordNotShown,
    blueprint,
    safe_next,
    visit,
)
from crisisline.contact_notes import (
    ACTION_LABELS,
    RISK_LABELS,
    NoNoteTaken,
    NoteInput,
    NoteRefused,
)
from crisisline.errors import Conflict, InvalidInput
from crisisline.gate import requires
from crisisline.note_models import NoteAction, RiskNow
from crisisline.permissions import Permission
from crisisline.services import services

# How the form asks about the risk now: the level and what it means to the person choosing.
RISK_HINTS: Final = {
    RiskNow.NONE: "no current risk heard",
    RiskNow.LOW: "some concern, coping",
    RiskNow.MEDIUM: "concern: keep an eye on him",
    RiskNow.HIGH: "raises a warning alert to his officer",
    RiskNow.IMMEDIATE: "raises an urgent alert: officer and duty manager",
}


@dataclass
class NoteForm:
    """The form's fields as typed (strings), so that a refused form comes back as it was sent."""

    what_happened: str = ""
    risk_now: str = ""
    factors: str = ""
    actions: list[str] = field(default_factory=list)
    other_action: str = ""
    follow_up_wanted: bool = False
    follow_up_what: str = ""
    debrief_wanted: bool = False
    correction_reason: str = ""

    @classmethod
    def read(cls, form: MultiDict[str, str]) -> NoteForm:
        """The fields as posted."""
        return cls(
            what_happened=form.get("what_happened", ""),
            risk_now=form.get("risk_now", ""),
            factors=form.get("factors", ""),
            actions=form.getlist("actions"),
            other_action=form.get("other_action", ""),
            follow_up_wanted=form.get("follow_up_wanted") == "yes",
            follow_up_what=form.get("follow_up_what", ""),
            debrief_wanted=form.get("debrief_wanted") == "yes",
            correction_reason=form.get("correction_reason", ""),
        )

    @classmethod
    def of(cls, version: contact_notes.VersionView | None) -> NoteForm:
        """The form prefilled from the current version (a correction starts from it)."""
        if version is None:
            return cls()
        note = version.note
        return cls(
            what_happened=note.what_happened,
            risk_now=note.risk_now.value,
            factors=note.factors or "",
            actions=list(note.actions or []),
            other_action=note.other_action or "",
            follow_up_wanted=note.follow_up_wanted,
            follow_up_what=note.follow_up_what or "",
            debrief_wanted=note.debrief_wanted,
        )

    def parsed(self) -> tuple[NoteInput | None, dict[str, str]]:
        """The note, or the message for each field at fault (several at once where they can
        be told apart: the risk level and the rest)."""
        errors: dict[str, str] = {}
        try:
            risk = contact_notes.parse_risk(self.risk_now)
        except InvalidInput:
            errors["risk_now"] = "Choose the risk now: one of the five levels."
            risk = RiskNow.NONE
        try:
            actions = contact_notes.parse_actions(self.actions)
        except InvalidInput as error:
            errors[error.field or "actions"] = error.message
            actions = ()
        note = NoteInput(
            what_happened=self.what_happened,
            risk_now=risk,
            factors=self.factors,
            actions=actions,
            other_action=self.other_action,
            follow_up_wanted=self.follow_up_wanted,
            follow_up_what=self.follow_up_what,
            debrief_wanted=self.debrief_wanted,
            correction_reason=self.correction_reason,
        )
        if errors:
            # What else is wrong, said at once rather than after the next try.
            try:
                contact_notes.checked(note, correcting=False)
            except InvalidInput as error:
                errors.setdefault(error.field or "what_happened", error.message)
            return None, errors
        return note, errors


def _alerting() -> Alerting:
    svc = services()
    return Alerting(svc.reach, svc.risk_rules, svc.settings.zone)


def _refused(error: NoteRefused) -> RecordNotShown:
    return RecordNotShown(
        visit(), contact_notes.NOTE_RECORD, error.contact_id, error.participant_id
    )


def _reason_wanted(error: record_access.ReasonRequired, participant_id: int | None) -> Exception:
    if participant_id is None:
        return error
    return ReasonWanted(participant_id, error.message)


# ---------------------------------------------------------------------------------------------
# A contact and its note


@blueprint.get("/contacts/<int:contact_id>")
@requires(Permission.CONTACTS_READ)
def contact_page(contact_id: int) -> ResponseReturnValue:
    """The contact (when, how, who handled it, whose it is), its current note and every
    earlier version with who wrote it, when and why it was corrected."""
    svc = services()
    with svc.db.transaction() as session:
        note_id = contact_notes.note_contact_id(session, contact_id)
        if note_id != contact_id:
            return redirect(url_for("console.contact_page", contact_id=note_id), code=303)
        try:
            shown = contact_notes.read_notes(session, visit(), contact_id)
        except NoteRefused as error:
            raise _refused(error) from None
        except record_access.ReasonRequired as error:
            subject = contact_notes.subject_of(session, contact_id)
            raise _reason_wanted(error, subject.participant_id) from None
        actor = visit().actor
        may_write = shown.subject.handled is not None and (
            contact_notes.note_access(
                session, actor, Permission.NOTES_WRITE, shown.subject, svc.clock.now()
            )
            is not Access.REFUSED
        )
        return render_template(
            "note_contact.html",
            shown=shown,
            may_write=may_write,
            alerts_shown=actor.may(Permission.ALERTS_READ),
            here=request.full_path.rstrip("?"),
        )


# ---------------------------------------------------------------------------------------------
# The note form


@blueprint.route("/contacts/<int:contact_id>/note", methods=["GET", "POST"])
@requires(Permission.NOTES_WRITE)
def contact_note_form(contact_id: int) -> ResponseReturnValue:
    """The note form: a new note, or a correction prefilled from the current version (which
    asks why). Saved, it goes back to the contact's page (or `next`, if on this site)."""
    svc = services()
    target = safe_next(request.values.get("next"))
    with svc.db.transaction() as session:
        note_id = contact_notes.note_contact_id(session, contact_id)
    if note_id != contact_id:
        where = url_for("console.contact_note_form", contact_id=note_id)
        if target:
            where = url_for("console.contact_note_form", contact_id=note_id, next=target)
        return redirect(where, code=307 if request.method == "POST" else 303)
    if request.method == "GET":
        return _form_page(contact_id, None, {}, target, 200)
    typed = NoteForm.read(request.form)
    note, errors = typed.parsed()
    if note is not None:
        try:
            with svc.db.transaction() as session:
                saved = contact_notes.write_note(
                    session, visit(), contact_id, note, alerting=_alerting()
                )
                version, alert_id = saved.note.version, saved.note.alert_id
                failed = saved.alert_failed
        except NoNoteTaken:
            return _form_page(contact_id, typed, {}, target, 409)
        except (InvalidInput, Conflict) as error:
            errors = {error.field or "what_happened": error.message}
        except NoteRefused as error:
            raise _refused(error) from None
        else:
            flash(_saved_notice(version, alert_id, failed, note.risk_now))
            return redirect(
                target or url_for("console.contact_page", contact_id=contact_id), code=303
            )
    return _form_page(contact_id, typed, errors, target, 422)


def _saved_notice(version: int, alert_id: int | None, failed: bool, risk: RiskNow) -> str:
    said = "Note saved." if version == 1 else f"Correction saved (version {version})."
    if failed:
        return (
            f"{said} No risk alert could be raised (it failed, or the caller is not a known "
            "participant): ring the duty manager now and tell them the risk you judged."
        )
    if alert_id is not None:
        severity = "an urgent" if risk == RiskNow.IMMEDIATE else "a warning"
        return f"{said} It raised {severity} risk alert (alert {alert_id}) to his officer."
    return said


def _form_page(
    contact_id: int,
    typed: NoteForm | None,
    errors: dict[str, str],
    target: str | None,
    status: int,
) -> ResponseReturnValue:
    svc = services()
    with svc.db.transaction() as session:
        try:
            shown = contact_notes.form_subject(session, visit(), contact_id)
        except NoteRefused as error:
            raise _refused(error) from None
        except record_access.ReasonRequired as error:
            subject = contact_notes.subject_of(session, contact_id)
            raise _reason_wanted(error, subject.participant_id) from None
        except NoNoteTaken as error:
            page = render_template("note_none.html", contact_id=contact_id, message=error.message)
            return page, 409
        form = typed if typed is not None else NoteForm.of(shown.current)
        page = render_template(
            "note_form.html",
            shown=shown,
            form=form,
            errors=errors,
            correcting=shown.current is not None,
            risks=[(level.value, RISK_LABELS[level], RISK_HINTS[level]) for level in RiskNow],
            actions=[(action.value, ACTION_LABELS[action]) for action in NoteAction],
            next=target,
        )
    return page, status
