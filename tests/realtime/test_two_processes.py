"""Two real daphne processes sharing Redis: a post through one reaches a browser connected to the other."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from django.test import Client

from core.roles import Role
from tests.factories import make_user
from tests.servers import daphne

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

POST = {
    "ep": "cross-process",
    "obj_id": 3303,
    "val": {"kind": "singleResource", "id": 5700, "type": "FLOAT", "value": "42.5"},
}


def test_a_write_through_one_process_reaches_a_socket_on_the_other() -> None:
    client = Client()
    client.force_login(make_user(Role.VIEWER))
    cookie = f"sessionid={client.cookies['sessionid'].value}"

    with daphne() as first, daphne() as second:

        async def scenario() -> str:
            async with aiohttp.ClientSession() as session:
                headers = {"Origin": second, "Cookie": cookie}
                async with session.ws_connect(f"{second}/ws/dashboard/", headers=headers) as socket:
                    async with session.post(
                        f"{first}/leshan_api/resource/single",
                        data=json.dumps(POST),
                        headers={"Content-Type": "application/json"},
                    ) as response:
                        assert response.status == 201
                    received = []
                    while True:
                        message = await asyncio.wait_for(socket.receive(), timeout=10)
                        assert message.type == aiohttp.WSMsgType.TEXT, message
                        received.append(message.data)
                        if "endpoint-row-" in message.data:
                            return "".join(received)

        pushed = asyncio.run(scenario())
    assert "cross-process" in pushed
