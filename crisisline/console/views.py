"""The console's pages: sign-in, sign-out, setting up a sign-in from an invitation and the
administrator's staff accounts page (the signed-in home page, the Now board, is now_pages').

Each view is a translator: it reads the form, calls one function of crisisline.sign_in
or crisisline.account_admin, and renders a template. Every form carries
a CSRF token (Flask-WTF, checked before any view of this blueprint runs).
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlencode, urlsplit

from flask import flash, g, redirect, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from crisisline import account_admin, accounts, record_access, sign_in, staff, staffing
from crisisline.console.common import (
    SERVICE_NAME,
    ReasonWanted,
    RecordNotShown,
    blueprint,
    csrf,
    give_reason,
    log_refusal,
    menu_for,
    menu_item,
    origin,
    person,
    role_name,
    safe_next,
    visit,
)
from crisisline.errors import Conflict, DomainError, InvalidInput, NotFound
from crisisline.gate import SESSION_COOKIE, SIGN_IN_PATH, current_actor, requires, session_limits
from crisisline.permissions import Permission
from crisisline.services import services

# The enrolment session's cookie is sent to the invitation pages only, and is not a sign-in.
ENROLMENT_COOKIE: Final = "crisisline_enrolment"
ENROLMENT_PATH: Final = staffing.INVITATION_PATH.rstrip("/")


@blueprint.before_request
def _check_csrf() -> None:
    # Every form of the console, and only the console's (see crisisline.console).
    csrf.protect()


@blueprint.after_request
def _not_stored(response: Response) -> Response:
    # Pages name people and show secrets once (recovery codes): no cache keeps a copy.
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.app_context_processor
def _page_context() -> dict[str, object]:
    actor = current_actor()
    person = actor if actor is not None and actor.kind == "person" else None
    return {
        "service_name": SERVICE_NAME,
        "signed_in": person,
        "role_names": [role_name(role) for role in sorted(person.roles)]
        if person is not None
        else [],
        "menu": menu_for(person),
    }


# ---------------------------------------------------------------------------------------------
# Signing in and out


@blueprint.get(SIGN_IN_PATH)
@requires(Permission.PUBLIC)
def sign_in_page() -> ResponseReturnValue:
    """The password form, or the code form once the password was right."""
    actor = current_actor()
    if actor is not None and actor.kind == "person":
        return render_template("signed_in_already.html", next=_next_path())
    if _awaiting_code():
        return render_template("sign_in_code.html", next=_next_path())
    return render_template("sign_in.html", next=_next_path(), identifier="")


@blueprint.post(SIGN_IN_PATH)
@requires(Permission.PUBLIC)
def sign_in_step() -> ResponseReturnValue:
    """Check the password (opening a half-open session) or the code (completing it)."""
    if "code" in request.form or "recovery_code" in request.form:
        return _second_factor()
    return _password()


def _password() -> ResponseReturnValue:
    identifier = request.form.get("identifier", "").strip()
    password = request.form.get("password", "")
    if not identifier or not password:
        return render_template(
            "sign_in.html",
            next=_next_path(),
            identifier=identifier,
            error="Type your phone number or email, and your password.",
        ), 422
    svc = services()
    with svc.db.transaction() as session:
        _end_current_session(session)
        session_id = sign_in.check_password(
            session,
            identifier,
            password,
            now=svc.clock.now(),
            limits=session_limits(),
            origin=origin(),
            region=svc.settings.default_region,
        )
    if session_id is None:
        g.sign_in_failed = True  # counted by the per-address limit (see crisisline.console)
        page = render_template(
            "sign_in.html", next=_next_path(), identifier=identifier, error=sign_in.FAILED_SIGN_IN
        )
        response = Response(page, status=401, mimetype="text/html")
        response.delete_cookie(SESSION_COOKIE, path="/", secure=True, samesite="Lax")
        return response
    response = redirect(_sign_in_url(), code=303)
    _set_cookie(response, SESSION_COOKIE, session_id, path="/")
    return response


def _second_factor() -> ResponseReturnValue:
    recovery = "recovery_code" in request.form
    code = request.form.get("recovery_code" if recovery else "code", "").strip()
    session_id = request.cookies.get(SESSION_COOKIE, "")
    if not code:
        return render_template(
            "sign_in_code.html", next=_next_path(), error="Type the code your app shows."
        ), 422
    svc = services()
    with svc.db.transaction() as session:
        outcome = sign_in.check_second_factor(
            session,
            session_id,
            code,
            recovery=recovery,
            now=svc.clock.now(),
            limits=session_limits(),
        )
    if outcome is sign_in.SecondFactor.SIGNED_IN:
        return redirect(_next_path() or "/", code=303)
    g.sign_in_failed = True
    if outcome is sign_in.SecondFactor.WRONG:
        page = render_template("sign_in_code.html", next=_next_path(), error=sign_in.WRONG_CODE)
        return Response(page, status=401, mimetype="text/html")
    message = sign_in.LOCKED if outcome is sign_in.SecondFactor.LOCKED else sign_in.START_AGAIN
    page = render_template("sign_in.html", next=_next_path(), identifier="", error=message)
    response = Response(page, status=401, mimetype="text/html")
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, samesite="Lax")
    return response


@blueprint.post("/logout")
@requires(Permission.PUBLIC)
def sign_out() -> ResponseReturnValue:
    """End this browser's session (signed in, or waiting for its code) and forget its cookie."""
    svc = services()
    with svc.db.transaction() as session:
        _end_current_session(session)
    flash("You have signed out.")
    response = redirect(SIGN_IN_PATH, code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, samesite="Lax")
    return response


# ---------------------------------------------------------------------------------------------
# Setting up a sign-in from an invitation


@blueprint.get(f"{ENROLMENT_PATH}/<token>")
@requires(Permission.PUBLIC)
def invitation(token: str) -> ResponseReturnValue:
    """The page a texted invitation opens: a button spends the link (a GET never does, so a
    messaging app's link preview cannot use it up)."""
    return render_template("invitation.html", token=token)


@blueprint.post(f"{ENROLMENT_PATH}/<token>")
@requires(Permission.PUBLIC)
def accept_invitation(token: str) -> ResponseReturnValue:
    """Spend the invitation and go on to its set-up pages (with no secret in their URL)."""
    svc = services()
    try:
        with svc.db.transaction() as session:
            session_id = sign_in.start_enrolment(
                session, token, now=svc.clock.now(), origin=origin()
            )
    except accounts.InvitationInvalid as error:
        return render_template("invitation_invalid.html", message=error.message), 410
    response = redirect(ENROLMENT_PATH, code=303)
    _set_cookie(response, ENROLMENT_COOKIE, session_id, path=ENROLMENT_PATH)
    return response


@blueprint.get(ENROLMENT_PATH)
@requires(Permission.PUBLIC)
def enrolment() -> ResponseReturnValue:
    """The set-up step the person is at: choose a password, or enrol the authenticator app."""
    svc = services()
    with svc.db.transaction() as session:
        found = sign_in.enrolment(session, _enrolment_id(), now=svc.clock.now())
    return _enrolment_page(found)


@blueprint.post(f"{ENROLMENT_PATH}/password")
@requires(Permission.PUBLIC)
def enrolment_password() -> ResponseReturnValue:
    """Set the new password (twice, to catch a slip), then go on to the code step."""
    svc = services()
    password = request.form.get("password", "")
    repeated = request.form.get("confirm_password", "")
    try:
        with svc.db.transaction() as session:
            chosen = sign_in.choose_password(
                session, _enrolment_id(), password, repeated, now=svc.clock.now()
            )
    except DomainError as error:
        with svc.db.transaction() as session:
            found = sign_in.enrolment(session, _enrolment_id(), now=svc.clock.now())
        return _enrolment_page(found, error=error.message, status=422)
    if not chosen:
        return _enrolment_page(None)
    return redirect(ENROLMENT_PATH, code=303)


@blueprint.post(f"{ENROLMENT_PATH}/code")
@requires(Permission.PUBLIC)
def enrolment_code() -> ResponseReturnValue:
    """Confirm the authenticator app with one code; then show the recovery codes, once."""
    svc = services()
    code = request.form.get("code", "")
    with svc.db.transaction() as session:
        codes = sign_in.confirm_code(session, _enrolment_id(), code, now=svc.clock.now())
        found = (
            None
            if codes is not None
            else sign_in.enrolment(session, _enrolment_id(), now=svc.clock.now())
        )
    if codes is None:
        error = "That code is not right. Type the six digits your app shows now."
        return _enrolment_page(found, error=error, status=422)
    page = render_template("recovery_codes.html", codes=codes)
    response = Response(page, mimetype="text/html")
    response.delete_cookie(ENROLMENT_COOKIE, path=ENROLMENT_PATH, secure=True, samesite="Lax")
    return response


def _enrolment_page(
    found: sign_in.Enrolment | None, *, error: str | None = None, status: int = 200
) -> ResponseReturnValue:
    if found is None:
        return render_template("invitation_invalid.html", message=_NO_ENROLMENT), 410
    if found.step is sign_in.EnrolmentStep.PASSWORD:
        return render_template(
            "enrol_password.html",
            enrolment=found,
            error=error,
            min_length=accounts.MIN_PASSWORD_LENGTH,
        ), status
    totp = found.totp
    qr = accounts.totp_qr_svg(totp.uri) if totp is not None else ""
    return render_template("enrol_code.html", enrolment=found, qr=qr, error=error), status


_NO_ENROLMENT: Final = (
    "There is no set-up in progress in this browser, or it was not finished within "
    f"{int(sign_in.ENROLMENT_WINDOW.total_seconds() // 60)} minutes. "
    "Ask an administrator to invite you again."
)


# ---------------------------------------------------------------------------------------------
# Signed in


menu_item("Staff accounts", "console.staff_accounts", Permission.ACCOUNTS_ADMIN, order=90)


@blueprint.get("/staff-accounts")
@requires(Permission.ACCOUNTS_ADMIN)
def staff_accounts() -> ResponseReturnValue:
    """Every member of staff with their console account's status, to invite or disable."""
    svc = services()
    with svc.db.transaction() as session:
        rows = account_admin.staff_accounts(session, now=svc.clock.now())
    return render_template("staff_accounts.html", rows=rows, now=svc.clock.now())


@blueprint.post("/staff-accounts/<int:staff_id>/invite")
@requires(Permission.ACCOUNTS_ADMIN)
def invite(staff_id: int) -> ResponseReturnValue:
    """Text the member of staff a one-time link to set up (or set up again) their sign-in."""
    svc = services()
    if staff_id == person().staff_id:
        # Re-inviting oneself ends one's own sign-in and credentials mid-task.
        raise InvalidInput(
            "You cannot re-invite yourself: it would sign you out and end your password and "
            "code. Ask another administrator.",
            field="staff_id",
        )
    with svc.db.transaction() as session:
        staffing.invite_to_console(
            session,
            staff_id,
            actor=person().label,
            now=svc.clock.now(),
            public_base_url=svc.settings.public_base_url,
            from_=svc.settings.crisis_line_number,
        )
        name = staff.get(session, staff_id).name
    hours = int(accounts.INVITATION_LIFETIME.total_seconds() // 3600)
    flash(f"An invitation is on its way to {name}'s phone. Its link works once, for {hours} hours.")
    return redirect("/staff-accounts", code=303)


@blueprint.post("/staff-accounts/<int:staff_id>/disable")
@requires(Permission.ACCOUNTS_ADMIN)
def disable(staff_id: int) -> ResponseReturnValue:
    """Disable the account and end its sessions now."""
    svc = services()
    with svc.db.transaction() as session:
        disabled = account_admin.disable(
            session, staff_id, actor=person().label, now=svc.clock.now()
        )
        name = disabled.name
    flash(f"{name}'s account is disabled and signed out everywhere.")
    return redirect("/staff-accounts", code=303)


# ---------------------------------------------------------------------------------------------
# Break-glass: a reason for opening a participant outside one's own

# Offered on the reason form; anything else can be typed.
BREAK_GLASS_REASONS: Final = (
    "Covering for his responsible officer",
    "Duty manager review of a contact or alert",
    "Safeguarding concern raised about him",
    "Clinical review",
)


@blueprint.post("/reason")
@requires(Permission.PARTICIPANTS_READ)
def reason() -> ResponseReturnValue:
    """Record why the person needs a participant's record, then go back to the page asked for.

    The reason stands for the rest of the sign-in session (the access log keeps it beside
    every read); a refused or missing reason shows the form again, saying what was wrong."""
    participant_id = request.form.get("participant_id", type=int)
    target = safe_next(request.form.get("next")) or "/"
    chosen = request.form.get("reason_choice", "")
    typed = request.form.get("reason", "")
    text = typed if typed.strip() or chosen == "other" else chosen
    if participant_id is None:
        raise InvalidInput("The form did not say which participant.", "participant_id")
    try:
        give_reason(participant_id, text)
    except InvalidInput as error:
        page = render_template(
            "reason.html",
            participant_id=participant_id,
            message=None,
            error=error.message,
            next=target,
            reasons=BREAK_GLASS_REASONS,
            typed=typed,
        )
        return page, 422
    except record_access.Refused:
        raise RecordNotShown(visit(), "participant", participant_id, participant_id) from None
    return redirect(target, code=303)


# ---------------------------------------------------------------------------------------------
# Problems, as pages (the API's handlers answer JSON; these take precedence on console pages)


@blueprint.errorhandler(DomainError)
def domain_error(error: DomainError) -> ResponseReturnValue:
    """A refused change (no such member of staff, not active...) as a page saying why."""
    status = 404 if isinstance(error, NotFound) else 409 if isinstance(error, Conflict) else 422
    return render_template("problem.html", status=status, message=error.message), status


@blueprint.errorhandler(RecordNotShown)
def record_not_shown(refused: RecordNotShown) -> ResponseReturnValue:
    """A participant's record outside the person's grant: not found, as a record that does not
    exist would be (a refusal must not tell them it is there), and the attempt logged."""
    log_refusal(refused)
    return render_template("problem.html", status=404, message=_PROBLEMS[404]), 404


@blueprint.errorhandler(ReasonWanted)
def reason_wanted(wanted: ReasonWanted) -> ResponseReturnValue:
    """The record lies outside the person's own: ask for the reason before showing it."""
    page = render_template(
        "reason.html",
        participant_id=wanted.participant_id,
        message=wanted.message,
        # Back to the page asked for; after a form, to the page the form was on (posting it
        # again is the person's choice, with the reason now given).
        next=safe_next(request.full_path.rstrip("?"))
        if request.method == "GET"
        else safe_next(request.form.get("next")) or "/",
        reasons=BREAK_GLASS_REASONS,
    )
    return page, 403


@blueprint.errorhandler(HTTPException)
def http_error(error: HTTPException) -> ResponseReturnValue:
    """An HTTP error (a form without its CSRF token, too many sign-ins...) as a page."""
    status = error.code or 500
    if isinstance(error, CSRFError):
        message = _FORM_REFUSED
    else:
        message = _PROBLEMS.get(status, error.description or "Something went wrong.")
    response = error.get_response()
    page = render_template("problem.html", status=status, message=message)
    answer = Response(page, status=status, mimetype="text/html")
    for name in ("Retry-After", "Allow"):
        if name in response.headers:
            answer.headers[name] = response.headers[name]
    return answer


_FORM_REFUSED: Final = (
    "This form was open too long, or was not sent from this site's own page, so nothing was "
    "done. Go back, reload the page and try again."
)
_PROBLEMS: Final = {
    404: "There is nothing at this address.",
    429: "Too many failed sign-ins from this network. Wait a few minutes, then try again.",
}


# ---------------------------------------------------------------------------------------------
# Helpers


def _awaiting_code() -> bool:
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        return False
    svc = services()
    with svc.db.transaction() as session:
        return sign_in.awaiting_second_factor(
            session, session_id, now=svc.clock.now(), limits=session_limits()
        )


def _end_current_session(session: Session) -> None:
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        sign_in.sign_out(session, session_id, now=services().clock.now())


def _enrolment_id() -> str:
    return request.cookies.get(ENROLMENT_COOKIE, "")


def _next_path() -> str | None:
    """The page to go to after signing in, if it is one of this site's own (never another's)."""
    target = request.args.get("next", "")
    parts = urlsplit(target)
    if not target.startswith("/") or target.startswith("//") or parts.scheme or parts.netloc:
        return None
    if "\\" in target or parts.path.startswith(SIGN_IN_PATH):
        return None
    return target


def _sign_in_url() -> str:
    target = _next_path()
    return f"{SIGN_IN_PATH}?{urlencode({'next': target})}" if target else SIGN_IN_PATH


def _set_cookie(response: Response, name: str, value: str, *, path: str) -> None:
    # Secure and HttpOnly always (TLS ends at the proxy, and browsers treat 127.0.0.1 as
    # secure for `make run`); Lax keeps it off other sites' form posts.
    response.set_cookie(name, value, path=path, secure=True, httponly=True, samesite="Lax")
