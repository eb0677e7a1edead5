"""Scale-out on one machine: two web processes and two dispatcher workers against one PostgreSQL and Redis.

Posts and operations are spread over both web processes at once; afterwards every reading is stored
exactly once, every operation reached the device exactly once and in order, and a browser connected to
one web process saw a post made through the other. Leshan is the double (core/simulator/double/, which
follows ../shared/reference/leshan-rest-contract.md): the one part that cannot run here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
import pytest
from django.test import Client

from core.lwm2m.types import DataType
from core.models import Endpoint
from core.roles import Role
from core.services import token_create
from core.simulator.client import SimulatedClient
from core.simulator.double.server import LeshanDouble
from telemetry.models import EndpointOperation, Resource
from tests.factories import make_user
from tests.servers import ROOT, embedded, server_env
from tests.telemetry.workers import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

DEVICES = [f"scale-{i}" for i in range(8)]
READINGS_PER_DEVICE = 40
WRITES_PER_DEVICE = 5


def _post(url: str, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(
        f"{url}{path}", json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _reading(name: str, n: int) -> dict[str, Any]:
    value = DEVICES.index(name) * 1000 + n + 0.5
    return {"ep": name, "obj_id": 3303, "val": {"kind": "singleResource", "id": 5700, "type": "FLOAT", "value": value}}


@contextlib.contextmanager
def _workers(count: int, leshan_url: str) -> Iterator[None]:
    env = server_env(LESHAN_URL=leshan_url)
    processes = [subprocess.Popen([sys.executable, "manage.py", "dispatch"], cwd=ROOT, env=env) for _ in range(count)]
    try:
        yield
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def test_nothing_is_lost_or_duplicated() -> None:
    clients = [SimulatedClient(name, resources={"/3/0/14": (DataType.STRING, "+00")}) for name in DEVICES]
    double = LeshanDouble(clients=clients)
    operator = make_user(Role.OPERATOR)
    _, secret = token_create(actor=operator, user=operator, name="scale-out")
    browser = Client()
    browser.force_login(make_user(Role.VIEWER))
    cookie = f"sessionid={browser.cookies['sessionid'].value}"

    with (
        double.run_in_thread() as leshan_url,
        embedded(LESHAN_URL=leshan_url, EMBEDDED_WORKERS="0") as web_a,
        embedded(LESHAN_URL=leshan_url, EMBEDDED_WORKERS="0") as web_b,
        _workers(2, leshan_url),
    ):
        webs = [web_a, web_b]
        # Each device first appears through a post (it registers), alternately on each web process.
        for i, name in enumerate(DEVICES):
            assert _post(webs[i % 2], "/leshan_api/resource/single", _reading(name, 0)) == 201

        def queue_writes(name: str) -> list[int]:  # in order per device, alternating web processes
            return [
                _post(
                    webs[n % 2],
                    f"/api/v1/endpoints/{name}/operations",
                    {"kind": "write", "path": "/3/0/14", "value": f"{name}:{n}"},
                    {"Authorization": f"Bearer {secret}"},
                )
                for n in range(WRITES_PER_DEVICE)
            ]

        jobs = [(webs[(i + n) % 2], name, n) for i, name in enumerate(DEVICES) for n in range(1, READINGS_PER_DEVICE)]
        live = threading.Event()
        pushed: list[str] = []

        async def watch() -> None:  # a browser on web A, while posts also go through web B
            async with (
                aiohttp.ClientSession() as session,
                session.ws_connect(f"{web_a}/ws/dashboard/", headers={"Origin": web_a, "Cookie": cookie}) as socket,
            ):
                live.set()
                while not any(f"{DEVICES[1]}" in text and "endpoint-row-" in text for text in pushed):
                    message = await asyncio.wait_for(socket.receive(), timeout=30)
                    assert message.type == aiohttp.WSMsgType.TEXT, message
                    pushed.append(message.data)

        watcher = threading.Thread(target=asyncio.run, args=(watch(),), daemon=True)
        watcher.start()
        wait_until(live.is_set, within=30)
        with ThreadPoolExecutor(max_workers=16) as pool:
            writes = list(pool.map(queue_writes, DEVICES))
            posts = list(pool.map(lambda job: _post(job[0], "/leshan_api/resource/single", _reading(*job[1:])), jobs))
        # DEVICES[1] first posted through web B; a later post of it went through web A or B alike.
        assert _post(web_b, "/leshan_api/resource/single", _reading(DEVICES[1], READINGS_PER_DEVICE)) == 201
        watcher.join(timeout=30)

        assert writes == [[201] * WRITES_PER_DEVICE] * len(DEVICES)
        assert posts == [201] * len(jobs)
        wait_until(lambda: set(EndpointOperation.objects.values_list("status", flat=True)) == {"CONFIRMED"}, within=60)

    # Every reading stored once.
    stored = sorted(Resource.objects.filter(resource_type__slug="temperature").values_list("value_float", flat=True))
    expected = sorted(
        [DEVICES.index(name) * 1000 + n + 0.5 for name in DEVICES for n in range(READINGS_PER_DEVICE)]
        + [1000 + READINGS_PER_DEVICE + 0.5]
    )
    assert stored == expected
    assert Endpoint.objects.filter(name__in=DEVICES).count() == len(DEVICES)
    # Every write sent once, in the order it was queued, and the device holds the last one.
    sent = [json.loads(r.body)["value"] for r in double.requests if r.method == "PUT"]
    assert len(sent) == len(set(sent)) == len(DEVICES) * WRITES_PER_DEVICE
    for name in DEVICES:
        assert [v for v in sent if v.startswith(f"{name}:")] == [f"{name}:{n}" for n in range(WRITES_PER_DEVICE)]
        assert double.clients[name].resources["/3/0/14"] == (DataType.STRING, f"{name}:{WRITES_PER_DEVICE - 1}")
    # The browser on web A saw the post made through web B.
    assert any(DEVICES[1] in text for text in pushed)
