"""What a client may send on a socket: browsers only listen, so a few messages are ignored and a flood closes
the socket (realtime.sockets)."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
import pytest
from channels.db import database_sync_to_async
from django.test import Client

from core.roles import Role
from realtime.consumers import CLOSE_FLOOD, CLOSE_TOO_BIG
from realtime.sockets import BURST, MAX_MESSAGE_BYTES
from tests.factories import make_user
from tests.realtime.live import connect
from tests.servers import embedded

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_few_messages_are_ignored(layer: str) -> None:
    viewer = await database_sync_to_async(make_user)(Role.VIEWER)
    socket = await connect("/ws/dashboard/", viewer)
    assert (await socket.connect())[0]
    for _ in range(BURST):
        await socket.send_to(text_data="hello")
    assert await socket.receive_nothing(timeout=0.5)  # no answer, not closed
    await socket.disconnect()


async def test_a_socket_that_floods_is_closed_and_its_consumer_ends_at_once(layer: str) -> None:
    viewer = await database_sync_to_async(make_user)(Role.VIEWER)
    socket = await connect("/ws/dashboard/", viewer)
    assert (await socket.connect())[0]
    for _ in range(10_000):  # all queued before the consumer reads the first
        await socket.send_to(text_data="hello hello")
    assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": CLOSE_FLOOD}
    await asyncio.wait_for(socket.future, timeout=5)  # the consumer returned: the rest of the flood is dropped
    assert socket.input_queue.qsize() > 5_000  # ... unread, not worked through


async def test_a_message_too_large_closes_the_socket(layer: str) -> None:
    viewer = await database_sync_to_async(make_user)(Role.VIEWER)
    socket = await connect("/ws/dashboard/", viewer)
    assert (await socket.connect())[0]
    await socket.send_to(text_data="x" * (MAX_MESSAGE_BYTES + 1))
    assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": CLOSE_TOO_BIG}


def test_the_server_closes_a_flooding_socket_and_keeps_answering() -> None:
    """Through a real server process (`manage.py serve`, daphne): the flood ends with 4429, an oversized
    frame ends the connection (daphne's own limit, set by `serve`), and the server answers /healthz
    afterwards."""
    client = Client()
    client.force_login(make_user(Role.VIEWER))
    cookie = f"sessionid={client.cookies['sessionid'].value}"

    with embedded(EMBEDDED_WORKERS="0") as url:

        async def scenario() -> tuple[int | None, aiohttp.WSMsgType, int]:
            async with aiohttp.ClientSession() as session:
                headers = {"Origin": url, "Cookie": cookie}
                async with session.ws_connect(f"{url}/ws/dashboard/", headers=headers) as socket:
                    with contextlib.suppress(aiohttp.ClientConnectionError):  # the server stops reading
                        for _ in range(2_000):
                            await socket.send_str("hello hello")
                    flood = await asyncio.wait_for(socket.receive(), timeout=10)
                async with session.ws_connect(f"{url}/ws/dashboard/", headers=headers) as socket:
                    await socket.send_str("x" * (MAX_MESSAGE_BYTES + 1))
                    big = await asyncio.wait_for(socket.receive(), timeout=10)
                async with session.get(f"{url}/healthz") as response:
                    return flood.data, big.type, response.status

        flood, big, health = asyncio.run(scenario())
    assert flood == CLOSE_FLOOD
    assert big in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)  # daphne failed it (1009), unread
    assert health == 200


def test_the_server_sends_messages_larger_than_it_accepts() -> None:
    """The limit on what a client sends is not a limit on what the server sends: through `manage.py serve`,
    a device page gets its latest values (tens of KB) and its socket stays open (a 4 KB message limit made
    daphne refuse every push over 4 KB and close the socket, 1011: bench/large_values.py)."""
    client = Client()
    client.force_login(make_user(Role.VIEWER))
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    post = {
        "ep": "urn:dev:chatty",
        "val": {
            f"/3200/{i}/5750": {"kind": "singleResource", "id": 5750, "type": "STRING", "value": f"input {i} " * 8}
            for i in range(100)
        },
    }

    with embedded(EMBEDDED_WORKERS="0") as url:

        async def scenario() -> tuple[list[int], bool]:
            async with aiohttp.ClientSession() as session:
                headers = {"Content-Type": "application/json"}
                async with session.post(f"{url}/leshan_api/resource/composite", json=post, headers=headers) as answer:
                    assert answer.status == 201, await answer.text()
                headers = {"Origin": url, "Cookie": cookie}
                async with session.ws_connect(f"{url}/ws/endpoints/urn:dev:chatty/", headers=headers) as socket:
                    sizes = []
                    async with session.post(f"{url}/leshan_api/resource/composite", json=post) as answer:
                        assert answer.status == 201
                    while not sizes or max(sizes) <= MAX_MESSAGE_BYTES:
                        message = await asyncio.wait_for(socket.receive(), timeout=10)
                        assert message.type == aiohttp.WSMsgType.TEXT, message
                        sizes.append(len(message.data.encode()))
                    with contextlib.suppress(asyncio.TimeoutError):
                        message = await asyncio.wait_for(socket.receive(), timeout=1)
                        assert message.type == aiohttp.WSMsgType.TEXT, message
                    return sizes, socket.closed

        sizes, closed = asyncio.run(scenario())
    assert max(sizes) > MAX_MESSAGE_BYTES
    assert not closed
