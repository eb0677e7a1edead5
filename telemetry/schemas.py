"""Request and response shapes of the telemetry APIs."""

from __future__ import annotations

from typing import Any

from ninja import Schema
from pydantic import Field


class SinglePostIn(Schema):
    """One notification: a resource (or instance, or object) of object ``obj_id``."""

    ep: str = Field(description="the device's LwM2M endpoint name")
    obj_id: int = Field(ge=0, le=65535, description="LwM2M object id")
    val: dict[str, Any] = Field(description="a Leshan node (§1.5 of the Leshan contract)")
    path: str | None = Field(
        default=None, description="where the node sits, e.g. /3303/1/5700 (Fieldhub extension; default instance 0)"
    )


class CompositePostIn(Schema):
    """A composite read or notification: paths to nodes, or one object node."""

    ep: str = Field(description="the device's LwM2M endpoint name")
    val: dict[str, Any] = Field(description='{"/3303/0/5700": <node>, ...} or an object node')


class TimestampedPostIn(Schema):
    """An LwM2M 1.1 Send with timestamps: a list of {"<epoch ms>" or "null": {"nodes": {path: node}}}."""

    ep: str = Field(description="the device's LwM2M endpoint name")
    val: list[dict[str, Any]] = Field(description='[{"1764336000000": {"nodes": {"/3303/0/5700": <node>}}}, ...]')


class IngestOut(Schema):
    endpoint: str
    resources: int = Field(description="resource values stored")
    event_id: int | None = Field(description="the event linking them, when there are several")
