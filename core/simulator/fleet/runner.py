"""``Fleet``: the devices and the Leshan double in front of them, on one asyncio loop, and the HTTP session
that talks to Fieldhub (bridge posts, firmware downloads, ``/healthz``)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp

from core.simulator.double.server import LeshanDouble
from core.simulator.fleet.config import (
    RESULT_CONNECTION_LOST,
    RESULT_INITIAL,
    RESULT_INTEGRITY,
    RESULT_INVALID_URI,
    RESULT_UNSUPPORTED_PACKAGE,
    RESULT_UNSUPPORTED_PROTOCOL,
    FleetConfig,
    Stats,
)
from core.simulator.fleet.device import SimulatedDevice
from core.simulator.fleet.uplinks import BridgeUplink, EventsUplink, Uplink

logger = logging.getLogger(__name__)


class Fleet:
    """The devices and their Leshan, on the running asyncio loop: ``await fleet.run()`` until ``stop()``."""

    def __init__(self, config: FleetConfig, *, out: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.out = out or (lambda line: None)
        self.double = LeshanDouble()
        self.stats = Stats()
        self.uplink: Uplink = BridgeUplink(self) if config.via == "bridge" else EventsUplink(self)
        self.devices = [SimulatedDevice.build(self, i) for i in range(1, config.devices + 1)]
        self.leshan_url = ""
        self.error_kinds: Counter[str] = Counter()
        self._stopping: asyncio.Event | None = None
        self._closing = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._headers = {"Authorization": f"Bearer {config.token}"} if config.token else {}

    # -- running

    async def start(self) -> str:
        """Serve Leshan's API; returns its URL (what Fieldhub's LESHAN_URL must be)."""
        self._stopping = asyncio.Event()
        self.leshan_url = await self.double.start(self.config.leshan_host, self.config.leshan_port)
        connector = aiohttp.TCPConnector(limit=64)
        self._session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30))
        return self.leshan_url

    async def run(self, *, progress_every: float = 5.0) -> Stats:
        """Run the devices until each sent ``reports`` reports (when set) or ``stop()``; then shut down."""
        if self._stopping is None:
            await self.start()
        assert self._stopping is not None
        started = time.monotonic()
        reporter = asyncio.create_task(self._progress(started, progress_every))
        lives = [asyncio.create_task(self._live(device), name=device.endpoint) for device in self.devices]
        try:
            done = asyncio.gather(*lives, return_exceptions=True)  # each device's own errors are counted
            stop = asyncio.create_task(self._stopping.wait())
            either: list[asyncio.Future[Any]] = [done, stop]
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if done.done():
                await self._settle()
            stop.cancel()
        finally:
            self._stopping.set()
            for task in [*lives, *self._tasks]:
                task.cancel()
            await asyncio.gather(*lives, *self._tasks, return_exceptions=True)
            reporter.cancel()
            await asyncio.gather(reporter, return_exceptions=True)
            await self.close()
            self.out(self.progress_line(started) + " · stopped")
        return self.stats

    async def _live(self, device: SimulatedDevice) -> None:
        try:
            await device.live()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one device's failure is counted and reported, the others go on
            self._error("device", f"{device.endpoint}: {exc!r}")

    async def _settle(self) -> None:
        """After the last report: let firmware updates and command answers under way finish (up to a minute)."""
        deadline = time.monotonic() + 60
        while any(d.busy for d in self.devices) and time.monotonic() < deadline and await self.pause(0.2):
            pass

    def stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping is not None and self._stopping.is_set()

    async def pause(self, seconds: float) -> bool:
        """Sleep ``seconds``; False when the fleet is stopping (then return at once)."""
        assert self._stopping is not None
        if self._stopping.is_set():
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=max(0.0, seconds))
        return not self._stopping.is_set()

    def spawn(self, coroutine: Any, *, name: str | None = None) -> None:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._error("device task", repr(task.exception()))

    async def close(self) -> None:
        """Tell Fieldhub the devices are gone (as Leshan would once their registrations expire; best
        effort, a few seconds at most), then stop serving."""
        if self._session is not None:
            self._closing = True  # Fieldhub may be stopping too (Ctrl-C reaches both): failures are expected
            gone = [d for d in self.devices if d.endpoint in self.double.clients]
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(3):
                    await asyncio.gather(*(self.uplink.deregistered(d) for d in gone), return_exceptions=True)
                    if self.config.via == "events":
                        await asyncio.sleep(0.5)  # the follower reads the last events before the stream closes
            await self._session.close()
            self._session = None
        await self.double.stop()

    async def wait_for_fieldhub(self, within: float = 60) -> bool:
        """Wait until Fieldhub answers ``/healthz`` (it may still be starting) and, with ``via="events"``,
        follows the event stream (Leshan does not replay what a late follower missed)."""
        assert self._session is not None
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if await self._healthy() and (self.config.via == "bridge" or self.double.followers):
                return True
            if not await self.pause(0.5):
                return False
        return False

    async def _healthy(self) -> bool:
        assert self._session is not None
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with self._session.get(urljoin(self.config.url, "/healthz")) as response:
                return response.status == 200
        return False

    # -- talking to Fieldhub

    async def post(self, path: str, body: dict[str, Any]) -> None:
        assert self._session is not None
        self.stats.sent += 1
        started = time.perf_counter()
        try:
            async with self._session.post(urljoin(self.config.url, path), json=body, headers=self._headers) as response:
                if response.status >= 300:
                    text = (await response.text())[:200]
                    self._error(f"HTTP {response.status}", f"{path}: {text}")
                elif self.stats.latencies is not None:
                    self.stats.latencies.append(time.perf_counter() - started)
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._error(type(exc).__name__, f"{path}: {exc}")

    async def fetch_image(self, uri: str) -> tuple[int, bytes, str]:
        """Download a Package URI: (0 and the image and its version) or (the result code a device reports).
        A relative URI (no FIRMWARE_BASE_URL) is taken relative to Fieldhub's URL. The image must match
        the ETag Fieldhub sends (its SHA-256); the version comes from the X-Firmware-Version header (a real
        device reads it from the image; a simulated one cannot install a package without it)."""
        assert self._session is not None
        absolute = urljoin(self.config.url, uri)
        scheme = urlsplit(absolute).scheme
        if scheme in ("coap", "coaps"):
            return RESULT_UNSUPPORTED_PROTOCOL, b"", ""
        if scheme not in ("http", "https"):
            return RESULT_INVALID_URI, b"", ""
        try:
            async with self._session.get(absolute) as response:
                if response.status == 404:
                    return RESULT_INVALID_URI, b"", ""
                if response.status != 200:
                    return RESULT_CONNECTION_LOST, b"", ""
                image = await response.read()
                etag = response.headers.get("ETag", "").strip('"')
                version = response.headers.get("X-Firmware-Version", "")
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return RESULT_CONNECTION_LOST, b"", ""
        if etag and hashlib.sha256(image).hexdigest() != etag:
            return RESULT_INTEGRITY, b"", ""
        if not version:
            return RESULT_UNSUPPORTED_PACKAGE, b"", ""
        return RESULT_INITIAL, image, version

    def _error(self, kind: str, detail: str) -> None:
        if self._closing:
            return
        self.stats.errors += 1
        self.stats.last_error = detail
        self.error_kinds[kind] += 1
        if self.error_kinds[kind] <= 3:
            logger.warning("simulator: %s: %s", kind, detail)

    # -- progress

    async def _progress(self, started: float, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            self.out(self.progress_line(started))

    def progress_line(self, started: float) -> str:
        elapsed = max(time.monotonic() - started, 1e-9)
        registered = [d for d in self.devices if d.endpoint in self.double.clients]
        asleep = sum(1 for d in registered if d.sleeping and d.online_now)
        away = sum(1 for d in self.devices if not d.online_now)
        stats, what = self.stats, "posts" if self.config.via == "bridge" else "events"
        return (
            f"{elapsed:6.0f} s  devices {len(registered)}/{len(self.devices)} registered, {asleep} asleep, "
            f"{away} away · {stats.sent} {what} ({stats.sent / elapsed:.1f}/s) · {stats.errors} errors · "
            f"commands {stats.commands} · firmware {stats.downloads} downloaded, {stats.updated} updated, "
            f"{stats.update_failures} failed"
        )
