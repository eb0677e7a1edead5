"""``LeshanDouble``: the Leshan demo server's ``/api/clients`` and ``/api/event``, served by aiohttp on
loopback; the assembly of the double's parts, its start and stop, and the helpers tests drive it with."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler

from core.simulator.client import SimulatedClient
from core.simulator.double.events import EventStream
from core.simulator.double.exchange import DeviceRequests
from core.simulator.double.handlers import OperationHandlers
from core.simulator.double.nodes import Node
from core.simulator.double.protocol import LeshanVersion
from core.simulator.double.replies import Replies, drop_content_type
from core.simulator.double.routes import ClientRoutes
from core.simulator.double.scripts import ScriptedOutcome
from core.simulator.double.security import SecurityRoutes, SecurityStore, ServerIdentity, parse_security_info
from core.simulator.double.state import Registry

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RequestRecord:
    method: str
    path: str
    query: dict[str, str]
    body: str
    time: float


class LeshanDouble:
    """The Leshan double, on a loop of its own (``run_in_thread``) or the running one (``start``).

    ``latency`` (seconds) is added to every request that reaches a device. ``timeout_delay`` is how long a
    simulated timeout (``ScriptedOutcome.timeout()``, an offline non-queue-mode device) waits before the 504.
    ``heartbeat`` is the SSE heartbeat period. ``server_certificate``: the server's identity
    (``GET /api/security/server``) is a self-signed certificate (Leshan's default), else a raw public key.
    Every helper that changes state is safe to call from another thread while the server runs in
    ``run_in_thread``. ``requests`` logs every request, ``events`` every event emitted; ``security`` is the
    security store (§7).
    """

    def __init__(
        self,
        *,
        version: LeshanVersion = LeshanVersion.M15,
        latency: float = 0.0,
        timeout_delay: float = 0.0,
        heartbeat: float = 10.0,
        clients: Iterable[SimulatedClient] = (),
        server_certificate: bool = True,
    ) -> None:
        self._version = version
        self.stream = EventStream(heartbeat=heartbeat)
        self.registry = Registry(events=self.stream, clients=clients, latency=latency, timeout_delay=timeout_delay)
        replies = Replies(master=self.master)
        self.routes = ClientRoutes(OperationHandlers(DeviceRequests(self.registry, replies)))
        self.security = SecurityStore()
        self.server_identity = ServerIdentity(certificate=server_certificate)
        self.security_routes = SecurityRoutes(self.security, self.server_identity, master=self.master)
        self.requests: list[RequestRecord] = []
        self.base_url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._stop_requested: asyncio.Event | None = None

    @property
    def version(self) -> LeshanVersion:
        """Fixed at construction: the routes' answers are built for it."""
        return self._version

    @property
    def master(self) -> bool:
        return self._version == LeshanVersion.MASTER

    @property
    def clients(self) -> dict[str, SimulatedClient]:
        return self.registry.clients

    @property
    def events(self) -> list[tuple[str, str]]:
        return self.stream.log

    @property
    def followers(self) -> int:
        """How many clients are reading the event stream."""
        return self.stream.followers

    @property
    def latency(self) -> float:
        return self.registry.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self.registry.latency = seconds

    @property
    def timeout_delay(self) -> float:
        return self.registry.timeout_delay

    @timeout_delay.setter
    def timeout_delay(self, seconds: float) -> None:
        self.registry.timeout_delay = seconds

    @property
    def heartbeat(self) -> float:
        return self.stream.heartbeat

    @heartbeat.setter
    def heartbeat(self, seconds: float) -> None:
        self.stream.heartbeat = seconds

    # -- running

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._log_request])
        app.router.add_route("*", "/api/clients", self.routes.handle)
        app.router.add_route("*", "/api/clients/{tail:.*}", self.routes.handle)
        app.router.add_route("*", "/api/event", self.stream.handle)
        app.router.add_route("*", "/api/security", self.security_routes.handle)
        app.router.add_route("*", "/api/security/{tail:.*}", self.security_routes.handle)
        app.on_response_prepare.append(drop_content_type)
        return app

    @web.middleware
    async def _log_request(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = (await request.read()).decode("utf-8", "replace") if request.can_read_body else ""
        self.requests.append(RequestRecord(request.method, request.path, dict(request.query), body, time.time()))
        return await handler(request)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0: any free port) in the running loop; returns the base URL."""
        self._loop = asyncio.get_running_loop()
        self._runner = web.AppRunner(self.build_app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.base_url = f"http://{shown_host}:{bound_port}"
        return self.base_url

    async def stop(self) -> None:
        """Close the event streams, cancel pending delayed requests (no event, as in Leshan) and stop serving."""
        self.stream.close()
        await self.registry.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = None
        self._loop = None

    @contextlib.contextmanager
    def run_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve from a background thread with its own event loop; yields the base URL."""
        ready: concurrent.futures.Future[str] = concurrent.futures.Future()
        thread = threading.Thread(target=self._thread_main, args=(host, port, ready), name="leshan-double")
        thread.daemon = True
        thread.start()
        base_url = ready.result(timeout=10)
        try:
            yield base_url
        finally:
            loop, stop_requested = self._loop, self._stop_requested
            if loop is not None and stop_requested is not None:
                loop.call_soon_threadsafe(stop_requested.set)
            thread.join(timeout=10)

    def _thread_main(self, host: str, port: int, ready: concurrent.futures.Future[str]) -> None:
        asyncio.run(self._serve_until_stopped(host, port, ready))

    async def _serve_until_stopped(self, host: str, port: int, ready: concurrent.futures.Future[str]) -> None:
        try:
            base_url = await self.start(host, port)
        except Exception as exc:
            ready.set_exception(exc)
            return
        self._stop_requested = asyncio.Event()
        ready.set_result(base_url)
        try:
            await self._stop_requested.wait()
        finally:
            await self.stop()

    def _on_loop(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``function`` on the server's loop (waiting for it) when called from another thread."""
        loop = self._loop
        try:
            current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if loop is None or not loop.is_running() or current is loop:
            return function(*args, **kwargs)

        async def call() -> T:
            return function(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(call(), loop).result(timeout=10)

    # -- the helpers: scripting, and state changes that emit Leshan's events

    def script(self, ep: str, *outcomes: ScriptedOutcome) -> None:
        """Queue forced outcomes for ``ep``: each device request to it consumes the next one."""
        self._on_loop(self.registry.script, ep, outcomes)

    def register(self, client: SimulatedClient) -> None:
        """A Register: a new registration; AWAKE (queue mode) then REGISTRATION."""
        self._on_loop(self.registry.register, client)

    def update(
        self,
        ep: str,
        *,
        lifetime: int | None = None,
        address: str | None = None,
        sms_number: str | None = None,
        object_links: list[dict[str, Any]] | None = None,
    ) -> None:
        """A registration Update: AWAKE (sleeping queue-mode client) then UPDATED."""
        changes = {"lifetime": lifetime, "address": address, "sms_number": sms_number, "object_links": object_links}
        self._on_loop(self.registry.update, ep, **changes)

    def deregister(self, ep: str) -> None:
        self._on_loop(self.registry.deregister, ep)

    def sleep(self, ep: str) -> None:
        """Queue mode: the client falls asleep (SLEEPING). Otherwise: the device goes offline, silently."""
        self._on_loop(self.registry.sleep, ep)

    def wake(self, ep: str) -> None:
        """Queue mode: AWAKE, then (master) the delayed request is sent. Otherwise: back online."""
        self._on_loop(self.registry.wake, ep)

    def notify(self, ep: str, path: str, node: Node | None = None) -> None:
        """A single notification of ``path`` (its stored node unless ``node`` is given)."""
        self._on_loop(self.registry.notify, ep, path, node)

    def notify_composite(self, ep: str, paths: list[str]) -> None:
        self._on_loop(self.registry.notify_composite, ep, paths)

    def send(self, ep: str, paths: list[str]) -> None:
        """An LwM2M Send of the stored nodes of ``paths``."""
        self._on_loop(self.registry.send, ep, paths)

    def emit_raw(self, text: str) -> None:
        """Write ``text`` as is to every event stream (for client robustness tests)."""
        self._on_loop(self.stream.emit_raw, text)

    def security_entries(self) -> dict[str, dict[str, Any]]:
        """The security store's entries by endpoint (a copy)."""
        return self._on_loop(lambda: {ep: json.loads(json.dumps(info)) for ep, info in self.security.entries.items()})

    def security_add(self, info: dict[str, Any]) -> None:
        """An entry added behind Fieldhub's back (checked as a PUT is)."""
        self._on_loop(lambda: self.security.add(parse_security_info(info)))

    def lose_security_store(self) -> None:
        """The store is gone (an upgrade that could not load the old file, a lost Redis): every entry."""
        self._on_loop(self.security.clear)

    def disconnect_streams(self) -> None:
        """Close every open event stream."""
        self._on_loop(self.stream.close)
