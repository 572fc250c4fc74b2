"""The JSON HTTP API under /api/v1, with its OpenAPI document generated from the code."""

from __future__ import annotations

from flask import Flask

from crisisline.api import access
from crisisline.api.access_log import blueprint as access_log_blueprint
from crisisline.api.alerts import blueprint as alerts_blueprint
from crisisline.api.common import (
    ROTA_PATH_PARAMETER,
    CrisisLineApi,
    RecordIdConverter,
    RotaConverter,
)
from crisisline.api.contacts import blueprint as contacts_blueprint
from crisisline.api.crisis_plans import blueprint as crisis_plans_blueprint
from crisisline.api.deliveries import blueprint as deliveries_blueprint
from crisisline.api.escalations import blueprint as escalations_blueprint
from crisisline.api.escalations import policies_blueprint as escalation_policies_blueprint
from crisisline.api.follow_ups import blueprint as follow_ups_blueprint
from crisisline.api.handover import blueprint as handover_blueprint
from crisisline.api.participants import blueprint as participants_blueprint
from crisisline.api.rate_limit import limit_api
from crisisline.api.reports import blueprint as reports_blueprint
from crisisline.api.retention import blueprint as retention_blueprint
from crisisline.api.rota_schemas import Instant
from crisisline.api.rotas import blueprint as rotas_blueprint
from crisisline.api.staff import blueprint as staff_blueprint
from crisisline.api.tokens import blueprint as tokens_blueprint
from crisisline.gate import declare_registered
from crisisline.permissions import Permission

__all__ = ["init_api"]


def init_api(app: Flask) -> CrisisLineApi:
    """Attach the API and its OpenAPI document to `app`."""
    app.config.update(
        API_TITLE="Resettle crisis line API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {
                "description": (
                    "Manage the crisis line's staff, participants and (in later versions) rotas, "
                    "escalations, contacts and alerts. Every request needs "
                    "`Authorization: Bearer <token>`. A token belongs to a person (acting with "
                    "their roles) or to an integration (holding its scopes); an administrator "
                    "issues one with `crisisline tokens create NAME --staff ID` or `--scope "
                    "contacts:read ...`, or POST /api/v1/tokens. An operation a token may not "
                    "perform answers 403. Errors are JSON with a `message` a person "
                    "can act on and, for invalid input (422), `errors` naming each field; a "
                    "query parameter an operation does not list is such a 422.\n\n"
                    "**Every read and change of a participant's record is logged** (who, when, "
                    "from where). With a personal token, opening the record of a participant "
                    "outside your own caseload or recent contacts needs a reason in the "
                    "`X-Access-Reason` header (3 to 500 characters), on every such request; "
                    "without one the answer is 403 naming the header. A record your role does "
                    "not reach answers 404, and lists show only what it reaches.\n\n"
                    "**Lists are paged: each answers 10 items unless `page_size` (at most 100) "
                    "asks for more.** The rest are on later pages (`page`, from 1): the `Link` "
                    'header (RFC 8288) gives the `rel="next"`, `"prev"`, `"first"` and `"last"` '
                    "pages' URLs, relative to the request and keeping its query, and "
                    "`X-Pagination` the totals as JSON text. Follow `next` until it is gone.\n\n"
                    "A time without an offset (2026-12-05T08:00) is local wall-clock time in the "
                    "rota's time zone, or the service's TIMEZONE where no rota is named; a time "
                    "the clocks skip is refused, and one they repeat needs its offset. A rota in "
                    "a path is its id or its name."
                )
            },
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearerAuth": []}],
        },
    )
    app.url_map.converters["id"] = RecordIdConverter
    app.url_map.converters["rota"] = RotaConverter
    api = CrisisLineApi(app)
    # The OpenAPI document is public: it describes the API, and every operation checks its own.
    declare_registered(app, "api-docs", Permission.PUBLIC)
    api.register_converter(RotaConverter, lambda converter: ROTA_PATH_PARAMETER)
    # An Instant is a string with or without an offset: not RFC 3339's date-time, which
    # needs one (a local time, read in the rota's or the service's zone, is valid input).
    api.register_field(Instant, "string", None)
    api.register_blueprint(staff_blueprint)
    api.register_blueprint(participants_blueprint)
    api.register_blueprint(crisis_plans_blueprint)
    api.register_blueprint(deliveries_blueprint)
    api.register_blueprint(contacts_blueprint)
    api.register_blueprint(escalation_policies_blueprint)
    api.register_blueprint(escalations_blueprint)
    api.register_blueprint(rotas_blueprint)
    api.register_blueprint(alerts_blueprint)
    api.register_blueprint(tokens_blueprint)
    api.register_blueprint(access_log_blueprint)
    api.register_blueprint(follow_ups_blueprint)
    api.register_blueprint(handover_blueprint)
    api.register_blueprint(reports_blueprint)
    api.register_blueprint(retention_blueprint)
    access.install(app)
    limit_api(
        app,
        app.extensions["crisisline"].settings,
        [
            staff_blueprint,
            participants_blueprint,
            crisis_plans_blueprint,
            deliveries_blueprint,
            contacts_blueprint,
            escalation_policies_blueprint,
            escalations_blueprint,
            rotas_blueprint,
            alerts_blueprint,
            tokens_blueprint,
            access_log_blueprint,
            follow_ups_blueprint,
            handover_blueprint,
            reports_blueprint,
            retention_blueprint,
        ],
    )
    return api
