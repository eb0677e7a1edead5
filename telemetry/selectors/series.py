"""Time series of one resource: raw points, or equal time buckets computed in the database."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from core.errors import FieldhubError
from core.lwm2m import types as lwm2m
from core.paging import EPOCH
from core.permissions import Principal
from telemetry.models import Resource
from telemetry.selectors.endpoints import require_endpoint_visible
from telemetry.selectors.readings import NUMERIC, ResourceRef

MAX_BUCKETS = 5000


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


def series(
    *, user: Principal, ref: ResourceRef, since: dt.datetime | None, until: dt.datetime | None, buckets: int
) -> Series:
    """Raw points when the range holds at most ``buckets`` of them, else ``buckets`` equal time buckets
    (min, max, mean, count, first and last time) computed in the database, never in Python."""
    require_endpoint_visible(user, ref.endpoint)
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
    since_ms = (since - EPOCH) / dt.timedelta(milliseconds=1)
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
    # Imported here: the module is loaded with the SQLite backend (imported first, it is a circular import).
    from django.db.backends.sqlite3.operations import DatabaseOperations

    ops = connection.ops
    assert isinstance(ops, DatabaseOperations)
    convert = ops.convert_datetimefield_value
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
