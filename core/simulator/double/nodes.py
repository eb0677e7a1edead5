"""Leshan's node JSON (§1.5, §1.6): nodes built from stored values, and write bodies decoded and checked.

Decoding fails as Leshan's deserializer does: structure errors are 400, value errors 500.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from core.lwm2m.nodes import Path
from core.lwm2m.types import DataType, ObjectLink, Value, parse_value, to_json
from core.simulator.double.protocol import HttpError, bad_structure, bad_value

Node = dict[str, Any]
Entry = tuple[Path, DataType, Value]


# --- paths ---------------------------------------------------------------------------------------------


def path_ids(path: Path) -> tuple[int, ...]:
    """The ids of a path, as far as it goes: ``/3/0/9`` -> ``(3, 0, 9)``."""
    ids = (path.object_id, path.object_instance_id, path.resource_id, path.resource_instance_id)
    return tuple(i for i in ids if i is not None)


def is_within(path: Path, at: Path) -> bool:
    return path_ids(path)[: at.depth] == path_ids(at)


# --- encoding: values and nodes as Leshan writes them --------------------------------------------------


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
        assert isinstance(value, int | float)  # a FLOAT resource's value
        return java_double(float(value))
    if data_type == DataType.OBJLNK and isinstance(value, ObjectLink):
        null_link = value.object_id == 65535 and value.object_instance_id == 65535
        return {"objectId": value.object_id, "objectInstanceId": value.object_instance_id, "nullLink": null_link}
    return to_json(data_type, value)


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
    return itertools.groupby(entries, key=lambda entry: path_ids(entry[0])[at.depth])


# --- decoding: the node of a write or create body ------------------------------------------------------


def decode_node(raw: Any) -> Node:
    """A node of a write or create body, checked as Leshan checks it, with canonical kinds and values."""
    if not isinstance(raw, dict):
        raise bad_structure("Invalid node element")
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
    raise bad_structure("Invalid node element")


def _node_id(raw: Node, *, required: bool = True) -> int | None:
    node_id = raw.get("id")
    if node_id is None and not required:
        return None
    if node_id is None:
        raise bad_structure("Missing id")
    if type(node_id) is not int or not 0 <= node_id <= 65535:
        raise bad_structure(f"Invalid id {str(node_id)[:20]}")
    return node_id


def _decode_container(raw: Node, kind: str, field_name: str, child_kind: str) -> Node:
    node_id = _node_id(raw, required=kind == "obj")
    items = raw.get(field_name)
    if not isinstance(items, list):
        raise bad_structure(f"{field_name.capitalize()} element is not an array")
    children = [decode_node(item) for item in items]
    for child in children:
        if not _kind_is(child["kind"], child_kind):
            raise bad_value(f"a {child['kind']} node is not a {child_kind}")
    return {"id": node_id, "kind": kind, field_name: children}


def _kind_is(kind: str, wanted: str) -> bool:
    return kind in {"instance": ("instance",), "resource": ("singleResource", "multiResource")}[wanted]


def _decode_multi(raw: Node) -> Node:
    node_id = _node_id(raw)
    data_type = _decode_type(raw)
    values = raw.get("values")
    if not isinstance(values, dict):
        raise bad_structure("Values element is not an object")
    decoded = {}
    for key, value in values.items():
        if not (key.isascii() and key.isdigit() and int(key) <= 65535):
            raise bad_value(f'For input string: "{key[:20]}"')
        decoded[str(int(key))] = _checked_value(data_type, value)
    return {"id": node_id, "kind": "multiResource", "type": data_type.value, "values": decoded}


def _decode_type(raw: Node) -> DataType:
    name = raw.get("type")
    if name is None:
        raise bad_value("type is missing")
    if not isinstance(name, str) or name.upper() not in DataType.__members__ or name.upper() == "NONE":
        raise bad_value(f"No enum constant org.eclipse.leshan.core.model.ResourceModel.Type.{str(name)[:40]}")
    return DataType(name.upper())


def _checked_value(data_type: DataType, raw: Any) -> Any:
    """The value in Leshan's canonical JSON encoding; stricter than ``parse_value`` where Leshan is."""
    expected = f"Unexpected JSON type of 'value' field [{str(raw)[:40]}]"
    integral = data_type in (DataType.INTEGER, DataType.UNSIGNED_INTEGER, DataType.TIME)
    if integral and isinstance(raw, float):
        raise bad_value(f"{expected}: an integral number is expected for {data_type}")
    if data_type == DataType.TIME and (not isinstance(raw, int) or isinstance(raw, bool)):
        raise bad_value(f"{expected}: a JSON number (epoch milliseconds) is expected for TIME")
    if data_type == DataType.OBJLNK and not isinstance(raw, dict):
        raise bad_value(f"{expected}: a JSON object is expected for OBJLNK")
    try:
        return value_json(data_type, parse_value(data_type, raw))
    except ValueError as exc:
        raise bad_value(str(exc)) from None


_KINDS_AT_DEPTH = {1: ("obj",), 2: ("instance",), 3: ("singleResource", "multiResource"), 4: ("resourceInstance",)}


def placed(node: Node, path: Path) -> Node:
    """The node with the id of its path; 400 when it does not fit the path (Leshan's request checks)."""
    if node["kind"] not in _KINDS_AT_DEPTH[path.depth]:
        raise HttpError(400, f"Invalid request: a {node['kind']} node cannot be written at {path}")
    path_id = path_ids(path)[-1]
    if node["id"] is not None and node["id"] != path_id:
        raise HttpError(400, f"Invalid request: node id {node['id']} does not match path {path}")
    return {**node, "id": path_id}
