"""Posting to the bridge API in tests, and reading back what was stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.test import Client

from telemetry.models import Resource

PAYLOADS = Path(__file__).resolve().parent / "payloads"


def reference_payload(name: str) -> dict[str, Any]:
    """A payload from ../shared/reference/leshan-payloads/ (copied into tests/telemetry/payloads/)."""
    return json.loads((PAYLOADS / name).read_text())


def post(client: Client, shape: str, body: Any, **extra: Any) -> Any:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    content_type = extra.pop("content_type", "application/json")
    # CONTENT_TYPE also for an empty body, which Django's test client would otherwise send without one.
    return client.post(
        f"/leshan_api/resource/{shape}", data, content_type=content_type, CONTENT_TYPE=content_type, **extra
    )


def stored() -> dict[str, Any]:
    """Every stored value by path (the last one when a path repeats)."""
    rows = Resource.objects.select_related("resource_type").order_by("id")
    return {row.path: row.value for row in rows}


def single(ep: str, path: str, data_type: str, value: Any) -> dict[str, Any]:
    object_id, _instance_id, resource_id = (int(p) for p in path.strip("/").split("/"))
    node = {"kind": "singleResource", "id": resource_id, "type": data_type, "value": value}
    return {"ep": ep, "obj_id": object_id, "val": node, "path": path}
