"""The API keeps the contract its OpenAPI document states, checked property by property.

schemathesis reads /api/v1/openapi.json and sends generated requests (valid and invalid) to
every operation through the WSGI app, on each configured database: any 500, or any answer whose
status, headers or body the document does not describe, fails the test. The number of examples
is fixed so the run stays short in CI; hypothesis' database is off so every run is the same.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from crisisline.app import create_app
from tests.support.app import make_settings

# Examples per operation and engine: 20 keeps the run to about two minutes on two cores. For a
# deeper run before a release, set API_CONTRACT_EXAMPLES (e.g. 200) and run this file alone.
API_EXAMPLES = int(os.environ.get("API_CONTRACT_EXAMPLES", "20"))

# The document is generated from the code, so any app gives the same one: this one only serves
# it (its database is never opened). Each test sends its requests to the `app` fixture's app,
# on the engine that test runs on.
_document_app = create_app(settings=make_settings(Path("/nonexistent"), "sqlite://"))
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", _document_app)
# Every test sends a valid token itself (the 401s have their own tests), and query parameters
# the document does not list are refused (422 naming them) by a check with its own tests
# (test_api_filters_and_paging.py): generated requests keep to the listed ones.
schema.config.generation.update(allow_extra_parameters=False, with_security_parameters=False)


def valid_input_is_accepted_or_refused_naming_the_field(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case[Any]
) -> bool | None:
    """Input the document calls valid is accepted, or refused with a 422 naming the field.

    The document cannot state every rule (a number in use, a window's end after its start, a
    policy's steps), so schemathesis' own positive_data_acceptance, which wants every such
    request accepted, is replaced by this: a rule beyond the document must name the field it
    failed. An id or a page past what the database holds came back as an unnamed "out of
    range" before the maximum was in the document.
    """
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    body = response.json()
    assert isinstance(body, dict) and body.get("errors"), (
        f"valid input refused without naming a field: {body}"
    )
    return True


@schema.parametrize()
@settings(
    max_examples=API_EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_every_operation_keeps_the_documented_contract(
    case: schemathesis.Case[Any], app: Flask, auth: dict[str, str]
) -> None:
    case.call_and_validate(
        headers=auth,
        app=app,
        excluded_checks=[positive_data_acceptance],
        additional_checks=[valid_input_is_accepted_or_refused_naming_the_field],
    )
