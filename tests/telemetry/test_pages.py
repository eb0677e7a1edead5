"""The telemetry pages as each persona sees them (server-rendered; the live behaviour is in tests/browser)."""

from __future__ import annotations

import datetime as dt
import html

import pytest
from django.test import Client
from django.utils import timezone

from core.lwm2m.nodes import Path, Reading
from core.lwm2m.types import DataType
from telemetry.ingest import ingest
from telemetry.models import EndpointOperation

pytestmark = pytest.mark.django_db


def logged_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def temperatures(name: str, values: list[float]) -> None:
    start = int((timezone.now() - dt.timedelta(hours=1)).timestamp() * 1000)
    readings = [Reading(Path(3303, 0, 5700), DataType.FLOAT, v, start + i * 60_000) for i, v in enumerate(values)]
    ingest(endpoint_name=name, readings=readings)


@pytest.fixture
def fleet() -> None:
    ingest(
        endpoint_name="dev-a",
        readings=[
            Reading(Path(10240, 0, 0), DataType.TIME, 1),
            Reading(Path(3, 0, 0), DataType.STRING, "Acme"),
            Reading(Path(3, 0, 1), DataType.STRING, "FH-1"),
            Reading(Path(3, 0, 3), DataType.STRING, "1.2.0"),
            Reading(Path(3, 0, 9), DataType.INTEGER, 64),
        ],
    )
    temperatures("dev-a", [20.0, 21.0, 22.5])
    temperatures("dev-b", [5.0])


class TestDashboard:
    def test_it_shows_counts_rows_sparklines_and_events(self, viewer, fleet) -> None:
        page = logged_in(viewer).get("/").content.decode()
        assert '<span class="number">2</span> online' in page
        assert '<span class="number">0</span> updating' in page
        assert "dev-a" in page
        assert "1.2.0" in page
        assert "64 %" in page
        assert page.count('<svg class="sparkline"') == 1  # dev-b has a single reading: no line yet
        assert 'aria-label="from 20.0 to 22.5, now 22.5"' in page
        assert "Temperature" in page

    def test_htmx_filtering_returns_the_table_alone(self, viewer, fleet) -> None:
        response = logged_in(viewer).get("/?q=dev-b", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="device-table")
        body = response.content.decode()
        assert body.strip().startswith('<div id="device-table"')
        assert '<tbody id="endpoint-rows">' in body  # filtered: pushed new devices do not land here
        assert "dev-b" in body
        assert "dev-a" not in body

    def test_filters_work_without_javascript_too(self, viewer, fleet) -> None:
        page = logged_in(viewer).get("/?status=offline").content.decode()
        assert "No device matches." in page

    def test_an_empty_fleet_says_what_to_do(self, viewer) -> None:
        page = logged_in(viewer).get("/").content.decode()
        assert "No devices yet — point your Leshan bridge at" in page

    def test_a_user_without_a_role_is_refused(self, outsider) -> None:
        assert logged_in(outsider).get("/").status_code == 403


class TestDevicePage:
    def test_identity_history_values_and_chart_choices(self, viewer, fleet) -> None:
        page = logged_in(viewer).get("/endpoints/dev-a/").content.decode()
        assert "<dt>Manufacturer</dt><dd>Acme</dd>" in page
        assert "<dt>Model</dt><dd>FH-1</dd>" in page
        assert "registered</li>" in page
        assert 'data-path="/3303/0/5700"' in page
        assert '<option value="/3303/0/5700" selected>' in page
        assert "/api/v1/endpoints/dev-a/series" in page

    def test_a_time_value_reads_as_a_date(self, viewer, fleet) -> None:
        ingest(endpoint_name="dev-a", readings=[Reading(Path(3, 0, 13), DataType.TIME, 1_700_000_000_000)])
        page = logged_in(viewer).get("/endpoints/dev-a/").content.decode()
        latest = page.split('id="latest-values"')[1]
        assert '<time datetime="2023-11-14T22:13:20+00:00">2023-11-14 22:13:20 UTC</time>' in latest
        assert "1700000000000" not in latest.split("</table>")[0]

    def test_operators_get_controls_viewers_do_not(self, viewer, operator, fleet) -> None:
        assert "data-can-operate" not in logged_in(viewer).get("/endpoints/dev-a/").content.decode()
        assert "data-can-operate" in logged_in(operator).get("/endpoints/dev-a/").content.decode()

    def test_an_unknown_device_is_404(self, viewer) -> None:
        response = logged_in(viewer).get("/endpoints/nope/")
        assert response.status_code == 404
        assert "no endpoint named &#x27;nope&#x27;" in response.content.decode()

    def test_an_operator_queues_a_command(self, operator, fleet) -> None:
        client = logged_in(operator)
        form = {"kind": "write", "path": "/3/0/14", "value": "+02"}
        response = client.post("/endpoints/dev-a/commands/", form, HTTP_HX_REQUEST="true")
        assert response.status_code == 201
        assert "Queued: write /3/0/14." in response.content.decode()
        bad = client.post("/endpoints/dev-a/commands/", {**form, "path": "/3/0/9"}, HTTP_HX_REQUEST="true")
        assert bad.status_code == 200  # the form's answer, swapped in place (the API says 422)
        assert "Not queued: /3/0/9 (battery_level) is not writable" in bad.content.decode()
        assert EndpointOperation.objects.count() == 1

    @pytest.mark.parametrize(
        ("form", "reason"),
        [
            ({"kind": "write", "path": "/3/0/13", "value": "noon"}, '/3/0/13: TIME value "noon" is not an integer'),
            (
                {"kind": "write", "path": "/3/0/15", "value": "E" * 300},
                "/3/0/15: the value is 300 bytes long; at most 255 fit",
            ),
            (
                {"kind": "write", "path": "/3/0/14", "value": "€" * 100},
                "/3/0/14: the value is 300 bytes long; at most 255 fit",
            ),
            (
                {"kind": "write", "path": "/1/0/26", "value": "2"},
                "/1/0/26: the value is 2; the allowed range is 0 to 1",
            ),
            ({"kind": "read", "path": "/9999/0/1"}, "/9999/0/1 is not a resource the registry knows"),
            ({"kind": "read", "path": " /9999/0/1 "}, "/9999/0/1 is not a resource the registry knows"),
            ({"kind": "write", "path": "/3/0"}, "writing an instance needs values"),
            ({"kind": "launch", "path": "/3/0/4"}, "kind must be one of"),
        ],
    )
    def test_a_refused_command_says_why_and_queues_nothing(self, operator, fleet, form, reason) -> None:
        response = logged_in(operator).post("/endpoints/dev-a/commands/", form, HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        assert reason in html.unescape(response.content.decode())
        assert 'role="alert"' in response.content.decode()
        assert not EndpointOperation.objects.exists()

    def test_a_viewer_s_forged_command_is_refused(self, viewer, fleet) -> None:
        response = logged_in(viewer).post("/endpoints/dev-a/commands/", {"kind": "read", "path": "/3/0/9"})
        assert response.status_code == 403
        assert not EndpointOperation.objects.exists()


class TestEventsAndCommands:
    def test_the_events_page_filters(self, viewer, fleet) -> None:
        client = logged_in(viewer)
        assert "Temperature" in client.get("/events/?endpoint=dev-a&type=3303").content.decode()
        assert "No event matches." in client.get("/events/?type=9999").content.decode()
        assert client.get("/events/?endpoint=nope").status_code == 404

    def test_only_the_unfiltered_events_page_is_live(self, viewer, fleet) -> None:
        client = logged_in(viewer)
        assert 'ws-connect="/ws/events/"' in client.get("/events/").content.decode()
        filtered = client.get("/events/?endpoint=dev-a").content.decode()
        assert "ws-connect" not in filtered  # pushes are for every device: they would not match the filter
        assert "Show all, live" in filtered

    def test_the_commands_page_cancels_and_retries(self, operator, viewer, fleet) -> None:
        logged_in(operator).post("/endpoints/dev-a/commands/", {"kind": "read", "path": "/3/0/9"})
        operation = EndpointOperation.objects.get()
        page = logged_in(viewer).get("/operations/?status=queued").content.decode()
        assert f'id="operation-{operation.pk}"' in page
        assert logged_in(viewer).post(f"/operations/{operation.pk}/cancel/").status_code == 403
        response = logged_in(operator).post(f"/operations/{operation.pk}/cancel/", HTTP_HX_REQUEST="true")
        assert response.status_code == 204
        operation.refresh_from_db()
        assert operation.status == "CANCELLED"
        logged_in(operator).post(f"/operations/{operation.pk}/retry/")
        operation.refresh_from_db()
        assert operation.status == "QUEUED"
        assert 'id="operations-filtered"' in page  # a filtered list takes no pushed new commands
        assert 'id="operations-rows"' in logged_in(viewer).get("/operations/").content.decode()
        bad = logged_in(operator).get("/operations/?status=lost")
        assert bad.status_code == 422
