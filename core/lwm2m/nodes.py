"""LwM2M paths and Leshan's node JSON, flattened into readings.

A node (``../shared/reference/leshan-rest-contract.md`` §1.5) is an object, an object instance, a single
resource, a multi-instance resource or one resource instance. Ingest needs the leaves: one ``Reading`` per
resource value, with its full path (object / instance / resource / resource instance) and typed value.

Every problem raises ``NodeError`` naming the path it was found at, so a client learns exactly what to fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from core.lwm2m.types import ID_MAX, DataType, Value, parse_value


class NodeError(ValueError):
    """A node or path that cannot be read; ``str()`` is ``"<path>: <problem>"``."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)
        self.path = path
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Path:
    object_id: int
    object_instance_id: int | None = None
    resource_id: int | None = None
    resource_instance_id: int | None = None

    @classmethod
    def parse(cls, text: object) -> Path:
        """``/3303/0/5700``: one to four ids; the leading and a trailing slash are optional as in Leshan."""
        if not isinstance(text, str):
            raise NodeError("", f"a path must be a string, not {type(text).__name__}")
        return _parse_path(text)

    @classmethod
    def _parse_uncached(cls, text: str) -> Path:
        shown = text if len(text) <= 40 else text[:39] + "…"
        parts = text.strip("/").split("/")
        if not 1 <= len(parts) <= 4 or not all(p.isascii() and p.isdigit() and len(p) <= 5 for p in parts):
            raise NodeError(shown, "not an LwM2M path like /3303/0/5700")
        ids = [int(p) for p in parts]
        if any(i > ID_MAX for i in ids):
            raise NodeError(shown, f"LwM2M ids are 0..{ID_MAX}")
        return cls(*ids)

    @property
    def depth(self) -> int:
        return 4 - (
            (self.object_instance_id is None) + (self.resource_id is None) + (self.resource_instance_id is None)
        )

    def child(self, child_id: int) -> Path:
        below = [self.object_instance_id, self.resource_id, self.resource_instance_id]
        below[self.depth - 1] = child_id
        return Path(self.object_id, *below)

    def __str__(self) -> str:
        ids = (self.object_id, self.object_instance_id, self.resource_id, self.resource_instance_id)
        return "/" + "/".join(str(i) for i in ids if i is not None)


@lru_cache(maxsize=4096)
def _parse_path(text: str) -> Path:
    # A fleet reports the same few paths again and again (a timestamped post: 500 times the same one).
    return Path._parse_uncached(text)


@dataclass(frozen=True, slots=True)
class Reading:
    """One resource value: ``path`` is at resource (depth 3) or resource-instance (depth 4) level."""

    path: Path
    data_type: DataType
    value: Value
    multiple: bool = False
    timestamp_ms: int | None = None


# The kind each path depth holds.
_KINDS_AT_DEPTH = {1: ("obj",), 2: ("instance",), 3: ("singleResource", "multiResource"), 4: ("resourceInstance",)}
KINDS = frozenset(k for kinds in _KINDS_AT_DEPTH.values() for k in kinds)


def node_kind(node: dict[str, Any], where: str) -> str:
    """The node's kind, inferred from its keys when ``kind`` is absent, as Leshan's deserializer does."""
    kind = node.get("kind")
    if kind is not None:
        if not isinstance(kind, str) or kind not in KINDS:  # a list or object is not hashable: no set lookup
            raise NodeError(where, f'unknown node kind "{str(kind)[:40]}"')
        return str(kind)
    if "instances" in node:
        return "obj"
    if "resources" in node:
        return "instance"
    if "values" in node:
        return "multiResource"
    if "value" in node:
        return "singleResource"
    raise NodeError(where, "not a node: no kind, instances, resources, values or value")


def flatten(node: object, at: Path, *, timestamp_ms: int | None = None) -> list[Reading]:
    """All readings in ``node``, which sits at path ``at`` (its id must agree with the path)."""
    out: list[Reading] = []
    _flatten_into(out, node, at, timestamp_ms)
    return out


def _flatten_into(out: list[Reading], node: object, at: Path, ts: int | None) -> None:
    if not isinstance(node, dict):
        raise NodeError(str(at), f"a node must be a JSON object, not {_json_kind(node)}")
    kind = node.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        kind = node_kind(node, str(at))
    depth = at.depth
    if kind not in _KINDS_AT_DEPTH[depth]:
        expected = " or ".join(_KINDS_AT_DEPTH[depth])
        raise NodeError(str(at), f'a "{kind}" node does not match this path (expected {expected})')
    _check_id(node, at, required=kind != "instance")

    if kind == "obj":
        for child in _list_field(node, "instances", at):
            _flatten_into(out, child, at.child(_child_id(child, at, "instance")), ts)
    elif kind == "instance":
        for child in _list_field(node, "resources", at):
            _flatten_into(out, child, at.child(_child_id(child, at, "resource")), ts)
    elif kind == "multiResource":
        data_type = _data_type(node, at)
        values = node.get("values")
        if not isinstance(values, dict):
            raise NodeError(str(at), "multiResource values must be a JSON object of instance id to value")
        for key, raw in values.items():
            if not (isinstance(key, str) and key.isascii() and key.isdigit() and len(key) <= 5):
                raise NodeError(str(at), f'resource instance id "{str(key)[:20]}" is not an integer')
            instance_id = int(key)
            instance_path = at.child(instance_id)
            if instance_id > ID_MAX:
                raise NodeError(str(instance_path), f"LwM2M ids are 0..{ID_MAX}")
            out.append(Reading(instance_path, data_type, _value(data_type, raw, instance_path), True, ts))
    else:  # singleResource, resourceInstance
        data_type = _data_type(node, at)
        if "value" not in node:
            raise NodeError(str(at), f"{kind} node has no value")
        out.append(Reading(at, data_type, _value(data_type, node["value"], at), kind == "resourceInstance", ts))


def _check_id(node: dict[str, Any], at: Path, *, required: bool) -> None:
    node_id = node.get("id")
    expected = (at.object_id, at.object_instance_id, at.resource_id, at.resource_instance_id)[at.depth - 1]
    if node_id == expected and type(node_id) is int:
        return
    if node_id is None:
        if required:
            raise NodeError(str(at), "node has no id")
        return
    if type(node_id) is not int:
        raise NodeError(str(at), "node id must be an integer")
    raise NodeError(str(at), f"node id {node_id} does not match the path")


def _child_id(child: object, at: Path, what: str) -> int:
    where = str(at)
    """The id a child node places itself at; an instance without id is instance 0 (Leshan: undefined)."""
    if not isinstance(child, dict):
        raise NodeError(where, f"each {what} must be a JSON object, not {_json_kind(child)}")
    child_id = child.get("id")
    if child_id is None and what == "instance":
        return 0
    if type(child_id) is not int:
        raise NodeError(where, f"each {what} node needs an integer id")
    if not 0 <= child_id <= ID_MAX:
        raise NodeError(where, f"{what} id {child_id} is outside 0..{ID_MAX}")
    return child_id


def _list_field(node: dict[str, Any], field: str, at: Path) -> list[Any]:
    items = node.get(field)
    if not isinstance(items, list):
        raise NodeError(str(at), f"{field} must be a JSON list")
    return items


_TYPES_BY_NAME = {t.value: t for t in DataType}


def _data_type(node: dict[str, Any], at: Path) -> DataType:
    raw = node.get("type")
    known = _TYPES_BY_NAME.get(raw) if isinstance(raw, str) else None
    if known is not None:
        return known
    if "type" not in node:
        raise NodeError(str(at), "resource node has no type")
    try:
        return DataType.parse(raw)
    except ValueError as exc:
        raise NodeError(str(at), str(exc)) from None


def _value(data_type: DataType, raw: Any, at: Path) -> Value:
    try:
        return parse_value(data_type, raw)
    except ValueError as exc:
        raise NodeError(str(at), str(exc)) from None


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    return {list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def node_path(node: object) -> Path:
    """Where a bare node sits when no path is given with it: only an object node carries its own place."""
    if not isinstance(node, dict) or node_kind(node, "") != "obj":
        raise NodeError("", "a node without a path must be an object node (kind obj)")
    object_id = node.get("id")
    if type(object_id) is not int or not 0 <= object_id <= ID_MAX:
        raise NodeError("", "object node needs an integer id")
    return Path(object_id)
