"""Bad input gets a 4xx naming the problem and the path, and nothing of the post is stored."""

import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from core.models import Endpoint, ResourceType
from telemetry.models import Event, EventResource, Resource
from tests.telemetry.bridge_client import post, reference_payload

pytestmark = pytest.mark.django_db


def node(resource_id: int, data_type: str, value: object) -> dict:
    return {"kind": "singleResource", "id": resource_id, "type": data_type, "value": value}


def assert_nothing_stored(resource_types_before: int | None = None) -> None:
    assert Endpoint.objects.count() == 0
    assert Resource.objects.count() == 0
    assert Event.objects.count() == 0
    assert EventResource.objects.count() == 0
    if resource_types_before is not None:
        assert ResourceType.objects.count() == resource_types_before


# (shape, body, status, detail, path)
BAD_INPUT = [
    ("single", '{"ep": "d", "obj_id": 3303', 400, "malformed JSON: Expecting ',' delimiter at line 1 column 27", None),
    ("single", "", 400, "the request body is empty; a JSON object is expected", None),
    ("composite", b'{"ep": "\xff\xfe", "val": {}}', 400, "the body is not valid UTF-8 (byte 8)", None),
    (
        "single",
        '{"ep": "d", "obj_id": 3303, "val": {"kind": "singleResource", "id": 5700, "type": "FLOAT", "value": NaN}}',
        400,
        "malformed JSON: NaN is not valid JSON",
        None,
    ),
    (
        "single",
        '{"ep": "d", "obj_id": 3303, "val": {"id": 5700, "type": "FLOAT", "value": -Infinity}}',
        400,
        "malformed JSON: -Infinity is not valid JSON",
        None,
    ),
    ("composite", "[" * 100_000 + "]" * 100_000, 400, "malformed JSON: nested too deeply", None),
    ("composite", "[1, 2]", 422, "the body must be a JSON object", None),
    ("single", {"obj_id": 3303, "val": node(5700, "FLOAT", "1")}, 422, "ep: Field required", None),
    (
        "single",
        {"ep": 7, "obj_id": 3303, "val": node(5700, "FLOAT", "1")},
        422,
        "ep: Input should be a valid string",
        None,
    ),
    ("single", {"ep": "d", "val": node(5700, "FLOAT", "1")}, 422, "obj_id: Field required", None),
    (
        "single",
        {"ep": "d", "obj_id": 70000, "val": node(5700, "FLOAT", "1")},
        422,
        "obj_id: Input should be less than or equal to 65535",
        None,
    ),
    ("composite", {"ep": "d"}, 422, "val: Field required", None),
    (
        "timestamped",
        {"ep": "d", "val": {"/3303/0/5700": node(5700, "FLOAT", "1")}},
        422,
        "val: Input should be a valid list",
        None,
    ),
    (
        "single",
        {"ep": "", "obj_id": 3303, "val": node(5700, "FLOAT", "1")},
        422,
        "ep: the endpoint name (ep) must be a non-empty string",
        "ep",
    ),
    (
        "single",
        {"ep": "x" * 256, "obj_id": 3303, "val": node(5700, "FLOAT", "1")},
        422,
        "ep: the endpoint name (ep) is longer than 255 characters",
        "ep",
    ),
    (
        "single",
        {"ep": "dev\n1", "obj_id": 3303, "val": node(5700, "FLOAT", "1")},
        422,
        "ep: the endpoint name (ep) contains control characters",
        "ep",
    ),
    (
        "single",
        {"ep": "dev\ud8001", "obj_id": 3303, "val": node(5700, "FLOAT", "1")},
        422,
        "ep: the endpoint name (ep) is not valid Unicode (lone surrogate)",
        "ep",
    ),
    (
        "single",
        {"ep": "d", "obj_id": 3303, "val": {"kind": "blob", "id": 5700}},
        422,
        '/3303: unknown node kind "blob"',
        "/3303",
    ),
    (
        "single",
        {"ep": "d", "obj_id": 3303, "val": node(5700, "INTEGER", "abc")},
        422,
        '/3303/0/5700: INTEGER value "abc" is not an integer',
        "/3303/0/5700",
    ),
    (
        "single",
        {"ep": "d", "obj_id": 3303, "val": node(5700, "FLOAT", "1"), "path": "/3304/0/5700"},
        422,
        "/3304/0/5700: path is not in object 3303 (obj_id)",
        "/3304/0/5700",
    ),
    (
        "single",
        {"ep": "d", "obj_id": 3, "val": {"kind": "resourceInstance", "id": 1, "type": "INTEGER", "value": "1"}},
        422,
        "/3: a resourceInstance node needs a path",
        "/3",
    ),
    (
        "composite",
        {"ep": "d", "val": {"/3303/0/5700": node(5701, "FLOAT", "1")}},
        422,
        "/3303/0/5700: node id 5701 does not match the path",
        "/3303/0/5700",
    ),
    (
        "composite",
        {"ep": "d", "val": {"/3303/0": node(5700, "FLOAT", "1")}},
        422,
        '/3303/0: a "singleResource" node does not match this path (expected instance)',
        "/3303/0",
    ),
    (
        "composite",
        {"ep": "d", "val": {"3303-0-5700": node(5700, "FLOAT", "1")}},
        422,
        "3303-0-5700: not an LwM2M path like /3303/0/5700",
        "3303-0-5700",
    ),
    (
        "composite",
        {"ep": "d", "val": {"/3303/0/5700": node(5700, "FLOAT", "1e999")}},
        422,
        "/3303/0/5700: FLOAT value 1e999 is not a finite 64-bit float",
        "/3303/0/5700",
    ),
    (
        "composite",
        {"ep": "d", "val": {"/3/0/9": node(9, "INTEGER", "99999999999999999999")}},
        422,
        "/3/0/9: INTEGER value 99999999999999999999 is outside the 64-bit signed range",
        "/3/0/9",
    ),
    (
        "composite",
        {"ep": "d", "val": {"/5/0/13": node(13, "UNSIGNED_INTEGER", -1)}},
        422,
        "/5/0/13: UNSIGNED_INTEGER value -1 is outside 0..18446744073709551615",
        "/5/0/13",
    ),
    (
        "composite",
        {"ep": "d", "val": {"/3/0/0": node(0, "STRING", "a\u0000b")}},
        422,
        "/3/0/0: STRING value contains a NUL character",
        "/3/0/0",
    ),
    (
        "composite",
        {"ep": "d", "val": {"/3/0/0": node(0, "OPAQUE", "abc")}},
        422,
        '/3/0/0: OPAQUE value "abc" is not an even-length hex string',
        "/3/0/0",
    ),
    (
        "composite",
        {"ep": "d", "val": {"/3/0/13": node(13, "TIME", "2026-01-01T00:00:00Z")}},
        422,
        '/3/0/13: TIME value "2026-01-01T00:00:00Z" is not an integer',
        "/3/0/13",
    ),
    (
        "composite",
        {"ep": "d", "val": {"/3303/0/5700": node(5700, "STRING", "warm")}},
        422,
        "/3303/0/5700: STRING value conflicts with the registered type FLOAT (temperature)",
        "/3303/0/5700",
    ),
    ("composite", {"ep": "d", "val": {}}, 422, "val: the post holds no resource values", "val"),
    (
        "composite",
        {"ep": "d", "val": {"kind": "instance", "id": 0, "resources": []}},
        422,
        "a node without a path must be an object node (kind obj)",
        None,
    ),
    (
        "timestamped",
        {"ep": "d", "val": [{"yesterday": {"nodes": {}}}]},
        422,
        'val[0]: timestamp "yesterday" is not epoch milliseconds (or "null")',
        "val[0]",
    ),
    (
        "timestamped",
        {"ep": "d", "val": [{"99999999999999999": {"nodes": {}}}]},
        422,
        'val[0]: timestamp "99999999999999999" is not epoch milliseconds (or "null")',
        "val[0]",
    ),
    (
        "timestamped",
        {"ep": "d", "val": [{"1764336000000": {"values": {}}}]},
        422,
        'val[0][1764336000000]: expected {"nodes": {"<path>": <node>}}',
        "val[0][1764336000000]",
    ),
    (
        "timestamped",
        {"ep": "d", "val": [{}]},
        422,
        'val[0]: each entry must be {"<epoch ms>": {"nodes": {...}}}',
        "val[0]",
    ),
]


@pytest.mark.parametrize(
    ("shape", "body", "status", "detail", "path"), BAD_INPUT, ids=[row[3][:50] for row in BAD_INPUT]
)
def test_bad_input_is_refused_and_nothing_is_stored(client: Client, shape, body, status, detail, path) -> None:
    types_before = ResourceType.objects.count()
    response = post(client, shape, body)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json; charset=utf-8"
    answer = response.json()
    assert answer["detail"] == detail or answer["detail"].startswith(detail)
    assert answer.get("path") == path
    assert_nothing_stored(types_before)


def test_an_error_late_in_a_post_rolls_back_what_came_before_it(client: Client) -> None:
    types_before = ResourceType.objects.count()
    body = {
        "ep": "d",
        "val": {
            "/10300/0/1": node(1, "FLOAT", "1"),  # would register a new type
            "/3303/0/5700": node(5700, "FLOAT", "21.5"),
            "/3304/0/5700": node(5700, "BOOLEAN", True),  # conflicts: humidity is FLOAT
        },
    }
    response = post(client, "composite", body)
    assert response.status_code == 422
    assert response.json()["path"] == "/3304/0/5700"
    assert_nothing_stored(types_before)
    assert not ResourceType.objects.filter(object_id=10300).exists()


def test_the_wrong_content_type_is_415(client: Client) -> None:
    response = post(client, "single", reference_payload("single.json"), content_type="text/plain")
    assert response.status_code == 415
    assert response.json() == {"detail": "Content-Type must be application/json, not text/plain"}
    assert_nothing_stored()


def test_json_with_a_charset_is_accepted(client: Client) -> None:
    response = post(client, "single", reference_payload("single.json"), content_type="application/json; charset=utf-8")
    assert response.status_code == 201


def test_a_body_over_the_limit_is_413(client: Client, settings) -> None:
    settings.INGEST_MAX_BODY_BYTES = 2048
    body = {"ep": "d", "val": {"/3/0/0": node(0, "STRING", "x" * 3000)}}
    response = post(client, "composite", body)
    assert response.status_code == 413
    assert response.json()["detail"].startswith("request body of ")
    assert response.json()["detail"].endswith("bytes is over the limit of 2048 bytes")
    assert_nothing_stored()


def test_a_body_over_djangos_own_limit_is_413_too(client: Client, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    settings.INGEST_MAX_BODY_BYTES = 10_000
    response = post(client, "composite", {"ep": "d", "val": {"/3/0/0": node(0, "STRING", "x" * 5000)}})
    assert response.status_code == 413
    assert_nothing_stored()


def test_too_many_resources_in_one_post_is_413(client: Client, settings) -> None:
    settings.INGEST_MAX_RESOURCES = 10
    values = {str(i): str(i) for i in range(11)}
    body = {"ep": "d", "val": {"/3/0/7": {"kind": "multiResource", "id": 7, "type": "INTEGER", "values": values}}}
    response = post(client, "composite", body)
    assert response.status_code == 413
    assert response.json() == {"detail": "val: the post holds 11 resource values; the limit is 10", "path": "val"}
    assert_nothing_stored()


class TestAuthentication:
    def test_loopback_needs_no_token(self, client: Client) -> None:
        assert post(client, "single", reference_payload("single.json")).status_code == 201

    def test_another_network_without_a_token_is_401(self) -> None:
        response = post(Client(REMOTE_ADDR="192.0.2.10"), "single", reference_payload("single.json"))
        assert response.status_code == 401
        assert response.json() == {
            "detail": "a bridge token (Authorization: Bearer ...) is required from outside the trusted networks"
        }
        assert response["WWW-Authenticate"] == "Bearer"
        assert_nothing_stored()

    def test_the_configured_token_is_accepted_from_anywhere(self, settings) -> None:
        settings.BRIDGE_TOKEN = "s3cret-bridge-token"
        client = Client(REMOTE_ADDR="192.0.2.10", HTTP_AUTHORIZATION="Bearer s3cret-bridge-token")
        assert post(client, "single", reference_payload("single.json")).status_code == 201

    @pytest.mark.parametrize("header", ["Bearer wrong", "Bearer ", "Basic czNjcmV0", "s3cret-bridge-token"])
    def test_a_wrong_token_is_401_even_from_loopback(self, settings, header: str) -> None:
        settings.BRIDGE_TOKEN = "s3cret-bridge-token"
        response = post(Client(HTTP_AUTHORIZATION=header), "single", reference_payload("single.json"))
        assert response.status_code == 401
        assert response.json()["detail"] in {
            "the bridge token is not valid",
            "Authorization must be 'Bearer <bridge token>'",
        }
        assert_nothing_stored()

    def test_no_token_configured_means_no_token_is_valid(self) -> None:
        response = post(Client(HTTP_AUTHORIZATION="Bearer "), "single", reference_payload("single.json"))
        assert response.status_code == 401

    def test_trusted_networks_are_configurable(self, settings) -> None:
        import ipaddress

        settings.BRIDGE_TRUSTED_NETWORKS = [ipaddress.ip_network("10.1.0.0/16")]
        assert post(Client(REMOTE_ADDR="10.1.2.3"), "single", reference_payload("single.json")).status_code == 201
        assert post(Client(REMOTE_ADDR="127.0.0.1"), "single", reference_payload("single.json")).status_code == 401

    def test_an_ipv4_mapped_loopback_address_is_loopback(self) -> None:
        assert (
            post(Client(REMOTE_ADDR="::ffff:127.0.0.1"), "single", reference_payload("single.json")).status_code == 201
        )

    def test_only_post_is_allowed(self, client: Client) -> None:
        assert client.get("/leshan_api/resource/single").status_code == 405


def _composite(resource_count: int) -> dict:
    values = {str(i): str(i) for i in range(resource_count)}
    return {
        "ep": "d",
        "val": {
            "/3303/0/5700": node(5700, "FLOAT", "21.5"),
            "/3/0/7": {"kind": "multiResource", "id": 7, "type": "INTEGER", "values": values},
        },
    }


def test_the_query_count_of_a_post_does_not_grow_with_its_resources(client: Client) -> None:
    post(client, "composite", _composite(1))  # warm the resource type cache
    counts = []
    for size in (2, 50, 1000):
        with CaptureQueriesContext(connection) as queries:
            assert post(client, "composite", _composite(size)).status_code == 201
        counts.append(len(queries))
    assert counts[0] == counts[1] == counts[2]
    # (begin,) [SQLite: endpoint state before,] endpoint upsert, resources, latest values, event, links, (commit)
    assert counts[0] <= 8


def test_a_single_post_is_one_statement_on_postgresql_and_four_on_sqlite(client: Client) -> None:
    post(client, "single", reference_payload("single.json"))
    with CaptureQueriesContext(connection) as queries:
        post(client, "single", reference_payload("single.json"))
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    writes = [s for s in statements if s not in {"BEGIN", "BEGIN IMMEDIATE", "COMMIT", "SAVEPOINT", "RELEASE"}]
    expected = ["WITH"] if connection.vendor == "postgresql" else ["SELECT", "INSERT", "INSERT", "INSERT"]
    assert writes == expected


def test_the_answer_is_valid_json_with_the_event_id(client: Client) -> None:
    response = post(client, "composite", _composite(3))
    body = json.loads(response.content)
    assert body == {"endpoint": "d", "resources": 4, "event_id": Event.objects.get().pk}


def test_an_unreachable_database_is_503_not_500() -> None:
    from tests.subprocess_env import PRODUCTION_KEY, clean_env, run_python

    code = (
        "import django, json; django.setup(); from django.test import Client; "
        "body = json.dumps({'ep': 'd', 'obj_id': 3303, 'val': {'id': 5700, 'type': 'FLOAT', 'value': '1'}}); "
        "r = Client(SERVER_NAME='localhost').post('/leshan_api/resource/single', body, "
        "content_type='application/json'); "
        "print(r.status_code, r['Retry-After'], json.dumps(r.json()))"
    )
    env = clean_env(SECRET_KEY=PRODUCTION_KEY, DATABASE_URL="postgres://postgres@127.0.0.1:1/nowhere")
    result = run_python(code, env=env)
    assert result.returncode == 0, result.stderr
    status, retry_after, body = result.stdout.strip().split(" ", 2)
    assert (status, retry_after) == ("503", "5")
    assert json.loads(body) == {"detail": "the database is unavailable or busy; retry in a few seconds"}


# --- endpoint names that would break URLs or look like another device's -----------------------------------

FORMAT_CHARACTER = "the endpoint name (ep) contains an invisible or direction-changing character"
LOOKALIKE_NAMES = [
    (".", "ep: the endpoint name (ep) consists only of dots"),
    ("..", "ep: the endpoint name (ep) consists only of dots"),
    ("...", "ep: the endpoint name (ep) consists only of dots"),
    ("urn:imei:35\u202e1000000000003", f"ep: {FORMAT_CHARACTER} (U+202E RIGHT-TO-LEFT OVERRIDE)"),
    ("dev-\u202a1", f"ep: {FORMAT_CHARACTER} (U+202A LEFT-TO-RIGHT EMBEDDING)"),
    ("dev-\u20661\u2069", f"ep: {FORMAT_CHARACTER} (U+2066 LEFT-TO-RIGHT ISOLATE)"),
    ("dev-\u200f1", f"ep: {FORMAT_CHARACTER} (U+200F RIGHT-TO-LEFT MARK)"),
    ("dev\u200b-1", f"ep: {FORMAT_CHARACTER} (U+200B ZERO WIDTH SPACE)"),
    ("dev\u200c-1", f"ep: {FORMAT_CHARACTER} (U+200C ZERO WIDTH NON-JOINER)"),
    ("dev\u200d-1", f"ep: {FORMAT_CHARACTER} (U+200D ZERO WIDTH JOINER)"),
    ("\ufeffdev-1", f"ep: {FORMAT_CHARACTER} (U+FEFF ZERO WIDTH NO-BREAK SPACE)"),
    ("dev\u2060-1", f"ep: {FORMAT_CHARACTER} (U+2060 WORD JOINER)"),
    ("dev\u00ad-1", f"ep: {FORMAT_CHARACTER} (U+00AD SOFT HYPHEN)"),
    ("dev\U000e0041-1", f"ep: {FORMAT_CHARACTER} (U+E0041 TAG LATIN CAPITAL LETTER A)"),
    ("dev\u00a01", "ep: the endpoint name (ep) contains a space other than U+0020 (U+00A0)"),
    ("dev\u30001", "ep: the endpoint name (ep) contains a space other than U+0020 (U+3000)"),
    ("dev-1 ", "ep: the endpoint name (ep) begins or ends with a space"),
    (" dev-1", "ep: the endpoint name (ep) begins or ends with a space"),
    ("dev\x851", "ep: the endpoint name (ep) contains control characters"),  # C1 NEXT LINE
    ("dev\x9b1", "ep: the endpoint name (ep) contains control characters"),  # C1 CSI
    ("dev\u20281", "ep: the endpoint name (ep) contains control characters"),  # LINE SEPARATOR
    ("dev\x7f1", "ep: the endpoint name (ep) contains control characters"),
]


def _post_as(shape: str, name: str) -> dict[str, Any]:
    value = node(5700, "FLOAT", "21.5")
    if shape == "single":
        return {"ep": name, "obj_id": 3303, "val": value}
    if shape == "composite":
        return {"ep": name, "val": {"/3303/0/5700": value}}
    return {"ep": name, "val": [{"null": {"nodes": {"/3303/0/5700": value}}}]}


@pytest.mark.parametrize("shape", ["single", "composite", "timestamped"])
@pytest.mark.parametrize(("name", "detail"), LOOKALIKE_NAMES, ids=[repr(name) for name, _ in LOOKALIKE_NAMES])
def test_it_refuses_a_name_that_breaks_urls_or_looks_like_another(client: Client, shape, name, detail) -> None:
    response = post(client, shape, _post_as(shape, name))
    assert response.status_code == 422
    assert response.json() == {"detail": detail, "path": "ep"}
    assert_nothing_stored()


LEGITIMATE_NAMES = [
    "urn:imei:350000000000001",
    "urn:imei-imsi:350000000000001-310150123456789",
    "urn:dev:os:0023C7-000001",
    "urn:dev:mac:0024befffe804ff1",
    "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
    "nrf-352656100985432",
    "Küche Sensor 3",
    "温度计-1",
    "датчик.1",
    "مستشعر-٣",  # Arabic letters and digits: right-to-left text itself is fine, only the controls are not
    "सेंसर",  # Devanagari with combining signs
    ".hidden",
    "a..b",
    "x.",
]


@pytest.mark.parametrize("name", LEGITIMATE_NAMES)
def test_it_keeps_accepting_every_legitimate_name(client: Client, name: str) -> None:
    response = post(client, "composite", _post_as("composite", name))
    assert response.status_code == 201, response.content
    assert Endpoint.objects.get().name == name
