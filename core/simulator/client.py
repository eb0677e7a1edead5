"""The simulated LwM2M client: a registration and the current values of its resources.

The Leshan double (``core.simulator.double``) serves these; the device simulator (``core.simulator.fleet``)
subclasses ``SimulatedClient`` to give the devices behaviour.
"""

from __future__ import annotations

import itertools
import random
import string
import time
from dataclasses import dataclass, field
from typing import Any

from core.lwm2m.nodes import Path, flatten
from core.lwm2m.types import DataType, Value
from core.simulator.double.nodes import Entry, Node, build_node, is_within, path_ids


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
        instances = sorted({path_ids(Path.parse(key))[:2] for key in self.resources})
        links = [{"url": "/", "attributes": {"rt": '"oma.lwm2m"', "ct": "110"}}]
        return links + [{"url": f"/{o}/{i}", "attributes": {}} for o, i in instances]

    # -- the store

    def set_value(self, path: str, data_type: DataType, value: Value) -> None:
        self.resources[str(Path.parse(path))] = (data_type, value)

    def entries(self, at: Path) -> list[Entry]:
        """The stored values within ``at``, sorted by path."""
        found = [(Path.parse(key), data_type, value) for key, (data_type, value) in self.resources.items()]
        return sorted((entry for entry in found if is_within(entry[0], at)), key=lambda entry: path_ids(entry[0]))

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
            replaced = {at} if at.depth >= 3 else {Path(*path_ids(r.path)[:3]) for r in readings}
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
        urls = {str(Path(*path_ids(p)[:depth])) for p, _, _ in entries for depth in range(at.depth, 4)}
        ordered = sorted(urls, key=lambda url: path_ids(Path.parse(url)))
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
        used = {path_ids(p)[1] for p, _, _ in self.entries(Path(object_id))}
        return next(i for i in itertools.count() if i not in used)
