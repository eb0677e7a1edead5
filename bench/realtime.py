"""Live-update latency and fan-out, over real sockets against real server processes (issue 5).

    .venv/bin/python bench/realtime.py

Two topologies:

- ``one process``: the embedded default (``make run``): one daphne process, SQLite, the in-memory channel
  layer; the posts go to it too.
- ``two processes via Redis``: production: posts to the API process (granian, 2 WSGI workers), browsers on
  daphne, PostgreSQL and Redis shared.

For each it prints the latency from the 201 of an ingest POST to the fragment with that device's row
arriving on a dashboard websocket (p50/p99 of ``--posts`` posts at ``--rate`` posts/s), then the fan-out:
N sockets on the dashboard (``--sockets``) while M posts/s arrive (``--fanout-rates``) for ``--seconds``:
delivery p99 over every (post, socket) pair, and how many of those pairs never arrived (dropped). Every
post is from a device of its own, so each must reach every socket.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import PYTHON, ROOT, free_port, manage, percentile, running_server, server_env
from bench.ingest import fresh_postgres
from core.simulator import payloads

DEVICE = re.compile(r"urn:rt:(\d+)")
COMPRESS = 15  # offer permessage-deflate, as browsers do


def session_cookie(env: dict[str, str]) -> str:
    """A logged-in session of the admin, made in a child process against that run's database."""
    code = (
        "import django; django.setup(); from django.contrib.auth import get_user_model; "
        "from django.test import Client; c = Client(); "
        "c.force_login(get_user_model().objects.get(username='admin')); print(c.cookies['sessionid'].value)"
    )
    output = subprocess.run([PYTHON, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return f"sessionid={output.stdout.split()[-1]}"


def payload(device: int) -> str:
    return json.dumps(payloads.temperature(f"urn:rt:{device}", 21.5))


class Watcher:
    """Sockets on the dashboard, recording when each device first appears on each socket."""

    def __init__(self) -> None:
        self.arrivals: dict[int, list[float]] = {}
        self.sockets: list[aiohttp.ClientWebSocketResponse] = []

    async def open(self, session: aiohttp.ClientSession, url: str, cookie: str, count: int) -> None:
        headers = {"Origin": url, "Cookie": cookie}
        for start in range(0, count, 50):
            batch = [
                session.ws_connect(f"{url}/ws/dashboard/", headers=headers, compress=COMPRESS)
                for _ in range(start, min(count, start + 50))
            ]
            self.sockets += await asyncio.gather(*batch)

    async def listen(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        async for message in socket:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            now = time.perf_counter()
            for device in {int(d) for d in DEVICE.findall(message.data)}:
                self.arrivals.setdefault(device, []).append(now)


async def post_all(session: aiohttp.ClientSession, url: str, devices: range, rate: float) -> dict[int, float]:
    """Post one reading per device at ``rate`` per second; the time each 201 came back."""
    answered: dict[int, float] = {}
    failures: dict[int, int] = {}
    started = time.perf_counter()

    async def one(device: int) -> None:
        async with session.post(
            f"{url}/leshan_api/resource/single", data=payload(device), headers={"Content-Type": "application/json"}
        ) as response:
            if response.status == 201:
                answered[device] = time.perf_counter()
            else:
                failures[response.status] = failures.get(response.status, 0) + 1

    tasks = []
    for n, device in enumerate(devices):
        await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(one(device)))
    await asyncio.gather(*tasks)
    if failures:
        print(f"  posts not answered 201: {failures}")
    return answered


async def measure(
    ws_url: str, post_url: str, cookie: str, sockets: int, devices: range, rate: float
) -> tuple[list[float], int]:
    watcher = Watcher()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await watcher.open(session, ws_url, cookie, sockets)
        listeners = [asyncio.create_task(watcher.listen(s)) for s in watcher.sockets]
        await asyncio.sleep(0.5)
        answered = await post_all(session, post_url, devices, rate)
        await asyncio.sleep(2.0)  # the last batch, and anything late
        for socket in watcher.sockets:
            await socket.close()
        for listener in listeners:
            listener.cancel()
    latencies, dropped = [], 0
    for device, answered_at in answered.items():
        arrivals = watcher.arrivals.get(device, [])
        dropped += sockets - len(arrivals)
        latencies += [max(0.0, arrived - answered_at) for arrived in arrivals]
    return latencies, dropped


@contextlib.contextmanager
def topology(name: str, env: dict[str, str]) -> Iterator[tuple[str, str]]:
    """(websocket server URL, ingest URL)."""
    if name == "one process":
        with running_server("daphne", env=env) as url:
            yield url, url
    else:
        api_env = {**env, "CONN_MAX_AGE": "60"}  # WSGI workers keep connections; daphne must not (README)
        with (
            running_server("daphne", env=env) as ws_url,
            running_server("granian", env=api_env, workers=2) as api_url,
        ):
            yield ws_url, api_url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--rate", type=float, default=2, help="below the publisher's 4 messages/s per group")
    parser.add_argument("--sockets", default="100,1000")
    parser.add_argument("--fanout-rates", default="10,50")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--topologies", default="one process,two processes via Redis")
    args = parser.parse_args()

    next_device = 0
    for name in args.topologies.split(","):
        with tempfile.TemporaryDirectory() as var_dir:
            env = server_env(None, FIELDHUB_VAR_DIR=var_dir, SESSION_COOKIE_SECURE="0")
            if name != "one process":
                env.update(
                    DATABASE_URL=fresh_postgres(args.postgres_url),
                    REDIS_URL=args.redis_url,
                    REDIS_PREFIX=f"fieldhub-bench-{free_port()}",
                )
            manage("migrate", "--noinput", env=env)
            manage("bootstrap", env=env)
            cookie = session_cookie(env)
            with topology(name, env) as (ws_url, post_url):
                devices = range(next_device, next_device + args.posts)
                next_device += args.posts
                latencies, dropped = asyncio.run(measure(ws_url, post_url, cookie, 1, devices, args.rate))
                print(f"# {name}")
                print(
                    f"latency 201 -> fragment, {args.posts} posts at {args.rate:g}/s, 1 socket: "
                    f"p50 {percentile(latencies, 50) * 1000:.1f} ms, p99 {percentile(latencies, 99) * 1000:.1f} ms, "
                    f"dropped {dropped}"
                )
                for sockets in (int(s) for s in args.sockets.split(",")):
                    for rate in (float(r) for r in args.fanout_rates.split(",")):
                        count = int(rate * args.seconds)
                        devices = range(next_device, next_device + count)
                        next_device += count
                        latencies, dropped = asyncio.run(measure(ws_url, post_url, cookie, sockets, devices, rate))
                        print(
                            f"fan-out {sockets:>5} sockets, {rate:>3g} posts/s for {args.seconds:g} s: "
                            f"delivery p50 {percentile(latencies, 50) * 1000:.0f} ms, "
                            f"p99 {percentile(latencies, 99) * 1000:.0f} ms, "
                            f"dropped {dropped} of {count * sockets}"
                        )


if __name__ == "__main__":
    main()
