"""Every operation of both APIs, fuzzed from the OpenAPI description each serves (schemathesis, in-process
through the WSGI application): no input answers 5xx, answers conform to the schema, and every 4xx is JSON
naming what is wrong.

One test per operation and generation mode (data that fits the schema, and data that does not), with a
bounded number of examples so the run fits in CI. The operations are listed at collection from the same
``NinjaAPI`` objects that serve the descriptions, so a new endpoint is fuzzed without touching this file.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.api import api, bridge_api
from core.models import ResourceType
from core.roles import Role
from core.services import token_create
from core.wsgi import application
from tests.badinput.checks import error_body_names_the_problem
from tests.factories import make_endpoint, make_resource, make_user

BRIDGE_TOKEN = "bridge-token-for-the-fuzzer-0123456789"
EXAMPLES = 6

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    error_body_names_the_problem,
]


def _operations(ninja_api: Any, prefix: str) -> list[tuple[str, str]]:
    paths = ninja_api.get_openapi_schema(path_prefix=prefix)["paths"]
    return [(method.upper(), path) for path, methods in paths.items() for method in methods]


API_OPERATIONS = _operations(api, "/api/v1/")
BRIDGE_OPERATIONS = _operations(bridge_api, "/leshan_api/")
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]


def _served_schema(url: str) -> Any:
    """The OpenAPI description as the API serves it (to a staff login), run against the WSGI application."""
    client = Client()
    client.force_login(make_user(Role.ADMIN, is_staff=True))
    response = client.get(url)
    assert response.status_code == 200, response
    schema = schemathesis.openapi.from_dict(response.json())
    schema.app = application
    schema.location = url
    return schema


@pytest.fixture
def admin_token(db: None) -> str:
    """An admin's API token (every operation is allowed), and a device with a reading to find."""
    admin = make_user(Role.ADMIN, username="fuzz-admin")
    endpoint = make_endpoint(name="fuzz")
    temperature = ResourceType.objects.get(object_id=3303, resource_id=5700)
    make_resource(endpoint=endpoint, resource_type=temperature, value=21.5)
    return token_create(actor=admin, user=admin, name="fuzz")[1]


def _fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    # The WSGI handler closes the database connection around each request; the test's transaction needs it
    # open, so keep it as Django's test client does.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        run()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.mark.parametrize("mode", MODES, ids=str)
@pytest.mark.parametrize(("method", "path"), API_OPERATIONS, ids=[f"{m} {p}" for m, p in API_OPERATIONS])
def test_the_rest_api_answers_any_input_cleanly(method: str, path: str, mode: GenerationMode, admin_token: str) -> None:
    operation = _served_schema("/api/v1/openapi.json")[path][method]
    _fuzz(operation, mode, {"Authorization": f"Bearer {admin_token}"})


@pytest.mark.parametrize("mode", MODES, ids=str)
@pytest.mark.parametrize(("method", "path"), BRIDGE_OPERATIONS, ids=[f"{m} {p}" for m, p in BRIDGE_OPERATIONS])
def test_the_bridge_api_answers_any_input_cleanly(
    method: str, path: str, mode: GenerationMode, admin_token: str, settings: Any
) -> None:
    settings.BRIDGE_TOKEN = BRIDGE_TOKEN
    token = admin_token if path.startswith("/leshan_api/data/") else BRIDGE_TOKEN
    operation = _served_schema("/leshan_api/openapi.json")[path][method]
    _fuzz(operation, mode, {"Authorization": f"Bearer {token}"})
