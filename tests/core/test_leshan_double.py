"""The Leshan test double against the REST/SSE contract (../shared/reference/leshan-rest-contract.md), over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from core.lwm2m.types import DataType, ObjectLink
from core.simulator.client import SimulatedClient
from core.simulator.double.nodes import java_double
from core.simulator.double.protocol import LeshanVersion, status_text
from core.simulator.double.scripts import ScriptedOutcome
from core.simulator.double.server import LeshanDouble

JSON = {"Content-Type": "application/json; charset=utf-8"}
SSE = {"Accept": "text/event-stream"}
REGISTRATION_KEYS = [
    "endpoint",
    "registrationId",
    "registrationDate",
    "lastUpdate",
    "address",
    "lwM2mVersion",
    "lifetime",
    "bindingMode",
    "rootPath",
    "objectLinks",
    "secure",
    "additionalRegistrationAttributes",
    "queuemode",
    "availableInstances",
]


def device(ep: str = "dev1", **kwargs: Any) -> SimulatedClient:
    return SimulatedClient(
        ep,
        resources={
            "/1/0/1": (DataType.INTEGER, 300),
            "/1/0/6": (DataType.BOOLEAN, False),
            "/3/0/0": (DataType.STRING, "Acme"),
            "/3/0/4": (DataType.NONE, None),
            "/3/0/7/0": (DataType.INTEGER, 3800),
            "/3/0/7/1": (DataType.INTEGER, 5000),
            "/3/0/9": (DataType.INTEGER, 100),
            "/3/0/13": (DataType.TIME, 1718000000000),
            "/3/0/21": (DataType.UNSIGNED_INTEGER, 2**64 - 1),
            "/5/0/0": (DataType.OPAQUE, b"\x0a\x1b\xff"),
            "/3303/0/5700": (DataType.FLOAT, 21.5),
            "/3303/0/5601": (DataType.FLOAT, 1e10),
            "/20000/0/0": (DataType.OBJLNK, ObjectLink(3, 0)),
        },
        **kwargs,
    )


@pytest.fixture
async def leshan() -> AsyncIterator[LeshanDouble]:
    double = LeshanDouble(heartbeat=0.2, clients=[device()])
    await double.start()
    yield double
    await double.stop()


@pytest.fixture
async def master() -> AsyncIterator[LeshanDouble]:
    double = LeshanDouble(version=LeshanVersion.MASTER, heartbeat=0.2)
    await double.start()
    yield double
    await double.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> tuple[int, str, Any]:
    async with http.request(method, url, **kwargs) as response:
        return response.status, await response.text(), response.headers


async def call_json(http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> Any:
    status, text, headers = await call(http, method, url, **kwargs)
    assert (status, headers["Content-Type"]) == (200, "application/json"), text
    return json.loads(text)


class Events:
    """Reads an event stream frame by frame (heartbeats skipped)."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def line(self) -> bytes:
        return await asyncio.wait_for(self.response.content.readline(), 2)

    async def next(self) -> tuple[str, Any]:
        line = await self.line()
        while line == b"\r\n":
            line = await self.line()
        name = re.fullmatch(rb"event: (\w+)\r\n", line)
        data = await self.line()
        assert name, line
        assert re.fullmatch(rb"data: .*\r\n", data), data
        assert await self.line() == b"\r\n"
        return name[1].decode(), json.loads(data[6:])


@contextlib.asynccontextmanager
async def subscribe(http: aiohttp.ClientSession, leshan: LeshanDouble, ep: str | None = None) -> AsyncIterator[Events]:
    params = {"ep": ep} if ep else {}
    async with http.get(f"{leshan.base_url}/api/event", params=params, headers=SSE) as response:
        assert response.status == 200
        yield Events(response)


def api(leshan: LeshanDouble, tail: str) -> str:
    return f"{leshan.base_url}/api/clients{tail}"


# --- registrations -------------------------------------------------------------------------------------


async def test_it_lists_registrations_in_leshans_json_shape(leshan: LeshanDouble, http: aiohttp.ClientSession) -> None:
    [registration] = await call_json(http, "GET", api(leshan, ""))
    assert list(registration) == REGISTRATION_KEYS
    assert registration["endpoint"] == "dev1"
    assert re.fullmatch(r"[A-Za-z0-9]{10}", registration["registrationId"])
    assert isinstance(registration["registrationDate"], int)
    assert registration["lastUpdate"] == registration["registrationDate"]
    assert (registration["lwM2mVersion"], registration["bindingMode"], registration["queuemode"]) == ("1.1", "U", False)
    assert registration["objectLinks"][0] == {"url": "/", "attributes": {"rt": '"oma.lwm2m"', "ct": "110"}}
    assert {"url": "/3/0", "attributes": {}} in registration["objectLinks"]
    assert registration["availableInstances"] == {"1": [0], "3": [0], "5": [0], "3303": [0], "20000": [0]}
    assert await call_json(http, "GET", api(leshan, "/dev1")) == registration


async def test_it_shows_sleeping_only_for_queue_mode_clients(leshan: LeshanDouble, http: aiohttp.ClientSession) -> None:
    leshan.register(device("q1", queue_mode=True))
    registration = await call_json(http, "GET", api(leshan, "/q1"))
    assert list(registration) == [*REGISTRATION_KEYS, "sleeping"]
    assert (registration["queuemode"], registration["sleeping"]) == (True, False)


async def test_it_answers_an_unknown_endpoint_with_400_text(leshan: LeshanDouble, http: aiohttp.ClientSession) -> None:
    status, text, headers = await call(http, "GET", api(leshan, "/nope/3/0/9"))
    assert (status, text) == (400, "No registered client with id 'nope'")
    assert "Content-Type" not in headers  # M15 sets none on error texts
    status, text, _ = await call(http, "GET", api(leshan, "/nope"))
    assert (status, text) == (400, "no registered client with id 'nope'")  # M15's casing on this route


async def test_master_capitalises_unknown_endpoint_texts(master: LeshanDouble, http: aiohttp.ClientSession) -> None:
    status, text, headers = await call(http, "POST", api(master, "/nope/3/0/4"))
    assert (status, text) == (400, "No registered client with id 'nope'")
    assert headers["Content-Type"] == "text/plain; charset=UTF-8"


async def test_it_answers_a_malformed_route_with_jettys_error_page(
    leshan: LeshanDouble, http: aiohttp.ClientSession
) -> None:
    status, text, headers = await call(http, "GET", api(leshan, "/"))
    assert status == 400
    assert "Invalid path" in text
    assert headers["Content-Type"].startswith("text/html")


# --- reads and value encodings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("/3/0/9", {"id": 9, "kind": "singleResource", "type": "INTEGER", "value": "100"}),
        ("/3/0/7", {"id": 7, "kind": "multiResource", "type": "INTEGER", "values": {"0": "3800", "1": "5000"}}),
        ("/3/0/7/1", {"id": 1, "kind": "resourceInstance", "type": "INTEGER", "value": "5000"}),
        (
            "/1/0",
            {
                "id": 0,
                "kind": "instance",
                "resources": [
                    {"id": 1, "kind": "singleResource", "type": "INTEGER", "value": "300"},
                    {"id": 6, "kind": "singleResource", "type": "BOOLEAN", "value": False},
                ],
            },
        ),
        (
            "/3303",
            {
                "id": 3303,
                "kind": "obj",
                "instances": [
                    {
                        "id": 0,
                        "kind": "instance",
                        "resources": [
                            {"id": 5601, "kind": "singleResource", "type": "FLOAT", "value": "1.0E10"},
                            {"id": 5700, "kind": "singleResource", "type": "FLOAT", "value": "21.5"},
                        ],
                    }
                ],
            },
        ),
    ],
)
async def test_it_reads_at_every_depth(
    leshan: LeshanDouble, http: aiohttp.ClientSession, path: str, content: dict[str, Any]
) -> None:
    body = await call_json(http, "GET", api(leshan, f"/dev1{path}"))
    assert body == {"status": "CONTENT(205)", "valid": True, "success": True, "failure": False, "content": content}
    assert list(body) == ["status", "valid", "success", "failure", "content"]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("/3/0/0", "Acme"),
        ("/3/0/9", "100"),
        ("/3/0/21", "18446744073709551615"),
        ("/3303/0/5700", "21.5"),
        ("/3303/0/5601", "1.0E10"),
        ("/3/0/13", 1718000000000),
        ("/5/0/0", "0a1bff"),
        ("/1/0/6", False),
        ("/20000/0/0", {"objectId": 3, "objectInstanceId": 0, "nullLink": False}),
    ],
)
async def test_it_encodes_values_as_leshan_does(
    leshan: LeshanDouble, http: aiohttp.ClientSession, path: str, value: Any
) -> None:
    body = await call_json(http, "GET", api(leshan, f"/dev1{path}?timeout=5&format=SENML_CBOR"))
    assert body["content"]["value"] == value


@pytest.mark.parametrize(
    ("value", "text"),
    [(21.5, "21.5"), (100.0, "100.0"), (1e10, "1.0E10"), (1e-4, "1.0E-4"), (-1.25e-7, "-1.25E-7"), (1e7, "1.0E7")],
)
def test_it_writes_floats_like_java(value: float, text: str) -> None:
    assert java_double(value) == text


async def test_a_device_error_is_http_200_with_success_false(leshan: LeshanDouble, http: aiohttp.ClientSession) -> None:
    body = await call_json(http, "GET", api(leshan, "/dev1/3/0/99"))
    assert body == {"status": "NOT_FOUND(404)", "valid": True, "success": False, "failure": True}
    body = await call_json(http, "GET", api(leshan, "/dev1/3/0/4"))
    assert body["status"] == "METHOD_NOT_ALLOWED(405)"


async def test_a_bad_path_is_an_invalid_request(leshan: LeshanDouble, http: aiohttp.ClientSession) -> None:
    status, text, _ = await call(http, "GET", api(leshan, "/dev1/3/x"))
    assert status == 400
    assert text.startswith("Invalid request: ")


async def test_it_reads_composite(leshan: LeshanDouble, http: aiohttp.ClientSession) -> None:
    body = await call_json(http, "GET", api(leshan, "/dev1/composite?paths=/3/0/9,/3303/0/5700"))
    assert body["content"] == {
        "/3/0/9": {"id": 9, "kind": "singleResource", "type": "INTEGER", "value": "100"},
        "/3303/0/5700": {"id": 5700, "kind": "singleResource", "type": "FLOAT", "value": "21.5"},
    }
    status, text, _ = await call(http, "GET", api(leshan, "/dev1/composite"))
    assert (status, text.startswith("Unexpected exception: ")) == (500, True)


async def test_it_discovers(leshan: LeshanDouble, http: aiohttp.ClientSession) -> None:
    body = await call_json(http, "GET", api(leshan, "/dev1/3303/0/discover"))
    assert body["objectLinks"] == [
        {"url": "/3303/0", "attributes": {}},
        {"url": "/3303/0/5601", "attributes": {}},
        {"url": "/3303/0/5700", "attributes": {}},
    ]


async def test_it_writes_attributes_and_refuses_unknown_ones(leshan: LeshanDouble, http: aiohttp.ClientSession) -> None:
    assert await call_json(http, "PUT", api(leshan, "/dev1/3303/0/5700/attributes?pmin=10&pmax")) == CHANGED
    body = await call_json(http, "GET", api(leshan, "/dev1/3303/0/5700/discover"))
    assert body["objectLinks"] == [{"url": "/3303/0/5700", "attributes": {"pmin": "10", "pmax": None}}]
    status, text, _ = await call(http, "PUT", api(leshan, "/dev1/3303/0/5700/attributes?pmin=10&timeout=5"))
    assert (status, text) == (500, "Unexpected exception: timeout attribute is unknown or not a LWM2M attribute")


# --- writes, execute, create, delete, observe ----------------------------------------------------------

CHANGED = {"status": "CHANGED(204)", "valid": True, "success": True, "failure": False}


@pytest.mark.parametrize(
    ("path", "node", "read_back"),
    [
        ("/3/0/9", {"id": 9, "kind": "singleResource", "type": "INTEGER", "value": "-5"}, "-5"),
        ("/3/0/9", {"id": 9, "type": "INTEGER", "value": 42}, "42"),
        ("/3/0/13", {"id": 13, "kind": "singleResource", "type": "TIME", "value": 1718000001000}, 1718000001000),
        ("/5/0/0", {"id": 0, "kind": "singleResource", "type": "opaque", "value": "CAFE"}, "cafe"),
        ("/3303/0/5700", {"id": 5700, "kind": "singleResource", "type": "FLOAT", "value": 3}, "3.0"),
        ("/3/0/7/1", {"id": 1, "kind": "resourceInstance", "type": "INTEGER", "value": "42"}, "42"),
    ],
)
async def test_it_writes_then_reads_back(
    leshan: LeshanDouble, http: aiohttp.ClientSession, path: str, node: dict[str, Any], read_back: Any
) -> None:
    assert await call_json(http, "PUT", api(leshan, f"/dev1{path}?timeout=5"), json=node) == CHANGED
    body = await call_json(http, "GET", api(leshan, f"/dev1{path}"))
    assert body["content"]["value"] == read_back


async def test_writing_a_resource_instance_keeps_its_siblings(
    leshan: LeshanDouble, http: aiohttp.ClientSession
) -> None:
    node = {"id": 1, "kind": "resourceInstance", "type": "INTEGER", "value": "42"}
    assert await call_json(http, "PUT", api(leshan, "/dev1/3/0/7/1"), json=node) == CHANGED
    body = await call_json(http, "GET", api(leshan, "/dev1/3/0/7"))
    assert body["content"]["values"] == {"0": "3800", "1": "42"}


async def test_a_write_to_a_missing_instance_is_not_found(leshan: LeshanDouble, http: aiohttp.ClientSession) -> None:
    node = {"id": 5700, "kind": "singleResource", "type": "FLOAT", "value": "1.5"}
    body = await call_json(http, "PUT", api(leshan, "/dev1/3303/9/5700"), json=node)
    assert body == {"status": "NOT_FOUND(404)", "valid": True, "success": False, "failure": True}


async def test_a_partial_instance_update_keeps_other_resources(
    leshan: LeshanDouble, http: aiohttp.ClientSession
) -> None:
    node = {
        "id": 0,
        "kind": "instance",
        "resources": [{"id": 1, "kind": "singleResource", "type": "INTEGER", "value": "120"}],
    }
    assert await call_json(http, "PUT", api(leshan, "/dev1/1/0?replace=false"), json=node) == CHANGED
    assert leshan.clients["dev1"].resources["/1/0/1"] == (DataType.INTEGER, 120)
    assert leshan.clients["dev1"].resources["/1/0/6"] == (DataType.BOOLEAN, False)


async def test_a_replace_write_replaces_a_multi_instance_resource(
    leshan: LeshanDouble, http: aiohttp.ClientSession
) -> None:
    node = {"id": 7, "kind": "multiResource", "type": "INTEGER", "values": {"4": "1"}}
    assert await call_json(http, "PUT", api(leshan, "/dev1/3/0/7"), json=node) == CHANGED
    body = await call_json(http, "GET", api(leshan, "/dev1/3/0/7"))
    assert body["content"]["values"] == {"4": "1"}


async def test_a_text_plain_write_is_a_string(leshan: LeshanDouble, http: aiohttp.ClientSession) -> None:
    headers = {"Content-Type": "text/plain"}
    assert await call_json(http, "PUT", api(leshan, "/dev1/3/0/0"), data="Globex", headers=headers) == CHANGED
    assert leshan.clients["dev1"].resources["/3/0/0"] == (DataType.STRING, "Globex")


@pytest.mark.parametrize(
    ("body", "status", "prefix"),
    [
        ('{"id":9,"kind":"singleResource"', 400, "Invalid request: unable to parse json to tlv:"),
        (
            '{"kind":"singleResource","type":"INTEGER","value":"1"}',
            400,
            "Invalid request: unable to parse json to tlv:",
        ),
        ('{"id":9,"kind":"multiResource","type":"INTEGER","values":[]}', 400, "Invalid request: unable to parse json"),
        ('{"id":9}', 400, "Invalid request: unable to parse json to tlv:Invalid node element"),
        ('{"id":9,"kind":"singleResource","type":"INTEGER","value":"abc"}', 500, "Unexpected exception: "),
        ('{"id":9,"kind":"singleResource","type":"INTEGER","value":1.5}', 500, "Unexpected exception: "),
        (
            '{"id":13,"kind":"singleResource","type":"TIME","value":"2024-06-10T00:00:00Z"}',
            500,
            "Unexpected exception:",
        ),
        ('{"id":6,"kind":"singleResource","type":"BOOLEAN","value":"true"}', 500, "Unexpected exception: "),
        ('{"id":9,"kind":"singleResource","type":"unsigned integer","value":"1"}', 500, "Unexpected exception: "),
        ('{"id":9,"kind":"singleResource","value":"1"}', 500, "Unexpected exception: "),
        ('{"id":8,"kind":"singleResource","type":"INTEGER","value":"1"}', 400, "Invalid request: "),
    ],
)
async def test_it_rejects_bad_write_bodies_as_leshan_does(
    leshan: LeshanDouble, http: aiohttp.ClientSession, body: str, status: int, prefix: str
) -> None:
    answer_status, text, _ = await call(http, "PUT", api(leshan, "/dev1/3/0/9"), data=body, headers=JSON)
    assert answer_status == status, text
    assert text.startswith(prefix), text
    assert leshan.clients["dev1"].resources["/3/0/9"] == (DataType.INTEGER, 100)


async def test_an_unsupported_content_type_is_an_invalid_request(
    leshan: LeshanDouble, http: aiohttp.ClientSession
) -> None:
    headers = {"Content-Type": "application/xml"}
    status, text, _ = await call(http, "PUT", api(leshan, "/dev1/3/0/9"), data="<a/>", headers=headers)
    assert (status, text) == (400, "Invalid request: content type application/xml not supported")


async def test_it_executes_with_arguments(leshan: LeshanDouble, http: aiohttp.ClientSession) -> None:
    headers = {"Content-Type": "text/plain"}
    assert await call_json(http, "POST", api(leshan, "/dev1/3/0/4"), data="0='now',1", headers=headers) == CHANGED
    assert await call_json(http, "POST", api(leshan, "/dev1/3/0/4")) == CHANGED
    assert leshan.clients["dev1"].executions == [("/3/0/4", "0='now',1"), ("/3/0/4", "")]
    status, _, _ = await call(http, "POST", api(leshan, "/dev1/3/0/4"), data="not args", headers=headers)
    assert status == 400


async def test_it_creates_and_deletes_instances(leshan: LeshanDouble, http: aiohttp.ClientSession) -> None:
    resource = {"id": 5700, "kind": "singleResource", "type": "FLOAT", "value": "19.0"}
    body = await call_json(http, "POST", api(leshan, "/dev1/3303"), json={"kind": "instance", "resources": [resource]})
    assert body == {"status": "CREATED(201)", "valid": True, "success": True, "failure": False, "location": "3303/1"}
    with_id = {"kind": "instance", "id": 7, "resources": [resource]}
    assert "location" not in await call_json(http, "POST", api(leshan, "/dev1/3303"), json=with_id)
    assert (await call_json(http, "DELETE", api(leshan, "/dev1/3303/1")))["status"] == "DELETED(202)"
    assert (await call_json(http, "DELETE", api(leshan, "/dev1/3303/1")))["status"] == "NOT_FOUND(404)"
    status, text, _ = await call(http, "POST", api(leshan, "/dev1/3303"), json=resource)
    assert (status, text) == (500, "Unexpected exception: payload must contain an object instance")


async def test_it_observes_and_cancels(leshan: LeshanDouble, http: aiohttp.ClientSession) -> None:
    body = await call_json(http, "POST", api(leshan, "/dev1/3303/0/5700/observe"))
    assert body["content"] == {"id": 5700, "kind": "singleResource", "type": "FLOAT", "value": "21.5"}
    assert leshan.clients["dev1"].observations == {"/3303/0/5700"}

    status, text, headers = await call(http, "DELETE", api(leshan, "/dev1/3303/0/5700/observe"))
    assert (status, text, "Content-Type" in headers) == (200, "", False)
    assert leshan.clients["dev1"].observations == set()

    status, text, _ = await call(http, "DELETE", api(leshan, "/dev1/3303/0/5700/observe?active"))
    assert (status, text) == (404, "no observation for path /3303/0/5700 for  client 'dev1'")

    await call_json(http, "POST", api(leshan, "/dev1/3303/0/5700/observe"))
    body = await call_json(http, "DELETE", api(leshan, "/dev1/3303/0/5700/observe?active"))
    assert (body["status"], body["content"]["value"]) == ("CONTENT(205)", "21.5")


async def test_it_logs_every_request(leshan: LeshanDouble, http: aiohttp.ClientSession) -> None:
    headers = {"Content-Type": "text/plain"}
    await call(http, "PUT", api(leshan, "/dev1/3/0/0?timeout=3"), data="Initech", headers=headers)
    record = leshan.requests[-1]
    assert (record.method, record.path, record.query, record.body) == (
        "PUT",
        "/api/clients/dev1/3/0/0",
        {"timeout": "3"},
        "Initech",
    )
    assert record.time <= time.time()


# --- scripted outcomes ---------------------------------------------------------------------------------


async def test_a_scripted_timeout_is_a_504_text(leshan: LeshanDouble, http: aiohttp.ClientSession) -> None:
    leshan.script("dev1", ScriptedOutcome.timeout())
    status, text, headers = await call(http, "GET", api(leshan, "/dev1/3/0/9"))
    assert (status, text, "Content-Type" in headers) == (504, "Request timeout", False)
    assert (await call(http, "GET", api(leshan, "/dev1/3/0/9")))[0] == 200  # outcomes are used once


async def test_a_scripted_coap_error_is_200_with_success_false(
    leshan: LeshanDouble, http: aiohttp.ClientSession
) -> None:
    leshan.script(
        "dev1", ScriptedOutcome.coap_error("NOT_FOUND"), ScriptedOutcome.coap_error("UNAUTHORIZED", "no access")
    )
    assert await call_json(http, "GET", api(leshan, "/dev1/3/0/9")) == {
        "status": "NOT_FOUND(404)",
        "valid": True,
        "success": False,
        "failure": True,
    }
    body = await call_json(http, "PUT", api(leshan, "/dev1/3/0/0"), data="x", headers={"Content-Type": "text/plain"})
    assert (body["status"], body["errormessage"]) == ("UNAUTHORIZED(401)", "no access")
    assert status_text(409) == "UNKNOWN(409)"


async def test_scripted_http_sleeping_and_unregistered_texts(leshan: LeshanDouble, http: aiohttp.ClientSession) -> None:
    leshan.script(
        "dev1",
        ScriptedOutcome.http(500, "Unexpected exception: boom"),
        ScriptedOutcome.sleeping(),
        ScriptedOutcome.not_registered(),
    )
    url = api(leshan, "/dev1/3/0/9")
    assert (await call(http, "GET", url))[:2] == (500, "Unexpected exception: boom")
    sleeping = "Invalid request: The destination client is sleeping, request cannot be sent."
    assert (await call(http, "GET", url))[:2] == (400, sleeping)
    assert (await call(http, "GET", url))[:2] == (400, "No registered client with id 'dev1'")


async def test_a_scripted_drop_closes_the_connection(leshan: LeshanDouble, http: aiohttp.ClientSession) -> None:
    leshan.script("dev1", ScriptedOutcome.drop())
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await call(http, "POST", api(leshan, "/dev1/3/0/4"))
    assert leshan.clients["dev1"].executions == []


async def test_aiohttp_retries_an_idempotent_request_once_after_a_drop(
    leshan: LeshanDouble, http: aiohttp.ClientSession
) -> None:
    leshan.script("dev1", ScriptedOutcome.drop())
    assert (await call_json(http, "GET", api(leshan, "/dev1/3/0/9")))["success"] is True
    assert [record.method for record in leshan.requests] == ["GET", "GET"]
    leshan.script("dev1", ScriptedOutcome.drop(), ScriptedOutcome.drop())
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await call(http, "GET", api(leshan, "/dev1/3/0/9"))


async def test_a_scripted_delay_then_answers_normally(leshan: LeshanDouble, http: aiohttp.ClientSession) -> None:
    leshan.script("dev1", ScriptedOutcome.delay(0.1))
    leshan.latency = 0.05
    started = time.monotonic()
    body = await call_json(http, "GET", api(leshan, "/dev1/3/0/9"))
    assert body["content"]["value"] == "100"
    assert time.monotonic() - started >= 0.15


async def test_a_device_slower_than_the_timeout_is_a_504(leshan: LeshanDouble, http: aiohttp.ClientSession) -> None:
    leshan.script("dev1", ScriptedOutcome.delay(0.1))
    status, text, _ = await call(http, "GET", api(leshan, "/dev1/3/0/9?timeout=0"))
    assert (status, text) == (504, "Request timeout")


# --- queue mode ----------------------------------------------------------------------------------------


async def test_m15_refuses_requests_to_a_sleeping_client_until_it_is_heard_from(
    leshan: LeshanDouble, http: aiohttp.ClientSession
) -> None:
    leshan.register(device("q1", queue_mode=True))
    leshan.script("q1", ScriptedOutcome.timeout())
    async with subscribe(http, leshan) as events:
        assert (await call(http, "GET", api(leshan, "/q1/3/0/9")))[0] == 504
        assert await events.next() == ("SLEEPING", {"ep": "q1"})  # no answer: Leshan considers it asleep
        status, text, _ = await call(http, "GET", api(leshan, "/q1/3/0/9"))
        assert (status, text) == (400, "Invalid request: The destination client is sleeping, request cannot be sent.")
        leshan.update("q1")
        assert (await events.next())[0] == "AWAKE"
        assert (await events.next())[0] == "UPDATED"
    assert (await call(http, "GET", api(leshan, "/q1/3/0/9")))[0] == 200


async def test_master_delays_a_request_to_a_sleeping_client_until_it_wakes(
    master: LeshanDouble, http: aiohttp.ClientSession
) -> None:
    master.register(device("q1", queue_mode=True))
    master.sleep("q1")
    headers = {"Content-Type": "text/plain"}
    first = await call_json(http, "PUT", api(master, "/q1/3/0/0"), data="first", headers=headers)
    second = await call_json(http, "PUT", api(master, "/q1/3/0/0/"), data="second", headers=headers)
    assert list(second) == ["ep", "path", "requestId", "delayed"]
    assert (second["ep"], second["path"], second["delayed"]) == ("q1", "/3/0/0", True)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", second["requestId"])
    assert first["requestId"] != second["requestId"]

    async with subscribe(http, master, ep="q1") as events:
        master.wake("q1")
        assert await events.next() == ("AWAKE", {"ep": "q1"})
        assert await events.next() == (
            "REQUEST_RESPONSE",
            {"ep": "q1", "path": "/3/0/0", "requestId": second["requestId"], "response": CHANGED, "delayed": True},
        )
    assert master.clients["q1"].resources["/3/0/0"] == (DataType.STRING, "second")  # only the last one is sent


# --- server-sent events --------------------------------------------------------------------------------


@pytest.mark.parametrize("accept", ["*/*", "", "text/event-stream, */*", "text/event-stream;charset=UTF-8"])
async def test_the_event_stream_needs_the_exact_accept_header(
    leshan: LeshanDouble, http: aiohttp.ClientSession, accept: str
) -> None:
    status, text, _ = await call(http, "GET", f"{leshan.base_url}/api/event", headers={"Accept": accept})
    assert status == 405
    assert "HTTP method GET is not supported by this URL" in text


async def test_the_event_stream_frames_events_as_jetty_does(leshan: LeshanDouble, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{leshan.base_url}/api/event", headers=SSE) as response:
        assert response.headers["Content-Type"] == "text/event-stream;charset=UTF-8"
        leshan.sleep("dev1")  # not in queue mode: the device goes offline, no event
        leshan.register(device("q1", queue_mode=True))
        leshan.sleep("q1")
        assert await response.content.readline() == b"event: AWAKE\r\n"
        assert await response.content.readline() == b'data: {"ep":"q1"}\r\n'
        assert await response.content.readline() == b"\r\n"
        assert await response.content.readline() == b"event: REGISTRATION\r\n"


async def test_it_emits_every_event_with_its_data_shape(leshan: LeshanDouble, http: aiohttp.ClientSession) -> None:
    client = device("q1", queue_mode=True)
    async with subscribe(http, leshan) as events:
        leshan.register(client)
        assert await events.next() == ("AWAKE", {"ep": "q1"})
        assert await events.next() == ("REGISTRATION", client.registration_json())

        leshan.sleep("q1")
        assert await events.next() == ("SLEEPING", {"ep": "q1"})
        leshan.update("q1", lifetime=600)
        assert await events.next() == ("AWAKE", {"ep": "q1"})
        name, data = await events.next()
        assert (name, list(data)) == ("UPDATED", ["registration", "update"])
        assert data["registration"]["lifetime"] == 600
        assert data["update"] == {
            "registrationId": client.registration_id,
            "address": client.address,
            "lifetime": 600,
            "secure": False,
            "additionalAttributes": {},
        }
        leshan.sleep("q1")
        leshan.wake("q1")
        assert [await events.next(), await events.next()] == [("SLEEPING", {"ep": "q1"}), ("AWAKE", {"ep": "q1"})]

        leshan.notify("q1", "/3303/0/5700")
        temperature = {"id": 5700, "kind": "singleResource", "type": "FLOAT", "value": "21.5"}
        assert await events.next() == (
            "NOTIFICATION",
            {"ep": "q1", "kind": "single", "res": "/3303/0/5700", "val": temperature},
        )
        leshan.notify_composite("q1", ["/3303/0/5700", "/3/0/9"])
        battery = {"id": 9, "kind": "singleResource", "type": "INTEGER", "value": "100"}
        assert await events.next() == (
            "NOTIFICATION",
            {
                "ep": "q1",
                "kind": "composite",
                "val": {"/3303/0/5700": temperature, "/3/0/9": battery},
                "paths": ["/3303/0/5700", "/3/0/9"],
            },
        )
        leshan.send("q1", ["/3/0/9"])
        assert await events.next() == ("SEND", {"ep": "q1", "val": {"/3/0/9": battery}})

        registration = client.registration_json()
        leshan.deregister("q1")
        assert await events.next() == ("DEREGISTRATION", registration)
    assert "q1" not in leshan.clients


async def test_a_notification_wakes_a_sleeping_queue_client(leshan: LeshanDouble, http: aiohttp.ClientSession) -> None:
    leshan.register(device("q1", queue_mode=True))
    leshan.sleep("q1")
    async with subscribe(http, leshan) as events:
        leshan.notify("q1", "/3/0/9")
        assert await events.next() == ("AWAKE", {"ep": "q1"})
        assert (await events.next())[0] == "NOTIFICATION"


async def test_the_ep_parameter_filters_events(leshan: LeshanDouble, http: aiohttp.ClientSession) -> None:
    leshan.register(device("dev2"))
    async with subscribe(http, leshan, ep="dev1") as events:
        leshan.notify("dev2", "/3/0/9")
        leshan.send("dev2", ["/3/0/9"])
        leshan.notify("dev1", "/3/0/0")
        name, data = await events.next()
        assert (name, data["ep"], data["res"]) == ("NOTIFICATION", "dev1", "/3/0/0")


async def test_it_sends_heartbeats(leshan: LeshanDouble, http: aiohttp.ClientSession) -> None:
    async with subscribe(http, leshan) as events:
        started = time.monotonic()
        assert await events.line() == b"\r\n"
        assert await events.line() == b"\r\n"
        assert time.monotonic() - started >= 0.3


async def test_it_injects_raw_lines(leshan: LeshanDouble, http: aiohttp.ClientSession) -> None:
    async with subscribe(http, leshan) as events:
        leshan.emit_raw("event: NOTIFICATION\r\ndata: {not json\r\n\r\n")
        leshan.send("dev1", ["/3/0/9"])
        assert await events.line() == b"event: NOTIFICATION\r\n"
        assert await events.line() == b"data: {not json\r\n"
        assert await events.line() == b"\r\n"
        assert (await events.next())[0] == "SEND"


async def test_it_disconnects_the_streams(leshan: LeshanDouble, http: aiohttp.ClientSession) -> None:
    async with subscribe(http, leshan) as events:
        leshan.disconnect_streams()
        assert await asyncio.wait_for(events.response.content.read(), 2) == b""
    async with subscribe(http, leshan) as events:  # a client can reconnect
        leshan.notify("dev1", "/3/0/9")
        assert (await events.next())[0] == "NOTIFICATION"


# --- running in a thread -------------------------------------------------------------------------------


def test_it_runs_in_a_thread_for_synchronous_callers() -> None:
    leshan = LeshanDouble()
    with leshan.run_in_thread() as base_url:
        leshan.register(device("dev3"))  # from the test thread, onto the server's loop
        leshan.script("dev3", ScriptedOutcome.timeout())
        with urllib.request.urlopen(f"{base_url}/api/clients/dev3") as response:
            assert json.load(response)["endpoint"] == "dev3"
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(f"{base_url}/api/clients/dev3/3/0/9")
        assert (error.value.code, error.value.read()) == (504, b"Request timeout")
        error.value.close()
    assert leshan.events[0][0] == "REGISTRATION"
