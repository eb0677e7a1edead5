"""The flownexus Leshan bridge's payloads (../shared/reference/leshan-rest-contract.md, appendix), as readings.

Three shapes arrive, each with the device's endpoint name in ``ep``:

- single: ``{"ep", "obj_id", "val": <node>}``: a notification of one object, instance or resource. The
  bridge does not send the instance id; a resource node is placed at instance 0 unless the optional
  ``path`` (``/3303/1/5700``, a Fieldhub extension) says where it sits.
- composite: ``{"ep", "val": {"<path>": <node>, ...}}``, or ``val`` a bare object node.
- timestamped (LwM2M 1.1 Send): ``{"ep", "val": [{"<epoch ms>|null": {"nodes": {"<path>": <node>}}}, ...]}``.

Pure functions: they parse, they do not store. Problems raise ``NodeError`` naming the path.
"""

from __future__ import annotations

from typing import Any

from core.lwm2m.nodes import NodeError, Path, Reading, flatten, node_kind, node_path
from core.lwm2m.types import ID_MAX

# Epoch milliseconds accepted as device time: 1970-01-01 up to 9999-12-31 (what a datetime holds).
MAX_TIMESTAMP_MS = 253402300799999


def readings_from_single(object_id: int, node: object, path: str | None = None) -> list[Reading]:
    if path is not None:
        at = Path.parse(path)
        if at.object_id != object_id:
            raise NodeError(str(at), f"path is not in object {object_id} (obj_id)")
        return flatten(node, at)
    if not isinstance(node, dict):
        raise NodeError(f"/{object_id}", "val must be a node (a JSON object)")
    kind = node_kind(node, f"/{object_id}")
    node_id = node.get("id")
    if type(node_id) is int and not 0 <= node_id <= ID_MAX:
        raise NodeError(f"/{object_id}", f"node id {node_id} is outside 0..{ID_MAX}")
    if kind == "obj":
        return flatten(node, Path(object_id))
    if kind == "instance":
        return flatten(node, Path(object_id, node_id if type(node_id) is int else 0))
    if kind in ("singleResource", "multiResource"):
        if type(node_id) is not int:
            raise NodeError(f"/{object_id}/0", "node has no id")
        return flatten(node, Path(object_id, 0, node_id))
    raise NodeError(f"/{object_id}", "a resourceInstance node needs a path (e.g. /3/0/7/1)")


def readings_from_composite(val: dict[str, Any]) -> list[Reading]:
    if _is_node(val):
        return flatten(val, node_path(val))
    readings: list[Reading] = []
    for path, node in val.items():
        readings.extend(flatten(node, Path.parse(path)))
    return readings


def readings_from_timestamped(val: list[Any]) -> list[Reading]:
    readings: list[Reading] = []
    for index, entry in enumerate(val):
        where = f"val[{index}]"
        if not isinstance(entry, dict) or not entry:
            raise NodeError(where, 'each entry must be {"<epoch ms>": {"nodes": {...}}}')
        for key, content in entry.items():
            timestamp_ms = _timestamp(key, where)
            nodes = content.get("nodes") if isinstance(content, dict) else None
            if not isinstance(nodes, dict):
                raise NodeError(f"{where}[{key}]", 'expected {"nodes": {"<path>": <node>}}')
            for path, node in nodes.items():
                readings.extend(flatten(node, Path.parse(path), timestamp_ms=timestamp_ms))
    return readings


def _timestamp(key: str, where: str) -> int | None:
    if key == "null":
        return None
    if not (key.isascii() and key.isdigit() and len(key) <= 15) or int(key) > MAX_TIMESTAMP_MS:
        raise NodeError(where, f'timestamp "{key[:30]}" is not epoch milliseconds (or "null")')
    return int(key)


def _is_node(val: dict[str, Any]) -> bool:
    return any(key in val for key in ("kind", "instances", "resources", "values", "value"))
