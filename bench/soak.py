"""Soak: a simulated fleet against the production topology on PostgreSQL + Redis, for minutes.

Starts, on a fresh PostgreSQL database: the Procfile's `api` (granian, --api-workers WSGI processes: the
bridge), --webs `web` processes (`manage.py serve`: pages and websockets, each with dashboard sockets
listening) and --workers dispatchers; Leshan is the simulator's double (core/simulator/double/, which
follows ../shared/reference/leshan-rest-contract.md). Runs --devices simulated devices reporting every
--interval seconds for --minutes, while commands are queued for random devices every 10 s. Prints errors,
ingest latency (p50/p99, from the devices' side), each process' memory after warm-up and at the end, live
updates received, commands delivered, and the database size per million readings.

    .venv/bin/python bench/soak.py --devices 1000 --interval 10 --minutes 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from core.permissions import SYSTEM

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import PYTHON, child, free_port, percentile, prepare_database, server_env, wait_healthy
from bench.ingest import fresh_postgres

REDIS_URL = "redis://127.0.0.1:6379/0"


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (granian's workers), in MiB."""
    total = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            total += int(line.split()[1]) / 1024
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for kid in children.read_text().split() if children.exists() else []:
        with contextlib.suppress(FileNotFoundError):
            total += rss_mib(int(kid))
    return total


@contextlib.contextmanager
def started(name: str, command: list[str], env: dict[str, str], processes: dict[str, int]) -> Iterator[None]:
    with child([PYTHON, *command], env=env, log=Path(env["FIELDHUB_VAR_DIR"]) / f"{name}.log") as process:
        processes[name] = process.pid
        yield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--webs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--api-threads", type=int, default=4, help="granian --blocking-threads, as the Procfile")
    parser.add_argument("--sockets", type=int, default=10, help="dashboard websockets, spread over the webs")
    args = parser.parse_args()

    database = fresh_postgres("postgres://postgres@127.0.0.1:5432/postgres", "fieldhub_soak")
    leshan_port = free_port()
    env = server_env(
        database,
        REDIS_URL,
        FIELDHUB_VAR_DIR=tempfile.mkdtemp(prefix="soak-"),
        LESHAN_URL=f"http://127.0.0.1:{leshan_port}",
        REDIS_PREFIX="fieldhub-soak",
        EMBEDDED_WORKERS="0",
    )
    prepare_database(env)

    processes: dict[str, int] = {}
    api_port = free_port()
    web_ports = [free_port() for _ in range(args.webs)]
    api = [
        "-m", "granian", "--interface", "wsgi", "core.wsgi:application", "--host", "127.0.0.1",
        "--port", str(api_port), "--workers", str(args.api_workers), "--blocking-threads", str(args.api_threads),
        "--no-ws", "--log-level", "warning",
    ]  # fmt: skip
    with contextlib.ExitStack() as stack:
        stack.enter_context(started("api", api, {**env, "CONN_MAX_AGE": "60"}, processes))
        for n, port in enumerate(web_ports):
            serve = ["manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)]
            stack.enter_context(started(f"web-{n + 1}", serve, env, processes))
        for n in range(args.workers):
            stack.enter_context(started(f"worker-{n + 1}", ["manage.py", "dispatch"], env, processes))
        for url in [f"http://127.0.0.1:{api_port}"] + [f"http://127.0.0.1:{port}" for port in web_ports]:
            wait_healthy(url)
        asyncio.run(soak(args, api_port, web_ports, leshan_port, processes))


async def soak(args: argparse.Namespace, api_port: int, web_ports: list[int], leshan_port: int, processes) -> None:
    import aiohttp
    from django.contrib.auth import get_user_model
    from django.test import Client

    from core.simulator.fleet.config import FleetConfig
    from core.simulator.fleet.runner import Fleet

    user = await asyncio.to_thread(get_user_model().objects.create_superuser, "soak", password="soak-password-012345")
    client = Client()
    await asyncio.to_thread(client.force_login, user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    live = Counter()
    stop = asyncio.Event()

    async def watch(port: int) -> None:
        url = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            while not stop.is_set():
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.ws_connect(
                        f"{url}/ws/dashboard/", headers={"Origin": url, "Cookie": cookie}
                    ) as ws:
                        while not stop.is_set():
                            with contextlib.suppress(TimeoutError):
                                message = await asyncio.wait_for(ws.receive(), timeout=1)
                                if message.type != aiohttp.WSMsgType.TEXT:
                                    live["closed"] += 1
                                    break
                                live["messages"] += 1
                await asyncio.sleep(1)

    config = FleetConfig(
        devices=args.devices,
        interval=args.interval,
        url=f"http://127.0.0.1:{api_port}",
        leshan_port=leshan_port,
        seed=7,
    )
    fleet = Fleet(config)
    await fleet.start()
    runner = asyncio.create_task(fleet.run(progress_every=60))
    watchers = [asyncio.create_task(watch(web_ports[n % len(web_ports)])) for n in range(args.sockets)]
    commands = asyncio.create_task(queue_commands(args, stop))
    warm_up = max(30.0, args.interval * 2)
    await asyncio.sleep(warm_up)  # every device registered, processes warm
    memory_start = {name: rss_mib(pid) for name, pid in processes.items()}
    fleet.stats.latencies = []
    errors, sent, started_at = fleet.stats.errors, fleet.stats.sent, time.monotonic()
    peak = dict(memory_start)
    while time.monotonic() - started_at < args.minutes * 60:
        await asyncio.sleep(10)
        for name, pid in processes.items():
            peak[name] = max(peak[name], rss_mib(pid))
    elapsed = time.monotonic() - started_at
    memory_end = {name: rss_mib(pid) for name, pid in processes.items()}
    latencies = sorted(fleet.stats.latencies)
    posts, failed = fleet.stats.sent - sent, fleet.stats.errors - errors
    stop.set()
    queued = await commands
    fleet.stop()
    await runner
    for watcher in watchers:
        await watcher
    readings, database_bytes, telemetry_bytes, operations = await asyncio.to_thread(sizes)

    print(
        f"# soak: {args.devices} devices every {args.interval:g} s for {args.minutes:g} min; api: granian "
        f"{args.api_workers} workers; {args.webs} web (serve) with {args.sockets} dashboard sockets; "
        f"{args.workers} dispatchers; PostgreSQL + Redis on this machine"
    )
    print(f"posts {posts} ({posts / elapsed:.1f}/s), errors {failed} ({fleet.stats.last_error or 'none'})")
    print(
        f"ingest latency p50 {1000 * percentile(latencies, 50):.1f} ms, p99 {1000 * percentile(latencies, 99):.1f} ms"
    )
    print(f"live updates received by the sockets: {live['messages']}, sockets closed: {live['closed']}")
    print(f"commands queued {queued}: {operations}")
    for name in processes:
        print(
            f"memory {name}: {memory_start[name]:.0f} MiB after warm-up, {memory_end[name]:.0f} MiB at the end "
            f"(peak {peak[name]:.0f}, growth {memory_end[name] - memory_start[name]:+.0f})"
        )
    per_million = telemetry_bytes / readings * 1_000_000 / 2**20 if readings else float("nan")
    print(
        f"readings stored {readings}; database {database_bytes / 2**20:.0f} MiB; readings, events and their "
        f"indexes {telemetry_bytes / 2**20:.0f} MiB: {per_million:.0f} MiB per million readings"
    )


async def queue_commands(args: argparse.Namespace, stop: asyncio.Event) -> int:
    """Every 10 s, a write of the UTC offset (/3/0/14) to 10 random devices, as an operator would."""
    from core.models import Endpoint
    from telemetry.downlink import queue

    rng = random.Random(7)
    queued = 0

    def queue_some() -> int:
        names = list(Endpoint.objects.values_list("name", flat=True))
        for name in rng.sample(names, min(10, len(names))):
            endpoint = Endpoint.objects.get(name=name)
            queue.operation_enqueue(
                actor=SYSTEM, endpoint=endpoint, kind="WRITE", path="/3/0/14", value=f"+0{rng.randint(0, 9)}"
            )
        return min(10, len(names))

    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=10)
        if not stop.is_set():
            queued += await asyncio.to_thread(queue_some)
    return queued


def sizes() -> tuple[int, int, int, dict[str, int]]:
    from django.db import connection
    from django.db.models import Count

    from telemetry.models import EndpointOperation

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM telemetry_resource")
        readings = cursor.fetchone()[0]
        cursor.execute("SELECT pg_database_size(current_database())")
        database = cursor.fetchone()[0]
        cursor.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') "
            "AND (c.relname LIKE 'telemetry_resource%%' OR c.relname LIKE 'telemetry_event%%')"
        )
        telemetry = cursor.fetchone()[0]
    statuses = dict(EndpointOperation.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    return readings, database, telemetry, statuses


if __name__ == "__main__":
    main()
