"""What every page of the console shares: its blueprint, the CSRF check, the main menu, the
person signed in, and opening a participant's record through the access log.

Each area of the console (the Now board, participants, alerts and escalations, rotas, staff,
policies) is a module of this package that adds its views to `blueprint` and its entry to the
main menu with `menu_item`. A view opening anything about one participant calls
`open_participant_record` first: outside the person's grant that answers 404 (and logs the
attempt), outside their own participants it asks for a reason once per sign-in session
(break-glass), and otherwise it logs the read in the page's own transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from flask import Blueprint, current_app, request
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import Session

from crisisline import record_access
from crisisline.errors import InvalidInput
from crisisline.gate import current_actor
from crisisline.models import StaffRole
from crisisline.permissions import Actor, Extent, Permission
from crisisline.record_access import Action, Origin, Visit
from crisisline.services import services

blueprint = Blueprint("console", __name__, template_folder="templates")
csrf = CSRFProtect()

SERVICE_NAME: Final = "Resettle crisis line"
ROLE_NAMES: Final = {
    StaffRole.ON_CALL: "On-call worker",
    StaffRole.DUTY_MANAGER: "Duty manager",
    StaffRole.RESPONSIBLE_OFFICER: "Responsible officer",
    StaffRole.CLINICAL_LEAD: "Clinical lead",
    StaffRole.ADMIN: "Administrator",
}


@dataclass(frozen=True)
class MenuItem:
    """One entry of the main menu: shown to those who hold `permission` (at any extent but
    `own`, unless `own_is_enough`), in `order`, once its view is registered."""

    label: str
    endpoint: str
    permission: Permission
    order: int
    own_is_enough: bool = False


_MENU: list[MenuItem] = []


def menu_item(
    label: str, endpoint: str, permission: Permission, *, order: int, own_is_enough: bool = False
) -> None:
    """Add an entry to the main menu (each area of the console adds its own)."""
    _MENU.append(MenuItem(label, endpoint, permission, order, own_is_enough))
    _MENU.sort(key=lambda item: (item.order, item.label))


def menu_for(actor: Actor | None) -> list[MenuItem]:
    """The entries this person may open, in order."""
    if actor is None or actor.kind != "person":
        return []
    shown = []
    for item in _MENU:
        if item.endpoint not in current_app.view_functions:
            continue
        if item.permission in (Permission.SIGNED_IN, Permission.PUBLIC):
            shown.append(item)
            continue
        extent = actor.extent(item.permission)
        if extent is None:
            continue
        if extent is Extent.OWN and not item.own_is_enough:
            continue
        shown.append(item)
    return shown


@blueprint.app_template_filter("local_time")
def local_time(instant: dt.datetime) -> str:
    """In the service's zone, as staff read the clock: "Thu 26 Nov, 18:00"."""
    local = instant.astimezone(services().settings.zone)
    return f"{local:%a} {local.day} {local:%b, %H:%M}"


@blueprint.app_template_filter("role_name")
def role_name(role: str) -> str:
    """ "on_call" as people say it: "On-call worker"."""
    return ROLE_NAMES.get(StaffRole(role), role) if role in set(StaffRole) else role


def person() -> Actor:
    """The person signed in (the gate let the request through, so there is one)."""
    actor = current_actor()
    if actor is None:
        raise RuntimeError("a console page needs a signed-in person")
    return actor


def origin() -> Origin:
    """Where this request came from, for the access log."""
    return Origin(address=request.remote_addr, user_agent=request.user_agent.string or None)


def visit(reason: str | None = None) -> Visit:
    """This request as the access log sees it."""
    return Visit(actor=person(), at=services().clock.now(), origin=origin(), reason=reason)


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path on this site (never another site's address), else None."""
    if not target:
        return None
    parts = urlsplit(target)
    if not target.startswith("/") or target.startswith("//") or parts.scheme or parts.netloc:
        return None
    if "\\" in target:
        return None
    return target


class RecordNotShown(Exception):
    """A participant's record outside the person's grant: answered as not found, and logged."""

    def __init__(
        self, visit: Visit, record_type: str, record_id: int | None, participant_id: int | None
    ) -> None:
        super().__init__("not found")
        self.visit = visit
        self.record_type = record_type
        self.record_id = record_id
        self.participant_id = participant_id


class ReasonWanted(Exception):
    """The participant lies outside the person's own: they must give a reason first."""

    def __init__(self, participant_id: int, message: str) -> None:
        super().__init__(message)
        self.participant_id = participant_id
        self.message = message


def open_participant_record(
    session: Session,
    permission: Permission,
    *,
    participant_id: int | None,
    record_type: str,
    record_id: int | None,
    action: Action = Action.READ,
) -> None:
    """Check that the person may see this record of the participant, and log it in `session`.

    Raises RecordNotShown (answered 404, the attempt logged in its own transaction) outside
    the grant, and ReasonWanted (answered with the reason form) when a reason is needed and
    none was given in this sign-in session.
    """
    current = visit()
    try:
        record_access.open_record(
            session,
            current,
            permission,
            record_type=record_type,
            record_id=record_id,
            participant_id=participant_id,
            action=action,
        )
    except record_access.Refused:
        raise RecordNotShown(current, record_type, record_id, participant_id) from None
    except record_access.ReasonRequired as error:
        if participant_id is None:  # open_record asks only about a participant's record
            raise
        raise ReasonWanted(participant_id, error.message) from None


def log_refusal(refused: RecordNotShown) -> None:
    """Log a refused record in a transaction of its own (the page's was rolled back)."""
    with services().db.transaction() as session:
        record_access.refusal(
            session,
            refused.visit,
            record_type=refused.record_type,
            record_id=refused.record_id,
            participant_id=refused.participant_id,
        )


def give_reason(participant_id: int, text: str | None) -> None:
    """Record the break-glass reason for opening the participant's record in this sign-in
    session (InvalidInput naming `reason` if it is missing, too short or too long)."""
    reason = record_access.checked_reason(text, "reason")
    if reason is None:
        raise InvalidInput("Give the reason you need this record.", "reason")
    with services().db.transaction() as session:
        record_access.open_record(
            session,
            visit(reason),
            Permission.PARTICIPANTS_READ,
            record_type="participant",
            record_id=participant_id,
            participant_id=participant_id,
        )
