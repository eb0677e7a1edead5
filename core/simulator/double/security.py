"""``/api/security/*``: Leshan's security store (contract §7): device credentials (PSK, RPK, X.509, OSCORE)
by endpoint, and the server's own identity.

Both versions have the same routes and JSON; they differ in how they fail: a 500 is the container's error
page in M15 and ``text/plain`` ``Unexpected error handling PUT - …`` on master; a path error is the
container's 400 page in M15 and a ``text/plain`` 400 with an empty body on master. The 400 texts of a PUT
(``PSK Identity … is already used``, ``Invalid request body: …``) carry no content type in either.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.simulator.double.replies import BareText, jetty_page, json_response, method_not_allowed

# How Java prints the parameters of a P-256 key (``ECParameterSpec.toString()`` of the JDK's provider).
P256_PARAMS = "secp256r1 [NIST P-256,X9.62 prime256v1] (1.2.840.10045.3.1.7)"
OSCORE_AEAD = 10  # AES-CCM-16-64-128
OSCORE_HKDF = -10  # HKDF SHA-256


class BadBody(Exception):
    """A PUT body Leshan refuses with 400 ``Invalid request body: <message>``."""


class Unexpected(Exception):
    """What Leshan's deserializer does not check and fails on later: a 500."""


class Conflicting(Exception):
    """A 400 of the store: an identity another endpoint already uses."""


def _is_hex(text: Any) -> bool:
    if not isinstance(text, str) or len(text) % 2:
        return False
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return True


def _object_field(data: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadBody(f"{name} field should be a json object")
    return value


def parse_security_info(data: Any) -> dict[str, Any]:
    """A SecurityInfo body checked as Leshan's deserializer checks it; the entry as Leshan serializes it."""
    if not isinstance(data, dict):
        raise BadBody("security info should be a json object")
    endpoint = data.get("endpoint")
    if endpoint is None:
        raise BadBody("Missing endpoint")
    if not isinstance(endpoint, str):
        raise BadBody("endpoint field should be a string")
    tls = _object_field(data, "tls")
    if tls is not None:
        return {"endpoint": _non_empty(endpoint, "endpoint"), "tls": _tls(tls)}
    oscore = _object_field(data, "oscore")
    if oscore is not None:
        return {"endpoint": _non_empty(endpoint, "endpoint"), "oscore": _oscore(oscore)}
    raise Unexpected("no security info in the request body (neither tls nor oscore)")


def _non_empty(value: str, name: str) -> str:
    if not value:
        raise Unexpected(f"{name} must not be empty")
    return value


def _tls(tls: dict[str, Any]) -> dict[str, Any]:
    mode = tls.get("mode")
    if mode is None:
        raise Unexpected('Cannot invoke "com.fasterxml.jackson.databind.JsonNode.asText()" because mode is null')
    if mode == "x509":
        return {"mode": "x509"}
    if mode not in ("psk", "rpk"):
        raise BadBody("Invalid security info content")
    if tls.get("details") is None:
        raise Unexpected('Cannot invoke "com.fasterxml.jackson.databind.JsonNode.get(String)" because details is null')
    details = _object_field(tls, "details")
    assert details is not None
    if mode == "psk":
        identity = details.get("identity")
        if identity is None:
            raise BadBody("Missing PSK identity")
        key = details.get("key")
        if key is None:
            raise Unexpected('Cannot invoke "com.fasterxml.jackson.databind.JsonNode.asText()" because key is null')
        if not _is_hex(key):
            raise BadBody("key parameter must be a valid hex string")
        if not identity or not key:
            raise Unexpected("identity and key must not be empty")
        return {"mode": "psk", "details": {"identity": str(identity), "key": key.lower()}}
    key = details.get("key")
    if not isinstance(key, str) or not _is_hex(key):
        raise BadBody("key parameter must be a valid hex string")
    try:
        public_key = serialization.load_der_public_key(bytes.fromhex(key))
    except ValueError:
        raise BadBody("Invalid security info content") from None
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise BadBody("Invalid security info content")
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {"mode": "rpk", "details": {"key": der.hex()}}


def _oscore(oscore: dict[str, Any]) -> dict[str, Any]:
    found = {}
    for name in ("rid", "sid", "msec"):
        value = oscore.get(name)
        if value is None:
            raise BadBody(f"Missing '{name}' field")
        if not _is_hex(value):
            raise BadBody(f"{name} parameter must be a valid hex string")
        found[name] = value.lower()
    return {**found, "msalt": "", "aead": OSCORE_AEAD, "hkdf": OSCORE_HKDF}


class ServerIdentity:
    """The server's own key pair: shown as a raw public key, or (the default) in a self-signed certificate."""

    def __init__(self, *, certificate: bool = True) -> None:
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.certificate: x509.Certificate | None = None
        if certificate:
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Leshan Demo Server")])
            now = dt.datetime.now(dt.UTC)
            self.certificate = (
                x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(self.private_key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=3650))
                .sign(self.private_key, hashes.SHA256())
            )

    def json(self) -> dict[str, Any]:
        public_key = self.private_key.public_key()
        numbers = public_key.public_numbers()
        der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        pubkey = {
            "x": numbers.x.to_bytes(32, "big").hex(),
            "y": numbers.y.to_bytes(32, "big").hex(),
            "params": P256_PARAMS,
            "b64Der": base64.b64encode(der).decode(),
        }
        if self.certificate is None:
            return {"pubkey": pubkey}
        cert_der = self.certificate.public_bytes(serialization.Encoding.DER)
        return {"certificate": {"pubkey": pubkey, "b64Der": base64.b64encode(cert_der).decode()}}


class SecurityStore:
    """The entries by endpoint, in the order they were first added. Call from the server's loop only."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Any]] = {}

    def add(self, info: dict[str, Any]) -> None:
        """Add or replace the entry of its endpoint; a PSK or OSCORE identity must be unique across endpoints."""
        endpoint = info["endpoint"]
        tls = info.get("tls")
        if tls is not None and tls["mode"] == "psk":
            identity = tls["details"]["identity"]
            for other in self.entries.values():
                theirs = other.get("tls") or {}
                if other["endpoint"] != endpoint and theirs.get("details", {}).get("identity") == identity:
                    raise Conflicting(f"PSK Identity {identity} is already used")
        oscore = info.get("oscore")
        if oscore is not None:
            for other in self.entries.values():
                theirs = other.get("oscore")
                if other["endpoint"] != endpoint and theirs and theirs["rid"] == oscore["rid"]:
                    raise Conflicting(f"Oscore Identity {oscore['rid']} is already used")
        self.entries[endpoint] = info

    def remove(self, endpoint: str) -> bool:
        return self.entries.pop(endpoint, None) is not None

    def clear(self) -> None:
        self.entries.clear()


class SecurityRoutes:
    """``/api/security/{tail}``: the store's routes (§7); no route takes query parameters."""

    def __init__(self, store: SecurityStore, identity: ServerIdentity, *, master: bool) -> None:
        self.store = store
        self.identity = identity
        self.master = master

    async def handle(self, request: web.Request) -> web.StreamResponse:
        segments = request.match_info.get("tail", "").split("/")
        # "clients/" (what the UI sends) is "clients"; "clients/x/" keeps its empty last segment out.
        if len(segments) > 1 and segments[-1] == "":
            segments = segments[:-1]
        if request.method == "GET":
            if segments == ["clients"]:
                return json_response(list(self.store.entries.values()))
            if segments == ["server"]:
                return json_response(self.identity.json())
            return self._path_error(request)
        if request.method == "PUT":
            if segments != ["clients"]:
                return self._path_error(request)
            return await self._put(request)
        if request.method == "DELETE":
            if len(segments) != 2 or segments[0] != "clients" or not segments[1]:
                return self._path_error(request)
            if self.store.remove(segments[1]):
                return web.Response()
            return json_response({"message": "not_found"})
        return method_not_allowed(request)

    async def _put(self, request: web.Request) -> web.StreamResponse:
        body = await request.text()
        try:
            try:
                data = json.loads(body)
            except ValueError as exc:
                raise BadBody(str(exc)) from None
            self.store.add(parse_security_info(data))
        except BadBody as exc:
            return BareText(status=400, body=f"Invalid request body: {exc}".encode())
        except Conflicting as exc:
            return BareText(status=400, body=str(exc).encode())
        except Unexpected as exc:
            if self.master:
                text = f"Unexpected error handling PUT - {request.path} : {exc}"
                return web.Response(status=500, text=text, content_type="text/plain", charset="UTF-8")
            return jetty_page(500, "Server Error", request.path)
        return web.Response()

    def _path_error(self, request: web.Request) -> web.Response:
        if self.master:
            return web.Response(status=400, text="", content_type="text/plain", charset="UTF-8")
        return jetty_page(400, "Bad Request", request.path)
