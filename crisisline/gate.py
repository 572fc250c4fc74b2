"""The one place every request's permission is checked.

Each view states what it needs: `@requires(Permission.X)` on the view, or `declare(blueprint,
Permission.X)` for a whole blueprint (webhooks, health checks and secret links are declared
PUBLIC on purpose). Before any view runs, the gate finds the permission, finds who is asking (an
API bearer token, or the console's session cookie) and refuses what their roles or scopes do not
give: 401 (or, for a page in a browser, the sign-in page) when nobody is signed in, 403 (for a
browser, a page in the console's frame) when the actor may not. A view that declares nothing is
refused to everyone, and a test lists every route of the app and fails on any without a
declaration, so a new route cannot be left open by mistake.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final, TypeVar
from urllib.parse import urlencode

from flask import Blueprint, Flask, current_app, g, redirect, render_template, request
from flask.typing import ResponseReturnValue

from crisisline import tokens, web_sessions
from crisisline.permissions import Actor, Extent, Permission
from crisisline.services import services

log = logging.getLogger(__name__)

SESSION_COOKIE: Final = "crisisline_session"
SIGN_IN_PATH: Final = "/login"
_ATTRIBUTE: Final = "required_permission"
_BLUEPRINT_DEFAULTS: Final = "crisisline.gate.blueprints"

View = TypeVar("View", bound=Callable[..., object])


def requires(permission: Permission) -> Callable[[View], View]:
    """Declare the permission a view needs (the gate checks it before the view runs)."""

    def declare_view(view: View) -> View:
        setattr(view, _ATTRIBUTE, permission)
        return view

    return declare_view


def declare(blueprint: Blueprint, permission: Permission) -> Blueprint:
    """Declare the permission every view of `blueprint` needs, unless a view states its own."""
    setattr(blueprint, _ATTRIBUTE, permission)
    return blueprint


def declare_registered(app: Flask, blueprint_name: str, permission: Permission) -> None:
    """Declare the permission of a blueprint a library registered (flask-smorest's api-docs)."""
    app.extensions.setdefault(_BLUEPRINT_DEFAULTS, {})[blueprint_name] = permission


def permission_of(app: Flask, endpoint: str) -> Permission | None:
    """The permission an endpoint declares (its view's own, else its blueprint's), or None."""
    view = app.view_functions.get(endpoint)
    own = getattr(view, _ATTRIBUTE, None)
    if isinstance(own, Permission):
        return own
    blueprint, dot, _name = endpoint.rpartition(".")
    if not dot:
        return None
    declared = getattr(app.blueprints.get(blueprint), _ATTRIBUTE, None)
    if isinstance(declared, Permission):
        return declared
    defaults: dict[str, Permission] = app.extensions.get(_BLUEPRINT_DEFAULTS, {})
    return defaults.get(blueprint)


def install(app: Flask) -> None:
    """Check every request against its endpoint's permission before the view runs."""
    # Flask's own static files are public: the console's stylesheet is needed to sign in.
    app.extensions.setdefault(_BLUEPRINT_DEFAULTS, {})
    if "static" in app.view_functions:
        requires(Permission.PUBLIC)(app.view_functions["static"])
    app.before_request(_check)


def current_actor() -> Actor | None:
    """Whom this request acts for (bearer token, else console session), looked up once."""
    if "actor_identity" not in g:
        g.actor_identity = _identify()
    actor: Actor | None = g.actor_identity
    return actor


def bearer_credential() -> str | None:
    """The bearer token this request carries, or None."""
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        return None
    return credential.strip()


def is_api_request() -> bool:
    """Whether this request is to the JSON API (answered in JSON, never redirected)."""
    return request.path.startswith("/api/")


def _identify() -> Actor | None:
    svc = services()
    credential = bearer_credential()
    if credential is not None:
        with svc.db.transaction() as session:
            return tokens.identify(session, credential, now=svc.clock.now())
    if is_api_request():
        # The API takes bearer tokens only: a console cookie there would let another site's
        # page send API requests in a signed-in person's name (the API has no CSRF token).
        return None
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        with svc.db.transaction() as session:
            return web_sessions.identify(
                session, session_id, now=svc.clock.now(), limits=session_limits()
            )
    return None


def session_limits() -> web_sessions.Limits:
    """The console sessions' absolute and idle limits, from the settings."""
    settings = services().settings
    return web_sessions.Limits(
        absolute=settings.session_absolute_limit, idle=settings.session_idle_limit
    )


def _check() -> ResponseReturnValue | None:
    endpoint = request.endpoint
    if endpoint is None:
        return None  # no route matched: the 404 or 405 says so
    permission = permission_of(current_app, endpoint)
    if permission is None:
        # Fail closed: a view nobody declared is nobody's (the route-listing test catches it).
        log.error("refused %s: the view declares no permission", endpoint)
        return _refused("This page declares no permission, so nobody may use it.")
    if permission is Permission.PUBLIC:
        return None
    actor = current_actor()
    if actor is None:
        return _not_signed_in()
    extent = actor.extent(permission)
    if extent is None:
        return _refused(f"This needs the permission {permission}, which you do not hold.")
    if extent is Extent.OWN and permission is not Permission.SIGNED_IN:
        # An `own` grant (an on-call worker's rotas: their own shifts) opens no view that shows
        # everyone's records: no view narrows to one's own yet, so none is opened by it.
        return _refused(
            f"Your permission {permission} reaches only your own shifts: see them on the "
            "console's home page or in your calendar feed."
        )
    g.actor = actor.label
    return None


def _not_signed_in() -> ResponseReturnValue:
    if is_api_request() or bearer_credential() is not None:
        if bearer_credential() is None:
            message = (
                "Send Authorization: Bearer <token>; an administrator issues one with "
                "`crisisline tokens create NAME --staff STAFF_ID` (or --scope SCOPE)."
            )
        else:
            message = "This token is not valid, has expired or has been revoked."
        return (
            {"code": 401, "status": "Unauthorized", "message": message},
            401,
            {"WWW-Authenticate": 'Bearer realm="crisisline"'},
        )
    if not _wants_html():
        # curl or a script, not a browser: say where things are rather than redirect to a form.
        return {
            "code": 401,
            "status": "Unauthorized",
            "message": (
                f"This is a page of the staff console: sign in at {SIGN_IN_PATH} in a browser. "
                "The JSON API is under /api/v1 (its document: /api/v1/openapi.json; bearer "
                "tokens); /healthz reports the service's health."
            ),
        }, 401
    if request.method != "GET":
        return render_template("signed_out.html"), 401
    target = request.full_path.rstrip("?")
    return redirect(f"{SIGN_IN_PATH}?{urlencode({'next': target})}")


def _refused(message: str) -> ResponseReturnValue:
    if is_api_request() or bearer_credential() is not None or not _wants_html():
        return {"code": 403, "status": "Forbidden", "message": message}, 403
    # The console's page (crisisline/console/templates), in the console's frame.
    return render_template("refused.html", message=message), 403


def _wants_html() -> bool:
    # Browsers name text/html; curl and API clients send */* or JSON.
    return any(kind == "text/html" for kind, _quality in request.accept_mimetypes)
