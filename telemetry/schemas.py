"""Request and response shapes of the telemetry APIs."""

from __future__ import annotations

import datetime as dt
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


# --- the query API --------------------------------------------------------------------------------------

ApiValue = str | int | float | bool | None


class EndpointOut(Schema):
    name: str
    status: str = Field(description="online, sleeping or offline")
    registration_state: str
    online: bool
    sleeping: bool
    registered_at: dt.datetime | None
    last_seen_at: dt.datetime | None
    lifetime: int | None = Field(
        description="registration lifetime, seconds; null: not known (DEFAULT_LIFETIME_SECONDS applies)"
    )
    binding: str
    queue_mode: bool = Field(description="the device sleeps between wake-ups (queue mode)")
    firmware_version: str | None = Field(description="latest 3/0/3")
    battery: int | None = Field(description="latest 3/0/9, percent")


class EndpointPageOut(Schema):
    items: list[EndpointOut]
    count: int
    limit: int
    offset: int


class ResourceValueOut(Schema):
    path: str
    object_id: int
    object_instance_id: int
    resource_id: int
    resource_instance_id: int | None
    object_name: str
    name: str
    slug: str
    units: str
    data_type: str
    value: ApiValue
    measured_at: dt.datetime
    received_at: dt.datetime


class EndpointDetailOut(EndpointOut):
    created_at: dt.datetime
    lwm2m_version: str
    resources: list[ResourceValueOut]


class PointOut(Schema):
    time: dt.datetime
    value: ApiValue


class BucketOut(Schema):
    start: dt.datetime
    end: dt.datetime
    min: float
    max: float
    mean: float
    count: int
    first_at: dt.datetime
    last_at: dt.datetime


class SeriesOut(Schema):
    endpoint: str
    path: str
    name: str
    units: str
    data_type: str
    since: dt.datetime
    until: dt.datetime
    kind: str = Field(description="points (every reading) or buckets (aggregated in the database)")
    points: list[PointOut] | None
    buckets: list[BucketOut] | None


class ReadingOut(Schema):
    id: int
    time: dt.datetime = Field(description="when the device measured")
    received_at: dt.datetime
    value: ApiValue


class ReadingsPageOut(Schema):
    endpoint: str
    path: str
    items: list[ReadingOut]
    next_cursor: str | None = Field(description="pass as cursor for the next page; null at the end")


class EventResourceOut(Schema):
    path: str
    slug: str
    value: ApiValue
    measured_at: dt.datetime


class EventOut(Schema):
    id: int
    endpoint: str
    event_type: str
    description: str
    measured_at: dt.datetime
    created_at: dt.datetime
    resources: list[EventResourceOut]


class EventPageOut(Schema):
    items: list[EventOut]
    count: int
    limit: int
    offset: int


class FlownexusDataOut(Schema):
    timestamp_created: dt.datetime
    value: ApiValue
    resource_type: str


class OperationIn(Schema):
    kind: str = Field(description="write, execute, read, observe or observe_cancel")
    path: str = Field(description="LwM2M path: /3/0/14 (a resource), /3/0/7/1 (a resource instance), /1/0 ...")
    value: Any = Field(default=None, description="write: the value, as the API shows values (e.g. 21.5, true)")
    values: dict[str, Any] | None = Field(
        default=None, description="write: {resource id: value} for an instance, or {instance id: value}"
    )
    arguments: str = Field(default="", description="execute: arguments, e.g. 0='reason'")


class OperationOut(Schema):
    id: int
    endpoint: str
    kind: str
    path: str
    payload: dict[str, Any] | None
    status: str = Field(description="QUEUED, SENDING, CONFIRMED, FAILED or CANCELLED")
    attempts: int
    last_attempt_at: dt.datetime | None
    next_attempt_at: dt.datetime | None
    last_error: str
    result: dict[str, Any] | None = Field(description="what Leshan answered, classified")
    created_by: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    completed_at: dt.datetime | None


class OperationPageOut(Schema):
    items: list[OperationOut]
    count: int
    limit: int
    offset: int
