"""The common path of every request to a device: a scripted outcome, the registration, the request's own
checks, a sleeping or offline client, then the device's answer (or a 504)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

from core.simulator.client import SimulatedClient
from core.simulator.double.bodies import timeout_seconds
from core.simulator.double.protocol import SLEEPING_TEXT, TIMEOUT_TEXT, Answer, Operation, response_json
from core.simulator.double.replies import Replies, json_response
from core.simulator.double.scripts import ScriptedOutcome
from core.simulator.double.state import DeviceCall, Registry

Prepare = Callable[[SimulatedClient], DeviceCall]


class DeviceRequests:
    """Sends the requests of ``/api/clients`` to the registry's clients and answers as Leshan does."""

    def __init__(self, registry: Registry, replies: Replies) -> None:
        self.registry = registry
        self.replies = replies

    async def send(
        self, request: web.Request, ep: str, operation: Operation, prepare: Prepare, *, capital: bool
    ) -> web.StreamResponse:
        """Scripted outcome, registration, request checks (``prepare``), sleeping/offline, then the answer.

        ``capital``: whether this route writes "No registered client" with a capital (M15, §1.4).
        """
        outcome = self.registry.next_outcome(ep)
        if outcome is not None and outcome.kind != "delay":
            return await self._forced(request, ep, operation, outcome, capital=capital)
        client = self.registry.clients.get(ep)
        if client is None:
            return self.replies.not_registered(ep, capital)
        call = prepare(client)
        timeout = timeout_seconds(request.query.get("timeout"))
        if client.sleeping and client.queue_mode:
            if self.replies.master:
                return json_response(self.registry.store_delayed(client, call, timeout))
            return self.replies.text(400, SLEEPING_TEXT)
        if client.sleeping:  # an offline device
            await asyncio.sleep(self.registry.timeout_delay)
            return self.replies.text(504, TIMEOUT_TEXT)
        delay = (outcome.seconds or 0.0) if outcome is not None else 0.0
        answer = await self.registry.exchange(client, call, timeout, delay)
        return json_response(answer) if answer is not None else self.replies.text(504, TIMEOUT_TEXT)

    async def _forced(
        self, request: web.Request, ep: str, operation: Operation, outcome: ScriptedOutcome, *, capital: bool
    ) -> web.StreamResponse:
        registry = self.registry
        if outcome.kind == "timeout":
            await asyncio.sleep(outcome.seconds if outcome.seconds is not None else registry.timeout_delay)
            if ep in registry.clients:
                registry.timed_out(registry.clients[ep])
            return self.replies.text(504, TIMEOUT_TEXT)
        if outcome.kind == "coap_error":
            await asyncio.sleep(registry.latency)
            return json_response(response_json(operation, Answer(outcome.code, error_message=outcome.message)))
        if outcome.kind == "http":
            return self.replies.text(outcome.status, outcome.text)
        if outcome.kind == "sleeping":
            return self.replies.text(400, SLEEPING_TEXT)
        if outcome.kind == "not_registered":
            return self.replies.not_registered(ep, capital)
        if outcome.kind == "drop":
            if request.transport is not None:
                request.transport.close()
            return web.Response()
        raise ValueError(f"unknown outcome {outcome.kind!r}")
