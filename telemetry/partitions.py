"""Time partitions of the readings table (``telemetry_resource``) on PostgreSQL, and the retention that drops
old ones. SQLite keeps one plain table; everything here says so and does nothing there.

The table is RANGE-partitioned on ``measured_at`` (migration 0003) into one partition per period
(``TELEMETRY_PARTITION``: month, week or day, in UTC; weeks start on Monday, as ISO weeks do), named after
the first day, ``telemetry_resource_p20261101``, plus a DEFAULT partition that takes every reading no
partition covers (a device whose clock says 1970 or 2099, a period not created yet), so ingest never fails
for want of a partition. ``partitions_maintain`` (``manage.py partitions``, and a dispatcher once an hour):

1. creates the current period's partition and ``ahead`` more. Readings the DEFAULT partition already holds
   for a new period are moved into it, with their ids, so nothing that points at them changes;
2. with ``TELEMETRY_RETENTION_DAYS`` > 0, drops every partition that ends at or before the cutoff
   (now minus that many days), and deletes the DEFAULT partition's readings older than the cutoff.

What goes with dropped readings, so that nothing dangles:

- the EventResource links to them, then the Events left with no link at all;
- not the latest values: the reading a ``LatestValue`` points at is kept (copied into the DEFAULT partition
  before its partition goes), so a device that has been silent for longer than the retention still shows
  what it last said, and values reported once (3/0/3 firmware version, which campaigns select devices by;
  manufacturer, model) survive. The DEFAULT partition therefore holds at most one old reading per device
  and path; it is deleted once a newer reading has replaced it.

No database constraint keeps LatestValue and EventResource pointing at existing readings (PostgreSQL
cannot reference a partitioned table by ``id`` alone, its key is ``(id, measured_at)``); the ingest writes a
reading and its pointers in one statement, and this module is the only place that deletes readings.
Retiring a partition takes two transactions, so that the table lock is held only for the ``DETACH``: the
partition is detached and renamed ``telemetry_resource_retired_…`` (the latest-value readings copied out)
in the first; the links, events and the table go in the second. A retired table left by a crash is
finished by the next run.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from telemetry.models import Event, EventResource, LatestValue, Resource

logger = logging.getLogger(__name__)

PERIODS = ("month", "week", "day")
# Partitions created beyond the current period's.
AHEAD = 2
# How often a dispatcher runs the maintenance (``partitions_maintain_periodically``).
MAINTENANCE_SECONDS = 3600
# A DDL statement waits this long for the table lock, rather than queueing every reader behind it.
LOCK_TIMEOUT = "5s"
# pg_try_advisory_lock key: one maintenance at a time across processes.
_ADVISORY_KEY = 0x46485041  # "FHPA"

TABLE = Resource._meta.db_table
DEFAULT_PARTITION = f"{TABLE}_default"
_RETIRED = f"{TABLE}_retired_"
_BOUND = re.compile(r"FOR VALUES FROM \('([^']+)'\) TO \('([^']+)'\)")


class PartitioningUnsupported(Exception):
    """Partitioning needs PostgreSQL."""


# --- periods: pure, deterministic ------------------------------------------------------------------------


def period_start(moment: dt.datetime, period: str) -> dt.datetime:
    """The start (UTC) of the period that holds ``moment``."""
    utc = moment.astimezone(dt.UTC)
    day = utc.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    raise ValueError(f"TELEMETRY_PARTITION must be one of {', '.join(PERIODS)}, not {period!r}")


def period_end(start: dt.datetime, period: str) -> dt.datetime:
    """The start of the period after the one starting at ``start``."""
    if period == "day":
        return start + dt.timedelta(days=1)
    if period == "week":
        return start + dt.timedelta(days=7)
    if period == "month":
        return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    raise ValueError(f"TELEMETRY_PARTITION must be one of {', '.join(PERIODS)}, not {period!r}")


def partition_name(start: dt.datetime) -> str:
    return f"{TABLE}_p{start:%Y%m%d}"


@dataclass(frozen=True)
class Partition:
    name: str
    start: dt.datetime
    end: dt.datetime


@dataclass
class Report:
    created: list[Partition] = field(default_factory=list)
    dropped: list[Partition] = field(default_factory=list)
    moved: int = 0  # readings moved out of the DEFAULT partition into a new one
    readings_deleted: int = 0
    latest_kept: int = 0  # latest-value readings copied into the DEFAULT partition
    links_deleted: int = 0
    events_deleted: int = 0
    skipped: str = ""  # why nothing was done (another process holds the maintenance)


# --- reading the catalog ---------------------------------------------------------------------------------


def is_partitioned() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = %s::regclass", [TABLE])
        return cursor.fetchone() is not None


def partitions_list() -> list[Partition]:
    """The ranged partitions of the readings table, oldest first (the DEFAULT partition is not listed)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
            [TABLE],
        )
        rows = cursor.fetchall()
    found = []
    for name, bound in rows:
        match = _BOUND.match(bound)
        if match:  # not the DEFAULT partition
            start, end = (dt.datetime.fromisoformat(value).astimezone(dt.UTC) for value in match.groups())
            found.append(Partition(name, start, end))
    return sorted(found, key=lambda p: p.start)


def _retired_tables() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND relname LIKE %s "
            "AND relnamespace = 'public'::regnamespace ORDER BY relname",
            [_RETIRED.replace("_", r"\_") + "%"],
        )
        return [row[0] for row in cursor.fetchall()]


# --- maintenance -----------------------------------------------------------------------------------------


def partitions_maintain(
    *,
    ahead: int = AHEAD,
    period: str | None = None,
    retention_days: int | None = None,
    now: dt.datetime | None = None,
) -> Report:
    """Create the partitions of the current period and ``ahead`` more; with a retention, drop those that
    ended before the cutoff and what goes with them (see the module). Idempotent; safe to run from several
    processes at once (one does the work, the others report ``skipped``)."""
    if connection.vendor != "postgresql":
        raise PartitioningUnsupported(f"partitioning needs PostgreSQL; the database is {connection.vendor}")
    if not is_partitioned():
        raise PartitioningUnsupported(f"{TABLE} is not partitioned: run manage.py migrate")
    period = period or settings.TELEMETRY_PARTITION
    retention_days = settings.TELEMETRY_RETENTION_DAYS if retention_days is None else retention_days
    now = now or timezone.now()
    report = Report()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_ADVISORY_KEY])
        if not cursor.fetchone()[0]:
            report.skipped = "another process is maintaining the partitions"
            return report
    try:
        for name in _retired_tables():  # left by an interrupted run
            _retired_finish(name, report)
        start = period_start(now, period)
        for _ in range(ahead + 1):
            end = period_end(start, period)
            _partition_create(Partition(partition_name(start), start, end), report)
            start = end
        if retention_days > 0:
            cutoff = now - dt.timedelta(days=retention_days)
            for partition in partitions_list():
                if partition.end <= cutoff:
                    _partition_retire(partition, report)
            _default_expire(cutoff, report)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_ADVISORY_KEY])
    return report


def _partition_create(new: Partition, report: Report) -> None:
    existing = partitions_list()
    if any(p.start < new.end and new.start < p.end for p in existing):
        return  # this period, or one overlapping it (TELEMETRY_PARTITION was changed), exists
    q = connection.ops.quote_name
    bounds = "FOR VALUES FROM (%s) TO (%s)"
    in_range = f"{q('measured_at')} >= %s AND {q('measured_at')} < %s"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        # The table lock first (what CREATE ... PARTITION OF takes anyway), so no reading slips into the
        # DEFAULT partition for this range between the check and the CREATE.
        cursor.execute(f"LOCK TABLE {q(TABLE)} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(f"SELECT count(*) FROM {q(DEFAULT_PARTITION)} WHERE {in_range}", [new.start, new.end])
        waiting = cursor.fetchone()[0]
        if not waiting:
            cursor.execute(f"CREATE TABLE {q(new.name)} PARTITION OF {q(TABLE)} {bounds}", [new.start, new.end])
        else:
            # The DEFAULT partition may not hold rows of a new partition's range: move them, ids and all.
            cursor.execute(f"ALTER TABLE {q(TABLE)} DETACH PARTITION {q(DEFAULT_PARTITION)}")
            cursor.execute(f"CREATE TABLE {q(new.name)} PARTITION OF {q(TABLE)} {bounds}", [new.start, new.end])
            columns = ", ".join(q(f.column) for f in Resource._meta.concrete_fields)
            cursor.execute(
                f"WITH moved AS (DELETE FROM {q(DEFAULT_PARTITION)} WHERE {in_range} RETURNING {columns}) "
                f"INSERT INTO {q(new.name)} ({columns}) SELECT {columns} FROM moved",
                [new.start, new.end],
            )
            cursor.execute(f"ALTER TABLE {q(TABLE)} ATTACH PARTITION {q(DEFAULT_PARTITION)} DEFAULT")
            report.moved += waiting
    report.created.append(new)
    logger.info("partitions: created %s [%s, %s), %d reading(s) moved in", new.name, new.start, new.end, waiting)


def _partition_retire(partition: Partition, report: Report) -> None:
    q = connection.ops.quote_name
    retired = _RETIRED + partition.name.removeprefix(f"{TABLE}_")
    columns = ", ".join(q(f.column) for f in Resource._meta.concrete_fields)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        cursor.execute(f"ALTER TABLE {q(TABLE)} DETACH PARTITION {q(partition.name)}")
        cursor.execute(f"ALTER TABLE {q(partition.name)} RENAME TO {q(retired)}")
        # Its range has no partition now: the latest values' readings land in the DEFAULT partition.
        cursor.execute(
            f"INSERT INTO {q(TABLE)} ({columns}) SELECT {columns} FROM {q(retired)} r WHERE EXISTS "
            f"(SELECT 1 FROM {q(LatestValue._meta.db_table)} lv WHERE lv.{q('resource_id')} = r.{q('id')})"
        )
        report.latest_kept += cursor.rowcount
    report.dropped.append(partition)
    _retired_finish(retired, report)


def _retired_finish(retired: str, report: Report) -> None:
    """Delete what points at a retired partition's readings (but those kept), then the table itself."""
    q = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {q(retired)}")
        total = cursor.fetchone()[0]
        gone = (
            f"SELECT r.{q('id')} FROM {q(retired)} r WHERE NOT EXISTS "
            f"(SELECT 1 FROM {q(DEFAULT_PARTITION)} d WHERE d.{q('id')} = r.{q('id')})"
        )
        cursor.execute(f"SELECT count(*) FROM ({gone}) g")
        report.readings_deleted += cursor.fetchone()[0]
        _forget(cursor, gone, report)
        # Deferred foreign key checks of rows written in this transaction would forbid the DROP: run them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"DROP TABLE {q(retired)}")
    logger.info("partitions: dropped %s (%d reading(s))", retired, total)


def _default_expire(cutoff: dt.datetime, report: Report) -> None:
    """Delete the DEFAULT partition's readings older than the cutoff that no latest value points at."""
    q = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS pg_temp.fieldhub_gone_readings")
        cursor.execute("CREATE TEMP TABLE fieldhub_gone_readings (id bigint) ON COMMIT DROP")
        cursor.execute(
            f"WITH gone AS (DELETE FROM {q(DEFAULT_PARTITION)} d WHERE d.{q('measured_at')} < %s AND NOT EXISTS "
            f"(SELECT 1 FROM {q(LatestValue._meta.db_table)} lv WHERE lv.{q('resource_id')} = d.{q('id')}) "
            f"RETURNING d.{q('id')}) INSERT INTO fieldhub_gone_readings SELECT {q('id')} FROM gone",
            [cutoff],
        )
        report.readings_deleted += cursor.rowcount
        if cursor.rowcount:
            _forget(cursor, "SELECT id FROM fieldhub_gone_readings", report)


def _forget(cursor: CursorWrapper, readings_sql: str, report: Report) -> None:
    """Delete the latest values and event links of the readings ``readings_sql`` selects, then the events
    left with no link."""
    q = connection.ops.quote_name
    latest, links, events = (q(m._meta.db_table) for m in (LatestValue, EventResource, Event))
    cursor.execute(f"DELETE FROM {latest} WHERE {q('resource_id')} IN ({readings_sql})")
    cursor.execute("DROP TABLE IF EXISTS pg_temp.fieldhub_gone_events")
    cursor.execute("CREATE TEMP TABLE fieldhub_gone_events (id bigint) ON COMMIT DROP")
    cursor.execute(
        f"WITH gone AS (DELETE FROM {links} WHERE {q('resource_id')} IN ({readings_sql}) "
        f"RETURNING {q('event_id')}), noted AS (INSERT INTO fieldhub_gone_events "
        f"SELECT DISTINCT {q('event_id')} FROM gone) SELECT count(*) FROM gone"
    )
    report.links_deleted += cursor.fetchone()[0]
    # A separate statement: a data-modifying WITH does not see its own deletions.
    cursor.execute(
        f"DELETE FROM {events} e USING fieldhub_gone_events g WHERE e.{q('id')} = g.id AND NOT EXISTS "
        f"(SELECT 1 FROM {links} l WHERE l.{q('event_id')} = e.{q('id')})"
    )
    report.events_deleted += cursor.rowcount


_periodic_lock = threading.Lock()
_periodic_last: float | None = None


def partitions_maintain_periodically() -> None:
    """``partitions_maintain`` at most once every ``MAINTENANCE_SECONDS`` in this process: a dispatcher's
    periodic task (``telemetry.hooks``), so partitions exist ahead and retention applies without cron. A
    failure is logged and tried again at the next interval; it never stops the dispatcher."""
    global _periodic_last
    if connection.vendor != "postgresql":
        return
    with _periodic_lock:
        now = time.monotonic()
        if _periodic_last is not None and now - _periodic_last < MAINTENANCE_SECONDS:
            return
        _periodic_last = now
    try:
        report = partitions_maintain()
    except (DatabaseError, PartitioningUnsupported) as exc:
        logger.warning("partitions: maintenance failed, trying again in %d s: %r", MAINTENANCE_SECONDS, exc)
        return
    if report.created or report.dropped or report.readings_deleted:
        logger.info(
            "partitions: %d created, %d dropped, %d reading(s) deleted, %d event(s) deleted",
            len(report.created),
            len(report.dropped),
            report.readings_deleted,
            report.events_deleted,
        )
