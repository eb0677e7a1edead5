"""The pages of a large fleet: the dashboard's device table paged and sorted in the database, the events and
commands pages by cursor with filters, the device page's readings table and CSV link. Bad parameters are a
422 page naming them, never a 500. (The live side, in a browser: tests/browser/test_fleet_pages.py.)"""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from core.lwm2m.nodes import Path, Reading
from core.lwm2m.types import DataType
from core.models import Endpoint, ResourceType
from telemetry import partials
from telemetry.ingest import ingest
from telemetry.models import EndpointOperation, Event, LatestValue, Resource

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page(client: Client, url: str, status: int = 200, **headers: str) -> str:
    response = client.get(url, **headers)
    assert response.status_code == status, response.content.decode()[:500]
    return response.content.decode()


def summary(start: str, end: str, total: str) -> str:
    """The pager's summary, "51\u2013100 of 4,210" (with an en dash)."""
    return f"{start}\u2013{end} of {total}"


def names_in_table(html: str) -> list[str]:
    body = html.split('id="endpoint-rows"')[1].split("</tbody>")[0]
    return re.findall(r'<a href="/endpoints/[^"]+/">([^<]+)</a>', body)


def link(html: str, rel: str) -> str:
    found = re.search(rf'<a href="([^"]*)" rel="{rel}">', html)
    assert found, f"no {rel} link"
    return found.group(1).replace("&amp;", "&")


def insert_readings(rows: list[tuple[int, ResourceType, str, object, dt.datetime]]) -> None:
    """(endpoint id, resource type, value column, value, measured at) as readings at instance 0, in one
    statement: thousands of rows in a moment (the ORM's bulk_create takes seconds for them)."""
    q = connection.ops.quote_name
    adapt = connection.ops.adapt_datetimefield_value
    columns = ("endpoint_id", "resource_type_id", "object_instance_id", "value_str", "value_int", "value_float")
    sql = (
        f"INSERT INTO {q(Resource._meta.db_table)} ({', '.join(q(c) for c in columns)}, {q('measured_at')}, "
        f"{q('received_at')}) VALUES (%s, %s, 0, %s, %s, %s, %s, %s)"
    )
    params = [
        (
            endpoint_id,
            resource_type.pk,
            value if column == "value_str" else None,
            value if column == "value_int" else None,
            value if column == "value_float" else None,
            adapt(at),
            adapt(at),
        )
        for endpoint_id, resource_type, column, value, at in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def devices(count: int, *, prefix: str = "dev") -> list[Endpoint]:
    """``count`` devices, last seen a minute apart (the first the most recent), with firmware 1.0.<i % 7>
    and battery i % 101 % as their latest values (a reading each and its latest-value pointer, as the
    ingest keeps them)."""
    now = timezone.now()
    endpoints = Endpoint.objects.bulk_create(
        Endpoint(name=f"{prefix}-{i:05d}", online=True, last_seen_at=now - dt.timedelta(minutes=i))
        for i in range(count)
    )
    firmware = ResourceType.objects.get(object_id=3, resource_id=3)
    battery = ResourceType.objects.get(object_id=3, resource_id=9)
    rows: list[tuple[int, ResourceType, str, object, dt.datetime]] = []
    for i, endpoint in enumerate(endpoints):
        rows += [
            (endpoint.pk, firmware, "value_str", f"1.0.{i % 7}", now),
            (endpoint.pk, battery, "value_int", i % 101, now),
        ]
    insert_readings(rows)
    q = connection.ops.quote_name
    latest, readings, types = (q(m._meta.db_table) for m in (LatestValue, Resource, ResourceType))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {latest} ({q('endpoint_id')}, {q('path')}, {q('resource_id')}, {q('measured_at')}) "
            f"SELECT r.{q('endpoint_id')}, '/3/0/' || CAST(t.{q('resource_id')} AS TEXT), r.{q('id')}, "
            f"r.{q('measured_at')} FROM {readings} r JOIN {types} t ON t.{q('id')} = r.{q('resource_type_id')} "
            f"JOIN {q(Endpoint._meta.db_table)} e ON e.{q('id')} = r.{q('endpoint_id')} "
            f"WHERE t.{q('id')} IN (%s, %s) AND e.{q('name')} LIKE %s",
            [firmware.pk, battery.pk, f"{prefix}-%"],
        )
    return endpoints


class TestDeviceTable:
    def test_it_shows_a_page_of_50_with_the_total_and_links_to_the_others(self, viewer) -> None:
        devices(122)
        client = logged_in(viewer)
        first = page(client, "/")
        assert summary("1", "50", "122") in first
        assert names_in_table(first) == [f"dev-{i:05d}" for i in range(50)]  # newest seen first
        assert link(first, "next") == "/?page=2"
        assert link(first, "last") == "/?page=3"
        last = page(client, "/?page=3")
        assert summary("101", "122", "122") in last
        assert names_in_table(last) == [f"dev-{i:05d}" for i in range(100, 122)]
        assert link(last, "prev") == "/?page=2"
        assert 'rel="next"' not in last

    def test_the_total_has_thousands_separators(self, viewer) -> None:
        devices(1001)
        assert summary("51", "100", "1,001") in page(logged_in(viewer), "/?page=2")

    def test_a_page_past_the_end_is_the_last_page(self, viewer) -> None:
        devices(60)
        html = page(logged_in(viewer), "/?page=99")
        assert summary("51", "60", "60") in html
        assert names_in_table(html) == [f"dev-{i:05d}" for i in range(50, 60)]

    @pytest.mark.parametrize(
        ("query", "message"),
        [
            ("page=0", "page: page must be a whole number, 1 or more"),
            ("page=two", "page: page must be a whole number, 1 or more"),
            ("page=-1", "page: page must be a whole number, 1 or more"),
            ("page=99999999999999999999", "page: page must be a whole number, 1 or more"),
            ("sort=voltage", "sort: sort must be one of name, -name, state, -state, last_seen"),
            ("sort=--name", "sort: sort must be one of"),
            ("status=asleep", "status: status must be one of online, sleeping, offline"),
        ],
    )
    def test_a_bad_parameter_is_a_422_page_naming_it(self, viewer, query: str, message: str) -> None:
        devices(3)
        html = page(logged_in(viewer), f"/?{query}", status=422)
        assert message in html

    @pytest.mark.parametrize(
        ("sort", "expected"),
        [
            ("name", ["a-low", "b-none", "c-high", "d-mid"]),
            ("-name", ["d-mid", "c-high", "b-none", "a-low"]),
            ("battery", ["a-low", "d-mid", "c-high", "b-none"]),  # never reported: last either way
            ("-battery", ["c-high", "d-mid", "a-low", "b-none"]),
            ("firmware", ["c-high", "d-mid", "a-low", "b-none"]),  # as text: 1.10.0 < 1.2.0 < 1.9.0
            ("-firmware", ["a-low", "d-mid", "c-high", "b-none"]),
            ("state", ["c-high", "d-mid", "a-low", "b-none"]),  # online, sleeping, offline; ties by name
            ("-state", ["b-none", "a-low", "c-high", "d-mid"]),
            ("last_seen", ["b-none", "a-low", "d-mid", "c-high"]),  # never seen is the oldest
            ("-last_seen", ["c-high", "d-mid", "a-low", "b-none"]),
        ],
    )
    def test_it_sorts_by_each_column_in_the_database(self, viewer, sort: str, expected: list[str]) -> None:
        for name, firmware, battery in (("a-low", "1.9.0", 5), ("c-high", "1.10.0", 97), ("d-mid", "1.2.0", 50)):
            ingest(
                endpoint_name=name,
                readings=[
                    Reading(Path(3, 0, 3), DataType.STRING, firmware),
                    Reading(Path(3, 0, 9), DataType.INTEGER, battery),
                ],
            )
        Endpoint.objects.create(name="b-none")  # never heard from: offline, no firmware, no battery
        Endpoint.objects.filter(name="a-low").update(sleeping=True, last_seen_at=T0)
        Endpoint.objects.filter(name="d-mid").update(last_seen_at=T0 + dt.timedelta(hours=1))
        assert names_in_table(page(logged_in(viewer), f"/?sort={sort}")) == expected

    def test_the_newest_firmware_and_battery_reading_decide_the_order(self, viewer) -> None:
        for name, battery in (("x", 10), ("y", 50)):
            ingest(endpoint_name=name, readings=[Reading(Path(3, 0, 9), DataType.INTEGER, battery)])
        ingest(endpoint_name="x", readings=[Reading(Path(3, 0, 9), DataType.INTEGER, 90)])
        assert names_in_table(page(logged_in(viewer), "/?sort=battery")) == ["y", "x"]

    def test_sorting_pages_through_the_whole_fleet_not_one_page(self, viewer) -> None:
        devices(120)  # battery i % 101: 0 at dev-00000 and dev-00101, 1 at dev-00001 and dev-00102, ...
        html = page(logged_in(viewer), "/?sort=battery&page=1")
        assert names_in_table(html)[:4] == ["dev-00000", "dev-00101", "dev-00001", "dev-00102"]
        assert names_in_table(page(logged_in(viewer), "/?sort=-battery"))[0] == "dev-00100"

    def test_filters_and_sort_are_kept_in_every_link(self, viewer) -> None:
        devices(130)
        html = page(logged_in(viewer), "/?q=dev-000&status=online&sort=battery&page=2")
        assert summary("51", "100", "100") in html
        next_page = parse_qs(urlsplit(link(html, "prev")).query)
        assert next_page == {"q": ["dev-000"], "status": ["online"], "sort": ["battery"]}
        headers = dict(re.findall(r'<a class="sort" href="([^"]+)">([^<]+)</a>', html))
        by_label = {label: parse_qs(urlsplit(href.replace("&amp;", "&")).query) for href, label in headers.items()}
        assert by_label["Battery"]["sort"] == ["-battery"]  # the sorted column turns around
        assert by_label["Device"] == {"q": ["dev-000"], "status": ["online"], "sort": ["name"]}
        assert "page" not in by_label["Last seen"]  # a new order starts on its first page
        assert 'aria-sort="ascending"' in html.split("Battery")[0].rsplit("<th", 1)[1]
        assert '<input type="hidden" name="sort" value="battery" form="find-devices">' in html

    def test_htmx_asks_for_the_table_alone(self, viewer) -> None:
        devices(60)
        html = page(logged_in(viewer), "/?sort=name&page=2", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="device-table")
        assert html.strip().startswith('<div id="device-table"')
        assert "<h1>" not in html
        assert summary("51", "60", "60") in html

    def test_only_the_first_page_of_the_default_order_unfiltered_takes_new_devices(self, viewer) -> None:
        devices(60)
        client = logged_in(viewer)
        assert '<tbody id="endpoint-rows" data-new-rows>' in page(client, "/")
        for query in ("page=2", "sort=name", "q=dev", "status=online", "sort=-last_seen&page=2"):
            html = page(client, f"/?{query}")
            assert '<tbody id="endpoint-rows">' in html, query

    def test_a_pushed_new_device_row_goes_only_where_new_rows_are_taken(self) -> None:
        endpoint = devices(1)[0]
        html = partials.render_endpoint_row(endpoint.pk, insert=True)
        assert html.startswith('<tbody hx-swap-oob="afterbegin:#endpoint-rows[data-new-rows]">')
        assert f'<tr id="endpoint-row-{endpoint.pk}" data-site="">' in html
        replaced = partials.render_endpoint_row(endpoint.pk)
        assert f'<tr id="endpoint-row-{endpoint.pk}" data-site="" hx-swap-oob="true">' in replaced  # in place, by id

    def test_a_page_of_50_of_5000_devices_is_a_constant_number_of_queries(
        self, viewer, django_assert_num_queries
    ) -> None:
        endpoints = devices(5000)
        temperature = ResourceType.objects.get(object_id=3303, resource_id=5700)
        now = timezone.now()
        insert_readings(
            [
                (e.pk, temperature, "value_float", 20.0 + i, now - dt.timedelta(minutes=i))
                for e in endpoints
                for i in range(3)
            ]
        )
        ingest(  # and some events
            endpoint_name="dev-00000",
            readings=[
                Reading(Path(3303, 0, 5700), DataType.FLOAT, 1.0),
                Reading(Path(3304, 0, 5700), DataType.FLOAT, 2.0),
            ],
        )
        client = logged_in(viewer)
        page(client, "/")  # the session and the registry's cache warm up
        for sort in ("-last_seen", "name", "-state", "firmware", "-battery"):
            # session, user, role groups, fleet counts, firmware updating count, the device count, the page of
            # devices (sorted by a subquery for firmware and battery; their sites joined), their labels, their
            # firmware and battery, their sparklines, their worst open alarms, the newest events and their
            # values (two), the sites and labels to filter by, the user's site roles, the alarms panel (open
            # counts, the newest open) and the navigation's alarms badge
            with django_assert_num_queries(20):
                html = page(client, f"/?sort={sort}&page=37")
            assert summary("1,801", "1,850", "5,000") in html
            assert len(names_in_table(html)) == 50
            assert html.count('<svg class="sparkline"') == 50


def make_events(count: int, *, endpoint: Endpoint, event_type: str = "3303+3304") -> list[Event]:
    """``count`` events a minute apart from T0 (ids in the same order), the last the newest."""
    return Event.objects.bulk_create(
        Event(
            endpoint=endpoint,
            event_type=event_type,
            description=f"event {i:03d}",
            measured_at=T0 + dt.timedelta(minutes=i),
            created_at=T0 + dt.timedelta(minutes=i),
        )
        for i in range(count)
    )


def descriptions(html: str) -> list[str]:
    return re.findall(r'<span class="event-type">event (\d+)</span>', html.split('id="events"')[1])


class TestEventsPage:
    def test_it_pages_back_to_older_events_and_forward_again(self, viewer) -> None:
        make_events(120, endpoint=Endpoint.objects.create(name="dev"))
        client = logged_in(viewer)
        newest = page(client, "/events/")
        assert descriptions(newest) == [f"{i:03d}" for i in range(119, 69, -1)]
        assert 'rel="prev"' not in newest
        assert 'rel="first"' not in newest
        second = page(client, link(newest, "next"))
        assert descriptions(second) == [f"{i:03d}" for i in range(69, 19, -1)]
        third = page(client, link(second, "next"))
        assert descriptions(third) == [f"{i:03d}" for i in range(19, -1, -1)]
        assert 'rel="next"' not in third  # the oldest
        back = page(client, link(third, "prev"))
        assert descriptions(back) == descriptions(second)
        assert descriptions(page(client, link(back, "prev"))) == descriptions(newest)
        assert descriptions(page(client, link(third, "first"))) == descriptions(newest)

    def test_new_events_do_not_shift_the_older_pages(self, viewer) -> None:
        endpoint = Endpoint.objects.create(name="dev")
        make_events(60, endpoint=endpoint)
        client = logged_in(viewer)
        older = link(page(client, "/events/"), "next")
        Event.objects.create(
            endpoint=endpoint, event_type="3303", description="event 999", measured_at=T0 + dt.timedelta(days=1),
            created_at=T0,
        )  # fmt: skip
        assert descriptions(page(client, older)) == [f"{i:03d}" for i in range(9, -1, -1)]

    def test_only_the_newest_unfiltered_page_is_live(self, viewer) -> None:
        make_events(60, endpoint=Endpoint.objects.create(name="dev"))
        client = logged_in(viewer)
        newest = page(client, "/events/")
        assert 'ws-connect="/ws/events/"' in newest
        older = page(client, link(newest, "next"))
        assert "ws-connect" not in older
        assert "Older events, as of loading the page; the newest are live." in older
        assert "ws-connect" not in page(client, "/events/?type=3303")

    @pytest.mark.parametrize(
        ("wanted", "matches"),
        [
            ("3", ["3", "3+3303", "3+5+3303"]),
            ("3303", ["3+3303", "3303", "3303+3304", "3+5+3303"]),
            ("3304", ["3303+3304"]),
            ("3303+3", ["3+3303", "3+5+3303"]),
            ("3303 3", ["3+3303", "3+5+3303"]),  # a + typed into a URL arrives as a space
            ("5", ["3+5+3303"]),
            ("33", ["33+330"]),
            ("330", ["33+330"]),
            ("330+3304", []),
            ("03", ["3", "3+3303", "3+5+3303"]),
        ],
    )
    def test_the_type_filter_matches_object_ids_in_the_type(self, viewer, wanted: str, matches: list[str]) -> None:
        endpoint = Endpoint.objects.create(name="dev")
        for i, event_type in enumerate(["3", "3+3303", "3303", "3303+3304", "3+5+3303", "33+330"]):
            at = T0 - dt.timedelta(minutes=i)
            Event.objects.create(
                endpoint=endpoint, event_type=event_type, description=event_type, measured_at=at, created_at=at
            )
        html = page(logged_in(viewer), f"/events/?type={wanted.replace('+', '%2B')}")
        shown = re.findall(r'<span class="event-type">([^<]+)</span>', html.split('id="events"')[1])
        assert shown == matches

    def test_it_filters_by_time_in_the_browser_s_zone(self, viewer) -> None:
        make_events(120, endpoint=Endpoint.objects.create(name="dev"))  # T0 is 2026-11-01 00:00 UTC
        client = logged_in(viewer)
        # 01:10 to 01:20 in Berlin (UTC+1 in November) is 00:10 to 00:20 UTC: events 10 to 19
        html = page(client, "/events/?since=2026-11-01T01:10&until=2026-11-01T01:20&tz=Europe/Berlin")
        assert descriptions(html) == [f"{i:03d}" for i in range(19, 9, -1)]
        assert 'value="2026-11-01T01:10"' in html  # shown again in the form
        utc = page(client, "/events/?since=2026-11-01T01:10&until=2026-11-01T01:20")  # no zone: UTC
        assert descriptions(utc) == [f"{i:03d}" for i in range(79, 69, -1)]
        offset = page(client, "/events/?since=2026-11-01T00:10:00%2B00:00&until=2026-11-01T00:12:00Z")
        assert descriptions(offset) == ["011", "010"]

    def test_the_time_range_is_kept_in_the_older_link(self, viewer) -> None:
        make_events(120, endpoint=Endpoint.objects.create(name="dev"))
        html = page(logged_in(viewer), "/events/?since=2026-11-01T00:30&tz=Europe/Berlin&type=3303")
        query = parse_qs(urlsplit(link(html, "next")).query)
        assert (query["since"], query["tz"], query["type"]) == (["2026-11-01T00:30"], ["Europe/Berlin"], ["3303"])

    @pytest.mark.parametrize(
        ("query", "status", "message"),
        [
            ("before=!!!", 422, "before: this link&#x27;s cursor is not one Fieldhub gave out"),
            ("after=bm90LWEta2V5", 422, "after: this link&#x27;s cursor is not one Fieldhub gave out"),
            ("before=MTox&after=MTox", 422, "after: give before or after, not both"),
            ("since=yesterday", 422, "since: &#x27;yesterday&#x27; is not a date and time, e.g. 2026-11-01T10:00"),
            ("until=2026-13-01T00:00", 422, "until: &#x27;2026-13-01T00:00&#x27; is not a date and time"),
            ("since=0001-01-01T00:00%2B01:00", 422, "since: &#x27;0001-01-01T00:00+01:00&#x27; is outside the years"),
            ("since=2026-11-02&until=2026-11-01", 422, "since: since must be before until"),
            ("since=2026-11-01&tz=Mars/Olympus", 422, "tz: unknown time zone &#x27;Mars/Olympus&#x27;"),
            ("since=2026-11-01&tz=../../etc/passwd", 422, "tz: unknown time zone"),
            ("type=temperature", 422, "type: type is object ids joined by +, e.g. 3303 or 3303+3304"),
            ("type=99999", 422, "type: type is object ids joined by +"),
            ("type=%C2%B2", 422, "type: type is object ids joined by +"),
            ("endpoint=nope", 404, "no endpoint named &#x27;nope&#x27;"),
        ],
    )
    def test_a_bad_parameter_is_a_4xx_page_naming_it(self, viewer, query: str, status: int, message: str) -> None:
        make_events(3, endpoint=Endpoint.objects.create(name="dev"))
        assert message in page(logged_in(viewer), f"/events/?{query}", status=status)

    def test_a_page_of_events_is_a_constant_number_of_queries(self, viewer, django_assert_num_queries) -> None:
        for i in range(60):
            ingest(
                endpoint_name=f"d{i % 7}",
                readings=[
                    Reading(Path(3303, 0, 5700), DataType.FLOAT, 1.0),
                    Reading(Path(3, 0, 9), DataType.INTEGER, i),
                ],
            )
        client = logged_in(viewer)
        older = link(page(client, "/events/"), "next")
        # session, user, role groups, site roles, the alarms badge, the events, their values (two)
        with django_assert_num_queries(8):
            html = page(client, older)
        assert html.split('id="events"')[1].count('<li id="event-') == 10


def make_operations(count: int, *, endpoint: Endpoint, status: str = "QUEUED") -> list[EndpointOperation]:
    return EndpointOperation.objects.bulk_create(
        EndpointOperation(endpoint=endpoint, kind="READ", path=f"/3/0/{i}", status=status) for i in range(count)
    )


def operation_paths(html: str) -> list[int]:
    return [int(n) for n in re.findall(r"<code>/3/0/(\d+)</code>", html)]


class TestCommandsPage:
    def test_it_pages_back_beyond_the_newest_50(self, viewer) -> None:
        make_operations(120, endpoint=Endpoint.objects.create(name="dev"))
        client = logged_in(viewer)
        newest = page(client, "/operations/")
        assert operation_paths(newest) == list(range(119, 69, -1))
        second = page(client, link(newest, "next"))
        assert operation_paths(second) == list(range(69, 19, -1))
        third = page(client, link(second, "next"))
        assert operation_paths(third) == list(range(19, -1, -1))
        assert operation_paths(page(client, link(third, "prev"))) == operation_paths(second)
        assert operation_paths(page(client, link(second, "first"))) == operation_paths(newest)

    def test_only_the_newest_unfiltered_page_takes_new_commands(self, viewer) -> None:
        make_operations(60, endpoint=Endpoint.objects.create(name="dev"))
        client = logged_in(viewer)
        newest = page(client, "/operations/")
        assert 'id="operations-rows"' in newest
        assert 'id="operations-filtered"' in page(client, link(newest, "next"))
        assert 'id="operations-filtered"' in page(client, "/operations/?since=2026-01-01")

    def test_it_filters_by_device_state_and_time_queued(self, viewer) -> None:
        first, second = Endpoint.objects.create(name="one"), Endpoint.objects.create(name="two")
        make_operations(3, endpoint=first)
        make_operations(2, endpoint=second, status="FAILED")
        EndpointOperation.objects.filter(endpoint=first, path="/3/0/0").update(created_at=T0)
        client = logged_in(viewer)
        assert operation_paths(page(client, "/operations/?endpoint=two&status=failed")) == [1, 0]
        assert operation_paths(page(client, "/operations/?until=2026-11-01T00:00:01")) == [0]
        assert operation_paths(page(client, "/operations/?endpoint=one&since=2026-11-02")) == [2, 1]

    @pytest.mark.parametrize(
        ("query", "message"),
        [
            ("before=zzz", "before: this link&#x27;s cursor is not one Fieldhub gave out"),
            ("since=soon", "since: &#x27;soon&#x27; is not a date and time"),
            ("status=lost", "status: status must be one of queued, sending, confirmed, failed, cancelled"),
        ],
    )
    def test_a_bad_parameter_is_a_422_page_naming_it(self, viewer, query: str, message: str) -> None:
        assert message in page(logged_in(viewer), f"/operations/?{query}", status=422)


def temperatures(name: str, count: int, *, path: str = "/3303/0/5700") -> None:
    parsed = Path.parse(path)
    start = int(T0.timestamp() * 1000)
    ingest(
        endpoint_name=name,
        readings=[Reading(parsed, DataType.FLOAT, float(i), start + i * 60_000) for i in range(count)],
    )


def reading_values(html: str) -> list[str]:
    table = html.split('<table class="readings">')[1].split("</table>")[0]
    return re.findall(r'<td class="value">([^<]*)</td>', table)


class TestReadingsTable:
    def test_it_shows_the_main_sensor_newest_first_a_page_at_a_time(self, viewer) -> None:
        temperatures("dev", 120)
        ingest(endpoint_name="dev", readings=[Reading(Path(3, 0, 9), DataType.INTEGER, 70)])
        client = logged_in(viewer)
        newest = page(client, "/endpoints/dev/")
        assert '<option value="/3303/0/5700" selected>' in newest.split('id="readings-path"')[1]
        assert reading_values(newest) == [f"{float(i)}" for i in range(119, 69, -1)]
        older = page(client, link(newest.split('id="readings"')[1], "next"))
        assert reading_values(older) == [f"{float(i)}" for i in range(69, 19, -1)]
        oldest = page(client, link(older.split('id="readings"')[1], "next"))
        assert reading_values(oldest) == [f"{float(i)}" for i in range(19, -1, -1)]
        assert 'rel="next"' not in oldest.split('id="readings"')[1].split("</table>")[1].split("</div>")[0]

    def test_another_resource_is_chosen_by_path(self, viewer) -> None:
        temperatures("dev", 3)
        ingest(endpoint_name="dev", readings=[Reading(Path(3, 0, 9), DataType.INTEGER, 70)])
        html = page(logged_in(viewer), "/endpoints/dev/?path=/3/0/9")
        assert reading_values(html) == ["70"]
        assert '<option value="/3/0/9" selected>' in html

    def test_htmx_asks_for_the_table_alone(self, viewer) -> None:
        temperatures("dev", 3)
        html = page(
            logged_in(viewer), "/endpoints/dev/?path=/3303/0/5700", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="readings"
        )
        assert html.strip().startswith('<div id="readings"')
        assert reading_values(html) == ["2.0", "1.0", "0.0"]

    def test_the_export_csv_button_links_to_the_api_s_csv_of_the_resource(self, viewer) -> None:
        temperatures("urn:imei:1", 3)
        client = logged_in(viewer)
        html = page(client, "/endpoints/urn:imei:1/")
        found = re.search(r'<a class="button secondary small" href="([^"]+)" download>Export CSV</a>', html)
        assert found
        url = found.group(1)
        assert url == "/api/v1/endpoints/urn%3Aimei%3A1/export.csv?path=%2F3303%2F0%2F5700"
        response = client.get(url)  # the browser's session is enough
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        lines = b"".join(response.streaming_content).decode().splitlines()
        assert lines[0] == "measured_at,received_at,path,resource,data_type,units,value"
        assert len(lines) == 4
        assert '<a class="small" href="/api/v1/endpoints/urn%3Aimei%3A1/export.csv" download>' in html

    def test_the_value_column_names_the_device_s_sensor_units(self, viewer) -> None:
        temperatures("dev", 2)
        ingest(endpoint_name="dev", readings=[Reading(Path(3303, 0, 5701), DataType.STRING, "Cel")])
        html = page(logged_in(viewer), "/endpoints/dev/")
        assert 'Value <span class="units">(Cel)</span>' in html
        series = logged_in(viewer).get("/api/v1/endpoints/dev/series?path=/3303/0/5700").json()
        assert series["units"] == "Cel"  # the chart's axis says it too

    def test_the_registry_s_units_come_first(self, viewer) -> None:
        ingest(endpoint_name="dev", readings=[Reading(Path(3, 0, 9), DataType.INTEGER, 80)])
        series = logged_in(viewer).get("/api/v1/endpoints/dev/series?path=/3/0/9").json()
        assert series["units"] == "/100"
        assert 'Value <span class="units">(/100)</span>' in page(logged_in(viewer), "/endpoints/dev/?path=/3/0/9")

    @pytest.mark.parametrize(
        ("query", "status", "message"),
        [
            ("path=/3303/0/5700&before=%25%25", 422, "before: this link&#x27;s cursor is not one Fieldhub gave out"),
            ("path=/3303", 422, "path: path must name a resource, e.g. /3303/0/5700"),
            ("path=/9999/0/1", 404, "path: no resource type /9999/1"),
            ("path=temperature", 422, "path:"),
        ],
    )
    def test_a_bad_parameter_is_a_4xx_page_naming_it(self, viewer, query: str, status: int, message: str) -> None:
        temperatures("dev", 2)
        assert message in page(logged_in(viewer), f"/endpoints/dev/?{query}", status=status)

    def test_a_device_without_readings_says_so(self, viewer) -> None:
        Endpoint.objects.create(name="quiet")
        html = page(logged_in(viewer), "/endpoints/quiet/")
        assert "This device has reported no values yet." in html.split('id="readings"')[1]
