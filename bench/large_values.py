"""Large values against a running server, with real browsers' sockets watching (issue 15, finding 5).

    .venv/bin/python bench/large_values.py --tree after=. --tree before=../h7-before --repeat 3

Each ``--tree label=path`` is a checkout of Fieldhub; its server runs from that directory (this script and
the venv stay the same), so one session can compare the code before and after a fix. Runs alternate
between the trees (after, before, after, before, ...), each on a fresh database, and the summary gives the
median of each tree and their ratio. Two topologies (``--topologies``):

- ``embedded``: what ``make run`` starts: ``manage.py serve`` (daphne, SQLite, the in-memory layer, the
  dispatcher inside); posts, pages and sockets all go to it.
- ``production``: the Procfile's: the bridge posts to ``api`` (granian, 2 WSGI workers x 4 threads,
  ``CONN_MAX_AGE=60``), pages and sockets on ``web`` (``manage.py serve``), PostgreSQL and Redis.

A viewer logs in through ``/accounts/login/``; its sockets offer permessage-deflate and accept messages of
any size, as a browser does, so the server is what decides what a socket gets.

(a) **Large values.** Sockets on the dashboard, ``/ws/events/`` and the device's page; the device posts one
composite of 360,000 ``<`` (six identity strings of object 3, 60,000 each: one STRING value may hold 65,536
characters) beside a small value. Reported: the post's status, each socket's close code (``open`` if it
stayed open), the largest message received, whether a small post from the same device 3 s later still
reached each socket, the size of ``/``, ``/events/`` and the device's page afterwards, and how many
messages the server refused to send (daphne's log) or left out (the publisher's).

(b) **A 5,000-resource device.** Viewers on the dashboard and ``/ws/events/`` (each reconnecting and
reloading its page when its socket drops, as ``fieldhub.js`` and the htmx ws extension do); another device
posts one temperature at ``--small-rate`` (10/s, on its own schedule whatever the answers) for
``--seconds`` in each of three phases: alone (baseline); while the wide device posts 5,000 booleans
(``/3200/i/5500``) at ``--wide-rate`` (5/s, at most 2 posts in flight, as a bridge's connection pool
would) with no one on its page (unwatched); the same with a viewer on its page (watched: the page is
opened, then its socket). Reported: the other device's post latency p50/p95 in each phase and the
watched/baseline ratio, the wide device's achieved rate and latency, the server's CPU per wide post (the
servers' processes only, not PostgreSQL's: CPU in the phase minus the baseline's in as long, over the
wide posts answered), the messages the viewers received during the watched phase and ``--drain`` seconds
after it (largest, KB/s), sockets closed, pages reloaded, and the size and time of the pages afterwards.

The machine these run on is shared: compare the trees' figures of one session, not figures of different
days.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import PYTHON, ROOT, percentile, server_env, wait_healthy
from bench.ingest import fresh_postgres

COMPRESS = 15  # offer permessage-deflate, as browsers do
HOSTILE_RESOURCES = (0, 1, 2, 17, 18, 19)  # manufacturer, model, serial, device type, hardware, software
HOSTILE_CHARS_EACH = 60_000  # 360,000 in all
WIDE_RESOURCES = 5_000
LOUD, WIDE, OTHER = "urn:bench:loud", "urn:bench:wide", "urn:bench:other"
VIEWER, PASSWORD = "watcher", "watching-large-values-0123"
RECONNECT_CODES = {1006, 1011, 1012, 1013}  # the htmx ws extension reconnects after these
KB = 1024


# --- processes --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def started(command: list[str], *, tree: Path, env: dict[str, str], log: Path) -> Iterator[int]:
    """``command`` run from ``tree`` in a process group of its own; SIGTERM to the group on exit."""
    with open(log, "w") as output:
        process = subprocess.Popen(command, cwd=tree, env=env, stdout=output, stderr=output, start_new_session=True)
        try:
            yield process.pid
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its descendants (granian's workers)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(FileNotFoundError):
            total += sum(cpu_seconds(int(kid)) for kid in task.read_text().split())
    return total


@dataclass
class Servers:
    post_url: str  # the bridge
    web_url: str  # pages and sockets
    pids: list[int]
    logs: list[Path]

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)

    def logged(self, pattern: str) -> int:
        return sum(len(re.findall(pattern, log.read_text(errors="replace"))) for log in self.logs if log.exists())


@contextlib.contextmanager
def topology(name: str, tree: Path, env: dict[str, str], ports: list[int]) -> Iterator[Servers]:
    env = {**env, "PYTHONPATH": str(tree)}
    var = Path(env["FIELDHUB_VAR_DIR"])
    serve = [PYTHON, "manage.py", "serve", "--host", "127.0.0.1"]
    if name == "embedded":
        url = f"http://127.0.0.1:{ports[0]}"
        with started([*serve, "--port", str(ports[0])], tree=tree, env=env, log=var / "serve.log") as pid:
            wait_healthy(url, timeout=60)
            yield Servers(url, url, [pid], [var / "serve.log"])
        return
    web_url, api_url = f"http://127.0.0.1:{ports[1]}", f"http://127.0.0.1:{ports[2]}"
    api = [
        PYTHON, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(ports[2]),
        "--workers", "2", "--blocking-threads", "4", "--no-ws", "--log-level", "warning", "core.wsgi:application",
    ]  # fmt: skip
    web_env = {**env, "EMBEDDED_WORKERS": "0"}
    with (
        started(api, tree=tree, env={**web_env, "CONN_MAX_AGE": "60"}, log=var / "api.log") as api_pid,
        started([*serve, "--port", str(ports[1])], tree=tree, env=web_env, log=var / "web.log") as web_pid,
    ):
        wait_healthy(api_url, timeout=60)
        wait_healthy(web_url, timeout=60)
        yield Servers(api_url, web_url, [api_pid, web_pid], [var / "api.log", var / "web.log"])


def prepare(tree: Path, env: dict[str, str]) -> None:
    """What ``make run`` does first (migrate, registry, roles, an administrator), then a viewer to log in as."""
    env = {**env, "PYTHONPATH": str(tree)}
    subprocess.run([PYTHON, "manage.py", "bootstrap"], cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL)
    code = (
        "import django; django.setup(); from django.contrib.auth import get_user_model; "
        "from django.contrib.auth.models import Group; "
        f"u = get_user_model().objects.create_user({VIEWER!r}, password={PASSWORD!r}); "
        "u.groups.add(Group.objects.get_or_create(name='viewer')[0])"
    )
    subprocess.run([PYTHON, "-c", code], cwd=tree, env=env, check=True)


# --- what the devices post --------------------------------------------------------------------------------


def node(resource_id: int, data_type: str, value: Any) -> dict[str, Any]:
    return {"kind": "singleResource", "id": resource_id, "type": data_type, "value": value}


def body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def hostile_post() -> bytes:
    """360,000 ``<`` in one composite: the device's identity strings, 60,000 each (a STRING value may have
    up to 65,536 characters), beside a small value."""
    nodes = {f"/3/0/{rid}": node(rid, "STRING", "<" * HOSTILE_CHARS_EACH) for rid in HOSTILE_RESOURCES}
    return body({"ep": LOUD, "val": {**nodes, "/3/0/9": node(9, "INTEGER", "80")}})


def loud_small_post(marker: str) -> bytes:
    return body({"ep": LOUD, "val": {"/3/0/15": node(15, "STRING", marker), "/3/0/9": node(9, "INTEGER", "81")}})


def wide_post(parity: int) -> bytes:
    nodes = {f"/3200/{i}/5500": node(5500, "BOOLEAN", (i + parity) % 2 == 0) for i in range(WIDE_RESOURCES)}
    return body({"ep": WIDE, "val": nodes})


def other_post(n: int) -> bytes:
    return body({"ep": OTHER, "obj_id": 3303, "val": node(5700, "FLOAT", repr(20 + (n % 100) / 10))})


JSON = {"Content-Type": "application/json"}


async def post(session: aiohttp.ClientSession, url: str, kind: str, data: bytes) -> tuple[int, float]:
    started_at = time.perf_counter()
    async with session.post(f"{url}/leshan_api/resource/{kind}", data=data, headers=JSON) as response:
        await response.read()
        return response.status, time.perf_counter() - started_at


# --- viewers ----------------------------------------------------------------------------------------------


async def log_in(url: str) -> str:
    """The session cookie of the viewer, logged in through the login form."""
    jar = aiohttp.CookieJar(unsafe=True)  # keep cookies of 127.0.0.1
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        async with session.get(f"{url}/accounts/login/") as response:
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', await response.text())
        assert token, "no CSRF token on the login page"
        form = {"username": VIEWER, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)}
        headers = {"Origin": url, "Referer": f"{url}/accounts/login/"}
        async with session.post(f"{url}/accounts/login/", data=form, headers=headers, allow_redirects=False) as r:
            assert r.status == 302, f"login answered {r.status}"
            return f"sessionid={r.cookies['sessionid'].value}"


@dataclass
class Viewer:
    """A browser tab: a page and its socket. With ``reconnect``, a dropped socket is opened again after the
    htmx ws extension's delay (full jitter, up to 1 s the first time) and the page reloaded, as fieldhub.js
    does."""

    name: str
    page: str
    socket: str
    reconnect: bool = False
    frames: list[tuple[float, int]] = field(default_factory=list)
    seen: dict[str, float] = field(default_factory=dict)  # marker -> when it first arrived
    closes: list[int | str] = field(default_factory=list)
    reloads: list[tuple[int, float]] = field(default_factory=list)  # (bytes, seconds)
    markers: set[str] = field(default_factory=set)
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)  # the tab is closed

    @property
    def first_close(self) -> str:
        return str(self.closes[0]) if self.closes else "open"

    async def run(self, session: aiohttp.ClientSession, url: str, cookie: str) -> None:
        rng = random.Random(self.name)
        while not self.stop.is_set():
            try:
                ws = await session.ws_connect(
                    f"{url}{self.socket}",
                    headers={"Origin": url, "Cookie": cookie},
                    compress=COMPRESS,
                    max_msg_size=0,
                )
            except (aiohttp.ClientError, OSError) as exc:
                self.closes.append(f"connect failed: {exc.__class__.__name__}")
                ws = None
            if ws is not None:
                if self.opened.is_set():  # a reconnection: the page reloads to catch up
                    self.reloads.append(await get_page(session, url, self.page, cookie))
                self.opened.set()
                await self._listen(ws)
            if self.stop.is_set() or not self.reconnect:
                return
            await asyncio.sleep(rng.random())  # full jitter, retry 0: up to 1 s

    async def _listen(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        stopping = asyncio.create_task(self.stop.wait())
        try:
            while True:
                receiving = asyncio.create_task(ws.receive())
                done, _ = await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if receiving not in done:
                    receiving.cancel()
                    await ws.close()
                    return
                message = receiving.result()
                if message.type == aiohttp.WSMsgType.TEXT:
                    now = time.perf_counter()
                    self.frames.append((now, len(message.data.encode())))
                    for marker in self.markers - self.seen.keys():
                        if marker in message.data:
                            self.seen[marker] = now
                    continue
                if message.type == aiohttp.WSMsgType.ERROR:
                    self.closes.append(f"error: {message.data!r}"[:80])
                else:
                    self.closes.append(ws.close_code if ws.close_code is not None else message.type.name)
                if not (isinstance(self.closes[-1], int) and self.closes[-1] in RECONNECT_CODES):
                    self.reconnect = False
                return
        finally:
            stopping.cancel()

    def frames_between(self, start: float, end: float) -> list[int]:
        return [size for at, size in self.frames if start <= at <= end]


async def get_page(session: aiohttp.ClientSession, url: str, path: str, cookie: str) -> tuple[int, float]:
    """(bytes, seconds) of one page as a browser gets it (uncompressed)."""
    started_at = time.perf_counter()
    async with session.get(f"{url}{path}", headers={"Cookie": cookie}) as response:
        content = await response.read()
        if response.status != 200:
            print(f"  GET {path}: {response.status}", flush=True)
    return len(content), time.perf_counter() - started_at


async def watching(session: aiohttp.ClientSession, url: str, cookie: str, viewers: list[Viewer]) -> list[asyncio.Task]:
    tasks = [asyncio.create_task(v.run(session, url, cookie)) for v in viewers]
    await asyncio.wait_for(asyncio.gather(*(v.opened.wait() for v in viewers)), 30)
    await asyncio.sleep(0.5)
    return tasks


async def closing(viewers: list[Viewer], tasks: list[asyncio.Task]) -> None:
    for viewer in viewers:
        viewer.stop.set()
    await asyncio.gather(*tasks)


def client() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=300))


# --- the two scenarios ------------------------------------------------------------------------------------


async def huge_value(servers: Servers, cookie: str) -> dict[str, Any]:
    """(a): one post of 360,000 ``<`` while three sockets watch."""
    device_page = f"/endpoints/{LOUD}/"
    async with client() as session:
        status, _ = await post(session, servers.post_url, "composite", loud_small_post("Europe/Berlin"))
        assert status == 201, status
        viewers = [
            Viewer("dashboard", "/", "/ws/dashboard/"),
            Viewer("events", "/events/", "/ws/events/"),
            Viewer("device", device_page, f"/ws/endpoints/{LOUD}/"),
        ]
        marker = f"Probe/Marker{random.randrange(10**6)}"
        for viewer in viewers:
            viewer.markers.add(marker)
        tasks = await watching(session, servers.web_url, cookie, viewers)
        status, seconds = await post(session, servers.post_url, "composite", hostile_post())
        await asyncio.sleep(3)
        probe_status, _ = await post(session, servers.post_url, "composite", loud_small_post(marker))
        await asyncio.sleep(3)  # a live update takes milliseconds; this is plenty
        await closing(viewers, tasks)
        pages = {
            what: await get_page(session, servers.web_url, path, cookie)
            for what, path in (("dashboard", "/"), ("events", "/events/"), ("device", device_page))
        }
    largest = max((size for v in viewers for _, size in v.frames), default=0)
    return {
        "post": f"{status} in {seconds * 1000:.0f} ms",
        "probe": probe_status,
        "closes": {v.name: v.first_close for v in viewers},
        "reached_after": sum(marker in v.seen for v in viewers),
        "largest_kb": largest / KB,
        **{f"page_{what}_kb": size / KB for what, (size, _) in pages.items()},
        "oversize_logged": servers.logged(r"fragment for \S+ was not sent"),
        "refused_logged": servers.logged(r"PayloadExceededError: tried"),
    }


@dataclass
class Phase:
    other: list[float]  # the other device's post latencies
    wide: list[float]  # the wide device's
    skipped: int  # ticks of the wide device with 2 posts still in flight
    failures: dict[str, int]
    seconds: float
    cpu: float  # server CPU seconds
    started: float  # perf_counter

    def p(self, q: float) -> float:
        return percentile(self.other, q) * 1000

    def cpu_per_wide_ms(self, base: Phase) -> float:
        """The server's CPU during this phase beyond what the baseline used in as long, per wide post."""
        extra = self.cpu - base.cpu * self.seconds / base.seconds
        return extra / len(self.wide) * 1000 if self.wide else float("nan")


async def phase(
    session: aiohttp.ClientSession,
    servers: Servers,
    args: argparse.Namespace,
    *,
    wide: bool,
    profile: Path | None = None,
) -> Phase:
    """``--seconds`` of the other device posting at ``--small-rate`` (and, with ``wide``, the wide device at
    ``--wide-rate``, at most 2 posts in flight)."""
    other: list[float] = []
    wide_latencies: list[float] = []
    failures: dict[str, int] = {}
    in_flight: set[asyncio.Task[None]] = set()
    skipped = 0
    bodies = [wide_post(0), wide_post(1)]

    async def one(kind: str, data: bytes, into: list[float]) -> None:
        try:
            code, seconds = await post(session, servers.post_url, kind, data)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            failures[exc.__class__.__name__] = failures.get(exc.__class__.__name__, 0) + 1
            return
        if code == 201:
            into.append(seconds)
        else:
            failures[str(code)] = failures.get(str(code), 0) + 1

    async def small() -> list[asyncio.Task[None]]:
        posts = []
        for n in range(int(args.seconds * args.small_rate)):
            await asyncio.sleep(max(0.0, start + n / args.small_rate - time.perf_counter()))
            posts.append(asyncio.create_task(one("single", other_post(n), other)))
        return posts

    async def big() -> None:
        nonlocal skipped
        for n in range(int(args.seconds * args.wide_rate)):
            await asyncio.sleep(max(0.0, start + n / args.wide_rate - time.perf_counter()))
            if len(in_flight) >= 2:
                skipped += 1
                continue
            task = asyncio.create_task(one("composite", bodies[n % 2], wide_latencies))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)

    spies = profiling(args, servers, profile) if profile else []
    cpu, start = servers.cpu(), time.perf_counter()
    small_posts, _ = await asyncio.gather(small(), big() if wide else asyncio.sleep(0))
    await asyncio.gather(*small_posts, *list(in_flight))
    elapsed = time.perf_counter() - start
    cpu = servers.cpu() - cpu
    for spy in spies:
        spy.send_signal(signal.SIGINT)  # py-spy writes what it has
        await asyncio.to_thread(spy.wait)
    return Phase(other, wide_latencies, skipped, failures, elapsed, cpu, start)


def profiling(args: argparse.Namespace, servers: Servers, into: Path) -> list[subprocess.Popen[bytes]]:
    """py-spy on every server process for the phase (collapsed stacks, idle threads left out)."""
    spies = []
    for pid in servers.pids:
        output = into.with_name(f"{into.name}-{pid}.txt")
        command = [args.py_spy, "record", "--pid", str(pid), "--subprocesses", "--format", "raw", "--rate", "50"]
        command += ["--nonblocking", "-o", str(output)]
        spies.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return spies


async def wide_device(servers: Servers, cookie: str, args: argparse.Namespace, var: Path) -> dict[str, Any]:
    """(b): another device's posts, alone and while a 5,000-resource device posts, watched and unwatched."""
    async with client() as session:
        status, first = await post(session, servers.post_url, "composite", wide_post(1))  # creates its resources
        assert status == 201, f"the wide post answered {status}"
        for n in range(5):
            await post(session, servers.post_url, "single", other_post(n))
        device = Viewer("device", f"/endpoints/{WIDE}/", f"/ws/endpoints/{WIDE}/", reconnect=True)
        viewers = [
            Viewer("dashboard", "/", "/ws/dashboard/", reconnect=True),
            Viewer("events", "/events/", "/ws/events/", reconnect=True),
        ]
        tasks = await watching(session, servers.web_url, cookie, viewers)
        base = await phase(session, servers, args, wide=False)
        unwatched = await phase(session, servers, args, wide=True)  # no one has the device's page open
        opened = await get_page(session, servers.web_url, device.page, cookie)  # now someone opens it
        tasks += await watching(session, servers.web_url, cookie, [device])
        viewers.append(device)
        profile = var / "profile-watched" if args.py_spy else None
        watched = await phase(session, servers, args, wide=True, profile=profile)
        await asyncio.sleep(args.drain)  # fragments rendered late, sockets closed late
        frames = {v.name: v.frames_between(watched.started, time.perf_counter()) for v in viewers}
        await closing(viewers, tasks)
        pages = {
            what: await get_page(session, servers.web_url, path, cookie)
            for what, path in (("device", device.page), ("dashboard", "/"), ("events", "/events/"))
        }
    received = [size for sizes in frames.values() for size in sizes]
    return {
        "first_wide_ms": first * 1000,
        "base_p50": base.p(50),
        "base_p95": base.p(95),
        "load_p50": watched.p(50),
        "load_p95": watched.p(95),
        "slowdown_p50": watched.p(50) / base.p(50),
        "slowdown_p95": watched.p(95) / base.p(95),
        "unwatched_p50": unwatched.p(50),
        "unwatched_p95": unwatched.p(95),
        "other_answered": f"{len(base.other)}+{len(watched.other)}+{len(unwatched.other)}",
        "failures": {**base.failures, **watched.failures, **unwatched.failures},
        "wide_rate": len(watched.wide) / watched.seconds,
        "wide_skipped": watched.skipped,
        "wide_p50": percentile(watched.wide, 50) * 1000,
        "unwatched_wide_rate": len(unwatched.wide) / unwatched.seconds,
        "unwatched_wide_p50": percentile(unwatched.wide, 50) * 1000,
        "cpu_base": base.cpu / base.seconds,
        "cpu_load": watched.cpu / watched.seconds,
        "cpu_per_wide_ms": watched.cpu_per_wide_ms(base),
        "unwatched_cpu_per_wide_ms": unwatched.cpu_per_wide_ms(base),
        "largest_kb": max(received, default=0) / KB,
        "device_frames": len(frames["device"]),
        "received_kb_s": sum(received) / KB / (watched.seconds + args.drain),
        "closes": sum(len(v.closes) for v in viewers),
        "close_codes": sorted({str(c) for v in viewers for c in v.closes}),
        "reloads": sum(len(v.reloads) for v in viewers),
        "reloaded_kb": sum(size for v in viewers for size, _ in v.reloads) / KB,
        "opened_device_ms": opened[1] * 1000,
        **{f"page_{what}_kb": size / KB for what, (size, _) in pages.items()},
        **{f"page_{what}_ms": seconds * 1000 for what, (_, seconds) in pages.items()},
        "oversize_logged": servers.logged(r"fragment for \S+ was not sent"),
        "refused_logged": servers.logged(r"PayloadExceededError: tried"),
    }


# --- running and reporting --------------------------------------------------------------------------------


def one_run(name: str, label: str, tree: Path, args: argparse.Namespace, run: int) -> dict[str, dict[str, Any]]:
    var = Path(tempfile.mkdtemp(prefix=f"{name}-{label}-", dir=args.var_dir))
    env = server_env(None, FIELDHUB_VAR_DIR=str(var), SESSION_COOKIE_SECURE="0", CSRF_COOKIE_SECURE="0")
    prefix = f"{args.redis_prefix}-{os.getpid()}-{run}"
    if name == "production":
        env.update(
            DATABASE_URL=fresh_postgres(args.postgres_url, args.postgres_db),
            REDIS_URL=args.redis_url,
            REDIS_PREFIX=prefix,
        )
    try:
        prepare(tree, env)
        with topology(name, tree, env, args.ports) as servers:
            cookie = asyncio.run(log_in(servers.web_url))
            results: dict[str, dict[str, Any]] = {}
            if "a" in args.scenarios:
                results["a"] = asyncio.run(huge_value(servers, cookie))
            if "b" in args.scenarios:
                results["b"] = asyncio.run(wide_device(servers, cookie, args, var))
            return results
    finally:
        if name == "production":
            forget_redis(args.redis_url, prefix)
        if not args.keep:
            shutil.rmtree(var, ignore_errors=True)


def forget_redis(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)


def shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


NUMERIC_SUMMARY = {
    "a": ["largest_kb", "page_dashboard_kb", "page_events_kb", "page_device_kb"],
    "b": [
        "base_p50", "base_p95", "load_p50", "load_p95", "slowdown_p50", "slowdown_p95", "unwatched_p50",
        "unwatched_p95", "wide_rate", "wide_p50", "unwatched_wide_rate", "cpu_per_wide_ms",
        "unwatched_cpu_per_wide_ms", "largest_kb", "received_kb_s", "closes", "reloads", "opened_device_ms",
        "page_device_kb", "page_device_ms", "page_dashboard_kb", "page_dashboard_ms", "page_events_kb",
        "page_events_ms",
    ],
}  # fmt: skip


def summarize(name: str, results: dict[str, list[dict[str, dict[str, Any]]]]) -> None:
    labels = list(results)
    print(f"\n## {name}: median of {', '.join(f'{len(r)} {label}' for label, r in results.items())} runs")
    for scenario, keys in NUMERIC_SUMMARY.items():
        if not all(scenario in run for runs in results.values() for run in runs):
            continue
        head = " | ".join(labels) + (f" | {labels[1]} / {labels[0]}" if len(labels) == 2 else "")
        print(f"({scenario}) | {head}")
        if scenario == "a":
            for key in ("post", "closes", "reached_after", "oversize_logged", "refused_logged"):
                values = [" / ".join(shown(run["a"][key]) for run in results[label]) for label in labels]
                print(f"  {key} | " + " | ".join(values))
        for key in keys:
            medians = [statistics.median(run[scenario][key] for run in results[label]) for label in labels]
            ratio = f" | {medians[1] / medians[0]:.2f}" if len(medians) == 2 and medians[0] else ""
            print(f"  {key} | " + " | ".join(shown(m) for m in medians) + ratio)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--tree", action="append", default=[], help="label=path of a Fieldhub checkout to run (repeatable)"
    )
    parser.add_argument("--topologies", default="embedded,production")
    parser.add_argument("--scenarios", default="a,b")
    parser.add_argument("--repeat", type=int, default=2, help="runs per tree and topology, alternating trees")
    parser.add_argument("--seconds", type=float, default=8, help="length of each phase of (b)")
    parser.add_argument("--drain", type=float, default=5, help="seconds (b) listens after its watched phase")
    parser.add_argument("--small-rate", type=float, default=10)
    parser.add_argument("--wide-rate", type=float, default=5)
    parser.add_argument("--ports", default="8170,8171,8172", help="embedded serve, production web, production api")
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--postgres-db", default="fh_h7", help="dropped and created for each run")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--redis-prefix", default="fh-h7")
    parser.add_argument("--var-dir", default=str(ROOT / "var"), help="where each run's FIELDHUB_VAR_DIR is made")
    parser.add_argument("--keep", action="store_true", help="keep each run's var directory (logs, SQLite)")
    parser.add_argument("--py-spy", help="py-spy to profile the servers with during (b)'s watched phase (--keep)")
    args = parser.parse_args()
    args.ports = [int(p) for p in args.ports.split(",")]
    trees = [(t.partition("=")[0], Path(t.partition("=")[2]).resolve()) for t in args.tree or [f"this={ROOT}"]]
    Path(args.var_dir).mkdir(parents=True, exist_ok=True)

    run = 0
    for name in args.topologies.split(","):
        results: dict[str, list[dict[str, dict[str, Any]]]] = {label: [] for label, _ in trees}
        for repeat in range(args.repeat):
            order = trees if repeat % 2 == 0 else trees[::-1]  # alternate, so that neither always goes first
            for label, tree in order:
                run += 1
                started_at = time.monotonic()
                outcome = one_run(name, label, tree, args, run)
                results[label].append(outcome)
                print(f"# {name} {label} run {repeat + 1} ({time.monotonic() - started_at:.0f} s)", flush=True)
                for scenario, figures in outcome.items():
                    print(f"  ({scenario}) " + ", ".join(f"{k} {shown(v)}" for k, v in figures.items()), flush=True)
        summarize(name, results)


if __name__ == "__main__":
    main()
