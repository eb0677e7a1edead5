"""``/api/clients``: a request dispatched by method and path segments to its operation (§1.2 notes)."""

from __future__ import annotations

from aiohttp import web

from core.simulator.double.bodies import lwm2m_path
from core.simulator.double.handlers import OperationHandlers
from core.simulator.double.protocol import (
    DELETE,
    DISCOVER,
    OBSERVE,
    OBSERVE_COMPOSITE,
    READ,
    READ_COMPOSITE,
    HttpError,
)
from core.simulator.double.replies import json_response, method_not_allowed
from core.simulator.double.state import RequestCancelled


class ClientRoutes:
    def __init__(self, handlers: OperationHandlers) -> None:
        self.ops = handlers
        self.registry = handlers.registry
        self.replies = handlers.replies

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Every method on ``/api/clients`` and ``/api/clients/{tail}``."""
        tail = request.match_info.get("tail")
        handlers = {"GET": self._get, "PUT": self._put, "POST": self._post, "DELETE": self._delete}
        handler = handlers.get(request.method)
        if handler is None:
            return method_not_allowed(request)
        if tail is None and request.method == "GET":
            return json_response([client.registration_json() for client in self.registry.clients.values()])
        segments = [part for part in (tail or "").split("/") if part]
        if not segments:
            return self.replies.invalid_path(request)
        try:
            return await handler(request, segments)
        except HttpError as error:
            return self.replies.error(error, request)
        except RequestCancelled:
            return self.replies.text(500, f"Request cancelled: Request {request.path} canceled")

    async def _get(self, request: web.Request, seg: list[str]) -> web.StreamResponse:
        ep = seg[0]
        if len(seg) == 1:
            client = self.registry.clients.get(ep)
            return json_response(client.registration_json()) if client else self.replies.not_registered(ep, False)
        if len(seg) == 2 and seg[1] == "composite":
            return await self.ops.read_composite(request, ep, READ_COMPOSITE)
        if len(seg) >= 3 and seg[-1] == "discover":
            return await self.ops.simple(request, ep, DISCOVER, lwm2m_path(seg[1:-1]), capital=True)
        return await self.ops.simple(request, ep, READ, lwm2m_path(seg[1:]), capital=True)

    async def _put(self, request: web.Request, seg: list[str]) -> web.StreamResponse:
        ep = seg[0]
        if len(seg) == 2 and seg[1] == "composite":
            return await self.ops.write_composite(request, ep)
        if len(seg) < 3:
            return self.replies.invalid_path(request)
        if seg[-1] == "attributes":
            return await self.ops.write_attributes(request, ep, lwm2m_path(seg[1:-1]))
        return await self.ops.write(request, ep, lwm2m_path(seg[1:]))

    async def _post(self, request: web.Request, seg: list[str]) -> web.StreamResponse:
        ep = seg[0]
        if seg[1:] == ["composite", "observe"]:
            return await self.ops.read_composite(request, ep, OBSERVE_COMPOSITE)
        if len(seg) >= 3 and seg[-1] == "observe":
            return await self.ops.simple(request, ep, OBSERVE, lwm2m_path(seg[1:-1]), capital=False)
        if len(seg) == 4:
            return await self.ops.execute(request, ep, lwm2m_path(seg[1:]))
        if len(seg) in (2, 3):
            return await self.ops.create(request, ep, lwm2m_path(seg[1:]))
        return self.replies.invalid_path(request)

    async def _delete(self, request: web.Request, seg: list[str]) -> web.StreamResponse:
        ep = seg[0]
        if seg[1:] == ["composite", "observe"]:
            return await self.ops.cancel_composite(request, ep)
        if len(seg) >= 3 and seg[-1] == "observe":
            return await self.ops.cancel(request, ep, lwm2m_path(seg[1:-1]))
        return await self.ops.simple(request, ep, DELETE, lwm2m_path(seg[1:]), capital=False)
