"""The ``layer`` fixture: each live-update test runs on the in-memory layer and, where REDIS_URL is set, on
Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.layers import channel_layers

from realtime import sockets
from realtime.publisher import publisher
from tests.realtime.live import IN_MEMORY, disconnect_all, presence_established, redis_layers


@pytest.fixture(params=["memory", "redis"])
async def layer(request: pytest.FixtureRequest, settings: Any) -> str:
    """Each test runs on the in-memory layer and, where REDIS_URL is set, on Redis; the publisher sends on
    the test's loop, as it does on daphne's once the server has served its first request."""
    if request.param == "redis":
        if not settings.REDIS_URL:
            pytest.skip("needs Redis (set REDIS_URL)")
        settings.CHANNEL_LAYERS = redis_layers()
        await presence_established()
    else:
        settings.CHANNEL_LAYERS = IN_MEMORY
    channel_layers.backends.clear()
    publisher.bind_loop(asyncio.get_running_loop())
    yield request.param
    await disconnect_all()
    await asyncio.get_running_loop().run_in_executor(None, publisher.flush)
    channel_layers.backends.clear()


@pytest.fixture
def told_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No periodic check during the test: a socket that closes was told to."""
    monkeypatch.setattr(sockets, "ACCESS_CHECK_SECONDS", 3600.0)


@pytest.fixture
def checked_often(monkeypatch: pytest.MonkeyPatch) -> None:
    """The periodic check every 0.2 s instead of every few seconds."""
    monkeypatch.setattr(sockets, "TICK", 0.05)
    monkeypatch.setattr(sockets, "ACCESS_CHECK_SECONDS", 0.2)
