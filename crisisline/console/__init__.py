"""The staff console: server-rendered pages for the people who run the line (sign-in first).

`init_console` attaches it to the app with what every page needs: CSRF tokens on its forms
(Flask-WTF, checked for this blueprint only: Twilio's webhooks are signed and the API takes
bearer tokens, so neither has a form to forge), security headers on every answer of the app
(flask-talisman), a limit on failed sign-ins per address (the app's one Flask-Limiter, the
API's), and Flask's signed-cookie session, which holds only the CSRF secret and one-off notices.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Final, cast

from flask import Blueprint, Flask, Request, g
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask.typing import RouteCallable
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_talisman import Talisman
from werkzeug.datastructures import Headers
from werkzeug.wrappers import Response

# Each area of the console adds its views to the one blueprint when imported.
from crisisline.console import (  # noqa: F401
    alerts_pages,
    crisis_plan_pages,
    escalation_actions,
    follow_up_pages,
    handover_pages,
    note_link_pages,
    note_pages,
    now_pages,
    participant_pages,
    plan_view_pages,
    record_admin_pages,
    report_pages,
    retention_pages,
    rota_pages,
    subject_access_pages,
    views,
)
from crisisline.console.common import SERVICE_NAME, blueprint, csrf
from crisisline.gate import declare
from crisisline.permissions import Permission

__all__ = ["SERVICE_NAME", "FormSessions", "init_console"]

# Failed sign-ins (a wrong password or code) from one address, before it must wait. Each
# account locks after ten of its own; this stops one address trying a few against each of many.
FAILED_SIGN_INS_PER_ADDRESS: Final = "30 per 15 minutes"
FORM_COOKIE: Final = "crisisline_form"

# Scripts and styles only from the service's own files: no inline script or style anywhere.
CONTENT_SECURITY_POLICY: Final = {
    "default-src": "'self'",
    "base-uri": "'none'",
    "object-src": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
# Paths that never show a form: a session (and its cookie) is never opened for them.
_MACHINE_PATHS: Final = ("/api/", "/webhooks/")

assets = Blueprint("console_assets", __name__, static_folder="static", static_url_path="/assets")
# The stylesheet is needed before anyone has signed in.
declare(assets, Permission.PUBLIC)
# htmx, served from its package (django-js-lib-htmx ships the files; nothing of Django is used).
htmx = Blueprint(
    "console_htmx",
    __name__,
    static_folder=str(files("js_lib_htmx") / "static" / "htmx"),
    static_url_path="/assets/htmx",
)
declare(htmx, Permission.PUBLIC)


class SecurityHeaders(Talisman):  # type: ignore[misc]  # flask-talisman ships no types
    """flask-talisman, keeping a Referrer-Policy that a view chose for itself.

    The voicemail link answers `no-referrer` (its URL is the secret that plays the message); the
    app's `same-origin` elsewhere still lets Flask-WTF check that a form came from this site.
    """

    def _set_referrer_policy_headers(self, headers: Headers) -> None:
        headers.setdefault("Referrer-Policy", self.referrer_policy)


class FormSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie session, for the console's pages only.

    It holds the CSRF secret and flashed notices, never who is signed in (that is the
    database's `web_sessions`). Twilio's webhooks and the JSON API get no session at all, so no
    cookie is ever set on their answers and their hot path does no cookie work.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """A null session for the machine paths, the signed cookie's session elsewhere."""
        if request.path.startswith(_MACHINE_PATHS):
            return self.make_null_session(app)
        return super().open_session(app, request)


def init_console(app: Flask, *, https: bool) -> None:
    """Attach the console, its CSRF checks, the app's security headers and the sign-in limit.

    `https`: whether PUBLIC_BASE_URL is https, so that browsers may be told to insist on it.
    """
    app.session_interface = FormSessions()
    app.config.update(
        SESSION_COOKIE_NAME=FORM_COOKIE,
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Checked by the console blueprint itself, not for every route of the app.
        WTF_CSRF_CHECK_DEFAULT=False,
    )
    csrf.init_app(app)
    SecurityHeaders(
        app,
        # TLS ends at the proxy; the app cannot tell a plain request from a proxied one.
        force_https=False,
        strict_transport_security=https,
        strict_transport_security_include_subdomains=False,
        frame_options="DENY",
        content_security_policy=CONTENT_SECURITY_POLICY,
        referrer_policy="same-origin",
        # Obsolete, and harmful in old browsers; the CSP is what protects.
        x_xss_protection=False,
        session_cookie_secure=True,
        session_cookie_http_only=True,
        session_cookie_samesite="Lax",
    )
    app.register_blueprint(assets)
    app.register_blueprint(htmx)
    app.register_blueprint(blueprint)
    _limit_failed_sign_ins(app)


def _limit_failed_sign_ins(app: Flask) -> None:
    limiters: set[Limiter] | None = app.extensions.get("limiter")
    if not limiters:
        return  # Flask-Limiter switched off for the whole app (RATELIMIT_ENABLED=False)
    # One Limiter for the app (the API's, crisisline.api.rate_limit): one store of counts.
    (limiter,) = limiters
    endpoint = "console.sign_in_step"
    limited = limiter.limit(
        FAILED_SIGN_INS_PER_ADDRESS,
        key_func=get_remote_address,
        methods=["POST"],
        scope="sign-in",
        # Only a failed sign-in counts: a person who gets it right is never held up.
        deduct_when=_failed,
    )(app.view_functions[endpoint])
    app.view_functions[endpoint] = cast(RouteCallable, limited)


def _failed(_response: Response) -> bool:
    return bool(g.get("sign_in_failed", False))
