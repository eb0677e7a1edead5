"""What the live-update tests share: the channel layers they run on, sockets, readings."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from core.asgi import application
from core.lwm2m.nodes import Path, Reading
from core.lwm2m.types import DataType

IN_MEMORY = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def redis_layers() -> dict[str, Any]:
    from django.conf import settings

    # REDIS_PREFIX in it: test runs sharing one Redis (REDIS_PREFIX each) must not hear each other's groups
    prefix = f"{os.environ.get('REDIS_PREFIX', 'fieldhub-test')}-live"
    return {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [settings.REDIS_URL], "prefix": prefix},
        }
    }


def session_cookie(user: Any) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def connect(
    path: str, user: Any | None = None, origin: bytes = b"http://localhost", *, cookie: bytes | None = None
) -> WebsocketCommunicator:
    """A socket as a browser opens it: logged in as ``user``, or with the ``cookie`` header a browser sends."""
    headers = [(b"origin", origin), (b"host", b"localhost")]
    if user is not None:
        headers.append((b"cookie", await database_sync_to_async(session_cookie)(user)))
    elif cookie is not None:
        headers.append((b"cookie", cookie))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    communicator.scope["server"] = ("localhost", 80)
    OPENED.append(communicator)
    return communicator


# Every socket ``connect`` opened, for ``disconnect_all``.
OPENED: list[WebsocketCommunicator] = []


async def disconnect_all() -> None:
    """Tell every socket a test left open that the browser went away, as daphne does: a consumer that
    refused its socket still waits on its channel (on Redis, a 5 s blocking read) until it is told."""
    while OPENED:
        communicator = OPENED.pop()
        with contextlib.suppress(Exception):
            await communicator.disconnect(timeout=1)


def temperature(value: float) -> list[Reading]:
    return [Reading(Path(3303, 0, 5700), DataType.FLOAT, value)]


async def receive_all(communicator: WebsocketCommunicator, quiet: float = 1.0) -> str:
    """Everything the socket receives until it has been quiet for ``quiet`` seconds."""
    parts = []
    # Not receive_from(timeout=...): a timeout there cancels the application (asgiref's communicator).
    while not await communicator.receive_nothing(timeout=quiet):
        parts.append(await communicator.receive_from())
    return "".join(parts)


async def presence_established() -> None:
    """Redis holds a presence epoch, as in a running deployment (realtime.presence): otherwise the first
    socket's process sets one, and for a few seconds every group counts as watched."""
    import redis.asyncio

    from realtime.presence import _redis_url, epoch_key

    client = redis.asyncio.from_url(_redis_url())
    try:
        await client.set(epoch_key(), b"tests", nx=True)
    finally:
        await client.aclose()
