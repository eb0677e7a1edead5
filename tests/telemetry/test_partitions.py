"""Telemetry partitioned by time (PostgreSQL): where readings land, history across partitions, retention and
what goes with a dropped partition, the command, and that SQLite is left alone."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from telemetry import hooks, partitions
from telemetry.models import Event, EventResource, LatestValue, Resource
from tests.telemetry.bridge_client import post

pytestmark = pytest.mark.django_db


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)  # type: ignore[misc]


def send(ep: str, moment: dt.datetime, values: dict[str, Any]) -> dict[str, Any]:
    """A timestamped bridge post: ``values`` by path, measured at ``moment``."""
    nodes = {}
    for path, value in values.items():
        data_type = "STRING" if isinstance(value, str) else "FLOAT"
        nodes[path] = {"kind": "singleResource", "id": int(path.split("/")[3]), "type": data_type, "value": value}
    stamp = str(int(moment.timestamp() * 1000))
    response = post(Client(), "timestamped", {"ep": ep, "val": [{stamp: {"nodes": nodes}}]})
    assert response.status_code == 201, response.content
    return response.json()


def partition_of(resource_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM telemetry_resource WHERE id = %s", [resource_id])
        return cursor.fetchone()[0]


def ids(ep: str, path_value: float | str) -> list[int]:
    rows = Resource.objects.filter(endpoint__name=ep).select_related("resource_type")
    return [r.pk for r in rows if r.value == path_value]


def dangling() -> tuple[int, int]:
    """Latest values and event links that point at no reading."""
    with connection.cursor() as cursor:
        counts = []
        for table in ("telemetry_latestvalue", "telemetry_eventresource"):
            cursor.execute(
                f"SELECT count(*) FROM {table} x WHERE NOT EXISTS "
                "(SELECT 1 FROM telemetry_resource r WHERE r.id = x.resource_id)"
            )
            counts.append(cursor.fetchone()[0])
    return counts[0], counts[1]


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- periods: the same on every database -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "moment", "start", "end"),
    [
        ("month", at(2024, 3, 31, 23, 59, 59, 999999), at(2024, 3, 1), at(2024, 4, 1)),
        ("month", at(2024, 12, 1), at(2024, 12, 1), at(2025, 1, 1)),
        ("week", at(2026, 1, 1, 12), at(2025, 12, 29), at(2026, 1, 5)),  # a Thursday: the ISO week's Monday
        ("week", at(2025, 12, 29), at(2025, 12, 29), at(2026, 1, 5)),
        ("day", at(2024, 2, 29, 23, 59), at(2024, 2, 29), at(2024, 3, 1)),
        # 00:30 at +02:00 is 22:30 UTC the day before: periods are UTC.
        (
            "month",
            dt.datetime(2024, 3, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            at(2024, 2, 1),
            at(2024, 3, 1),
        ),
    ],
)
def test_period_boundaries_are_utc_and_deterministic(period, moment, start, end) -> None:
    assert partitions.period_start(moment, period) == start
    assert partitions.period_end(start, period) == end
    assert partitions.partition_name(start) == f"telemetry_resource_p{start:%Y%m%d}"


def test_an_unknown_period_is_refused() -> None:
    with pytest.raises(ValueError, match="TELEMETRY_PARTITION must be one of month, week, day, not 'year'"):
        partitions.period_start(at(2024, 1, 1), "year")


# --- SQLite ------------------------------------------------------------------------------------------------


@pytest.mark.sqlite
def test_on_sqlite_the_command_is_a_clear_no_op() -> None:
    out = io.StringIO()
    call_command("partitions", stdout=out)
    assert out.getvalue() == "partitioning needs PostgreSQL; the database is sqlite: nothing to do\n"
    with pytest.raises(partitions.PartitioningUnsupported, match="partitioning needs PostgreSQL"):
        partitions.partitions_maintain()
    partitions.partitions_maintain_periodically()  # the dispatcher's task: nothing, no error
    assert not partitions.is_partitioned()


# --- PostgreSQL --------------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_the_readings_table_is_partitioned_after_migrate() -> None:
    assert partitions.is_partitioned()
    current = partitions.period_start(dt.datetime.now(dt.UTC), "month")
    assert partitions.partition_name(current) in [p.name for p in partitions.partitions_list()]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = 'telemetry_resource_default'"
        )
        assert cursor.fetchone() == ("DEFAULT",)
        cursor.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'telemetry_resource_pkey'")
        assert cursor.fetchone() == ("PRIMARY KEY (id, measured_at)",)
        cursor.execute(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND confrelid = 'telemetry_resource'::regclass"
        )
        assert cursor.fetchone() == (0,)  # nothing references the partitioned table


@pytest.mark.postgres
def test_readings_land_in_their_period_and_wrong_clocks_in_the_default_partition(viewer) -> None:
    report = partitions.partitions_maintain(now=at(2024, 1, 10), ahead=1, retention_days=0)
    assert [p.name for p in report.created] == ["telemetry_resource_p20240101", "telemetry_resource_p20240201"]
    for moment, value in [
        (at(2024, 1, 20), 1.0),
        (at(2024, 2, 10), 2.0),
        (at(1970, 1, 2), 3.0),
        (at(2099, 5, 5), 4.0),
    ]:
        send("clock", moment, {"/3303/0/5700": value})
    assert partition_of(*ids("clock", 1.0)) == "telemetry_resource_p20240101"
    assert partition_of(*ids("clock", 2.0)) == "telemetry_resource_p20240201"
    assert partition_of(*ids("clock", 3.0)) == "telemetry_resource_default"
    assert partition_of(*ids("clock", 4.0)) == "telemetry_resource_default"

    # The history reads across every partition, oldest first; a range within two partitions too.
    client = logged_in(viewer)
    body = client.get("/api/v1/endpoints/clock/readings?path=/3303/0/5700").json()
    assert [item["value"] for item in body["items"]] == [3.0, 1.0, 2.0, 4.0]
    series = client.get(
        "/api/v1/endpoints/clock/series?path=/3303/0/5700&since=2024-01-01T00:00:00Z&until=2024-03-01T00:00:00Z"
    ).json()
    assert [p["value"] for p in series["points"]] == [1.0, 2.0]
    detail = client.get("/api/v1/endpoints/clock").json()
    assert [r["value"] for r in detail["resources"]] == [4.0]
    assert client.get("/endpoints/clock/").status_code == 200


@pytest.mark.postgres
def test_a_new_partition_takes_over_its_readings_from_the_default_partition(viewer) -> None:
    send("early", at(2024, 6, 10), {"/3303/0/5700": 7.0, "/3304/0/5700": 8.0})
    (reading,) = ids("early", 7.0)
    assert partition_of(reading) == "telemetry_resource_default"

    report = partitions.partitions_maintain(now=at(2024, 6, 1), ahead=0, retention_days=0)

    assert ([p.name for p in report.created], report.moved) == (["telemetry_resource_p20240601"], 2)
    assert partition_of(reading) == "telemetry_resource_p20240601"  # the same id: pointers still hold
    assert dangling() == (0, 0)
    assert [r["value"] for r in logged_in(viewer).get("/api/v1/endpoints/early").json()["resources"]] == [7.0, 8.0]


@pytest.mark.postgres
def test_retention_drops_old_partitions_and_what_points_at_them_but_keeps_latest_values(viewer) -> None:
    partitions.partitions_maintain(now=at(2024, 1, 10), ahead=2, retention_days=0)  # January to March
    old_event = send("busy", at(2024, 1, 15), {"/3303/0/5700": 1.0, "/3304/0/5700": 2.0})["event_id"]
    february_event = send("busy", at(2024, 2, 20), {"/3303/0/5700": 6.0, "/3304/0/5700": 7.0})["event_id"]
    march_event = send("busy", at(2024, 3, 5), {"/3303/0/5700": 3.0, "/3304/0/5700": 4.0})["event_id"]
    send("busy", at(1970, 1, 2), {"/3303/0/5700": 9.0})  # a wrong clock, in the default partition
    silent_event = send("silent", at(2024, 1, 16), {"/3303/0/5700": 5.0, "/3/0/3": "1.0.0"})["event_id"]
    silent_ids = sorted(ids("silent", 5.0) + ids("silent", "1.0.0"))
    latest_before = LatestValue.objects.count()

    # Cutoff 2024-02-19: January ends before it and goes; February ends after it and stays.
    report = partitions.partitions_maintain(now=at(2024, 3, 20), retention_days=30)

    assert [p.name for p in report.dropped] == ["telemetry_resource_p20240101"]
    assert "telemetry_resource_p20240101" not in [p.name for p in partitions.partitions_list()]
    assert "telemetry_resource_p20240201" in [p.name for p in partitions.partitions_list()]
    assert ids("busy", 1.0) == ids("busy", 2.0) == ids("busy", 9.0) == []
    assert not Event.objects.filter(pk=old_event).exists()
    assert EventResource.objects.filter(event_id__in=[february_event, march_event]).count() == 4
    # The silent device's last words stay (moved to the default partition, same ids), and so does their event.
    assert sorted(ids("silent", 5.0) + ids("silent", "1.0.0")) == silent_ids
    assert {partition_of(i) for i in silent_ids} == {"telemetry_resource_default"}
    assert EventResource.objects.filter(event_id=silent_event).count() == 2
    assert LatestValue.objects.count() == latest_before
    assert dangling() == (0, 0)
    assert (report.latest_kept, report.readings_deleted, report.links_deleted, report.events_deleted) == (2, 3, 2, 1)

    client = logged_in(viewer)
    assert "1.0.0" in client.get("/endpoints/silent/").content.decode()
    assert client.get("/endpoints/busy/").status_code == 200
    readings = client.get("/api/v1/endpoints/busy/readings?path=/3303/0/5700").json()["items"]
    assert [r["value"] for r in readings] == [6.0, 3.0]
    assert client.get("/api/v1/events?endpoint=busy").json()["count"] == 2

    # Once the silent device reports a newer temperature, its old one is no latest value: the next run
    # deletes it; the firmware version stays.
    send("silent", at(2024, 3, 10), {"/3303/0/5700": 5.5})
    again = partitions.partitions_maintain(now=at(2024, 3, 20), retention_days=30)
    assert (again.dropped, again.readings_deleted) == ([], 1)
    assert ids("silent", 5.0) == []
    assert ids("silent", "1.0.0") != []
    assert EventResource.objects.filter(event_id=silent_event).count() == 1
    assert dangling() == (0, 0)


@pytest.mark.postgres
def test_the_command_is_idempotent(settings) -> None:
    settings.TELEMETRY_RETENTION_DAYS = 0
    first, second = io.StringIO(), io.StringIO()
    call_command("partitions", "--ahead", "4", stdout=first)
    listed = partitions.partitions_list()
    call_command("partitions", "--ahead", "4", "--list", stdout=second)
    assert partitions.partitions_list() == listed
    assert "created" not in second.getvalue()
    assert "partitions up to date (one per month, 4 ahead)" in second.getvalue()
    assert "telemetry_resource_default (default)" in second.getvalue()


@pytest.mark.postgres
def test_a_changed_period_never_overlaps_existing_partitions() -> None:
    partitions.partitions_maintain(now=at(2024, 1, 10), ahead=0, retention_days=0)  # January 2024
    report = partitions.partitions_maintain(now=at(2024, 1, 30), ahead=3, period="day", retention_days=0)
    assert [p.name for p in report.created] == ["telemetry_resource_p20240201", "telemetry_resource_p20240202"]


@pytest.mark.postgres
def test_the_dispatchers_run_the_maintenance_once_an_hour(monkeypatch) -> None:
    assert partitions.partitions_maintain_periodically in hooks.periodic_tasks()
    calls = []
    monkeypatch.setattr(partitions, "partitions_maintain", lambda: calls.append(1) or partitions.Report())
    monkeypatch.setattr(partitions, "_periodic_last", None)
    partitions.partitions_maintain_periodically()
    partitions.partitions_maintain_periodically()
    assert calls == [1]
