"""One handler per LwM2M operation of ``/api/clients``: each checks its request once the endpoint is known
to be registered, builds the ``DeviceCall`` (what the device is asked) and sends it."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from core.lwm2m.nodes import Path
from core.simulator.client import SimulatedClient
from core.simulator.double import bodies
from core.simulator.double.exchange import DeviceRequests
from core.simulator.double.nodes import placed
from core.simulator.double.protocol import (
    CREATE,
    DELETE,
    EXECUTE,
    OBSERVE,
    OBSERVE_COMPOSITE,
    WRITE,
    WRITE_ATTRIBUTES,
    WRITE_COMPOSITE,
    Answer,
    HttpError,
    Operation,
    bad_value,
    content_answer,
    discover_answer,
)
from core.simulator.double.state import DeviceCall


class OperationHandlers:
    def __init__(self, requests: DeviceRequests) -> None:
        self.requests = requests
        self.registry = requests.registry
        self.replies = requests.replies

    async def simple(
        self, request: web.Request, ep: str, operation: Operation, path_text: str, *, capital: bool
    ) -> web.StreamResponse:
        """Read, discover, observe and delete: a path and no body."""

        def prepare(client: SimulatedClient) -> DeviceCall:
            path = str(bodies.parse_path(path_text))
            if operation is DELETE and Path.parse(path).depth != 2:
                raise HttpError(400, f"Invalid request: Invalid path {path}: only object instances can be deleted")
            perform: dict[str, Callable[[SimulatedClient], Answer]] = {
                "read": lambda c: content_answer(c.read(path)),
                "observe": lambda c: content_answer(c.observe(path)),
                "discover": lambda c: discover_answer(c.discover(path)),
                "delete": lambda c: Answer(c.delete(path)),
            }
            return DeviceCall(operation, perform[operation.name], path)

        return await self.requests.send(request, ep, operation, prepare, capital=capital)

    async def write(self, request: web.Request, ep: str, path_text: str) -> web.StreamResponse:
        raw_replace = request.query.get("replace")
        replace = raw_replace is None or raw_replace.lower() == "true"
        body = await request.text()

        def prepare(client: SimulatedClient) -> DeviceCall:
            path = bodies.parse_path(path_text)
            node = placed(bodies.body_node(request, body, path), path)
            return DeviceCall(WRITE, lambda c: Answer(c.write(str(path), node, replace)), str(path))

        return await self.requests.send(request, ep, WRITE, prepare, capital=True)

    async def execute(self, request: web.Request, ep: str, path_text: str) -> web.StreamResponse:
        arguments = await request.text() if request.content_length else ""

        def prepare(client: SimulatedClient) -> DeviceCall:
            path = str(bodies.parse_path(path_text))
            if not bodies.ARGUMENTS_RE.fullmatch(arguments):
                raise HttpError(400, f"Invalid request: Unable to parse execute arguments [{arguments[:60]}]")
            return DeviceCall(EXECUTE, lambda c: Answer(c.execute(path, arguments)), path)

        return await self.requests.send(request, ep, EXECUTE, prepare, capital=False)

    async def create(self, request: web.Request, ep: str, path_text: str) -> web.StreamResponse:
        body = await request.text()

        def prepare(client: SimulatedClient) -> DeviceCall:
            path = bodies.parse_path(path_text)
            node = bodies.body_node(request, body, path)
            if node["kind"] != "instance":
                raise bad_value("payload must contain an object instance")
            if path.depth == 2:
                node = placed(node, path)
            object_path = str(Path(path.object_id))

            def perform(c: SimulatedClient) -> Answer:
                code, location = c.create(object_path, node)
                return Answer(code, location=location)

            return DeviceCall(CREATE, perform, str(path))

        return await self.requests.send(request, ep, CREATE, prepare, capital=False)

    async def write_attributes(self, request: web.Request, ep: str, path_text: str) -> web.StreamResponse:
        def prepare(client: SimulatedClient) -> DeviceCall:
            path = str(bodies.parse_path(path_text))
            attributes = bodies.attributes(request.query_string, master=self.replies.master)
            return DeviceCall(WRITE_ATTRIBUTES, lambda c: Answer(c.write_attributes(path, attributes)), path)

        return await self.requests.send(request, ep, WRITE_ATTRIBUTES, prepare, capital=True)

    async def read_composite(self, request: web.Request, ep: str, operation: Operation) -> web.StreamResponse:
        def prepare(client: SimulatedClient) -> DeviceCall:
            paths = bodies.composite_paths(request)
            if operation is OBSERVE_COMPOSITE:
                return DeviceCall(operation, lambda c: content_answer(c.observe_composite(paths)))
            return DeviceCall(operation, lambda c: content_answer(c.read_composite(paths)))

        return await self.requests.send(request, ep, operation, prepare, capital=True)

    async def write_composite(self, request: web.Request, ep: str) -> web.StreamResponse:
        body = await request.text()

        def prepare(client: SimulatedClient) -> DeviceCall:
            nodes = bodies.composite_body(body, request.path, master=self.replies.master)
            return DeviceCall(WRITE_COMPOSITE, lambda c: Answer(c.write_composite(nodes)))

        return await self.requests.send(request, ep, WRITE_COMPOSITE, prepare, capital=False)

    async def cancel(self, request: web.Request, ep: str, path_text: str) -> web.StreamResponse:
        """Passive: forget the observation, 200 with no body. Active: also ask the device (§1.2 notes)."""
        if "active" not in request.query:
            client = self.registry.clients.get(ep)
            if client is None:
                return self.replies.not_registered(ep, False)
            client.observations.discard(str(bodies.parse_path(path_text)))
            return web.Response()

        def prepare(client: SimulatedClient) -> DeviceCall:
            path = str(bodies.parse_path(path_text))
            if path not in client.observations:
                raise HttpError(404, f"no observation for path {path} for  client '{self._client_text(client)}'")

            def perform(c: SimulatedClient) -> Answer:
                c.observations.discard(path)
                return content_answer(c.read(path))

            return DeviceCall(OBSERVE, perform, path)

        return await self.requests.send(request, ep, OBSERVE, prepare, capital=False)

    async def cancel_composite(self, request: web.Request, ep: str) -> web.StreamResponse:
        if "active" not in request.query:
            client = self.registry.clients.get(ep)
            if client is None:
                return self.replies.not_registered(ep, False)
            client.composite_observations.discard(tuple(bodies.composite_paths(request)))
            return web.Response()

        def prepare(client: SimulatedClient) -> DeviceCall:
            paths = tuple(bodies.composite_paths(request))
            if paths not in client.composite_observations:
                shown = "[" + ", ".join(paths) + "]"
                message = f"no composite observation for paths {shown} for  client '{self._client_text(client)}'"
                raise HttpError(404, message)

            def perform(c: SimulatedClient) -> Answer:
                c.composite_observations.discard(paths)
                return content_answer(c.read_composite(list(paths)))

            return DeviceCall(OBSERVE_COMPOSITE, perform)

        return await self.requests.send(request, ep, OBSERVE_COMPOSITE, prepare, capital=False)

    def _client_text(self, client: SimulatedClient) -> str:
        if self.replies.master:
            return f"Registration [endpoint={client.endpoint}, registrationId={client.registration_id}]"
        return client.endpoint
