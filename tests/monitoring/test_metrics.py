"""/metrics in one process: who may read it, and the figures moving by what was done."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from prometheus_client import REGISTRY, generate_latest

from core.leshan import ServerEvent
from core.lwm2m.nodes import Path, Reading
from core.lwm2m.types import DataType
from core.models import Endpoint
from core.permissions import SYSTEM
from core.simulator.double.server import LeshanDouble
from firmware.services import firmware_update_start
from realtime.publisher import Stats
from telemetry import ingest
from telemetry.downlink import queue
from telemetry.downlink.dispatcher import Dispatcher
from telemetry.leshan_events import LeshanFollower
from telemetry.models import EndpointOperation
from tests.factories import make_firmware, make_user
from tests.monitoring.scrape import Samples, parse, scrape, value
from tests.realtime.live import connect, disconnect_all
from tests.telemetry.bridge_client import post, single
from tests.telemetry.test_downlink import simulated

TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture
def metrics_on(settings: Any) -> None:
    settings.METRICS_TOKEN = TOKEN


# --- who may read it ---------------------------------------------------------------------------------------


@pytest.mark.django_db
class TestAccess:
    def test_it_does_not_exist_without_a_token_or_networks(self, client: Client, settings: Any) -> None:
        settings.METRICS_TOKEN, settings.METRICS_ALLOW = "", []
        assert client.get("/metrics").status_code == 404
        assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404

    def test_the_token_is_needed(self, client: Client, metrics_on: None) -> None:
        refused = client.get("/metrics")
        assert refused.status_code == 403
        assert b"METRICS_TOKEN" in refused.content
        assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
        assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 403
        assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200

    def test_a_login_is_not_enough(self, client: Client, metrics_on: None) -> None:
        client.force_login(make_user(is_superuser=True, is_staff=True))
        assert client.get("/metrics").status_code == 403

    def test_a_trusted_network_needs_no_token(self, settings: Any) -> None:
        settings.METRICS_TOKEN = ""
        settings.METRICS_ALLOW = [ipaddress.ip_network("10.1.0.0/16")]
        assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
        assert Client(REMOTE_ADDR="10.2.0.1").get("/metrics").status_code == 403
        # A token is checked where one is sent: a wrong one is refused from the trusted network too.
        assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics", HTTP_AUTHORIZATION="Bearer x").status_code == 403

    def test_behind_a_trusted_proxy_the_forwarded_address_counts(self, settings: Any) -> None:
        settings.METRICS_ALLOW = [ipaddress.ip_network("10.1.0.0/16")]
        settings.TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.1/32")]
        proxied = Client(REMOTE_ADDR="127.0.0.1")
        assert proxied.get("/metrics", HTTP_X_FORWARDED_FOR="10.1.0.9").status_code == 200
        assert proxied.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.5").status_code == 403

    def test_it_answers_only_get(self, client: Client, metrics_on: None) -> None:
        assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


# --- the figures -------------------------------------------------------------------------------------------


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


@pytest.mark.django_db
def test_bridge_posts_count_by_route_and_status_with_resources_and_latency(client: Client, metrics_on: None) -> None:
    before = scrape(client, TOKEN)
    for i in range(3):
        assert post(client, "single", single(f"dev-{i}", "/3303/0/5700", "FLOAT", 20.5)).status_code == 201
    assert post(client, "single", {"ep": "dev-x"}).status_code == 422
    after = scrape(client, TOKEN)
    route = "leshan_api/resource/single"
    assert delta(before, after, "fieldhub_bridge_posts_total", route=route, status="201") == 3
    assert delta(before, after, "fieldhub_bridge_posts_total", route=route, status="422") == 1
    assert delta(before, after, "fieldhub_http_requests_total", route=route, method="POST", status="201") == 3
    assert delta(before, after, "fieldhub_http_request_duration_seconds_count", route=route) == 4
    assert delta(before, after, "fieldhub_resources_stored_total") == 3
    assert delta(before, after, "fieldhub_ingest_posts_total") == 3
    assert delta(before, after, "fieldhub_ingest_duration_seconds_count") == 3
    assert value(after, "fieldhub_devices", state="online") == 3
    assert value(after, "fieldhub_devices_registered") == 3
    assert value(after, "fieldhub_devices_by_site", site="") == 3
    assert value(after, "fieldhub_health_up", check="database") == 1
    assert value(after, "fieldhub_health_up", check="channel_layer") == 1
    # The scrape does not count itself.
    assert value(after, "fieldhub_http_requests_total", route="metrics", method="GET", status="200") == 0


@pytest.mark.django_db
def test_api_requests_are_labelled_by_route_template_not_by_device(client: Client, metrics_on: None) -> None:
    user = make_user(is_superuser=True)
    client.force_login(user)
    before = scrape(client, TOKEN)
    for name in ("a", "b"):
        ingest.ingest(endpoint_name=name, readings=[Reading(Path(3303, 0, 5700), DataType.FLOAT, 1.0)])
        assert client.get(f"/api/v1/endpoints/{name}").status_code == 200
    assert client.get("/api/v1/endpoints/nobody").status_code == 404
    after = scrape(client, TOKEN)
    route = "api/v1/endpoints/<endpoint>"
    assert delta(before, after, "fieldhub_http_requests_total", route=route, method="GET", status="200") == 2
    assert delta(before, after, "fieldhub_http_requests_total", route=route, method="GET", status="404") == 1
    assert not [key for key in after if any(v in ("a", "b", "nobody") for _, v in key[1])]


@pytest.mark.django_db
def test_devices_by_state_and_site(client: Client, metrics_on: None) -> None:
    from core.models import Site

    north = Site.objects.create(name="North")
    Endpoint.objects.create(name="on", online=True, site=north, registration_state="REGISTERED")
    Endpoint.objects.create(name="zz", online=True, sleeping=True, site=north)
    Endpoint.objects.create(name="off")
    samples = scrape(client, TOKEN)
    assert [value(samples, "fieldhub_devices", state=s) for s in ("online", "sleeping", "offline")] == [1, 1, 1]
    assert value(samples, "fieldhub_devices_registered") == 1
    assert value(samples, "fieldhub_devices_by_site", site="North") == 2
    assert value(samples, "fieldhub_devices_by_site", site="") == 1


@pytest.mark.django_db
def test_the_database_counts_are_one_query_each(
    client: Client, metrics_on: None, django_assert_max_num_queries
) -> None:
    Endpoint.objects.create(name="one")
    # database health, its size (PostgreSQL), devices, queue, rollouts, alarms, outbox, firmware updates, campaigns
    with django_assert_max_num_queries(9):
        samples = scrape(client, TOKEN)
    assert value(samples, "fieldhub_database_size_bytes") > 0


@pytest.fixture
def leshan(settings: Any):
    double = LeshanDouble(clients=[simulated()])
    with double.run_in_thread() as url:
        settings.LESHAN_URL = url
        settings.LESHAN_TIMEOUT = 2
        yield double


@pytest.mark.django_db(transaction=True)
def test_commands_move_the_queue_and_the_outcomes(client: Client, metrics_on: None, leshan: LeshanDouble) -> None:
    ingest.ingest(endpoint_name="dev-1", readings=[Reading(Path(10240, 0, 0), DataType.TIME, 1)])
    device = Endpoint.objects.get(name="dev-1")
    before = scrape(client, TOKEN)
    for _ in range(2):
        queue.operation_enqueue(actor=SYSTEM, endpoint=device, kind="WRITE", path="/3/0/14", value="+02")
    EndpointOperation.objects.update(created_at=EndpointOperation.objects.first().created_at.replace(year=2020))
    queued = scrape(client, TOKEN)
    assert value(queued, "fieldhub_operations_queue", status="queued") == 2
    assert value(queued, "fieldhub_operations_queue", status="sending") == 0
    assert value(queued, "fieldhub_operations_oldest_queued_age_seconds") > 86400 * 365
    assert asyncio.run(Dispatcher(listen=False).drain(within=30)) == 2
    after = scrape(client, TOKEN)
    assert value(after, "fieldhub_operations_queue", status="queued") == 0
    assert value(after, "fieldhub_operations_oldest_queued_age_seconds") == 0
    assert delta(before, after, "fieldhub_operations_sent_total", outcome="confirmed") == 2


@pytest.mark.django_db
def test_a_firmware_update_counts_by_status(client: Client, metrics_on: None) -> None:
    device = Endpoint.objects.create(name="fw-dev", online=True)
    before = scrape(client, TOKEN)
    firmware_update_start(actor=make_user(is_superuser=True), endpoint=device, firmware=make_firmware())
    after = scrape(client, TOKEN)
    assert delta(before, after, "fieldhub_firmware_updates", status="queued") == 1
    assert delta(before, after, "fieldhub_operations_queue", status="queued") == 1  # its Package URI write
    assert value(after, "fieldhub_firmware_updates", status="succeeded") == 0


@pytest.mark.django_db
def test_open_alarms_count_by_severity_and_state(client: Client, metrics_on: None) -> None:
    from django.db import transaction
    from django.utils import timezone

    from telemetry.alarms.models import AlarmRule
    from telemetry.alarms.services import alarm_acknowledge, alarm_clear, alarm_raise

    hot = AlarmRule.objects.create(name="hot", kind="above", severity="critical", path="/3303/*/5700", threshold=30)
    low = AlarmRule.objects.create(name="low", kind="battery", severity="minor", path="/3/0/9", threshold=10)
    devices = [Endpoint.objects.create(name=f"alarmed-{n}") for n in range(3)]
    before = scrape(client, TOKEN)
    with transaction.atomic():
        raised = [alarm_raise(rule=hot, endpoint=device, at=timezone.now(), value=31) for device in devices]
        alarm_raise(rule=low, endpoint=devices[0], at=timezone.now(), value=5)
    admin = make_user(is_superuser=True)
    first, second, _ = raised
    assert first is not None
    assert second is not None
    alarm_acknowledge(actor=admin, alarm=first, note="")
    alarm_clear(actor=admin, alarm=second, note="")
    after = scrape(client, TOKEN)
    assert delta(before, after, "fieldhub_alarms_open", severity="critical", state="active") == 1
    assert delta(before, after, "fieldhub_alarms_open", severity="critical", state="acknowledged") == 1
    assert delta(before, after, "fieldhub_alarms_open", severity="minor", state="active") == 1
    assert value(after, "fieldhub_alarms_open", severity="major", state="active") == 0


@pytest.mark.django_db(transaction=True)
async def test_an_open_socket_counts_until_it_closes(settings: Any) -> None:
    settings.METRICS_TOKEN = TOKEN
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    client = Client()
    viewer = await sync_to_async(make_user)(role=None, is_superuser=True)
    before = await sync_to_async(scrape)(client, TOKEN)
    socket = await connect("/ws/dashboard/", viewer)
    connected, _ = await socket.connect()
    assert connected
    opened = await sync_to_async(scrape)(client, TOKEN)
    assert delta(before, opened, "fieldhub_websockets_open", route="/ws/dashboard/") == 1
    await socket.disconnect()
    await disconnect_all()
    closed = await sync_to_async(scrape)(client, TOKEN)
    assert delta(before, closed, "fieldhub_websockets_open", route="/ws/dashboard/") == 0


@pytest.mark.django_db(transaction=True)
async def test_the_leshan_follower_counts_events_by_type(settings: Any) -> None:
    settings.METRICS_TOKEN = TOKEN
    client = Client()
    before = await sync_to_async(scrape)(client, TOKEN)
    follower = LeshanFollower(leshan_url="http://127.0.0.1:1")
    registration = {"endpoint": "ev-1", "registrationId": "r1", "lifetime": 300, "lwM2mVersion": "1.1"}
    try:
        await follower.handle(ServerEvent("REGISTRATION", registration))
        await follower.handle(ServerEvent("SLEEPING", {"ep": "ev-1"}))
        await follower.handle(ServerEvent("SOMETHING_NEW", {}))
    finally:
        follower._db.close()  # its database threads (run() closes them)
    after = await sync_to_async(scrape)(client, TOKEN)
    assert delta(before, after, "fieldhub_leshan_events_total", type="REGISTRATION") == 1
    assert delta(before, after, "fieldhub_leshan_events_total", type="SLEEPING") == 1
    assert delta(before, after, "fieldhub_leshan_events_total", type="other") == 1


def test_the_publisher_counts_what_became_of_each_message() -> None:
    before = parse(generate_latest(REGISTRY).decode())
    stats = Stats()
    stats.add("sent", 2)
    stats.add("coalesced", 3)
    stats.add("unwatched", 1)
    stats.add("failed", 1)
    after = parse(generate_latest(REGISTRY).decode())
    assert stats.sent == 2
    for result, count in (("sent", 2), ("coalesced", 3), ("unwatched", 1), ("failed", 1), ("skipped", 0)):
        assert delta(before, after, "fieldhub_publisher_messages_total", result=result) == count


@pytest.mark.django_db
def test_the_docs_chart_and_alert_on_figures_that_exist(client: Client, metrics_on: None) -> None:
    """Every fieldhub_* figure named by the Grafana dashboard, the alert rules and the README is served."""
    import re
    from pathlib import Path

    from prometheus_client.parser import text_string_to_metric_families

    root = Path(__file__).resolve().parents[2]
    text = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    served = {family.name for family in text_string_to_metric_families(text)}
    named = set()
    for doc in ("docs/grafana-dashboard.json", "docs/deployment.md", "README.md"):
        text = (root / doc).read_text()
        if doc.endswith(".md"):  # the Monitoring section (elsewhere fieldhub_ names nginx upstreams)
            text = text.split("\n## Monitoring\n", 1)[1].split("\n## ", 1)[0]
        named |= set(re.findall(r"fieldhub_[a-z_]+[a-z]", text))
    named = {re.sub(r"_(bucket|count|sum|total)$", "", name) for name in named}
    assert len(named) > 20
    assert sorted(named - served) == []
