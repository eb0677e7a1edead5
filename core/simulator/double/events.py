"""Leshan's server-sent event stream, ``/api/event`` (§4): frames, followers, heartbeats."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web

from core.simulator.double.replies import method_not_allowed

SSE_CONTENT_TYPE = "text/event-stream;charset=UTF-8"


def ep_data(ep: str, rest: str = "") -> str:
    """An event's data that starts with the endpoint."""
    # Leshan builds these by concatenation: the endpoint name is not escaped.
    return '{"ep":"' + ep + '"' + rest + "}"


def _frame(name: str, data: str) -> str:
    return f"event: {name}\r\ndata: {data}\r\n\r\n"


@dataclass(eq=False)
class _Follower:
    """One open stream: its ``ep`` filter and the frames waiting to be written (None: close)."""

    ep: str | None
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)


class EventStream:
    """Every event emitted (``log``, as ``(name, data)``) and the open streams that follow them.

    ``heartbeat`` is the period of the bare CRLF written to an idle stream.
    """

    def __init__(self, *, heartbeat: float) -> None:
        self.heartbeat = heartbeat
        self.log: list[tuple[str, str]] = []
        self._followers: set[_Follower] = set()

    @property
    def followers(self) -> int:
        """How many clients are reading the event stream."""
        return len(self._followers)

    def emit(self, name: str, ep: str, data: str) -> None:
        """Log the event and send it to every stream that follows all endpoints or ``ep``."""
        self.log.append((name, data))
        frame = _frame(name, data)
        for follower in self._followers:
            if follower.ep is None or follower.ep == ep:
                follower.queue.put_nowait(frame)

    def emit_raw(self, text: str) -> None:
        for follower in self._followers:
            follower.queue.put_nowait(text)

    def close(self) -> None:
        """Close every open stream."""
        for follower in self._followers:
            follower.queue.put_nowait(None)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """``GET /api/event[?ep=…]`` with ``Accept: text/event-stream``: the stream, until closed."""
        if request.method != "GET" or "text/event-stream" not in request.headers.getall("Accept", []):
            return method_not_allowed(request)
        response = web.StreamResponse(headers={"Content-Type": SSE_CONTENT_TYPE, "Connection": "close"})
        response.force_close()
        follower = _Follower(request.query.get("ep"))
        self._followers.add(follower)
        try:
            await response.prepare(request)
            await self._pump(follower, response)
        except ConnectionError:
            pass  # the client went away
        finally:
            self._followers.discard(follower)
        return response

    async def _pump(self, follower: _Follower, response: web.StreamResponse) -> None:
        """Write events as they come and a bare CRLF every ``heartbeat`` seconds, until closed."""
        loop = asyncio.get_running_loop()
        next_beat = loop.time() + self.heartbeat
        while True:
            try:
                item = await asyncio.wait_for(follower.queue.get(), max(0.0, next_beat - loop.time()))
            except TimeoutError:
                await response.write(b"\r\n")
                next_beat += self.heartbeat
                continue
            if item is None:
                return
            await response.write(item.encode())
