"""Live updates: who may listen, what a stored post pushes, and that writes never depend on the channel layer."""

from __future__ import annotations

import json
import re
import time

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from django.db import transaction
from django.test import Client

from core.lwm2m.nodes import Path, Reading
from core.lwm2m.types import DataType
from core.roles import Role
from realtime.consumers import CLOSE_FORBIDDEN, CLOSE_NOT_AUTHENTICATED, CLOSE_NOT_FOUND
from realtime.publisher import BURST, RATE, publisher
from telemetry.ingest import ingest
from tests.factories import make_endpoint, make_user
from tests.realtime.live import connect, receive_all, temperature

pytestmark = pytest.mark.django_db(transaction=True)


class TestWhoMayListen:
    async def test_an_anonymous_socket_is_closed_with_4401(self, layer: str) -> None:
        communicator = await connect("/ws/dashboard/")
        connected, _ = await communicator.connect()
        assert connected
        assert await communicator.receive_output() == {"type": "websocket.close", "code": CLOSE_NOT_AUTHENTICATED}

    async def test_a_user_without_a_role_is_closed_with_4403(self, layer: str) -> None:
        outsider = await database_sync_to_async(make_user)(None)
        communicator = await connect("/ws/dashboard/", outsider)
        await communicator.connect()
        assert await communicator.receive_output() == {"type": "websocket.close", "code": CLOSE_FORBIDDEN}

    async def test_an_unknown_device_is_closed_with_4404(self, layer: str) -> None:
        viewer = await database_sync_to_async(make_user)(Role.VIEWER)
        communicator = await connect("/ws/endpoints/nope/", viewer)
        await communicator.connect()
        assert await communicator.receive_output() == {"type": "websocket.close", "code": CLOSE_NOT_FOUND}

    @pytest.mark.parametrize("path", ["/ws/nope/", "/ws/endpoints/a/b/", "/ws/", "/anything"])
    async def test_an_unknown_path_is_closed_with_4404(self, layer: str, path: str) -> None:
        viewer = await database_sync_to_async(make_user)(Role.VIEWER)
        communicator = await connect(path, viewer)
        connected, _ = await communicator.connect()
        assert connected
        assert await communicator.receive_output() == {"type": "websocket.close", "code": CLOSE_NOT_FOUND}

    async def test_a_foreign_origin_is_refused(self, layer: str) -> None:
        viewer = await database_sync_to_async(make_user)(Role.VIEWER)
        communicator = await connect("/ws/dashboard/", viewer, origin=b"http://evil.example")
        connected, _ = await communicator.connect()
        assert not connected

    @pytest.mark.parametrize("path", ["/ws/dashboard/", "/ws/firmware/"])
    async def test_a_viewer_may_listen(self, layer: str, path: str) -> None:
        viewer = await database_sync_to_async(make_user)(Role.VIEWER)
        communicator = await connect(path, viewer)
        connected, _ = await communicator.connect()
        assert connected
        assert await communicator.receive_nothing(timeout=0.2)
        await communicator.disconnect()


class TestWhatIsPushed:
    async def test_a_post_updates_the_dashboard_and_that_device_only(self, layer: str) -> None:
        viewer = await database_sync_to_async(make_user)(Role.VIEWER)
        other = await database_sync_to_async(make_endpoint)(name="other-device", online=True)
        await database_sync_to_async(ingest)(endpoint_name="dev-1", readings=temperature(1.0))
        device_id = await database_sync_to_async(
            lambda: __import__("core.models").models.Endpoint.objects.get(name="dev-1").pk
        )()

        dashboard = await connect("/ws/dashboard/", viewer)
        device = await connect("/ws/endpoints/dev-1/", viewer)
        bystander = await connect("/ws/endpoints/other-device/", viewer)
        for communicator in (dashboard, device, bystander):
            assert (await communicator.connect())[0]

        await database_sync_to_async(ingest)(
            endpoint_name="dev-1",
            readings=[Reading(Path(3303, 0, 5700), DataType.FLOAT, 23.5), Reading(Path(3, 0, 9), DataType.INTEGER, 77)],
        )
        on_dashboard = await receive_all(dashboard)
        on_device = await receive_all(device)
        assert f'<tr id="endpoint-row-{device_id}" data-site="" hx-swap-oob="true">' in on_dashboard
        assert "77 %" in on_dashboard
        assert 'hx-swap-oob="afterbegin:#events"' in on_dashboard
        assert '<div id="latest-values" hx-swap-oob="true">' in on_device
        assert "23.5" in on_device
        assert '<header id="endpoint-status" class="device-head" hx-swap-oob="true">' in on_device
        assert await bystander.receive_nothing(timeout=0.3)
        assert other.pk != device_id
        for communicator in (dashboard, device, bystander):
            await communicator.disconnect()

    async def test_a_new_device_is_added_to_the_table_and_counted(self, layer: str) -> None:
        viewer = await database_sync_to_async(make_user)(Role.VIEWER)
        dashboard = await connect("/ws/dashboard/", viewer)
        assert (await dashboard.connect())[0]
        await database_sync_to_async(ingest)(endpoint_name="brand-new", readings=temperature(1.0))
        pushed = await receive_all(dashboard)
        assert '<tbody hx-swap-oob="afterbegin:#endpoint-rows[data-new-rows]"><tr id="endpoint-row-' in re.sub(
            r"\s+", " ", pushed
        ).replace("> <", "><")
        assert '<section id="fleet-counts" class="counts" aria-label="Devices by state" hx-swap-oob="true">' in pushed
        assert re.search(r'<span class="number">1</span> online', pushed)
        await dashboard.disconnect()

    async def test_fragments_are_the_pages_own_partials(self, layer: str) -> None:
        """What a push carries is what the page renders for the same row (minus the oob attribute)."""
        viewer = await database_sync_to_async(make_user)(Role.VIEWER)
        await database_sync_to_async(ingest)(endpoint_name="same", readings=temperature(2.0))
        dashboard = await connect("/ws/dashboard/", viewer)
        assert (await dashboard.connect())[0]
        await database_sync_to_async(ingest)(endpoint_name="same", readings=temperature(3.0))
        pushed = (await receive_all(dashboard)).replace(' hx-swap-oob="true"', "")

        def page() -> str:
            client = Client()
            client.force_login(viewer)
            return client.get("/").content.decode()

        row = re.search(r'<tr id="endpoint-row-\d+" data-site="">.*?</tr>', pushed, re.S)[0]
        assert row in await database_sync_to_async(page)()
        await dashboard.disconnect()

    async def test_a_fast_device_is_coalesced(self, layer: str) -> None:
        viewer = await database_sync_to_async(make_user)(Role.VIEWER)
        await database_sync_to_async(ingest)(endpoint_name="fast", readings=temperature(0.0))
        device = await connect("/ws/endpoints/fast/", viewer)
        assert (await device.connect())[0]
        started = time.monotonic()
        for i in range(30):
            await database_sync_to_async(ingest)(endpoint_name="fast", readings=temperature(float(i)))
        posting = time.monotonic() - started
        messages = []
        while not await device.receive_nothing(timeout=1.0):
            messages.append(await device.receive_from())
        latest = [m for m in messages if 'id="latest-values"' in m]
        # However fast the posts came, the group sent at most its burst and RATE a second after it (plus the
        # one that carries the last state): fewer than the 30 posts, on a fast or a loaded machine.
        assert 1 <= len(latest) <= BURST + RATE * posting + 1
        assert len(latest) < 30
        assert "29.0" in latest[-1]  # and the newest value always arrives
        await device.disconnect()


class TestWritesNeverWaitForTheLayer:
    async def test_nothing_is_pushed_for_a_rolled_back_write(self, layer: str) -> None:
        viewer = await database_sync_to_async(make_user)(Role.VIEWER)
        dashboard = await connect("/ws/dashboard/", viewer)
        assert (await dashboard.connect())[0]

        def write_then_fail() -> None:
            with transaction.atomic():
                ingest(endpoint_name="ghost", readings=temperature(1.0))
                raise RuntimeError("rolled back")

        with pytest.raises(RuntimeError):
            await database_sync_to_async(write_then_fail)()
        assert await dashboard.receive_nothing(timeout=0.5)
        await dashboard.disconnect()


def test_ingest_succeeds_while_the_channel_layer_fails(settings, client: Client) -> None:
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://127.0.0.1:1"]}}
    }
    channel_layers.backends.clear()
    failed_before = publisher.stats.failed
    try:
        body = {
            "ep": "resilient",
            "obj_id": 3303,
            "val": {"kind": "singleResource", "id": 5700, "type": "FLOAT", "value": "1"},
        }
        response = client.post("/leshan_api/resource/single", json.dumps(body), content_type="application/json")
        assert response.status_code == 201
        assert publisher.flush(timeout=10)
        assert publisher.stats.failed > failed_before
    finally:
        channel_layers.backends.clear()
