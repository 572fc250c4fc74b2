"""Every route of the app declares the permission it needs, and the public ones are exactly a
list a reviewer can read: the enumerating test. A route that declares nothing is refused to
everyone, and every public route has its own check (Twilio's signature, a secret link)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Blueprint, Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from crisisline import gate
from crisisline.app import create_app
from crisisline.models import StaffRole
from crisisline.permissions import SCOPES, Permission
from tests.support.app import make_settings, services_of
from tests.support.people import integration, person

DOCS = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"
OPENAPI_DOCUMENT = "api-docs.openapi_json"

# Every endpoint anyone may use without signing in, and what protects it instead. Adding one
# here is a decision: say why in the comment and in docs/permissions.md's "Public routes".
PUBLIC_ENDPOINTS = {
    # Twilio's webhooks: Twilio cannot sign in; each view checks X-Twilio-Signature.
    "voice_webhooks.incoming_call",
    "voice_webhooks.status",
    "voice_webhooks.screen",
    "voice_webhooks.screen_answer",
    "voice_webhooks.dial_finished",
    "voice_webhooks.voicemail",
    "voice_webhooks.call_back",
    "voice_webhooks.call_back_done",
    "fallback_webhooks.voice_fallback",
    "fallback_webhooks.sms_fallback",
    "sms_webhooks.sms",
    "delivery_webhooks.delivery_status",
    "escalation_call_webhooks.call",
    "escalation_call_webhooks.keypress",
    # Health checks for load balancers and monitors: no personal data in them.
    "health.healthz",
    "health.livez",
    # Calendar feeds: calendar apps cannot sign in; the link is its own random secret.
    "calendar_feeds.rota_feed",
    "calendar_feeds.staff_feed",
    # The missed-call text's voicemail link: signed with SECRET_KEY and expiring.
    "voicemail_links.listen",
    # The OpenAPI document: describes the API, holds no data.
    OPENAPI_DOCUMENT,
    # Flask's static files and the console's assets: the stylesheet the sign-in page needs.
    "static",
    "console_assets.static",
    # htmx, the script that refreshes the Now board in place; the same file for everyone.
    "console_htmx.static",
    # Signing in: nobody is signed in yet. Forms carry CSRF tokens; sign-ins are rate-limited
    # and lock the account after 10 failures.
    "console.sign_in_page",
    "console.sign_in_step",
    # Signing out works whatever state the session is in (a CSRF-checked form).
    "console.sign_out",
    # The invitation link (a one-time token) and the set-up steps the spent link opens (tied to
    # the enrolment cookie it sets, with no secret in their URL).
    "console.invitation",
    "console.accept_invitation",
    "console.enrolment",
    "console.enrolment_password",
    "console.enrolment_code",
}


@pytest.fixture
def routes_app(tmp_path: Path) -> Iterator[Flask]:
    """The whole app, for listing its routes (no request reaches a database)."""
    application = create_app(
        {"TESTING": True}, settings=make_settings(tmp_path, f"sqlite:///{tmp_path}/routes.db")
    )
    yield application
    services_of(application).db.dispose()


def rules(app: Flask) -> list[Rule]:
    return sorted(app.url_map.iter_rules(), key=lambda rule: (rule.rule, rule.endpoint))


def methods(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


def documented_path(rule: Rule) -> str:
    """The rule's path as docs/permissions.md writes it: `<id:alert_id>` is `{alert_id}`."""
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)


def example_path(rule: Rule) -> str:
    """The rule's path with a made-up value for each variable (a record that does not exist)."""
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", "1", rule.rule)


def test_every_route_declares_a_permission(routes_app: Flask) -> None:
    undeclared = [
        f"{rule.rule} ({rule.endpoint})"
        for rule in rules(routes_app)
        if gate.permission_of(routes_app, rule.endpoint) is None
    ]
    assert undeclared == []


def test_the_public_endpoints_are_exactly_the_listed_ones(routes_app: Flask) -> None:
    public = {
        rule.endpoint
        for rule in rules(routes_app)
        if gate.permission_of(routes_app, rule.endpoint) is Permission.PUBLIC
    }
    assert public == PUBLIC_ENDPOINTS


def test_every_api_operation_but_the_openapi_document_needs_a_grantable_permission(
    routes_app: Flask,
) -> None:
    api = [rule for rule in rules(routes_app) if rule.rule.startswith("/api/v1")]
    assert len(api) > 30, "the API's routes were not found"
    not_granted = [
        f"{rule.rule} ({rule.endpoint}): {gate.permission_of(routes_app, rule.endpoint)}"
        for rule in api
        if rule.endpoint != OPENAPI_DOCUMENT
        and gate.permission_of(routes_app, rule.endpoint) not in SCOPES
    ]
    assert not_granted == []


def test_docs_permissions_lists_each_operation_and_page_under_its_permission(
    routes_app: Flask,
) -> None:
    text = DOCS.read_text(encoding="utf-8")
    documented: set[tuple[str, str]] = set()
    for line in text.splitlines():
        row = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(row) == 3 and re.fullmatch(r"`[a-z:-]+`", row[0]):
            for operation in re.findall(r"`([A-Z]+ /[^`]*)`", row[2]):
                documented.add((row[0].strip("`"), operation))
    served = {
        (str(gate.permission_of(routes_app, rule.endpoint)), f"{method} {documented_path(rule)}")
        for rule in rules(routes_app)
        if gate.permission_of(routes_app, rule.endpoint) in SCOPES
        for method in methods(rule)
    }
    assert sorted(served - documented) == [], "served but not in docs/permissions.md"
    assert sorted(documented - served) == [], "in docs/permissions.md but not served"


def test_docs_permissions_explains_every_public_route(routes_app: Flask) -> None:
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("## Public routes") :]
    section = section[: section.index("\n## ", 1)]
    explained = {span.split()[-1] for span in re.findall(r"`((?:[A-Z]+ )?/[^`]*)`", section)}
    public = {
        documented_path(rule)
        for rule in rules(routes_app)
        if gate.permission_of(routes_app, rule.endpoint) is Permission.PUBLIC
    }
    assert sorted(public - explained) == []


def test_without_a_token_every_api_operation_but_the_document_is_401(routes_app: Flask) -> None:
    client = routes_app.test_client()
    answers = {
        f"{method} {rule.rule}": client.open(example_path(rule), method=method).status_code
        for rule in rules(routes_app)
        if rule.rule.startswith("/api/v1") and rule.endpoint != OPENAPI_DOCUMENT
        for method in methods(rule)
    }
    assert {operation: status for operation, status in answers.items() if status != 401} == {}
    assert client.get("/api/v1/openapi.json").status_code == 200


def test_every_public_webhook_refuses_an_unsigned_request(routes_app: Flask) -> None:
    client = routes_app.test_client()
    webhooks = [rule for rule in rules(routes_app) if rule.rule.startswith("/webhooks/")]
    assert {rule.endpoint for rule in webhooks} <= PUBLIC_ENDPOINTS
    answers = {
        rule.rule: client.post(example_path(rule), data={"CallSid": "CA" + "0" * 32}).status_code
        for rule in webhooks
    }
    assert answers == dict.fromkeys(answers, 403)


def test_a_made_up_calendar_or_voicemail_link_is_not_found(client: FlaskClient) -> None:
    assert client.get("/calendar/rotas/made-up-token.ics").status_code == 404
    assert client.get("/calendar/staff/made-up-token.ics").status_code == 404
    assert client.get("/voicemail/made-up-token").status_code == 404


def test_a_view_that_declares_nothing_is_refused_to_everyone(app: Flask) -> None:
    ran: list[str] = []
    throwaway = Blueprint("throwaway", __name__)

    @throwaway.get("/throwaway")
    @throwaway.get("/api/v1/throwaway")
    def undeclared() -> str:
        ran.append("ran")
        return "nobody should see this"

    app.register_blueprint(throwaway)
    assert gate.permission_of(app, "throwaway.undeclared") is None
    everyone = {
        "nobody signed in": {},
        "a person with every role": person(
            app, "Esther Mensah", "+447700900301", list(StaffRole)
        ).headers,
        "an integration with every scope": integration(app, "everything", SCOPES),
    }
    client = app.test_client()
    answers = {
        (who, path): client.get(path, headers=headers).status_code
        for who, headers in everyone.items()
        for path in ("/throwaway", "/api/v1/throwaway")
    }
    assert answers == dict.fromkeys(answers, 403)
    assert ran == []
