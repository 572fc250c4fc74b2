"""The crisis plan at the moment of contact: the texted link, and the one-screen view.

`GET /plan/link/<token>` needs a signed-in person: the gate sends anyone else to the sign-in
page and back here afterwards. The worker the link was sent to goes on, once, to the view;
a second opening says it was used and offers the Now board; anyone else, and a link expired,
changed or made up, gets a page saying so and nothing about the man
(crisisline.crisis_plan_links reads the token and audits each opening).

`GET /contacts/<contact_id>/crisis-plan` is the one screen, phone first: who he is, his risk,
open alerts, his last five contacts with their notes, his officer, then his plan. Its
contact's handler opens it plainly; others as crisis-plans:read reaches him (break-glass
outside their own). Every opening is logged with the contact as its reason.
"""

from __future__ import annotations

from typing import Final

from flask import redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from crisisline import crisis_plan_links, record_access
from crisisline.console.common import (
    ReasonWanted,
    RecordNotShown,
    blueprint,
    person,
    visit,
)
from crisisline.gate import requires
from crisisline.permissions import Permission
from crisisline.services import services

_NOT_OURS: Final = (
    "This link is not one the crisis line sent, or part of it is missing. Open the link "
    "from the text again, whole."
)
_EXPIRED: Final = (
    "This link has expired. His crisis plan is still one tap from the call or text on the "
    "Now board."
)
_USED: Final = (
    "This link has been used already: each link opens once. His crisis plan is one tap from "
    "the call or text on the Now board."
)
_NOT_YOURS: Final = (
    "This link was sent to another member of staff. Only the person it was sent to can open it."
)


@blueprint.get(crisis_plan_links.LINK_PATH + "<string:token>")
@requires(Permission.SIGNED_IN)
def crisis_plan_link(token: str) -> ResponseReturnValue:
    """Go on, once, to the plan view the link is for, if it was sent to the person signed in."""
    svc = services()
    actor = person()
    try:
        with svc.db.transaction() as session:
            contact_id = crisis_plan_links.open_link(
                session,
                svc.settings.secret_key,
                token,
                staff_id=actor.staff_id,
                actor=actor.label,
                now=svc.clock.now(),
            )
    except crisis_plan_links.NotForYou:
        return _refused("Not your link", _NOT_YOURS, 403)
    except crisis_plan_links.Used:
        return _refused("Link already used", _USED, 410)
    except crisis_plan_links.Expired:
        return _refused("Link expired", _EXPIRED, 410)
    except crisis_plan_links.LinkError:
        return _refused("Link not recognised", _NOT_OURS, 404)
    return redirect(url_for("console.contact_crisis_plan", contact_id=contact_id), code=303)


@blueprint.get("/contacts/<int:contact_id>/crisis-plan")
@requires(Permission.CRISIS_PLANS_READ)
def contact_crisis_plan(contact_id: int) -> ResponseReturnValue:
    """The one screen: who he is and how he has been, then his crisis plan (or that he has none)."""
    svc = services()
    current = visit()
    try:
        with svc.db.transaction() as session:
            shown = crisis_plan_links.plan_view(session, current, contact_id)
            today = current.at.astimezone(svc.settings.zone).date()
            return render_template("plan_view.html", shown=shown, today=today)
    except record_access.Refused:
        raise RecordNotShown(
            current, crisis_plan_links.RECORD_TYPE, None, _participant_of(contact_id)
        ) from None
    except record_access.ReasonRequired as error:
        participant_id = _participant_of(contact_id)
        if participant_id is None:
            raise
        raise ReasonWanted(participant_id, error.message) from None


def _participant_of(contact_id: int) -> int | None:
    with services().db.transaction() as session:
        return crisis_plan_links.participant_of(session, contact_id)


def _refused(title: str, message: str, status: int) -> ResponseReturnValue:
    return render_template("plan_view_link.html", title=title, message=message), status
