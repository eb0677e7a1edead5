"""A hand-written corpus of hostile input against the bridge API, the REST API and the pages: each gets its
exact status and error, nothing half-stored, and whatever is stored is shown escaped, on the pages and in
the live fragments that update them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.apps import apps
from django.test import Client

from core.middleware import NUL_IN_URL
from core.models import Endpoint, ResourceType
from core.services import token_create
from firmware import partials as firmware_partials
from firmware.models import Firmware
from telemetry import partials, presenters
from telemetry.models import EndpointOperation, Event
from tests.factories import make_endpoint, make_firmware_update, make_resource
from tests.telemetry.bridge_client import post

pytestmark = pytest.mark.django_db


def _node(resource_id: int, data_type: str, value: Any) -> dict[str, Any]:
    return {"kind": "singleResource", "id": resource_id, "type": data_type, "value": value}


def _single(value: Any, data_type: str = "FLOAT", **fields: Any) -> dict[str, Any]:
    return {"ep": "urn:imei:350000000000001", "obj_id": 3303, "val": _node(5700, data_type, value), **fields}


def _raw_single(value_json: str, data_type: str = "FLOAT") -> str:
    """A body with a value written as raw JSON text (numbers Python's json would not write)."""
    return (
        '{"ep": "urn:imei:350000000000001", "obj_id": 3303, '
        f'"val": {{"kind": "singleResource", "id": 5700, "type": "{data_type}", "value": {value_json}}}}}'
    )


def _counts() -> dict[str, int]:
    models = [m for app in ("core", "telemetry", "firmware") for m in apps.get_app_config(app).get_models()]
    return {m._meta.label: m.objects.count() for m in models}


TEN_MB = 10 * 1024 * 1024
DEEP = 10_000

# --- the bridge API: (shape, body, content type, status, detail) ------------------------------------------

BRIDGE = [
    pytest.param(
        "single",
        _raw_single("1e400"),
        None,
        422,
        "/3303/0/5700: FLOAT value inf is not a finite 64-bit float",
        id="float-1e400",
    ),
    pytest.param(
        "single",
        _raw_single("-1e400"),
        None,
        422,
        "/3303/0/5700: FLOAT value -inf is not a finite 64-bit float",
        id="float--1e400",
    ),
    pytest.param(
        "single",
        _raw_single('"1e400"'),
        None,
        422,
        "/3303/0/5700: FLOAT value 1e400 is not a finite 64-bit float",
        id="float-string-1e400",
    ),
    pytest.param(
        "single",
        _raw_single("1e400", "INTEGER"),
        None,
        422,
        "/3303/0/5700: INTEGER value inf is not an integer",
        id="integer-1e400",
    ),
    pytest.param(
        "single",
        _single(2**70, "INTEGER"),
        None,
        422,
        "/3303/0/5700: INTEGER value 1180591620717411303424 is outside the 64-bit signed range",
        id="integer-2**70",
    ),
    pytest.param(
        "single",
        _single(str(-(2**64)), "INTEGER"),
        None,
        422,
        "/3303/0/5700: INTEGER value -18446744073709551616 is outside the 64-bit signed range",
        id="integer--2**64",
    ),
    pytest.param(
        "single",
        _single(-(2**64), "UNSIGNED_INTEGER"),
        None,
        422,
        "/3303/0/5700: UNSIGNED_INTEGER value -18446744073709551616 is outside 0..18446744073709551615",
        id="unsigned--2**64",
    ),
    pytest.param(
        "single",
        _single(2**70, "TIME"),
        None,
        422,
        "/3303/0/5700: TIME value 1180591620717411303424 is outside the 64-bit range of epoch milliseconds",
        id="time-2**70",
    ),
    pytest.param(
        "single",
        _single(1.0, obj_id=2**70),
        None,
        422,
        "obj_id: Input should be less than or equal to 65535",
        id="obj-id-2**70",
    ),
    pytest.param(
        "single",
        {**_single(1.0), "val": _node(2**70, "FLOAT", 1.0)},
        None,
        422,
        "/3303: node id 1180591620717411303424 is outside 0..65535",
        id="node-id-2**70",
    ),
    pytest.param(
        "single",
        _raw_single("1" * 5000, "INTEGER"),
        None,
        400,
        "malformed JSON: Exceeds the limit (4300 digits) for integer string conversion",
        id="integer-5000-digits",
    ),
    pytest.param("single", _raw_single("NaN"), None, 400, "malformed JSON: NaN is not valid JSON", id="json-NaN"),
    pytest.param(
        "single", _raw_single("Infinity"), None, 400, "malformed JSON: Infinity is not valid JSON", id="json-Infinity"
    ),
    pytest.param(
        "single",
        _raw_single("-Infinity"),
        None,
        400,
        "malformed JSON: -Infinity is not valid JSON",
        id="json--Infinity",
    ),
    pytest.param(
        "single", _single("NaN"), None, 422, '/3303/0/5700: FLOAT value "NaN" is not a number', id="string-NaN"
    ),
    pytest.param(
        "single",
        _single("Infinity"),
        None,
        422,
        '/3303/0/5700: FLOAT value "Infinity" is not a number',
        id="string-Infinity",
    ),
    pytest.param(
        "single", _single("-inf"), None, 422, '/3303/0/5700: FLOAT value "-inf" is not a number', id="string--inf"
    ),
    pytest.param(
        "single",
        _single("0x1p3"),
        None,
        422,
        '/3303/0/5700: FLOAT value "0x1p3" is not a number',
        id="string-hex-float",
    ),
    pytest.param(
        "composite",
        '{"ep": "d", "val": ' + '{"a": ' * DEEP + "1" + "}" * DEEP + "}",
        None,
        400,
        "malformed JSON: nested too deeply",
        id="nested-10000-objects",
    ),
    pytest.param(
        "timestamped",
        '{"ep": "d", "val": ' + "[" * DEEP + "]" * DEEP + "}",
        None,
        400,
        "malformed JSON: nested too deeply",
        id="nested-10000-lists",
    ),
    pytest.param(
        "single",
        {**_single(1.0), "val": {"kind": ["singleResource"], "id": 5700}},
        None,
        422,
        "/3303: unknown node kind \"['singleResource']\"",
        id="kind-a-list",
    ),
    pytest.param(
        "composite",
        {"ep": "d", "val": {"/3/0/9": {"kind": {"x": 1}, "id": 9}}},
        None,
        422,
        "/3/0/9: unknown node kind \"{'x': 1}\"",
        id="kind-an-object",
    ),
    pytest.param(
        "single",
        b'{"ep": "\xc3\x28", "obj_id": 3303, "val": {}}',
        None,
        400,
        "the body is not valid UTF-8 (byte 8)",
        id="invalid-utf8",
    ),
    pytest.param("single", b'\xff\xfe{\x00"\x00', None, 400, "the body is not valid UTF-8 (byte 0)", id="utf16-bom"),
    pytest.param(
        "single",
        '{"ep": "d", "obj_id": 3303, "val": {}',
        None,
        400,
        "malformed JSON: Expecting ',' delimiter at line 1 column 38",
        id="truncated-json",
    ),
    pytest.param(
        "single",
        "{'ep': 'd'}",
        None,
        400,
        "malformed JSON: Expecting property name enclosed in double quotes at line 1 column 2",
        id="single-quotes",
    ),
    pytest.param("single", '"just a string"', None, 422, "the body must be a JSON object", id="json-string"),
    pytest.param("single", "null", None, 422, "the body must be a JSON object", id="json-null"),
    pytest.param(
        "single",
        json.dumps(_single(1.0)),
        "text/plain",
        415,
        "Content-Type must be application/json, not text/plain",
        id="text-plain",
    ),
    pytest.param(
        "single",
        "ep=d&obj_id=3303",
        "application/x-www-form-urlencoded",
        415,
        "Content-Type must be application/json, not application/x-www-form-urlencoded",
        id="form-encoded",
    ),
    pytest.param(
        "single",
        json.dumps(_single(1.0)),
        "application/xml",
        415,
        "Content-Type must be application/json, not application/xml",
        id="xml",
    ),
    pytest.param(
        "single",
        json.dumps(_single(1.0)),
        "",
        415,
        "Content-Type must be application/json, not none",
        id="no-content-type",
    ),
    pytest.param("single", _single(1.0, ep="a/b"), None, 422, 'ep: the endpoint name (ep) contains "/"', id="ep-slash"),
    pytest.param(
        "single",
        _single(1.0, ep="<script>alert(1)</script>"),
        None,
        422,
        'ep: the endpoint name (ep) contains "/"',
        id="ep-script-tag",
    ),
    pytest.param(
        "single",
        _single(1.0, ep="x\x00y"),
        None,
        422,
        "ep: the endpoint name (ep) contains control characters",
        id="ep-nul",
    ),
    pytest.param(
        "single",
        _single(1.0, ep="\ud800"),
        None,
        422,
        "ep: the endpoint name (ep) is not valid Unicode (lone surrogate)",
        id="ep-lone-surrogate",
    ),
    pytest.param(
        "single",
        _single(1.0, ep="x" * 256),
        None,
        422,
        "ep: the endpoint name (ep) is longer than 255 characters",
        id="ep-too-long",
    ),
    pytest.param(
        "single",
        _single("\x00", "STRING", obj_id=3, val=_node(0, "STRING", "a\x00b")),
        None,
        422,
        "/3/0/0: STRING value contains a NUL character",
        id="string-nul",
    ),
]


@pytest.mark.parametrize(("shape", "body", "content_type", "status", "detail"), BRIDGE)
def test_the_bridge_refuses_hostile_input(
    shape: str, body: Any, content_type: str | None, status: int, detail: str
) -> None:
    before = _counts()
    extra = {} if content_type is None else {"content_type": content_type}
    response = post(Client(), shape, body, **extra)
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["detail"].startswith(detail)
    assert _counts() == before


def test_a_10_mb_body_is_refused_before_it_is_read() -> None:
    body = '{"ep": "d", "val": {"/3/0/0": ' + json.dumps(_node(0, "STRING", "x" * TEN_MB)) + "}}"
    response = post(Client(), "composite", body)
    assert response.status_code == 413
    assert response.json()["detail"] == f"request body of {len(body)} bytes is over the limit of 1048576 bytes"
    assert not Endpoint.objects.exists()


# --- names that are SQL or HTML: stored as they are, shown escaped ---------------------------------------

HOSTILE_NAMES = [
    "'; DROP TABLE core_endpoint;--",
    "<img src=x onerror=alert(1)>",
    '" onmouseover="alert(1)',
    "{{ 7*7 }} {% debug %}",
    "Robert'); DELETE FROM telemetry_resource WHERE ('1'='1",
]
HOSTILE_TEXT = "<script>alert('x')</script>"


def _report(name: str) -> None:
    body = {
        "ep": name,
        "val": {
            "/3303/0/5700": _node(5700, "FLOAT", "21.5"),
            "/3/0/0": _node(0, "STRING", HOSTILE_TEXT),
            "/3/0/3": _node(3, "STRING", "<b>1.0</b>"),
        },
    }
    response = post(Client(), "composite", body)
    assert response.status_code == 201, response.content
    assert response.json()["endpoint"] == name


def _assert_escaped(html: str, name: str) -> None:
    for dangerous in ("<script>alert", "<img src=x", '" onmouseover="', "<b>1.0</b>"):
        assert dangerous not in html, dangerous


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_hostile_endpoint_name_is_stored_as_sent_and_shown_escaped(name: str, viewer: Any) -> None:
    _report(name)
    endpoint = Endpoint.objects.get(name=name)
    assert Endpoint.objects.count() == 1  # no SQL ran: the table is whole
    client = Client()
    client.force_login(viewer)
    pages = {
        "dashboard": client.get("/"),
        "search": client.get("/", {"q": name}),
        "device": client.get(
            f"/endpoints/{endpoint.name}/".replace("%", "%25").replace("?", "%3F").replace("#", "%23")
        ),
        "events": client.get("/events/", {"endpoint": name}),
    }
    for page, response in pages.items():
        assert response.status_code == 200, page
        html = response.content.decode()
        _assert_escaped(html, name)
        assert _escaped(name) in html, page
    assert _escaped(HOSTILE_TEXT) in pages["device"].content.decode()
    fragments_html = [
        partials.render_endpoint_row(endpoint.pk),
        partials.render_endpoint_row(endpoint.pk, insert=True),
        partials.render_endpoint_status(endpoint.pk),
        partials.render_latest_values(endpoint.pk),
        partials.render_event(presenters.summarize_event(Event.objects.get())),
    ]
    for html in fragments_html:
        _assert_escaped(html, name)
    assert _escaped(name) in fragments_html[0]
    assert _escaped(HOSTILE_TEXT) in fragments_html[3]


def _escaped(text: str) -> str:
    from django.utils.html import escape

    return escape(text)


def test_operations_and_firmware_fragments_escape_a_hostile_name(operator: Any) -> None:
    name = "<img src=x onerror=alert(1)>"
    _report(name)
    endpoint = Endpoint.objects.get(name=name)
    client = Client()
    client.force_login(operator)
    response = client.post(
        f"/api/v1/endpoints/{name}/operations",
        {"kind": "write", "path": "/3/0/14", "value": "<script>alert(1)</script>"},
        content_type="application/json",
        HTTP_X_CSRFTOKEN="x",
    )
    operation = EndpointOperation.objects.filter(endpoint=endpoint).first() or EndpointOperation.objects.create(
        endpoint=endpoint, kind="WRITE", path="/3/0/14", payload={"value": HOSTILE_TEXT}
    )
    update = make_firmware_update(endpoint=endpoint)
    html = [
        partials.render_operation(operation.pk),
        partials.render_operation(operation.pk, page="operations"),
        firmware_partials.render_update_row(update.pk, page="device"),
        firmware_partials.render_update_row(update.pk, page="firmware"),
        client.get("/operations/").content.decode(),
        client.get("/firmware/").content.decode(),
    ]
    for piece in html:
        _assert_escaped(piece, name)
    assert response.status_code in (201, 403)


# --- the REST API -----------------------------------------------------------------------------------------


@pytest.fixture
def api_client(operator: Any) -> Client:
    endpoint = make_endpoint(name="urn:imei:350000000000009")
    make_resource(
        endpoint=endpoint, resource_type=ResourceType.objects.get(object_id=3303, resource_id=5700), value=1.5
    )
    secret = token_create(actor=operator, user=operator, name="corpus")[1]
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


DEVICE = "/api/v1/endpoints/urn:imei:350000000000009"
NUL_BODY = "the body contains a NUL character (\\u0000)"
OPERATIONS = f"{DEVICE}/operations"

REST = [
    # (method, url, body, status, detail)
    pytest.param(
        "post",
        OPERATIONS,
        "{",
        400,
        "malformed JSON: Expecting property name enclosed in double quotes at line 1 column 2",
        id="op-truncated",
    ),
    pytest.param(
        "post", OPERATIONS, b'{"kind": "\xff"}', 400, "the body is not valid UTF-8 (byte 10)", id="op-invalid-utf8"
    ),
    pytest.param(
        "post",
        OPERATIONS,
        '{"kind": "write", "path": "/3/0/13", "value": NaN}',
        400,
        "malformed JSON: NaN is not valid JSON",
        id="op-json-NaN",
    ),
    pytest.param(
        "post",
        OPERATIONS,
        '{"kind": "write", "path": "/3/0/13", "value": ' + "[" * DEEP + "]" * DEEP + "}",
        400,
        "malformed JSON: nested too deeply",
        id="op-nested-10000",
    ),
    pytest.param(
        "post",
        OPERATIONS,
        {"kind": "write", "path": "/3/0/13", "value": 2**70},
        422,
        "value: /3/0/13: TIME value 1180591620717411303424 is outside the 64-bit range of epoch milliseconds",
        id="op-time-2**70",
    ),
    pytest.param(
        "post",
        OPERATIONS,
        '{"kind": "write", "path": "/1/0/1", "value": 1e400}',
        422,
        "value: /1/0/1: INTEGER value inf is not an integer",
        id="op-1e400",
    ),
    pytest.param(
        "post",
        OPERATIONS,
        {"kind": "write", "path": "/3/0/14", "value": "x\x00"},
        400,
        "the body contains a NUL character (\\u0000)",
        id="op-nul-string",
    ),
    pytest.param("post", OPERATIONS, {"kind": "'; DROP TABLE--", "path": "/3/0/4"}, 422, "kind:", id="op-sql-kind"),
    pytest.param(
        "post", OPERATIONS, {"kind": "write", "path": "<script>", "value": 1}, 422, "path:", id="op-html-path"
    ),
    pytest.param("post", OPERATIONS, "[]", 422, "", id="op-list-body"),
    pytest.param("get", f"{DEVICE}/series?path=/3303/0/5700&since=1e400", None, 422, "since:", id="series-since-1e400"),
    pytest.param(
        "get", f"{DEVICE}/series?path=/3303/0/5700&buckets={2**70}", None, 422, "buckets:", id="series-buckets-2**70"
    ),
    pytest.param(
        "get",
        f"{DEVICE}/series?path=/3303/0/5700&since=0001-01-01T00:00:00%2B01:00",
        None,
        422,
        "0001-01-01T00:00:00+01:00 is outside the years 1 to 9999 in UTC",
        id="series-since-year-0-offset",
    ),
    pytest.param(
        "get",
        f"{DEVICE}/series?path=/3303/0/5700&since=0001-01-01T00:00:00Z&until=9999-12-31T23:59:59Z&buckets=1",
        None,
        200,
        None,
        id="series-whole-calendar",
    ),
    pytest.param(
        "get",
        f"{DEVICE}/series?path=/3303/0/5700&until=0001-01-01T00:00:00Z",
        None,
        422,
        "since: since must be before until",
        id="series-until-year-1",
    ),
    pytest.param(
        "get",
        f"{DEVICE}/readings?path=/3303/0/5700&cursor=%27%3B%20DROP%20TABLE--",
        None,
        422,
        "cursor: cursor is not one this API gave out",
        id="readings-sql-cursor",
    ),
    pytest.param(
        "get",
        f"{DEVICE}/readings?path=/3303/0/5700&cursor=OTk5OTk5OTk5OTk5OTk5OTk5OTk5OjE",
        None,
        422,
        "cursor: cursor is not one this API gave out",
        id="readings-huge-cursor",
    ),
    pytest.param(
        "get", f"{DEVICE}/readings?path=/3303/0/5700&limit=-1", None, 422, "limit:", id="readings-negative-limit"
    ),
    pytest.param("get", f"{DEVICE}/readings?path=/99999999/0/1", None, 422, "path:", id="readings-huge-path"),
    pytest.param(
        "get",
        "/api/v1/endpoints/%27%3B%20DROP%20TABLE%20core_endpoint%3B--",
        None,
        404,
        'endpoint: no endpoint named "\'; DROP TABLE core_endpoint;--"',
        id="device-sql-name",
    ),
    pytest.param(
        "get",
        "/api/v1/endpoints/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        None,
        404,
        "no such URL: /api/v1/endpoints/<script>alert(1)</script>",
        id="device-html-name",
    ),
    pytest.param("get", "/api/v1/endpoints/x%00y", None, 400, NUL_IN_URL, id="device-nul-name"),
    pytest.param("get", "/api/v1/endpoints?name=%00", None, 400, NUL_IN_URL, id="list-nul-filter"),
    pytest.param("get", "/api/v1/events?type=a%00", None, 400, NUL_IN_URL, id="events-nul-type"),
    pytest.param("delete", "/api/v1/firmware/1.0%00", None, 400, NUL_IN_URL, id="firmware-nul-version"),
    pytest.param(
        "post", "/api/v1/firmware-updates", {"endpoint": "x\x00", "version": "1"}, 400, NUL_BODY, id="update-nul-name"
    ),
    pytest.param("post", "/api/v1/campaigns", {"version": "\x00"}, 400, NUL_BODY, id="campaign-nul-version"),
    pytest.param("get", f"/api/v1/endpoints?limit={2**70}", None, 422, "limit:", id="list-limit-2**70"),
    pytest.param("get", "/api/v1/endpoints?offset=-1", None, 422, "offset:", id="list-offset-negative"),
    pytest.param(
        "get",
        "/api/v1/events?type=%27%3B--&since=9999-12-31T23:59:59Z",
        None,
        422,
        "type: type is object ids joined by +",
        id="events-sql-type",
    ),
    pytest.param(
        "get",
        "/api/v1/operations/99999999999999999999",
        None,
        422,
        "operation_id: Input should be less than or equal to 9223372036854775807",
        id="operation-id-huge",
    ),
    pytest.param(
        "post",
        "/api/v1/firmware-updates",
        {"endpoint": "<script>", "version": "'; --"},
        404,
        "endpoint: no endpoint named",
        id="update-hostile-names",
    ),
    pytest.param("post", "/api/v1/campaigns", '{"version": "1", "waves": [1e400]}', 422, "", id="campaign-1e400-wave"),
]


@pytest.mark.parametrize(("method", "url", "body", "status", "detail"), REST)
def test_the_rest_api_refuses_hostile_input(
    api_client: Client, method: str, url: str, body: Any, status: int, detail: str | None
) -> None:
    before = _counts()
    if method in ("get", "delete"):
        response = getattr(api_client, method)(url)
    else:
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        response = api_client.post(url, data, content_type="application/json")
    assert response.status_code == status, response.content
    if detail is not None:
        assert response["Content-Type"].startswith("application/json")
        assert response.json()["detail"].startswith(detail), response.json()
        assert _counts() == before


def test_a_10_mb_body_to_the_rest_api_is_a_json_413(api_client: Client) -> None:
    body = json.dumps({"kind": "write", "path": "/3/0/14", "value": "x" * TEN_MB})
    response = api_client.post(OPERATIONS, body, content_type="application/json")
    assert response.status_code == 413
    assert response.json() == {"detail": "the request body is over the limit of 2621440 bytes"}
    assert not EndpointOperation.objects.exists()


def test_a_wrong_content_type_to_the_rest_api_is_refused(api_client: Client) -> None:
    response = api_client.post(OPERATIONS, "kind=read&path=/3/0/0", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("malformed JSON")
    assert not EndpointOperation.objects.exists()


def test_a_multipart_body_django_cannot_read_is_a_json_400(api_client: Client) -> None:
    response = api_client.post("/api/v1/firmware", b"x", content_type="multipart/form-data")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "the multipart/form-data body cannot be read: Invalid boundary in multipart: None"
    }
    assert not Firmware.objects.exists()


def test_more_parameters_than_django_reads_is_a_json_400(api_client: Client) -> None:
    many = "&".join(f"p{i}=1" for i in range(1001))  # DATA_UPLOAD_MAX_NUMBER_FIELDS is 1000
    response = api_client.get(f"/api/v1/endpoints?{many}")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("The number of GET/POST parameters exceeded")


# --- pages ------------------------------------------------------------------------------------------------

PAGES = [
    ("/", {"q": "<script>alert(1)</script>"}, 200),
    ("/", {"q": "'; DROP TABLE core_endpoint;--", "status": "<b>x</b>"}, 422),
    ("/", {"q": "\x00"}, 400),
    ("/events/", {"endpoint": "x\x00"}, 400),
    ("/events/", {"type": "<script>alert(1)</script>"}, 422),  # type is object ids
    ("/operations/", {"status": "<script>alert(1)</script>"}, 422),
]


@pytest.mark.parametrize(("url", "query", "status"), PAGES)
def test_pages_echo_hostile_queries_escaped(viewer: Any, url: str, query: dict[str, str], status: int) -> None:
    client = Client()
    client.force_login(viewer)
    response = client.get(url, query)
    assert response.status_code == status
    html = response.content.decode()
    assert "<script>alert(1)" not in html
    assert "<b>x</b>" not in html


@pytest.mark.parametrize(("name", "status"), [("<script>alert(1)<script>", 404), ("x\x00y", 400), ("'; --", 404)])
def test_an_unknown_device_page_is_refused_escaped(viewer: Any, name: str, status: int) -> None:
    client = Client()
    client.force_login(viewer)
    response = client.get(f"/endpoints/{name}/")
    assert response.status_code == status
    assert "<script>alert(1)" not in response.content.decode()
