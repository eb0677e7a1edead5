"""One simulated device: a ``SimulatedClient`` of the Leshan double given behaviour (reports, sleep,
outages, reboots, commands and the Firmware Update object)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from typing import TYPE_CHECKING, Any

from core.lwm2m.nodes import Path
from core.lwm2m.types import DataType, Value
from core.simulator.client import SimulatedClient, now_ms
from core.simulator.double.nodes import Node
from core.simulator.fleet.climate import Climate
from core.simulator.fleet.config import (
    DOWNLOAD_FAILURES,
    DOWNLOADED,
    DOWNLOADING,
    DRAINING,
    FALLING_SILENT,
    IDLE,
    OVERHEATING,
    RESULT_INITIAL,
    RESULT_SUCCESS,
    RESULT_UPDATE_FAILED,
    TROUBLE_CYCLE,
    UPDATING,
    FleetConfig,
    chance,
)

if TYPE_CHECKING:
    from core.simulator.fleet.runner import Fleet

ENVIRONMENT = ("/3303/0/5700", "/3304/0/5700", "/3323/0/5700")
SENSOR_UNITS = ("/3303/0/5701", "/3304/0/5701", "/3323/0/5701")
FIRMWARE_STATUS = ("/5/0/3", "/5/0/5")


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
    intervals: int = 0  # report times passed (silent ones too)

    @classmethod
    def build(cls, fleet: Fleet, index: int) -> SimulatedDevice:
        config = fleet.config
        rng = random.Random(f"{config.seed}:{index}")
        queue_mode = chance(config.seed, index, "queue") < config.queue_mode
        device = cls(
            endpoint=f"{config.prefix}{index:04d}",
            lifetime=config.lifetime,
            binding_mode="UQ" if queue_mode else "U",
            queue_mode=queue_mode,
            address=f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}:5683",
            resources=_resources(config, index, queue_mode, rng),
        )
        device.fleet, device.index = fleet, index
        device.climate = Climate(rng)
        device.battery = float(device.value("/3/0/9"))
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
            self.intervals += 1
            if self.silent_now():
                continue  # --trouble: 0003 sends nothing for a while (its registration lapses)
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

    def silent_now(self) -> bool:
        return self.fleet.config.trouble and self.index == FALLING_SILENT and (self.intervals // TROUBLE_CYCLE) % 2 == 1

    def overheating(self) -> float:
        """--trouble: 0001's extra degrees, climbing to 20 and back down over TROUBLE_CYCLE reports."""
        if not self.fleet.config.trouble or self.index != OVERHEATING:
            return 0.0
        phase = self.reports_sent % TROUBLE_CYCLE
        half = TROUBLE_CYCLE / 2
        return round(20.0 * (phase / half if phase < half else (TROUBLE_CYCLE - phase) / half), 2)

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
        self.set_value("/3303/0/5700", DataType.FLOAT, round(temperature + self.overheating(), 2))
        self.set_value("/3304/0/5700", DataType.FLOAT, humidity)
        self.set_value("/3323/0/5700", DataType.FLOAT, pressure)
        draining = self.fleet.config.trouble and self.index == DRAINING
        drain = 2.5 if draining else 0.05
        self.battery = self.battery - drain if self.battery > 5 else 100.0  # recharged when nearly empty
        self.set_value("/3/0/9", DataType.INTEGER, max(0, round(self.battery)))
        self.reports_sent += 1
        await self.report(ENVIRONMENT)
        if draining or self.reports_sent % 10 == 0:
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


def _resources(
    config: FleetConfig, index: int, queue_mode: bool, rng: random.Random
) -> dict[str, tuple[DataType, Value]]:
    """A new device's objects: Server (1), Device (3), three sensors and Firmware Update (5)."""
    binding = "UQ" if queue_mode else "U"
    return {
        # The LwM2M Server object: lifetime and binding ("UQ": LwM2M 1.0's queue mode), reported with
        # the registration so that a Fieldhub behind the bridge (which posts neither) knows them.
        "/1/0/0": (DataType.INTEGER, 1),
        "/1/0/1": (DataType.INTEGER, config.lifetime),
        "/1/0/7": (DataType.STRING, binding),
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
        "/3/0/16": (DataType.STRING, binding),
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
    }


def _within(key: str, path: str) -> bool:
    """Whether stored path ``key`` lies within ``path`` (both canonical, ``/3/0/14``)."""
    return key == path or key.startswith(path.rstrip("/") + "/")
