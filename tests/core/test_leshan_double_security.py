"""The Leshan double's security store (contract §7, ``/api/security/*``) and the client's calls to it, over HTTP,
in both versions: the same routes and JSON, different failures."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from core.leshan import LeshanClient, Outcome, identity_in_use
from core.simulator.double.protocol import LeshanVersion
from core.simulator.double.server import LeshanDouble
from tests.servers import free_port

JSON = {"Content-Type": "application/json; charset=utf-8"}


def spki_hex(key: Any) -> str:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo).hex()


def psk(ep: str = "ep1", identity: str = "id1", key: str = "0A1B2C3D") -> dict[str, Any]:
    return {"endpoint": ep, "tls": {"mode": "psk", "details": {"identity": identity, "key": key}}}


@pytest.fixture(params=[LeshanVersion.M15, LeshanVersion.MASTER], ids=["m15", "master"])
async def leshan(request: pytest.FixtureRequest) -> AsyncIterator[LeshanDouble]:
    double = LeshanDouble(version=request.param)
    await double.start()
    yield double
    await double.stop()


@pytest.fixture
async def m15() -> AsyncIterator[LeshanDouble]:
    double = LeshanDouble()
    await double.start()
    yield double
    await double.stop()


@pytest.fixture
async def master() -> AsyncIterator[LeshanDouble]:
    double = LeshanDouble(version=LeshanVersion.MASTER)
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


async def put(http: aiohttp.ClientSession, leshan: LeshanDouble, body: Any, *, path: str = "clients") -> Any:
    text = body if isinstance(body, str) else json.dumps(body)
    return await call(http, "PUT", f"{leshan.base_url}/api/security/{path}", data=text, headers=JSON)


async def listed(http: aiohttp.ClientSession, leshan: LeshanDouble) -> list[dict[str, Any]]:
    status, text, headers = await call(http, "GET", f"{leshan.base_url}/api/security/clients")
    assert (status, headers["Content-Type"]) == (200, "application/json"), text
    return json.loads(text)


# --- the routes and the JSON (the same in both versions) --------------------------------------------------


async def test_it_adds_lists_and_replaces_entries_by_endpoint(leshan: LeshanDouble, http) -> None:
    assert await listed(http, leshan) == []
    status, text, _ = await put(http, leshan, psk(key="0A1B2C3D"))
    assert (status, text) == (200, "")
    assert await listed(http, leshan) == [psk(key="0a1b2c3d")]  # hex in either case, lowercase out
    status, _, _ = await put(http, leshan, psk(identity="id2", key="ff"), path="clients/")  # as the UI sends it
    assert status == 200
    assert await listed(http, leshan) == [psk(identity="id2", key="ff")]


async def test_it_keeps_rpk_x509_and_oscore_entries(leshan: LeshanDouble, http) -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    rpk = {"endpoint": "ep2", "tls": {"mode": "rpk", "details": {"key": spki_hex(key).upper()}}}
    x509_entry = {"endpoint": "ep3", "tls": {"mode": "x509"}}
    oscore = {"endpoint": "ep4", "oscore": {"rid": "01", "sid": "02", "msec": "A0B1", "msalt": "ff", "aead": 1}}
    both = {**psk("ep5", "id5"), "oscore": {"rid": "09"}}  # tls present: oscore ignored
    for body in (rpk, x509_entry, oscore, both):
        assert (await put(http, leshan, body))[0] == 200
    assert await listed(http, leshan) == [
        {"endpoint": "ep2", "tls": {"mode": "rpk", "details": {"key": spki_hex(key)}}},
        x509_entry,
        {"endpoint": "ep4", "oscore": {"rid": "01", "sid": "02", "msec": "a0b1", "msalt": "", "aead": 10, "hkdf": -10}},
        psk("ep5", "id5", "0a1b2c3d"),
    ]


async def test_it_deletes_an_entry_and_says_when_there_was_none(leshan: LeshanDouble, http) -> None:
    await put(http, leshan, psk("urn:imei:1 2"))
    url = f"{leshan.base_url}/api/security/clients/urn%3Aimei%3A1%202"
    status, text, _ = await call(http, "DELETE", url)
    assert (status, text) == (200, "")
    assert await listed(http, leshan) == []
    status, text, headers = await call(http, "DELETE", url)
    assert (status, json.loads(text), headers["Content-Type"]) == (200, {"message": "not_found"}, "application/json")


async def test_a_psk_identity_is_unique_across_endpoints(leshan: LeshanDouble, http) -> None:
    await put(http, leshan, psk("ep1", "shared"))
    assert (await put(http, leshan, psk("ep1", "shared", "ff")))[0] == 200  # its own endpoint may keep it
    status, text, headers = await put(http, leshan, psk("ep2", "shared"))
    assert (status, text, headers.get("Content-Type")) == (400, "PSK Identity shared is already used", None)
    oscore = {"endpoint": "o1", "oscore": {"rid": "aa", "sid": "01", "msec": "02"}}
    await put(http, leshan, oscore)
    status, text, _ = await put(http, leshan, {**oscore, "endpoint": "o2"})
    assert (status, text) == (400, "Oscore Identity aa is already used")
    assert [entry["endpoint"] for entry in await listed(http, leshan)] == ["ep1", "o1"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", None),
        ({"tls": {"mode": "x509"}}, "Missing endpoint"),
        ({"endpoint": "ep", "tls": {"mode": "psk", "details": {"key": "00"}}}, "Missing PSK identity"),
        (psk(key="xyz"), "key parameter must be a valid hex string"),
        (psk(key="abc"), "key parameter must be a valid hex string"),
        ({"endpoint": "ep", "tls": {"mode": "psk2"}}, "Invalid security info content"),
        ({"endpoint": "ep", "tls": {"mode": "rpk", "details": {"key": "3059"}}}, "Invalid security info content"),
        ({"endpoint": "ep", "tls": "psk"}, "tls field should be a json object"),
        ({"endpoint": "ep", "tls": {"mode": "psk", "details": [1]}}, "details field should be a json object"),
        ({"endpoint": "ep", "oscore": 1}, "oscore field should be a json object"),
        ({"endpoint": "ep", "oscore": {"sid": "01", "msec": "02"}}, "Missing 'rid' field"),
        ({"endpoint": "ep", "oscore": {"rid": "01", "msec": "02"}}, "Missing 'sid' field"),
        ({"endpoint": "ep", "oscore": {"rid": "01", "sid": "02"}}, "Missing 'msec' field"),
    ],
)
async def test_a_bad_body_is_a_400_without_content_type(leshan: LeshanDouble, http, body, message) -> None:
    status, text, headers = await put(http, leshan, body)
    assert (status, headers.get("Content-Type")) == (400, None)
    assert text.startswith("Invalid request body: ")
    if message is not None:
        assert text == f"Invalid request body: {message}"
    assert await listed(http, leshan) == []


def test_an_ed25519_rpk_key_is_not_an_ec_key() -> None:
    from core.simulator.double.security import BadBody, parse_security_info

    key = spki_hex(ed25519.Ed25519PrivateKey.generate().public_key())
    with pytest.raises(BadBody, match="Invalid security info content"):
        parse_security_info({"endpoint": "ep", "tls": {"mode": "rpk", "details": {"key": key}}})


UNCHECKED = [
    {"endpoint": "ep", "tls": {}},  # no mode
    {"endpoint": "ep", "tls": {"mode": "psk"}},  # no details
    {"endpoint": "ep", "tls": {"mode": "psk", "details": {"identity": "id"}}},  # no key
    psk(ep=""),
    psk(identity=""),
    {"endpoint": "ep"},  # neither tls nor oscore
]


@pytest.mark.parametrize("body", UNCHECKED)
async def test_m15_fails_unchecked_fields_with_the_containers_500_page(m15: LeshanDouble, http, body) -> None:
    status, text, headers = await put(http, m15, body)
    assert (status, headers["Content-Type"]) == (500, "text/html; charset=ISO-8859-1")
    assert "<h2>HTTP ERROR 500 Server Error</h2>" in text
    assert await listed(http, m15) == []


@pytest.mark.parametrize("body", UNCHECKED)
async def test_master_fails_unchecked_fields_with_a_500_text(master: LeshanDouble, http, body) -> None:
    status, text, headers = await put(http, master, body)
    assert (status, headers["Content-Type"]) == (500, "text/plain; charset=UTF-8")
    assert text.startswith("Unexpected error handling PUT - /api/security/clients : ")
    assert await listed(http, master) == []


PATH_ERRORS = [
    ("GET", "/api/security/clients/ep1"),
    ("GET", "/api/security/other"),
    ("GET", "/api/security"),
    ("DELETE", "/api/security/clients/"),
    ("DELETE", "/api/security/clients/ep1/more"),
    ("PUT", "/api/security/clients/ep1"),
]


@pytest.mark.parametrize(("method", "path"), PATH_ERRORS)
async def test_m15_answers_a_path_error_with_the_containers_400_page(m15: LeshanDouble, http, method, path) -> None:
    status, text, headers = await call(http, method, m15.base_url + path, data=json.dumps(psk()), headers=JSON)
    assert (status, headers["Content-Type"]) == (400, "text/html; charset=ISO-8859-1")
    assert "<h2>HTTP ERROR 400 Bad Request</h2>" in text


@pytest.mark.parametrize(("method", "path"), PATH_ERRORS)
async def test_master_answers_a_path_error_with_an_empty_400(master: LeshanDouble, http, method, path) -> None:
    status, text, headers = await call(http, method, master.base_url + path, data=json.dumps(psk()), headers=JSON)
    assert (status, text, headers["Content-Type"]) == (400, "", "text/plain; charset=UTF-8")
    assert await listed(http, master) == []


async def test_the_server_identity_is_a_self_signed_certificate_by_default(leshan: LeshanDouble, http) -> None:
    status, text, headers = await call(http, "GET", f"{leshan.base_url}/api/security/server")
    assert (status, headers["Content-Type"]) == (200, "application/json")
    identity = json.loads(text)
    assert list(identity) == ["certificate"]
    certificate = x509.load_der_x509_certificate(base64.b64decode(identity["certificate"]["b64Der"]))
    pubkey = identity["certificate"]["pubkey"]
    assert base64.b64decode(pubkey["b64Der"]).hex() == spki_hex(certificate.public_key())
    numbers = certificate.public_key().public_numbers()
    assert (pubkey["x"], pubkey["y"]) == (f"{numbers.x:064x}", f"{numbers.y:064x}")
    assert pubkey["params"].startswith("secp256r1")


async def test_the_server_identity_may_be_a_raw_public_key(http) -> None:
    double = LeshanDouble(server_certificate=False)
    await double.start()
    try:
        _, text, _ = await call(http, "GET", f"{double.base_url}/api/security/server")
    finally:
        await double.stop()
    assert list(json.loads(text)) == ["pubkey"]
    assert sorted(json.loads(text)["pubkey"]) == ["b64Der", "params", "x", "y"]


async def test_the_store_can_be_lost(leshan: LeshanDouble, http) -> None:
    await put(http, leshan, psk())
    leshan.lose_security_store()
    assert await listed(http, leshan) == []


async def test_other_methods_are_405(leshan: LeshanDouble, http) -> None:
    status, _, _ = await call(http, "POST", f"{leshan.base_url}/api/security/clients")
    assert status == 405


# --- the client --------------------------------------------------------------------------------------------


async def test_the_client_puts_lists_and_deletes(leshan: LeshanDouble) -> None:
    async with LeshanClient(leshan.base_url) as client:
        put_answer = await client.security_put(psk())
        listing = await client.security_clients()
        removed = await client.security_delete("ep1")
        again = await client.security_delete("ep1")
        server = await client.security_server()
    assert (put_answer.outcome, put_answer.status) == (Outcome.CONFIRMED, 200)
    assert (listing.outcome, listing.content) == (Outcome.CONFIRMED, [psk(key="0a1b2c3d")])
    assert (removed.outcome, removed.detail) == (Outcome.CONFIRMED, "")
    assert (again.outcome, again.detail) == (Outcome.CONFIRMED, "Leshan had no entry for it")
    assert server.outcome == Outcome.CONFIRMED
    assert "certificate" in server.content


async def test_the_client_classifies_refusals(leshan: LeshanDouble) -> None:
    async with LeshanClient(leshan.base_url) as client:
        await client.security_put(psk("ep1", "shared"))
        conflict = await client.security_put(psk("ep2", "shared"))
        bad = await client.security_put(psk("ep3", "id3", "zz"))
        broken = await client.security_put({"endpoint": "ep4"})
    assert (conflict.outcome, conflict.status, identity_in_use(conflict)) == (Outcome.REJECTED, 400, "shared")
    assert (bad.outcome, bad.detail) == (
        Outcome.REJECTED,
        "Invalid request body: key parameter must be a valid hex string",
    )
    assert identity_in_use(bad) is None
    assert (broken.outcome, broken.status) == (Outcome.SERVER_ERROR, 500)
    assert broken.detail  # the page's title (M15) or the text (master), not HTML
    assert "<" not in broken.detail


async def test_the_client_says_when_leshan_is_down() -> None:
    async with LeshanClient(f"http://127.0.0.1:{free_port()}") as client:
        answers = [
            await client.security_put(psk()),
            await client.security_clients(),
            await client.security_delete("ep1"),
            await client.security_server(),
        ]
    assert {answer.outcome for answer in answers} == {Outcome.LESHAN_DOWN}
