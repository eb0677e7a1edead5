"""PostgreSQL: the readings table (telemetry_resource) becomes RANGE-partitioned on measured_at.

Nothing happens on SQLite (the database operations are no-ops there); Django's state changes on both: the
foreign keys from LatestValue and EventResource to Resource lose their database constraint, since
PostgreSQL cannot reference a partitioned table by id alone (its key becomes (id, measured_at)).

On PostgreSQL, in the migration's transaction:

1. the constraints of those two foreign keys are dropped;
2. a partitioned copy of the table is made, with one partition (TELEMETRY_PARTITION, default a month) for
   every period that holds existing readings measured from the period before the first receive time on,
   for the current period and the next two (telemetry.partitions.AHEAD), and the DEFAULT partition for
   every other reading (device clocks in 1970 or 2099);
3. every row is copied, ids and all, the old table dropped and the copy renamed; the id sequence continues
   where the old one stopped; primary key (id, measured_at), the foreign keys to endpoint and resource
   type and the resource_series index are made again.

It takes an exclusive lock and rewrites the table: on a large database, run it in a maintenance window.
Reversible: the reverse copies every row back into one plain table and restores the constraints.
"""

import datetime as dt

from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

TABLE = "telemetry_resource"
POINTING_AT = ("telemetry_latestvalue", "telemetry_eventresource")


def _resource_fk_constraints(connection, cursor, table):
    constraints = connection.introspection.get_constraints(cursor, table)
    return [name for name, c in constraints.items() if c["foreign_key"] == (TABLE, "id")]


def _next_id(cursor, table):
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    sequence = cursor.fetchone()[0]
    cursor.execute(f"SELECT last_value, is_called FROM {sequence}")
    last, called = cursor.fetchone()
    cursor.execute(f"SELECT coalesce(max(id), 0) FROM {table}")
    return max(last + 1 if called else last, cursor.fetchone()[0] + 1)


def _keys_and_index(cursor, primary_key):
    cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY ({primary_key})")
    for column, target in (("endpoint_id", "core_endpoint"), ("resource_type_id", "core_resourcetype")):
        cursor.execute(
            f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_{column}_fk FOREIGN KEY ({column}) "
            f"REFERENCES {target} (id) DEFERRABLE INITIALLY DEFERRED"
        )
    cursor.execute(
        f"CREATE INDEX resource_series ON {TABLE} "
        "(endpoint_id, resource_type_id, object_instance_id, resource_instance_id, measured_at)"
    )


def partition(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    from telemetry.partitions import AHEAD, DEFAULT_PARTITION, partition_name, period_end, period_start

    period = settings.TELEMETRY_PARTITION
    with connection.cursor() as cursor:
        for table in POINTING_AT:
            for name in _resource_fk_constraints(connection, cursor, table):
                cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")

        # Periods: those of the existing readings (from the period before the first receive time; earlier
        # device times are wrong clocks, for the DEFAULT partition) and the current one and AHEAD more.
        starts = set()
        start = period_start(timezone.now(), period)
        for _ in range(AHEAD + 1):
            starts.add(start)
            start = period_end(start, period)
        cursor.execute(f"SELECT min(received_at) FROM {TABLE}")
        first_received = cursor.fetchone()[0]
        if first_received is not None:
            since = period_start(period_start(first_received, period) - dt.timedelta(days=1), period)
            cursor.execute(
                f"SELECT DISTINCT date_trunc(%s, measured_at, 'UTC') FROM {TABLE} "
                "WHERE measured_at >= %s AND measured_at < %s",
                [period, since, start],
            )
            starts.update(period_start(row[0], period) for row in cursor.fetchall())

        new = f"{TABLE}_partitioned"
        cursor.execute(
            f"CREATE TABLE {new} (LIKE {TABLE} INCLUDING CONSTRAINTS) PARTITION BY RANGE (measured_at)"
        )
        for start in sorted(starts):
            cursor.execute(
                f"CREATE TABLE {partition_name(start)} PARTITION OF {new} FOR VALUES FROM (%s) TO (%s)",
                [start, period_end(start, period)],
            )
        cursor.execute(f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF {new} DEFAULT")
        cursor.execute(f"INSERT INTO {new} SELECT * FROM {TABLE}")
        next_id = _next_id(cursor, TABLE)
        cursor.execute(f"DROP TABLE {TABLE}")
        cursor.execute(f"ALTER TABLE {new} RENAME TO {TABLE}")
        cursor.execute(f"CREATE SEQUENCE {TABLE}_id_seq START WITH {int(next_id)} OWNED BY {TABLE}.id")
        cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id SET DEFAULT nextval('{TABLE}_id_seq')")
        _keys_and_index(cursor, "id, measured_at")


def unpartition(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        plain = f"{TABLE}_plain"
        cursor.execute(f"CREATE TABLE {plain} (LIKE {TABLE} INCLUDING CONSTRAINTS)")
        cursor.execute(f"INSERT INTO {plain} SELECT * FROM {TABLE}")
        next_id = _next_id(cursor, TABLE)
        cursor.execute(f"DROP TABLE {TABLE}")  # with its partitions and its sequence
        cursor.execute(f"DROP TABLE IF EXISTS {TABLE}_default")
        cursor.execute(f"ALTER TABLE {plain} RENAME TO {TABLE}")
        cursor.execute(
            f"ALTER TABLE {TABLE} ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (START WITH {int(next_id)})"
        )
        _keys_and_index(cursor, "id")
        for table in POINTING_AT:
            cursor.execute(
                f"ALTER TABLE {table} ADD CONSTRAINT {table}_resource_id_fk FOREIGN KEY (resource_id) "
                f"REFERENCES {TABLE} (id) DEFERRABLE INITIALLY DEFERRED"
            )


class Migration(migrations.Migration):
    dependencies = [
        ("telemetry", "0002_latest_value"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="latestvalue",
                    name="resource",
                    field=models.ForeignKey(
                        db_constraint=False,
                        on_delete=models.deletion.CASCADE,
                        related_name="+",
                        to="telemetry.resource",
                    ),
                ),
                migrations.AlterField(
                    model_name="eventresource",
                    name="resource",
                    field=models.ForeignKey(
                        db_constraint=False,
                        on_delete=models.deletion.CASCADE,
                        related_name="+",
                        to="telemetry.resource",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(partition, unpartition)],
        ),
    ]
