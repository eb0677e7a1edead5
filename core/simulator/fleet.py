"""A fleet of simulated LwM2M devices, and the Leshan server in front of them.

Each ``SimulatedDevice`` is a ``SimulatedClient`` of the Leshan double (``core.simulator.leshan``) given
behaviour: it registers, reports device information (object 3) and three environment sensors with
realistic curves, updates its registration before its lifetime ends, sleeps between reports in queue mode,
sometimes drops off the network and comes back, answers writes and executes (and reports what a write
changed), and runs the Firmware Update object (5): it downloads the image from the Package URI for real,
then DOWNLOADED, UPDATING, a reboot and the new version — or fails with a configurable probability and
result code.

``Fleet`` runs the devices and the double on one asyncio loop. The double serves Leshan's REST API (and
event stream) for them, so Fieldhub's commands and firmware updates reach them exactly as they would reach
a Leshan server (point ``LESHAN_URL`` at it). What the devices say reaches Fieldhub one of two ways
(``via``): as the flownexus bridge's POSTs to ``/leshan_api/resource/…`` (the default), or as Leshan's
server-sent events, for a Fieldhub that follows the stream (``LESHAN_EVENTS=1``).

Every value and decision comes from ``seed``: a device's curves, battery, which updates fail, when it drops
off; only the interleaving of devices depends on timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import math
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import aiohttp

from core.lwm2m.nodes import Path
from core.lwm2m.types import DataType
from core.simulator import payloads
from core.simulator.leshan import LeshanDouble, Node, SimulatedClient, now_ms

logger = logging.getLogger(__name__)

# Object 5 (Firmware Update): State (5/0/3) and Update Result (5/0/5).
IDLE, DOWNLOADING, DOWNLOADED, UPDATING = 0, 1, 2, 3
RESULT_INITIAL, RESULT_SUCCESS, RESULT_UPDATE_FAILED = 0, 1, 8
DOWNLOAD_FAILURES = frozenset({2, 3, 4, 5, 6, 7, 9})  # results a device reports instead of DOWNLOADED
RESULT_CONNECTION_LOST, RESULT_INTEGRITY, RESULT_UNSUPPORTED_PACKAGE, RESULT_INVALID_URI = 4, 5, 6, 7
RESULT_UNSUPPORTED_PROTOCOL = 9
ENVIRONMENT = ("/3303/0/5700", "/3304/0/5700", "/3323/0/5700")
SENSOR_UNITS = ("/3303/0/5701", "/3304/0/5701", "/3323/0/5701")
FIRMWARE_STATUS = ("/5/0/3", "/5/0/5")


@dataclasses.dataclass(frozen=True)
class FleetConfig:
    """What ``manage.py simulate`` sets; see its ``--help`` for each."""

    devices: int = 10
    interval: float = 10.0
    url: str = "http://127.0.0.1:8000"
    leshan_host: str = "127.0.0.1"
    leshan_port: int = 8080  # Fieldhub's default LESHAN_URL
    seed: int = 1
    via: Literal["bridge", "events"] = "bridge"
    token: str = ""
    prefix: str = "urn:dev:sim-"
    lifetime: int = 300
    queue_mode: float = 0.25
    awake: float = 3.0
    offline: float = 0.002
    firmware_failure: float = 0.05
    failure_result: int = RESULT_UPDATE_FAILED
    download_rate: int = 100_000
    update_seconds: float = 3.0
    reports: int | None = None

    def __post_init__(self) -> None:
        problems = [
            message
            for wrong, message in (
                (self.devices < 1, "devices must be at least 1"),
                (self.interval <= 0, "interval must be more than 0 seconds"),
                (not 0 <= self.queue_mode <= 1, "queue_mode is a fraction between 0 and 1"),
                (not 0 <= self.offline <= 1, "offline is a probability between 0 and 1"),
                (not 0 <= self.firmware_failure <= 1, "firmware_failure is a probability between 0 and 1"),
                (self.failure_result not in DOWNLOAD_FAILURES | {RESULT_UPDATE_FAILED}, "failure_result is 2..9"),
                (self.lifetime < 1, "lifetime must be at least 1 second"),
                (self.download_rate < 1, "download_rate must be at least 1 byte/s"),
                (self.via not in ("bridge", "events"), "via is bridge or events"),
                (urlsplit(self.url).scheme not in ("http", "https"), "url must be an http(s):// URL"),
                (self.reports is not None and self.reports < 0, "reports must be 0 or more"),
            )
            if wrong
        ]
        if problems:
            raise ValueError("; ".join(problems))


def chance(seed: int, *parts: object) -> float:
    """A number in [0, 1) fixed by the seed and ``parts``: decisions that do not depend on timing."""
    digest = hashlib.sha256(":".join(str(p) for p in (seed, *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclasses.dataclass
class Stats:
    sent: int = 0  # bridge posts, or events
    errors: int = 0
    downloads: int = 0
    updated: int = 0
    update_failures: int = 0
    commands: int = 0
    last_error: str = ""
    # Seconds each post took, when a benchmark asks for them (a list); None (the default) keeps none.
    latencies: list[float] | None = None


class Uplink:
    """How what a device says reaches Fieldhub. Leshan's own state (registrations, sleeping) is kept by
    the double in either case, which emits Leshan's events for it."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.double = fleet.double

    async def registered(self, device: SimulatedDevice) -> None:
        self.double.register(device)

    async def updated(self, device: SimulatedDevice) -> None:
        self.double.update(device.endpoint)

    async def deregistered(self, device: SimulatedDevice) -> None:
        self.double.deregister(device.endpoint)

    async def report(self, device: SimulatedDevice, paths: tuple[str, ...]) -> None:
        raise NotImplementedError


class EventsUplink(Uplink):
    """Leshan's event stream alone: REGISTRATION, UPDATED, DEREGISTRATION, NOTIFICATION and SEND, for a
    Fieldhub that follows ``/api/event``."""

    async def registered(self, device: SimulatedDevice) -> None:
        await super().registered(device)
        self.fleet.stats.sent += 1

    async def updated(self, device: SimulatedDevice) -> None:
        await super().updated(device)
        self.fleet.stats.sent += 1

    async def deregistered(self, device: SimulatedDevice) -> None:
        await super().deregistered(device)
        self.fleet.stats.sent += 1

    async def report(self, device: SimulatedDevice, paths: tuple[str, ...]) -> None:
        """A single notification for one path, an LwM2M Send for several."""
        if len(paths) == 1:
            self.double.notify(device.endpoint, paths[0])
        else:
            self.double.send(device.endpoint, list(paths))
        self.fleet.stats.sent += 1


class BridgeUplink(Uplink):
    """The flownexus bridge: object 10240 for registrations, ``single`` and ``composite`` for values."""

    async def registered(self, device: SimulatedDevice) -> None:
        await super().registered(device)
        await self.post("single", payloads.registration(device.endpoint, 0, device.registration_date))

    async def updated(self, device: SimulatedDevice) -> None:
        await super().updated(device)
        await self.post("single", payloads.registration(device.endpoint, 2, now_ms()))

    async def deregistered(self, device: SimulatedDevice) -> None:
        await super().deregistered(device)
        await self.post("single", payloads.registration(device.endpoint, 1, now_ms()))

    async def report(self, device: SimulatedDevice, paths: tuple[str, ...]) -> None:
        if device.queue_mode:
            self.double.wake(device.endpoint)  # Leshan hears from the device: it is awake
        if len(paths) == 1:
            at = Path.parse(paths[0])
            body = payloads.single(device.endpoint, at.object_id, device.node_at(paths[0]))
            if at.object_instance_id != 0 or at.depth != 3:
                body["path"] = paths[0]  # Fieldhub's extension: where a resource node sits
            await self.post("single", body)
        else:
            await self.post("composite", payloads.composite(device.endpoint, {p: device.node_at(p) for p in paths}))

    async def post(self, shape: str, body: dict[str, Any]) -> None:
        await self.fleet.post(f"/leshan_api/resource/{shape}", body)


class SimulatedDevice(SimulatedClient):
    """One device: its values live in the client's store (what Leshan reads), its behaviour in ``live``."""

    fleet: Fleet
    climate: Climate
    battery: float
    pending: tuple[str, bool]  # the downloaded image's version, and whether installing it fails
    index: int = 0
    online_now: bool = True
    busy: bool = False
    reports_sent: int = 0
    outages: int = 0
    updates_tried: int = 0

    @classmethod
    def create(cls, fleet: Fleet, index: int) -> SimulatedDevice:
        config = fleet.config
        rng = random.Random(f"{config.seed}:{index}")
        queue_mode = chance(config.seed, index, "queue") < config.queue_mode
        device = cls(
            endpoint=f"{config.prefix}{index:04d}",
            lifetime=config.lifetime,
            binding_mode="UQ" if queue_mode else "U",
            queue_mode=queue_mode,
            address=f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}:5683",
            resources={
                # The LwM2M Server object: lifetime and binding ("UQ": LwM2M 1.0's queue mode), reported with
                # the registration so that a Fieldhub behind the bridge (which posts neither) knows them.
                "/1/0/0": (DataType.INTEGER, 1),
                "/1/0/1": (DataType.INTEGER, config.lifetime),
                "/1/0/7": (DataType.STRING, "UQ" if queue_mode else "U"),
                "/3/0/0": (DataType.STRING, "Fieldhub Simulated Devices"),
                "/3/0/1": (DataType.STRING, "FH-SIM-1"),
                "/3/0/2": (DataType.STRING, f"SN-{config.seed:03d}-{index:06d}"),
                "/3/0/3": (DataType.STRING, "1.0.0"),
                "/3/0/4": (DataType.NONE, None),
                "/3/0/6/0": (DataType.INTEGER, 1),
                "/3/0/9": (DataType.INTEGER, rng.randint(55, 100)),
                "/3/0/10": (DataType.INTEGER, rng.randint(40, 120)),
                "/3/0/11/0": (DataType.INTEGER, 0),
                "/3/0/13": (DataType.TIME, now_ms()),
                "/3/0/14": (DataType.STRING, "+01:00"),
                "/3/0/15": (DataType.STRING, "Europe/Berlin"),
                "/3/0/16": (DataType.STRING, "UQ" if queue_mode else "U"),
                "/3/0/17": (DataType.STRING, "environment sensor"),
                "/3/0/18": (DataType.STRING, "rev B"),
                "/3303/0/5700": (DataType.FLOAT, 20.0),
                "/3303/0/5701": (DataType.STRING, "Cel"),
                "/3304/0/5700": (DataType.FLOAT, 45.0),
                "/3304/0/5701": (DataType.STRING, "%RH"),
                "/3323/0/5700": (DataType.FLOAT, 101.3),
                "/3323/0/5701": (DataType.STRING, "kPa"),
                "/5/0/1": (DataType.STRING, ""),
                "/5/0/2": (DataType.NONE, None),
                "/5/0/3": (DataType.INTEGER, IDLE),
                "/5/0/5": (DataType.INTEGER, RESULT_INITIAL),
                "/5/0/9": (DataType.INTEGER, 0),
            },
        )
        device.fleet, device.index = fleet, index
        device.climate = Climate(rng)
        device.battery = float(device.resources["/3/0/9"][1])  # type: ignore[arg-type]
        return device

    # -- what Leshan sees -------------------------------------------------------------------------------

    def node_at(self, path: str) -> Node:
        node = self.node(path)
        if isinstance(node, str):
            raise KeyError(f"{self.endpoint} has no value at {path}")
        return node

    def write(self, path: str, node: Node, replace: bool) -> str:
        outcome = super().write(path, node, replace)
        if outcome == "CHANGED":
            self.fleet.stats.commands += 1
            if str(Path.parse(path)) == "/5/0/1":
                self.fleet.spawn(self.firmware_uri_written())
            else:  # the device reports what changed, as an observation of it would
                written = tuple(key for key in self.resources if _within(key, path))
                self.fleet.spawn(self.report(written))
        return outcome

    def execute(self, path: str, arguments: str) -> str:
        target = str(Path.parse(path))
        if target == "/5/0/2":
            if self.value("/5/0/3") != DOWNLOADED:
                return "METHOD_NOT_ALLOWED"  # nothing downloaded to update to
            self.fleet.spawn(self.firmware_update())
        elif target == "/3/0/4":
            self.fleet.spawn(self.reboot())
        elif target not in self.resources or self.resources[target][0] != DataType.NONE:
            return "METHOD_NOT_ALLOWED"
        self.fleet.stats.commands += 1
        return super().execute(path, arguments)

    def value(self, path: str) -> Any:
        return self.resources[path][1]

    # -- behaviour --------------------------------------------------------------------------------------

    async def live(self) -> None:
        """Register, then report every ``interval`` (with jitter) until the fleet stops."""
        config, fleet = self.fleet.config, self.fleet
        if not await fleet.pause(config.interval * chance(config.seed, self.index, "start")):
            return
        await self.register()
        last_update = time.monotonic()
        while config.reports is None or self.reports_sent < config.reports:
            jitter = 0.9 + 0.2 * chance(config.seed, self.index, "jitter", self.reports_sent)
            if not await fleet.pause(config.interval * jitter):
                return
            if not self.busy and self.loses_network():
                await self.drop_off(self.outages)
                self.outages += 1
                last_update = time.monotonic()
                continue
            await self.report_environment()
            if time.monotonic() - last_update >= 0.9 * self.lifetime:
                await self.fleet.uplink.updated(self)
                last_update = time.monotonic()
            if self.queue_mode and not self.busy:
                fleet.spawn(self.fall_asleep(), name=f"sleep {self.endpoint}")

    def loses_network(self) -> bool:
        """Whether the network is lost before the next report: drawn anew after each outage (the draw of
        the same report again would send a device that lost it once away for ever)."""
        config = self.fleet.config
        return chance(config.seed, self.index, "offline", self.reports_sent, self.outages) < config.offline

    async def register(self) -> None:
        self.set_value("/3/0/13", DataType.TIME, now_ms())
        await self.fleet.uplink.registered(self)
        self.online_now = True
        # What a device tells once, after registering: its Server object, Device object, the units of its
        # sensors (IPSO Sensor Units, which the OMA files leave to the device) and its firmware state.
        await self.report(("/1/0", "/3/0", *SENSOR_UNITS, "/5/0/3", "/5/0/5"))

    async def report(self, paths: tuple[str, ...]) -> None:
        if self.online_now and paths:
            await self.fleet.uplink.report(self, paths)

    async def report_environment(self) -> None:
        """One composite report of the three sensors (and the battery every tenth time)."""
        temperature, humidity, pressure = self.climate.next(self.fleet.config.interval)
        self.set_value("/3303/0/5700", DataType.FLOAT, temperature)
        self.set_value("/3304/0/5700", DataType.FLOAT, humidity)
        self.set_value("/3323/0/5700", DataType.FLOAT, pressure)
        self.battery = self.battery - 0.05 if self.battery > 5 else 100.0  # recharged when nearly empty
        self.set_value("/3/0/9", DataType.INTEGER, max(0, round(self.battery)))
        self.reports_sent += 1
        await self.report(ENVIRONMENT)
        if self.reports_sent % 10 == 0:
            await self.report(("/3/0/9",))

    async def fall_asleep(self) -> None:
        """Queue mode: awake for a moment after reporting (requests reach it), then asleep (Leshan SLEEPING)."""
        if await self.fleet.pause(self.fleet.config.awake) and not self.busy and self.online_now:
            with contextlib.suppress(KeyError):  # deregistered meanwhile
                self.fleet.double.sleep(self.endpoint)

    async def drop_off(self, attempt: int) -> None:
        """Lost the network for 2 to 10 intervals. Leshan expires the registration if the lifetime passes
        meanwhile; the device registers again when back, else it sends a registration update."""
        config = self.fleet.config
        away = config.interval * (2 + 8 * chance(config.seed, self.index, "away", attempt))
        self.online_now = False
        with contextlib.suppress(KeyError):
            self.fleet.double.sleep(self.endpoint)  # requests to it fail (time out) while it is gone
        expired = away > self.lifetime
        if expired:
            if not await self.fleet.pause(self.lifetime):
                return
            await self.fleet.uplink.deregistered(self)
            away -= self.lifetime
        if not await self.fleet.pause(away):
            return
        if expired:
            await self.register()
        else:
            self.online_now = True
            await self.fleet.uplink.updated(self)

    async def reboot(self) -> None:
        """A reboot (3/0/4, or after an update): gone for a moment, then a new registration."""
        self.busy = True
        try:
            await asyncio.sleep(0.2)  # the answer to the execute goes out first
            self.online_now = False
            if await self.fleet.pause(min(self.fleet.config.update_seconds, 2.0)):
                await self.register()
        finally:
            self.busy = False

    # -- firmware (object 5) ----------------------------------------------------------------------------

    def update_fails(self, attempt: int) -> bool:
        """Whether this device's update number ``attempt`` (from 0) fails: fixed by the seed."""
        config = self.fleet.config
        return chance(config.seed, self.index, "firmware", attempt) < config.firmware_failure

    async def firmware_uri_written(self) -> None:
        """A Package URI was written: an empty one cancels; otherwise download it (pull delivery)."""
        uri = str(self.value("/5/0/1"))
        await asyncio.sleep(0.05)  # the write's answer goes out first
        if not uri:
            self.busy = False
            self.set_value("/5/0/3", DataType.INTEGER, IDLE)
            self.set_value("/5/0/5", DataType.INTEGER, RESULT_INITIAL)
            await self.report(FIRMWARE_STATUS)
            return
        self.busy = True
        try:
            await self.download(uri)
        finally:
            self.busy = self.value("/5/0/3") == DOWNLOADED  # stay awake until the update is executed

    async def download(self, uri: str) -> None:
        config, stats = self.fleet.config, self.fleet.stats
        fails = self.update_fails(self.updates_tried)
        self.updates_tried += 1
        self.set_value("/5/0/3", DataType.INTEGER, DOWNLOADING)
        self.set_value("/5/0/5", DataType.INTEGER, RESULT_INITIAL)
        await self.report(FIRMWARE_STATUS)
        result, image, version = await self.fleet.fetch_image(uri)
        if result == RESULT_INITIAL:
            stats.downloads += 1
            await self.fleet.pause(len(image) / config.download_rate)
            if fails and config.failure_result in DOWNLOAD_FAILURES:
                result = config.failure_result
        if result != RESULT_INITIAL:
            stats.update_failures += 1
            self.set_value("/5/0/3", DataType.INTEGER, IDLE)
            self.set_value("/5/0/5", DataType.INTEGER, result)
            await self.report(FIRMWARE_STATUS)
            return
        self.pending = (version, fails)
        self.set_value("/5/0/3", DataType.INTEGER, DOWNLOADED)
        await self.report(FIRMWARE_STATUS)

    async def firmware_update(self) -> None:
        """Update (5/0/2 executed): UPDATING, a reboot, then the new version — or the old one and result 8."""
        self.busy = True
        try:
            version, fails = self.pending
            await asyncio.sleep(0.05)
            self.set_value("/5/0/3", DataType.INTEGER, UPDATING)
            await self.report(("/5/0/3",))
            self.online_now = False
            if not await self.fleet.pause(self.fleet.config.update_seconds):
                return
            self.set_value("/5/0/3", DataType.INTEGER, IDLE)
            if fails:
                self.fleet.stats.update_failures += 1
                self.set_value("/5/0/5", DataType.INTEGER, RESULT_UPDATE_FAILED)
            else:
                self.fleet.stats.updated += 1
                self.set_value("/3/0/3", DataType.STRING, version)
                self.set_value("/5/0/5", DataType.INTEGER, RESULT_SUCCESS)
            await self.register()
        finally:
            self.busy = False


class Climate:
    """Indoor climate: a daily cycle, slow weather drift and sensor noise, per device."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.base = rng.uniform(18.0, 24.0)
        self.swing = rng.uniform(1.0, 3.5)
        self.phase = rng.uniform(0, 2 * math.pi)
        self.drift = 0.0
        self.pressure = rng.uniform(99.5, 102.5)
        self.elapsed = 0.0

    def next(self, seconds: float) -> tuple[float, float, float]:
        self.elapsed += seconds
        day = math.sin(2 * math.pi * self.elapsed / 86_400 + self.phase)
        self.drift = max(-3.0, min(3.0, self.drift + self.rng.gauss(0, 0.05)))
        temperature = self.base + self.swing * day + self.drift + self.rng.gauss(0, 0.08)
        humidity = max(5.0, min(95.0, 50 - 2.5 * (temperature - self.base) + self.rng.gauss(0, 0.4)))
        self.pressure = max(95.0, min(105.0, self.pressure + self.rng.gauss(0, 0.01)))
        return round(temperature, 2), round(humidity, 1), round(self.pressure, 2)


class Fleet:
    """The devices and their Leshan, on the running asyncio loop: ``await fleet.run()`` until ``stop()``."""

    def __init__(self, config: FleetConfig, *, out: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.out = out or (lambda line: None)
        self.double = LeshanDouble()
        self.stats = Stats()
        self.uplink: Uplink = BridgeUplink(self) if config.via == "bridge" else EventsUplink(self)
        self.devices = [SimulatedDevice.create(self, i) for i in range(1, config.devices + 1)]
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
            await asyncio.wait([done, stop], return_when=asyncio.FIRST_COMPLETED)
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


def _within(key: str, path: str) -> bool:
    """Whether stored path ``key`` lies within ``path`` (both canonical, ``/3/0/14``)."""
    return key == path or key.startswith(path.rstrip("/") + "/")
