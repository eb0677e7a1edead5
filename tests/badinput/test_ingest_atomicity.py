"""A post that is refused leaves the database as it was: property tests through the bridge endpoint.

Each generated post mixes valid readings (known resources, resources no registry knows, firmware state,
registration events) with one bad part somewhere among them: a value of the wrong type, a value that
conflicts with the registered type of its resource (also one first registered by the same post), a node
that does not match its path, an out-of-range id. Whatever the mix, the answer is a 4xx naming the problem
and no row of any table changed.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.telemetry.bridge_client import post

pytestmark = pytest.mark.django_db

ATOMICITY = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _node(resource_id: int, data_type: str, value: Any) -> dict[str, Any]:
    return {"kind": "singleResource", "id": resource_id, "type": data_type, "value": value}


GOOD: list[tuple[str, dict[str, Any]]] = [
    ("/3303/0/5700", _node(5700, "FLOAT", "21.5")),
    ("/3304/1/5700", _node(5700, "FLOAT", 48)),
    ("/3/0/9", _node(9, "INTEGER", "87")),
    ("/3/0/0", _node(0, "STRING", "<b>ACME</b> '; DROP TABLE core_endpoint;--")),
    ("/5/0/3", _node(3, "INTEGER", "1")),
    ("/10301/0/5", _node(5, "INTEGER", "7")),  # no registry knows it: registered by the post
    ("/10240/0/0", _node(0, "TIME", 1764336000000)),  # registered
    ("/3/0/7", {"kind": "multiResource", "id": 7, "type": "INTEGER", "values": {"0": "3800", "1": "5000"}}),
]
BAD: list[tuple[str, Any, str]] = [
    ("/3303/0/5700", _node(5700, "FLOAT", "NaN"), '/3303/0/5700: FLOAT value "NaN" is not a number'),
    ("/3303/0/5700", _node(5700, "FLOAT", "1e400"), "/3303/0/5700: FLOAT value 1e400 is not a finite 64-bit float"),
    ("/3303/0/5700", _node(5700, "STRING", "hot"), "/3303/0/5700: STRING value conflicts with the registered type"),
    ("/3/0/9", _node(9, "INTEGER", str(2**70)), "/3/0/9: INTEGER value 1180591620717411303424 is outside"),
    ("/10300/0/5", _node(5, "STRING", "seven"), "/10300/0/5: STRING value conflicts with the registered type"),
    ("/3/0/9", _node(8, "INTEGER", "1"), "/3/0/9: node id 8 does not match the path"),
    ("/3/0/9", {"kind": ["singleResource"], "id": 9}, "/3/0/9: unknown node kind \"['singleResource']\""),
    ("/3/0/9", {"kind": {"a": 1}, "id": 9, "type": "INTEGER", "value": 1}, "/3/0/9: unknown node kind \"{'a': 1}\""),
    ("/3/0/99999", _node(99999, "INTEGER", "1"), "/3/0/99999: LwM2M ids are 0..65535"),
    ("/3/0/7", {"id": 7, "type": "INTEGER", "values": {"x": "1"}}, '/3/0/7: resource instance id "x" is not'),
    ("/5/0/3", _node(3, "OPAQUE", "abc"), '/5/0/3: OPAQUE value "abc" is not an even-length hex string'),
]


def _counts() -> dict[str, int]:
    models = [m for app in ("core", "telemetry", "firmware") for m in apps.get_app_config(app).get_models()]
    return {m._meta.label: m.objects.count() for m in models}


@st.composite
def refused_posts(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    good = draw(st.lists(st.sampled_from(GOOD), max_size=5, unique_by=lambda item: item[0]))
    path, node, problem = draw(st.sampled_from(BAD))
    position = draw(st.integers(0, len(good)))
    # a repeated path would replace the good node: the bad one is placed under its own key
    entries = [item for item in good if item[0] != path]
    entries.insert(min(position, len(entries)), (path, node))
    if path == "/10300/0/5":  # the type the post itself registers first, then a value that conflicts with it
        entries = [item for item in entries if item[0] != "/10300/0/5" or item[1] is node]
        entries.insert(0, ("/10300/1/5", _node(5, "INTEGER", "7")))
    ep = draw(
        st.sampled_from(
            ["urn:imei:350000000000001", "sensor <img src=x onerror=alert(1)>", "'; DELETE FROM core_endpoint;--"]
        )
    )
    return {"ep": ep, "val": dict(entries)}, problem


@pytest.fixture
def existing_device(settings: Any) -> None:
    """A device already known, so that a refused post must not touch its state either."""
    body = {"ep": "'; DELETE FROM core_endpoint;--", "val": {"/3303/0/5700": _node(5700, "FLOAT", "20.0")}}
    assert post(Client(), "composite", body).status_code == 201


@ATOMICITY
@given(refused_posts())
def test_a_refused_composite_post_stores_nothing(existing_device: None, case: Any) -> None:
    body, problem = case
    before = _counts()
    response = post(Client(), "composite", body)
    assert response.status_code == 422, response.content
    assert response.json()["detail"].startswith(problem)
    assert _counts() == before


@ATOMICITY
@given(refused_posts(), st.sampled_from([None, "1764336000000"]))
def test_a_refused_timestamped_post_stores_nothing(existing_device: None, case: Any, timestamp: str | None) -> None:
    body, problem = case
    body = {"ep": body["ep"], "val": [{timestamp or "null": {"nodes": body["val"]}}]}
    before = _counts()
    response = post(Client(), "timestamped", body)
    assert response.status_code == 422, response.content
    assert response.json()["detail"].startswith(problem)
    assert _counts() == before
