"""Redis restarted without its data while a page is open (realtime.presence, realtime.sockets): live updates
resume at once, and the page is told to catch up on what it missed.

A Redis of the test's own (restarting the shared one would break every other test run), a real daphne
process on it, a real socket.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time

import aiohttp
import pytest
from django.test import Client

from core.roles import Role
from realtime.sockets import RESYNC
from tests.factories import make_user
from tests.servers import daphne, private_redis

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


def post(name: str) -> dict[str, object]:
    return {"ep": name, "obj_id": 3303, "val": {"kind": "singleResource", "id": 5700, "type": "FLOAT", "value": "1"}}


def test_after_redis_restarted_empty_updates_resume_and_the_page_is_told_to_catch_up() -> None:
    client = Client()
    client.force_login(make_user(Role.VIEWER))
    cookie = f"sessionid={client.cookies['sessionid'].value}"

    with private_redis() as redis, daphne(REDIS_URL=redis.url, REDIS_PREFIX="restart-test") as url:

        async def scenario() -> tuple[str, str]:
            async with aiohttp.ClientSession() as session:

                async def send(name: str) -> None:
                    headers = {"Content-Type": "application/json"}
                    async with session.post(f"{url}/leshan_api/resource/single", data=json.dumps(post(name)),
                                            headers=headers) as response:  # fmt: skip
                        assert response.status == 201

                async def until(socket: aiohttp.ClientWebSocketResponse, wanted: str, within: float) -> str:
                    received = []
                    deadline = time.monotonic() + within
                    while wanted not in "".join(received):
                        message = await socket.receive(timeout=max(0.1, deadline - time.monotonic()))
                        assert message.type == aiohttp.WSMsgType.TEXT, message
                        received.append(message.data)
                    return "".join(received)

                headers = {"Origin": url, "Cookie": cookie}
                async with session.ws_connect(f"{url}/ws/dashboard/", headers=headers) as socket:
                    await send("before-restart")
                    await until(socket, "before-restart", 30)
                    redis.stop()
                    redis.start()  # empty: no marks, no epoch
                    told = await until(socket, RESYNC, 30)  # the page is to reload: it missed what was lost
                    await send("after-restart")
                    return told, await until(socket, "after-restart", 30)

        told, after = asyncio.run(scenario())
    assert RESYNC in told
    assert "after-restart" in after
