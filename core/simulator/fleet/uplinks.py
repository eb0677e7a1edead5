"""How what a device says reaches Fieldhub: the flownexus bridge's posts, or Leshan's event stream."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.lwm2m.nodes import Path
from core.simulator import payloads
from core.simulator.client import now_ms

if TYPE_CHECKING:
    from core.simulator.fleet.device import SimulatedDevice
    from core.simulator.fleet.runner import Fleet


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
