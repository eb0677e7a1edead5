"""Writes of many rows at once, the same on every database: one statement on PostgreSQL, batches elsewhere."""

from __future__ import annotations

from collections.abc import Sequence

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
