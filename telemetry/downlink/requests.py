"""What a queued operation sends, checked before it is queued: the path must be known to the registry, a
written value must fit the resource's type, the resource must allow the operation. A bad request is a 422
when it is made, not a failure at the device later."""

from __future__ import annotations

from typing import Any

from core.errors import FieldhubError
from core.lwm2m import types as lwm2m
from core.lwm2m.nodes import Path
from core.lwm2m.ranges import limit_of
from core.models import ResourceType
from core.registry import resource_types
from telemetry.models import EndpointOperation

Kind = EndpointOperation.Kind
EXECUTE_ARGUMENTS_MAX = 255


def operation_payload(
    kind: str, path: Path, value: Any, values: dict[str, Any] | None, arguments: str
) -> dict[str, Any] | None:
    if kind == Kind.EXECUTE:
        if path.depth != 3:
            raise FieldhubError("execute needs a resource path, e.g. /3/0/4", path="path")
        resource_type = _known_type(path)
        if not resource_type.executable:
            raise FieldhubError(f"{path} ({resource_type.slug}) is not executable", path="path")
        if not isinstance(arguments, str) or len(arguments) > EXECUTE_ARGUMENTS_MAX:
            raise FieldhubError(f"arguments are a text of at most {EXECUTE_ARGUMENTS_MAX} characters", path="arguments")
        if any(ord(char) < 32 or ord(char) > 126 for char in arguments):
            raise FieldhubError("arguments must be printable ASCII (e.g. 0='reason',1)", path="arguments")
        return {"arguments": arguments} if arguments else None
    if kind == Kind.WRITE:
        return {"node": _write_node(path, value, values)}
    if path.depth >= 3:  # read, observe, cancel: a resource must be readable
        resource_type = _known_type(path)
        if kind != Kind.OBSERVE_CANCEL and not resource_type.readable:
            raise FieldhubError(f"{path} ({resource_type.slug}) is not readable", path="path")
    return None


def _known_type(path: Path) -> ResourceType:
    found = resource_types.get_path(path)
    if found is None:
        raise FieldhubError(f"{path} is not a resource the registry knows", path="path")
    return found


def _write_node(path: Path, value: Any, values: dict[str, Any] | None) -> dict[str, Any]:
    """The Leshan node a write sends (contract §1.5), every value checked against its resource's type."""
    if path.depth == 1:
        raise FieldhubError("write needs an instance or resource path, not a whole object", path="path")
    if path.depth == 2:
        if not values:
            raise FieldhubError("writing an instance needs values: {resource id: value}", path="values")
        resources = []
        for key, raw in sorted(values.items(), key=lambda item: str(item[0])):
            resource_path = path.child(_id_of(key, "values"))
            resources.append(_resource_node(resource_path, raw))
        return {"id": path.object_instance_id, "kind": "instance", "resources": resources}
    resource_type = _writable(path)
    assert path.resource_id is not None  # a path of depth 3 or 4
    if path.resource_instance_id is not None:  # depth 4
        return _leaf(path.resource_instance_id, "resourceInstance", resource_type, value, path)
    if resource_type.multiple:
        if not values:
            raise FieldhubError(f"{path} has several instances: give values {{instance id: value}}", path="values")
        checked = {
            str(_id_of(key, "values")): _checked(resource_type, raw, path.child(_id_of(key, "values")))
            for key, raw in values.items()
        }
        return {"id": path.resource_id, "kind": "multiResource", "type": resource_type.data_type, "values": checked}
    return _leaf(path.resource_id, "singleResource", resource_type, value, path)


def _resource_node(path: Path, raw: Any) -> dict[str, Any]:
    resource_type = _writable(path)
    if resource_type.multiple:
        raise FieldhubError(f"{path} has several instances: write it on its own", path="values")
    assert path.resource_id is not None  # a child of an instance path
    return _leaf(path.resource_id, "singleResource", resource_type, raw, path)


def _writable(path: Path) -> ResourceType:
    resource_type = _known_type(path)
    if not resource_type.writable:
        raise FieldhubError(f"{path} ({resource_type.slug}) is not writable", path="path")
    return resource_type


def _leaf(node_id: int, kind: str, resource_type: ResourceType, raw: Any, path: Path) -> dict[str, Any]:
    return {
        "id": node_id,
        "kind": kind,
        "type": resource_type.data_type,
        "value": _checked(resource_type, raw, path),
    }


def _checked(resource_type: ResourceType, raw: Any, path: Path) -> Any:
    text_type = resource_type.lwm2m_type in (lwm2m.DataType.STRING, lwm2m.DataType.CORELINK)
    if raw is None or (raw == "" and not text_type):  # "" is a text value (an empty Package URI resets 5/0)
        raise FieldhubError(f"{path}: a value is needed", path="value")
    if resource_type.lwm2m_type == lwm2m.DataType.BOOLEAN and isinstance(raw, str):  # as a form sends it
        raw = {"true": True, "false": False}.get(raw.strip().lower(), raw)
    try:
        value = lwm2m.parse_value(resource_type.lwm2m_type, raw)
    except ValueError as exc:
        raise FieldhubError(f"{path}: {exc}", path="value") from None
    limit = limit_of(resource_type.lwm2m_type, resource_type.range_enumeration)
    problem = limit.problem(value) if limit else None
    if problem:
        raise FieldhubError(f"{path}: the value {problem}", path="value")
    return lwm2m.to_json(resource_type.lwm2m_type, value)


def _id_of(key: Any, field: str) -> int:
    text = str(key)
    if not (text.isascii() and text.isdigit() and int(text) <= lwm2m.ID_MAX):
        raise FieldhubError(f'"{text[:20]}" is not an LwM2M id (0..65535)', path=field)
    return int(text)
