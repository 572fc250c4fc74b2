"""The texted link to a contact's note form: signed, single-purpose, expiring, and opened only
by the person it was sent to, once signed in.

`GET /notes/link/<token>` needs a signed-in person: the gate sends anyone else to the sign-in
page and back here afterwards. The person the link was sent to goes on to the contact's note
form; anyone else, and a link expired, changed or made up, gets a page saying so and nothing
about the contact (crisisline.note_prompts reads the token and audits each opening).
"""

from __future__ import annotations

from typing import Final

from flask import current_app, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from crisisline import note_prompts
from crisisline.console.common import blueprint, person
from crisisline.gate import requires
from crisisline.permissions import Permission
from crisisline.services import services

NOTE_FORM: Final = "console.contact_note_form"
_NOT_OURS: Final = (
    "This link is not one the crisis line sent, or part of it is missing. Open the link "
    "from the text again, whole."
)
_EXPIRED: Final = (
    "This link has expired. The note can still be written from the contact in the console."
)
_NOT_YOURS: Final = (
    "This link was sent to another member of staff. Only the person it was sent to can open it."
)


def note_form_path(contact_id: int) -> str:
    """The path of the contact's note form (built by url_for once the form is registered)."""
    if NOTE_FORM in current_app.view_functions:
        return url_for(NOTE_FORM, contact_id=contact_id)
    return f"/contacts/{contact_id}/note"


@blueprint.get(note_prompts.LINK_PATH + "<string:token>")
@requires(Permission.SIGNED_IN)
def note_link(token: str) -> ResponseReturnValue:
    """Go on to the note form the link is for, if it was sent to the person signed in."""
    svc = services()
    actor = person()
    try:
        contact_id = note_prompts.open_link(
            svc.db,
            svc.settings.secret_key,
            token,
            staff_id=actor.staff_id,
            actor=actor.label,
            now=svc.clock.now(),
        )
    except note_prompts.NotForYou:
        return _refused("Not your link", _NOT_YOURS, 403)
    except note_prompts.Expired:
        return _refused("Link expired", _EXPIRED, 410)
    except note_prompts.LinkError:
        return _refused("Link not recognised", _NOT_OURS, 404)
    return redirect(note_form_path(contact_id), code=303)


def _refused(title: str, message: str, status: int) -> ResponseReturnValue:
    return render_template("note_link_refused.html", title=title, message=message), status
