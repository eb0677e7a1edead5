"""Bridge payloads of simulated devices, in the exact shapes the flownexus Leshan bridge posts.

Shared by the device simulator, the benchmarks and the tests, so that every load Fieldhub is measured
with is a load Leshan could have produced.
"""

from __future__ import annotations

from typing import Any

from core.lwm2m.ddf import REGISTRATION_OBJECT_ID

Node = dict[str, Any]


def resource(resource_id: int, data_type: str, value: Any) -> Node:
    return {"kind": "singleResource", "id": resource_id, "type": data_type, "value": value}


def single(ep: str, object_id: int, node: Node) -> dict[str, Any]:
    """``/leshan_api/resource/single``: one notification."""
    return {"ep": ep, "obj_id": object_id, "val": node}


def composite(ep: str, nodes: dict[str, Node]) -> dict[str, Any]:
    """``/leshan_api/resource/composite``: a composite notification, paths to nodes."""
    return {"ep": ep, "val": nodes}


def registration(ep: str, event: int, registration_ms: int) -> dict[str, Any]:
    """Object 10240: 0 registered, 1 unregistered, 2 registration updated (value: registration time)."""
    return single(ep, REGISTRATION_OBJECT_ID, resource(event, "TIME", registration_ms))


def temperature(ep: str, celsius: float) -> dict[str, Any]:
    return single(ep, 3303, resource(5700, "FLOAT", repr(float(celsius))))


def device_object(
    ep: str,
    *,
    firmware_version: str = "1.0.0",
    battery: int = 87,
    now_ms: int = 1764336000000,
    serial: str = "SN-000001",
) -> dict[str, Any]:
    """``/leshan_api/resource/composite`` with the whole Device object (3): 19 resource values."""
    resources = [
        resource(0, "STRING", "Fieldhub Simulated Devices"),
        resource(1, "STRING", "FH-SIM-1"),
        resource(2, "STRING", serial),
        resource(3, "STRING", firmware_version),
        {"kind": "multiResource", "id": 6, "type": "INTEGER", "values": {"0": "1", "1": "5"}},
        {"kind": "multiResource", "id": 7, "type": "INTEGER", "values": {"0": "3800", "1": "5000"}},
        {"kind": "multiResource", "id": 8, "type": "INTEGER", "values": {"0": "125", "1": "900"}},
        resource(9, "INTEGER", str(battery)),
        resource(10, "INTEGER", "15"),
        {"kind": "multiResource", "id": 11, "type": "INTEGER", "values": {"0": "0"}},
        resource(13, "TIME", now_ms),
        resource(14, "STRING", "+01:00"),
        resource(15, "STRING", "Europe/Berlin"),
        resource(16, "STRING", "UQ"),
        resource(17, "STRING", "sensor"),
        resource(18, "STRING", "1.0"),
    ]
    instance = {"kind": "instance", "id": 0, "resources": resources}
    return {"ep": ep, "val": {"/3": {"kind": "obj", "id": 3, "instances": [instance]}}}


def environment(ep: str, *, celsius: float, humidity: float, kilopascal: float) -> dict[str, Any]:
    """A composite notification of the three environment sensors."""
    return {
        "ep": ep,
        "val": {
            "/3303/0/5700": resource(5700, "FLOAT", repr(float(celsius))),
            "/3304/0/5700": resource(5700, "FLOAT", repr(float(humidity))),
            "/3323/0/5700": resource(5700, "FLOAT", repr(float(kilopascal))),
        },
    }


def timestamped_temperatures(ep: str, *, start_ms: int, count: int, step_ms: int = 60_000) -> dict[str, Any]:
    """``/leshan_api/resource/timestamped``: ``count`` readings of 3303/0/5700, one per ``step_ms``."""
    return {
        "ep": ep,
        "val": [
            {
                str(start_ms + i * step_ms): {
                    "nodes": {"/3303/0/5700": resource(5700, "FLOAT", repr(20.0 + (i % 100) / 10))}
                }
            }
            for i in range(count)
        ],
    }
