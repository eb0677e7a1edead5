"""Faults, scripted: what clients and devices see when PostgreSQL, Redis, Leshan or a worker goes away.

Each scenario starts real processes on a fresh PostgreSQL database (and Redis), breaks one part while load
runs, brings it back and prints what happened. It stops and starts this machine's PostgreSQL (the redis
scenario runs a Redis of its own), so run it on a development machine, never beside a test run or a real
deployment. FAULTS_DATABASE names the database it creates afresh (fieldhub_faults). Leshan is the double
(core/simulator/double/, which follows ../shared/reference/leshan-rest-contract.md).

    .venv/bin/python bench/faults.py                       # every scenario
    .venv/bin/python bench/faults.py --scenario postgres   # postgres | redis | leshan | dispatcher

postgres    ingest from 4 clients; PostgreSQL stopped (fast shutdown) for --outage seconds, then started:
            statuses while it is down (503, never 500), how soon after it is back posts succeed again
            (the same server process, not restarted), and whether every post answered 201 is stored.
redis       ingest while a dashboard websocket listens; a Redis of the scenario's own (--redis-port) stopped
            for --outage seconds and started again *without its data*: do posts go on, does the socket
            close, how soon after Redis is back does a live update reach the open socket, is the page told
            to catch up (fieldhub.js reloads it), and does the reloaded page hold what was posted meanwhile.
leshan      operations queued while Leshan is down, then while it answers slowly: delivered once each when
            it is back, in order; nothing failed.
dispatcher  a dispatcher killed (SIGKILL) while a write and an execute wait for a slow device: another
            dispatcher recovers both after OPERATION_SENDING_TIMEOUT; the write is sent again (harmless),
            the execute fails as "outcome unknown" rather than running twice.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from core.permissions import SYSTEM

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import PYTHON, child, free_port, prepare_database, server_env, wait_healthy
from bench.ingest import fresh_postgres

REDIS_URL = "redis://127.0.0.1:6379/0"
DATABASE_NAME = os.environ.get("FAULTS_DATABASE", "fieldhub_faults")


# --- the services this machine runs ------------------------------------------------------------------


def postgres_stop() -> None:
    version = sorted(os.listdir("/etc/postgresql"))[0]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "stop", "-m", "fast"], check=True)


def postgres_start() -> None:
    version = sorted(os.listdir("/etc/postgresql"))[0]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=True)
    until(lambda: subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"]).returncode == 0, 60)


def redis_stop() -> None:
    subprocess.run(["redis-cli", "-h", "127.0.0.1", "shutdown", "nosave"], capture_output=True)
    until(lambda: subprocess.run(["redis-cli", "-h", "127.0.0.1", "ping"], capture_output=True).returncode != 0, 30)


def redis_start() -> None:
    os.makedirs("/var/lib/redis", exist_ok=True)
    subprocess.run(
        ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379", "--save", "",
         "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/lib/redis/faults.log"],
        check=True,
    )  # fmt: skip
    until(lambda: subprocess.run(["redis-cli", "-h", "127.0.0.1", "ping"], capture_output=True).returncode == 0, 30)


def until(condition: Callable[[], bool], within: float) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > within:
            raise RuntimeError(f"not within {within} s")
        time.sleep(0.05)
    return time.monotonic() - started


# --- Fieldhub processes --------------------------------------------------------------------------------


def prepare(env_extra: dict[str, str] | None = None, redis_url: str = REDIS_URL) -> dict[str, str]:
    """A fresh database, migrated, with the registry; this process set up to use it too."""
    database = fresh_postgres("postgres://postgres@127.0.0.1:5432/postgres", DATABASE_NAME)
    env = server_env(database, redis_url, FIELDHUB_VAR_DIR=tempfile.mkdtemp(prefix="faults-"), **(env_extra or {}))
    env.update(REDIS_PREFIX="fieldhub-faults", EMBEDDED_WORKERS="0", ALLOWED_HOSTS="127.0.0.1,localhost")
    prepare_database(env)
    return env


@contextlib.contextmanager
def process(command: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    with child([PYTHON, *command], env=env, log=Path(env["FIELDHUB_VAR_DIR"]) / f"{command[1]}-{free_port()}.log") as p:
        yield p


@contextlib.contextmanager
def web(env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    with process(["manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)], env):
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url)
        yield url


def post(url: str, name: str, value: float) -> int | str:
    body = {"ep": name, "obj_id": 3303, "val": {"kind": "singleResource", "id": 5700, "type": "FLOAT", "value": value}}
    request = urllib.request.Request(
        f"{url}/leshan_api/resource/single", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError as error:
        return type(error).__name__


class Poster:
    """Clients posting unique temperatures in a loop; remembers every (time, value, outcome)."""

    def __init__(self, url: str, clients: int = 4, pause: float = 0.0) -> None:
        self.url, self.pause = url, pause
        self.results: list[tuple[float, float, int | str]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(clients)]

    def _run(self, client: int) -> None:
        n = 0
        while not self._stop.is_set():
            value = client * 1_000_000 + n + 0.25
            outcome = post(self.url, f"urn:faults:{client}", value)
            self.results.append((time.monotonic(), value, outcome))
            n += 1
            time.sleep(self.pause)

    def __enter__(self) -> Poster:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def between(self, start: float, end: float) -> Counter[int | str]:
        return Counter(outcome for at, _, outcome in self.results if start <= at < end)


# --- scenarios -----------------------------------------------------------------------------------------


def scenario_postgres(args: argparse.Namespace) -> None:
    env = prepare()
    from telemetry.models import Resource

    with web(env) as url, Poster(url) as poster:
        time.sleep(3)
        down_at = time.monotonic()
        postgres_stop()
        time.sleep(args.outage)
        postgres_start()
        up_at = time.monotonic()
        time.sleep(5)
    first_ok = min((at for at, _, outcome in poster.results if at >= up_at and outcome == 201), default=None)
    from django.db import connection

    connection.close()  # the bench's own connection died with the server
    acknowledged = {value for _, value, outcome in poster.results if outcome == 201}
    stored = set(Resource.objects.filter(value_float__in=acknowledged).values_list("value_float", flat=True))
    refused = {value for _, value, outcome in poster.results if outcome != 201}
    stored_anyway = Resource.objects.filter(value_float__in=refused).count()
    print(f"## postgres: stopped for {args.outage:g} s during ingest from 4 clients (one `manage.py serve`)")
    print(f"before:       {dict(poster.between(0, down_at))}")
    print(f"while down:   {dict(poster.between(down_at, up_at))}")
    print(f"after:        {dict(poster.between(up_at, float('inf')))}")
    print(f"first 201 {first_ok - up_at:.2f} s after PostgreSQL accepted connections again" if first_ok else "no 201")
    print(f"answered 201: {len(acknowledged)}, of them stored: {len(stored)}, missing: {len(acknowledged - stored)}")
    print(f"answered otherwise but stored: {stored_anyway} (a response lost after the commit)")
    print(f"500s: {sum(1 for _, _, outcome in poster.results if outcome == 500)}")


def own_redis_start(port: int) -> None:
    """A Redis of this scenario's own, keeping nothing on disk: restarted, it comes back empty."""
    subprocess.run(
        ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
         "--appendonly", "no", "--dir", tempfile.gettempdir(), "--logfile", ""],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    ping = ["redis-cli", "-p", str(port), "ping"]
    until(lambda: subprocess.run(ping, capture_output=True).returncode == 0, 30)


def own_redis_stop(port: int) -> None:
    subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], capture_output=True)
    ping = ["redis-cli", "-p", str(port), "ping"]
    until(lambda: subprocess.run(ping, capture_output=True).returncode != 0, 30)


SPARK_LAST = re.compile(r'class="spark-last">\s*([0-9.]+)')


def scenario_redis(args: argparse.Namespace) -> None:
    import aiohttp
    from django.test import Client

    port = args.redis_port or free_port()
    own_redis_start(port)
    try:
        _scenario_redis(args, port, aiohttp, Client)
    finally:
        own_redis_stop(port)


def _scenario_redis(args: argparse.Namespace, port: int, aiohttp: Any, Client: Any) -> None:
    env = prepare(redis_url=f"redis://127.0.0.1:{port}/0")
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from core.roles import Role

    viewer = get_user_model().objects.create_user(username="faults-viewer", password="faults-password-0123")
    viewer.groups.add(Group.objects.get_or_create(name=Role.VIEWER.value)[0])
    browser = Client()
    browser.force_login(viewer)
    cookie = f"sessionid={browser.cookies['sessionid'].value}"
    log: list[tuple[float, str]] = []
    reloads: list[tuple[float, float | None]] = []  # (when, the value the reloaded dashboard shows)

    async def listen(url: str, stop: asyncio.Event) -> None:
        """A dashboard socket as fieldhub.js keeps it: reconnects after a drop; told to resync, it reloads
        the page (fetched here, to see what it shows) and opens a new socket."""
        async with aiohttp.ClientSession(headers={"Cookie": cookie}) as session:
            while not stop.is_set():
                try:
                    async with session.ws_connect(f"{url}/ws/dashboard/", headers={"Origin": url}) as socket:
                        log.append((time.monotonic(), "open"))
                        while not stop.is_set():
                            with contextlib.suppress(TimeoutError):
                                message = await asyncio.wait_for(socket.receive(), timeout=0.5)
                                if message.type != aiohttp.WSMsgType.TEXT:
                                    break
                                kind = (
                                    "resync" if "fieldhub:resync" in message.data
                                    else "heartbeat" if message.data.startswith("<!--fieldhub:heartbeat")
                                    else "update"
                                )  # fmt: skip
                                log.append((time.monotonic(), kind))
                                if kind == "resync":
                                    async with session.get(f"{url}/") as page:
                                        shown = SPARK_LAST.search(await page.text())
                                    reloads.append((time.monotonic(), float(shown[1]) if shown else None))
                                    break
                        log.append((time.monotonic(), "closed"))
                except (aiohttp.ClientError, OSError) as error:
                    log.append((time.monotonic(), f"refused {type(error).__name__}"))
                    await asyncio.sleep(2)

    with web(env) as url, Poster(url, clients=1, pause=0.1) as poster:
        stop = asyncio.Event()
        loop = asyncio.new_event_loop()
        listener = threading.Thread(target=loop.run_until_complete, args=(listen(url, stop),), daemon=True)
        listener.start()
        time.sleep(4)
        down_at = time.monotonic()
        own_redis_stop(port)
        time.sleep(args.outage)
        own_redis_start(port)  # empty: no presence marks, no epoch, no subscriptions
        up_at = time.monotonic()
        time.sleep(10)
        loop.call_soon_threadsafe(stop.set)
        listener.join(timeout=10)
    kinds = Counter(kind for at, kind in log if down_at <= at < up_at)
    print(f"## redis: stopped for {args.outage:g} s and restarted empty, 1 client posting every 0.1 s, a dashboard")
    print(f"posts before: {dict(poster.between(0, down_at))}")
    print(f"posts while down: {dict(poster.between(down_at, up_at))}")
    print(f"posts after: {dict(poster.between(up_at, float('inf')))}")
    before = sum(1 for at, kind in log if at < down_at and kind == "update")
    print(f"socket while down: {dict(kinds)}; live updates before the outage: {before}")
    for kind in ("update", "resync"):
        first = min((at for at, seen in log if at >= up_at and seen == kind), default=None)
        print(f"first {kind} {first - up_at:.2f} s after Redis was back" if first else f"no {kind} after")
    for at, shown in reloads:
        posted = [value for when, value, outcome in poster.results if when < at and outcome == 201]
        during = [value for when, value, outcome in poster.results if down_at <= when < up_at and outcome == 201]
        print(
            f"reloaded {at - up_at:.2f} s after Redis was back: the dashboard shows {shown}; the last value "
            f"posted during the outage was {max(during, default=None)}, before the reload {max(posted, default=None)}"
        )


def scenario_leshan(args: argparse.Namespace) -> None:
    env = prepare({"DISPATCH_SWEEP_SECONDS": "1"})
    from core.lwm2m.types import DataType
    from core.simulator.client import SimulatedClient
    from core.simulator.double.server import LeshanDouble
    from telemetry import ingest
    from telemetry.downlink import queue
    from telemetry.models import EndpointOperation

    names = [f"urn:faults:{n}" for n in range(5)]
    port = free_port()
    env["LESHAN_URL"] = f"http://127.0.0.1:{port}"

    def queue_writes(tag: str) -> list[int]:
        from core.models import Endpoint

        ids = []
        for name in names:
            post_reading(name)
            endpoint = Endpoint.objects.get(name=name)
            for n in range(4):
                operation = queue.operation_enqueue(
                    actor=SYSTEM, endpoint=endpoint, kind="WRITE", path="/3/0/14", value=f"{tag}:{name}:{n}"
                )
                ids.append(operation.pk)
        return ids

    def post_reading(name: str) -> None:
        from core.lwm2m.nodes import Path as LwPath
        from core.lwm2m.nodes import Reading

        ingest.ingest(endpoint_name=name, readings=[Reading(LwPath(3303, 0, 5700), DataType.FLOAT, 20.0)])

    clients = [SimulatedClient(name, resources={"/3/0/14": (DataType.STRING, "+00")}) for name in names]
    print(f"## leshan: down for {args.outage:g} s with 20 writes queued for 5 devices, then slow")
    with process(["manage.py", "dispatch"], env):
        ids = queue_writes("down")
        time.sleep(args.outage)
        statuses = Counter(EndpointOperation.objects.filter(pk__in=ids).values_list("status", flat=True))
        attempts = sum(EndpointOperation.objects.filter(pk__in=ids).values_list("attempts", flat=True))
        print(f"while Leshan is down: {dict(statuses)}, attempts counted {attempts}")
        double = LeshanDouble(clients=clients)
        with double.run_in_thread(port=port):
            done = until(lambda: _all_done(ids), 180)
            sent = [json.loads(r.body)["value"] for r in double.requests if r.method == "PUT"]
            statuses = Counter(EndpointOperation.objects.filter(pk__in=ids).values_list("status", flat=True))
            print(f"Leshan back: all done {done:.1f} s later: {dict(statuses)}; writes received {len(sent)}, "
                  f"distinct {len(set(sent))}, in queue order: {_in_order(sent, names, 'down')}")  # fmt: skip
            double.latency = args.slow
            double.requests.clear()
            ids = queue_writes("slow")
            done = until(lambda: _all_done(ids), 300)
            sent = [json.loads(r.body)["value"] for r in double.requests if r.method == "PUT"]
            statuses = Counter(EndpointOperation.objects.filter(pk__in=ids).values_list("status", flat=True))
            print(f"Leshan answering after {args.slow:g} s (LESHAN_TIMEOUT 5 s): done in {done:.1f} s: "
                  f"{dict(statuses)}; writes received {len(sent)}, distinct {len(set(sent))}")  # fmt: skip


def _all_done(ids: list[int]) -> bool:
    from telemetry.models import EndpointOperation

    return not EndpointOperation.objects.filter(pk__in=ids, status__in=EndpointOperation.OPEN_STATUSES).exists()


def _in_order(sent: list[str], names: list[str], tag: str) -> bool:
    return all([v for v in sent if v.startswith(f"{tag}:{name}:")] == [f"{tag}:{name}:{n}" for n in range(4)]
               for name in names)  # fmt: skip


def scenario_dispatcher(args: argparse.Namespace) -> None:
    env = prepare({"OPERATION_SENDING_TIMEOUT": "10", "DISPATCH_SWEEP_SECONDS": "1", "LESHAN_TIMEOUT": "30"})
    from core.lwm2m.nodes import Path as LwPath
    from core.lwm2m.nodes import Reading
    from core.lwm2m.types import DataType
    from core.models import Endpoint
    from core.simulator.client import SimulatedClient
    from core.simulator.double.scripts import ScriptedOutcome
    from core.simulator.double.server import LeshanDouble
    from telemetry import ingest
    from telemetry.downlink import queue

    names = ["urn:faults:write", "urn:faults:execute"]
    clients = [SimulatedClient(name, resources={"/3/0/14": (DataType.STRING, "+00"), "/3/0/4": (DataType.NONE, None)})
               for name in names]  # fmt: skip
    double = LeshanDouble(clients=clients)
    with double.run_in_thread() as leshan_url:
        env["LESHAN_URL"] = leshan_url
        for name in names:
            double.script(name, ScriptedOutcome.delay(8))  # the device is slow to answer the first request
            ingest.ingest(endpoint_name=name, readings=[Reading(LwPath(3303, 0, 5700), DataType.FLOAT, 20.0)])
        write = queue.operation_enqueue(
            actor=SYSTEM,
            endpoint=Endpoint.objects.get(name=names[0]),
            kind="WRITE",
            path="/3/0/14",
            value="x",
        )
        execute = queue.operation_enqueue(
            actor=SYSTEM, endpoint=Endpoint.objects.get(name=names[1]), kind="EXECUTE", path="/3/0/4"
        )
        with process(["manage.py", "dispatch"], env) as first:
            until(lambda: len(double.requests) >= 2, 30)  # both requests reached Leshan; answers pending
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
        killed = time.monotonic()
        with process(["manage.py", "dispatch"], env):
            until(lambda: _all_done([write.pk, execute.pk]), 120)
            recovered = time.monotonic() - killed
    write.refresh_from_db()
    execute.refresh_from_db()
    received = Counter(f"{r.method} {r.path.split('/clients/')[-1]}" for r in double.requests)
    print("## dispatcher: killed (SIGKILL) while a write and an execute wait for a slow device")
    print(f"another dispatcher finished both {recovered:.1f} s after the kill (OPERATION_SENDING_TIMEOUT 10 s)")
    print(f"write: {write.status}, attempts {write.attempts}; execute: {execute.status}: {execute.last_error}")
    print(f"requests Leshan received: {dict(received)}")


SCENARIOS = {
    "postgres": scenario_postgres,
    "redis": scenario_redis,
    "leshan": scenario_leshan,
    "dispatcher": scenario_dispatcher,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument("--outage", type=float, default=8.0, help="seconds a part stays down")
    parser.add_argument("--slow", type=float, default=2.0, help="seconds the slow Leshan takes per request")
    parser.add_argument("--redis-port", type=int, default=0, help="the redis scenario's own Redis (default: free)")
    args = parser.parse_args()
    chosen = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    for name in chosen:
        # Each scenario in a process of its own (Django is set up once per process, per database).
        if len(chosen) > 1:
            subprocess.run([PYTHON, __file__, "--scenario", name, "--outage", str(args.outage),
                            "--slow", str(args.slow), "--redis-port", str(args.redis_port)], check=False)  # fmt: skip
            continue
        try:
            SCENARIOS[name](args)
        finally:  # leave the machine's services as they were
            if subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"]).returncode != 0:
                postgres_start()
            if subprocess.run(["redis-cli", "-h", "127.0.0.1", "ping"], capture_output=True).returncode != 0:
                redis_start()


if __name__ == "__main__":
    main()
