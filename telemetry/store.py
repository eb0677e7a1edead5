"""Writing one post of telemetry in as few database round trips as possible: the ingest's hot path.

The service (``telemetry.services.ingest``) decides what to write; this module only writes it, in the
cheapest way each database allows, and the results are the same on both (the tests run on both):

- PostgreSQL: one statement. Data-modifying CTEs upsert the endpoint, insert every resource from arrays
  (``unnest``), create the event and link it to the resources. In autocommit mode it is its own
  transaction: one round trip per post instead of six (BEGIN, upsert, insert, event, links, COMMIT).
- SQLite (and anything else): the endpoint upsert, then multi-row ``INSERT ... RETURNING`` statements of
  as many rows as the variable limit allows (``core.apps`` reads the real limit), then the event.

Why not ``bulk_create``: for a 500-reading post Django spent most of the time preparing each field of each
model instance; docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection

from core.models import Endpoint
from telemetry.models import Event, EventResource, Resource

# The columns a resource row gives, in order (endpoint_id and received_at are the post's).
ROW_COLUMNS = (
    "resource_type_id",
    "object_instance_id",
    "resource_instance_id",
    "value_int",
    "value_float",
    "value_bool",
    "value_str",
    "value_bytes",
    "measured_at",
)
_VALUE_COLUMNS = ROW_COLUMNS[3:8]
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
)

ResourceRow = tuple[Any, ...]


def resource_row(
    *,
    resource_type_id: int,
    object_instance_id: int,
    resource_instance_id: int | None,
    columns: dict[str, Any],
    measured_at: dt.datetime,
) -> ResourceRow:
    """A row in ``ROW_COLUMNS`` order; ``columns`` is ``core.lwm2m.types.to_columns`` output."""
    values = tuple(columns.get(name) for name in _VALUE_COLUMNS)
    return (resource_type_id, object_instance_id, resource_instance_id, *values, measured_at)


@dataclass(frozen=True)
class Post:
    endpoint_name: str
    # Endpoint columns to set, on insert and on conflict alike (last_seen_at, online, ...).
    endpoint_fields: dict[str, Any]
    rows: Sequence[ResourceRow]
    received_at: dt.datetime
    # (event_type, description, measured_at) when the post is an event.
    event: tuple[str, str, dt.datetime] | None


@dataclass(frozen=True)
class Saved:
    endpoint_id: int
    event_id: int | None
    resources: int


def save(post: Post) -> Saved:
    """Write the post. On PostgreSQL it is one statement (a transaction of its own when not in one);
    elsewhere several, so the caller wraps it in ``transaction.atomic`` unless ``ONE_STATEMENT``."""
    if connection.vendor == "postgresql":
        return _save_postgresql(post)
    return _save_generic(post)


class _OneStatement:
    """``store.ONE_STATEMENT``: whether ``save`` is a single statement on the current database."""

    def __bool__(self) -> bool:
        return connection.vendor == "postgresql"


ONE_STATEMENT = _OneStatement()


def _save_postgresql(post: Post) -> Saved:
    quote = connection.ops.quote_name
    fields = list(post.endpoint_fields)
    columns = ", ".join(quote(f) for f in ["name", *fields])
    updates = ", ".join(f"{quote(f)} = EXCLUDED.{quote(f)}" for f in fields)
    data_columns = ", ".join(quote(c) for c in ROW_COLUMNS)
    arrays = ", ".join(f"%s::{t}[]" for t in _PG_ARRAY_TYPES)
    event_sql = link_sql = ""
    # In the order the placeholders appear in the statement.
    params: list[Any] = [post.endpoint_name, *post.endpoint_fields.values(), post.received_at]
    params += [list(column) for column in zip(*post.rows, strict=True)]
    if post.event is not None:
        event_sql = f""",
        event AS (
            INSERT INTO {quote(Event._meta.db_table)}
                ({quote("endpoint_id")}, {quote("event_type")}, {quote("description")}, {quote("measured_at")},
                 {quote("created_at")})
            SELECT id, %s, %s, %s, %s FROM endpoint RETURNING id
        ),
        links AS (
            INSERT INTO {quote(EventResource._meta.db_table)} ({quote("event_id")}, {quote("resource_id")})
            SELECT event.id, inserted.id FROM event, inserted
        )"""
        link_sql = "(SELECT id FROM event)"
        params += [*post.event, post.received_at]
    sql = f"""
        WITH endpoint AS (
            INSERT INTO {quote(Endpoint._meta.db_table)} ({columns})
            VALUES ({", ".join(["%s"] * (len(fields) + 1))})
            ON CONFLICT ({quote("name")}) DO UPDATE SET {updates}
            RETURNING id
        ),
        inserted AS (
            INSERT INTO {quote(Resource._meta.db_table)}
                ({quote("endpoint_id")}, {data_columns}, {quote("received_at")})
            SELECT endpoint.id, data.*, %s FROM endpoint, unnest({arrays}) AS data
            RETURNING id
        ){event_sql}
        SELECT (SELECT id FROM endpoint), {link_sql or "NULL"}, (SELECT count(*) FROM inserted)
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        endpoint_id, event_id, count = cursor.fetchone()
    return Saved(endpoint_id=endpoint_id, event_id=event_id, resources=count)


def _save_generic(post: Post) -> Saved:
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
        measured = row[-1]
        if measured not in times:
            times[measured] = adapt(measured)
        rows.append((endpoint.pk, *row[:-1], times[measured], received))
    resource_ids = _insert_returning(Resource._meta.db_table, ("endpoint_id", *ROW_COLUMNS, "received_at"), rows)
    event_id = None
    if post.event is not None:
        event_type, description, measured_at = post.event
        event_id = Event.objects.create(
            endpoint_id=endpoint.pk,
            event_type=event_type,
            description=description,
            measured_at=measured_at,
            created_at=post.received_at,
        ).pk
        _insert_returning(
            EventResource._meta.db_table, ("event_id", "resource_id"), [(event_id, r) for r in resource_ids]
        )
    return Saved(endpoint_id=endpoint.pk, event_id=event_id, resources=len(resource_ids))


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
