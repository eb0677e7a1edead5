"""Property tests of the LwM2M node parser and the bridge's payload shapes: any tree of valid nodes comes out
as exactly the readings it holds, and anything else raises NodeError (a 422 naming the path), never
another exception (a 500)."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.lwm2m.nodes import NodeError, Path, Reading, flatten
from core.lwm2m.types import ID_MAX, INT64_MAX, INT64_MIN, UINT64_MAX, DataType, ObjectLink
from telemetry.ingest import payloads

PROPERTIES = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

ids = st.integers(min_value=0, max_value=ID_MAX)
text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=20)


# --- valid nodes: (JSON value, the Python value it must parse to) for each type ---------------------------


def _float_json(value: float) -> st.SearchStrategy[Any]:
    return st.sampled_from([value, repr(value), f"{value:.17E}".replace("E+", "E")])


VALUES: dict[DataType, st.SearchStrategy[tuple[Any, Any]]] = {
    DataType.STRING: text.map(lambda s: (s, s)),
    DataType.CORELINK: text.map(lambda s: (s, s)),
    DataType.INTEGER: st.integers(INT64_MIN, INT64_MAX).flatmap(lambda i: st.sampled_from([(i, i), (str(i), i)])),
    DataType.UNSIGNED_INTEGER: st.integers(0, UINT64_MAX).flatmap(lambda i: st.sampled_from([(i, i), (str(i), i)])),
    DataType.TIME: st.integers(INT64_MIN, INT64_MAX).map(lambda i: (i, i)),
    DataType.FLOAT: st.floats(allow_nan=False, allow_infinity=False).flatmap(
        lambda f: _float_json(f).map(lambda raw: (raw, f))
    ),
    DataType.BOOLEAN: st.booleans().map(lambda b: (b, b)),
    DataType.OPAQUE: st.binary(max_size=16).map(lambda b: (b.hex(), b)),
    DataType.OBJLNK: st.tuples(ids, ids).flatmap(
        lambda p: st.sampled_from(
            [(f"{p[0]}:{p[1]}", ObjectLink(*p)), ({"objectId": p[0], "objectInstanceId": p[1]}, ObjectLink(*p))]
        )
    ),
    DataType.NONE: st.just((None, None)),
}
typed_values = st.sampled_from(sorted(VALUES)).flatmap(lambda t: VALUES[t].map(lambda v: (t, *v)))


@st.composite
def resource_nodes(draw: st.DrawFn, at: Path) -> tuple[dict[str, Any], list[tuple[str, DataType, Any]]]:
    """A single or multi-instance resource node at ``at`` (depth 3), and the readings it holds."""
    data_type = draw(st.sampled_from(sorted(VALUES)))
    type_name = draw(st.sampled_from([data_type.value, data_type.value.lower()]))
    if draw(st.booleans()):
        raw, value = draw(VALUES[data_type])
        node = {"kind": "singleResource", "id": at.resource_id, "type": type_name, "value": raw}
        return _maybe_without_kind(draw, node), [(str(at), data_type, value)]
    instances = draw(st.dictionaries(ids, VALUES[data_type], max_size=3))
    node = {"kind": "multiResource", "id": at.resource_id, "type": type_name}
    node["values"] = {str(i): raw for i, (raw, _) in instances.items()}
    return _maybe_without_kind(draw, node), [(str(at.child(i)), data_type, v) for i, (_, v) in instances.items()]


def _maybe_without_kind(draw: st.DrawFn, node: dict[str, Any]) -> dict[str, Any]:
    if draw(st.booleans()):
        return {k: v for k, v in node.items() if k != "kind"}  # Leshan lets the kind be inferred
    return node


@st.composite
def instance_nodes(draw: st.DrawFn, at: Path) -> tuple[dict[str, Any], list[tuple[str, DataType, Any]]]:
    resource_ids = draw(st.lists(ids, max_size=3, unique=True))
    resources, expected = [], []
    for resource_id in resource_ids:
        node, readings = draw(resource_nodes(at.child(resource_id)))
        resources.append(node)
        expected.extend(readings)
    return {"kind": "instance", "id": at.object_instance_id, "resources": resources}, expected


@st.composite
def object_nodes(draw: st.DrawFn, at: Path) -> tuple[dict[str, Any], list[tuple[str, DataType, Any]]]:
    instance_ids = draw(st.lists(ids, max_size=2, unique=True))
    instances, expected = [], []
    for instance_id in instance_ids:
        node, readings = draw(instance_nodes(at.child(instance_id)))
        instances.append(node)
        expected.extend(readings)
    return {"kind": "obj", "id": at.object_id, "instances": instances}, expected


@st.composite
def any_valid_node(draw: st.DrawFn) -> tuple[Path, dict[str, Any], list[tuple[str, DataType, Any]]]:
    object_id, instance_id, resource_id = draw(ids), draw(ids), draw(ids)
    depth = draw(st.sampled_from([1, 2, 3]))
    if depth == 1:
        at = Path(object_id)
        return (at, *draw(object_nodes(at)))
    if depth == 2:
        at = Path(object_id, instance_id)
        return (at, *draw(instance_nodes(at)))
    at = Path(object_id, instance_id, resource_id)
    return (at, *draw(resource_nodes(at)))


def _as_tuples(readings: list[Reading]) -> list[tuple[str, DataType, Any]]:
    return [(str(r.path), r.data_type, r.value) for r in readings]


def _same(actual: list[tuple[str, DataType, Any]], expected: list[tuple[str, DataType, Any]]) -> bool:
    def key(item: tuple[str, DataType, Any]) -> tuple[str, str, str]:
        path, data_type, value = item
        if isinstance(value, float):
            value = value.hex() if value != 0 else "0"  # -0.0 and 0.0 are the same reading
        return path, data_type.value, repr(value)

    return sorted(map(key, actual)) == sorted(map(key, expected))


@PROPERTIES
@given(any_valid_node())
def test_a_valid_node_flattens_into_exactly_its_readings(case: Any) -> None:
    at, node, expected = case
    assert _same(_as_tuples(flatten(node, at)), expected)


@PROPERTIES
@given(st.lists(any_valid_node(), max_size=4))
def test_a_valid_composite_post_holds_every_node_s_readings(cases: list[Any]) -> None:
    val = {str(at): node for at, node, _ in cases}
    expected = {str(at): readings for at, _, readings in cases}  # a path given twice: the last one counts
    readings = payloads.readings_from_composite(val) if not payloads._is_node(val) else None
    if readings is not None:
        assert _same(_as_tuples(readings), [r for rs in expected.values() for r in rs])


@PROPERTIES
@given(any_valid_node(), st.one_of(st.none(), st.integers(0, payloads.MAX_TIMESTAMP_MS)))
def test_a_timestamped_post_keeps_the_device_time(case: Any, timestamp_ms: int | None) -> None:
    at, node, expected = case
    key = "null" if timestamp_ms is None else str(timestamp_ms)
    readings = payloads.readings_from_timestamped([{key: {"nodes": {str(at): node}}}])
    assert _same(_as_tuples(readings), expected)
    assert {r.timestamp_ms for r in readings} <= {timestamp_ms}


@PROPERTIES
@given(typed_values, ids, ids)
def test_a_single_notification_of_a_resource_lands_at_instance_0_or_its_path(
    typed: Any, resource_id: int, instance_id: int
) -> None:
    data_type, raw, value = typed
    node = {"kind": "singleResource", "id": resource_id, "type": data_type.value, "value": raw}
    (reading,) = payloads.readings_from_single(3303, node)
    assert (str(reading.path), reading.data_type) == (f"/3303/0/{resource_id}", data_type)
    (reading,) = payloads.readings_from_single(3303, node, f"/3303/{instance_id}/{resource_id}")
    assert str(reading.path) == f"/3303/{instance_id}/{resource_id}"
    if isinstance(value, float) and math.isnan(value):  # never: NaN is refused
        raise AssertionError


# --- anything at all: readings or NodeError, nothing else ------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    text,
    st.sampled_from(["obj", "instance", "singleResource", "multiResource", "resourceInstance", "FLOAT", "5700", "3:0"]),
)
node_keys = st.sampled_from(["kind", "id", "type", "value", "values", "instances", "resources", "objectId", "0", "1"])
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.one_of(node_keys, text), children, max_size=5)
    ),
    max_leaves=25,
)
paths = st.one_of(
    text,
    st.lists(st.integers(-5, 70000).map(str), min_size=0, max_size=5).map(lambda p: "/" + "/".join(p)),
    st.sampled_from(["/", "//", "/3303//5700", "/3303/0/5700/", "3303/0/5700", "/٣٣٠٣", "/1e3", "/+1", "/0x10"]),
)


def _readings_or_node_error(parse: Any, *args: Any) -> None:
    try:
        readings = parse(*args)
    except NodeError as exc:
        problem = exc.problem
    else:
        assert all(isinstance(r, Reading) and 3 <= r.path.depth <= 4 for r in readings)
        return
    assert problem  # the error names what is wrong


@PROPERTIES
@given(paths)
def test_any_path_parses_or_raises_node_error(text: str) -> None:
    try:
        path = Path.parse(text)
    except NodeError:
        return
    assert Path.parse(str(path)) == path


@PROPERTIES
@given(json_values, paths)
def test_any_json_as_a_node_is_readings_or_node_error(node: Any, path: str) -> None:
    _readings_or_node_error(lambda: flatten(node, Path.parse(path)))


@PROPERTIES
@given(st.integers(0, ID_MAX), json_values, st.one_of(st.none(), paths))
def test_any_single_post_is_readings_or_node_error(object_id: int, node: Any, path: str | None) -> None:
    _readings_or_node_error(payloads.readings_from_single, object_id, node, path)


@PROPERTIES
@given(st.dictionaries(st.one_of(paths, node_keys), json_values, max_size=4))
def test_any_composite_post_is_readings_or_node_error(val: dict[str, Any]) -> None:
    _readings_or_node_error(payloads.readings_from_composite, val)


@PROPERTIES
@given(st.lists(st.dictionaries(st.one_of(text, st.integers(-5, 2**60).map(str)), json_values, max_size=3)))
def test_any_timestamped_post_is_readings_or_node_error(val: list[Any]) -> None:
    _readings_or_node_error(payloads.readings_from_timestamped, val)
