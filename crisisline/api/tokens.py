"""/api/v1/tokens: list, issue and revoke API tokens (token administration)."""

from __future__ import annotations

import dataclasses
from typing import Any

from marshmallow import Schema, fields, validate

from crisisline import tokens
from crisisline.api.common import RecordId, actor, protected_blueprint
from crisisline.api.rota_schemas import Instant
from crisisline.gate import current_actor, requires
from crisisline.permissions import Permission
from crisisline.services import services

blueprint = protected_blueprint(
    "tokens",
    __name__,
    "/api/v1/tokens",
    "API tokens: each belongs to a person (acting with their roles) or to an integration "
    "(holding its scopes); only a hash of each is kept.",
)

_SCOPES_DESCRIPTION = (
    "An integration's scopes (omit for a person's token): any of "
    + ", ".join(f"`{name}`" for name in tokens.scope_names())
    + "."
)


class TokenSchema(Schema):
    """An API token as an administrator sees it (never its secret, which is not kept)."""

    id = fields.Integer(dump_only=True)
    name = fields.String(dump_only=True)
    owner = fields.String(
        dump_only=True,
        metadata={"description": "Whom its actions are recorded as: staff:ID or integration:NAME."},
    )
    staff_id = fields.Integer(dump_only=True, allow_none=True)
    staff_name = fields.String(dump_only=True, allow_none=True)
    scopes = fields.List(
        fields.String(),
        dump_only=True,
        allow_none=True,
        metadata={"description": "An integration's scopes; null for a person's token."},
    )
    legacy = fields.Boolean(
        dump_only=True,
        metadata={
            "description": "Made before tokens had owners: an integration with every scope. "
            "Issue a replacement and revoke it."
        },
    )
    created_at = fields.DateTime(dump_only=True)
    created_by = fields.String(dump_only=True, allow_none=True)
    last_used_at = fields.DateTime(dump_only=True, allow_none=True)
    expires_at = fields.DateTime(dump_only=True, allow_none=True)
    revoked_at = fields.DateTime(dump_only=True, allow_none=True)
    state = fields.String(
        dump_only=True, metadata={"description": "live, expired, revoked or owner inactive."}
    )


class NewTokenSchema(Schema):
    """A token to issue: to a person (`staff_id`) or to an integration (`scopes`)."""

    name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=tokens.MAX_NAME_LENGTH),
        metadata={"description": "What uses it (not digits alone), e.g. case-management."},
    )
    staff_id = RecordId(
        load_default=None,
        allow_none=True,
        metadata={"description": "The person it acts for, with their roles, while active."},
    )
    scopes = fields.List(
        fields.String(validate=validate.Length(min=1, max=40)),
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=len(tokens.scope_names())),
        metadata={"description": _SCOPES_DESCRIPTION},
    )
    expires_at = Instant(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "When it stops working (ISO 8601; without an offset, the service's "
            "TIMEZONE); null or omitted: never.",
            "example": "2027-03-31T23:59",
        },
    )


class IssuedTokenSchema(TokenSchema):
    """A token just issued, with its secret: shown this once, never again."""

    token = fields.String(
        dump_only=True,
        metadata={"description": "The bearer secret. Store it now: only its hash is kept."},
    )


@blueprint.route("", methods=["GET"])
@blueprint.response(200, TokenSchema(many=True))
@blueprint.paginate()
@requires(Permission.TOKENS_ADMIN)
def list_tokens(pagination_parameters: Any) -> list[tokens.TokenListing]:
    """List API tokens, oldest first: owner, scopes, last use, expiry, revocation."""
    svc = services()
    with svc.db.transaction() as session:
        rows, total = tokens.list_tokens(
            session,
            now=svc.clock.now(),
            offset=pagination_parameters.first_item,
            limit=pagination_parameters.page_size,
        )
    pagination_parameters.item_count = total
    return rows


@blueprint.route("", methods=["POST"])
@blueprint.arguments(NewTokenSchema)
@blueprint.response(201, IssuedTokenSchema)
@requires(Permission.TOKENS_ADMIN)
def create_token(data: dict[str, Any]) -> dict[str, Any]:
    """Issue a token; the answer holds its secret this once. Nobody may issue a token that
    may do more than they may."""
    svc = services()
    now = svc.clock.now()
    with svc.db.transaction() as session:
        plaintext, token = tokens.create(
            session,
            data["name"],
            actor=actor(),
            now=now,
            staff_id=data["staff_id"],
            scopes=data["scopes"],
            expires_at=data["expires_at"],
            issuer=current_actor(),
        )
        listed = tokens.listing(session, token, now=now)
    return {**dataclasses.asdict(listed), "token": plaintext}


@blueprint.route("/<id:token_id>", methods=["GET"])
@blueprint.response(200, TokenSchema)
@requires(Permission.TOKENS_ADMIN)
def get_token(token_id: int) -> tokens.TokenListing:
    """One API token."""
    svc = services()
    with svc.db.transaction() as session:
        return tokens.listing(session, tokens.get(session, token_id), now=svc.clock.now())


@blueprint.route("/<id:token_id>/revoke", methods=["POST"])
@blueprint.response(200, TokenSchema)
@requires(Permission.TOKENS_ADMIN)
def revoke_token(token_id: int) -> tokens.TokenListing:
    """Revoke a token at once (revoking one already revoked changes nothing)."""
    svc = services()
    now = svc.clock.now()
    with svc.db.transaction() as session:
        token = tokens.get(session, token_id)
        tokens.revoke(session, token, actor=actor(), now=now)
        return tokens.listing(session, token, now=now)
