"""The latest value of each resource a device reported (the LatestValue pointers), and the units they are in."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace

from core.lwm2m import types as lwm2m
from core.lwm2m.nodes import Path
from core.models import Endpoint, ResourceType
from core.permissions import Principal
from core.registry import resource_types
from telemetry.models import LatestValue
from telemetry.selectors.endpoints import require_endpoint_visible, visible_among


@dataclass(frozen=True)
class LatestReading:
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
    value: lwm2m.Value
    measured_at: dt.datetime
    received_at: dt.datetime


def latest_readings(*, user: Principal, endpoint: Endpoint, limit: int | None = None) -> list[LatestReading]:
    """The newest value of every resource (instance) the device reported (the first ``limit`` of them), in
    path order: one query."""
    require_endpoint_visible(user, endpoint)
    rows = LatestValue.objects.filter(endpoint=endpoint).select_related("resource", "resource__resource_type")
    if limit:
        # The first ``limit`` by path text: a range of the (endpoint, path) index whatever the planner's
        # statistics (an order on the joined ids with a LIMIT took PostgreSQL 37 s on fresh statistics,
        # docs/benchmarks.md "Large values"); all of a device's values when it has fewer.
        rows = rows.order_by("path")[:limit]
    readings = [_latest_reading(row) for row in rows]
    readings.sort(key=lambda r: (r.object_id, r.object_instance_id, r.resource_id, r.resource_instance_id or -1))
    return with_sensor_units(readings)


def latest_values_count(*, user: Principal, endpoint: Endpoint) -> int:
    require_endpoint_visible(user, endpoint)
    return LatestValue.objects.filter(endpoint=endpoint).count()


# IPSO sensors (3200-3399) leave the units of their measured values (Sensor Value 5700, min/max measured and
# range 5601-5604) to the device, which reports them as the instance's Sensor Units (5701, e.g. "Cel"); the
# OMA files give no units for them. ``sensor_units_apply`` is the rule, used by the pages and the API.
IPSO_OBJECTS = range(3200, 3400)


IPSO_UNITS_RESOURCE = 5701


IPSO_MEASURED = frozenset({5700, 5601, 5602, 5603, 5604})


def sensor_units_apply(resource_type: ResourceType) -> bool:
    """Whether a resource without units of its own takes its instance's reported Sensor Units."""
    return (
        not resource_type.units
        and resource_type.object_id in IPSO_OBJECTS
        and resource_type.resource_id in IPSO_MEASURED
    )


def with_sensor_units(readings: list[LatestReading]) -> list[LatestReading]:
    """``readings`` where each IPSO measured value without units has its instance's Sensor Units, if reported."""
    reported = {
        (r.object_id, r.object_instance_id): r.value.strip()
        for r in readings
        if r.resource_id == IPSO_UNITS_RESOURCE and isinstance(r.value, str) and r.value.strip()
    }
    if not reported:
        return readings
    return [
        replace(r, units=reported[(r.object_id, r.object_instance_id)])
        if not r.units
        and r.object_id in IPSO_OBJECTS
        and r.resource_id in IPSO_MEASURED
        and (r.object_id, r.object_instance_id) in reported
        else r
        for r in readings
    ]


def latest_values_by_endpoint(
    *, user: Principal, endpoints: Sequence[Endpoint], paths: Sequence[str]
) -> dict[int, dict[str, lwm2m.Value]]:
    """For a page of endpoints, the latest value of a few paths each (firmware version, battery): one query."""
    endpoints = visible_among(user, endpoints)
    rows = LatestValue.objects.filter(endpoint__in=[e.pk for e in endpoints], path__in=paths).select_related(
        "resource", "resource__resource_type"
    )
    result: dict[int, dict[str, lwm2m.Value]] = {endpoint.pk: {} for endpoint in endpoints}
    for row in rows:
        result[row.endpoint_id][row.path] = row.resource.value
    return result


def _latest_reading(row: LatestValue) -> LatestReading:
    resource = row.resource
    resource_type = resource.resource_type
    return LatestReading(
        path=row.path,
        object_id=resource_type.object_id,
        object_instance_id=resource.object_instance_id,
        resource_id=resource_type.resource_id,
        resource_instance_id=resource.resource_instance_id,
        object_name=resource_type.object_name,
        name=resource_type.name,
        slug=resource_type.slug,
        units=resource_type.units,
        data_type=resource_type.data_type,
        value=resource.value,
        measured_at=resource.measured_at,
        received_at=resource.received_at,
    )


# IPSO objects (3200-3399) give the unit of their values in the resource Sensor Units (5701), reported by the
# device, where the object definition has none: for the value, its min/max measured and its range.
def units_of_path(path: str) -> tuple[str, str | None]:
    """For a resource path of any device: (the registry's units, "" if none), and where a device reports
    them instead (its instance's Sensor Units path), if the IPSO rule applies; no query (the registry cache)."""
    parsed = Path.parse(path)
    resource_type = resource_types.get_path(parsed)
    if resource_type is None or not sensor_units_apply(resource_type):
        return (resource_type.units if resource_type else ""), None
    return "", f"/{parsed.object_id}/{parsed.object_instance_id}/{IPSO_UNITS_RESOURCE}"
