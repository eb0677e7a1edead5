"""Leshan node JSON flattened into readings, with errors that name the path."""

import pytest

from core.lwm2m.nodes import NodeError, Path, Reading, flatten, node_path
from core.lwm2m.types import DataType


def test_a_path_parses_and_prints() -> None:
    path = Path.parse("/3303/0/5700")
    assert path == Path(3303, 0, 5700)
    assert path.depth == 3
    assert str(path) == "/3303/0/5700"
    assert Path.parse("3/0/7/1/") == Path(3, 0, 7, 1)
    assert str(Path(3)) == "/3"


@pytest.mark.parametrize("text", ["", "/", "/a/0", "/3/0/5700/1/2", "/-1", "/70000", "/3//1", "/\uff13"])
def test_it_rejects_bad_paths(text: str) -> None:
    with pytest.raises(NodeError):
        Path.parse(text)


def test_it_flattens_an_object_with_multi_instance_resources() -> None:
    node = {
        "kind": "obj",
        "id": 3,
        "instances": [
            {
                "kind": "instance",
                "id": 0,
                "resources": [
                    {"kind": "singleResource", "id": 0, "type": "STRING", "value": "Acme"},
                    {"kind": "multiResource", "id": 6, "type": "INTEGER", "values": {"0": "1", "1": "5"}},
                ],
            }
        ],
    }
    assert flatten(node, Path(3)) == [
        Reading(Path(3, 0, 0), DataType.STRING, "Acme"),
        Reading(Path(3, 0, 6, 0), DataType.INTEGER, 1, multiple=True),
        Reading(Path(3, 0, 6, 1), DataType.INTEGER, 5, multiple=True),
    ]


def test_it_infers_the_kind_like_leshan_when_it_is_absent() -> None:
    node = {"id": 3303, "instances": [{"id": 1, "resources": [{"id": 5700, "type": "FLOAT", "value": "1.5"}]}]}
    assert flatten(node, Path(3303)) == [Reading(Path(3303, 1, 5700), DataType.FLOAT, 1.5)]


def test_an_instance_without_id_is_instance_zero() -> None:
    node = {"kind": "obj", "id": 3303, "instances": [{"resources": [{"id": 5700, "type": "FLOAT", "value": 2}]}]}
    assert flatten(node, Path(3303))[0].path == Path(3303, 0, 5700)


def test_a_resource_instance_sits_at_depth_four() -> None:
    node = {"kind": "resourceInstance", "id": 1, "type": "INTEGER", "value": "42"}
    assert flatten(node, Path(3, 0, 7, 1)) == [Reading(Path(3, 0, 7, 1), DataType.INTEGER, 42, multiple=True)]


@pytest.mark.parametrize(
    ("node", "at", "message"),
    [
        ({"kind": "blob", "id": 1}, Path(3, 0, 1), '/3/0/1: unknown node kind "blob"'),
        ({"id": 1}, Path(3, 0, 1), "/3/0/1: not a node"),
        ({"kind": "singleResource", "id": 1, "type": "INTEGER", "value": "1"}, Path(3), '/3: a "singleResource" node'),
        (
            {"kind": "singleResource", "id": 2, "type": "INTEGER", "value": "1"},
            Path(3, 0, 1),
            "node id 2 does not match",
        ),
        ({"kind": "singleResource", "type": "INTEGER", "value": "1"}, Path(3, 0, 1), "/3/0/1: node has no id"),
        ({"kind": "singleResource", "id": 1, "value": "1"}, Path(3, 0, 1), "/3/0/1: resource node has no type"),
        ({"kind": "singleResource", "id": 1, "type": "INTEGER"}, Path(3, 0, 1), "singleResource node has no value"),
        (
            {"kind": "singleResource", "id": 5700, "type": "INTEGER", "value": "abc"},
            Path(3303, 0, 5700),
            '/3303/0/5700: INTEGER value "abc" is not an integer',
        ),
        ({"kind": "obj", "id": 3, "instances": {}}, Path(3), "/3: instances must be a JSON list"),
        ({"kind": "obj", "id": 3, "instances": [5]}, Path(3), "each instance must be a JSON object"),
        ({"kind": "instance", "id": 0, "resources": [{"type": "STRING"}]}, Path(3, 0), "needs an integer id"),
        ({"kind": "multiResource", "id": 6, "type": "INTEGER", "values": []}, Path(3, 0, 6), "must be a JSON object"),
        (
            {"kind": "multiResource", "id": 6, "type": "INTEGER", "values": {"x": "1"}},
            Path(3, 0, 6),
            'resource instance id "x" is not an integer',
        ),
        (
            {"kind": "multiResource", "id": 6, "type": "INTEGER", "values": {"0": "z"}},
            Path(3, 0, 6),
            '/3/0/6/0: INTEGER value "z" is not an integer',
        ),
        ("text", Path(3), "/3: a node must be a JSON object, not a string"),
        ({"kind": "singleResource", "id": True, "type": "INTEGER", "value": "1"}, Path(3, 0, 1), "must be an integer"),
    ],
)
def test_it_names_the_problem_and_the_path(node: object, at: Path, message: str) -> None:
    with pytest.raises(NodeError) as info:
        flatten(node, at)
    assert message in str(info.value)


def test_a_bare_node_must_be_an_object_node() -> None:
    assert node_path({"kind": "obj", "id": 3, "instances": []}) == Path(3)
    with pytest.raises(NodeError, match="must be an object node"):
        node_path({"kind": "instance", "id": 0, "resources": []})
