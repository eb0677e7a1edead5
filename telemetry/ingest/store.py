"""Writing one post of telemetry in as few database round trips as possible: the ingest's hot path.

The service (``telemetry.ingest.service``) decides what to write (``telemetry.ingest.rows.Post``); this
module only writes it, one function per database, in the cheapest way each allows, and the results are the
same on both (the tests run on both):

- PostgreSQL: one statement. Data-modifying CTEs upsert the endpoint, insert every resource from arrays
  (``unnest``, ids drawn from the sequence up front), move each path's latest-value pointer forward,
  create the event and link it to the resources. In autocommit mode it is its own transaction: one round
  trip per post instead of seven (BEGIN, upsert, insert, latest, event, links, COMMIT).
- SQLite (and anything else): the endpoint upsert, then multi-row ``INSERT ... RETURNING`` statements of
  as many rows as the variable limit allows (``core.apps`` reads the real limit), the latest-value
  upsert, then the event.

Why not ``bulk_create``: for a 500-reading post Django spent most of the time preparing each field of each
model instance; docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DataError, connection

from core.models import Endpoint
from telemetry.downlink import wakeup
from telemetry.ingest.rows import ROW_COLUMNS, Post
from telemetry.models import EndpointOperation, Event, EventResource, LatestValue, Resource

_PG_ARRAY_TYPES = (
    "bigint",
    "integer",
    "integer",
    "bigint",
    "double precision",
    "boolean",
    "text",
    "bytea",
    "timestamptz",
)  # ROW_COLUMNS' types


DIVISION_BY_ZERO = "22012"  # SQLSTATE: how a guard trips


@dataclass(frozen=True)
class Saved:
    endpoint_id: int
    event_id: int | None
    resources: int
    # Whether this post created the endpoint; else its (online, sleeping) before the post.
    created: bool
    previous: tuple[bool, bool] | None
    # The endpoint's site (None: in no site, or a new one, which the ingest then assigns; telemetry.announce).
    site_id: int | None = None
    # What the ``also`` read of ``save`` answered (PostgreSQL; None elsewhere: the caller reads it itself).
    also: Any = None


@dataclass(frozen=True)
class AlsoRead:
    """A scalar SQL expression that PostgreSQL's statement answers too, about the post's endpoint (named
    ``{endpoint}`` in ``sql``), as of the statement: the alarm rules' state of the device
    (``telemetry.alarms.evaluate``), read without a round trip or a statement of its own."""

    sql: str
    params: Sequence[Any]
    # A guard: the expression divides by zero when an assumption the caller made is false, and the whole
    # statement then writes nothing (``GuardTripped``).
    guard: bool = False


class GuardTripped(Exception):
    """The statement's guard (``AlsoRead.guard``) found the caller's assumption false: nothing was written."""


def save(post: Post, also: AlsoRead | None = None) -> Saved:
    """Write the post. On PostgreSQL it is one statement (a transaction of its own when not in one), which
    also answers ``also`` (``Saved.also``); elsewhere several, so the caller wraps it in
    ``transaction.atomic`` unless ``is_one_statement()``, and ``also`` is not read."""
    if is_one_statement():
        return save_postgresql(post, also)
    return save_generic(post)


def is_one_statement() -> bool:
    """Whether ``save`` is a single statement on the current database (then it needs no transaction)."""
    return connection.vendor == "postgresql"


def save_postgresql(post: Post, also: AlsoRead | None = None) -> Saved:
    """The post in one statement: data-modifying CTEs, each a step of the post (see the module's doc)."""
    sql, params = _pg_statement(post)
    if also is not None:
        sql += ", (" + also.sql.replace("{endpoint}", "(SELECT id FROM endpoint)") + ")"
        params = [*params, *also.params]
    with connection.cursor() as cursor:
        try:
            cursor.execute(sql, params)
        except DataError as exc:
            if also is not None and also.guard and getattr(exc.__cause__, "pgcode", None) == DIVISION_BY_ZERO:
                raise GuardTripped from None
            raise
        row = cursor.fetchone()
    endpoint_id, event_id, count, created, was_online, was_sleeping, site_id = row[:7]
    previous = None if was_online is None else (was_online, was_sleeping)
    answered = row[-1] if also is not None else None
    return Saved(endpoint_id, event_id, count, created=bool(created), previous=previous, site_id=site_id, also=answered)


def _pg_statement(post: Post) -> tuple[str, list[Any]]:
    q = connection.ops.quote_name
    fields = list(post.endpoint_fields)
    columns = ", ".join(q(f) for f in ["name", *fields])
    updates = ", ".join(f"{q(f)} = EXCLUDED.{q(f)}" for f in fields)
    data_columns = ", ".join(q(c) for c in ROW_COLUMNS)
    arrays = ", ".join(f"%s::{t}[]" for t in (*_PG_ARRAY_TYPES, "text"))
    resources, latest = q(Resource._meta.db_table), q(LatestValue._meta.db_table)
    # In the order the placeholders appear in the statement.
    params: list[Any] = [post.endpoint_name, post.endpoint_name, *post.endpoint_fields.values()]
    params += [list(column) for column in zip(*post.rows, strict=True)]
    params += [list(post.paths), post.received_at]
    event_sql, event_params = _pg_event(post)
    wake_sql, wake_params = _pg_wake(post)
    sql = f"""
        WITH old AS (
            SELECT {q("online")}, {q("sleeping")} FROM {q(Endpoint._meta.db_table)} WHERE {q("name")} = %s
        ),
        endpoint AS (
            INSERT INTO {q(Endpoint._meta.db_table)} ({columns})
            VALUES ({", ".join(["%s"] * (len(fields) + 1))})
            ON CONFLICT ({q("name")}) DO UPDATE SET {updates}
            RETURNING id, (xmax = 0) AS created, {q("site_id")}
        ),
        data AS MATERIALIZED (
            SELECT nextval(pg_get_serial_sequence('{Resource._meta.db_table}', 'id')) AS id, rows.*
            FROM unnest({arrays}) AS rows({data_columns}, path)
        ),
        inserted AS (
            INSERT INTO {resources} ({q("id")}, {q("endpoint_id")}, {data_columns}, {q("received_at")})
            SELECT data.id, endpoint.id, {", ".join(f"data.{q(c)}" for c in ROW_COLUMNS)}, %s
            FROM endpoint, data
            RETURNING id
        ),
        newest AS (
            INSERT INTO {latest} ({q("endpoint_id")}, {q("path")}, {q("resource_id")}, {q("measured_at")})
            SELECT DISTINCT ON (data.path) endpoint.id, data.path, data.id, data.{q("measured_at")}
            FROM endpoint, data
            ORDER BY data.path, data.{q("measured_at")} DESC, data.id DESC
            ON CONFLICT ({q("endpoint_id")}, {q("path")}) DO UPDATE
            SET {q("resource_id")} = EXCLUDED.{q("resource_id")}, {q("measured_at")} = EXCLUDED.{q("measured_at")}
            WHERE {latest}.{q("measured_at")} <= EXCLUDED.{q("measured_at")}
        ){event_sql}{wake_sql}
        SELECT (SELECT id FROM endpoint), {"(SELECT id FROM event)" if post.event else "NULL"},
               (SELECT count(*) FROM inserted), (SELECT created FROM endpoint),
               (SELECT {q("online")} FROM old), (SELECT {q("sleeping")} FROM old),
               (SELECT {q("site_id")} FROM endpoint)
               {", (SELECT count(*) FROM woken)" if post.wake else ""}
    """
    return sql, [*params, *event_params, *wake_params]


def _pg_event(post: Post) -> tuple[str, list[Any]]:
    """The CTEs that create the post's event and link it to its resources (none for a post of one value)."""
    if post.event is None:
        return "", []
    q = connection.ops.quote_name
    events, links = q(Event._meta.db_table), q(EventResource._meta.db_table)
    columns = ", ".join(q(c) for c in ("endpoint_id", *post.event._fields, "created_at"))
    sql = f""",
        event AS (
            INSERT INTO {events} ({columns}) SELECT id, %s, %s, %s, %s FROM endpoint RETURNING id
        ),
        links AS (
            INSERT INTO {links} ({q("event_id")}, {q("resource_id")}) SELECT event.id, data.id FROM event, data
        )"""
    return sql, [*post.event, post.received_at]


def _pg_wake(post: Post) -> tuple[str, list[Any]]:
    """The CTE that NOTIFYs the dispatchers when the device is reachable and has queued operations."""
    if not post.wake:
        return "", []
    q = connection.ops.quote_name
    sql = f""",
        woken AS (
            SELECT pg_notify(%s, endpoint.id::text) FROM endpoint WHERE EXISTS (
                SELECT 1 FROM {q(EndpointOperation._meta.db_table)} o
                WHERE o.{q("endpoint_id")} = endpoint.id AND o.{q("status")} = %s
            )
        )"""
    return sql, [wakeup.CHANNEL, EndpointOperation.Status.QUEUED.value]


def save_generic(post: Post) -> Saved:
    before = Endpoint.objects.filter(name=post.endpoint_name).values_list("online", "sleeping", "site_id").first()
    previous, site_id = (None, None) if before is None else ((before[0], before[1]), before[2])
    (endpoint,) = Endpoint.objects.bulk_create(
        [Endpoint(name=post.endpoint_name, **post.endpoint_fields)],
        update_conflicts=True,
        unique_fields=["name"],
        update_fields=list(post.endpoint_fields),
    )
    adapt = connection.ops.adapt_datetimefield_value
    received = adapt(post.received_at)
    times: dict[dt.datetime, Any] = {}
    rows = []
    for row in post.rows:
        measured = row.measured_at
        if measured not in times:
            times[measured] = adapt(measured)
        rows.append((endpoint.pk, *row._replace(measured_at=times[measured]), received))
    resource_ids = _insert_returning(Resource._meta.db_table, ("endpoint_id", *ROW_COLUMNS, "received_at"), rows)
    _latest_upsert(endpoint.pk, post, resource_ids)
    event_id = None
    if post.event is not None:
        event_id = Event.objects.create(endpoint_id=endpoint.pk, **post.event._asdict(), created_at=post.received_at).pk
        _insert_returning(
            EventResource._meta.db_table, ("event_id", "resource_id"), [(event_id, r) for r in resource_ids]
        )
    return Saved(endpoint.pk, event_id, len(resource_ids), created=previous is None, previous=previous, site_id=site_id)


def _latest_upsert(endpoint_id: int, post: Post, resource_ids: Sequence[int]) -> None:
    newest: dict[str, tuple[dt.datetime, int]] = {}
    for path, row, resource_id in zip(post.paths, post.rows, resource_ids, strict=True):
        candidate = (row.measured_at, resource_id)
        if path not in newest or candidate > newest[path]:
            newest[path] = candidate
    q = connection.ops.quote_name
    table = q(LatestValue._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    values = ", ".join(["(%s, %s, %s, %s)"] * len(newest))
    sql = (
        f"INSERT INTO {table} ({q('endpoint_id')}, {q('path')}, {q('resource_id')}, {q('measured_at')}) "
        f"VALUES {values} ON CONFLICT ({q('endpoint_id')}, {q('path')}) DO UPDATE "
        f"SET {q('resource_id')} = excluded.{q('resource_id')}, {q('measured_at')} = excluded.{q('measured_at')} "
        f"WHERE {table}.{q('measured_at')} <= excluded.{q('measured_at')}"
    )
    params: list[Any] = []
    for path, (measured_at, resource_id) in newest.items():
        params += [endpoint_id, path, resource_id, adapt(measured_at)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _insert_returning(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[int]:
    quote = connection.ops.quote_name
    limit = connection.features.max_query_params
    per_statement = max(1, limit // len(columns)) if limit else len(rows)
    head = f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) VALUES "
    placeholder = "(" + ", ".join(["%s"] * len(columns)) + ")"
    ids: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            sql = head + ", ".join([placeholder] * len(chunk)) + " RETURNING " + quote("id")
            cursor.execute(sql, [value for row in chunk for value in row])
            ids.extend(row[0] for row in cursor.fetchall())
    return ids
