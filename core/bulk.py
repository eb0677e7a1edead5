"""Writes of many rows at once, the same on every database: one statement on PostgreSQL, batches elsewhere."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Model

BATCH = 500  # rows per statement where there is no one-statement form (SQLite)


def column_set(model: type[Model], column: str, ids: Sequence[int], values: Sequence[int | None]) -> None:
    """Set ``column`` (a bigint: a foreign key's ``<name>_id``) of the rows ``ids`` of ``model`` to
    ``values``, row by row in order: one ``UPDATE … FROM unnest`` on PostgreSQL (a wave of 10,000 rows),
    ``bulk_update`` in batches elsewhere."""
    if len(ids) != len(values):
        raise ValueError("one value per row")
    if not ids:
        return
    if connection.vendor != "postgresql":
        rows = [model(pk=pk, **{column: value}) for pk, value in zip(ids, values, strict=True)]
        model._default_manager.bulk_update(rows, [column.removesuffix("_id")], batch_size=BATCH)
        return
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS t SET {connection.ops.quote_name(column)} = v.value "
            "FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, value) WHERE t.id = v.id",
            [list(ids), list(values)],
        )


def rows_insert(
    model: type[Model], *, key: str, keys: Sequence[int], values: dict[str, Any], batch_size: int = BATCH
) -> list[int]:
    """Insert one row of ``model`` per value of ``keys`` (a bigint column, e.g. ``endpoint_id``, unique among
    these rows), every other column ``values`` or its field's default, the same for all rows; the new rows'
    ids, in the order of ``keys``. One ``INSERT … SELECT … FROM unnest … RETURNING`` on PostgreSQL (a wave of
    10,000 rows in a fraction of what ``bulk_create`` takes to build its statement), ``bulk_create`` in
    batches of ``batch_size`` elsewhere. Fields set on save (``auto_now``) take what ``values`` gives them."""
    if not keys:
        return []
    if connection.vendor != "postgresql":
        rows = [model(**{key: value}, **values) for value in keys]
        return [row.pk for row in model._default_manager.bulk_create(rows, batch_size=batch_size)]
    columns: list[str] = []
    casts: list[str] = []
    params: list[Any] = []
    key_column = ""
    for field in model._meta.concrete_fields:
        if field.attname == key:
            key_column = field.column
        if field.primary_key or field.attname == key:
            continue
        value = values[field.attname] if field.attname in values else field.get_default()
        columns.append(field.column)
        casts.append(f"%s::{field.db_type(connection)}")  # typed as its column (a JSON value as jsonb)
        params.append(field.get_db_prep_save(value, connection))
    if not key_column:
        raise ValueError(f"{model.__name__} has no column {key!r}")
    quote = connection.ops.quote_name
    names = ", ".join(quote(column) for column in [key_column, *columns])
    sql = (
        f"INSERT INTO {model._meta.db_table} ({names}) SELECT k.value, {', '.join(casts)} "
        f"FROM unnest(%s::bigint[]) WITH ORDINALITY AS k(value, n) ORDER BY k.n RETURNING id, {quote(key_column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, list(keys)])
        made = {value: pk for pk, value in cursor.fetchall()}
    return [made[value] for value in keys]
