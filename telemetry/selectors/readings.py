"""Every reading of one resource of one device (``ResourceRef``): cursor pages both ways, the CSV export's
stream, one resource type across the fleet, the recent values of a sparkline."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from django.db.models import F, QuerySet, Window
from django.db.models.functions import RowNumber

from core.errors import FieldhubError, NotFound
from core.lwm2m.nodes import NodeError, Path
from core.models import Endpoint, ResourceType
from core.paging import NewestFirst, check_limit, decode_key, encode_key, newest_first, time_range
from core.permissions import Principal
from core.registry import resource_types
from telemetry.models import LatestValue, Resource
from telemetry.selectors.endpoints import endpoint_get, require_endpoint_visible, visible_among, visible_endpoints
from telemetry.selectors.latest import IPSO_UNITS_RESOURCE, sensor_units_apply


@dataclass(frozen=True)
class ResourceRef:
    """One resource (instance) of one device, as the query API addresses it."""

    endpoint: Endpoint
    resource_type: ResourceType
    object_instance_id: int
    resource_instance_id: int | None

    @property
    def path(self) -> str:
        ids = [self.resource_type.object_id, self.object_instance_id, self.resource_type.resource_id]
        if self.resource_instance_id is not None:
            ids.append(self.resource_instance_id)
        return "/" + "/".join(str(i) for i in ids)

    def rows(self) -> QuerySet[Resource]:
        return Resource.objects.filter(
            endpoint=self.endpoint,
            resource_type=self.resource_type,
            object_instance_id=self.object_instance_id,
            resource_instance_id=self.resource_instance_id,
        )


def resource_ref(
    *, endpoint: Endpoint, path: str | None = None, name: str | None = None, instance: int = 0
) -> ResourceRef:
    """Address a resource by ``path`` (``/3303/0/5700``, ``/3/0/7/1``) or by machine ``name`` and instance."""
    if (path is None) == (name is None):
        raise FieldhubError("give either path or name", path="path")
    if path is not None:
        try:
            parsed = Path.parse(path)
        except NodeError as exc:
            raise FieldhubError(exc.problem, path="path") from None
        if parsed.object_instance_id is None or parsed.resource_id is None:
            raise FieldhubError("path must name a resource, e.g. /3303/0/5700", path="path")
        found = resource_types.get_many([(parsed.object_id, parsed.resource_id)])
        resource_type = found.get((parsed.object_id, parsed.resource_id))
        if resource_type is None:
            raise NotFound(f"no resource type /{parsed.object_id}/{parsed.resource_id}", path="path")
        return ResourceRef(endpoint, resource_type, parsed.object_instance_id, parsed.resource_instance_id)
    resource_type = ResourceType.objects.filter(slug=name).first()
    if resource_type is None:
        raise NotFound(f"no resource type named {name!r}", path="name")
    return ResourceRef(endpoint, resource_type, instance, None)


NUMERIC = frozenset({"INTEGER", "UNSIGNED_INTEGER", "FLOAT", "TIME", "BOOLEAN"})


@dataclass(frozen=True)
class ReadingsPage:
    items: list[Resource]
    next_cursor: str | None


def readings_page(
    *,
    user: Principal,
    ref: ResourceRef,
    since: dt.datetime | None,
    until: dt.datetime | None,
    cursor: str | None,
    limit: int,
) -> ReadingsPage:
    """Readings oldest first; ``next_cursor`` continues after the last one (stable under new inserts)."""
    require_endpoint_visible(user, ref.endpoint)
    check_limit(limit)
    rows = ref.rows().select_related("resource_type")
    rows = time_range(rows, since, until)
    if cursor:
        after_time, after_id = _decode_cursor(cursor)
        # measured_at >= t keeps the index range scan; the few rows at exactly t are then filtered by id.
        rows = rows.filter(measured_at__gte=after_time).exclude(measured_at=after_time, id__lte=after_id)
    items = list(rows.order_by("measured_at", "id")[: limit + 1])
    next_cursor = _encode_cursor(items[limit - 1]) if len(items) > limit else None
    return ReadingsPage(items=items[:limit], next_cursor=next_cursor)


def _encode_cursor(row: Resource) -> str:
    return encode_key(row.measured_at, row.pk)


def _decode_cursor(cursor: str) -> tuple[dt.datetime, int]:
    time, pk = decode_key(cursor, timed=True, path="cursor", problem="cursor is not one this API gave out")
    assert time is not None
    return time, pk


def readings_newest_first(
    *, user: Principal, ref: ResourceRef, before: str | None, after: str | None, limit: int
) -> NewestFirst:
    """A resource's readings newest first, by cursor (the device page's readings table)."""
    require_endpoint_visible(user, ref.endpoint)
    check_limit(limit)
    return newest_first(
        ref.rows().select_related("resource_type"), time_field="measured_at", before=before, after=after, limit=limit
    )


def export_rows(
    *,
    user: Principal,
    endpoint: Endpoint,
    since: dt.datetime | None,
    until: dt.datetime | None,
    ref: ResourceRef | None,
) -> Iterator[Resource]:
    """Every reading of a device (or of one resource) in a time range: by resource, then by time, which is
    the order of the series index, so the database streams them (a server-side cursor on PostgreSQL)
    without sorting, and memory stays flat however many there are."""
    require_endpoint_visible(user, endpoint)
    rows = ref.rows() if ref is not None else Resource.objects.filter(endpoint=endpoint)
    rows = time_range(rows.select_related("resource_type"), since, until)
    order = ("resource_type_id", "object_instance_id", "resource_instance_id", "measured_at", "id")
    return rows.order_by(*order).iterator(chunk_size=EXPORT_CHUNK)


EXPORT_CHUNK = 2000


def resource_type_readings(*, user: Principal, slug: str, endpoint_name: str | None) -> QuerySet[Resource]:
    """Readings of one resource type across the visible fleet (or one endpoint), newest first."""
    resource_type = ResourceType.objects.filter(slug=slug).first()
    if resource_type is None:
        raise NotFound(f"no resource type named {slug!r}", path="resource_name")
    rows = Resource.objects.filter(resource_type=resource_type, endpoint__in=visible_endpoints(user))
    if endpoint_name is not None:
        rows = rows.filter(endpoint=endpoint_get(user=user, name=endpoint_name))
    return rows.select_related("resource_type").order_by("-measured_at", "-id")


def recent_values(
    *, user: Principal, endpoints: Sequence[Endpoint], path: str, since: dt.datetime, per_endpoint: int
) -> dict[int, list[tuple[dt.datetime, float]]]:
    """The last ``per_endpoint`` numeric readings of ``path`` since ``since``, per device, oldest first: one
    query (a window over the series index's range of each device)."""
    endpoints = visible_among(user, endpoints)
    try:
        parsed = Path.parse(path)
    except NodeError:
        return {}
    resource_type = resource_types.get_path(parsed)
    if resource_type is None or parsed.object_instance_id is None:
        return {}
    if resource_type.data_type not in NUMERIC or not endpoints:
        return {}
    rows = (
        Resource.objects.filter(
            endpoint__in=[e.pk for e in endpoints],
            resource_type=resource_type,
            object_instance_id=parsed.object_instance_id,
            resource_instance_id=parsed.resource_instance_id,
            measured_at__gte=since,
        )
        .annotate(place=Window(RowNumber(), partition_by=F("endpoint_id"), order_by=F("measured_at").desc()))
        .filter(place__lte=per_endpoint)
        .select_related("resource_type")
        .order_by("endpoint_id", "measured_at")
    )
    result: dict[int, list[tuple[dt.datetime, float]]] = {}
    for row in rows:
        value = row.value
        if isinstance(value, int | float) and not isinstance(value, bool):
            result.setdefault(row.endpoint_id, []).append((row.measured_at, float(value)))
    return result


def units_of(ref: ResourceRef) -> str:
    """The unit of a resource's values: the object definition's, else (IPSO sensors) what the device
    reported as its Sensor Units in the same instance; "" when neither is known (one query at most)."""
    resource_type = ref.resource_type
    if not sensor_units_apply(resource_type):
        return resource_type.units
    path = f"/{resource_type.object_id}/{ref.object_instance_id}/{IPSO_UNITS_RESOURCE}"
    row = LatestValue.objects.filter(endpoint=ref.endpoint, path=path).select_related("resource").first()
    value = row.resource.value_str if row is not None else None
    return value.strip() if isinstance(value, str) else ""
