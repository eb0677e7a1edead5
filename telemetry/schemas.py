"""Request and response shapes of the telemetry APIs. The Out schemas read what they show from the objects
the handlers return (the models, the selectors' dataclasses, or the small views below): a field names its
attribute (``Field(alias="endpoint.name")``, a dotted path) or has a ``resolve_<field>``. What each reads
from is said in a comment above it (a docstring would show in the OpenAPI schema)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ninja import Schema
from pydantic import Field

from core.lwm2m import types as lwm2m
from core.models import Endpoint
from core.sites.schemas import SiteRefOut
from telemetry import selectors
from telemetry.models import EndpointOperation, Resource

# The error answers every query and every write of the telemetry APIs may give.


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


def api_value(row: Resource) -> ApiValue:
    """A stored reading's value as the APIs show it (``core.lwm2m.types.to_api``)."""
    return lwm2m.to_api(row.resource_type.lwm2m_type, row.value)


@dataclass(frozen=True)
class DeviceView:
    """A device with the latest values the API shows beside it (path → value), and for the detail its latest
    readings."""

    endpoint: Endpoint
    latest: Mapping[str, lwm2m.Value]
    resources: Sequence[selectors.LatestReading] = ()


@dataclass(frozen=True)
class ReadingsView:
    """One cursor page of a resource's readings, with the resource it belongs to."""

    ref: selectors.ResourceRef
    page: selectors.ReadingsPage


# Read from a ``DeviceView``.
class EndpointOut(Schema):
    name: str = Field(alias="endpoint.name")
    status: str = Field(alias="endpoint.status", description="online, sleeping or offline")
    registration_state: str = Field(alias="endpoint.registration_state")
    online: bool = Field(alias="endpoint.online")
    sleeping: bool = Field(alias="endpoint.sleeping")
    registered_at: dt.datetime | None = Field(alias="endpoint.registered_at")
    last_seen_at: dt.datetime | None = Field(alias="endpoint.last_seen_at")
    lifetime: int | None = Field(
        alias="endpoint.lifetime",
        description="registration lifetime, seconds; null: not known (DEFAULT_LIFETIME_SECONDS applies)",
    )
    binding: str = Field(alias="endpoint.binding")
    queue_mode: bool = Field(alias="endpoint.queue_mode", description="the device sleeps between wake-ups (queue mode)")
    firmware_version: str | None = Field(description="latest 3/0/3")
    battery: int | None = Field(description="latest 3/0/9, percent")
    site: SiteRefOut | None = Field(alias="endpoint.site", description="the device's site; null: in none")
    labels: list[str] = Field(description="the device's labels, by name")

    @staticmethod
    def resolve_labels(obj: DeviceView) -> list[str]:
        return [label.name for label in obj.endpoint.labels.all()]  # prefetched, by name

    @staticmethod
    def resolve_firmware_version(obj: DeviceView) -> lwm2m.Value:
        return obj.latest.get(selectors.FIRMWARE_VERSION_PATH)

    @staticmethod
    def resolve_battery(obj: DeviceView) -> int | None:
        battery = obj.latest.get(selectors.BATTERY_PATH)
        return battery if isinstance(battery, int) else None


# Read from a ``core.paging.OffsetPage``.
class EndpointPageOut(Schema):
    items: list[EndpointOut]
    count: int
    limit: int
    offset: int


# Read from a ``selectors.LatestReading``.
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

    @staticmethod
    def resolve_value(obj: selectors.LatestReading) -> ApiValue:
        return lwm2m.to_api(lwm2m.DataType(obj.data_type), obj.value)


# Read from a ``DeviceView`` with its resources.
class EndpointDetailOut(EndpointOut):
    created_at: dt.datetime = Field(alias="endpoint.created_at")
    lwm2m_version: str = Field(alias="endpoint.lwm2m_version")
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


# Read from ``selectors.Series``.
class SeriesOut(Schema):
    endpoint: str = Field(alias="ref.endpoint.name")
    path: str = Field(alias="ref.path")
    name: str = Field(alias="ref.resource_type.slug")
    units: str
    data_type: str
    since: dt.datetime
    until: dt.datetime
    kind: str = Field(description="points (every reading) or buckets (aggregated in the database)")
    points: list[PointOut] | None
    buckets: list[BucketOut] | None

    @staticmethod
    def resolve_units(obj: selectors.Series) -> str:
        return selectors.units_of(obj.ref)

    @staticmethod
    def resolve_data_type(obj: selectors.Series) -> str:
        return obj.ref.resource_type.lwm2m_type.value

    @staticmethod
    def resolve_kind(obj: selectors.Series) -> str:
        return "points" if obj.points is not None else "buckets"

    @staticmethod
    def resolve_points(obj: selectors.Series) -> list[selectors.Point] | None:
        if obj.points is None:
            return None
        data_type = obj.ref.resource_type.lwm2m_type
        return [selectors.Point(time=p.time, value=lwm2m.to_api(data_type, p.value)) for p in obj.points]


# Read from a ``Resource`` row.
class ReadingOut(Schema):
    id: int
    time: dt.datetime = Field(alias="measured_at", description="when the device measured")
    received_at: dt.datetime
    value: ApiValue

    @staticmethod
    def resolve_value(obj: Resource) -> ApiValue:
        return api_value(obj)


# Read from a ``ReadingsView``.
class ReadingsPageOut(Schema):
    endpoint: str = Field(alias="ref.endpoint.name")
    path: str = Field(alias="ref.path")
    items: list[ReadingOut] = Field(alias="page.items")
    next_cursor: str | None = Field(
        alias="page.next_cursor", description="pass as cursor for the next page; null at the end"
    )


# Read from a ``Resource`` row.
class EventResourceOut(Schema):
    path: str
    slug: str = Field(alias="resource_type.slug")
    value: ApiValue
    measured_at: dt.datetime

    @staticmethod
    def resolve_value(obj: Resource) -> ApiValue:
        return api_value(obj)


# Read from an ``Event`` with its endpoint and resources (``selectors.event_list``).
class EventOut(Schema):
    id: int
    endpoint: str = Field(alias="endpoint.name")
    event_type: str
    description: str
    measured_at: dt.datetime
    created_at: dt.datetime
    resources: list[EventResourceOut]


# Read from a ``core.paging.OffsetPage``.
class EventPageOut(Schema):
    items: list[EventOut]
    count: int
    limit: int
    offset: int


# Read from a ``Resource`` row.
class FlownexusDataOut(Schema):
    timestamp_created: dt.datetime = Field(alias="measured_at")
    value: ApiValue
    resource_type: str = Field(alias="resource_type.slug")

    @staticmethod
    def resolve_value(obj: Resource) -> ApiValue:
        return api_value(obj)


class OperationIn(Schema):
    kind: str = Field(description="write, execute, read, observe or observe_cancel")
    path: str = Field(description="LwM2M path: /3/0/14 (a resource), /3/0/7/1 (a resource instance), /1/0 ...")
    value: Any = Field(default=None, description="write: the value, as the API shows values (e.g. 21.5, true)")
    values: dict[str, Any] | None = Field(
        default=None, description="write: {resource id: value} for an instance, or {instance id: value}"
    )
    arguments: str = Field(default="", description="execute: arguments, e.g. 0='reason'")


# Read from an ``EndpointOperation``.
class OperationOut(Schema):
    id: int
    endpoint: str = Field(alias="endpoint.name")
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

    @staticmethod
    def resolve_created_by(obj: EndpointOperation) -> str | None:
        return obj.created_by.get_username() if obj.created_by else None


# Read from a ``core.paging.OffsetPage``.
class OperationPageOut(Schema):
    items: list[OperationOut]
    count: int
    limit: int
    offset: int
