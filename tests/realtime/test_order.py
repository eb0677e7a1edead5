"""A group's messages go out one at a time, in the order their events came: a slow render never lets a
newer state of an element arrive before an older one (a rollout's device row: "sent", then "confirmed"
a few milliseconds later)."""

from __future__ import annotations

import asyncio
import time

import pytest
from channels.db import database_sync_to_async

from core.roles import Role
from realtime import groups
from realtime.groups import EventType
from realtime.publisher import LiveEvent, publisher
from tests.factories import make_user
from tests.realtime.live import connect, receive_all

pytestmark = pytest.mark.django_db(transaction=True)


def slow_older() -> str:
    time.sleep(0.4)  # a render that takes long: a large fragment, a busy database
    return '<p id="row-1">sent</p>'


def newer() -> str:
    return '<p id="row-1">confirmed</p>'


async def test_a_slow_render_is_not_overtaken_by_a_newer_one(layer: str) -> None:
    viewer = await database_sync_to_async(make_user)(Role.VIEWER)
    socket = await connect("/ws/rollouts/", viewer)
    assert (await socket.connect())[0]
    publisher.submit(groups.ROLLOUTS, LiveEvent(EventType.ROLLOUT, "row-1", slow_older))
    await asyncio.sleep(0.1)  # the first message is being rendered; the group still has tokens to send more
    publisher.submit(groups.ROLLOUTS, LiveEvent(EventType.ROLLOUT, "row-1", newer))
    received = await receive_all(socket, quiet=1.0)
    assert received.index("sent") < received.index("confirmed")
    await socket.disconnect()
