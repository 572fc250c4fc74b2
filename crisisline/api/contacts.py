"""/api/v1/contacts and /api/v1/participants/{id}/contacts: every call and text, in and out;
/api/v1/contacts/{id} with its note's versions (and a new version posted).

Who may read or write a note is `crisisline.contact_notes`' decision, the console's too: the
worker who handled the contact, the participant's officer, and those whose grant reaches every
participant (with a reason outside their own). Outside it the answer is a 404, as for a contact
that does not exist, and the refusal is logged."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy.orm import Session

from crisisline import contact_history, contact_notes
from crisisline.alerts import Alerting
from crisisline.api import access
from crisisline.api.common import RecordId, protected_blueprint
from crisisline.api.rota_schemas import Instant
from crisisline.contact_notes import NoteInput, NoteRefused
from crisisline.errors import NotFound
from crisisline.gate import requires
from crisisline.models import Channel, Contact, Direction
from crisisline.note_models import ContactNote, NoteAction, RiskNow
from crisisline.permissions import Permission
from crisisline.services import services

blueprint = protected_blueprint(
    "contacts", __name__, "/api/v1", "Contacts: every call and text, in and out, with who sent it."
)


class ContactSchema(Schema):
    """One call or text, in or out."""

    id = fields.Integer(dump_only=True)
    channel = fields.Enum(Channel, by_value=True, dump_only=True)
    direction = fields.Enum(Direction, by_value=True, dump_only=True)
    from_ = fields.String(attribute="from_number", data_key="from", dump_only=True, allow_none=True)
    to = fields.String(attribute="to_number", dump_only=True, allow_none=True)
    started_at = fields.DateTime(dump_only=True)
    answered_at = fields.DateTime(dump_only=True, allow_none=True)
    ended_at = fields.DateTime(dump_only=True, allow_none=True)
    duration_seconds = fields.Integer(dump_only=True, allow_none=True)
    wait_seconds = fields.Integer(dump_only=True, allow_none=True)
    call_status = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "Calls: Twilio's final CallStatus (completed, busy, failed, "
            "no-answer, canceled); for a staff call-back, how its Dial ended."
        },
    )
    outcome = fields.String(dump_only=True, allow_none=True)
    participant_id = fields.Integer(dump_only=True, allow_none=True)
    handled_by_staff_id = fields.Integer(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The member of staff who sent it (texts) or took it (calls)."},
    )
    body = fields.String(dump_only=True, allow_none=True)
    media_urls = fields.List(fields.String(), dump_only=True)
    recording_url = fields.String(dump_only=True, allow_none=True)
    conversation_id = fields.Integer(dump_only=True, allow_none=True)
    delivery_id = fields.Integer(
        dump_only=True,
        allow_none=True,
        metadata={"description": "For a text the service sent: its delivery in the outbox."},
    )
    twilio_sid = fields.String(dump_only=True, allow_none=True)


class ContactQuerySchema(Schema):
    """Filters for listing contacts: a time window [from, to), channel, direction, outcome."""

    from_ = Instant(data_key="from")
    to = Instant()
    channel = fields.Enum(Channel, by_value=True)
    direction = fields.Enum(Direction, by_value=True)
    outcome = fields.String()
    participant_id = RecordId()

    @validates_schema
    def _window(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "from_" in data and "to" in data and data["to"] <= data["from_"]:
            raise ValidationError("must be after from", "to")


@blueprint.route("/contacts", methods=["GET"])
@blueprint.arguments(ContactQuerySchema, location="query")
@blueprint.response(200, ContactSchema(many=True))
@blueprint.paginate()
@requires(Permission.CONTACTS_READ)
def list_contacts(filters: dict[str, Any], pagination_parameters: Any) -> list[Contact]:
    """Contacts started in [from, to), newest first; filter by channel, direction and outcome."""
    with services().db.transaction() as session:
        rows, total = contact_history.find(
            session,
            start=filters.get("from_"),
            end=filters.get("to"),
            channel=filters.get("channel"),
            direction=filters.get("direction"),
            outcome=filters.get("outcome"),
            participant_id=filters.get("participant_id"),
            visible=access.visible(Permission.CONTACTS_READ),
            offset=pagination_parameters.first_item,
            limit=pagination_parameters.page_size,
        )
        access.listed(
            session,
            Permission.CONTACTS_READ,
            record_type="contacts",
            participant_ids=[row.participant_id for row in rows],
            named=(filters["participant_id"],) if "participant_id" in filters else (),
        )
    pagination_parameters.item_count = total
    return rows


@blueprint.route("/participants/<id:participant_id>/contacts", methods=["GET"])
@blueprint.response(200, ContactSchema(many=True))
@blueprint.paginate()
@requires(Permission.CONTACTS_READ)
def participant_contacts(participant_id: int, pagination_parameters: Any) -> list[Contact]:
    """A participant's whole timeline: calls and texts, in and out, newest first."""
    with services().db.transaction() as session:
        rows, total = contact_history.timeline(
            session,
            participant_id,
            offset=pagination_parameters.first_item,
            limit=pagination_parameters.page_size,
        )
        access.opened(
            session,
            Permission.CONTACTS_READ,
            record_type="contacts",
            record_id=None,
            participant_id=participant_id,
            not_found=f"There is no participant with id {participant_id}.",
        )
    pagination_parameters.item_count = total
    return rows


# ---- one contact, and its note -------------------------------------------------------------


class NoteSummarySchema(Schema):
    """Whether the contact has a note, and where its versions are."""

    version = fields.Integer(metadata={"description": "The current version's number."})
    notes = fields.String(metadata={"description": "Link to every version."})


class OneContactSchema(ContactSchema):
    """One call or text, with whether it takes a note and its note's current version."""

    takes_note = fields.Boolean(
        dump_only=True,
        metadata={
            "description": "Whether a person handled it, so that it takes a note (a missed "
            "call, a text nobody took and a relay take none)."
        },
    )
    note_contact_id = fields.Integer(
        dump_only=True,
        metadata={
            "description": "The contact whose note covers this one: itself, or for a text "
            "its conversation's opening text."
        },
    )
    note = fields.Nested(
        NoteSummarySchema,
        dump_only=True,
        allow_none=True,
        metadata={"description": "The note's current version; null: no note yet."},
    )


class NoteSchema(Schema):
    """One version of a contact's note. Versions are never changed: a correction is the next."""

    id = fields.Integer(dump_only=True)
    contact_id = fields.Integer(dump_only=True)
    version = fields.Integer(dump_only=True)
    participant_id = fields.Integer(dump_only=True, allow_none=True)
    author = fields.String(
        dump_only=True,
        metadata={"description": "Who wrote it, as the logs name them: staff:12, integration:x."},
    )
    author_staff_id = fields.Integer(dump_only=True, allow_none=True)
    written_at = fields.DateTime(dump_only=True)
    what_happened = fields.String(dump_only=True)
    risk_now = fields.Enum(RiskNow, by_value=True, dump_only=True)
    factors = fields.String(dump_only=True, allow_none=True)
    actions = fields.List(fields.String(), dump_only=True)
    other_action = fields.String(dump_only=True, allow_none=True)
    follow_up_wanted = fields.Boolean(dump_only=True)
    follow_up_what = fields.String(dump_only=True, allow_none=True)
    debrief_wanted = fields.Boolean(dump_only=True)
    correction_reason = fields.String(dump_only=True, allow_none=True)
    alert_id = fields.Integer(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The risk alert raised for risk high or immediate."},
    )


class SavedNoteSchema(NoteSchema):
    """The version written, and whether its risk alert could not be raised."""

    alert_failed = fields.Boolean(
        dump_only=True,
        metadata={
            "description": "True: the risk was high or immediate but no alert could be raised "
            "(it failed, or the caller is not a known participant). The note is kept; ring the "
            "duty manager."
        },
    )


class NewNoteSchema(Schema):
    """A version of the note: the first, or a correction (which says why)."""

    what_happened = fields.String(required=True, validate=validate.Length(max=10_000))
    risk_now = fields.Enum(
        RiskNow, by_value=True, required=True, metadata={"description": "As the worker judges."}
    )
    factors = fields.String(load_default=None, allow_none=True)
    actions = fields.List(fields.Enum(NoteAction, by_value=True), load_default=list)
    other_action = fields.String(
        load_default=None, allow_none=True, metadata={"description": "Required with `other`."}
    )
    follow_up_wanted = fields.Boolean(load_default=False)
    follow_up_what = fields.String(
        load_default=None,
        allow_none=True,
        metadata={"description": "Required when follow_up_wanted is true."},
    )
    debrief_wanted = fields.Boolean(load_default=False)
    correction_reason = fields.String(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "Why this version corrects the last: required once a note exists."
        },
    )


class _ContactWithNote:
    """A contact as OneContactSchema reads it: its own columns and its note's summary."""

    def __init__(self, contact: Contact, note_contact_id: int, takes_note: bool) -> None:
        self._contact = contact
        self.note_contact_id = note_contact_id
        self.takes_note = takes_note
        self.note: dict[str, Any] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._contact, name)


class _SavedNote:
    """A version as SavedNoteSchema reads it: its columns, and whether its alert failed."""

    def __init__(self, note: ContactNote, alert_failed: bool) -> None:
        self._note = note
        self.alert_failed = alert_failed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._note, name)


def _alerting() -> Alerting:
    svc = services()
    return Alerting(svc.reach, svc.risk_rules, svc.settings.zone)


def _refused(error: NoteRefused) -> access.RecordRefused:
    return access.RecordRefused(
        access.visit(),
        f"There is no contact with id {error.contact_id}.",
        contact_notes.NOTE_RECORD,
        error.contact_id,
        error.participant_id,
    )


@blueprint.route("/contacts/<id:contact_id>", methods=["GET"])
@blueprint.response(200, OneContactSchema)
@requires(Permission.CONTACTS_READ)
def get_contact(contact_id: int) -> _ContactWithNote:
    """One contact (within your grant, as the list), whether it takes a note, and its note's
    current version."""
    with services().db.transaction() as session:
        contact = session.get(Contact, contact_id)
        if contact is None:
            raise NotFound(f"There is no contact with id {contact_id}.")
        access.opened(
            session,
            Permission.CONTACTS_READ,
            record_type="contact",
            record_id=contact_id,
            participant_id=contact.participant_id,
            not_found=f"There is no contact with id {contact_id}.",
        )
        return _with_note(session, contact)


def _with_note(session: Session, contact: Contact) -> _ContactWithNote:
    note_id = contact_notes.note_contact_id(session, contact.id)
    takes_note = contact_notes.handled_contact(session, note_id) is not None
    shown = _ContactWithNote(contact, note_id, takes_note)
    last = contact_notes.current(session, note_id) if takes_note else None
    if last is not None:
        shown.note = {"version": last.version, "notes": f"/api/v1/contacts/{note_id}/notes"}
    return shown


@blueprint.route("/contacts/<id:contact_id>/notes", methods=["GET"])
@blueprint.response(200, NoteSchema(many=True))
@requires(Permission.CONTACTS_READ)
def contact_notes_list(contact_id: int) -> list[ContactNote]:
    """Every version of the contact's note, oldest first (the last is the current one); for
    a text, its conversation's note. 409 if nobody handled the contact."""
    with services().db.transaction() as session:
        note_id = contact_notes.note_contact_id(session, contact_id)
        try:
            return contact_notes.note_versions(session, access.visit(), note_id)
        except NoteRefused as error:
            raise _refused(error) from None


@blueprint.route("/contacts/<id:contact_id>/notes", methods=["POST"])
@blueprint.arguments(NewNoteSchema)
@blueprint.response(201, SavedNoteSchema)
@requires(Permission.NOTES_WRITE)
def add_contact_note(data: dict[str, Any], contact_id: int) -> _SavedNote:
    """Add a version of the contact's note (for a text, its conversation's note); a correction
    needs `correction_reason`. Risk high raises a warning alert, immediate an urgent one."""
    note = NoteInput(
        what_happened=data["what_happened"],
        risk_now=data["risk_now"],
        factors=data["factors"],
        actions=tuple(data["actions"]),
        other_action=data["other_action"],
        follow_up_wanted=data["follow_up_wanted"],
        follow_up_what=data["follow_up_what"],
        debrief_wanted=data["debrief_wanted"],
        correction_reason=data["correction_reason"],
    )
    with services().db.transaction() as session:
        note_id = contact_notes.note_contact_id(session, contact_id)
        try:
            saved = contact_notes.write_note(
                session, access.visit(), note_id, note, alerting=_alerting()
            )
        except NoteRefused as error:
            raise _refused(error) from None
        return _SavedNote(saved.note, saved.alert_failed)
