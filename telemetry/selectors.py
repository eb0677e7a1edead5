"""Reads of telemetry. Every function takes the requesting user: who may see what is decided here, once.

Today every viewer sees the whole fleet (``visible_endpoints``); a later visibility rule (sites) changes
that one function.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, F, Prefetch, Q, QuerySet, Window
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
from telemetry.models import EndpointOperation, Event, LatestValue, Resource

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
SORTS = {"name": "name", "-name": "-name", "last_seen": "last_seen_at", "-last_seen": "-last_seen_at"}


def endpoint_list(
    *, user: Any, status: str | None = None, name: str | None = None, sort: str = "-last_seen"
) -> QuerySet[Endpoint]:
    endpoints = visible_endpoints(user)
    if status is not None:
        if status not in STATUS_FILTERS:
            raise FieldhubError(f"status must be one of {', '.join(STATUS_FILTERS)}", path="status")
        endpoints = endpoints.filter(STATUS_FILTERS[status])
    if name:
        endpoints = endpoints.filter(name__icontains=name)
    if sort not in SORTS:
        raise FieldhubError(f"sort must be one of {', '.join(SORTS)}", path="sort")
    order = SORTS[sort]
    nulls = {"nulls_last": True} if order.startswith("-") else {"nulls_first": True}
    field = order.lstrip("-")
    expression = Endpoint._meta.get_field(field).get_col(Endpoint._meta.db_table)
    ordering = expression.desc(**nulls) if order.startswith("-") else expression.asc(**nulls)
    return endpoints.order_by(ordering, "name")


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


def latest_readings(*, user: Any, endpoint: Endpoint) -> list[LatestReading]:
    """The newest value of every resource (instance) the device reported: one query, ordered by path ids."""
    require(user, Role.VIEWER)
    return latest_readings_of(endpoint)


def latest_readings_of(endpoint: Endpoint) -> list[LatestReading]:
    """``latest_readings`` without a user: for fragments pushed to a device's group, whose members were
    checked when they joined (realtime.consumers)."""
    rows = LatestValue.objects.filter(endpoint=endpoint).select_related("resource", "resource__resource_type")
    readings = [_latest_reading(row) for row in rows]
    readings.sort(key=lambda r: (r.object_id, r.object_instance_id, r.resource_id, r.resource_instance_id or -1))
    return readings


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
    micros = (row.measured_at - _EPOCH) // dt.timedelta(microseconds=1)
    return base64.urlsafe_b64encode(f"{micros}:{row.pk}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[dt.datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        micros, pk = (int(part) for part in raw.split(":"))
        return _EPOCH + dt.timedelta(microseconds=micros), pk
    except (ValueError, binascii.Error, OverflowError, UnicodeDecodeError):
        raise FieldhubError("cursor is not one this API gave out", path="cursor") from None


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise FieldhubError(f"limit must be between 1 and {MAX_PAGE}", path="limit")


def _time_range(rows: QuerySet[Any], since: dt.datetime | None, until: dt.datetime | None) -> QuerySet[Any]:
    if since is not None and until is not None and since >= until:
        raise FieldhubError("since must be before until", path="since")
    if since is not None:
        rows = rows.filter(measured_at__gte=since)
    if until is not None:
        rows = rows.filter(measured_at__lt=until)
    return rows


# --- events ---------------------------------------------------------------------------------------------


def event_list(
    *,
    user: Any,
    endpoint: Endpoint | None = None,
    event_type: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> QuerySet[Event]:
    """Events newest first, each with its endpoint and resources (prefetched: a constant number of queries)."""
    require(user, Role.VIEWER)
    events = Event.objects.filter(endpoint__in=visible_endpoints(user)).select_related("endpoint")
    if endpoint is not None:
        events = events.filter(endpoint=endpoint)
    if event_type:
        events = events.filter(event_type=event_type)
    events = _time_range(events, since, until)
    resources = Resource.objects.select_related("resource_type").order_by("id")
    return events.order_by("-measured_at", "-id").prefetch_related(Prefetch("resources", queryset=resources))


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
