"""A test double of the Eclipse Leshan demo server: its REST API and its event stream, over real HTTP.

It follows ``../shared/reference/leshan-rest-contract.md`` (routes §1.2, response bodies §1.3, errors §1.4,
node JSON §1.5 and §1.6, queue mode §2, registration JSON §3, server-sent events §4).

Behaviour is Leshan **2.0.0-M15** by default: the version flownexus ships. ``LeshanVersion.MASTER`` switches
to the behaviour of master (>= 2.0.0-M17): a request to a sleeping queue-mode client is stored (only the
last one per registration), answered ``{"ep","path","requestId","delayed":true}``, sent when the client
wakes and reported by a ``REQUEST_RESPONSE`` event; error texts are ``text/plain``, "No registered client"
is always capitalised, "Invalid path" is plain text and a bad attribute is a 400 ``Invalid attributes``.

The devices are ``SimulatedClient`` objects holding their resource values; the device simulator subclasses
it to give them behaviour. Tests script outcomes (timeouts, CoAP errors, dropped connections...) with
``LeshanDouble.script`` and drive registrations and notifications with the helper methods, which emit
the events Leshan would emit, in its order.

Not simulated: COAPLOG events, DTLS, registration expiry and the 93 s awake timer (call ``sleep``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import enum
import itertools
import json
import math
import random
import re
import string
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, TypeVar

from aiohttp import web

from core.lwm2m.nodes import NodeError, Path, flatten
from core.lwm2m.types import DataType, ObjectLink, Value, parse_value, to_json

Node = dict[str, Any]
T = TypeVar("T")

DEFAULT_TIMEOUT_S = 5
SLEEPING_TEXT = "Invalid request: The destination client is sleeping, request cannot be sent."
TIMEOUT_TEXT = "Request timeout"
SSE_CONTENT_TYPE = "text/event-stream;charset=UTF-8"


class LeshanVersion(enum.StrEnum):
    M15 = "2.0.0-M15"
    MASTER = "master"


# --- CoAP response codes and Leshan's response JSON (§1.3) ---------------------------------------------

COAP_CODES = {
    "CREATED": 201,
    "DELETED": 202,
    "CHANGED": 204,
    "CONTENT": 205,
    "BAD_REQUEST": 400,
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "NOT_ACCEPTABLE": 406,
    "REQUEST_ENTITY_INCOMPLETE": 408,
    "PRECONDITION_FAILED": 412,
    "REQUEST_ENTITY_TOO_LARGE": 413,
    "UNSUPPORTED_CONTENT_FORMAT": 415,
    "INTERNAL_SERVER_ERROR": 500,
}
_CODE_NAMES = {number: name for name, number in COAP_CODES.items()}


def coap_code_number(code: str | int) -> int:
    """``"NOT_FOUND"``, ``"NOT_FOUND(404)"``, ``"4.04"`` or ``404`` -> 404."""
    if isinstance(code, int):
        return code
    if code in COAP_CODES:
        return COAP_CODES[code]
    if match := re.fullmatch(r"[A-Z_]+\((\d{3})\)", code):
        return int(match[1])
    if match := re.fullmatch(r"(\d)\.(\d\d)", code):
        return int(match[1]) * 100 + int(match[2])
    raise ValueError(f"unknown CoAP response code {code!r}")


def status_text(code: str | int) -> str:
    """Leshan's ``ResponseCode.toString()``: ``"NOT_FOUND(404)"``; codes without a name are ``UNKNOWN``."""
    number = coap_code_number(code)
    return f"{_CODE_NAMES.get(number, 'UNKNOWN')}({number})"


@dataclass(frozen=True, slots=True)
class Operation:
    """An LwM2M operation: which codes are a success and which are valid answers (§1.3)."""

    name: str
    success: frozenset[int]
    valid: frozenset[int]


def _operation(name: str, success: set[int], others: set[int]) -> Operation:
    return Operation(name, frozenset(success), frozenset(success | others))


_COMMON_ERRORS = {400, 401, 404, 405, 500}
READ = _operation("read", {205}, _COMMON_ERRORS | {406})
DISCOVER = _operation("discover", {205}, _COMMON_ERRORS)
OBSERVE = _operation("observe", {205, 204}, _COMMON_ERRORS | {406})
WRITE = _operation("write", {204}, _COMMON_ERRORS | {408, 413, 415})
WRITE_ATTRIBUTES = _operation("write-attributes", {204}, _COMMON_ERRORS)
EXECUTE = _operation("execute", {204}, _COMMON_ERRORS)
CREATE = _operation("create", {201}, _COMMON_ERRORS | {415})
DELETE = _operation("delete", {202}, _COMMON_ERRORS)
READ_COMPOSITE = _operation("read-composite", {205}, _COMMON_ERRORS | {406, 415})
WRITE_COMPOSITE = _operation("write-composite", {204}, _COMMON_ERRORS | {406})
OBSERVE_COMPOSITE = _operation("observe-composite", {205}, _COMMON_ERRORS | {415})


@dataclass(frozen=True, slots=True)
class Answer:
    """What a device answered: a CoAP code name and, for a success, its payload."""

    code: str | int
    content: Any = None
    location: str | None = None
    object_links: list[dict[str, Any]] | None = None
    error_message: str | None = None


def response_json(operation: Operation, answer: Answer) -> dict[str, Any]:
    """Leshan's ``JacksonResponseSerializer`` output for a device answer."""
    number = coap_code_number(answer.code)
    success = number in operation.success
    body: dict[str, Any] = {
        "status": status_text(number),
        "valid": number in operation.valid,
        "success": success,
        "failure": not success,
    }
    if not success:
        if answer.error_message:
            body["errormessage"] = answer.error_message
        return body
    if answer.content is not None:
        body["content"] = answer.content
    if answer.object_links is not None:
        body["objectLinks"] = answer.object_links
    if answer.location is not None:
        body["location"] = answer.location
    return body


# --- values and nodes (§1.5) ---------------------------------------------------------------------------


def java_double(value: float) -> str:
    """Java's ``Double.toString``: ``21.5``, ``100.0``, ``1.0E10``, ``1.0E-4`` (as Leshan writes a FLOAT)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    if 1e-3 <= abs(value) < 1e7:
        return repr(value)  # Python writes this range in plain decimals with the shortest digits, like Java
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    text = "".join(str(d) for d in digits).rstrip("0")
    exponent = int(exponent) + len(digits) - 1
    return f"{'-' if sign else ''}{text[0]}.{text[1:] or '0'}E{exponent}"


def value_json(data_type: DataType, value: Value) -> Any:
    """A value as Leshan's node serializer writes it (FLOAT and OBJLNK differ from ``to_json``)."""
    if data_type == DataType.FLOAT and value is not None:
        return java_double(float(value))  # type: ignore[arg-type]
    if data_type == DataType.OBJLNK and isinstance(value, ObjectLink):
        null_link = value.object_id == 65535 and value.object_instance_id == 65535
        return {"objectId": value.object_id, "objectInstanceId": value.object_instance_id, "nullLink": null_link}
    return to_json(data_type, value)


Entry = tuple[Path, DataType, Value]


def _ids(path: Path) -> tuple[int, ...]:
    ids = (path.object_id, path.object_instance_id, path.resource_id, path.resource_instance_id)
    return tuple(i for i in ids if i is not None)


def _is_within(path: Path, at: Path) -> bool:
    return _ids(path)[: at.depth] == _ids(at)


def build_node(at: Path, entries: list[Entry]) -> Node:
    """The node at ``at`` holding ``entries`` (all within ``at``, sorted by path)."""
    if at.depth == 4:
        return _leaf(at.resource_instance_id, "resourceInstance", entries[0])
    if at.depth == 3:
        if len(entries) == 1 and entries[0][0].depth == 3:
            return _leaf(at.resource_id, "singleResource", entries[0])
        values = {str(p.resource_instance_id): value_json(t, v) for p, t, v in entries}
        return {"id": at.resource_id, "kind": "multiResource", "type": entries[0][1].value, "values": values}
    children = [build_node(at.child(child_id), list(group)) for child_id, group in _groups(at, entries)]
    if at.depth == 2:
        return {"id": at.object_instance_id, "kind": "instance", "resources": children}
    return {"id": at.object_id, "kind": "obj", "instances": children}


def _leaf(node_id: int | None, kind: str, entry: Entry) -> Node:
    _, data_type, value = entry
    return {"id": node_id, "kind": kind, "type": data_type.value, "value": value_json(data_type, value)}


def _groups(at: Path, entries: list[Entry]) -> Iterator[tuple[int, Iterator[Entry]]]:
    return itertools.groupby(entries, key=lambda entry: _ids(entry[0])[at.depth])


# --- the simulated device ------------------------------------------------------------------------------


def _registration_id() -> str:
    return "".join(random.choices(string.ascii_letters + string.digits, k=10))


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class SimulatedClient:
    """A registered LwM2M client: its registration and the current values of its resources.

    ``resources`` maps a path (``"/3/0/9"``, or ``"/3/0/7/1"`` for an instance of a multi-instance
    resource) to ``(DataType, value)``; a ``DataType.NONE`` entry is an executable resource (not readable).
    ``sleeping`` on a queue-mode client means Leshan considers it asleep; on any other client it means the
    device is offline (requests time out). ``object_links`` defaults to the root link and one link per
    object instance in ``resources``. The operation methods are what the device answers; override them.
    """

    endpoint: str
    resources: dict[str, tuple[DataType, Value]] = field(default_factory=dict)
    lifetime: int = 300
    binding_mode: str = "U"
    queue_mode: bool = False
    lwm2m_version: str = "1.1"
    address: str = "127.0.0.1:56830"
    sms_number: str | None = None
    secure: bool = False
    object_links: list[dict[str, Any]] | None = None
    sleeping: bool = False
    registration_id: str = field(default_factory=_registration_id)
    registration_date: int = field(default_factory=now_ms)
    last_update: int | None = None
    observations: set[str] = field(default_factory=set)
    composite_observations: set[tuple[str, ...]] = field(default_factory=set)
    attributes: dict[str, dict[str, str | None]] = field(default_factory=dict)
    executions: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.resources = {str(Path.parse(key)): item for key, item in self.resources.items()}
        if self.last_update is None:
            self.last_update = self.registration_date
        if self.object_links is None:
            self.object_links = self._default_object_links()

    # -- registration

    def new_registration(self) -> None:
        """A new Register: a new registration id and date."""
        self.registration_id = _registration_id()
        self.registration_date = self.last_update = now_ms()

    @property
    def available_instances(self) -> dict[str, list[int]]:
        found: dict[int, set[int]] = {}
        for link in self.object_links or []:
            ids = link["url"].strip("/").split("/")
            if len(ids) == 2 and all(i.isdigit() for i in ids):
                found.setdefault(int(ids[0]), set()).add(int(ids[1]))
        return {str(object_id): sorted(found[object_id]) for object_id in sorted(found)}

    def registration_json(self) -> dict[str, Any]:
        """Leshan's ``JacksonRegistrationSerializer`` output (§3), keys in its order."""
        body: dict[str, Any] = {
            "endpoint": self.endpoint,
            "registrationId": self.registration_id,
            "registrationDate": self.registration_date,
            "lastUpdate": self.last_update,
            "address": self.address,
        }
        if self.sms_number is not None:
            body["smsNumber"] = self.sms_number
        body |= {
            "lwM2mVersion": self.lwm2m_version,
            "lifetime": self.lifetime,
            "bindingMode": self.binding_mode,
            "rootPath": "/",
            "objectLinks": self.object_links,
            "secure": self.secure,
            "additionalRegistrationAttributes": {},
            "queuemode": self.queue_mode,
            "availableInstances": self.available_instances,
        }
        if self.queue_mode:
            body["sleeping"] = self.sleeping
        return body

    def _default_object_links(self) -> list[dict[str, Any]]:
        instances = sorted({_ids(Path.parse(key))[:2] for key in self.resources})
        links = [{"url": "/", "attributes": {"rt": '"oma.lwm2m"', "ct": "110"}}]
        return links + [{"url": f"/{o}/{i}", "attributes": {}} for o, i in instances]

    # -- the store

    def set_value(self, path: str, data_type: DataType, value: Value) -> None:
        self.resources[str(Path.parse(path))] = (data_type, value)

    def entries(self, at: Path) -> list[Entry]:
        """The stored values within ``at``, sorted by path."""
        found = [(Path.parse(key), data_type, value) for key, (data_type, value) in self.resources.items()]
        return sorted((entry for entry in found if _is_within(entry[0], at)), key=lambda entry: _ids(entry[0]))

    def node(self, path: str) -> Node | str:
        """The node at ``path`` built from the store, or the CoAP error a read of it gets."""
        at = Path.parse(path)
        entries = self.entries(at)
        if not entries:
            return "NOT_FOUND"
        if any(p == at and t == DataType.NONE for p, t, _ in entries):
            return "METHOD_NOT_ALLOWED"
        return build_node(at, [entry for entry in entries if entry[1] != DataType.NONE])

    def has_instance(self, path: str) -> bool:
        at = Path.parse(path)
        return at.depth >= 2 and bool(self.entries(Path(at.object_id, at.object_instance_id)))

    def _store(self, node: Node, at: Path, *, replace: bool) -> None:
        """Store a node's values; replacing clears the written resource (or each resource of an instance)."""
        readings = flatten(node, at)
        if replace:
            replaced = {at} if at.depth >= 3 else {Path(*_ids(r.path)[:3]) for r in readings}
            for target in replaced:
                self._remove_within(target)
        for reading in readings:
            self.resources[str(reading.path)] = (reading.data_type, reading.value)

    def _remove_within(self, at: Path) -> None:
        for entry in self.entries(at):
            del self.resources[str(entry[0])]

    # -- the operations: what the device answers

    def read(self, path: str) -> Node | str:
        return self.node(path)

    def discover(self, path: str) -> list[dict[str, Any]] | str:
        entries = self.entries(Path.parse(path))
        if not entries:
            return "NOT_FOUND"
        at = Path.parse(path)
        urls = {str(Path(*_ids(p)[:depth])) for p, _, _ in entries for depth in range(at.depth, 4)}
        ordered = sorted(urls, key=lambda url: _ids(Path.parse(url)))
        return [{"url": url, "attributes": dict(self.attributes.get(url, {}))} for url in ordered]

    def write(self, path: str, node: Node, replace: bool) -> str:
        """Store the node's values; ``replace`` replaces each resource written (absent resources stay)."""
        if not self.has_instance(path):
            return "NOT_FOUND"
        self._store(node, Path.parse(path), replace=replace)
        return "CHANGED"

    def write_composite(self, nodes: dict[str, Node]) -> str:
        if not all(self.has_instance(path) for path in nodes):
            return "NOT_FOUND"
        for path, node in nodes.items():
            self._store(node, Path.parse(path), replace=True)
        return "CHANGED"

    def write_attributes(self, path: str, attributes: dict[str, str | None]) -> str:
        if not self.entries(Path.parse(path)):
            return "NOT_FOUND"
        self.attributes.setdefault(path, {}).update(attributes)
        return "CHANGED"

    def execute(self, path: str, arguments: str) -> str:
        self.executions.append((path, arguments))
        return "CHANGED"

    def create(self, path: str, node: Node) -> tuple[str, str | None]:
        """Create an instance; the location is answered only when the device chose the id."""
        object_id = Path.parse(path).object_id
        chosen = node.get("id") is None
        instance_id = self._free_instance_id(object_id) if chosen else node["id"]
        if self.has_instance(f"/{object_id}/{instance_id}"):
            return "BAD_REQUEST", None
        self._store({**node, "id": instance_id}, Path(object_id, instance_id), replace=True)
        return "CREATED", f"{object_id}/{instance_id}" if chosen else None

    def delete(self, path: str) -> str:
        if not self.has_instance(path):
            return "NOT_FOUND"
        self._remove_within(Path.parse(path))
        return "DELETED"

    def observe(self, path: str) -> Node | str:
        result = self.read(path)
        if isinstance(result, dict):
            self.observations.add(path)
        return result

    def read_composite(self, paths: list[str]) -> dict[str, Node] | str:
        """The nodes of the paths that exist (missing ones are left out); NOT_FOUND if none exists."""
        nodes = {path: self.read(path) for path in paths}
        found = {path: node for path, node in nodes.items() if isinstance(node, dict)}
        return found or "NOT_FOUND"

    def observe_composite(self, paths: list[str]) -> dict[str, Node] | str:
        result = self.read_composite(paths)
        if isinstance(result, dict):
            self.composite_observations.add(tuple(paths))
        return result

    def _free_instance_id(self, object_id: int) -> int:
        used = {_ids(p)[1] for p, _, _ in self.entries(Path(object_id))}
        return next(i for i in itertools.count() if i not in used)


# --- scripting -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """A forced outcome for the next device request to an endpoint (see ``LeshanDouble.script``)."""

    kind: Literal["timeout", "coap_error", "http", "sleeping", "not_registered", "drop", "delay"]
    seconds: float | None = None
    status: int = 200
    text: str = ""
    code: str | int = ""
    message: str | None = None

    @classmethod
    def timeout(cls, after: float | None = None) -> Outcome:
        """504 ``Request timeout`` after ``after`` seconds (default: the double's ``timeout_delay``)."""
        return cls("timeout", seconds=after)

    @classmethod
    def coap_error(cls, code: str | int, message: str | None = None) -> Outcome:
        """The device answers this CoAP error: HTTP 200 with ``success:false``."""
        coap_code_number(code)
        return cls("coap_error", code=code, message=message)

    @classmethod
    def http(cls, status: int, text: str) -> Outcome:
        return cls("http", status=status, text=text)

    @classmethod
    def sleeping(cls) -> Outcome:
        return cls("sleeping")

    @classmethod
    def not_registered(cls) -> Outcome:
        return cls("not_registered")

    @classmethod
    def drop(cls) -> Outcome:
        """Close the connection without answering."""
        return cls("drop")

    @classmethod
    def delay(cls, seconds: float) -> Outcome:
        """The device answers normally after ``seconds`` (504 if that reaches the request's timeout)."""
        return cls("delay", seconds=seconds)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    method: str
    path: str
    query: dict[str, str]
    body: str
    time: float


# --- request plumbing ----------------------------------------------------------------------------------


class HttpError(Exception):
    """An HTTP error answer of the servlet: plain text, or Jetty's HTML error page."""

    def __init__(self, status: int, text: str, *, jetty_page: bool = False) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.jetty_page = jetty_page


class _Cancelled(Exception):
    """The registration the request was for is gone (Leshan's ``RequestCanceledException``)."""


@dataclass(frozen=True, slots=True)
class DeviceCall:
    """A request ready to be sent to a device."""

    operation: Operation
    perform: Callable[[SimulatedClient], Answer]
    path: str | None = None


@dataclass(frozen=True, slots=True)
class _Delayed:
    call: DeviceCall
    timeout: int
    request_id: str


class _BareText(web.Response):
    """A text response sent without Content-Type, as Leshan M15 sends its error texts."""


async def _drop_content_type(request: web.Request, response: web.StreamResponse) -> None:
    if isinstance(response, _BareText):
        response.headers.popall("Content-Type", None)


def _jetty_page(status: int, message: str, uri: str) -> web.Response:
    """Jetty's ``sendError`` HTML page."""
    html = (
        '<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html;charset=ISO-8859-1"/>\n'
        f"<title>Error {status} {message}</title>\n</head>\n<body><h2>HTTP ERROR {status} {message}</h2>\n"
        f"<table>\n<tr><th>URI:</th><td>{uri}</td></tr>\n<tr><th>STATUS:</th><td>{status}</td></tr>\n"
        f"<tr><th>MESSAGE:</th><td>{message}</td></tr>\n</table>\n</body>\n</html>\n"
    )
    return web.Response(status=status, text=html, content_type="text/html", charset="ISO-8859-1")


def dumps(data: Any) -> str:
    """Compact JSON as Jackson writes it."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _json_response(data: Any) -> web.Response:
    return web.Response(body=dumps(data).encode(), content_type="application/json")


def _timeout_seconds(raw: str | None) -> int:
    """``timeout`` is whole seconds; anything unparseable is the 5 s default, as in Leshan."""
    if raw is not None and re.fullmatch(r"[+-]?\d{1,18}", raw):
        return int(raw)
    return DEFAULT_TIMEOUT_S


def _lwm2m_path(parts: list[str]) -> str:
    return "/" + "/".join(parts)


def _parse_path(text: str) -> Path:
    try:
        return Path.parse(text)
    except NodeError as exc:
        raise HttpError(400, f"Invalid request: Invalid path {text}: {exc.problem}") from None


def _content_answer(result: Any, success: str = "CONTENT") -> Answer:
    if isinstance(result, str | int):
        return Answer(result)
    return Answer(success, content=result)


# --- Leshan's node deserializer (§1.5, §1.6): structure errors are 400, value errors 500 --------------


def _bad_structure(message: str) -> HttpError:
    return HttpError(400, f"Invalid request: unable to parse json to tlv:{message}")


def _bad_value(message: str) -> HttpError:
    return HttpError(500, f"Unexpected exception: {message}")


def decode_node(raw: Any) -> Node:
    """A node of a write or create body, checked as Leshan checks it, with canonical kinds and values."""
    if not isinstance(raw, dict):
        raise _bad_structure("Invalid node element")
    kind = raw.get("kind")
    if kind == "obj" or "instances" in raw:
        return _decode_container(raw, "obj", "instances", "instance")
    if kind == "instance" or "resources" in raw:
        return _decode_container(raw, "instance", "resources", "resource")
    if kind == "multiResource" or "values" in raw:
        return _decode_multi(raw)
    if "value" in raw:
        single = "resourceInstance" if kind == "resourceInstance" else "singleResource"
        data_type = _decode_type(raw)
        value = _checked_value(data_type, raw["value"])
        return {"id": _node_id(raw), "kind": single, "type": data_type.value, "value": value}
    raise _bad_structure("Invalid node element")


def _node_id(raw: Node, *, required: bool = True) -> int | None:
    node_id = raw.get("id")
    if node_id is None and not required:
        return None
    if node_id is None:
        raise _bad_structure("Missing id")
    if type(node_id) is not int or not 0 <= node_id <= 65535:
        raise _bad_structure(f"Invalid id {str(node_id)[:20]}")
    return node_id


def _decode_container(raw: Node, kind: str, field_name: str, child_kind: str) -> Node:
    node_id = _node_id(raw, required=kind == "obj")
    items = raw.get(field_name)
    if not isinstance(items, list):
        raise _bad_structure(f"{field_name.capitalize()} element is not an array")
    children = [decode_node(item) for item in items]
    for child in children:
        if not _kind_is(child["kind"], child_kind):
            raise _bad_value(f"a {child['kind']} node is not a {child_kind}")
    return {"id": node_id, "kind": kind, field_name: children}


def _kind_is(kind: str, wanted: str) -> bool:
    return kind in {"instance": ("instance",), "resource": ("singleResource", "multiResource")}[wanted]


def _decode_multi(raw: Node) -> Node:
    node_id = _node_id(raw)
    data_type = _decode_type(raw)
    values = raw.get("values")
    if not isinstance(values, dict):
        raise _bad_structure("Values element is not an object")
    decoded = {}
    for key, value in values.items():
        if not (key.isascii() and key.isdigit() and int(key) <= 65535):
            raise _bad_value(f'For input string: "{key[:20]}"')
        decoded[str(int(key))] = _checked_value(data_type, value)
    return {"id": node_id, "kind": "multiResource", "type": data_type.value, "values": decoded}


def _decode_type(raw: Node) -> DataType:
    name = raw.get("type")
    if name is None:
        raise _bad_value("type is missing")
    if not isinstance(name, str) or name.upper() not in DataType.__members__ or name.upper() == "NONE":
        raise _bad_value(f"No enum constant org.eclipse.leshan.core.model.ResourceModel.Type.{str(name)[:40]}")
    return DataType(name.upper())


def _checked_value(data_type: DataType, raw: Any) -> Any:
    """The value in Leshan's canonical JSON encoding; stricter than ``parse_value`` where Leshan is."""
    expected = f"Unexpected JSON type of 'value' field [{str(raw)[:40]}]"
    integral = data_type in (DataType.INTEGER, DataType.UNSIGNED_INTEGER, DataType.TIME)
    if integral and isinstance(raw, float):
        raise _bad_value(f"{expected}: an integral number is expected for {data_type}")
    if data_type == DataType.TIME and (not isinstance(raw, int) or isinstance(raw, bool)):
        raise _bad_value(f"{expected}: a JSON number (epoch milliseconds) is expected for TIME")
    if data_type == DataType.OBJLNK and not isinstance(raw, dict):
        raise _bad_value(f"{expected}: a JSON object is expected for OBJLNK")
    try:
        return value_json(data_type, parse_value(data_type, raw))
    except ValueError as exc:
        raise _bad_value(str(exc)) from None


_KINDS_AT_DEPTH = {1: ("obj",), 2: ("instance",), 3: ("singleResource", "multiResource"), 4: ("resourceInstance",)}


def placed(node: Node, path: Path) -> Node:
    """The node with the id of its path; 400 when it does not fit the path (Leshan's request checks)."""
    if node["kind"] not in _KINDS_AT_DEPTH[path.depth]:
        raise HttpError(400, f"Invalid request: a {node['kind']} node cannot be written at {path}")
    path_id = _ids(path)[-1]
    if node["id"] is not None and node["id"] != path_id:
        raise HttpError(400, f"Invalid request: node id {node['id']} does not match path {path}")
    return {**node, "id": path_id}


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise _bad_structure(str(exc)) from None


_ARGUMENTS_RE = re.compile(r"(?:\d(?:='[^']*')?(?:,\d(?:='[^']*')?)*)?")
_ATTRIBUTES = {"pmin": int, "pmax": int, "epmin": int, "epmax": int, "gt": float, "lt": float, "st": float}


# --- server-sent events (§4) ---------------------------------------------------------------------------


@dataclass(eq=False)
class _Stream:
    ep: str | None
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)


def _frame(name: str, data: str) -> str:
    return f"event: {name}\r\ndata: {data}\r\n\r\n"


def _ep_data(ep: str, rest: str = "") -> str:
    # Leshan builds these by concatenation: the endpoint name is not escaped.
    return '{"ep":"' + ep + '"' + rest + "}"


# --- the double ----------------------------------------------------------------------------------------


class LeshanDouble:
    """The Leshan demo server's ``/api/clients`` and ``/api/event``, served by aiohttp on loopback.

    ``latency`` (seconds) is added to every request that reaches a device. ``timeout_delay`` is how long a
    simulated timeout (``Outcome.timeout()``, an offline non-queue-mode device) waits before the 504.
    ``heartbeat`` is the SSE heartbeat period. Every helper that changes state is safe to call from another
    thread while the server runs in ``run_in_thread``.
    """

    def __init__(
        self,
        *,
        version: LeshanVersion = LeshanVersion.M15,
        latency: float = 0.0,
        timeout_delay: float = 0.0,
        heartbeat: float = 10.0,
        clients: Iterable[SimulatedClient] = (),
    ) -> None:
        self.version = version
        self.latency = latency
        self.timeout_delay = timeout_delay
        self.heartbeat = heartbeat
        self.clients: dict[str, SimulatedClient] = {client.endpoint: client for client in clients}
        self.requests: list[RequestRecord] = []
        self.events: list[tuple[str, str]] = []
        self.base_url = ""
        self._outcomes: dict[str, deque[Outcome]] = {}
        self._delayed: dict[str, _Delayed] = {}
        self._streams: set[_Stream] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._stop_requested: asyncio.Event | None = None

    @property
    def followers(self) -> int:
        """How many clients are reading the event stream."""
        return len(self._streams)

    @property
    def master(self) -> bool:
        return self.version == LeshanVersion.MASTER

    # -- running

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._log_request])
        app.router.add_route("*", "/api/clients", self._clients)
        app.router.add_route("*", "/api/clients/{tail:.*}", self._clients)
        app.router.add_route("*", "/api/event", self._event_stream)
        app.on_response_prepare.append(_drop_content_type)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0: any free port) in the running loop; returns the base URL."""
        self._loop = asyncio.get_running_loop()
        self._runner = web.AppRunner(self.build_app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.base_url = f"http://{shown_host}:{bound_port}"
        return self.base_url

    async def stop(self) -> None:
        """Close the event streams, cancel pending delayed requests (no event, as in Leshan) and stop serving."""
        self._close_streams()
        self._delayed.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = None
        self._loop = None

    @contextlib.contextmanager
    def run_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve from a background thread with its own event loop; yields the base URL."""
        ready: concurrent.futures.Future[str] = concurrent.futures.Future()
        thread = threading.Thread(target=self._thread_main, args=(host, port, ready), name="leshan-double")
        thread.daemon = True
        thread.start()
        base_url = ready.result(timeout=10)
        try:
            yield base_url
        finally:
            loop, stop_requested = self._loop, self._stop_requested
            if loop is not None and stop_requested is not None:
                loop.call_soon_threadsafe(stop_requested.set)
            thread.join(timeout=10)

    def _thread_main(self, host: str, port: int, ready: concurrent.futures.Future[str]) -> None:
        asyncio.run(self._serve_until_stopped(host, port, ready))

    async def _serve_until_stopped(self, host: str, port: int, ready: concurrent.futures.Future[str]) -> None:
        try:
            base_url = await self.start(host, port)
        except Exception as exc:
            ready.set_exception(exc)
            return
        self._stop_requested = asyncio.Event()
        ready.set_result(base_url)
        try:
            await self._stop_requested.wait()
        finally:
            await self.stop()

    def _on_loop(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function`` on the server's loop (waiting for it) when called from another thread."""
        loop = self._loop
        try:
            current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if loop is None or not loop.is_running() or current is loop:
            return function(*args)

        async def call() -> T:
            return function(*args)

        return asyncio.run_coroutine_threadsafe(call(), loop).result(timeout=10)

    # -- scripting

    def script(self, ep: str, *outcomes: Outcome) -> None:
        """Queue forced outcomes for ``ep``: each device request to it consumes the next one."""
        self._on_loop(self._script, ep, outcomes)

    def _script(self, ep: str, outcomes: tuple[Outcome, ...]) -> None:
        self._outcomes.setdefault(ep, deque()).extend(outcomes)

    def _next_outcome(self, ep: str) -> Outcome | None:
        queue = self._outcomes.get(ep)
        return queue.popleft() if queue else None

    # -- state helpers that emit Leshan's events

    def register(self, client: SimulatedClient) -> None:
        """A Register: a new registration; AWAKE (queue mode) then REGISTRATION."""
        self._on_loop(self._register, client)

    def update(
        self,
        ep: str,
        *,
        lifetime: int | None = None,
        address: str | None = None,
        sms_number: str | None = None,
        object_links: list[dict[str, Any]] | None = None,
    ) -> None:
        """A registration Update: AWAKE (sleeping queue-mode client) then UPDATED."""
        self._on_loop(self._update, ep, lifetime, address, sms_number, object_links)

    def deregister(self, ep: str) -> None:
        self._on_loop(self._deregister, ep)

    def sleep(self, ep: str) -> None:
        """Queue mode: the client falls asleep (SLEEPING). Otherwise: the device goes offline, silently."""
        self._on_loop(self._sleep, ep)

    def wake(self, ep: str) -> None:
        """Queue mode: AWAKE, then (master) the delayed request is sent. Otherwise: back online."""
        self._on_loop(self._wake, ep)

    def notify(self, ep: str, path: str, node: Node | None = None) -> None:
        """A single notification of ``path`` (its stored node unless ``node`` is given)."""
        self._on_loop(self._notify, ep, path, node)

    def notify_composite(self, ep: str, paths: list[str]) -> None:
        self._on_loop(self._notify_composite, ep, paths)

    def send(self, ep: str, paths: list[str]) -> None:
        """An LwM2M Send of the stored nodes of ``paths``."""
        self._on_loop(self._send, ep, paths)

    def emit_raw(self, text: str) -> None:
        """Write ``text`` as is to every event stream (for client robustness tests)."""
        self._on_loop(self._emit_raw, text)

    def disconnect_streams(self) -> None:
        """Close every open event stream."""
        self._on_loop(self._close_streams)

    def _register(self, client: SimulatedClient) -> None:
        previous = self.clients.get(client.endpoint)
        if previous is not None:
            self._delayed.pop(previous.registration_id, None)
        was_asleep = previous is None or previous.sleeping
        client.new_registration()
        client.sleeping = False
        self.clients[client.endpoint] = client
        if client.queue_mode and was_asleep:
            self._emit("AWAKE", client.endpoint, _ep_data(client.endpoint))
        self._emit("REGISTRATION", client.endpoint, dumps(client.registration_json()))

    def _update(
        self,
        ep: str,
        lifetime: int | None,
        address: str | None,
        sms_number: str | None,
        object_links: list[dict[str, Any]] | None,
    ) -> None:
        client = self._client(ep)
        client.lifetime = lifetime if lifetime is not None else client.lifetime
        client.address = address if address is not None else client.address
        client.sms_number = sms_number if sms_number is not None else client.sms_number
        client.object_links = object_links if object_links is not None else client.object_links
        client.last_update = now_ms()
        self._awaken(client)
        update: dict[str, Any] = {"registrationId": client.registration_id, "address": client.address}
        optional = {"smsNumber": sms_number, "lifetime": lifetime, "objectLinks": object_links}
        update |= {key: value for key, value in optional.items() if value is not None}
        update |= {"secure": client.secure, "additionalAttributes": {}}
        data = {"registration": client.registration_json(), "update": update}
        self._emit("UPDATED", ep, dumps(data))

    def _deregister(self, ep: str) -> None:
        client = self.clients.pop(ep)
        self._delayed.pop(client.registration_id, None)
        self._emit("DEREGISTRATION", ep, dumps(client.registration_json()))

    def _sleep(self, ep: str) -> None:
        client = self._client(ep)
        if client.queue_mode and not client.sleeping:
            self._emit("SLEEPING", ep, _ep_data(ep))
        client.sleeping = True

    def _wake(self, ep: str) -> None:
        self._awaken(self._client(ep))

    def _awaken(self, client: SimulatedClient) -> None:
        """The device was heard from. Queue mode: AWAKE if it slept, then (master) its delayed request is sent."""
        if not client.queue_mode:
            client.sleeping = False  # an offline device is back
            return
        if not client.sleeping:
            return
        client.sleeping = False
        self._emit("AWAKE", client.endpoint, _ep_data(client.endpoint))
        delayed = self._delayed.pop(client.registration_id, None)
        if delayed is not None:
            self._spawn(self._deliver_delayed(client, delayed))

    def _notify(self, ep: str, path: str, node: Node | None) -> None:
        client = self._client(ep)
        self._awaken(client)
        text = str(Path.parse(path))
        value = node if node is not None else self._stored_node(client, text)
        self._emit("NOTIFICATION", ep, _ep_data(ep, ',"kind":"single","res":"' + text + '","val":' + dumps(value)))

    def _notify_composite(self, ep: str, paths: list[str]) -> None:
        client = self._client(ep)
        self._awaken(client)
        nodes = {str(Path.parse(p)): self._stored_node(client, p) for p in paths}
        rest = ',"kind":"composite","val":' + dumps(nodes) + ',"paths":' + dumps(list(nodes))
        self._emit("NOTIFICATION", ep, _ep_data(ep, rest))

    def _send(self, ep: str, paths: list[str]) -> None:
        client = self._client(ep)
        nodes = {str(Path.parse(p)): self._stored_node(client, p) for p in paths}
        self._emit("SEND", ep, _ep_data(ep, ',"val":' + dumps(nodes)))

    def _client(self, ep: str) -> SimulatedClient:
        client = self.clients.get(ep)
        if client is None:
            raise KeyError(f"no registered client {ep!r}")
        return client

    @staticmethod
    def _stored_node(client: SimulatedClient, path: str) -> Node:
        node = client.node(path)
        if isinstance(node, str):
            raise KeyError(f"{client.endpoint} has no readable value at {path} ({node})")
        return node

    # -- events

    def _emit(self, name: str, ep: str, data: str) -> None:
        self.events.append((name, data))
        frame = _frame(name, data)
        for stream in self._streams:
            if stream.ep is None or stream.ep == ep:
                stream.queue.put_nowait(frame)

    def _emit_raw(self, text: str) -> None:
        for stream in self._streams:
            stream.queue.put_nowait(text)

    def _close_streams(self) -> None:
        for stream in self._streams:
            stream.queue.put_nowait(None)

    async def _event_stream(self, request: web.Request) -> web.StreamResponse:
        if request.method != "GET" or "text/event-stream" not in request.headers.getall("Accept", []):
            return _jetty_page(405, f"HTTP method {request.method} is not supported by this URL", request.path)
        response = web.StreamResponse(headers={"Content-Type": SSE_CONTENT_TYPE, "Connection": "close"})
        response.force_close()
        stream = _Stream(request.query.get("ep"))
        self._streams.add(stream)
        try:
            await response.prepare(request)
            await self._pump(stream, response)
        except ConnectionError:
            pass  # the client went away
        finally:
            self._streams.discard(stream)
        return response

    async def _pump(self, stream: _Stream, response: web.StreamResponse) -> None:
        """Write events as they come and a bare CRLF every ``heartbeat`` seconds, until closed."""
        loop = asyncio.get_running_loop()
        next_beat = loop.time() + self.heartbeat
        while True:
            try:
                item = await asyncio.wait_for(stream.queue.get(), max(0.0, next_beat - loop.time()))
            except TimeoutError:
                await response.write(b"\r\n")
                next_beat += self.heartbeat
                continue
            if item is None:
                return
            await response.write(item.encode())

    # -- /api/clients routing (§1.2 notes)

    @web.middleware
    async def _log_request(self, request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        body = (await request.read()).decode("utf-8", "replace") if request.can_read_body else ""
        self.requests.append(RequestRecord(request.method, request.path, dict(request.query), body, time.time()))
        return await handler(request)

    async def _clients(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info.get("tail")
        handlers = {"GET": self._get, "PUT": self._put, "POST": self._post, "DELETE": self._delete}
        handler = handlers.get(request.method)
        if handler is None:
            return _jetty_page(405, f"HTTP method {request.method} is not supported by this URL", request.path)
        if tail is None and request.method == "GET":
            return _json_response([client.registration_json() for client in self.clients.values()])
        segments = [part for part in (tail or "").split("/") if part]
        if not segments:
            return self._invalid_path(request)
        try:
            return await handler(request, segments)
        except HttpError as error:
            return self._error(error, request)
        except _Cancelled:
            return self._text(500, f"Request cancelled: Request {request.path} canceled")

    async def _get(self, request: web.Request, seg: list[str]) -> web.StreamResponse:
        ep = seg[0]
        if len(seg) == 1:
            client = self.clients.get(ep)
            return _json_response(client.registration_json()) if client else self._not_registered(ep, False)
        if len(seg) == 2 and seg[1] == "composite":
            return await self._read_composite(request, ep, READ_COMPOSITE)
        if len(seg) >= 3 and seg[-1] == "discover":
            return await self._simple(request, ep, DISCOVER, _lwm2m_path(seg[1:-1]), capital=True)
        return await self._simple(request, ep, READ, _lwm2m_path(seg[1:]), capital=True)

    async def _put(self, request: web.Request, seg: list[str]) -> web.StreamResponse:
        ep = seg[0]
        if len(seg) == 2 and seg[1] == "composite":
            return await self._write_composite(request, ep)
        if len(seg) < 3:
            return self._invalid_path(request)
        if seg[-1] == "attributes":
            return await self._write_attributes(request, ep, _lwm2m_path(seg[1:-1]))
        return await self._write(request, ep, _lwm2m_path(seg[1:]))

    async def _post(self, request: web.Request, seg: list[str]) -> web.StreamResponse:
        ep = seg[0]
        if seg[1:] == ["composite", "observe"]:
            return await self._read_composite(request, ep, OBSERVE_COMPOSITE)
        if len(seg) >= 3 and seg[-1] == "observe":
            return await self._simple(request, ep, OBSERVE, _lwm2m_path(seg[1:-1]), capital=False)
        if len(seg) == 4:
            return await self._execute(request, ep, _lwm2m_path(seg[1:]))
        if len(seg) in (2, 3):
            return await self._create(request, ep, _lwm2m_path(seg[1:]))
        return self._invalid_path(request)

    async def _delete(self, request: web.Request, seg: list[str]) -> web.StreamResponse:
        ep = seg[0]
        if seg[1:] == ["composite", "observe"]:
            return await self._cancel_composite(request, ep)
        if len(seg) >= 3 and seg[-1] == "observe":
            return await self._cancel(request, ep, _lwm2m_path(seg[1:-1]))
        return await self._simple(request, ep, DELETE, _lwm2m_path(seg[1:]), capital=False)

    # -- the operations: each builds a DeviceCall once the endpoint is known to be registered

    async def _simple(
        self, request: web.Request, ep: str, operation: Operation, path_text: str, *, capital: bool
    ) -> web.StreamResponse:
        """Read, discover, observe and delete: a path and no body."""

        def prepare(client: SimulatedClient) -> DeviceCall:
            path = str(_parse_path(path_text))
            if operation is DELETE and Path.parse(path).depth != 2:
                raise HttpError(400, f"Invalid request: Invalid path {path}: only object instances can be deleted")
            perform: dict[str, Callable[[SimulatedClient], Answer]] = {
                "read": lambda c: _content_answer(c.read(path)),
                "observe": lambda c: _content_answer(c.observe(path)),
                "discover": lambda c: _discover_answer(c.discover(path)),
                "delete": lambda c: Answer(c.delete(path)),
            }
            return DeviceCall(operation, perform[operation.name], path)

        return await self._device_request(request, ep, operation, prepare, capital=capital)

    async def _write(self, request: web.Request, ep: str, path_text: str) -> web.StreamResponse:
        raw_replace = request.query.get("replace")
        replace = raw_replace is None or raw_replace.lower() == "true"
        body = await request.text()

        def prepare(client: SimulatedClient) -> DeviceCall:
            path = _parse_path(path_text)
            node = placed(self._body_node(request, body, path), path)
            return DeviceCall(WRITE, lambda c: Answer(c.write(str(path), node, replace)), str(path))

        return await self._device_request(request, ep, WRITE, prepare, capital=True)

    async def _execute(self, request: web.Request, ep: str, path_text: str) -> web.StreamResponse:
        arguments = await request.text() if request.content_length else ""

        def prepare(client: SimulatedClient) -> DeviceCall:
            path = str(_parse_path(path_text))
            if not _ARGUMENTS_RE.fullmatch(arguments):
                raise HttpError(400, f"Invalid request: Unable to parse execute arguments [{arguments[:60]}]")
            return DeviceCall(EXECUTE, lambda c: Answer(c.execute(path, arguments)), path)

        return await self._device_request(request, ep, EXECUTE, prepare, capital=False)

    async def _create(self, request: web.Request, ep: str, path_text: str) -> web.StreamResponse:
        body = await request.text()

        def prepare(client: SimulatedClient) -> DeviceCall:
            path = _parse_path(path_text)
            node = self._body_node(request, body, path)
            if node["kind"] != "instance":
                raise _bad_value("payload must contain an object instance")
            if path.depth == 2:
                node = placed(node, path)
            object_path = str(Path(path.object_id))

            def perform(c: SimulatedClient) -> Answer:
                code, location = c.create(object_path, node)
                return Answer(code, location=location)

            return DeviceCall(CREATE, perform, str(path))

        return await self._device_request(request, ep, CREATE, prepare, capital=False)

    async def _write_attributes(self, request: web.Request, ep: str, path_text: str) -> web.StreamResponse:
        def prepare(client: SimulatedClient) -> DeviceCall:
            path = str(_parse_path(path_text))
            attributes = self._attributes(request.query_string)
            return DeviceCall(WRITE_ATTRIBUTES, lambda c: Answer(c.write_attributes(path, attributes)), path)

        return await self._device_request(request, ep, WRITE_ATTRIBUTES, prepare, capital=True)

    async def _read_composite(self, request: web.Request, ep: str, operation: Operation) -> web.StreamResponse:
        def prepare(client: SimulatedClient) -> DeviceCall:
            paths = _composite_paths(request)
            if operation is OBSERVE_COMPOSITE:
                return DeviceCall(operation, lambda c: _content_answer(c.observe_composite(paths)))
            return DeviceCall(operation, lambda c: _content_answer(c.read_composite(paths)))

        return await self._device_request(request, ep, operation, prepare, capital=True)

    async def _write_composite(self, request: web.Request, ep: str) -> web.StreamResponse:
        body = await request.text()

        def prepare(client: SimulatedClient) -> DeviceCall:
            nodes = self._composite_body(body, request.path)
            return DeviceCall(WRITE_COMPOSITE, lambda c: Answer(c.write_composite(nodes)))

        return await self._device_request(request, ep, WRITE_COMPOSITE, prepare, capital=False)

    async def _cancel(self, request: web.Request, ep: str, path_text: str) -> web.StreamResponse:
        """Passive: forget the observation, 200 with no body. Active: also ask the device (§1.2 notes)."""
        if "active" not in request.query:
            client = self.clients.get(ep)
            if client is None:
                return self._not_registered(ep, False)
            client.observations.discard(str(_parse_path(path_text)))
            return web.Response()

        def prepare(client: SimulatedClient) -> DeviceCall:
            path = str(_parse_path(path_text))
            if path not in client.observations:
                raise HttpError(404, f"no observation for path {path} for  client '{self._client_text(client)}'")

            def perform(c: SimulatedClient) -> Answer:
                c.observations.discard(path)
                return _content_answer(c.read(path))

            return DeviceCall(OBSERVE, perform, path)

        return await self._device_request(request, ep, OBSERVE, prepare, capital=False)

    async def _cancel_composite(self, request: web.Request, ep: str) -> web.StreamResponse:
        if "active" not in request.query:
            client = self.clients.get(ep)
            if client is None:
                return self._not_registered(ep, False)
            client.composite_observations.discard(tuple(_composite_paths(request)))
            return web.Response()

        def prepare(client: SimulatedClient) -> DeviceCall:
            paths = tuple(_composite_paths(request))
            if paths not in client.composite_observations:
                shown = "[" + ", ".join(paths) + "]"
                message = f"no composite observation for paths {shown} for  client '{self._client_text(client)}'"
                raise HttpError(404, message)

            def perform(c: SimulatedClient) -> Answer:
                c.composite_observations.discard(paths)
                return _content_answer(c.read_composite(list(paths)))

            return DeviceCall(OBSERVE_COMPOSITE, perform)

        return await self._device_request(request, ep, OBSERVE_COMPOSITE, prepare, capital=False)

    def _client_text(self, client: SimulatedClient) -> str:
        if self.master:
            return f"Registration [endpoint={client.endpoint}, registrationId={client.registration_id}]"
        return client.endpoint

    # -- request bodies

    def _body_node(self, request: web.Request, body: str, path: Path) -> Node:
        """The node of a write or create body: JSON node, or ``text/plain`` for a STRING resource."""
        content_type = request.headers.get("Content-Type")
        mime = content_type.split(";")[0].strip().lower() if content_type else None
        if mime == "application/json":
            return decode_node(_parse_json(body))
        if mime == "text/plain":
            return {"id": _ids(path)[-1], "kind": "singleResource", "type": "STRING", "value": body}
        raise HttpError(400, f"Invalid request: content type {content_type} not supported")

    def _composite_body(self, body: str, uri: str) -> dict[str, Node]:
        try:
            raw = json.loads(body)
        except ValueError as exc:
            raise self._unparseable_composite(str(exc), uri) from None
        if not isinstance(raw, dict):
            raise self._unparseable_composite("a JSON object of path to node is expected", uri)
        nodes = {}
        for key, value in raw.items():
            path = _parse_path(key)
            try:
                nodes[str(path)] = placed(decode_node(value), path)
            except HttpError as error:
                if error.status == 400:
                    raise self._unparseable_composite(error.text, uri) from None
                raise
        return nodes

    def _unparseable_composite(self, message: str, uri: str) -> HttpError:
        if self.master:
            return HttpError(500, f"Unexpected error handling PUT - {uri} : {message}")
        return HttpError(500, message, jetty_page=True)

    def _attributes(self, query_string: str) -> dict[str, str | None]:
        """The whole query string as LwM2M attributes (``timeout`` included: it is not one, as in Leshan)."""
        attributes: dict[str, str | None] = {}
        for part in filter(None, query_string.split("&")):
            name, _, value = part.partition("=")
            kind = _ATTRIBUTES.get(name)
            if kind is None:
                raise self._bad_attribute(f"{name} attribute is unknown or not a LWM2M attribute")
            if value:
                try:
                    kind(value)
                except ValueError:
                    raise self._bad_attribute(f"{name} attribute value {value} is not valid") from None
            attributes[name] = value or None
        return attributes

    def _bad_attribute(self, message: str) -> HttpError:
        if self.master:
            return HttpError(400, f"Invalid attributes: {message}")
        return _bad_value(message)

    # -- the common path of every device request

    async def _device_request(
        self,
        request: web.Request,
        ep: str,
        operation: Operation,
        prepare: Callable[[SimulatedClient], DeviceCall],
        *,
        capital: bool,
    ) -> web.StreamResponse:
        """Scripted outcome, registration, request checks, sleeping/offline, then the device's answer."""
        outcome = self._next_outcome(ep)
        if outcome is not None and outcome.kind != "delay":
            return await self._forced(request, ep, operation, outcome, capital=capital)
        client = self.clients.get(ep)
        if client is None:
            return self._not_registered(ep, capital)
        call = prepare(client)
        timeout = _timeout_seconds(request.query.get("timeout"))
        if client.sleeping and client.queue_mode:
            return self._store_delayed(client, call, timeout) if self.master else self._text(400, SLEEPING_TEXT)
        if client.sleeping:  # an offline device
            await asyncio.sleep(self.timeout_delay)
            return self._text(504, TIMEOUT_TEXT)
        delay = (outcome.seconds or 0.0) if outcome is not None else 0.0
        answer = await self._exchange(client, call, timeout, delay)
        return _json_response(answer) if answer is not None else self._text(504, TIMEOUT_TEXT)

    async def _exchange(
        self, client: SimulatedClient, call: DeviceCall, timeout_s: int, delay: float
    ) -> dict[str, Any] | None:
        """Leshan's synchronous send: the response JSON, or None when the device took ``timeout_s`` or more."""
        device_time = self.latency + delay
        if device_time >= timeout_s:
            await asyncio.sleep(max(timeout_s, 0))
            self._timed_out(client)
            return None
        await asyncio.sleep(device_time)
        if self.clients.get(client.endpoint) is not client:
            raise _Cancelled()
        return response_json(call.operation, call.perform(client))

    def _timed_out(self, client: SimulatedClient) -> None:
        """No answer in time: Leshan's presence service now considers a queue-mode client asleep."""
        if client.queue_mode and not client.sleeping and self.clients.get(client.endpoint) is client:
            client.sleeping = True
            self._emit("SLEEPING", client.endpoint, _ep_data(client.endpoint))

    async def _forced(
        self, request: web.Request, ep: str, operation: Operation, outcome: Outcome, *, capital: bool
    ) -> web.StreamResponse:
        if outcome.kind == "timeout":
            await asyncio.sleep(outcome.seconds if outcome.seconds is not None else self.timeout_delay)
            if ep in self.clients:
                self._timed_out(self.clients[ep])
            return self._text(504, TIMEOUT_TEXT)
        if outcome.kind == "coap_error":
            await asyncio.sleep(self.latency)
            return _json_response(response_json(operation, Answer(outcome.code, error_message=outcome.message)))
        if outcome.kind == "http":
            return self._text(outcome.status, outcome.text)
        if outcome.kind == "sleeping":
            return self._text(400, SLEEPING_TEXT)
        if outcome.kind == "not_registered":
            return self._not_registered(ep, capital)
        if outcome.kind == "drop":
            if request.transport is not None:
                request.transport.close()
            return web.Response()
        raise ValueError(f"unknown outcome {outcome.kind!r}")

    # -- master: delayed requests to sleeping clients (§2)

    def _store_delayed(self, client: SimulatedClient, call: DeviceCall, timeout: int) -> web.Response:
        """Keep only the last request per registration; answer that it is delayed."""
        request_id = str(uuid.uuid4())
        self._delayed[client.registration_id] = _Delayed(call, timeout, request_id)
        return _json_response(self._delayed_json(client, call, request_id))

    async def _deliver_delayed(self, client: SimulatedClient, delayed: _Delayed) -> None:
        try:
            response = await self._exchange(client, delayed.call, delayed.timeout, 0.0)
        except _Cancelled:
            return
        if response is not None:
            data = self._delayed_json(client, delayed.call, delayed.request_id, response)
            self._emit("REQUEST_RESPONSE", client.endpoint, dumps(data))

    @staticmethod
    def _delayed_json(
        client: SimulatedClient, call: DeviceCall, request_id: str, response: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"ep": client.endpoint}
        if call.path is not None:
            data["path"] = call.path
        data["requestId"] = request_id
        if response is not None:
            data["response"] = response
        data["delayed"] = True
        return data

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- error answers (§1.4)

    def _text(self, status: int, text: str) -> web.Response:
        """An error text: no Content-Type in M15, ``text/plain; charset=UTF-8`` on master."""
        if self.master:
            return web.Response(status=status, text=text, content_type="text/plain", charset="UTF-8")
        return _BareText(status=status, body=text.encode())

    def _error(self, error: HttpError, request: web.Request) -> web.Response:
        if error.jetty_page:
            return _jetty_page(error.status, error.text, request.path)
        return self._text(error.status, error.text)

    def _not_registered(self, ep: str, capital: bool) -> web.Response:
        """M15 capitalises "No" on some routes only (§1.4); master always does."""
        first = "No" if capital or self.master else "no"
        return self._text(400, f"{first} registered client with id '{ep}'")

    def _invalid_path(self, request: web.Request) -> web.Response:
        if self.master:
            return self._text(400, "Invalid path")
        return _jetty_page(400, "Invalid path", request.path)


def _discover_answer(result: list[dict[str, Any]] | str) -> Answer:
    if isinstance(result, str):
        return Answer(result)
    return Answer("CONTENT", object_links=result)


def _composite_paths(request: web.Request) -> list[str]:
    raw = request.query.get("paths")
    if raw is None:
        raise _bad_value('Cannot invoke "String.split(String)" because "pathParam" is null')
    return [str(_parse_path(part.strip())) for part in raw.split(",")]
