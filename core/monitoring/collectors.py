"""Figures of the project itself counted at scrape time: the database's size on disk (for the disk alert
with the free space a node exporter reports, docs/deployment.md)."""

from __future__ import annotations

import os
from collections.abc import Iterator

from django.db import connection
from prometheus_client.core import GaugeMetricFamily, Metric


def database() -> Iterator[Metric]:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_database_size(current_database())")
            size = float(cursor.fetchone()[0])
    else:  # SQLite: the file and its write-ahead log
        name = str(connection.settings_dict["NAME"])
        size = float(sum(os.path.getsize(path) for path in (name, f"{name}-wal") if os.path.exists(path)))
    yield GaugeMetricFamily("fieldhub_database_size_bytes", "Size of Fieldhub's database on disk", value=size)
