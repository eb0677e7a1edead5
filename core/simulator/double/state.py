"""The double's state: the registered clients, the scripted outcomes, the requests delayed for sleeping
clients (master, §2), and the state changes that emit Leshan's events, in its order.

It also holds the exchange with a device (latency, timeout, the device's answer), because a timeout and a
delayed delivery change the state. Nothing here is HTTP: ``exchange`` and ``routes`` answer the requests.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

from core.lwm2m.nodes import Path
from core.simulator.client import SimulatedClient, now_ms
from core.simulator.double.events import EventStream, ep_data
from core.simulator.double.nodes import Node
from core.simulator.double.protocol import Answer, Operation, dumps, response_json
from core.simulator.double.scripts import ScriptedOutcome


class RequestCancelled(Exception):
    """The registration the request was for is gone (Leshan's ``RequestCanceledException``)."""


@dataclass(frozen=True, slots=True)
class DeviceCall:
    """A request ready to be sent to a device."""

    operation: Operation
    perform: Callable[[SimulatedClient], Answer]
    path: str | None = None


@dataclass(frozen=True, slots=True)
class _Delayed:
    call: DeviceCall
    timeout: int
    request_id: str


class Registry:
    """The clients by endpoint and what happens to them. Call from the server's loop only."""

    def __init__(
        self, *, events: EventStream, clients: Iterable[SimulatedClient], latency: float, timeout_delay: float
    ) -> None:
        self.events = events
        self.clients: dict[str, SimulatedClient] = {client.endpoint: client for client in clients}
        self.latency = latency
        self.timeout_delay = timeout_delay
        self._outcomes: dict[str, deque[ScriptedOutcome]] = {}
        self._delayed: dict[str, _Delayed] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- scripting

    def script(self, ep: str, outcomes: tuple[ScriptedOutcome, ...]) -> None:
        self._outcomes.setdefault(ep, deque()).extend(outcomes)

    def next_outcome(self, ep: str) -> ScriptedOutcome | None:
        queue = self._outcomes.get(ep)
        return queue.popleft() if queue else None

    # -- registrations, presence and notifications

    def register(self, client: SimulatedClient) -> None:
        previous = self.clients.get(client.endpoint)
        if previous is not None:
            self._delayed.pop(previous.registration_id, None)
        was_asleep = previous is None or previous.sleeping
        client.new_registration()
        client.sleeping = False
        self.clients[client.endpoint] = client
        if client.queue_mode and was_asleep:
            self.events.emit("AWAKE", client.endpoint, ep_data(client.endpoint))
        self.events.emit("REGISTRATION", client.endpoint, dumps(client.registration_json()))

    def update(
        self,
        ep: str,
        *,
        lifetime: int | None,
        address: str | None,
        sms_number: str | None,
        object_links: list[dict[str, Any]] | None,
    ) -> None:
        client = self.client(ep)
        client.lifetime = lifetime if lifetime is not None else client.lifetime
        client.address = address if address is not None else client.address
        client.sms_number = sms_number if sms_number is not None else client.sms_number
        client.object_links = object_links if object_links is not None else client.object_links
        client.last_update = now_ms()
        self.awaken(client)
        update: dict[str, Any] = {"registrationId": client.registration_id, "address": client.address}
        optional = {"smsNumber": sms_number, "lifetime": lifetime, "objectLinks": object_links}
        update |= {key: value for key, value in optional.items() if value is not None}
        update |= {"secure": client.secure, "additionalAttributes": {}}
        data = {"registration": client.registration_json(), "update": update}
        self.events.emit("UPDATED", ep, dumps(data))

    def deregister(self, ep: str) -> None:
        client = self.clients.pop(ep)
        self._delayed.pop(client.registration_id, None)
        self.events.emit("DEREGISTRATION", ep, dumps(client.registration_json()))

    def sleep(self, ep: str) -> None:
        client = self.client(ep)
        if client.queue_mode and not client.sleeping:
            self.events.emit("SLEEPING", ep, ep_data(ep))
        client.sleeping = True

    def wake(self, ep: str) -> None:
        self.awaken(self.client(ep))

    def awaken(self, client: SimulatedClient) -> None:
        """The device was heard from. Queue mode: AWAKE if it slept, then (master) its delayed request is sent."""
        if not client.queue_mode:
            client.sleeping = False  # an offline device is back
            return
        if not client.sleeping:
            return
        client.sleeping = False
        self.events.emit("AWAKE", client.endpoint, ep_data(client.endpoint))
        delayed = self._delayed.pop(client.registration_id, None)
        if delayed is not None:
            self._spawn(self._deliver_delayed(client, delayed))

    def notify(self, ep: str, path: str, node: Node | None) -> None:
        client = self.client(ep)
        self.awaken(client)
        text = str(Path.parse(path))
        value = node if node is not None else _stored_node(client, text)
        rest = ',"kind":"single","res":"' + text + '","val":' + dumps(value)
        self.events.emit("NOTIFICATION", ep, ep_data(ep, rest))

    def notify_composite(self, ep: str, paths: list[str]) -> None:
        client = self.client(ep)
        self.awaken(client)
        nodes = {str(Path.parse(p)): _stored_node(client, p) for p in paths}
        rest = ',"kind":"composite","val":' + dumps(nodes) + ',"paths":' + dumps(list(nodes))
        self.events.emit("NOTIFICATION", ep, ep_data(ep, rest))

    def send(self, ep: str, paths: list[str]) -> None:
        client = self.client(ep)
        nodes = {str(Path.parse(p)): _stored_node(client, p) for p in paths}
        self.events.emit("SEND", ep, ep_data(ep, ',"val":' + dumps(nodes)))

    def client(self, ep: str) -> SimulatedClient:
        client = self.clients.get(ep)
        if client is None:
            raise KeyError(f"no registered client {ep!r}")
        return client

    # -- the exchange with a device

    async def exchange(
        self, client: SimulatedClient, call: DeviceCall, timeout_s: int, delay: float
    ) -> dict[str, Any] | None:
        """Leshan's synchronous send: the response JSON, or None when the device took ``timeout_s`` or more."""
        device_time = self.latency + delay
        if device_time >= timeout_s:
            await asyncio.sleep(max(timeout_s, 0))
            self.timed_out(client)
            return None
        await asyncio.sleep(device_time)
        if self.clients.get(client.endpoint) is not client:
            raise RequestCancelled()
        return response_json(call.operation, call.perform(client))

    def timed_out(self, client: SimulatedClient) -> None:
        """No answer in time: Leshan's presence service now considers a queue-mode client asleep."""
        if client.queue_mode and not client.sleeping and self.clients.get(client.endpoint) is client:
            client.sleeping = True
            self.events.emit("SLEEPING", client.endpoint, ep_data(client.endpoint))

    # -- master: delayed requests to sleeping clients (§2)

    def store_delayed(self, client: SimulatedClient, call: DeviceCall, timeout: int) -> dict[str, Any]:
        """Keep only the last request per registration; what Leshan answers: that it is delayed."""
        request_id = str(uuid.uuid4())
        self._delayed[client.registration_id] = _Delayed(call, timeout, request_id)
        return _delayed_json(client, call, request_id)

    async def _deliver_delayed(self, client: SimulatedClient, delayed: _Delayed) -> None:
        try:
            response = await self.exchange(client, delayed.call, delayed.timeout, 0.0)
        except RequestCancelled:
            return
        if response is not None:
            data = _delayed_json(client, delayed.call, delayed.request_id, response)
            self.events.emit("REQUEST_RESPONSE", client.endpoint, dumps(data))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Forget the delayed requests and cancel the deliveries under way (no event, as in Leshan)."""
        self._delayed.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _stored_node(client: SimulatedClient, path: str) -> Node:
    node = client.node(path)
    if isinstance(node, str):
        raise KeyError(f"{client.endpoint} has no readable value at {path} ({node})")
    return node


def _delayed_json(
    client: SimulatedClient, call: DeviceCall, request_id: str, response: dict[str, Any] | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {"ep": client.endpoint}
    if call.path is not None:
        data["path"] = call.path
    data["requestId"] = request_id
    if response is not None:
        data["response"] = response
    data["delayed"] = True
    return data
