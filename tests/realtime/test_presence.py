"""The publisher renders only for groups some socket listens to (realtime.presence)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers

from core.models import Endpoint
from core.roles import Role
from realtime import groups, sockets
from realtime.presence import Presence
from realtime.publisher import publisher
from realtime.sockets import RESYNC
from telemetry import partials
from telemetry.ingest import ingest
from tests.factories import make_user
from tests.realtime.live import connect, presence_established, receive_all, redis_layers, temperature

pytestmark = pytest.mark.django_db(transaction=True)


async def flushed() -> None:
    await asyncio.get_running_loop().run_in_executor(None, publisher.flush)


async def test_a_device_page_nobody_watches_is_not_rendered(layer: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rendered: list[int] = []
    real = partials.render_latest_values
    monkeypatch.setattr(partials, "render_latest_values", lambda pk: rendered.append(pk) or real(pk))
    viewer = await database_sync_to_async(make_user)(Role.VIEWER)
    await database_sync_to_async(ingest)(endpoint_name="quiet", readings=temperature(1.0))
    await flushed()
    dashboard = await connect("/ws/dashboard/", viewer)
    assert (await dashboard.connect())[0]
    before = publisher.stats.unwatched

    await database_sync_to_async(ingest)(endpoint_name="quiet", readings=temperature(2.0))
    assert "endpoint-row-" in await receive_all(dashboard, quiet=0.5)  # the dashboard is watched
    await flushed()
    assert rendered == []  # the device page is open nowhere: its fragments were not rendered
    assert publisher.stats.unwatched > before

    device = await connect("/ws/endpoints/quiet/", viewer)
    assert (await device.connect())[0]
    await database_sync_to_async(ingest)(endpoint_name="quiet", readings=temperature(3.0))
    assert "3.0" in await receive_all(device, quiet=0.5)
    quiet_id = await database_sync_to_async(lambda: Endpoint.objects.get(name="quiet").pk)()
    assert quiet_id in rendered

    await device.disconnect()
    await dashboard.disconnect()
    assert not await Presence().watched(groups.endpoint(quiet_id)) or layer == "memory"


@pytest.mark.redis
async def test_marks_are_shared_through_redis_and_expire(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.CHANNEL_LAYERS = redis_layers()
    await presence_established()
    one, other = Presence(), Presence()  # two processes
    group = "presence-test.1"
    assert not await other.watched(group)
    await one.join([group], "channel-a")
    assert await other.watched(group)
    await one.leave([group], "channel-a")
    assert not await other.watched(group)
    monkeypatch.setattr("realtime.presence.TTL", -1.0)  # a mark its process stopped renewing
    await one.mark([group], "channel-b")
    assert not await other.watched(group)


async def test_when_redis_does_not_answer_everything_counts_as_watched(settings: Any) -> None:
    settings.CHANNEL_LAYERS = {  # nothing listens on port 1
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"], "prefix": "x"},
        }
    }
    presence = Presence()
    await presence.join(["anything"], "channel-a")  # logged, not raised
    assert await presence.watched("anything")
    assert await presence.watched("nothing")


async def test_a_socket_hears_a_heartbeat_through_the_layer(layer: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sockets, "TICK", 0.05)
    monkeypatch.setattr(sockets, "HEARTBEAT_SECONDS", 0.2)
    viewer = await database_sync_to_async(make_user)(Role.VIEWER)
    dashboard = await connect("/ws/dashboard/", viewer)
    assert (await dashboard.connect())[0]
    heard = [await dashboard.receive_from(timeout=5) for _ in range(3)]  # through the publisher, every 0.2 s
    assert heard == ["<!--fieldhub:heartbeat 0.2-->"] * 3
    await dashboard.disconnect()


@pytest.mark.redis
async def test_marks_redis_lost_are_made_again_and_the_page_told_to_catch_up(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a Redis restarted without its data looks like to a process: its marks and the epoch are gone."""
    import redis.asyncio

    from realtime.presence import _key, _redis_url, epoch_key

    settings.CHANNEL_LAYERS = redis_layers()
    channel_layers.backends.clear()
    publisher.bind_loop(asyncio.get_running_loop())
    await presence_established()
    monkeypatch.setattr(sockets, "TICK", 0.05)
    viewer = await database_sync_to_async(make_user)(Role.VIEWER)
    dashboard = await connect("/ws/dashboard/", viewer)
    assert (await dashboard.connect())[0]
    client = redis.asyncio.from_url(_redis_url())
    await client.delete(epoch_key(), _key(groups.DASHBOARD))
    await client.aclose()
    assert RESYNC in await receive_all(dashboard, quiet=0.5)
    assert await Presence().watched(groups.DASHBOARD)
    await dashboard.disconnect()
    await flushed()
    channel_layers.backends.clear()
