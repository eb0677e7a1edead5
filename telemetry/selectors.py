"""Reads of telemetry. Every function takes the requesting user: who may see what is decided here, once.

Today every viewer sees the whole fleet (``visible_endpoints``); a later visibility rule (sites) changes
that one function.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.db import connection, transaction
from django.db.models import Case, Count, F, OuterRef, Prefetch, Q, QuerySet, Subquery, Value, When, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from core.errors import FieldhubError, NotFound
from core.lwm2m import types as lwm2m
from core.lwm2m.nodes import NodeError, Path
from core.models import Endpoint, ResourceType
from core.permissions import require
from core.registry import resource_types
from core.roles import Role
from telemetry import hooks
from telemetry.models import EndpointOperation, Event, EventResource, LatestValue, Resource

MAX_PAGE = 1000
MAX_BUCKETS = 5000
# Device 3/0/3 Firmware Version and 3/0/9 Battery Level: shown with every endpoint in lists.
FIRMWARE_VERSION_PATH = "/3/0/3"
BATTERY_PATH = "/3/0/9"


def visible_endpoints(user: Any) -> QuerySet[Endpoint]:
    """The endpoints ``user`` may see (403 without the viewer role)."""
    require(user, Role.VIEWER)
    return Endpoint.objects.all()


# --- endpoints ------------------------------------------------------------------------------------------

STATUS_FILTERS = {
    "online": Q(online=True, sleeping=False),
    "sleeping": Q(online=True, sleeping=True),
    "offline": Q(online=False),
}
# The sort keys of device lists (a leading "-" for descending), each ordered in the database; ties by name.
SORT_KEYS = ("name", "state", "last_seen", "firmware", "battery")
SORTS = tuple(f"{sign}{key}" for key in SORT_KEYS for sign in ("", "-"))
DEFAULT_SORT = "-last_seen"


def _latest_value_column(path: str, column: str) -> Subquery:
    """The device's latest value of ``path`` as one column of its reading (a correlated subquery on the
    latest-value pointers: one index lookup per device, however long its history). Matching the reading's
    time as well lets PostgreSQL look in one partition of the readings only."""
    latest = LatestValue.objects.filter(endpoint=OuterRef("pk"), path=path, resource__measured_at=F("measured_at"))
    return Subquery(latest.values(f"resource__{column}")[:1])


def _sort_expression(key: str) -> Any:
    if key == "name":
        return F("name")
    if key == "last_seen":
        return F("last_seen_at")
    if key == "state":  # online, sleeping, offline
        return Case(When(online=False, then=Value(2)), When(sleeping=True, then=Value(1)), default=Value(0))
    if key == "firmware":  # 3/0/3 is a STRING: sorted as text ("1.10.0" before "1.9.0")
        return _latest_value_column(FIRMWARE_VERSION_PATH, "value_str")
    return _latest_value_column(BATTERY_PATH, "value_int")  # 3/0/9 is an INTEGER


def endpoint_list(
    *, user: Any, status: str | None = None, name: str | None = None, sort: str = DEFAULT_SORT
) -> QuerySet[Endpoint]:
    """Devices, filtered by state and part of the name, sorted by ``sort`` (``SORTS``), ties by name.
    Devices that never reported the sorted value come first for last seen ascending (never seen is
    oldest) and otherwise last."""
    endpoints = visible_endpoints(user)
    if status is not None:
        if status not in STATUS_FILTERS:
            raise FieldhubError(f"status must be one of {', '.join(STATUS_FILTERS)}", path="status")
        endpoints = endpoints.filter(STATUS_FILTERS[status])
    if name:
        endpoints = endpoints.filter(name__icontains=name)
    if sort not in SORTS:
        raise FieldhubError(f"sort must be one of {', '.join(SORTS)}", path="sort")
    key = sort.lstrip("-")
    expression = _sort_expression(key)
    if sort.startswith("-"):
        ordering = expression.desc(nulls_last=True)
    else:
        ordering = expression.asc(nulls_first=True) if key == "last_seen" else expression.asc(nulls_last=True)
    return endpoints.order_by(ordering, "name")


@dataclass(frozen=True)
class EndpointPage:
    """One page of a device list: ``items`` are devices ``start`` to ``end`` (from 1) of ``total``."""

    items: list[Endpoint]
    number: int
    pages: int
    total: int
    start: int
    end: int


def endpoint_page(
    *,
    user: Any,
    status: str | None = None,
    name: str | None = None,
    sort: str = DEFAULT_SORT,
    page: int = 1,
    per_page: int = 50,
) -> EndpointPage:
    """Page ``page`` (from 1) of ``endpoint_list``: two queries (the count, the page). A page past the end
    is the last page: a list that shrank since its link was made still shows something."""
    if page < 1:
        raise FieldhubError("page must be a whole number, 1 or more", path="page")
    endpoints = endpoint_list(user=user, status=status, name=name, sort=sort)
    total = endpoints.count()
    pages = max(1, -(-total // per_page))
    number = min(page, pages)
    offset = (number - 1) * per_page
    items = list(endpoints[offset : offset + per_page])
    return EndpointPage(
        items=items, number=number, pages=pages, total=total, start=offset + 1 if items else 0, end=offset + len(items)
    )


@dataclass(frozen=True)
class FleetCounts:
    online: int
    sleeping: int
    offline: int
    total: int
    extra: dict[str, int]


def fleet_counts(*, user: Any) -> FleetCounts:
    require(user, Role.VIEWER)
    return fleet_counts_of()


def fleet_counts_of() -> FleetCounts:
    """Devices by state in one query, plus what other apps count (firmware: updating; telemetry.hooks)."""
    counts = Endpoint.objects.aggregate(
        n_online=Count("pk", filter=STATUS_FILTERS["online"]),
        n_sleeping=Count("pk", filter=STATUS_FILTERS["sleeping"]),
        n_offline=Count("pk", filter=STATUS_FILTERS["offline"]),
        n_total=Count("pk"),
    )
    return FleetCounts(
        online=counts["n_online"],
        sleeping=counts["n_sleeping"],
        offline=counts["n_offline"],
        total=counts["n_total"],
        extra={name: count() for name, count in hooks.fleet_counters().items()},
    )


def endpoint_get(*, user: Any, name: str) -> Endpoint:
    try:
        return visible_endpoints(user).get(name=name)
    except Endpoint.DoesNotExist:
        raise NotFound(f"no endpoint named {name!r}", path="endpoint") from None


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


def latest_readings(*, user: Any, endpoint: Endpoint, limit: int | None = None) -> list[LatestReading]:
    """The newest value of every resource (instance) the device reported (the first ``limit`` of them), in
    path order: one query."""
    require(user, Role.VIEWER)
    return latest_readings_of(endpoint, limit=limit)


def latest_readings_of(endpoint: Endpoint, *, limit: int | None = None) -> list[LatestReading]:
    """``latest_readings`` without a user: for fragments pushed to a device's group, whose members were
    checked when they joined (realtime.consumers)."""
    rows = LatestValue.objects.filter(endpoint=endpoint).select_related("resource", "resource__resource_type")
    if limit:
        # The first ``limit`` by path text: a range of the (endpoint, path) index whatever the planner's
        # statistics (an order on the joined ids with a LIMIT took PostgreSQL 37 s on fresh statistics,
        # docs/benchmarks.md "Large values"); all of a device's values when it has fewer.
        rows = rows.order_by("path")[:limit]
    readings = [_latest_reading(row) for row in rows]
    readings.sort(key=lambda r: (r.object_id, r.object_instance_id, r.resource_id, r.resource_instance_id or -1))
    return with_sensor_units(readings)


def latest_values_count(endpoint: Endpoint) -> int:
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
    *, user: Any, endpoints: Sequence[Endpoint], paths: Sequence[str]
) -> dict[int, dict[str, lwm2m.Value]]:
    """For a page of endpoints, the latest value of a few paths each (firmware version, battery): one query."""
    require(user, Role.VIEWER)
    return latest_values_of(endpoints, paths)


def latest_values_of(endpoints: Sequence[Endpoint], paths: Sequence[str]) -> dict[int, dict[str, lwm2m.Value]]:
    """``latest_values_by_endpoint`` without a user (pushed fragments; see ``latest_readings_of``)."""
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


# --- one resource of one device: which rows ------------------------------------------------------------


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
        if parsed.resource_id is None:
            raise FieldhubError("path must name a resource, e.g. /3303/0/5700", path="path")
        found = resource_types.get_many([(parsed.object_id, parsed.resource_id)])
        resource_type = found.get((parsed.object_id, parsed.resource_id))
        if resource_type is None:
            raise NotFound(f"no resource type /{parsed.object_id}/{parsed.resource_id}", path="path")
        return ResourceRef(endpoint, resource_type, parsed.object_instance_id, parsed.resource_instance_id)  # type: ignore[arg-type]
    resource_type = ResourceType.objects.filter(slug=name).first()
    if resource_type is None:
        raise NotFound(f"no resource type named {name!r}", path="name")
    return ResourceRef(endpoint, resource_type, instance, None)


# --- time series ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    time: dt.datetime
    value: lwm2m.Value


@dataclass(frozen=True)
class Bucket:
    start: dt.datetime
    end: dt.datetime
    min: float
    max: float
    mean: float
    count: int
    first_at: dt.datetime
    last_at: dt.datetime


@dataclass(frozen=True)
class Series:
    ref: ResourceRef
    since: dt.datetime
    until: dt.datetime
    points: list[Point] | None
    buckets: list[Bucket] | None


NUMERIC = frozenset({"INTEGER", "UNSIGNED_INTEGER", "FLOAT", "TIME", "BOOLEAN"})
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def series(
    *, user: Any, ref: ResourceRef, since: dt.datetime | None, until: dt.datetime | None, buckets: int
) -> Series:
    """Raw points when the range holds at most ``buckets`` of them, else ``buckets`` equal time buckets
    (min, max, mean, count, first and last time) computed in the database, never in Python."""
    require(user, Role.VIEWER)
    if not 1 <= buckets <= MAX_BUCKETS:
        raise FieldhubError(f"buckets must be between 1 and {MAX_BUCKETS}", path="buckets")
    rows = ref.rows()
    until = until or timezone.now()
    if since is None:
        first = rows.order_by("measured_at").values_list("measured_at", flat=True).first()
        since = first or until - dt.timedelta(days=1)
    if since >= until:
        raise FieldhubError("since must be before until", path="since")
    in_range = rows.filter(measured_at__gte=since, measured_at__lt=until)
    head = list(in_range.order_by("measured_at", "id")[: buckets + 1])
    if len(head) <= buckets:
        for row in head:
            row.resource_type = ref.resource_type
        return Series(ref, since, until, [Point(row.measured_at, row.value) for row in head], None)
    if ref.resource_type.data_type not in NUMERIC:
        raise FieldhubError(
            f"{ref.resource_type.data_type} values cannot be bucketed; page through them with /readings",
            path="buckets",
        )
    return Series(ref, since, until, None, _buckets(ref, since, until, buckets))


def _value_sql(data_type: str) -> str:
    """SQL for a resource row's value as a double precision number (the one place it is written)."""
    if data_type == "FLOAT":
        return "value_float"
    if data_type == "UNSIGNED_INTEGER":  # two's complement in value_int, see core.lwm2m.types.to_columns
        return "(CASE WHEN value_int < 0 THEN value_int + 18446744073709551616.0 ELSE value_int * 1.0 END)"
    if data_type == "BOOLEAN":
        return "(CASE WHEN value_bool THEN 1.0 ELSE 0.0 END)"
    return "(value_int * 1.0)"


def _epoch_ms_sql() -> str:
    if connection.vendor == "postgresql":  # date_part is double precision; extract() is numeric, 3x slower
        return "(date_part('epoch', measured_at) * 1000)"
    return "((julianday(measured_at) - 2440587.5) * 86400000.0)"


def _buckets(ref: ResourceRef, since: dt.datetime, until: dt.datetime, count: int) -> list[Bucket]:
    since_ms = (since - _EPOCH) / dt.timedelta(milliseconds=1)
    width_ms = (until - since) / dt.timedelta(milliseconds=1) / count
    sql = f"""
        SELECT CAST(floor((t.ms - %s) / %s) AS integer) AS b, min(t.v), max(t.v), avg(t.v), count(*),
               min(t.measured_at), max(t.measured_at)
        FROM ({_bucket_inner_sql(ref)}) t
        GROUP BY b ORDER BY b
    """
    params = [since_ms, width_ms, *_bucket_inner_params(ref, since, until)]
    if connection.vendor == "postgresql":
        # Room to group a million rows in memory instead of sorting them through temporary files. (Not on
        # SQLite: a transaction there takes the write lock, BEGIN IMMEDIATE.)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = '64MB'")
            cursor.execute(sql, params)
            rows = cursor.fetchall()
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
    to_datetime = _datetime_converter()
    result = []
    for b, low, high, mean, n, first_at, last_at in rows:
        index = min(int(b), count - 1)  # a value exactly at ``until`` - width rounding - joins the last bucket
        start = since + dt.timedelta(milliseconds=index * width_ms)
        result.append(
            Bucket(
                start=start,
                end=start + dt.timedelta(milliseconds=width_ms),
                min=float(low),
                max=float(high),
                mean=float(mean),
                count=int(n),
                first_at=to_datetime(first_at),
                last_at=to_datetime(last_at),
            )
        )
    return result


def _datetime_converter() -> Any:
    """Raw SQL returns SQLite datetimes as text; PostgreSQL's are datetimes already."""
    if connection.vendor != "sqlite":
        return lambda value: value
    convert = connection.ops.convert_datetimefield_value
    return lambda value: convert(value, None, connection)


def _bucket_inner_sql(ref: ResourceRef) -> str:
    q = connection.ops.quote_name
    instance = "resource_instance_id IS NULL" if ref.resource_instance_id is None else "resource_instance_id = %s"
    return (
        f"SELECT {_epoch_ms_sql()} AS ms, {_value_sql(ref.resource_type.data_type)} AS v, measured_at "
        f"FROM {q(Resource._meta.db_table)} "
        f"WHERE endpoint_id = %s AND resource_type_id = %s AND object_instance_id = %s AND {instance} "
        f"AND measured_at >= %s AND measured_at < %s"
    )


def _bucket_inner_params(ref: ResourceRef, since: dt.datetime, until: dt.datetime) -> list[Any]:
    adapt = connection.ops.adapt_datetimefield_value
    params: list[Any] = [ref.endpoint.pk, ref.resource_type.pk, ref.object_instance_id]
    if ref.resource_instance_id is not None:
        params.append(ref.resource_instance_id)
    return [*params, adapt(since), adapt(until)]


# --- raw readings, cursor-paginated ---------------------------------------------------------------------


@dataclass(frozen=True)
class ReadingsPage:
    items: list[Resource]
    next_cursor: str | None


def readings_page(
    *,
    user: Any,
    ref: ResourceRef,
    since: dt.datetime | None,
    until: dt.datetime | None,
    cursor: str | None,
    limit: int,
) -> ReadingsPage:
    """Readings oldest first; ``next_cursor`` continues after the last one (stable under new inserts)."""
    require(user, Role.VIEWER)
    _check_limit(limit)
    rows = ref.rows().select_related("resource_type")
    rows = _time_range(rows, since, until)
    if cursor:
        after_time, after_id = _decode_cursor(cursor)
        # measured_at >= t keeps the index range scan; the few rows at exactly t are then filtered by id.
        rows = rows.filter(measured_at__gte=after_time).exclude(measured_at=after_time, id__lte=after_id)
    items = list(rows.order_by("measured_at", "id")[: limit + 1])
    next_cursor = _encode_cursor(items[limit - 1]) if len(items) > limit else None
    return ReadingsPage(items=items[:limit], next_cursor=next_cursor)


def _encode_cursor(row: Resource) -> str:
    return _encode_key(row.measured_at, row.pk)


def _decode_cursor(cursor: str) -> tuple[dt.datetime, int]:
    time, pk = _decode_key(cursor, timed=True, path="cursor", problem="cursor is not one this API gave out")
    assert time is not None
    return time, pk


def _encode_key(time: dt.datetime | None, pk: int) -> str:
    """An opaque cursor for a row: its time (to the microsecond, if the order has one) and its id."""
    raw = str(pk) if time is None else f"{(time - _EPOCH) // dt.timedelta(microseconds=1)}:{pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_key(cursor: str, *, timed: bool, path: str, problem: str) -> tuple[dt.datetime | None, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        parts = [int(part) for part in raw.split(":")]
        if len(parts) != (2 if timed else 1) or parts[-1] < 0:
            raise ValueError(raw)
        time = _EPOCH + dt.timedelta(microseconds=parts[0]) if timed else None
        return time, parts[-1]
    except (ValueError, binascii.Error, OverflowError, UnicodeDecodeError):
        raise FieldhubError(problem, path=path) from None


# --- newest first, by cursor: what the pages page through ------------------------------------------------

PAGE_CURSOR_PROBLEM = "this link's cursor is not one Fieldhub gave out"


@dataclass(frozen=True)
class NewestFirst:
    """A page of rows, newest first. ``older`` continues with the rows after the last one (``?before=``),
    ``newer`` with the rows before the first one (``?after=``); None where there are none. Stable while new
    rows arrive: a cursor names a row's place in the order, not an offset."""

    items: list[Any]
    older: str | None
    newer: str | None


def _beyond(
    rows: QuerySet[Any], time_field: str | None, key: tuple[dt.datetime | None, int], *, newer: bool
) -> QuerySet[Any]:
    time, pk = key
    if time_field is None:
        return rows.filter(id__gt=pk) if newer else rows.filter(id__lt=pk)
    # time >= t (or <= t) keeps the index range scan; the few rows at exactly t are then told apart by id.
    if newer:
        return rows.filter(**{f"{time_field}__gte": time}).exclude(**{time_field: time, "id__lte": pk})
    return rows.filter(**{f"{time_field}__lte": time}).exclude(**{time_field: time, "id__gte": pk})


def newest_first(
    rows: QuerySet[Any], *, time_field: str | None, before: str | None, after: str | None, limit: int
) -> NewestFirst:
    """Page ``rows`` newest first by (``time_field``, id), or by id alone. ``before`` and ``after`` are
    cursors this function gave out (a malformed one is a 422 naming the parameter). A page asked for with
    ``after`` that would be short is the newest page instead, so that a page is always full where it can be."""
    if before and after:
        raise FieldhubError("give before or after, not both", path="after")
    timed = time_field is not None
    descending = (f"-{time_field}", "-id") if timed else ("-id",)
    ascending = (time_field, "id") if timed else ("id",)

    def key_of(row: Any) -> str:
        return _encode_key(getattr(row, time_field) if timed else None, row.pk)  # type: ignore[arg-type]

    if after:
        key = _decode_key(after, timed=timed, path="after", problem=PAGE_CURSOR_PROBLEM)
        found = list(_beyond(rows, time_field, key, newer=True).order_by(*ascending)[: limit + 1])
        if len(found) > limit:
            items = found[:limit][::-1]
            return NewestFirst(items=items, older=key_of(items[-1]), newer=key_of(items[0]))
        before = None  # fewer than a page is newer: the newest page
    if before:
        key = _decode_key(before, timed=timed, path="before", problem=PAGE_CURSOR_PROBLEM)
        rows = _beyond(rows, time_field, key, newer=False)
    found = list(rows.order_by(*descending)[: limit + 1])
    items = found[:limit]
    older = key_of(items[-1]) if len(found) > limit else None
    newer = key_of(items[0]) if before and items else None
    return NewestFirst(items=items, older=older, newer=newer)


def readings_newest_first(
    *, user: Any, ref: ResourceRef, before: str | None, after: str | None, limit: int
) -> NewestFirst:
    """A resource's readings newest first, by cursor (the device page's readings table)."""
    require(user, Role.VIEWER)
    _check_limit(limit)
    return newest_first(
        ref.rows().select_related("resource_type"), time_field="measured_at", before=before, after=after, limit=limit
    )


# IPSO objects (3200-3399) give the unit of their values in the resource Sensor Units (5701), reported by the
# device, where the object definition has none: for the value, its min/max measured and its range.
def units_of_path(path: str) -> tuple[str, str | None]:
    """For a resource path of any device: (the registry's units, "" if none), and where a device reports
    them instead (its instance's Sensor Units path), if the IPSO rule applies; no query (the registry cache)."""
    parsed = Path.parse(path)
    key = (parsed.object_id, parsed.resource_id)
    resource_type = resource_types.get_many([key]).get(key)  # type: ignore[list-item]
    if resource_type is None or not sensor_units_apply(resource_type):
        return (resource_type.units if resource_type else ""), None
    return "", f"/{parsed.object_id}/{parsed.object_instance_id}/{IPSO_UNITS_RESOURCE}"


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


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise FieldhubError(f"limit must be between 1 and {MAX_PAGE}", path="limit")


def _time_range(
    rows: QuerySet[Any], since: dt.datetime | None, until: dt.datetime | None, *, field: str = "measured_at"
) -> QuerySet[Any]:
    if since is not None and until is not None and since >= until:
        raise FieldhubError("since must be before until", path="since")
    if since is not None:
        rows = rows.filter(**{f"{field}__gte": since})
    if until is not None:
        rows = rows.filter(**{f"{field}__lt": until})
    return rows


# --- events ---------------------------------------------------------------------------------------------


def event_list(
    *,
    user: Any,
    endpoint: Endpoint | None = None,
    event_type: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    values: bool = True,
) -> QuerySet[Event]:
    """Events newest first, each with its endpoint and (``values``) all its resources, prefetched: a constant
    number of queries. Pages list a few values of each (``event_values_of``) and pass ``values=False``.
    ``event_type`` selects by object ids (``event_type_filter``)."""
    require(user, Role.VIEWER)
    events = Event.objects.filter(endpoint__in=visible_endpoints(user)).select_related("endpoint")
    if endpoint is not None:
        events = events.filter(endpoint=endpoint)
    if event_type:
        events = events.filter(event_type_filter(event_type))
    events = _time_range(events, since, until).order_by("-measured_at", "-id")
    if not values:
        return events
    resources = Resource.objects.select_related("resource_type").order_by("id")
    return events.prefetch_related(Prefetch("resources", queryset=resources))


def event_values_of(event_ids: Sequence[int], *, first: int) -> dict[int, tuple[list[Resource], int]]:
    """For each event, its first ``first`` values (in the order they were stored) and how many it has, in two
    queries that read no value beyond the first ones of an event of thousands: the events with the id of
    their ``first``-th value and their count (each a range of the (event, resource) index), then those
    ranges. (A window over the events' links read all of them: 4 s for 20 events of 5,000 on PostgreSQL.)"""
    ids = list(event_ids)
    found: dict[int, tuple[list[Resource], int]] = {event_id: ([], 0) for event_id in ids}
    if not ids:
        return found
    links = EventResource.objects.filter(event_id=OuterRef("pk"))
    cuts = Event.objects.filter(pk__in=ids).annotate(
        cut=Subquery(links.order_by("resource_id").values("resource_id")[first - 1 : first]),
        total=Subquery(links.order_by().values("event_id").annotate(n=Count("resource_id")).values("n")[:1]),
    )
    ranges = Q(pk__in=[])
    for event_id, cut, total in cuts.values_list("pk", "cut", "total"):
        found[event_id] = ([], total or 0)
        ranges |= Q(event_id=event_id, resource_id__lte=cut) if cut is not None else Q(event_id=event_id)
    rows = EventResource.objects.filter(ranges).select_related("resource", "resource__resource_type")
    for link in rows.order_by("event_id", "resource_id"):
        found[link.event_id][0].append(link.resource)
    return found


def event_type_filter(event_type: str) -> Q:
    """An event's type is the object ids of its values joined by ``+`` (``3+3303``). A filter of one id
    matches the events that have that object id in their list: ``3`` matches ``3`` and ``3+3303``, not
    ``3303``. Several ids (``3303+3304``; a space also separates, as ``+`` reads in a URL) match the events
    that have each of them."""
    parts = [part for part in re.split(r"[+\s]+", event_type.strip()) if part]
    if not parts or not all(part.isascii() and part.isdigit() and int(part) <= lwm2m.ID_MAX for part in parts):
        raise FieldhubError("type is object ids joined by +, e.g. 3303 or 3303+3304", path="type")
    condition = Q()
    for object_id in sorted({str(int(part)) for part in parts}):
        condition &= (
            Q(event_type=object_id)
            | Q(event_type__startswith=f"{object_id}+")
            | Q(event_type__endswith=f"+{object_id}")
            | Q(event_type__contains=f"+{object_id}+")
        )
    return condition


def event_page(
    *,
    user: Any,
    endpoint: Endpoint | None = None,
    event_type: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    before: str | None = None,
    after: str | None = None,
    limit: int = 50,
) -> NewestFirst:
    """A page of ``event_list`` (without values: ``event_values_of``), newest first, by cursor."""
    events = event_list(user=user, endpoint=endpoint, event_type=event_type, since=since, until=until, values=False)
    return newest_first(events, time_field="measured_at", before=before, after=after, limit=limit)


# --- export ---------------------------------------------------------------------------------------------


def export_rows(
    *, user: Any, endpoint: Endpoint, since: dt.datetime | None, until: dt.datetime | None, ref: ResourceRef | None
) -> Iterator[Resource]:
    """Every reading of a device (or of one resource) in a time range: by resource, then by time, which is
    the order of the series index, so the database streams them (a server-side cursor on PostgreSQL)
    without sorting, and memory stays flat however many there are."""
    require(user, Role.VIEWER)
    rows = ref.rows() if ref is not None else Resource.objects.filter(endpoint=endpoint)
    rows = _time_range(rows.select_related("resource_type"), since, until)
    order = ("resource_type_id", "object_instance_id", "resource_instance_id", "measured_at", "id")
    return rows.order_by(*order).iterator(chunk_size=EXPORT_CHUNK)


EXPORT_CHUNK = 2000


def resource_type_readings(*, user: Any, slug: str, endpoint_name: str | None) -> QuerySet[Resource]:
    """Readings of one resource type across the visible fleet (or one endpoint), newest first."""
    resource_type = ResourceType.objects.filter(slug=slug).first()
    if resource_type is None:
        raise NotFound(f"no resource type named {slug!r}", path="resource_name")
    rows = Resource.objects.filter(resource_type=resource_type, endpoint__in=visible_endpoints(user))
    if endpoint_name is not None:
        rows = rows.filter(endpoint=endpoint_get(user=user, name=endpoint_name))
    return rows.select_related("resource_type").order_by("-measured_at", "-id")


# --- operations -----------------------------------------------------------------------------------------


def operation_list(
    *, user: Any, endpoint: Endpoint | None = None, status: str | None = None
) -> QuerySet[EndpointOperation]:
    """Operations newest first, with their device and author."""
    require(user, Role.VIEWER)
    operations = EndpointOperation.objects.filter(endpoint__in=visible_endpoints(user)).select_related(
        "endpoint", "created_by"
    )
    if endpoint is not None:
        operations = operations.filter(endpoint=endpoint)
    if status:
        if status.upper() not in EndpointOperation.Status.values:
            names = ", ".join(s.lower() for s in EndpointOperation.Status.values)
            raise FieldhubError(f"status must be one of {names}", path="status")
        operations = operations.filter(status=status.upper())
    return operations.order_by("-id")


def operation_page(
    *,
    user: Any,
    endpoint: Endpoint | None = None,
    status: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    before: str | None = None,
    after: str | None = None,
    limit: int = 50,
) -> NewestFirst:
    """A page of ``operation_list`` (queued in [since, until)), newest first, by cursor."""
    operations = _time_range(
        operation_list(user=user, endpoint=endpoint, status=status), since, until, field="created_at"
    )
    return newest_first(operations, time_field=None, before=before, after=after, limit=limit)


def operations_mark_retryable(operations: Iterable[EndpointOperation]) -> list[EndpointOperation]:
    """The operations, each with ``retryable``: failed or cancelled, and not held by another app (a firmware
    update that is over: ``hooks.retry_refusals``). One query for them all, so a page's Retry buttons cost
    nothing per row."""
    operations = list(operations)
    over = (EndpointOperation.Status.FAILED, EndpointOperation.Status.CANCELLED)
    closed = {operation.pk for operation in operations if operation.status in over}
    refused = hooks.retry_refusals(sorted(closed))
    for operation in operations:
        operation.retryable = operation.pk in closed and operation.pk not in refused
    return operations


def operation_get(*, user: Any, pk: int) -> EndpointOperation:
    try:
        return operation_list(user=user).get(pk=pk)
    except EndpointOperation.DoesNotExist:
        raise NotFound(f"no operation {pk}", path="operation") from None


# --- small views of recent history (sparklines, registration history) -------------------------------------


def recent_values_of(
    endpoints: Sequence[Endpoint], path: str, *, since: dt.datetime, per_endpoint: int
) -> dict[int, list[tuple[dt.datetime, float]]]:
    """The last ``per_endpoint`` numeric readings of ``path`` since ``since``, per device, oldest first: one
    query (a window over the series index's range of each device)."""
    try:
        parsed = Path.parse(path)
    except NodeError:
        return {}
    key = (parsed.object_id, parsed.resource_id)
    resource_type = resource_types.get_many([key]).get(key)  # type: ignore[list-item]
    if resource_type is None or resource_type.data_type not in NUMERIC or not endpoints:
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


REGISTRATION_EVENTS = {0: "registered", 1: "unregistered", 2: "updated its registration"}


def registration_history(
    *, user: Any, endpoint: Endpoint, limit: int = 10, system: bool = False
) -> list[tuple[dt.datetime, str]]:
    """The device's latest registration events (object 10240), newest first, in words. ``system``: for a
    fragment pushed to the device's group (its members were checked when they joined)."""
    if not system:
        require(user, Role.VIEWER)
    rows = (
        Resource.objects.filter(endpoint=endpoint, resource_type__object_id=10240)
        .select_related("resource_type")
        .order_by("-received_at", "-id")[:limit]
    )
    return [(row.received_at, REGISTRATION_EVENTS.get(row.resource_type.resource_id, "?")) for row in rows]
