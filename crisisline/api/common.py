"""What every API blueprint shares: bearer auth, error bodies, phone fields, the actor's name."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from typing import Any, Final
from urllib.parse import urlencode

from flask import Response, current_app, g, request
from flask.typing import ResponseReturnValue
from flask_smorest import Api, Blueprint, abort
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy.exc import DataError, StatementError
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import BaseConverter, IntegerConverter, Map
from werkzeug.routing import ValidationError as NoMatch

from crisisline import phones
from crisisline.errors import Conflict, DomainError, NotFound
from crisisline.gate import current_actor
from crisisline.record_schemas import MAX_ID as MAX_ID
from crisisline.record_schemas import RecordId as RecordId
from crisisline.record_schemas import flatten_messages as flatten_messages
from crisisline.services import services

# Every record id is an INTEGER column: PostgreSQL's 32-bit int4. The OpenAPI document states
# this maximum for every id, in paths, queries and bodies, and the API holds to it: a larger id
# in a path matches no record (404), in a query or a body it is invalid input naming the field
# (422). Before, the document set no maximum and such an id reached the database and came
# back as an unnamed "out of range". MAX_ID and RecordId live with the record checks
# (crisisline.record_schemas), which the CSV imports and the console share.

# The highest page a list answers. flask-smorest sets no maximum; a page past the database's
# 64-bit OFFSET came back as an unnamed "out of range". Any page past the last is empty.
MAX_PAGE: Final = 2**31 - 1

# The longest URL (path and query) the API reads. gunicorn refuses request lines longer than
# its limit_request_line (set to its maximum, 8190, in config/gunicorn.conf.py) with an HTML
# page a client cannot parse; below that the app answers a JSON 414 itself.
MAX_URL_LENGTH: Final = 8000


class RecordIdConverter(IntegerConverter):
    """`<id:name>` in a route: a record id from 0 to MAX_ID; anything larger matches nothing."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        super().__init__(map, min=0, max=MAX_ID)


class RotaConverter(BaseConverter):
    """`<rota:name>` in a route: a rota's id (digits alone, up to MAX_ID) or its name.

    Rota names are never digits alone (rota_service refuses them), so a segment reads one way.
    """

    # /rotas/gaps is the gaps list: no rota route may match it for another method, or OPTIONS
    # and a 405 there would offer PATCH and DELETE (werkzeug checks methods before to_python).
    regex = r"(?!gaps(?![^/]))[^/]+"

    def to_python(self, value: str) -> int | str:
        if value.isascii() and value.isdigit():
            if int(value) > MAX_ID:
                raise NoMatch()  # no record can have it: 404, as for <id:...>
            return int(value)
        return value

    def to_url(self, value: Any) -> str:
        return super().to_url(str(value))


ROTA_PATH_PARAMETER: dict[str, Any] = {
    "type": "string",
    "description": "The rota's id, or its name (any case if only one rota has it): "
    "/rotas/7/on-call, /rotas/primary/on-call.",
}


class PhoneNumber(fields.String):
    """A phone number in any common form, loaded as E.164 using the service's DEFAULT_REGION."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return phones.normalise(text, services().settings.default_region)
        except phones.InvalidPhoneNumber as exc:
            raise ValidationError(f"{text!r} {exc}") from exc


RATE_LIMITED_RESPONSE: dict[str, Any] = {
    "description": "Too many requests from this token (API_RATE_LIMIT); wait and go on.",
    "headers": {
        "Retry-After": {
            "description": "Seconds until the token may send again.",
            "schema": {"type": "integer"},
        }
    },
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


class CrisisLineApi(Api):  # type: ignore[misc]
    """flask-smorest's Api with error bodies that say in words what to fix."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        app.register_error_handler(DomainError, _domain_error)
        # Numbers past 64 bits and dates near year 1 or 9999 overflow in the driver or in the
        # conversion to UTC, wherever they are used: answer 422, never 500.
        app.register_error_handler(OverflowError, _out_of_range)
        app.register_error_handler(DataError, _out_of_range)
        app.register_error_handler(StatementError, _statement_error)
        app.before_request(_refuse_long_urls)
        # Every API operation can answer 429 (crisisline/api/rate_limit.py); the document says so.
        self.spec.components.response("RATE_LIMITED", RATE_LIMITED_RESPONSE, lazy=True)

    def handle_http_exception(self, error: HTTPException) -> ResponseReturnValue:
        """JSON for every HTTP error, with a one-line `message` naming each invalid field."""
        if error.code == 429:
            # Flask-Limiter's message says the limit; its after_request adds Retry-After.
            return {"code": 429, "status": "Too Many Requests", "message": error.description}, 429
        if error.code == 404 and not getattr(error, "data", None):
            # No route matched: a wrong path, or an id past MAX_ID, which no record can have.
            return {
                "code": 404,
                "status": "Not Found",
                "message": "Nothing is at this URL: check the path, and that each id is a whole "
                f"number from 0 to {MAX_ID}.",
            }, 404
        if isinstance(error, MethodNotAllowed):
            # RFC 9110: a 405 names the methods the resource does support.
            return _method_not_allowed(error)
        response: ResponseReturnValue = super().handle_http_exception(error)
        if error.code == 422:
            messages = getattr(error, "data", {}).get("messages", {})
            problems = list(flatten_messages(messages))
            body = {
                "code": 422,
                "status": "Unprocessable Entity",
                "message": "Invalid input: " + "; ".join(f"{k}: {v}" for k, v in problems),
                "errors": messages,
            }
            return body, 422
        return response


def _refuse_missing_body() -> None:
    message = "This request needs a JSON object body (Content-Type: application/json)."
    abort(422, messages={"json": {"body": [message]}})


def _refuse_long_urls() -> ResponseReturnValue | None:
    # For every route of the app (API, webhooks, feeds): Twilio's URLs are short, and a JSON
    # 414 reads as well to any client as gunicorn's HTML one would not.
    target = request.environ.get("RAW_URI") or request.full_path
    if len(target) <= MAX_URL_LENGTH:
        return None
    return {
        "code": 414,
        "status": "URI Too Long",
        "message": f"The URL is {len(target)} characters long; the most the API reads is "
        f"{MAX_URL_LENGTH}. Send fewer or shorter query parameters.",
    }, 414


def _method_not_allowed(error: MethodNotAllowed) -> ResponseReturnValue:
    allowed = ", ".join(sorted(error.valid_methods or []))
    return (
        {
            "code": 405,
            "status": "Method Not Allowed",
            "message": f"This resource answers {allowed}." if allowed else "Method not allowed.",
        },
        405,
        {"Allow": allowed},
    )


def _out_of_range(error: Exception) -> ResponseReturnValue:
    return {
        "code": 422,
        "status": "Unprocessable Entity",
        "message": "Invalid input: a number or a date is out of range.",
    }, 422


def _statement_error(error: StatementError) -> ResponseReturnValue:
    if isinstance(error.orig, OverflowError | ValueError) or isinstance(error, DataError):
        return _out_of_range(error)
    raise error


def _domain_error(error: DomainError) -> ResponseReturnValue:
    status = 404 if isinstance(error, NotFound) else 409 if isinstance(error, Conflict) else 422
    body: dict[str, Any] = {"code": status, "message": error.message}
    if error.field:
        body["errors"] = {"json": {error.field: [error.message]}}
    return body, status


# What X-Pagination holds, as it is sent: the header's text is a JSON object.
PAGINATION_HEADER: dict[str, Any] = {
    "description": (
        "Paging, as a JSON object in the header's text: `total` (items), `total_pages`, "
        "and where there are items `first_page`, `last_page`, `page`, `previous_page` and "
        "`next_page` (each only when it exists)."
    ),
    "schema": {"type": "string"},
    "example": (
        '{"total": 42, "total_pages": 5, "first_page": 1, "last_page": 5, "page": 2, '
        '"previous_page": 1, "next_page": 3}'
    ),
}


# RFC 8288 links to the other pages of a list, beside X-Pagination.
LINK_HEADER: dict[str, Any] = {
    "description": (
        'Links to the other pages (RFC 8288): rel="first", "last", "prev" and "next", each only '
        "when that page exists, as the request's own path and query with `page` changed. The "
        "URLs are relative: resolve them against the request's URL."
    ),
    "schema": {"type": "string"},
    "example": (
        '</api/v1/participants?status=active&page=3>; rel="next", '
        '</api/v1/participants?status=active&page=1>; rel="prev", '
        '</api/v1/participants?status=active&page=1>; rel="first", '
        '</api/v1/participants?status=active&page=5>; rel="last"'
    ),
}

# The relation of each X-Pagination page number, in the order the Link header lists them.
_LINK_RELATIONS: Final = (
    ("next_page", "next"),
    ("previous_page", "prev"),
    ("first_page", "first"),
    ("last_page", "last"),
)


def page_links(metadata: dict[str, Any]) -> str:
    """The RFC 8288 Link header's value for a list page whose X-Pagination is `metadata`."""
    links = []
    for key, relation in _LINK_RELATIONS:
        if key in metadata:
            query = [(k, v) for k, v in request.args.items(multi=True) if k != "page"]
            query.append(("page", str(metadata[key])))
            # Relative to the request's URL, so a proxy's scheme and host need not be trusted.
            links.append(f'<{request.path}?{urlencode(query)}>; rel="{relation}"')
    return ", ".join(links)


class CrisisLineBlueprint(Blueprint):  # type: ignore[misc]
    """flask-smorest's Blueprint: a required JSON body must be sent, X-Pagination is
    documented as the JSON text it is, and each page links to the others (Link)."""

    def arguments(self, schema: Any, **kwargs: Any) -> Callable[[Any], Any]:
        """flask-smorest's `arguments`, refusing a missing JSON body where one is required.

        webargs reads a missing body as {}: a PATCH with all-optional fields would then change
        nothing and answer 200, though the document says the body is required.
        """
        decorate = super().arguments(schema, **kwargs)
        if kwargs.get("location", "json") != "json" or not kwargs.get("required", True):
            return decorate  # type: ignore[no-any-return]

        def decorator(view: Any) -> Any:
            parsed = decorate(view)

            @functools.wraps(parsed)
            def with_body(*args: Any, **view_kwargs: Any) -> Any:
                if not request.get_data(cache=True).strip():
                    _refuse_missing_body()
                return parsed(*args, **view_kwargs)

            return with_body

        return decorator

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._prepare_doc_cbks.append(self._prepare_rate_limit_doc)

    def _prepare_rate_limit_doc(self, doc: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        doc.setdefault("responses", {})[429] = "RATE_LIMITED"
        return doc

    def paginate(self, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        """flask-smorest's `paginate`, with `page` at most MAX_PAGE in the document and in fact."""
        decorate = super().paginate(*args, **kwargs)

        def decorator(view: Any) -> Any:
            paged = decorate(view)
            parameters = paged._apidoc["pagination"]["parameters"]
            bounded = _bounded_pages(parameters["schema"])
            parameters["schema"] = bounded

            @functools.wraps(paged)
            def within_pages(*view_args: Any, **view_kwargs: Any) -> Any:
                # A page past the maximum is a 422 naming `page`, as webargs answers any bad page.
                _PAGE_PARSER.parse(bounded, request, location="query")
                return paged(*view_args, **view_kwargs)

            return within_pages

        return decorator

    def _document_pagination_metadata(self, spec: Any, resp_doc: dict[str, Any]) -> None:
        # flask-smorest documents the header as an object but sends json.dumps of it; a
        # client reading the document must know to parse the header's text as JSON.
        resp_doc.setdefault("headers", {})[self.PAGINATION_HEADER_NAME] = PAGINATION_HEADER
        resp_doc["headers"]["Link"] = LINK_HEADER

    def _set_pagination_metadata(
        self, page_params: Any, result: Any, headers: Any
    ) -> tuple[Any, Any]:
        if isinstance(result, Response):
            return result, headers  # a whole export (CSV), not a page
        result, headers = super()._set_pagination_metadata(page_params, result, headers)
        links = page_links(json.loads(headers[self.PAGINATION_HEADER_NAME]))
        if links:
            headers["Link"] = links
        return result, headers


_PAGE_PARSER = FlaskParser()


def _bounded_pages(schema: type[Schema]) -> type[Schema]:
    page = schema._declared_fields["page"]
    bounded_page = fields.Integer(
        load_default=page.load_default, validate=validate.Range(min=1, max=MAX_PAGE)
    )
    return type(schema.__name__, (schema,), {"page": bounded_page})


def protected_blueprint(
    name: str, import_name: str, url_prefix: str, description: str
) -> Blueprint:
    """An API blueprint; each of its views declares its permission (crisisline.gate checks it)."""
    blueprint = CrisisLineBlueprint(
        name, import_name, url_prefix=url_prefix, description=description
    )
    blueprint.before_request(_refuse_nul_characters)
    blueprint.before_request(_refuse_unknown_query_parameters)
    return blueprint


@functools.cache  # a view's document is fixed once it is registered: read it once per view
def query_parameters(view: Any) -> frozenset[str]:
    """The query parameters a view's OpenAPI operation lists: its filters, and paging."""
    apidoc: dict[str, Any] = getattr(view, "_apidoc", {})
    names: set[str] = set()
    for parameter in apidoc.get("arguments", {}).get("parameters", []):
        if parameter.get("in") != "query":
            continue
        schema = parameter["schema"]
        schema = schema() if isinstance(schema, type) else schema
        names.update(field.data_key or name for name, field in schema.load_fields.items())
    pagination = apidoc.get("pagination")
    if pagination:
        names.update(pagination["parameters"]["schema"]._declared_fields)
    return frozenset(names)


def _refuse_unknown_query_parameters() -> None:
    # A filter the endpoint does not know was ignored, so `?reference=R1001` answered with
    # everyone: a reader takes the first row for the person asked about. Refuse it, naming it.
    # One check against the names the document lists (filters and page/page_size) rather than
    # marshmallow's unknown=RAISE on each filter schema: flask-smorest parses paging with a
    # schema of its own, so RAISE on the filters would refuse `page`, and lists without
    # filters would have nothing to raise.
    view = current_app.view_functions.get(request.endpoint or "")
    known = query_parameters(view)
    unknown = sorted(set(request.args) - known)
    if not unknown:
        return
    takes = ", ".join(sorted(known)) if known else "no query parameters"
    message = f"is not a parameter of this endpoint, which takes {takes}"
    abort(422, messages={"query": {name: [message] for name in unknown}})


_NUL_MESSAGE = "must not contain NUL characters"


def _refuse_nul_characters() -> None:
    # PostgreSQL can neither store nor compare text holding NUL: a filter or a field with one
    # came back from the database as an unnamed "out of range". Name the parameter instead.
    for name, values in request.args.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            abort(422, messages={"query": {name.replace("\x00", ""): [_NUL_MESSAGE]}})
    if request.is_json:
        where = _nul_in(request.get_json(silent=True))
        if where is not None:
            abort(422, messages={"json": {where or "body": [_NUL_MESSAGE]}})


def _nul_in(value: Any, path: str = "") -> str | None:
    """The dotted path of the first string holding NUL in a JSON value, or None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        items: Iterator[tuple[str, Any]] = ((str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return None
    for key, item in items:
        if "\x00" in key:
            return f"{path}.{key}".strip(".").replace("\x00", "")
        found = _nul_in(item, f"{path}.{key}" if path else key)
        if found is not None:
            return found
    return None


def operator() -> str:
    """Who is acting, as staff texts name them: a person's name, or the integration's label."""
    who = current_actor()
    if who is None:
        return actor()
    return who.name if who.kind == "person" else who.label


def actor() -> str:
    """Who is making this request, as the audit log names them."""
    return str(g.get("actor", "unknown"))
