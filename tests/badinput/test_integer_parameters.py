"""Integers in URLs past what the database holds: a 422 naming the parameter, never a 500.

The database's integers are 64-bit: ``offset=9223372036854775808`` reached it as ``OFFSET 2^63`` and failed
(SQLite "datatype mismatch", PostgreSQL "bigint out of range"), an HTML 500 on every list operation. The
parameters are now declared with bounds (``core.schemas.Offset``, ``RowId``); the test below walks both
OpenAPI descriptions, so a new integer parameter without a bound fails here.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from core.api import api, bridge_api
from core.roles import Role
from core.schemas import INT64_MAX
from core.services import token_create
from tests.factories import make_endpoint, make_user

pytestmark = pytest.mark.django_db

PAST_64_BITS = str(INT64_MAX + 1)
HUGE = "9" * 5000

LIST_OPERATIONS = [
    "/api/v1/endpoints",
    "/api/v1/events",
    "/api/v1/operations",
    "/api/v1/firmware-updates",
    "/leshan_api/data/temperature/",
]


@pytest.fixture
def token(db: None) -> str:
    admin = make_user(Role.ADMIN, username="int-admin")
    make_endpoint(name="dev-1")
    return token_create(actor=admin, user=admin, name="ints")[1]


def call(token: str, method: str, url: str) -> Any:
    client = Client(raise_request_exception=False)
    return client.generic(method, url, HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.mark.parametrize("url", LIST_OPERATIONS)
@pytest.mark.parametrize("value", [PAST_64_BITS, HUGE], ids=["2^63", "5000-digits"])
def test_it_refuses_an_offset_past_64_bits_on_every_list_operation(token: str, url: str, value: str) -> None:
    response = call(token, "GET", f"{url}?offset={value}")
    assert response.status_code == 422, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["detail"].startswith("offset: ")


@pytest.mark.parametrize("url", LIST_OPERATIONS)
def test_the_largest_offset_is_an_empty_page(token: str, url: str) -> None:
    response = call(token, "GET", f"{url}?offset={INT64_MAX}")
    assert response.status_code == 200, response.content[:300]
    body = response.json()
    assert (body if isinstance(body, list) else body["items"]) == []


def _integer_parameters() -> list[tuple[str, str, str, dict[str, Any]]]:
    """(method, URL template, parameter name, its schema) for every integer parameter of both APIs."""
    found = []
    for ninja_api, prefix in ((api, "/api/v1/"), (bridge_api, "/leshan_api/")):
        for path, methods in ninja_api.get_openapi_schema(path_prefix=prefix)["paths"].items():
            for method, operation in methods.items():
                for parameter in operation.get("parameters", []):
                    schema = parameter["schema"]
                    types = {schema.get("type")} | {option.get("type") for option in schema.get("anyOf", [])}
                    if "integer" in types:
                        found.append((method.upper(), path, parameter["name"], parameter))
    return found


INTEGER_PARAMETERS = _integer_parameters()


def test_the_apis_have_the_integer_parameters_this_file_expects() -> None:
    names = {(path, name) for _, path, name, _ in INTEGER_PARAMETERS}
    assert ("/api/v1/endpoints", "offset") in names
    assert ("/api/v1/operations/{operation_id}", "operation_id") in names
    assert ("/leshan_api/data/{resource_name}/", "offset") in names


def _bounds(parameter: dict[str, Any]) -> tuple[int | None, int | None]:
    schema = parameter["schema"]
    options = [schema, *schema.get("anyOf", [])]
    minimum = next((o["minimum"] for o in options if "minimum" in o), None)
    maximum = next((o["maximum"] for o in options if "maximum" in o), None)
    return minimum, maximum


@pytest.mark.parametrize(
    ("method", "path", "name", "parameter"),
    INTEGER_PARAMETERS,
    ids=[f"{method} {path} {name}" for method, path, name, _ in INTEGER_PARAMETERS],
)
def test_every_integer_parameter_is_bounded_and_a_number_past_its_bound_is_a_422_naming_it(
    token: str, method: str, path: str, name: str, parameter: dict[str, Any]
) -> None:
    minimum, maximum = _bounds(parameter)
    assert minimum is not None, f"{name} of {method} {path} declares no minimum"
    assert maximum is not None, f"{name} of {method} {path} declares no maximum"
    assert -(2**63) <= minimum <= maximum <= INT64_MAX, (name, minimum, maximum)
    url = path.replace("{endpoint}", "dev-1").replace("{resource_name}", "temperature")
    for value in (PAST_64_BITS, str(2**64), HUGE, str(minimum - 1)):
        in_path = parameter["in"] == "path"
        target = url.replace("{" + name + "}", value) if in_path else f"{url}?{name}={value}"
        target = re.sub(r"\{[a-z_]+\}", "1", target)  # the other ids of the path (/sites/{site_id}/rules/{rule_id})
        response = call(token, method, target)
        assert response.status_code == 422, (target[:120], response.status_code, response.content[:200])
        assert response.json()["detail"].startswith(f"{name}: "), response.json()
